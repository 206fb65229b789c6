"""The kernel tiers agree: reference (NumPy) vs fast (Numba on the CPU, CuPy on the GPU).

Every kernel of kernels/reference.py is run on random float32 inputs and random geometry
through both tiers and compared to float32 tolerance. With ``device == "cuda"`` the fast
tier is CuPy's (skipped without a GPU). The Numba loops are also run as the plain
Python they are written in (``_im2col`` & co.), as NUMBA_DISABLE_JIT=1 would.
"""
import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import fast, kernels
from minitorch_cnn.kernels import reference
from minitorch_cnn.kernels.cpu import depthwise, elementwise, im2col as cpu_im2col, winograd

from minitorch_cnn.functional.geometry import conv_geometry, pool_geometry

from conftest import to_numpy

# (N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW): odd/even sizes, strides, dilations
GEOMETRIES = [
    (2, 3, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1),
    (2, 4, 8, 9, 3, 2, 2, 1, 0, 1, 2, 1),
    (1, 2, 9, 9, 5, 5, 3, 2, 2, 2, 1, 1),
    (3, 2, 5, 6, 1, 1, 1, 1, 0, 0, 1, 1),
    (2, 3, 6, 5, 2, 4, 1, 2, 1, 2, 2, 1),
]


def _close(a, b, rtol=1e-5):
    a, b = to_numpy(a), to_numpy(b)
    assert a.shape == b.shape
    scale = max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def _both(fn_name, *args, device="cpu"):
    """(reference result, fast result) of kernel ``fn_name`` on ``args`` (moved to device)."""
    moved = [mt.backend.to_device(a, device) if isinstance(a, np.ndarray) else a for a in args]
    with mt.backend.use_kernels("reference"):
        ref = getattr(kernels, fn_name)(*moved)
    with mt.backend.use_kernels("fast"):
        fast = getattr(kernels, fn_name)(*moved)
    return ref, fast


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _geometry(g, OC=1, groups=1):
    """The ConvGeometry of a row of GEOMETRIES, with OC output channels in ``groups``."""
    N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW = g
    return conv_geometry((N, C, H, W), (OC, C // groups, KH, KW), (SH, SW), (PH, PW), (DH, DW),
                         groups)


@pytest.mark.parametrize("g", GEOMETRIES)
def test_im2col_col2im(device, g):
    x, geom = _rand(*g[:4]), _geometry(g)
    ref, fast = _both("im2col", x, geom, device=device)
    _close(fast, ref)
    cols = _rand(*ref.shape, seed=1)
    ref, fast = _both("col2im", cols, geom, device=device)
    _close(fast, ref)


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), c> == <x, col2im(c)>: what makes col2im the gradient of im2col."""
    x, geom = _rand(2, 3, 7, 6), _geometry((2, 3, 7, 6) + GEOMETRIES[1][4:])
    cols = reference.im2col(x, geom)
    c = _rand(*cols.shape, seed=2)
    lhs = float((cols.astype(np.float64) * c).sum())
    rhs = float((x.astype(np.float64) * reference.col2im(c, geom)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-5)


@pytest.fixture(autouse=True, params=["parallel", "serial"])
def numba_threads(request, monkeypatch):
    """Every test here runs the Numba kernels both ways: compiled with prange over the
    threads, and as the plain loop that small arrays get (fast.TUNING.serial_below)."""
    with fast.tuning(serial_below=0 if request.param == "parallel" else 1 << 62):
        yield request.param


@pytest.fixture(params=[None, "planes", "channels_last"])
def depthwise_layout(request, device):
    """The Numba depthwise kernels have two layouts (flattened planes; channels-last for
    small planes and strides): each is tested whatever shape fast.depthwise_layout picks
    (None)."""
    if device != "cpu" and request.param is not None:
        pytest.skip("the layout is the Numba tier's")
    return request.param


@pytest.mark.parametrize("g", GEOMETRIES)
@pytest.mark.parametrize("M", [1, 2])
def test_depthwise(device, g, M, depthwise_layout):
    layout = None if M > 1 else depthwise_layout           # channels-last: one filter per channel
    C, KH, KW = g[1], g[4], g[5]
    x, w = _rand(*g[:4]), _rand(C * M, 1, KH, KW, seed=1)
    geom = _geometry(g, C * M, C)
    ref, fast = _both("depthwise_conv2d", x, w, geom, layout, device=device)
    _close(fast, ref)
    gy = _rand(*ref.shape, seed=2)
    ref, fast = _both("depthwise_conv2d_backward_input", gy, w, geom, layout, device=device)
    _close(fast, ref)
    ref, fast = _both("depthwise_conv2d_backward_weight", x, gy, geom, layout, device=device)
    _close(fast, ref, rtol=1e-4)


def test_channels_last_needs_one_filter_per_channel():
    x, w = _rand(1, 2, 5, 5), _rand(4, 1, 3, 3)
    geom = _geometry((1, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1), 4, 2)
    with pytest.raises(ValueError, match="one filter per channel"):
        depthwise.depthwise_conv2d(x, w, geom, "channels_last")


@pytest.mark.parametrize("g", GEOMETRIES)
@pytest.mark.parametrize("ceil", [False, True])
def test_max_pool(device, g, ceil):
    N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW = g
    PH, PW = min(PH, (DH * (KH - 1) + 1) // 2), min(PW, (DW * (KW - 1) + 1) // 2)
    # with ceil, a window may hang over the bottom/right edge
    geom = pool_geometry((N, C, H, W), (KH, KW), (SH, SW), (PH, PW), (DH, DW), ceil, "test")
    x = _rand(N, C, H, W)
    (y_ref, a_ref), (y, a) = _both("max_pool2d", x, geom, device=device)
    _close(y, y_ref)
    np.testing.assert_array_equal(to_numpy(a), to_numpy(a_ref))
    gy = _rand(N, C, geom.OH, geom.OW, seed=3)
    ref, fast = _both("max_pool2d_backward", gy, a_ref, x.shape, device=device)
    _close(fast, ref)


@pytest.mark.parametrize("g", GEOMETRIES)
def test_max_pool_with_nan_and_infinities(device, g):
    """Every tier: NaN wins its windows (the last NaN in row-major order, as torch), ties
    go to the first tap, a window of -inf picks its first pixel (never padding)."""
    N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW = g
    PH, PW = min(PH, (DH * (KH - 1) + 1) // 2), min(PW, (DW * (KW - 1) + 1) // 2)
    geom = pool_geometry((N, C, H, W), (KH, KW), (SH, SW), (PH, PW), (DH, DW), False, "test")
    x = np.round(_rand(N, C, H, W))                        # ties
    rng = np.random.default_rng(5)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.1] = -np.inf
    x[0, 0] = -np.inf                                      # a whole plane of -inf
    (y_ref, a_ref), (y, a) = _both("max_pool2d", x, geom, device=device)
    np.testing.assert_array_equal(to_numpy(y), to_numpy(y_ref))
    np.testing.assert_array_equal(to_numpy(a), to_numpy(a_ref))
    assert (to_numpy(a_ref) >= 0).all() and np.isneginf(to_numpy(y_ref)[0, 0]).all()
    flat = x.reshape(N, C, -1)
    picked = np.take_along_axis(flat, to_numpy(a_ref).reshape(N, C, -1), axis=2)
    np.testing.assert_array_equal(picked.reshape(y_ref.shape), to_numpy(y_ref))
    for out_size in [(1, 1), (3, 2)]:
        (y_ref, a_ref), (y, a) = _both("adaptive_max_pool2d", x, *out_size, device=device)
        np.testing.assert_array_equal(to_numpy(y), to_numpy(y_ref))
        np.testing.assert_array_equal(to_numpy(a), to_numpy(a_ref))


def test_other_dtypes_run_the_reference_kernels():
    """A dtype the compiled tiers do not take (float16, integers) falls back to the
    reference loops rather than fail inside Numba (the ops refuse float16 before)."""
    x = np.arange(16, dtype=np.float16).reshape(1, 1, 4, 4)
    with mt.backend.use_kernels("fast"):
        y, a = kernels.max_pool2d(x, pool_geometry(x.shape, 2, 2, 0, 1, False, "test"))
        assert y.dtype == np.float16 and y.ravel().tolist() == [5, 7, 13, 15]
        assert kernels.clamp(x, 0.0, 6.0).max() == 6
        p, g = np.ones(3, np.float16), np.ones(3, np.float16)
        kernels.sgd_update(p, g, None, 0.5, 0.0, 0.0, 0.0, False, True)
        assert p.tolist() == [0.5, 0.5, 0.5]


@pytest.mark.parametrize("g", GEOMETRIES)
def test_avg_pool(device, g):
    N, C, H, W, KH, KW, SH, SW, PH, PW = g[:10]
    PH, PW = min(PH, KH // 2), min(PW, KW // 2)
    geom = pool_geometry((N, C, H, W), (KH, KW), (SH, SW), (PH, PW), 1, False, "test")
    x, divisor = _rand(N, C, H, W), np.random.default_rng(4).uniform(1, 9, (geom.OH, geom.OW))
    ref, fast = _both("avg_pool2d", x, geom, divisor, device=device)
    _close(fast, ref)
    gy = _rand(N, C, geom.OH, geom.OW, seed=3)
    ref, fast = _both("avg_pool2d_backward", gy, geom, divisor, device=device)
    _close(fast, ref)


@pytest.mark.parametrize("out_size", [(1, 1), (3, 4), (5, 2), (7, 6)])
def test_adaptive_pools(device, out_size):
    x = _rand(2, 3, 7, 6)
    ref, fast = _both("adaptive_avg_pool2d", x, *out_size, device=device)
    _close(fast, ref)
    gy = _rand(*ref.shape, seed=1)
    ref, fast = _both("adaptive_avg_pool2d_backward", gy, x.shape, device=device)
    _close(fast, ref)
    (y_ref, a_ref), (y, a) = _both("adaptive_max_pool2d", x, *out_size, device=device)
    _close(y, y_ref)
    np.testing.assert_array_equal(to_numpy(a), to_numpy(a_ref))


@pytest.mark.parametrize("shape", [(4, 3, 10), (6, 5, 1), (2, 2, 64)])
def test_batch_norm_kernels(device, shape):
    x, gy = _rand(*shape) + 3, _rand(*shape, seed=1)
    (m_ref, v_ref), (m, v) = _both("batch_norm_statistics", x, device=device)
    _close(m, m_ref)
    _close(v, v_ref)
    C = shape[1]
    inv_std = (1 / np.sqrt(v_ref + 1e-5)).astype(np.float32)
    w, b = _rand(C, seed=2), _rand(C, seed=3)
    y_ref, y = _both("batch_norm_apply", x, m_ref, inv_std, w, b, device=device)
    _close(y, y_ref)
    x_hat = (x - m_ref[:, None]) * inv_std[:, None]
    _close(y, x_hat * w[:, None] + b[:, None])
    (s_ref, t_ref), (s, t) = _both("batch_norm_backward_reduce", gy, x, m_ref, inv_std,
                                   device=device)
    _close(s, s_ref, rtol=1e-4)
    _close(t, t_ref, rtol=1e-4)
    _close(t, (gy * x_hat).sum(axis=(0, 2)), rtol=1e-4)
    ref, fast = _both("batch_norm_backward_input", gy, x, m_ref, inv_std, w * inv_std,
                      s_ref / 7, t_ref / 7, device=device)
    _close(fast, ref)


@pytest.mark.parametrize("band", [(0.0, np.inf), (0.0, 6.0)])
def test_batch_norm_kernels_with_fused_clamp(device, band):
    """apply with a band = clamp(apply); the backward kernels with the output y = the
    plain ones on band_backward(gy): what makes BatchNorm+ReLU one op, in every tier."""
    shape = (4, 3, 50)
    x, gy = _rand(*shape) * 4 + 2, _rand(*shape, seed=1)
    mean, var = reference.batch_norm_statistics(x)
    inv_std = (1 / np.sqrt(var + 1e-5)).astype(np.float32)
    x[0, 0, 0] = np.nan                                   # NaN stays NaN through the clamp
    w, b = _rand(3, seed=2) * 3, _rand(3, seed=3)
    plain = reference.batch_norm_apply(x, mean, inv_std, w, b)
    ref, fast = _both("batch_norm_apply", x, mean, inv_std, w, b, band, device=device)
    for y in (ref, fast):
        _close(y, reference.clamp(plain, *band))
        assert np.isnan(to_numpy(y)[0, 0, 0]) and np.isfinite(to_numpy(y)[0, 0, 1:]).all()
    x[0, 0, 0], ref[0, 0, 0] = 1.0, 1.0                   # gradients on finite numbers
    y = ref
    g_eff = reference.band_backward(gy, y, *band)
    assert (g_eff == 0).any() and (g_eff != 0).any()
    want = reference.batch_norm_backward_reduce(g_eff, x, mean, inv_std)
    for got in _both("batch_norm_backward_reduce", gy, x, mean, inv_std, y, band,
                     device=device):
        _close(got[0], want[0], rtol=1e-4)
        _close(got[1], want[1], rtol=1e-4)
    args = (x, mean, inv_std, w * inv_std, want[0] / 200, want[1] / 200)
    want = reference.batch_norm_backward_input(g_eff, *args)
    for got in _both("batch_norm_backward_input", gy, *args, y, band, device=device):
        _close(got, want)


def test_batch_norm_apply_with_a_residual(device):
    """The residual block's tail in one pass: clamp(apply(x) + residual), every tier."""
    x, r = _rand(4, 3, 50) * 4 + 2, _rand(4, 3, 50, seed=1) * 3
    mean, var = reference.batch_norm_statistics(x)
    inv_std = (1 / np.sqrt(var + 1e-5)).astype(np.float32)
    w, b = _rand(3, seed=2), _rand(3, seed=3)
    want = np.maximum(reference.batch_norm_apply(x, mean, inv_std, w, b) + r, 0)
    for got in _both("batch_norm_apply", x, mean, inv_std, w, b, (0.0, np.inf), r,
                     device=device):
        _close(got, want)
    plain = reference.batch_norm_apply(x, mean, inv_std, w, b) + r     # no band: just added
    for got in _both("batch_norm_apply", x, mean, inv_std, w, b, None, r, device=device):
        _close(got, plain)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape,P", [((2, 3, 8, 8), 1), ((1, 2, 7, 6), 0), ((2, 2, 5, 9), 2),
                                     ((1, 2, 3, 13), 1)])
def test_winograd_transforms(shape, P, m):
    """Numba vs reference for the four transforms of F(2x2, 3x3) and F(4x4, 3x3) (the CPU
    fast tier only has Winograd), maps that the tiles cover exactly and ones they overhang."""
    x, geom = _rand(*shape), _geometry(shape + (3, 3, 1, 1, P, P, 1, 1), OC=4)
    OH, OW = geom.OH, geom.OW
    ref, fast = _both("winograd_input_transform", x, geom, m)
    assert ref.shape == ((m + 2) ** 2, _tiles(shape, OH, OW, m), shape[1])
    _close(fast, ref)
    ref, fast = _both("winograd_input_transform_backward", ref, geom, m)
    _close(fast, ref)
    M, bias = _rand((m + 2) ** 2, _tiles(shape, OH, OW, m), 4, seed=5), _rand(4, seed=6)
    ref, fast = _both("winograd_output_transform", M, bias, geom, m)
    _close(fast, ref)
    ref, fast = _both("winograd_output_transform_backward", ref, m)
    _close(fast, ref)


def _tiles(shape, OH, OW, m=2):
    return shape[0] * -(-OH // m) * -(-OW // m)


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_computes_the_convolution(m):
    """A^T [(G g G^T) * (B^T d B)] A summed over channels == the 3x3 convolution (im2col),
    and each transform's backward is its adjoint: <T a, b> == <a, T^T b>."""
    BT, G, AT = reference.WINOGRAD[m]
    assert BT.shape == (m + 2, m + 2) and G.shape == (m + 2, 3) and AT.shape == (m, m + 2)
    x, w = _rand(2, 3, 7, 8).astype(np.float64), _rand(4, 3, 3, 3, seed=1).astype(np.float64)
    U = (G @ w @ G.T).transpose(2, 3, 1, 0).reshape((m + 2) ** 2, 3, 4)   # (a*a, C, OC)
    geom = _geometry((2, 3, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1), OC=4)
    V = reference.winograd_input_transform(x, geom, m)                   # (a*a, tiles, C)
    y = reference.winograd_output_transform(V @ U, np.zeros(4), geom, m)
    cols = reference.im2col(x, geom)
    direct = (w.reshape(4, -1) @ cols).reshape(4, 2, 7, 8).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(y, direct, rtol=1e-12, atol=1e-12)
    gV = _rand(*V.shape, seed=2).astype(np.float64)
    dx = reference.winograd_input_transform_backward(gV, geom, m)
    assert np.vdot(V, gV) == pytest.approx(np.vdot(x, dx), rel=1e-12)
    gy = _rand(*y.shape, seed=3).astype(np.float64)
    dM = reference.winograd_output_transform_backward(gy, m=m)
    assert np.vdot(y, gy) == pytest.approx(np.vdot(V @ U, dM), rel=1e-12)


@pytest.mark.parametrize("lo, hi", [(0.0, float("inf")), (0.0, 6.0)])
def test_band_backward(device, lo, hi):
    """The ReLU / ReLU6 backward: the gradient passes strictly inside (lo, hi) and at NaN,
    is 0 at the kinks and beyond them, as torch's; non-contiguous inputs included."""
    y = np.clip(_rand(3, 4, 5, 6) * 4, lo, hi)
    y[0, 0, 0, :4] = [lo, 6.0, 3.0, np.nan]             # the kinks, a point inside, NaN
    g = _rand(3, 4, 6, 5, seed=1).transpose(0, 1, 3, 2)  # a strided view
    ref, fast = _both("band_backward", g, y, lo, hi, device=device)
    _close(fast, ref)
    expected = np.where((y <= lo) | (y >= hi), 0, g)     # NaN passes g, as torch's relu
    assert expected[0, 0, 0, 3] == g[0, 0, 0, 3]
    _close(fast, expected)
    assert to_numpy(fast)[0, 0, 0, 0] == 0 and to_numpy(fast)[0, 0, 0, 2] == g[0, 0, 0, 2]
    assert to_numpy(fast)[0, 0, 0, 1] == (0 if hi == 6.0 else g[0, 0, 0, 1])


@pytest.mark.parametrize("lo, hi", [(0.0, float("inf")), (0.0, 6.0)])
def test_clamp(device, lo, hi):
    """ReLU / ReLU6 forward: min(max(x, lo), hi); NaN passes through as in torch."""
    x = _rand(3, 4, 6, 5) * 5
    x[0, 0, 0, 0] = np.nan
    x = x.transpose(0, 1, 3, 2)                         # a strided view
    ref, fast = _both("clamp", x, lo, hi, device=device)
    np.testing.assert_array_equal(to_numpy(fast), to_numpy(ref))
    np.testing.assert_array_equal(to_numpy(fast), np.clip(x, lo, hi))
    assert np.isnan(to_numpy(fast)[0, 0, 0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_silu(device, dtype):
    """SiLU forward and backward: fast = reference = torch, far into both tails (no
    overflow of e^-x), NaN kept, on a strided view, in float32 and float64."""
    torch = pytest.importorskip("torch")
    x = (_rand(3, 4, 6, 5) * 6).astype(dtype)
    x[0, 0, 0, :5] = [np.nan, -100.0, 100.0, 0.0, -20.0]
    x[0, 0, 1, 0] = -np.inf                             # silu(-inf) = -inf * 0 = NaN, as torch
    x = x.transpose(0, 1, 3, 2)                         # a strided view
    g = _rand(3, 4, 5, 6, seed=1).astype(dtype)
    # the reference computes -inf * 0 = NaN on purpose (NumPy would warn)
    with np.errstate(invalid="ignore"):
        _check_silu(x, g, dtype, device, torch)


def _check_silu(x, g, dtype, device, torch):
    ref, fast = _both("silu", x, device=device)
    _close(fast, ref)
    expected = torch.nn.functional.silu(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    _close(fast, expected)
    ref, fast = _both("silu_backward", g, x, device=device)
    _close(fast, ref)
    tx = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
    torch.nn.functional.silu(tx).backward(torch.from_numpy(g))
    _close(fast, tx.grad.numpy())
    assert to_numpy(fast).dtype == dtype
    assert np.isnan(to_numpy(fast)[0, 0, 0, 0]) and np.isnan(to_numpy(fast)[0, 0, 0, 1])


def test_float32_exponential_of_the_silu_kernels():
    """exp_neg_abs_cpu (2^k e^r, the series to r^7) against float64 e^-|x| on a dense
    sweep of [-90, 90]: within 2 float32 ulps (2.4e-7) down to e^-87, 0 below."""
    x = np.linspace(-90, 90, 200_001).astype(np.float32)
    e = np.empty_like(x)
    elementwise.exp_neg_abs_cpu(x, e, np.empty(x.shape, np.int32))
    exact = np.exp(-np.abs(x.astype(np.float64)))
    normal = np.abs(x) <= 87
    assert np.max(np.abs(e[normal] - exact[normal]) / exact[normal]) < 2.4e-7
    assert np.all(e[~normal] == 0) and e[np.argmin(np.abs(x))] == 1


@pytest.mark.parametrize("kw", [dict(momentum=0.0, dampening=0.0, weight_decay=0.0),
                                dict(momentum=0.9, dampening=0.0, weight_decay=5e-4),
                                dict(momentum=0.9, dampening=0.3, weight_decay=0.0),
                                dict(momentum=0.9, dampening=0.0, weight_decay=1e-2,
                                     nesterov=True)])
def test_sgd_update(device, kw):
    """The one-pass SGD step equals the reference's five NumPy passes bit for bit in
    float32 (first step and later ones; a strided gradient), and reads g only."""
    kw = dict(dict(lr=0.05, nesterov=False), **kw)
    p = _rand(300, 70)
    g = _rand(70, 300, seed=1).T                        # a strided view
    g_before = g.copy()
    results = []
    for tier in ("reference", "fast"):
        q = mt.backend.to_device(p.copy(), device)
        gd = mt.backend.to_device(g, device)
        buf = None if kw["momentum"] == 0 else q * 0
        with mt.backend.use_kernels(tier):
            for step in range(3):
                kernels.sgd_update(q, gd, buf, first=step == 0, **kw)
        results.append((to_numpy(q), None if buf is None else to_numpy(buf)))
        np.testing.assert_array_equal(to_numpy(gd), g_before)
    (p_ref, b_ref), (p_fast, b_fast) = results
    np.testing.assert_array_equal(p_fast, p_ref)
    if b_ref is not None:
        np.testing.assert_array_equal(b_fast, b_ref)
    assert p_fast.dtype == np.float32 and not np.array_equal(p_fast, p)


def test_numba_loops_are_plain_python():
    """The functions behind the compiled kernels run as ordinary Python (what
    NUMBA_DISABLE_JIT=1 shows a reader) and give the reference's numbers."""
    x = _rand(1, 2, 5, 4)
    geom = _geometry((1, 2, 5, 4, 3, 3, 2, 1, 1, 1, 1, 1))
    OH, OW = geom.OH, geom.OW
    cols = np.empty((2 * 9, OH * OW), np.float32)
    cpu_im2col._im2col(x, 3, 3, 2, 1, 1, 1, 1, 1, OH, OW, cols)
    _close(cols, reference.im2col(x, geom))
    w = _rand(2, 1, 3, 3, seed=1)
    dgeom = _geometry((1, 2, 5, 4, 3, 3, 2, 1, 1, 1, 1, 1), OC=2, groups=2)
    y = np.empty((1, 2, OH, OW), np.float32)
    depthwise._depthwise_conv2d(x, w, 2, 1, 1, 1, 1, 1, y)
    _close(y, reference.depthwise_conv2d(x, w, dgeom))
    y[:] = np.nan
    depthwise._depthwise_conv2d_cl(x, depthwise._turned(w), 3, 3, 2, 1, 1, 1, 1, 1, y)
    _close(y, reference.depthwise_conv2d(x, w, dgeom))
    wgeom = _geometry((1, 2, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1), OC=2)
    V = np.empty((36, 2, 2), np.float32)                # F(4x4): 2 x 1 tiles of a 5x4 map
    winograd._tile_transform(x, 1, 1, 2, 1, 4, 6, 6, winograd.MAT_BT, V)
    _close(V, reference.winograd_input_transform(x, wgeom, 4))
    y = np.empty((1, 2, 5, 4), np.float32)              # ... and back, F(4x4)'s A^T m A
    winograd._untile_transform(V, 0, 0, 2, 1, 4, 4, 6, winograd.MAT_AT, np.zeros(2), y)
    _close(y, reference.winograd_output_transform(V, np.zeros(2), wgeom, 4))


def test_switch_picks_the_tier():
    x = np.zeros((1, 1, 3, 3), np.float32)
    with mt.backend.use_kernels("reference"):
        assert kernels.tier("cpu") == "reference" and kernels.tier("cuda") == "reference"
        assert kernels._impl(x, "im2col") is reference.im2col
    with mt.backend.use_kernels("fast"):
        assert kernels.tier("cpu") == "numba" and kernels.tier("cuda") == "cuda"
        assert kernels._impl(x, "im2col") is cpu_im2col.im2col
    with pytest.raises(ValueError, match="reference"):
        mt.set_kernels("numba")


@pytest.mark.parametrize("layout", ["planes", "channels_last"])
@pytest.mark.parametrize("shape, stride", [((5, 40, 8, 8), 1), ((3, 24, 16, 15), 2),
                                           ((2, 17, 4, 4), 1), ((0, 8, 4, 4), 1)])
def test_depthwise_layouts_on_model_shapes(layout, shape, stride):
    """Both Numba layouts against the reference on MobileNet-like shapes: many channels,
    small planes, stride 2, an empty batch; 3x3 with padding 1."""
    x = _rand(*shape)
    w = _rand(shape[1], 1, 3, 3, seed=1)
    g = _geometry(shape + (3, 3, stride, stride, 1, 1, 1, 1), OC=shape[1], groups=shape[1])
    _close(depthwise.depthwise_conv2d(x, w, g, layout), reference.depthwise_conv2d(x, w, g))
    gy = _rand(*reference.depthwise_conv2d(x, w, g).shape, seed=2)
    _close(depthwise.depthwise_conv2d_backward_input(gy, w, g, layout),
           reference.depthwise_conv2d_backward_input(gy, w, g))
    _close(depthwise.depthwise_conv2d_backward_weight(x, gy, g, layout),
           reference.depthwise_conv2d_backward_weight(x, gy, g), rtol=1e-4)



def test_set_num_threads_first_still_gets_the_workqueue_layer():
    """mt.set_num_threads starts Numba's thread pool, which fixes the threading layer for
    the whole process: called before any kernel ran, it must still start the layer the
    kernels choose (workqueue), not Numba's default OpenMP one, which slowed every Numba
    kernel of a benchmark by a fifth while the BLAS convs stayed the same."""
    import os
    import subprocess
    import sys
    code = ("import minitorch_cnn as mt, numba; mt.set_num_threads(1); "
            "print(numba.threading_layer())")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "workqueue"
