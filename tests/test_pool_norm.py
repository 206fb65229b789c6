"""Pooling, batch norm, local response norm and dropout2d against PyTorch (float64,
forward and backward, both kernel tiers), the layers' names and buffers, and errors."""
import numpy as np
import pytest
import torch

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import nn

from conftest import to_numpy

TF = torch.nn.functional


def _check(ours_fn, torch_fn, shape, kernels="fast", tol=1e-10, seed=0):
    """ours_fn(x) and torch_fn(x) agree, and so do their input gradients for a random dy."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    X, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    with mt.backend.use_kernels(kernels):
        y, yt = ours_fn(X), torch_fn(xt)
        dy = rng.standard_normal(tuple(yt.shape))
        y.backward(mt.tensor(dy))
    yt.backward(torch.tensor(dy))
    for a, b in ((y, yt), (X.grad, xt.grad)):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=tol, atol=tol)


# (kernel_size, stride, padding, dilation, ceil_mode): overlapping, with padding, ceil_mode
# windows hanging over the edge, a last window dropped because it would start in padding
MAX_CASES = [(2, 2, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True), (3, 3, 0, 1, True),
             (2, None, 0, 1, True), (3, 1, 1, 2, False), (3, 2, 1, 2, True),
             ((3, 2), (2, 1), (1, 0), 1, True), (2, 2, 1, 1, True)]


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("k,s,p,d,ceil", MAX_CASES)
def test_max_pool2d(k, s, p, d, ceil, kernels):
    for shape in ((2, 3, 9, 8), (1, 2, 6, 7)):
        _check(lambda x: F.max_pool2d(x, k, s, p, d, ceil),
               lambda x: TF.max_pool2d(x, k, s, p, d, ceil), shape, kernels)


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("k,s,p,ceil", [(c[0], c[1], c[2], c[4]) for c in MAX_CASES if c[3] == 1])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d(k, s, p, ceil, count_include_pad, kernels):
    _check(lambda x: F.avg_pool2d(x, k, s, p, ceil, count_include_pad),
           lambda x: TF.avg_pool2d(x, k, s, p, ceil, count_include_pad), (2, 3, 9, 8), kernels)


def test_avg_pool2d_divisor_override():
    _check(lambda x: F.avg_pool2d(x, 3, 2, 1, True, True, 4),
           lambda x: TF.avg_pool2d(x, 3, 2, 1, True, True, 4), (2, 3, 9, 8))


def test_max_pool2d_indices_and_ties():
    x = torch.tensor([[[[1., 3., 3., 0.], [3., 2., 1., 3.], [0., 0., 5., 5.], [5., 5., 1., 1.]]]],
                     dtype=torch.float64)
    y, idx = F.max_pool2d(mt.tensor(x.numpy()), 2, return_indices=True)
    yt, idxt = TF.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(to_numpy(y), yt.numpy())
    np.testing.assert_array_equal(to_numpy(idx), idxt.numpy())      # the first max wins
    y, idx = F.max_pool2d(mt.randn(3, 8, 8), 3, 2, 1, return_indices=True)   # unbatched
    assert y.shape == idx.shape == (3, 4, 4)


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("out", [1, (3, 4), (5, 2), (9, 8), (None, 3), (4, 6)])
def test_adaptive_pools(out, kernels):
    _check(lambda x: F.adaptive_avg_pool2d(x, out), lambda x: TF.adaptive_avg_pool2d(x, out),
           (2, 3, 9, 8), kernels)
    _check(lambda x: F.adaptive_max_pool2d(x, out), lambda x: TF.adaptive_max_pool2d(x, out),
           (2, 3, 9, 8), kernels)


def test_pool_on_device(device):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    outs = []
    for dev in ("cpu", device):
        X = mt.tensor(x, requires_grad=True, device=dev)
        y = F.max_pool2d(X, 3, 2, 1, ceil_mode=True) + F.avg_pool2d(X, 3, 2, 1, True, False)
        y.sum().backward()
        outs.append((to_numpy(y), to_numpy(X.grad)))
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call,message", [
    (lambda: F.max_pool2d(mt.zeros(1, 1, 8, 8), 2, 2, 2), "at most half the window"),
    (lambda: F.avg_pool2d(mt.zeros(1, 1, 2, 2), 3), "does not fit"),
    (lambda: F.max_pool2d(mt.zeros(8, 8), 2), "expected a 4-D input"),
    (lambda: F.adaptive_avg_pool2d(mt.zeros(1, 1, 4, 4), 0), "output_size must be positive"),
    (lambda: F.avg_pool2d(mt.zeros(1, 1, 4, 4), 2, divisor_override=0), "must not be zero"),
])
def test_pool_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------ batch norm
@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (6, 3), (5, 3, 7)])
def test_batch_norm_functional(shape, kernels):
    """Train steps then eval: outputs, all gradients and the running statistics as torch's."""
    rng = np.random.default_rng(0)
    C = shape[1]
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    rm, rv = mt.zeros(C, dtype=np.float64), mt.ones(C, dtype=np.float64)
    rmt, rvt = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    for training in (True, True, True, False):
        x, dy = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
        X, W, B = (mt.tensor(a, requires_grad=True) for a in (x, w, b))
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        with mt.backend.use_kernels(kernels):
            y = F.batch_norm(X, rm, rv, W, B, training, 0.1, 1e-5)
            y.backward(mt.tensor(dy))
        yt = TF.batch_norm(xt, rmt, rvt, wt, bt, training, 0.1, 1e-5)
        yt.backward(torch.tensor(dy))
        for a, c in ((y, yt), (X.grad, xt.grad), (W.grad, wt.grad), (B.grad, bt.grad),
                     (rm, rmt), (rv, rvt)):
            np.testing.assert_allclose(to_numpy(a), to_numpy(c), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("max_value", [np.inf, 6.0])
def test_batch_norm_relu_functional(max_value, kernels):
    """batch_norm_relu = clamp(batch_norm(x), 0, max_value) as torch computes it: outputs,
    every gradient and the running statistics, train steps then eval; some outputs land
    above 6 and many below 0, so both kinks are crossed."""
    rng = np.random.default_rng(0)
    shape, C = (4, 3, 5, 6), 3
    w, b = rng.standard_normal(C) * 3, rng.standard_normal(C) + 1
    rm, rv = mt.zeros(C, dtype=np.float64), mt.ones(C, dtype=np.float64)
    rmt, rvt = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    for training in (True, True, False):
        x, dy = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
        X, W, B = (mt.tensor(a, requires_grad=True) for a in (x, w, b))
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        with mt.backend.use_kernels(kernels):
            y = F.batch_norm_relu(X, rm, rv, W, B, training, 0.1, 1e-5, max_value=max_value)
            y.backward(mt.tensor(dy))
        yt = TF.batch_norm(xt, rmt, rvt, wt, bt, training, 0.1, 1e-5)
        yt = TF.hardtanh(yt, 0.0, 6.0) if max_value == 6 else TF.relu(yt)
        yt.backward(torch.tensor(dy))
        assert (yt == 0).any() and (max_value == np.inf or (yt == 6).any())
        for a, c in ((y, yt), (X.grad, xt.grad), (W.grad, wt.grad), (B.grad, bt.grad),
                     (rm, rmt), (rv, rvt)):
            np.testing.assert_allclose(to_numpy(a), to_numpy(c), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cls,shape,kwargs", [
    ("BatchNorm2d", (4, 3, 5, 5), {}),
    ("BatchNorm2d", (4, 3, 5, 5), dict(momentum=None)),
    ("BatchNorm2d", (4, 3, 5, 5), dict(affine=False)),
    ("BatchNorm2d", (4, 3, 5, 5), dict(track_running_stats=False)),
    ("BatchNorm2d", (4, 3, 5, 5), dict(bias=False, eps=1e-3)),
    ("BatchNorm1d", (6, 3), {}),
    ("BatchNorm1d", (6, 3, 4), dict(momentum=0.3)),
])
def test_batch_norm_layer_like_torch(cls, shape, kwargs):
    ours = getattr(nn, cls)(3, **kwargs).double()
    theirs = getattr(torch.nn, cls)(3, **kwargs).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(1)
    for step in range(4):
        train = step < 3
        ours.train(train)
        theirs.train(train)
        x = rng.standard_normal(shape) * 3 - 1
        X, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yt = ours(X), theirs(xt)
        y.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(to_numpy(X.grad), xt.grad.numpy(), rtol=1e-9, atol=1e-9)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(to_numpy(ours.state_dict()[k]), v.numpy(), rtol=1e-12)


def test_batch_norm_on_device(device):
    layer = nn.BatchNorm2d(3).to(device)
    x = mt.randn(4, 3, 5, 5, device=device) * 2 + 1
    y = layer(x)
    assert y.device == device and layer.running_mean.device == device
    m = to_numpy(y).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(m, 0, atol=1e-5)
    assert int(layer.num_batches_tracked.item()) == 1


@pytest.mark.parametrize("call,message", [
    (lambda: nn.BatchNorm2d(8)(mt.zeros(2, 3, 4, 4)), r"BatchNorm2d\(8\): expected input with 8 "
                                                     r"channels, got 3"),
    (lambda: nn.BatchNorm2d(8)(mt.zeros(2, 8)), r"BatchNorm2d\(8\): expected a 4-D input"),
    (lambda: nn.BatchNorm1d(3)(mt.zeros(1, 3)), "more than 1 value per channel"),
    (lambda: F.batch_norm(mt.zeros(2, 3), None, None), "needs running_mean"),
    (lambda: F.batch_norm(mt.zeros(2, 3), mt.zeros(4), mt.ones(4)), "has 3 channels"),
    (lambda: F.batch_norm_relu(mt.zeros(2, 3), mt.zeros(3), mt.ones(3), max_value=0),
     "max_value must be > 0"),
    (lambda: F.batch_norm_relu(mt.zeros(2, 3, 4), mt.zeros(2), mt.ones(3)),
     "batch_norm_relu: running_mean has shape"),
])
def test_batch_norm_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------ local response norm
@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-2, 0.75, 2.0), (4, 1e-1, 0.6, 1.0),
                                               (1, 1e-2, 0.75, 1.0), (9, 1.0, 0.5, 1.5)])
def test_local_response_norm(size, alpha, beta, k):
    _check(lambda x: F.local_response_norm(x, size, alpha, beta, k),
           lambda x: TF.local_response_norm(x, size, alpha, beta, k), (2, 7, 4, 3))
    _check(lambda x: F.local_response_norm(x, size, alpha, beta, k),
           lambda x: TF.local_response_norm(x, size, alpha, beta, k), (2, 6, 5))


# -------------------------------------------------------------------- dropout2d
def test_dropout2d_drops_whole_channels():
    mt.manual_seed(0)
    x = mt.ones(64, 32, 5, 5, requires_grad=True)
    y = F.dropout2d(x, p=0.25, training=True)
    planes = to_numpy(y).reshape(64 * 32, 25)
    kept = planes[:, 0] != 0
    assert np.all(planes[kept] == pytest.approx(1 / 0.75))    # kept channels scaled by 1/(1-p)
    assert np.all(planes[~kept] == 0)                         # dropped ones entirely zero
    assert kept.mean() == pytest.approx(0.75, abs=0.03)
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), to_numpy(y))   # the gradient is the mask
    mt.manual_seed(0)
    again = F.dropout2d(mt.ones(64, 32, 5, 5), p=0.25)
    np.testing.assert_array_equal(to_numpy(again), to_numpy(y))  # seeded: reproducible


def test_dropout2d_eval_and_edges():
    x = mt.randn(2, 3, 4, 4)
    assert F.dropout2d(x, 0.5, training=False) is x
    layer = nn.Dropout2d(0.5).eval()
    assert layer(x) is x
    assert np.all(to_numpy(F.dropout2d(x, 1.0)) == 0)
    assert F.dropout2d(mt.randn(3, 4, 4), 0.5).shape == (3, 4, 4)
    with pytest.raises(ValueError, match="p must be in"):
        F.dropout2d(x, 1.5)


# ------------------------------------------------------------------- layer reprs
@pytest.mark.parametrize("cls,args", [("MaxPool2d", (3, 2, 1)), ("MaxPool2d", (2,)),
                                      ("AvgPool2d", (3, 2, 1)), ("AdaptiveAvgPool2d", ((1, 1),)),
                                      ("AdaptiveMaxPool2d", (2,)),
                                      ("LocalResponseNorm", (5, 1e-4, 0.75, 2.0)),
                                      ("Dropout2d", (0.3,))])
def test_layer_reprs_like_torch(cls, args):
    assert repr(getattr(nn, cls)(*args)) == repr(getattr(torch.nn, cls)(*args))
    assert getattr(nn, cls)(*args).state_dict() == {}


def test_pool_layers_forward():
    x = torch.randn(2, 3, 9, 9)
    for ours, theirs in [(nn.MaxPool2d(3, 2, 1, ceil_mode=True),
                          torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
                         (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
                         (nn.AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3))),
                         (nn.AdaptiveMaxPool2d(4), torch.nn.AdaptiveMaxPool2d(4)),
                         (nn.LocalResponseNorm(3), torch.nn.LocalResponseNorm(3))]:
        np.testing.assert_allclose(to_numpy(ours(mt.tensor(x.numpy()))), theirs(x).numpy(),
                                   rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ NaN in pools
def _nan_image():
    """NaN alone in a window, two NaN in one window, NaN on a padded edge, -inf windows."""
    x = np.arange(2 * 2 * 6 * 7, dtype=np.float64).reshape(2, 2, 6, 7) % 11 - 5
    x[0, 0, 0, 1] = np.nan
    x[0, 1, 2, 2] = x[0, 1, 3, 3] = np.nan
    x[1, 0, 5, 6] = np.nan
    x[1, 1, :2, :2] = -np.inf
    return x


POOLS = {
    "max 2": (lambda x: F.max_pool2d(x, 2, return_indices=True),
              lambda t: TF.max_pool2d(t, 2, return_indices=True)),
    "max 3 s1 pad1": (lambda x: F.max_pool2d(x, 3, 1, 1, return_indices=True),
                      lambda t: TF.max_pool2d(t, 3, 1, 1, return_indices=True)),
    "max 3 s2 dil2 ceil": (lambda x: F.max_pool2d(x, 3, 2, 1, 2, True, True),
                           lambda t: TF.max_pool2d(t, 3, 2, 1, 2, True, True)),
    "adaptive 3x2": (lambda x: F.adaptive_max_pool2d(x, (3, 2), True),
                     lambda t: TF.adaptive_max_pool2d(t, (3, 2), True)),
    "adaptive 4x5": (lambda x: F.adaptive_max_pool2d(x, (4, 5), True),
                     lambda t: TF.adaptive_max_pool2d(t, (4, 5), True)),
}


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("name", list(POOLS))
def test_nan_is_not_lost_in_max_pooling(name, kernels):
    """A window with a NaN gives NaN and points at the NaN (the last one, as torch's
    kernels), its gradient goes there; a window of -inf gives -inf at its first pixel."""
    ours_fn, torch_fn = POOLS[name]
    a = _nan_image()
    x, t = mt.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    with mt.backend.use_kernels(kernels):
        (y, idx), (ty, tidx) = ours_fn(x), torch_fn(t)
        assert np.isnan(to_numpy(y)).any()
        np.testing.assert_array_equal(to_numpy(y), ty.detach().numpy())   # NaN == NaN here
        np.testing.assert_array_equal(to_numpy(idx), tidx.numpy())
        dy = np.random.default_rng(0).standard_normal(tuple(ty.shape))
        y.backward(mt.tensor(dy))
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-12)


def test_max_pool_layers_keep_nan():
    x = mt.tensor(_nan_image()).float()
    assert np.isnan(nn.MaxPool2d(2)(x).numpy()[0, 0, 0, 0])
    assert np.isnan(nn.AdaptiveMaxPool2d(1)(x).numpy()[0, 0, 0, 0])


# ------------------------------------------------- batch norm: empty, one value, dtype
@pytest.mark.parametrize("cls,shape", [("BatchNorm2d", (0, 3, 4, 4)),
                                       ("BatchNorm2d", (2, 3, 0, 4)),
                                       ("BatchNorm1d", (0, 3))])
@pytest.mark.parametrize("kernels", ["fast", "reference"])
def test_batch_norm_on_an_empty_batch(cls, shape, kernels):
    """Training on an empty batch is refused (no statistics to normalise with; torch
    returns an empty output there), with nothing counted or moved; in eval mode an empty
    output, as torch, with zero parameter gradients."""
    ours, theirs = getattr(nn, cls)(3), getattr(torch.nn, cls)(3).eval()
    before = {k: to_numpy(v).copy() for k, v in ours.state_dict().items()}
    with pytest.raises(ValueError, match=rf"{cls}\(3\): expected more than 1 value per channel "
                                         rf"when training, got input shape .*empty batch.*"
                                         rf"model\.eval\(\)"):
        ours(mt.zeros(*shape))
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(to_numpy(v), before[k])
    ours.eval()
    x = mt.zeros(*shape, requires_grad=True)
    with mt.backend.use_kernels(kernels):
        y = ours(x)
        y.sum().backward()
    ty = theirs(torch.zeros(shape, requires_grad=True))
    ty.sum().backward()
    assert y.shape == tuple(ty.shape) and x.grad.shape == shape
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(to_numpy(ours.state_dict()[k]), v.numpy())
    np.testing.assert_array_equal(to_numpy(ours.weight.grad), theirs.weight.grad.numpy())


@pytest.mark.parametrize("cls,shape", [("BatchNorm2d", (1, 3, 1, 1)), ("BatchNorm1d", (1, 3)),
                                       ("BatchNorm1d", (1, 3, 1))])
def test_batch_norm_one_value_per_channel_refused_in_training_only(cls, shape):
    layer = getattr(nn, cls)(3)
    before = {k: to_numpy(v).copy() for k, v in layer.state_dict().items()}
    with pytest.raises(ValueError, match=rf"{cls}\(3\): expected more than 1 value per channel "
                                         rf"when training, got input shape .*model\.eval\(\)"):
        layer(mt.ones(*shape))
    for k, v in layer.state_dict().items():                  # nothing counted or moved
        np.testing.assert_array_equal(to_numpy(v), before[k])
    layer.eval()
    y = layer(mt.ones(*shape) * 2)
    ref = getattr(torch.nn, cls)(3).eval()(torch.ones(shape) * 2)
    np.testing.assert_allclose(to_numpy(y), ref.detach().numpy(), rtol=1e-6)


def test_batch_norm_dtypes():
    layer = nn.BatchNorm2d(3)
    for dtype, fix in [(np.float64, r"x\.float\(\) or the model with model\.double\(\)"),
                       (np.int64, r"x\.float\(\)"), (np.float16, r"x\.float\(\)")]:
        with pytest.raises(TypeError, match=rf"BatchNorm2d\(3\): expected input dtype torch\.float32 "
                                            rf"\(the dtype of its weight\), got .*{fix}"):
            layer(mt.tensor(np.ones((2, 3, 2, 2), dtype)))
    assert int(layer.num_batches_tracked.item()) == 0
    plain = nn.BatchNorm2d(3, affine=False)
    with pytest.raises(TypeError, match="dtype of its running statistics"):
        plain(mt.ones(2, 3, 2, 2, dtype=np.float64))
    free = nn.BatchNorm2d(3, affine=False, track_running_stats=False)   # no state: any float
    assert free(mt.randn(2, 3, 2, 2, dtype=np.float64)).dtype == np.float64
    assert layer.double()(mt.randn(2, 3, 2, 2, dtype=np.float64)).dtype == np.float64
    with pytest.raises(TypeError, match="input dtype torch.float64 and running_mean dtype torch.float32"):
        F.batch_norm(mt.ones(2, 3, dtype=np.float64), mt.zeros(3), mt.ones(3), training=True)


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("where", [(0, 0, 0, 0), (1, 0, 1, 1)])
def test_batch_norm_statistics_keep_nan_as_torch(kernels, where):
    """A NaN in a channel makes that channel's output and running statistics NaN (the
    shifted one-pass kernel included, whether the NaN is its shift or not); the other
    channels are untouched by it."""
    x = np.random.default_rng(0).standard_normal((4, 2, 3, 3))
    x[where] = np.nan
    rm, rv = mt.zeros(2, dtype=np.float64), mt.ones(2, dtype=np.float64)
    trm, trv = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    with mt.backend.use_kernels(kernels):
        y = F.batch_norm(mt.tensor(x), rm, rv, training=True)
    ty = TF.batch_norm(torch.tensor(x), trm, trv, training=True)
    np.testing.assert_allclose(to_numpy(y), ty.numpy(), rtol=1e-10, atol=1e-10, equal_nan=True)
    np.testing.assert_allclose(to_numpy(rm), trm.numpy(), rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(to_numpy(rv), trv.numpy(), rtol=1e-10, equal_nan=True)
    assert np.isnan(to_numpy(rv)[0]) and not np.isnan(to_numpy(rv)[1])
