"""torch.optim's names against torch (issue 21): Adagrad and Adadelta parameter by
parameter after every step; ExponentialLR, LambdaLR, OneCycleLR (with its momentum),
CosineAnnealingWarmRestarts, LinearLR and SequentialLR rate by rate over many steps, also
across a state_dict round trip through minitorch_cnn.save/load; and the re-planning
protocol (plan, horizon, load_progress) the trainer uses on resume."""
import numpy as np
import pytest
import torch

import minitorch_cnn as mt
from minitorch_cnn import optim
from minitorch_cnn.nn import Parameter
from test_optim import run_against_torch

ADAGRAD_CASES = [dict(), dict(lr=0.1, lr_decay=0.05), dict(lr=0.05, weight_decay=0.1),
                 dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6),
                 dict(lr=0.1, maximize=True)]
ADADELTA_CASES = [dict(), dict(lr=0.5, rho=0.8), dict(lr=1.0, eps=1e-4, weight_decay=0.05),
                  dict(rho=0.95, maximize=True)]


@pytest.mark.parametrize("kwargs", ADAGRAD_CASES)
def test_adagrad_matches_torch(kwargs, device):
    run_against_torch(optim.Adagrad, torch.optim.Adagrad, kwargs, device, steps=20)


@pytest.mark.parametrize("kwargs", ADADELTA_CASES)
def test_adadelta_matches_torch(kwargs, device):
    run_against_torch(optim.Adadelta, torch.optim.Adadelta, kwargs, device, steps=20)


@pytest.mark.parametrize("cls", [optim.Adagrad, optim.Adadelta])
def test_float32_stays_float32_and_bad_arguments(cls):
    p = Parameter(mt.randn(3))
    opt = cls([p], lr=0.1)
    p.grad = mt.randn(3)
    opt.step()
    assert p.dtype is mt.float32 and all(v.dtype == np.float32 for v in opt.state[p].values()
                                         if hasattr(v, "dtype"))
    with pytest.raises(ValueError, match="invalid learning rate"):
        cls([p], lr=-1)


# ------------------------------------------------------------- schedulers
class Halving:
    """A callable object as lr_lambda: its attributes go into the state dict."""
    def __init__(self, every):
        self.every = every

    def __call__(self, epoch):
        return 0.5 ** (epoch // self.every)


SCHEDULES = {
    "exponential": lambda o, m: m.ExponentialLR(o, gamma=0.9),
    "lambda": lambda o, m: m.LambdaLR(o, lr_lambda=lambda e: 1.0 / (1 + 0.3 * e)),
    "lambda_per_group": lambda o, m: m.LambdaLR(o, [lambda e: 0.95 ** e, Halving(4)]),
    "onecycle": lambda o, m: m.OneCycleLR(o, max_lr=[0.5, 1.0], total_steps=40),
    "onecycle_linear": lambda o, m: m.OneCycleLR(o, max_lr=0.8, epochs=5, steps_per_epoch=8,
                                                 pct_start=0.25, anneal_strategy="linear",
                                                 div_factor=10, final_div_factor=100),
    "onecycle_three_phase": lambda o, m: m.OneCycleLR(o, max_lr=0.6, total_steps=41,
                                                      three_phase=True, base_momentum=0.8,
                                                      max_momentum=0.9),
    "onecycle_no_momentum": lambda o, m: m.OneCycleLR(o, max_lr=0.3, total_steps=40,
                                                      cycle_momentum=False),
    "warm_restarts": lambda o, m: m.CosineAnnealingWarmRestarts(o, T_0=7),
    "warm_restarts_mult": lambda o, m: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                     eta_min=0.01),
    "linear": lambda o, m: m.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=12),
    "sequential_warmup_exponential": lambda o, m: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.ExponentialLR(o, gamma=0.9)],
        milestones=[5]),
    "sequential_warmup_restarts": lambda o, m: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.5, total_iters=3),
            m.CosineAnnealingWarmRestarts(o, T_0=6, T_mult=2)], milestones=[4]),
}


def _pair(kind="sgd", lrs=(0.1, 0.2)):
    """Two parameter groups on each side, for an SGD with momentum or an Adam."""
    def groups(lib, P):
        return [{"params": [P(lib.zeros(1))], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return (optim.SGD(groups(mt, Parameter), momentum=0.9),
                torch.optim.SGD(groups(torch, torch.nn.Parameter), momentum=0.9))
    return (optim.Adam(groups(mt, Parameter), betas=(0.9, 0.99)),
            torch.optim.Adam(groups(torch, torch.nn.Parameter), betas=(0.9, 0.99)))


def _trace(opt, sched, steps):
    """(lr, momentum or beta1) of every group after construction and after each step."""
    def now():
        return [(g["lr"], g.get("momentum", g.get("betas", (None,))[0]))
                for g in opt.param_groups]
    out = [now()]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(now())
        assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    return out


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_scheduler_matches_torch_step_for_step(name, kind):
    ours, theirs = _pair(kind)
    steps = 40 if name.startswith("onecycle") else 60
    got = _trace(ours, SCHEDULES[name](ours, optim.lr_scheduler), steps)
    want = _trace(theirs, SCHEDULES[name](theirs, torch.optim.lr_scheduler), steps)
    np.testing.assert_allclose(np.array(got, dtype=float), np.array(want, dtype=float),
                               rtol=1e-12, atol=1e-15)
    assert len({row[0][0] for row in got}) > 5              # the rate did move


@pytest.mark.parametrize("name", ["exponential", "lambda_per_group", "onecycle_three_phase",
                                  "warm_restarts_mult", "sequential_warmup_restarts"])
def test_scheduler_state_dict_round_trip_through_save_and_load(name, tmp_path):
    """Save optimizer and scheduler after 13 steps with minitorch_cnn.save, load them into
    fresh ones: the next steps equal the uninterrupted run's, and torch's."""
    ours, theirs = _pair("adam")
    sched = SCHEDULES[name](ours, optim.lr_scheduler)
    tsched = SCHEDULES[name](theirs, torch.optim.lr_scheduler)
    _trace(ours, sched, 13)
    _trace(theirs, tsched, 13)
    path = str(tmp_path / "ck.pt")
    mt.save({"optimizer": ours.state_dict(), "scheduler": sched.state_dict()}, path)
    ck = mt.load(path)
    rest = _trace(ours, sched, 20)
    ours2, _ = _pair("adam", lrs=(7.0, 7.0))
    sched2 = SCHEDULES[name](ours2, optim.lr_scheduler)
    ours2.load_state_dict(ck["optimizer"])
    sched2.load_state_dict(ck["scheduler"])
    assert _trace(ours2, sched2, 20) == rest
    np.testing.assert_allclose(np.array(rest, dtype=float),
                               np.array(_trace(theirs, tsched, 20), dtype=float), rtol=1e-12)


def test_warm_restarts_with_fractional_epochs_as_torch():
    ours, theirs = _pair()
    s = optim.lr_scheduler.CosineAnnealingWarmRestarts(ours, T_0=2, T_mult=2, eta_min=0.001)
    t = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(theirs, T_0=2, T_mult=2,
                                                             eta_min=0.001)
    iters = 5
    for epoch in range(8):
        for i in range(iters):
            s.step(epoch + i / iters)
            t.step(epoch + i / iters)
            assert s.get_last_lr() == pytest.approx(t.get_last_lr(), rel=1e-12)
            assert (s.T_cur, s.T_i) == pytest.approx((t.T_cur, t.T_i))
    with pytest.raises(ValueError, match="non-negative epoch"):
        s.step(-1)


def test_onecycle_errors_as_torch():
    ours, theirs = _pair()
    s = optim.lr_scheduler.OneCycleLR(ours, max_lr=0.1, total_steps=3)
    t = torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=0.1, total_steps=3)
    for _ in range(3):
        s.step()
        t.step()
    with pytest.raises(ValueError, match="tried to step 4 times.*total steps is 3"):
        s.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        t.step()
    with pytest.raises(ValueError, match="total_steps OR \\(epochs AND steps_per_epoch\\)"):
        optim.lr_scheduler.OneCycleLR(_pair()[0], max_lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        optim.lr_scheduler.OneCycleLR(_pair()[0], max_lr=0.1, total_steps=5,
                                      anneal_strategy="exp")
    rms = optim.RMSprop([Parameter(mt.zeros(1))])
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        optim.lr_scheduler.OneCycleLR(optim.Adagrad([Parameter(mt.zeros(1))]), max_lr=0.1,
                                      total_steps=5)
    optim.lr_scheduler.OneCycleLR(rms, max_lr=0.1, total_steps=5)     # RMSprop has momentum


def test_new_schedulers_follow_the_replanning_protocol():
    """plan / horizon / load_progress: a OneCycleLR saved 10 steps into a 30-step plan and
    resumed in a 60-step run continues on the 60-step schedule; a restart schedule has no
    horizon; a LambdaLR cannot be re-planned (its plan is code)."""
    opt, _ = _pair()
    short = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=30)
    for _ in range(10):
        short.step()
    assert short.horizon == 30 and short.plan_state()["total_steps"] == 30
    saved = short.state_dict()
    opt2, _ = _pair()
    long = optim.lr_scheduler.OneCycleLR(opt2, max_lr=1.0, total_steps=60)
    changed = long.load_progress(saved)
    assert changed == {"total_steps": (30, 60)} and long.last_epoch == 10
    opt3, _ = _pair()
    fresh = optim.lr_scheduler.OneCycleLR(opt3, max_lr=1.0, total_steps=60)
    for _ in range(10):
        fresh.step()
    assert long.get_last_lr() == pytest.approx(fresh.get_last_lr())
    for _ in range(5):
        long.step()
        fresh.step()
    assert long.get_last_lr() == pytest.approx(fresh.get_last_lr())

    restarts = optim.lr_scheduler.CosineAnnealingWarmRestarts(_pair()[0], T_0=5, T_mult=2)
    assert restarts.horizon is None and restarts.plan_state() == {"T_0": 5, "T_mult": 2,
                                                                  "eta_min": 0.0}
    expo = optim.lr_scheduler.ExponentialLR(_pair()[0], gamma=0.5)
    assert expo.plan_state() == {"gamma": 0.5} and expo.horizon is None
    lam = optim.lr_scheduler.LambdaLR(_pair()[0], lambda e: 1.0)
    with pytest.raises(TypeError, match="cannot be re-planned"):
        lam.plan_state()
