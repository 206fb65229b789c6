"""torch.nn's names against torch (issue 21): the loss modules with reduction, weight,
ignore_index, label_smoothing, pos_weight and soft targets; GELU, LayerNorm, GroupNorm,
Upsample / F.interpolate, F.one_hot, Flatten, Identity, Softmax, LogSoftmax,
ConvTranspose2d, Module.requires_grad_. Forward and every gradient in float64, from the
same parameters on both sides."""
import warnings

import numpy as np
import pytest
import torch

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import nn
from conftest import to_numpy


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def copy_params(ours, theirs):
    """Give our module torch's parameter values (float64 on both sides)."""
    theirs.double()
    ours.to(dtype=mt.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def agree(ours, theirs, *arrays, targets=(), rtol=1e-9, atol=1e-11, grad_targets=False):
    """Call both modules on the same float64 inputs (and targets); compare outputs, input
    gradients, parameter gradients (and target gradients when asked)."""
    xs = [mt.tensor(a.copy(), requires_grad=True) for a in arrays]
    txs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    ts = [mt.tensor(t.copy(), requires_grad=grad_targets and t.dtype.kind == "f")
          for t in targets]
    tts = [torch.tensor(t.copy(), requires_grad=grad_targets and t.dtype.kind == "f")
           for t in targets]
    y, ty = ours(*xs, *ts), theirs(*txs, *tts)
    assert tuple(y.shape) == tuple(ty.shape) and str(y.dtype) == str(ty.dtype)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=rtol, atol=atol)
    w = np.random.default_rng(9).standard_normal(tuple(ty.shape))
    (y * mt.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    for a, b in zip(xs + [t for t in ts if t.requires_grad], txs + [t for t in tts if t.requires_grad]):
        np.testing.assert_allclose(to_numpy(a.grad), b.grad.numpy(), rtol=rtol, atol=atol)
    if isinstance(ours, nn.Module):
        theirs_p = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(to_numpy(p.grad), theirs_p[name].grad.numpy(),
                                       rtol=rtol, atol=atol, err_msg=name)
    return y, ty


# ------------------------------------------------------------------ losses
N, C = 6, 4
LOGITS = rnd(N, C)
LABELS = np.array([0, 3, 1, 1, 2, 3])
WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])


def ce_case(reduction="mean", weight=False, ignore=False, smoothing=0.0, spatial=False,
            probs=False):
    kwargs = dict(reduction=reduction, label_smoothing=smoothing)
    x, y = LOGITS, LABELS.copy()
    if spatial:                                            # (N, C, d1, d2) and (N, d1, d2)
        x = rnd(2, C, 3, 2, seed=3)
        y = np.random.default_rng(4).integers(0, C, (2, 3, 2))
    if ignore:
        y = y.copy()
        y.reshape(-1)[[1, 4]] = 3
        kwargs["ignore_index"] = 3
    if probs:
        p = np.random.default_rng(6).random(x.shape)
        y = p / p.sum(axis=1, keepdims=True)
    return x, y, kwargs, weight


CE_CASES = {
    "mean": ce_case(), "sum": ce_case("sum"), "none": ce_case("none"),
    "weight": ce_case(weight=True), "ignore_index": ce_case(ignore=True),
    "smoothing": ce_case(smoothing=0.2),
    "weight+ignore+smoothing": ce_case(weight=True, ignore=True, smoothing=0.1),
    "weight+ignore+smoothing sum": ce_case("sum", weight=True, ignore=True, smoothing=0.3),
    "weight+ignore+smoothing none": ce_case("none", weight=True, ignore=True, smoothing=0.3),
    "spatial weight+ignore": ce_case(weight=True, ignore=True, spatial=True),
    "probabilities": ce_case(probs=True),
    "probabilities weight+smoothing": ce_case(weight=True, smoothing=0.25, probs=True),
    "probabilities none": ce_case("none", probs=True),
    "spatial probabilities sum": ce_case("sum", spatial=True, probs=True, weight=True),
}


@pytest.mark.parametrize("name", sorted(CE_CASES))
def test_cross_entropy_loss_module(name):
    x, y, kwargs, weight = CE_CASES[name]
    ours = nn.CrossEntropyLoss(weight=mt.tensor(WEIGHT) if weight else None, **kwargs)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHT) if weight else None, **kwargs)
    agree(ours, theirs, x, targets=(y,), grad_targets="probabilities" in name)
    # the functional form gives the same
    agree(lambda a, t: F.cross_entropy(a, t, weight=mt.tensor(WEIGHT) if weight else None,
                                       **kwargs),
          lambda a, t: torch.nn.functional.cross_entropy(
              a, t, weight=torch.tensor(WEIGHT) if weight else None, **kwargs),
          x, targets=(y,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight, ignore", [(False, False), (True, True)])
def test_nll_loss_module(reduction, weight, ignore):
    y = LABELS.copy()
    kw = dict(reduction=reduction)
    if ignore:
        kw["ignore_index"] = 1
    ours = nn.NLLLoss(weight=mt.tensor(WEIGHT) if weight else None, **kw)
    theirs = torch.nn.NLLLoss(weight=torch.tensor(WEIGHT) if weight else None, **kw)
    agree(lambda x, t: ours(F.log_softmax(x, dim=1), t),
          lambda x, t: theirs(torch.log_softmax(x, dim=1), t), LOGITS, targets=(y,))


REGRESSION = {
    "MSELoss": ({}, {}), "L1Loss": ({}, {}),
    "SmoothL1Loss": ({}, {}), "SmoothL1Loss beta": ({"beta": 0.3}, {}),
    "SmoothL1Loss beta0": ({"beta": 0.0}, {}),
    "HuberLoss": ({}, {}), "HuberLoss delta": ({"delta": 0.4}, {}),
}


@pytest.mark.parametrize("name", sorted(REGRESSION))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(name, reduction):
    kwargs, _ = REGRESSION[name]
    cls = name.split()[0]
    x, y = rnd(5, 3), rnd(5, 3, seed=1)
    x[0, 0] = y[0, 0]                                        # a zero difference
    agree(getattr(nn, cls)(reduction=reduction, **kwargs),
          getattr(torch.nn, cls)(reduction=reduction, **kwargs), x, targets=(y,),
          grad_targets=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_losses(reduction, weighted):
    x, y = rnd(5, 3), (np.random.default_rng(1).random((5, 3)) > 0.5).astype(np.float64)
    y[0] = [0.3, 0.9, 0.0]                                    # soft labels too
    w = np.array([0.5, 1.0, 2.0]) if weighted else None
    pw = np.array([3.0, 0.5, 1.0]) if weighted else None
    tw = None if w is None else torch.tensor(w)
    agree(nn.BCEWithLogitsLoss(weight=None if w is None else mt.tensor(w), reduction=reduction,
                               pos_weight=None if pw is None else mt.tensor(pw)),
          torch.nn.BCEWithLogitsLoss(weight=tw, reduction=reduction,
                                     pos_weight=None if pw is None else torch.tensor(pw)),
          x * 10, targets=(y,), grad_targets=True)             # large logits: no overflow
    probs = 1 / (1 + np.exp(-x))
    probs[0, 2] = 0.0                                         # log(0): torch clamps at -100
    agree(lambda p, t: nn.BCELoss(weight=None if w is None else mt.tensor(w),
                                  reduction=reduction)(p, t),
          lambda p, t: torch.nn.BCELoss(weight=tw, reduction=reduction)(p, t),
          probs, targets=(y,), grad_targets=True, rtol=1e-7)


def test_loss_errors_and_legacy_arguments():
    with pytest.raises(ValueError, match="reduction must be"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.BCELoss()(mt.tensor([1.5]), mt.tensor([1.0]))
    with pytest.raises(ValueError, match=r"target of shape \(3,\) and input of shape \(3, 1\)"):
        nn.BCEWithLogitsLoss()(mt.zeros(3, 1), mt.zeros(3))
    with pytest.raises(TypeError, match="floating-point target"):
        nn.BCEWithLogitsLoss()(mt.zeros(3), mt.tensor([0, 1, 1]))
    with pytest.warns(UserWarning, match="deprecated"):
        legacy = nn.CrossEntropyLoss(size_average=False)
    assert legacy.reduction == "sum"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.nn.CrossEntropyLoss(size_average=False).reduction == "sum"
        assert nn.MSELoss(reduce=False).reduction == torch.nn.MSELoss(reduce=False).reduction
    # weights are buffers: moved with .to() and listed in the state dict, as in torch
    loss = nn.CrossEntropyLoss(weight=mt.tensor(WEIGHT))
    assert list(loss.state_dict()) == list(torch.nn.CrossEntropyLoss(
        weight=torch.tensor(WEIGHT)).state_dict()) == ["weight"]


# ------------------------------------------------------------------ layers
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate):
    x = rnd(3, 5) * 3
    agree(nn.GELU(approximate=approximate), torch.nn.GELU(approximate=approximate), x)
    agree(lambda a: F.gelu(a, approximate=approximate),
          lambda a: torch.nn.functional.gelu(a, approximate=approximate), x)
    y = F.gelu(mt.tensor(x, dtype=mt.float32))
    assert y.dtype is mt.float32
    with pytest.raises(ValueError, match="approximate must be"):
        nn.GELU("fast")


@pytest.mark.parametrize("shape, normalized, affine, bias", [
    ((4, 6), 6, True, True), ((2, 3, 4, 5), (4, 5), True, True), ((2, 3, 4), [4], False, True),
    ((3, 7), 7, True, False)])
def test_layer_norm(shape, normalized, affine, bias):
    theirs = torch.nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias)
    ours = nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    if affine:                                   # not the initial ones and zeros
        with torch.no_grad():
            theirs.weight.normal_()
            if bias:
                theirs.bias.normal_()
    copy_params(ours, theirs)
    agree(ours, theirs, rnd(*shape) * 2 + 1)
    with pytest.raises(ValueError, match=r"LayerNorm.*expected input with shape \(\*, "):
        ours(mt.zeros(2, 3, dtype=mt.float64))


@pytest.mark.parametrize("shape, groups, affine", [((2, 6, 3, 3), 3, True), ((2, 6, 4), 2, True),
                                                   ((3, 4, 2, 2), 1, True), ((2, 4, 3, 3), 4, False),
                                                   ((2, 6), 3, True)])
def test_group_norm(shape, groups, affine):
    theirs = torch.nn.GroupNorm(groups, shape[1], affine=affine)
    ours = nn.GroupNorm(groups, shape[1], affine=affine)
    if affine:
        with torch.no_grad():
            theirs.weight.normal_()
            theirs.bias.normal_()
    copy_params(ours, theirs)
    agree(ours, theirs, rnd(*shape) * 3 - 1)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm.*expected input \(N, "):
        ours(mt.zeros(2, shape[1] + 1, 3))


INTERPOLATE = [
    dict(size=(7, 5), mode="nearest"), dict(scale_factor=2, mode="nearest"),
    dict(scale_factor=(1.5, 0.7), mode="nearest"), dict(size=(3, 11), mode="nearest-exact"),
    dict(scale_factor=1.7, mode="nearest-exact"),
    dict(size=(8, 9), mode="bilinear", align_corners=False),
    dict(size=(8, 9), mode="bilinear", align_corners=True),
    dict(scale_factor=2, mode="bilinear", align_corners=False),
    dict(scale_factor=(0.5, 1.3), mode="bilinear", align_corners=False),
    dict(scale_factor=2.5, mode="bilinear", align_corners=True),
    dict(scale_factor=1.6, mode="bilinear", recompute_scale_factor=True),
    dict(size=(2, 1), mode="bilinear", align_corners=True),
]


@pytest.mark.parametrize("kwargs", INTERPOLATE, ids=lambda k: "-".join(f"{v}" for v in k.values()))
def test_interpolate_and_upsample(kwargs):
    x = rnd(2, 3, 5, 4)
    agree(lambda a: F.interpolate(a, **kwargs),
          lambda a: torch.nn.functional.interpolate(a, **kwargs), x)
    up_kw = {k: v for k, v in kwargs.items()}
    agree(nn.Upsample(**up_kw), torch.nn.Upsample(**up_kw), x)


@pytest.mark.parametrize("kwargs", [dict(scale_factor=3, mode="linear"),
                                    dict(size=5, mode="linear", align_corners=True),
                                    dict(size=7, mode="nearest")])
def test_interpolate_1d(kwargs):
    agree(lambda a: F.interpolate(a, **kwargs),
          lambda a: torch.nn.functional.interpolate(a, **kwargs), rnd(2, 3, 4))


def test_upsampling_layers_and_interpolate_errors():
    x = rnd(1, 2, 3, 4)
    agree(nn.UpsamplingNearest2d(scale_factor=2), torch.nn.UpsamplingNearest2d(scale_factor=2), x)
    agree(nn.UpsamplingBilinear2d(size=(5, 6)), torch.nn.UpsamplingBilinear2d(size=(5, 6)), x)
    y = F.interpolate(mt.randn(1, 2, 4, 4), scale_factor=2, mode="bilinear")
    assert y.dtype is mt.float32 and y.shape == (1, 2, 8, 8)
    t = mt.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(t, scale_factor=2, mode="nearest", align_corners=True)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(t)
    with pytest.raises(ValueError, match="bilinear mode needs 4-D input"):
        F.interpolate(mt.zeros(1, 1, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(t, scale_factor=2, mode="bicubic")


def test_one_hot():
    labels = np.array([[0, 2], [1, 4]])
    for n in (-1, 6):
        o, t = F.one_hot(mt.tensor(labels), n), torch.nn.functional.one_hot(torch.tensor(labels), n)
        assert str(o.dtype) == str(t.dtype) and o.shape == tuple(t.shape)
        np.testing.assert_array_equal(to_numpy(o), t.numpy())
    with pytest.raises(ValueError, match=r"class values must be in \[0, 3\)"):
        F.one_hot(mt.tensor([0, 3]), 3)
    with pytest.raises(TypeError, match="integer class indices"):
        F.one_hot(mt.tensor([0.0, 1.0]))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_log_softmax_modules(dim):
    x = rnd(3, 4, 2)
    agree(nn.Softmax(dim=dim), torch.nn.Softmax(dim=dim), x)
    agree(nn.LogSoftmax(dim=dim), torch.nn.LogSoftmax(dim=dim), x)
    agree(lambda a: F.log_softmax(a, dim=dim), lambda a: torch.nn.functional.log_softmax(a, dim=dim), x)


def test_flatten_identity_and_requires_grad_():
    x = rnd(2, 3, 4, 5)
    agree(nn.Flatten(), torch.nn.Flatten(), x)
    agree(nn.Flatten(0, 2), torch.nn.Flatten(0, 2), x)
    agree(nn.Identity(54, unused="ignored"), torch.nn.Identity(54, unused="ignored"), x)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    model[2].requires_grad_()
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    y = model(mt.randn(5, 4)).sum()
    y.backward()
    assert model[0].weight.grad is None and model[2].weight.grad is not None


def test_conv_transpose2d_with_torch_weights():
    """ZFNet's deconvnet layer: the same weights give torch's output and gradients."""
    theirs = torch.nn.ConvTranspose2d(3, 2, kernel_size=3, stride=2, padding=1, output_padding=1)
    ours = nn.ConvTranspose2d(3, 2, kernel_size=3, stride=2, padding=1, output_padding=1)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    copy_params(ours, theirs)
    agree(ours, theirs, rnd(2, 3, 4, 5))
