"""conv_transpose2d, max_unpool2d and their layers against PyTorch: forward and every
gradient in float64 on random configurations (kernel, stride, padding, output_padding,
dilation, groups), under both kernel tiers; finite-difference checks; layer names,
shapes, init, output_size; the adjoint identity with conv2d; clear errors."""
import numpy as np
import pytest
import torch

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import nn

from conftest import to_numpy


def _random_configs(n, seed):
    """(N, C_in, H, W, C_out, KH, KW, stride, padding, output_padding, dilation, groups)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        g = int(rng.choice([1, 1, 2, 3]))
        C_in, C_out = g * int(rng.integers(1, 4)), g * int(rng.integers(1, 4))
        KH, KW = (int(k) for k in rng.integers(1, 5, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        d = tuple(int(v) for v in rng.integers(1, 3, 2))
        p = tuple(int(v) for v in rng.integers(0, 3, 2))
        op = tuple(int(rng.integers(0, max(s[a], d[a]))) for a in range(2))
        H, W = (int(v) for v in rng.integers(1, 7, 2))
        OH = (H - 1) * s[0] - 2 * p[0] + d[0] * (KH - 1) + op[0] + 1
        OW = (W - 1) * s[1] - 2 * p[1] + d[1] * (KW - 1) + op[1] + 1
        if min(OH, OW) < 1:
            continue
        out.append((int(rng.integers(1, 4)), C_in, H, W, C_out, KH, KW, s, p, op, d, g))
    return out


NAMED = [
    (2, 4, 4, 4, 3, 2, 2, 2, 0, 0, 1, 1),          # the classic 2x upsampling
    (2, 3, 5, 4, 6, 3, 3, 2, 1, 1, 1, 1),          # stride 2, padding 1, output_padding 1
    (1, 4, 3, 3, 4, 3, 3, 1, 1, 0, 1, 2),          # groups, stride 1 ("same")
    (2, 2, 4, 3, 2, 3, 2, 2, 2, (1, 0), 1, 1),     # output_padding > padding: zero rows
    (1, 2, 3, 3, 3, 3, 3, 1, 0, 1, 2, 1),          # output_padding via dilation (stride 1)
]
CONFIGS = NAMED + _random_configs(20, seed=7)


def _torch_and_ours(cfg, bias=True, kernels="fast"):
    N, C_in, H, W, C_out, KH, KW, s, p, op, d, g = cfg
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C_in, H, W))
    w = rng.standard_normal((C_in, C_out // g, KH, KW))
    b = rng.standard_normal(C_out) if bias else None
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if bias else None
    yt = torch.nn.functional.conv_transpose2d(xt, wt, bt, s, p, op, g, d)
    gy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))
    X, Wt = mt.tensor(x, requires_grad=True), mt.tensor(w, requires_grad=True)
    B = mt.tensor(b, requires_grad=True) if bias else None
    with mt.backend.use_kernels(kernels):
        y = F.conv_transpose2d(X, Wt, B, s, p, op, g, d)
        y.backward(mt.tensor(gy))
    pairs = [(y, yt), (X.grad, xt.grad), (Wt.grad, wt.grad)]
    if bias:
        pairs.append((B.grad, bt.grad))
    return pairs


@pytest.mark.parametrize("kernels", ["reference", "fast"])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_conv_transpose2d_matches_torch(cfg, kernels):
    for ours, theirs in _torch_and_ours(cfg, bias=cfg[0] != 1, kernels=kernels):
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_allclose(to_numpy(ours), to_numpy(theirs), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cfg", NAMED[:4])
def test_conv_transpose2d_gradcheck(cfg):
    N, C_in, H, W, C_out, KH, KW, s, p, op, d, g = cfg
    x = mt.randn(1, C_in, H, W, dtype="float64", requires_grad=True)
    w = mt.randn(C_in, C_out // g, KH, KW, dtype="float64", requires_grad=True)
    b = mt.randn(C_out, dtype="float64", requires_grad=True)
    assert mt.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d), (x, w, b))


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv2d(u, W), v> = <u, conv_transpose2d(v, W)>: the same weight, read both ways."""
    rng = np.random.default_rng(0)
    u = mt.tensor(rng.standard_normal((2, 3, 9, 8)))
    w = mt.tensor(rng.standard_normal((5, 3, 3, 3)))             # conv2d: (OC=5, C=3, 3, 3)
    Au = F.conv2d(u, w, stride=2, padding=1)                      # (2, 5, 5, 4)
    v = mt.tensor(rng.standard_normal(tuple(Au.shape)))
    ATv = F.conv_transpose2d(v, w, stride=2, padding=1, output_padding=(0, 1))
    assert tuple(ATv.shape) == (2, 3, 9, 8)
    np.testing.assert_allclose(float((Au * v).sum().item()), float((u * ATv).sum().item()),
                               rtol=1e-10)


def test_conv_transpose2d_float32_and_unbatched():
    x = mt.randn(3, 4, 4)
    w = mt.randn(3, 2, 3, 3)
    y = F.conv_transpose2d(x, w, stride=2)
    assert tuple(y.shape) == (2, 9, 9) and y.dtype == np.float32
    yt = torch.nn.functional.conv_transpose2d(torch.tensor(to_numpy(x)),
                                              torch.tensor(to_numpy(w)), stride=2)
    np.testing.assert_allclose(to_numpy(y), yt.numpy(), rtol=1e-5, atol=1e-5)


def test_conv_transpose2d_errors():
    x, w = mt.randn(1, 4, 5, 5), mt.randn(4, 2, 3, 3)
    with pytest.raises(ValueError, match="expected input with 4 channels"):
        F.conv_transpose2d(mt.randn(1, 3, 5, 5), w)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="groups=3 must divide"):
        F.conv_transpose2d(x, w, groups=3)
    with pytest.raises(ValueError, match="bias must have shape"):
        F.conv_transpose2d(x, w, mt.randn(3))
    with pytest.raises(ValueError, match="leaves no output"):
        F.conv_transpose2d(mt.randn(1, 4, 1, 1), mt.randn(4, 2, 1, 1), padding=1)
    with pytest.raises(TypeError, match="dtype"):
        F.conv_transpose2d(x, mt.randn(4, 2, 3, 3, dtype="float64"))


def test_conv_transpose2d_layer_matches_torch():
    mt.manual_seed(0)
    layer = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert tuple(layer.weight.shape) == (6, 2, 3, 3) and tuple(layer.bias.shape) == (4,)
    assert list(layer.state_dict()) == ["weight", "bias"]
    ref = torch.nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert [tuple(t.shape) for t in ref.state_dict().values()] == [(6, 2, 3, 3), (4,)]
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 6, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(to_numpy(layer(mt.tensor(x))),
                               ref(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    # torch's init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = out/groups * KH * KW = 18
    big = nn.ConvTranspose2d(64, 32, 3)
    bound = 1 / np.sqrt(32 * 9)
    w = to_numpy(big.weight)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(to_numpy(big.bias)).max() <= bound
    assert "output_padding=(1, 1)" in repr(layer)


def test_conv_transpose2d_layer_output_size():
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = mt.randn(1, 2, 4, 4)
    assert tuple(layer(x).shape) == (1, 3, 7, 7)
    assert tuple(layer(x, output_size=(8, 8)).shape) == (1, 3, 8, 8)   # undoes a conv of 8
    with pytest.raises(ValueError, match="cannot be reached"):
        layer(x, output_size=(10, 10))
    with pytest.raises(ValueError, match="expected input with 2 channels"):
        layer(mt.randn(1, 3, 4, 4))


# ---------------------------------------------------------------- max unpooling
@pytest.mark.parametrize("k, s, p, size", [(2, 2, 0, (6, 8)), (3, 2, 1, (7, 7)),
                                           (3, 1, 1, (5, 6)), (2, 2, 0, (7, 5))])
def test_max_unpool2d_matches_torch(k, s, p, size):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) + size)
    xt = torch.tensor(x)
    pooled_t, idx_t = torch.nn.functional.max_pool2d(xt, k, s, p, return_indices=True)
    pooled, idx = F.max_pool2d(mt.tensor(x), k, s, p, return_indices=True)
    np.testing.assert_array_equal(to_numpy(idx), idx_t.numpy())         # the same switches
    v = rng.standard_normal(tuple(pooled_t.shape))
    vt = torch.tensor(v, requires_grad=True)
    yt = torch.nn.functional.max_unpool2d(vt, idx_t, k, s, p, output_size=size)
    gy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))
    V = mt.tensor(v, requires_grad=True)
    y = F.max_unpool2d(V, idx, k, s, p, output_size=size)
    y.backward(mt.tensor(gy))
    np.testing.assert_array_equal(to_numpy(y), yt.detach().numpy())
    np.testing.assert_array_equal(to_numpy(V.grad), vt.grad.numpy())
    unpool = nn.MaxUnpool2d(k, s, p)
    np.testing.assert_array_equal(to_numpy(unpool(V, idx, output_size=size)),
                                  yt.detach().numpy())


def test_max_unpool2d_default_size_gradcheck_and_errors():
    x = mt.randn(1, 2, 4, 6, dtype="float64")
    pooled, idx = F.max_pool2d(x, 2, return_indices=True)
    y = F.max_unpool2d(pooled, idx, 2)
    assert tuple(y.shape) == (1, 2, 4, 6)
    # every window's max is back in place, everything else is zero
    kept = to_numpy(y) != 0
    np.testing.assert_array_equal(to_numpy(y)[kept], to_numpy(x)[kept])
    assert kept.sum() == 2 * 2 * 3
    v = mt.randn(1, 2, 2, 3, dtype="float64", requires_grad=True)
    assert mt.gradcheck(lambda v: F.max_unpool2d(v, idx, 2), (v,))
    assert tuple(F.max_unpool2d(pooled[0], idx[0], 2).shape) == (2, 4, 6)     # unbatched
    with pytest.raises(ValueError, match="indices must have the input's shape"):
        F.max_unpool2d(pooled, idx[:, :1], 2)
    with pytest.raises(ValueError, match="output_size"):
        F.max_unpool2d(pooled, idx, 2, output_size=(2, 2))
