"""Optimizers, LR schedulers and gradient clipping against torch.optim, step for step.

Both sides get the same starting parameters and, at every step, the same random
gradients; after each step the parameters must agree (float64: to ~1e-12).
"""
import copy
import json

import numpy as np
import pytest
import torch

import minitorch_cnn as mt
from minitorch_cnn import optim
from minitorch_cnn.nn import Parameter
from minitorch_cnn.nn.utils import clip_grad_norm_, clip_grad_value_
from conftest import to_numpy

SHAPES = [(4, 3), (3,), (2, 3, 2)]
STEPS = 12


def make_params(rng, device, dtype=np.float64, shapes=SHAPES):
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [Parameter(mt.tensor(a.copy(), device=device)) for a in arrays]
    theirs = [torch.nn.Parameter(torch.tensor(a.copy())) for a in arrays]
    return ours, theirs


def set_grads(rng, ours, theirs, skip=()):
    """Give both sides the same fresh gradient; parameters in ``skip`` get none."""
    kept = []
    for i, (p, q) in enumerate(zip(ours, theirs)):
        if i in skip:
            p.grad, q.grad = None, None
            continue
        g = (0.5 * rng.standard_normal(p.shape)).astype(p.dtype)
        p.grad = mt.Tensor(mt.backend.to_device(g, p.device))
        q.grad = torch.tensor(g)
        kept.append((p.grad.data, g.copy()))
    return kept


def assert_same_params(ours, theirs, rtol, atol):
    for p, q in zip(ours, theirs):
        assert p.dtype == np.dtype(str(q.dtype).replace("torch.", ""))
        np.testing.assert_allclose(to_numpy(p), q.detach().numpy(), rtol=rtol, atol=atol)


def run_against_torch(ours_cls, torch_cls, kwargs, device, dtype=np.float64, steps=STEPS,
                      tol=(1e-11, 1e-13)):
    rng = np.random.default_rng(1)
    ours, theirs = make_params(rng, device, dtype)
    opt, topt = ours_cls(ours, **kwargs), torch_cls(theirs, **kwargs)
    for t in range(steps):
        skip = (1,) if t == 3 else ()          # a parameter without gradient is left alone
        kept = set_grads(rng, ours, theirs, skip)
        opt.step()
        topt.step()
        assert_same_params(ours, theirs, *tol)
        for shared, original in kept:          # gradients are read, never written
            np.testing.assert_array_equal(to_numpy(shared), original)
    return opt, topt


SGD_CASES = [dict(lr=0.1),
             dict(lr=0.1, momentum=0.9),
             dict(lr=0.05, momentum=0.9, dampening=0.3),
             dict(lr=0.05, momentum=0.9, nesterov=True),
             dict(lr=0.1, momentum=0.8, weight_decay=1e-2),
             dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=5e-2),
             dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)]
ADAM_CASES = [dict(),
              dict(lr=1e-2, amsgrad=True),
              dict(lr=1e-2, weight_decay=1e-2),
              dict(lr=2e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)]
ADAMW_CASES = [dict(lr=1e-2),
               dict(lr=1e-2, weight_decay=0.1, amsgrad=True),
               dict(lr=3e-2, betas=(0.5, 0.9), weight_decay=0.0)]
RMSPROP_CASES = [dict(),
                 dict(lr=1e-2, momentum=0.9),
                 dict(lr=1e-2, centered=True),
                 dict(lr=1e-2, alpha=0.9, eps=1e-3, weight_decay=1e-2),
                 dict(lr=5e-3, alpha=0.9, centered=True, momentum=0.9, weight_decay=1e-2)]


@pytest.mark.parametrize("kwargs", SGD_CASES)
def test_sgd_matches_torch(kwargs, device):
    run_against_torch(optim.SGD, torch.optim.SGD, kwargs, device)


@pytest.mark.parametrize("kwargs", ADAM_CASES)
def test_adam_matches_torch(kwargs, device):
    run_against_torch(optim.Adam, torch.optim.Adam, kwargs, device)


@pytest.mark.parametrize("kwargs", ADAMW_CASES)
def test_adamw_matches_torch(kwargs, device):
    run_against_torch(optim.AdamW, torch.optim.AdamW, kwargs, device)


@pytest.mark.parametrize("kwargs", RMSPROP_CASES)
def test_rmsprop_matches_torch(kwargs, device):
    run_against_torch(optim.RMSprop, torch.optim.RMSprop, kwargs, device)


@pytest.mark.parametrize("cls,kwargs", [(optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True,
                                                         weight_decay=1e-3)),
                                        (optim.Adam, dict(lr=1e-2, amsgrad=True)),
                                        (optim.AdamW, dict(lr=1e-2)),
                                        (optim.RMSprop, dict(lr=1e-2, centered=True,
                                                             momentum=0.5))])
def test_float32_stays_float32(cls, kwargs, device):
    """float32 in, float32 out (and matches torch to float32 rounding), even with
    hyper-parameters given as NumPy float64 scalars (NumPy 2 would promote)."""
    np_kwargs = {k: (np.float64(v) if isinstance(v, float) else v) for k, v in kwargs.items()}
    rng = np.random.default_rng(2)
    ours, theirs = make_params(rng, device, np.float32)
    opt, topt = cls(ours, **np_kwargs), getattr(torch.optim, cls.__name__)(theirs, **kwargs)
    for _ in range(STEPS):
        set_grads(rng, ours, theirs)
        opt.step()
        topt.step()
    assert_same_params(ours, theirs, 2e-5, 2e-6)
    for state in opt.state.values():
        for v in state.values():
            if hasattr(v, "dtype"):
                assert v.dtype == np.float32


def test_param_groups_match_torch(device):
    rng = np.random.default_rng(3)
    ours, theirs = make_params(rng, device)
    groups = lambda ps: [{"params": ps[:2], "weight_decay": 0.1},
                         {"params": ps[2:], "lr": 0.01, "momentum": 0.5}]
    opt = optim.SGD(groups(ours), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(groups(theirs), lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5]
    for _ in range(STEPS):
        set_grads(rng, ours, theirs)
        opt.step()
        topt.step()
        assert_same_params(ours, theirs, 1e-11, 1e-13)


def tf_rmsprop_reference(p0, grads, lr, decay, momentum, eps, centered):
    """TensorFlow's RMSProp written out by hand (eps inside the square root, and
    v starting at 0 as in PyTorch)."""
    p, ms, mg, mom = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)
    for g in grads:
        ms = decay * ms + (1 - decay) * g * g
        if centered:
            mg = decay * mg + (1 - decay) * g
            denom = np.sqrt(ms - mg * mg + eps)
        else:
            denom = np.sqrt(ms + eps)
        mom = momentum * mom + g / denom
        p = p - lr * mom
    return p


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_tensorflow_eps_inside_sqrt(centered, device):
    rng = np.random.default_rng(4)
    p0 = rng.standard_normal((5, 4))
    grads = [0.01 * rng.standard_normal((5, 4)) for _ in range(STEPS)]  # small: eps matters
    kw = dict(lr=1e-2, alpha=0.9, momentum=0.9, eps=1e-3, centered=centered)
    p = Parameter(mt.tensor(p0.copy(), device=device))
    opt = optim.RMSprop([p], eps_inside_sqrt=True, **kw)
    q = torch.nn.Parameter(torch.tensor(p0.copy()))
    topt = torch.optim.RMSprop([q], **kw)     # eps outside: sqrt(v) + eps
    for g in grads:
        p.grad = mt.tensor(g, device=device)
        q.grad = torch.tensor(g)
        opt.step()
        topt.step()
    expected = tf_rmsprop_reference(p0, grads, kw["lr"], kw["alpha"], kw["momentum"],
                                    kw["eps"], centered)
    np.testing.assert_allclose(to_numpy(p), expected, rtol=1e-12, atol=1e-14)
    # and the placement really changes the result here
    assert np.abs(to_numpy(p) - q.detach().numpy()).max() > 1e-3


# ------------------------------------------------------------------ state_dict
STATEFUL = [(optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
            (optim.Adam, dict(lr=1e-2, amsgrad=True, weight_decay=1e-2)),
            (optim.AdamW, dict(lr=1e-2)),
            (optim.RMSprop, dict(lr=1e-2, centered=True, momentum=0.9))]


@pytest.mark.parametrize("cls,kwargs", STATEFUL)
def test_state_dict_resumes_identically(cls, kwargs, device):
    rng = np.random.default_rng(5)
    ours, theirs = make_params(rng, device)
    opt, topt = cls(ours, **kwargs), getattr(torch.optim, cls.__name__)(theirs, **kwargs)
    for _ in range(5):
        set_grads(rng, ours, theirs)
        opt.step()
        topt.step()
    sd = opt.state_dict()
    tsd = topt.state_dict()
    # the same layout as torch: parameters numbered 0..n-1, the same state names
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for i in sd["state"]:
        assert set(sd["state"][i]) == set(tsd["state"][i])
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]

    # a copy of the model and a fresh optimizer, restored from the (CPU) state dict
    sd = copy.deepcopy({"state": {i: {k: (to_numpy(v) if hasattr(v, "shape") else v)
                                      for k, v in s.items()} for i, s in sd["state"].items()},
                        "param_groups": sd["param_groups"]})
    clones = [Parameter(mt.tensor(to_numpy(p).copy(), device=device)) for p in ours]
    resumed = cls(clones, lr=123.0)            # hyper-parameters come back from the dict
    resumed.load_state_dict(sd)
    assert resumed.param_groups[0]["lr"] == kwargs["lr"]
    for _ in range(5):
        kept = set_grads(rng, ours, theirs)
        for c, (g, _) in zip(clones, kept):
            c.grad = mt.Tensor(g)
        opt.step()
        resumed.step()
    for p, c in zip(ours, clones):
        np.testing.assert_array_equal(to_numpy(p), to_numpy(c))
        assert c.device == p.device


def test_load_state_dict_rejects_other_layout():
    rng = np.random.default_rng(6)
    ours, _ = make_params(rng, "cpu")
    sd = optim.SGD(ours, lr=0.1).state_dict()
    with pytest.raises(ValueError, match=r"group sizes differ.*\[3\].*\[2\]"):
        optim.SGD(ours[:2], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.SGD([{"params": ours[:1]}, {"params": ours[1:]}], lr=0.1).load_state_dict(sd)


def test_zero_grad_never_writes_into_a_shared_gradient():
    p = Parameter(mt.tensor(np.ones(3)))
    shared = np.full(3, 2.0)
    p.grad = mt.Tensor(shared)
    opt = optim.SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, np.zeros(3))
    np.testing.assert_array_equal(shared, np.full(3, 2.0))
    opt.zero_grad()
    assert p.grad is None


def test_bad_arguments_give_clear_errors():
    p = Parameter(mt.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="can only optimize Tensors.*ndarray"):
        optim.SGD([np.ones(3)], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="invalid learning rate"):
        optim.RMSprop([p], lr=-1.0)
    with pytest.raises(ValueError, match="invalid betas"):
        optim.Adam([p], betas=(0.9, 1.0))


# ------------------------------------------------------------------ schedulers
def _dummy_pair(lrs=(0.1, 0.03)):
    """An optimizer on each side with one parameter group per learning rate."""
    ours = optim.SGD([{"params": [Parameter(mt.zeros(1))], "lr": lr} for lr in lrs])
    theirs = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr}
                              for lr in lrs])
    return ours, theirs


SCHEDULES = {
    "step": lambda o, m: m.StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda o, m: m.MultiStepLR(o, milestones=[12, 5, 30, 12], gamma=0.3),
    "cosine": lambda o, m: m.CosineAnnealingLR(o, T_max=15, eta_min=1e-4),
    "cosine_to_zero": lambda o, m: m.CosineAnnealingLR(o, T_max=40),
    "warmup": lambda o, m: m.LinearLR(o, start_factor=0.1, total_iters=8),
    "linear_decay": lambda o, m: m.LinearLR(o, start_factor=1.0, end_factor=0.2,
                                            total_iters=10),
    "warmup_then_cosine": lambda o, m: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.01, total_iters=5), m.CosineAnnealingLR(o, T_max=30)],
        milestones=[5]),
    "three_phases": lambda o, m: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.25, total_iters=4), m.StepLR(o, 5, gamma=0.5),
            m.CosineAnnealingLR(o, T_max=10, eta_min=1e-3)], milestones=[4, 20]),
}


def lr_sequence(opt, sched, steps, metrics=None):
    seq = [sched.get_last_lr()]
    for t in range(steps):
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[t])
        seq.append(sched.get_last_lr())
        assert seq[-1] == [g["lr"] for g in opt.param_groups]
    return seq


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_scheduler_matches_torch(name):
    ours, theirs = _dummy_pair()
    got = lr_sequence(ours, SCHEDULES[name](ours, optim.lr_scheduler), 40)
    want = lr_sequence(theirs, SCHEDULES[name](theirs, torch.optim.lr_scheduler), 40)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-15), (got, want)
    assert len({tuple(lrs) for lrs in got}) > 3      # the rate did change


PLATEAU = {
    "min_rel": (dict(mode="min", patience=2), "loss"),
    "max_abs_cooldown": (dict(mode="max", factor=0.5, patience=1, threshold=0.02,
                              threshold_mode="abs", cooldown=2, min_lr=0.004), "acc"),
    "max_rel_vgg": (dict(mode="max", factor=0.1, patience=0), "acc"),
    "min_abs_per_group_min_lr": (dict(mode="min", factor=0.3, patience=3, threshold=0.05,
                                      threshold_mode="abs", min_lr=[1e-3, 1e-4]), "loss"),
}


def scripted_metric(kind, n=40):
    """A loss (or accuracy) that improves, stalls, wobbles and improves again."""
    t = np.arange(n)
    loss = 2.0 * np.exp(-t / 6) + 0.3 + 0.02 * np.sin(1.7 * t)
    loss[15:22] = loss[15]                  # a flat stretch
    return list(loss if kind == "loss" else 1.0 - loss / 3)


@pytest.mark.parametrize("name", sorted(PLATEAU))
def test_reduce_lr_on_plateau_matches_torch(name):
    kwargs, kind = PLATEAU[name]
    metrics = scripted_metric(kind)
    ours, theirs = _dummy_pair()
    got = lr_sequence(ours, optim.lr_scheduler.ReduceLROnPlateau(ours, **kwargs), 40, metrics)
    want = lr_sequence(theirs, torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kwargs),
                       40, metrics)
    assert np.allclose(got, want, rtol=1e-12, atol=0), (got, want)
    assert got[-1] != got[0]                        # it did reduce


@pytest.mark.parametrize("name", ["cosine", "warmup_then_cosine", "three_phases", "plateau"])
def test_scheduler_state_dict_resumes_identically(name):
    metrics = scripted_metric("acc")

    def build(opt):
        if name == "plateau":
            return optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=1,
                                                        factor=0.5, cooldown=1)
        return SCHEDULES[name](opt, optim.lr_scheduler)

    def advance(opt, sched, ts):
        out = []
        for t in ts:
            sched.step(metrics[t]) if name == "plateau" else sched.step()
            out.append(sched.get_last_lr())
        return out

    opt, _ = _dummy_pair()
    sched = build(opt)
    advance(opt, sched, range(12))
    # through JSON, as a checkpoint stores it
    opt_sd = json.loads(json.dumps(opt.state_dict()))
    opt_sd["state"] = {}
    sched_sd = json.loads(json.dumps(sched.state_dict()))
    rest = advance(opt, sched, range(12, 35))

    opt2, _ = _dummy_pair(lrs=(5.0, 5.0))
    sched2 = build(opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sched_sd)
    assert advance(opt2, sched2, range(12, 35)) == rest


def test_scheduler_errors():
    opt, _ = _dummy_pair()
    with pytest.raises(TypeError, match="expected an Optimizer"):
        optim.lr_scheduler.StepLR(object(), step_size=3)
    with pytest.raises(ValueError, match="2 schedulers need 1 milestones, got 2"):
        optim.lr_scheduler.SequentialLR(opt, [optim.lr_scheduler.LinearLR(opt),
                                              optim.lr_scheduler.StepLR(opt, 3)], [2, 4])
    with pytest.raises(TypeError, match="ReduceLROnPlateau"):
        optim.lr_scheduler.SequentialLR(opt, [optim.lr_scheduler.ReduceLROnPlateau(opt)], [])
    with pytest.raises(ValueError, match="expected 2 min_lrs"):
        optim.lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1])


# -------------------------------------------------------------- clipping
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, device):
    rng = np.random.default_rng(7)
    ours, theirs = make_params(rng, device)
    kept = set_grads(rng, ours, theirs)
    ours.append(Parameter(mt.zeros(2, device=device)))      # no gradient: ignored
    total = clip_grad_norm_(ours, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, mt.Tensor) and total.shape == ()
    np.testing.assert_allclose(float(total.item()), float(ttotal), rtol=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(p.grad), q.grad.numpy(), rtol=1e-12, atol=1e-15)
    for shared, original in kept:                           # a new array, never in place
        np.testing.assert_array_equal(to_numpy(shared), original)
    if max_norm < 1:                                        # it really clipped
        new_total = np.linalg.norm(np.concatenate([to_numpy(p.grad).ravel() for p in ours
                                                   if p.grad is not None]), ord=norm_type)
        assert new_total == pytest.approx(max_norm, rel=1e-5)


def test_clip_grad_norm_float32_and_errors():
    p = Parameter(mt.tensor(np.ones(4, dtype=np.float32)))
    p.grad = mt.tensor(np.array([3.0, 4.0, 0.0, 0.0], dtype=np.float32))
    total = clip_grad_norm_([p], 1.0)
    assert total.item() == pytest.approx(5.0) and p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad.data, [0.6, 0.8, 0, 0], rtol=1e-5)
    p.grad = mt.tensor(np.array([np.inf, 1.0, 0.0, 0.0], dtype=np.float32))
    with pytest.raises(RuntimeError, match="total norm .* is inf"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_([], 1.0).item() == 0.0


def test_clip_grad_value_matches_torch(device):
    rng = np.random.default_rng(8)
    ours, theirs = make_params(rng, device)
    kept = set_grads(rng, ours, theirs)
    clip_grad_value_(ours, 0.3)
    torch.nn.utils.clip_grad_value_(theirs, 0.3)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(to_numpy(p.grad), q.grad.numpy())
    for shared, original in kept:
        np.testing.assert_array_equal(to_numpy(shared), original)
