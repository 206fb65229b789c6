"""conv2d and nn.Conv2d against PyTorch: forward and every gradient, in float64, on random
configurations (kernel 1-5, stride 1-3, padding 0-2, dilation 1-2, groups 1/2/3/depthwise,
odd and even sizes, non-contiguous inputs), under both kernel tiers; layer names, shapes,
init and clear errors."""
import math

import numpy as np
import pytest
import torch

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import fast, nn
from minitorch_cnn.functional.geometry import conv_geometry

from conftest import to_numpy


def _random_configs(n, seed):
    """(N, C, H, W, OC, KH, KW, stride, padding, dilation, groups) that torch accepts."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        groups = int(rng.choice([1, 1, 2, 3, -1]))             # -1: depthwise
        Cg = int(rng.integers(1, 4))
        C = Cg * (groups if groups > 0 else int(rng.integers(1, 5)))
        groups = C if groups == -1 else groups
        OC = groups * int(rng.integers(1, 4))
        KH, KW = (int(k) for k in rng.integers(1, 6, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        p = tuple(int(v) for v in rng.integers(0, 3, 2))
        d = tuple(int(v) for v in rng.integers(1, 3, 2))
        H, W = (int(v) for v in rng.integers(4, 12, 2))
        if d[0] * (KH - 1) + 1 > H + 2 * p[0] or d[1] * (KW - 1) + 1 > W + 2 * p[1]:
            continue
        out.append((int(rng.integers(1, 4)), C, H, W, OC, KH, KW, s, p, d, groups))
    return out


# the algorithms of the fast path (fast/__init__.py), each by name, then random ones
NAMED = [
    (2, 16, 7, 6, 8, 3, 3, 1, 1, 1, 1),           # winograd (fast tier), odd output
    (2, 16, 6, 9, 4, 3, 3, 1, (0, 2), 1, 1),      # winograd, asymmetric padding
    (2, 6, 5, 5, 8, 1, 1, 1, 0, 1, 2),            # pointwise, groups
    (3, 24, 2, 2, 32, 1, 1, 1, 0, 1, 2),          # pointwise, tiny map: dW as one GEMM
    (2, 6, 7, 7, 12, 3, 3, 2, 1, 2, 6),           # depthwise with channel multiplier
    (1, 1, 9, 8, 4, 5, 5, 1, 2, 1, 1),            # one input channel: depthwise
    (2, 4, 8, 8, 6, 3, 3, 2, 1, 1, 1),            # blocked_im2col
]
CONFIGS = NAMED + _random_configs(18, seed=3)


def _torch_and_ours(cfg, bias=True, kernels="fast", noncontiguous=False, algorithm="auto"):
    N, C, H, W, OC, KH, KW, s, p, d, g = cfg
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W))
    if noncontiguous:          # the same values, laid out (N, W, H, C) and viewed back
        x = np.ascontiguousarray(x.transpose(0, 3, 2, 1)).transpose(0, 3, 2, 1)
    w = rng.standard_normal((OC, C // g, KH, KW))
    b = rng.standard_normal(OC) if bias else None
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if bias else None
    yt = torch.nn.functional.conv2d(xt, wt, bt, s, p, d, g)
    gy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))
    X, Wt = mt.tensor(x, requires_grad=True), mt.tensor(w, requires_grad=True)
    B = mt.tensor(b, requires_grad=True) if bias else None
    if noncontiguous:
        X = mt.Tensor(x, requires_grad=True)              # keep the strided view
        assert not X.data.flags.c_contiguous
    with mt.backend.use_kernels(kernels), fast.tuning(algorithm=algorithm):
        y = F.conv2d(X, Wt, B, s, p, d, g)
        y.backward(mt.tensor(gy))
    pairs = [(y, yt), (X.grad, xt.grad), (Wt.grad, wt.grad)]
    if bias:
        pairs.append((B.grad, bt.grad))
    return pairs, y.grad_fn.plan.algorithm


def _assert_pairs(pairs, tol=1e-9):
    for ours, theirs in pairs:
        a, b = to_numpy(ours), to_numpy(theirs)
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max(initial=0)))


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_conv2d_matches_torch(cfg, kernels):
    pairs, _ = _torch_and_ours(cfg, kernels=kernels)
    _assert_pairs(pairs)


def test_every_algorithm_is_tested():
    seen = {_torch_and_ours(cfg)[1] for cfg in NAMED}
    assert seen == set(fast.ALGORITHMS) - {"im2col"}
    for cfg in NAMED:                       # reference mode runs the story, whatever the layer
        assert _torch_and_ours(cfg, kernels="reference")[1] == "im2col"


@pytest.mark.parametrize("cfg", NAMED)
def test_conv2d_empty_batch(cfg):
    """N = 0 on every algorithm: an empty output and input gradient, a zero weight
    gradient, as torch gives."""
    pairs, _ = _torch_and_ours((0,) + cfg[1:])
    assert pairs[0][0].shape[0] == 0
    _assert_pairs(pairs)


@pytest.mark.parametrize("algorithm", fast.ALGORITHMS)
@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("cfg", NAMED + CONFIGS[-6:])
def test_each_unit_in_each_tier_matches_torch(cfg, kernels, algorithm):
    """Every algorithm forced (fast.tuning(algorithm=...)) wherever it applies, on the
    Numba kernels and on the readable reference ones: the fast units' own logic (blocks,
    layouts, tiles) is tested apart from the kernels under it."""
    pairs, ran = _torch_and_ours(cfg, kernels=kernels, algorithm=algorithm)
    assert ran == algorithm or not fast._applies(algorithm, _geometry(cfg))
    _assert_pairs(pairs)


def _geometry(cfg):
    N, C, H, W, OC, KH, KW, s, p, d, g = cfg
    return conv_geometry((N, C, H, W), (OC, C // g, KH, KW), s, p, d, g)


def test_winograd_needs_more_than_one_tile():
    """A 2x2 output map (one tile per sample) goes to blocked im2col; 3x3 and up to
    Winograd."""
    w = mt.tensor(np.ones((4, 16, 3, 3), np.float32))
    for size, algorithm in ((2, "blocked_im2col"), (3, "winograd")):
        x = mt.tensor(np.ones((2, 16, size, size), np.float32), requires_grad=True)
        assert F.conv2d(x, w, None, 1, 1).grad_fn.plan.algorithm == algorithm


def test_winograd_tile_choice():
    """F(4x4) where its tiles move fewer values and the map holds 2 x 2 of them, else F(2x2)."""
    assert fast.winograd_tile(32, 32) == 4       # 36 * 64 values against 16 * 256
    assert fast.winograd_tile(7, 6) == 4
    assert fast.winograd_tile(6, 6) == 2         # a tie: 144 either way
    assert fast.winograd_tile(4, 4) == 2         # one F(4x4) tile per sample
    assert fast.winograd_tile(2, 2) == 2         # 16 values against 36


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("cfg", [NAMED[0], NAMED[1], (3, 16, 13, 5, 6, 3, 3, 1, (2, 0), 1, 1)])
def test_conv2d_winograd_tiles_match_torch(cfg, tile):
    """Both Winograd tiles forced on maps they cover exactly and ones they overhang: the
    same numbers as torch, forward and every gradient, in float64 ..."""
    with fast.tuning(winograd_tile=tile):
        pairs, algorithm = _torch_and_ours(cfg)
    assert algorithm == "winograd"
    _assert_pairs(pairs)


@pytest.mark.parametrize("tile", [2, 4])
def test_conv2d_winograd_float32_accuracy(tile):
    """... and in float32 on a ResNet-sized layer, against torch in float64: F(2x2) within
    float32's rounding (3.9e-7 of the largest output here; torch's float32: 3.4e-7), F(4x4)
    within what its larger constants cost (7.4e-6 here)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 64, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((32, 64, 3, 3)) / 24).astype(np.float32)
    with fast.tuning(winograd_tile=tile):
        y = F.conv2d(mt.tensor(x), mt.tensor(w), None, 1, 1)
    want = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64),
                                      torch.tensor(w, dtype=torch.float64), None, 1, 1).numpy()
    err = np.abs(to_numpy(y) - want).max() / np.abs(want).max()
    assert y.dtype == np.float32 and err < {2: 1e-6, 4: 2e-5}[tile]


@pytest.mark.parametrize("cfg", [NAMED[0], NAMED[3], NAMED[5], CONFIGS[-1]])
def test_conv2d_non_contiguous_and_no_bias(cfg):
    pairs, _ = _torch_and_ours(cfg, bias=False, noncontiguous=True)
    _assert_pairs(pairs)


@pytest.mark.parametrize("cfg", NAMED[:4])
def test_gradient_of_one_input_only(cfg):
    """Frozen weights (only dx) and a frozen input (only dw) take their own paths."""
    N, C, H, W, OC, KH, KW, s, p, d, g = cfg
    x, w = np.random.default_rng(1).standard_normal((N, C, H, W)), \
        np.random.default_rng(2).standard_normal((OC, C // g, KH, KW))
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt, None, s, p, d, g).sum().backward()
    X, Wt = mt.tensor(x, requires_grad=True), mt.tensor(w)
    F.conv2d(X, Wt, None, s, p, d, g).sum().backward()
    _assert_pairs([(X.grad, xt.grad)])
    X, Wt = mt.tensor(x), mt.tensor(w, requires_grad=True)
    y = F.conv2d(X, Wt, None, s, p, d, g)
    assert y.grad_fn.saved[1] is None                    # w is not kept when dx is not needed
    y.sum().backward()
    _assert_pairs([(Wt.grad, wt.grad)])


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("k,d", [(3, 1), (4, 1), (2, 3), (5, 2)])
def test_padding_same_and_valid(k, d):
    x, w = torch.randn(2, 3, 9, 10, dtype=torch.float64), torch.randn(4, 3, k, k,
                                                                    dtype=torch.float64)
    for padding in ("same", "valid"):
        X = mt.tensor(x.numpy(), requires_grad=True)
        y = F.conv2d(X, mt.tensor(w.numpy()), None, 1, padding, d)
        xt = x.clone().requires_grad_()
        yt = torch.nn.functional.conv2d(xt, w, None, 1, padding, d)
        y.sum().backward()
        yt.sum().backward()
        _assert_pairs([(y, yt), (X.grad, xt.grad)])


def test_unbatched_input_and_float32():
    x, w, b = torch.randn(16, 10, 10), torch.randn(8, 16, 3, 3), torch.randn(8)
    y = F.conv2d(mt.tensor(x.numpy()), mt.tensor(w.numpy()), mt.tensor(b.numpy()), padding=1)
    assert y.shape == (8, 10, 10) and y.dtype == np.float32
    _assert_pairs([(y, torch.nn.functional.conv2d(x, w, b, padding=1))], tol=1e-4)


def test_conv_saves_only_input_and_weight():
    """Backward keeps x and w alive, not the (KH*KW times larger) column matrix."""
    x = mt.randn(2, 4, 8, 8, requires_grad=True)
    w = mt.randn(6, 4, 3, 3, requires_grad=True)
    y = F.conv2d(x, w, stride=2, padding=1)
    saved = y.grad_fn.saved
    assert len(saved) == 2 and saved[0] is x.data and saved[1] is w.data


def test_blocks_give_the_same_result():
    """A batch split into blocks (to keep cols in cache) computes what one block does."""
    cfgs = [NAMED[0], NAMED[5], NAMED[6]]
    whole = [[to_numpy(t) for t, _ in _torch_and_ours(c)[0]] for c in cfgs]
    with fast.tuning(block_bytes_cpu=1):                        # one sample per block
        split = [[to_numpy(t) for t, _ in _torch_and_ours(c)[0]] for c in cfgs]
    for a, b in zip(whole, split):
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


def test_conv2d_on_device(device):
    """Same numbers on every device the fixture offers (CuPy kernels on a GPU)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 7, 7)), rng.standard_normal((6, 2, 3, 3))
    results = []
    for dev in ("cpu", device):
        X, Wt = mt.tensor(x, requires_grad=True, device=dev), mt.tensor(w, requires_grad=True,
                                                                       device=dev)
        y = F.conv2d(X, Wt, None, 2, 1, 1, 2)
        y.sum().backward()
        results.append([to_numpy(y), to_numpy(X.grad), to_numpy(Wt.grad)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ the layer
LAYER_ARGS = [((3, 8, 3), {}), ((4, 8, (3, 5)), dict(stride=2, padding=(1, 2), dilation=2,
                                                     groups=2, bias=False)),
              ((4, 8, 3), dict(padding="same")), ((6, 12, 3), dict(groups=6, padding=1))]


@pytest.mark.parametrize("args,kwargs", LAYER_ARGS)
def test_conv_layer_like_torch(args, kwargs):
    ours, theirs = nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = torch.randn(2, args[0], 9, 10)
    _assert_pairs([(ours(mt.tensor(x.numpy())), theirs(x))], tol=1e-4)


def test_conv_layer_default_init():
    """kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)); bias the same bound."""
    mt.manual_seed(0)
    layer = nn.Conv2d(32, 64, 3, groups=2)
    bound = 1 / math.sqrt(16 * 9)
    w, b = layer.weight.data, layer.bias.data
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)     # uniform's std
    mt.manual_seed(0)
    assert np.array_equal(nn.Conv2d(32, 64, 3, groups=2).weight.data, w)   # seeded


# ------------------------------------------------------------------- errors
def test_wrong_channel_count_names_the_layer_and_both_numbers():
    with pytest.raises(ValueError, match=r"Conv2d\(64->128\): expected input with 64 "
                                         r"channels, got 3"):
        nn.Conv2d(64, 128, 3)(mt.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"conv2d: expected input with 6 channels, got 4 "):
        F.conv2d(mt.zeros(1, 4, 8, 8), mt.zeros(8, 3, 3, 3), groups=2)


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match="larger than the padded input 4x4"):
        F.conv2d(mt.zeros(1, 3, 2, 2), mt.zeros(4, 3, 5, 5), padding=1)


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match=r"groups=3 must divide in_channels \(64\)"):
        nn.Conv2d(64, 128, 3, groups=3)
    with pytest.raises(ValueError, match=r"groups=3 must divide .* out_channels \(4\)"):
        F.conv2d(mt.zeros(1, 6, 5, 5), mt.zeros(4, 2, 3, 3), groups=3)


@pytest.mark.parametrize("call,message", [
    (lambda: F.conv2d(mt.zeros(3, 8), mt.zeros(4, 3, 3, 3)), "expected a 4-D input"),
    (lambda: F.conv2d(mt.zeros(1, 3, 8, 8), mt.zeros(4, 3, 3)), "weight must be 4-D"),
    (lambda: nn.Conv2d(3, 4, 3)(mt.zeros(1, 1, 3, 8, 8)), r"Conv2d\(3->4\): expected a 4-D"),
    (lambda: F.conv2d(mt.zeros(1, 3, 8, 8), mt.zeros(4, 3, 3, 3), mt.zeros(5)),
     r"bias must have shape \(4,\)"),
    (lambda: F.conv2d(mt.zeros(1, 3, 8, 8, dtype=np.float64), mt.zeros(4, 3, 3, 3)),
     "dtype torch.float64 and weight dtype torch.float32 differ"),
    (lambda: F.conv2d(mt.zeros(1, 3, 8, 8), mt.zeros(4, 3, 3, 3), stride=2, padding="same"),
     "padding='same' needs stride 1"),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), "padding='same' needs stride 1"),
    (lambda: F.conv2d(mt.zeros(1, 3, 8, 8), mt.zeros(4, 3, 3, 3), stride=0), "stride"),
])
def test_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError, NotImplementedError), match=message):
        call()


# ------------------------------------------------------------- the choice
def test_the_layer_says_which_algorithm_it_runs():
    """nn.Conv2d.plan(x): the chooser's answer for that input, by name."""
    x = mt.zeros(2, 64, 16, 16)
    assert str(nn.Conv2d(64, 64, 3, padding=1).plan(x)) == "winograd F(4x4)"
    assert str(nn.Conv2d(64, 64, 3, padding=1).plan((64, 4, 4))) == "winograd F(2x2)"
    assert str(nn.Conv2d(64, 64, 3, stride=2, padding=1).plan(x)) == "blocked_im2col"
    assert str(nn.Conv2d(64, 32, 1).plan(x)) == "pointwise"
    assert str(nn.Conv2d(64, 64, 3, padding=1, groups=64).plan(x)) == "depthwise (planes)"
    assert str(nn.Conv2d(64, 64, 3, padding=1, groups=64).plan((2, 64, 8, 8))) == \
        "depthwise (channels_last)"
    assert str(nn.Conv2d(3, 64, 3, padding=1).plan((2, 3, 32, 32))) == "blocked_im2col"
    with mt.backend.use_kernels("reference"):
        plan = nn.Conv2d(64, 64, 3, padding=1).plan(x)
        assert str(plan) == "im2col" and plan.tier == "reference"


def test_tuning_knobs_are_checked_and_restored():
    before = fast.TUNING.winograd_tile
    with fast.tuning(winograd_tile=2, algorithm="blocked_im2col"):
        assert fast.TUNING.winograd_tile == 2
        assert str(nn.Conv2d(64, 64, 3, padding=1).plan((2, 64, 16, 16))) == "blocked_im2col"
    assert fast.TUNING.winograd_tile == before and fast.TUNING.algorithm == "auto"
    with pytest.raises(ValueError, match="winograd_tile must be one of"):
        with fast.tuning(winograd_tile=3):
            pass
    with pytest.raises(AttributeError, match="no knob 'block_bytes'"):
        fast.TUNING.block_bytes = 1
    assert fast.TUNING.winograd_tile == before


def test_geometry_is_built_once_with_every_size():
    g = conv_geometry((2, 4, 9, 10), (6, 2, 3, 2), 2, (1, 0), 1, 2)
    assert g == (2, 4, 9, 10, 6, 3, 2, 2, 2, 1, 0, 1, 1, 2, 5, 5)
    assert (g.OH, g.OW) == (F.conv_output_size(9, 3, 2, 1), F.conv_output_size(10, 2, 2, 0))
    same = conv_geometry((1, 3, 9, 10), (4, 3, 4, 4), 1, "same", 1, 1)
    assert (same.H, same.W, same.PH, same.OH, same.OW) == (10, 11, 1, 9, 10)
