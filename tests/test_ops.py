"""Every op against PyTorch: forward values and input gradients in float64, on shapes
drawn by hypothesis (broadcasting pairs for the binary ops), on each device.

One helper, ``check``, runs an op in both frameworks on the same float64 arrays, pulls
one random upstream gradient back through both, and compares outputs and gradients.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from conftest import to_numpy

# `device` is a plain string fixture, safe to share across hypothesis examples
SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
RTOL, ATOL = 1e-7, 1e-10

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
nonscalar = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)
seeds = st.integers(0, 2**32 - 1)


def arrays(seed, *shapes_, kind="normal", kinks=()):
    """float64 arrays for the given shapes. kind: 'normal', 'pos' (>= 0.1, for log and
    sqrt), 'away' (|x| >= 0.5, for divisors), 'ties' (few distinct values).
    ``kinks``: values planted at random entries, where an op's derivative jumps."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes_:
        a = rng.standard_normal(shape)
        if kind == "pos":
            a = np.abs(a) + 0.1
        elif kind == "away":
            a = np.sign(a) * (np.abs(a) + 0.5) + (a == 0)
        elif kind == "ties":
            a = rng.integers(-2, 3, size=shape).astype(np.float64)
        if kinks and a.size:
            plant = rng.random(shape) < 0.3
            a = np.where(plant, rng.choice(np.asarray(kinks, float), size=shape), a)
        out.append(np.asarray(a, dtype=np.float64))
    return out


def check(mt_fn, torch_fn, inputs, device, grad=True, rtol=RTOL, atol=ATOL):
    """Compare mt_fn(*inputs) with torch_fn(*inputs) and, if ``grad``, the gradients of
    every input after pulling one random upstream gradient through the output(s)."""
    xs = [mt.tensor(a, requires_grad=grad, device=device) for a in inputs]
    ts = [torch.tensor(a, requires_grad=grad) for a in inputs]
    out, ref = mt_fn(*xs), torch_fn(*ts)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    refs = ref if isinstance(ref, (tuple, list)) else (ref,)
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        assert o.shape == tuple(r.shape), (o.shape, tuple(r.shape))
        assert o.dtype == np.float64
        np.testing.assert_allclose(to_numpy(o), r.detach().numpy(), rtol=rtol, atol=atol)
    if not grad:
        return
    rng = np.random.default_rng(1)
    ups = [rng.standard_normal(tuple(r.shape)) for r in refs]
    torch.autograd.backward(list(refs), [torch.tensor(u) for u in ups])
    if len(outs) == 1:
        outs[0].backward(mt.tensor(ups[0], device=device))
    else:   # several outputs (split, chunk): one scalar sum_k <out_k, up_k>
        total = None
        for o, u in zip(outs, ups):
            term = (o * mt.tensor(u, device=device)).sum()
            total = term if total is None else total + term
        total.backward()
    for x, t in zip(xs, ts):
        want = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
        assert x.grad is not None, "no gradient reached an input"
        assert x.grad.shape == x.shape and x.grad.dtype == np.float64
        np.testing.assert_allclose(to_numpy(x.grad), want, rtol=rtol, atol=atol)


# --------------------------------------------------------------- elementwise
BINARY = {
    "add": (F.add, torch.add, "normal", "normal"),
    "sub": (F.sub, torch.sub, "normal", "normal"),
    "mul": (F.mul, torch.mul, "normal", "normal"),
    "div": (F.div, torch.div, "normal", "away"),
    "pow": (F.pow, torch.pow, "pos", "normal"),
    "operators": (lambda a, b: (a + b) * a - b / (a * a + 1) + (-a) ** 2,
                  lambda a, b: (a + b) * a - b / (a * a + 1) + (-a) ** 2, "normal", "normal"),
}


@pytest.mark.parametrize("name", list(BINARY))
@SETTINGS
@given(shapes=pairs, seed=seeds)
def test_binary(device, name, shapes, seed):
    ours, theirs, kind_a, kind_b = BINARY[name]
    a = arrays(seed, shapes.input_shapes[0], kind=kind_a)[0]
    b = arrays(seed + 1, shapes.input_shapes[1], kind=kind_b)[0]
    check(ours, theirs, [a, b], device)


SCALAR_OPS = {   # a tensor with Python numbers on either side
    "x+2.5": lambda x: x + 2.5, "3-x": lambda x: 3 - x, "x*-2": lambda x: x * -2,
    "x/4": lambda x: x / 4, "2/x": lambda x: 2 / x, "x**3": lambda x: x ** 3,
    "x**0": lambda x: x ** 0, "x**-1.5": lambda x: x ** -1.5, "2**x": lambda x: 2 ** x,
}


@pytest.mark.parametrize("name", list(SCALAR_OPS))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_with_python_scalars(device, name, shape, seed):
    fn = SCALAR_OPS[name]
    check(fn, fn, arrays(seed, shape, kind="pos"), device)


UNARY = {   # name: (ours, torch's, input kind, values planted at the kinks)
    "neg": (F.neg, torch.neg, "normal", ()),
    "exp": (F.exp, torch.exp, "normal", ()),
    "log": (F.log, torch.log, "pos", ()),
    "sqrt": (F.sqrt, torch.sqrt, "pos", ()),
    "abs": (F.abs, torch.abs, "normal", (0.0,)),
    "clip": (lambda x: F.clip(x, -0.5, 0.75), lambda x: x.clamp(-0.5, 0.75), "normal",
             (-0.5, 0.75)),
    "clip_tensor_bounds": (
        lambda x: F.clip(x, mt.tensor(np.float64(-0.5), device=x.device),
                         mt.tensor(np.float64(0.75), device=x.device)),
        lambda x: x.clamp(torch.tensor(-0.5, dtype=torch.float64),
                          torch.tensor(0.75, dtype=torch.float64)), "normal", (-0.5, 0.75)),
    "clamp_min": (lambda x: F.clamp(x, min=0.25), lambda x: x.clamp(min=0.25), "normal",
                  (0.25,)),
    "clamp_max": (lambda x: x.clamp(max=-0.25), lambda x: x.clamp(max=-0.25), "normal",
                  (-0.25,)),
    "relu": (F.relu, TF.relu, "normal", (0.0,)),
    "relu6": (lambda x: F.relu6(x * 4), lambda x: TF.relu6(x * 4), "normal", (0.0, 1.5)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), "normal",
                   (0.0,)),
    "leaky_relu_neg": (lambda x: F.leaky_relu(x, -0.3), lambda x: TF.leaky_relu(x, -0.3),
                       "normal", (0.0,)),
    "sigmoid": (lambda x: F.sigmoid(x * 10), lambda x: torch.sigmoid(x * 10), "normal", ()),
    "tanh": (F.tanh, torch.tanh, "normal", ()),
    "silu": (lambda x: F.silu(x * 4), lambda x: TF.silu(x * 4), "normal", ()),
    # x * 4 spreads over both kinks of hardsigmoid/hardswish (+-3) and relu6 (0, 6)
    "hardsigmoid": (lambda x: F.hardsigmoid(x * 4), lambda x: TF.hardsigmoid(x * 4), "normal",
                    (-0.75, 0.75)),
    "hardswish": (lambda x: F.hardswish(x * 4), lambda x: TF.hardswish(x * 4), "normal",
                  (-0.75, 0.75)),
    "tensor_methods": (lambda x: x.abs().sqrt().exp().log().relu().sigmoid().tanh(),
                       lambda x: x.abs().sqrt().exp().log().relu().sigmoid().tanh(), "pos", ()),
}


@pytest.mark.parametrize("name", list(UNARY))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_unary(device, name, shape, seed):
    ours, theirs, kind, kinks = UNARY[name]
    check(ours, theirs, arrays(seed, shape, kind=kind, kinks=kinks), device)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
@SETTINGS
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_softmax(device, fn, shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    theirs = getattr(TF, fn.__name__)
    # large logits: the max-shift must keep exp from overflowing
    check(lambda x: fn(x * 300, dim), lambda x: theirs(x * 300, dim), arrays(seed, shape),
          device)


# ---------------------------------------------------------------- reductions
def dims_for(data, ndim, allow_tuple=True):
    """None, an int (maybe negative) or a tuple of distinct dims."""
    if ndim == 0:
        return data.draw(st.sampled_from([None, 0, -1]))
    one = st.integers(-ndim, ndim - 1)
    options = [st.none(), one]
    if allow_tuple:
        options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                unique=True).map(tuple))
    return data.draw(st.one_of(*options))


@pytest.mark.parametrize("name", ["sum", "mean", "var", "var_biased", "amax", "amin"])
@SETTINGS
@given(shape=shapes, seed=seeds, data=st.data())
def test_reductions(device, name, shape, seed, data):
    dim, keepdim = dims_for(data, len(shape)), data.draw(st.booleans())
    (a,) = arrays(seed, shape, kind="ties" if name in ("amax", "amin") else "normal")
    if name.startswith("var"):
        unbiased = name == "var"
        n = a.size if dim is None or not shape else int(np.prod([shape[d] for d in
                                                                  np.atleast_1d(dim)]))
        if unbiased and n < 2:
            return          # one entry: n - 1 = 0, the variance is undefined (nan)
        check(lambda x: x.var(dim, unbiased, keepdim),
              lambda t: t.var(dim, unbiased=unbiased, keepdim=keepdim), [a], device)
        return
    ours, theirs = getattr(F, name), getattr(torch, name)
    if name in ("amax", "amin"):
        dim_t = () if dim is None else dim       # torch's amax spells "all dims" ()
    else:
        dim_t = dim
    check(lambda x: ours(x, dim, keepdim), lambda t: theirs(t, dim_t, keepdim), [a], device)
    if dim is None and not keepdim:
        check(ours, theirs, [a], device)         # the plain all-axes form, torch.sum(x)


@pytest.mark.parametrize("op", ["max", "min"])
@SETTINGS
@given(shape=shapes, seed=seeds, data=st.data())
def test_max_min(device, op, shape, seed, data):
    # ties on purpose: max(x) splits the gradient between them, max(x, dim) gives it all
    # to the first one (the index it returns), as torch does
    (a,) = arrays(seed, shape, kind="ties")
    check(getattr(F, op), getattr(torch, op), [a], device)
    if not shape:
        return
    dim, keepdim = dims_for(data, len(shape), allow_tuple=False), data.draw(st.booleans())
    if dim is None:
        return
    x = mt.tensor(a, device=device)
    res, ref = getattr(F, op)(x, dim, keepdim), getattr(torch, op)(torch.tensor(a), dim, keepdim)
    np.testing.assert_array_equal(to_numpy(res.indices), ref.indices.numpy())
    assert res.indices.dtype == np.int64
    check(lambda x: getattr(x, op)(dim, keepdim).values,
          lambda t: getattr(t, op)(dim, keepdim).values, [a], device)


# ------------------------------------------------------------- shape ops
@SETTINGS
@given(shape=shapes, seed=seeds, data=st.data())
def test_reshape_view_flatten(device, shape, seed, data):
    (a,) = arrays(seed, shape)
    new = tuple(reversed(shape)) + (1,)
    check(lambda x: x.reshape(new), lambda t: t.reshape(new), [a], device)
    check(lambda x: x.view(-1), lambda t: t.view(-1), [a], device)
    nd = max(len(shape), 1)
    s = data.draw(st.integers(-nd, nd - 1))
    e = data.draw(st.integers(s % nd, nd - 1))
    check(lambda x: x.flatten(s, e), lambda t: t.flatten(s, e), [a], device)


@SETTINGS
@given(shape=shapes, seed=seeds, data=st.data())
def test_permute_transpose(device, shape, seed, data):
    (a,) = arrays(seed, shape)
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    check(lambda x: F.permute(x, perm), lambda t: t.permute(perm), [a], device)
    if shape:                                    # torch's t.permute() wants some dims
        check(lambda x: x.permute(*perm), lambda t: t.permute(*perm), [a], device)
    if shape:
        d0, d1 = (data.draw(st.integers(-len(shape), len(shape) - 1)) for _ in range(2))
        check(lambda x: x.transpose(d0, d1), lambda t: t.transpose(d0, d1), [a], device)
        check(lambda x: x.T, lambda t: t.permute(*reversed(range(t.ndim))), [a], device)


@SETTINGS
@given(shape=shapes, seed=seeds, data=st.data())
def test_squeeze_unsqueeze_expand_clone(device, shape, seed, data):
    (a,) = arrays(seed, shape)
    d = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check(lambda x: x.unsqueeze(d), lambda t: t.unsqueeze(d), [a], device)
    check(lambda x: x.squeeze(), lambda t: t.squeeze(), [a], device)
    if shape:
        d = data.draw(st.integers(-len(shape), len(shape) - 1))
        check(lambda x: x.squeeze(d), lambda t: t.squeeze(d), [a], device)
    # expand: size-1 dims grow, others keep (-1 or their size), plus new leading dims
    sizes = tuple(data.draw(st.integers(1, 3)) for _ in range(data.draw(st.integers(0, 2))))
    sizes += tuple(data.draw(st.integers(1, 3)) if n == 1 else data.draw(st.sampled_from([n, -1]))
                   for n in shape)
    check(lambda x: x.expand(*sizes), lambda t: t.expand(sizes), [a], device)
    check(lambda x: x.clone() * 2, lambda t: t.clone() * 2, [a], device)


@st.composite
def basic_index(draw, shape):
    """ints, slices with either sign of step, None and Ellipsis for ``shape``; plus the
    same selection for torch, which has no negative steps: flip those dims first, then
    slice forwards. Returns (index, torch_index, dims_to_flip)."""
    index, torch_index, flips = [], [], []
    first = 0
    if shape and draw(st.booleans()):
        first = draw(st.integers(0, len(shape)))   # the ellipsis swallows dims 0..first-1
        index.append(Ellipsis)
        torch_index.append(Ellipsis)
    for d in range(first, len(shape)):
        n = shape[d]
        kind = draw(st.sampled_from(["int", "slice", "none"]))
        if kind == "int":
            i = draw(st.integers(-n, n - 1))
            index.append(i)
            torch_index.append(i)
        elif kind == "slice":
            step = draw(st.sampled_from([None, 1, 2, -1, -2]))
            lo, hi = (draw(st.one_of(st.none(), st.integers(-n - 1, n + 1))) for _ in "ab")
            index.append(slice(lo, hi, step))
            start, stop, step = slice(lo, hi, step).indices(n)
            if step < 0:          # entry i of x is entry n-1-i of the flipped x
                flips.append(d)
                torch_index.append(slice(n - 1 - start, n - 1 - stop, -step))
            else:
                torch_index.append(slice(lo, hi, step))
        else:
            index += [None, slice(None)]
            torch_index += [None, slice(None)]
    return tuple(index), tuple(torch_index), tuple(flips)


@SETTINGS
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_getitem_basic(device, shape, seed, data):
    idx, torch_idx, flips = data.draw(basic_index(shape))
    (a,) = arrays(seed, shape)
    if a[idx].size == 0:
        return          # nothing picked: nothing to compare
    check(lambda x: x[idx], lambda t: (t.flip(flips) if flips else t)[torch_idx], [a], device)


@SETTINGS
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_getitem_advanced(device, shape, seed, data):
    (a,) = arrays(seed, shape)
    n = shape[0]
    # integer arrays with repeats: the repeated rows' gradients must add up
    rows = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))
    check(lambda x: x[rows], lambda t: t[rows], [a], device)
    idx_t = mt.tensor(np.array(rows), device=device)
    check(lambda x: x[idx_t], lambda t: t[torch.tensor(rows)], [a], device)
    # boolean mask over all dims, and over the leading dims
    mask = np.random.default_rng(seed).random(shape) < 0.5
    mask.flat[0] = True
    check(lambda x: x[mt.tensor(mask, device=device)], lambda t: t[torch.tensor(mask)], [a],
          device)
    if len(shape) >= 2:
        cols = data.draw(st.lists(st.integers(0, shape[1] - 1), min_size=len(rows),
                                  max_size=len(rows)))
        check(lambda x: x[rows, cols], lambda t: t[rows, cols], [a], device)
        check(lambda x: x[..., ::-1][rows, 1:], lambda t: t.flip(-1)[rows, 1:], [a], device)


@SETTINGS
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_cat_stack(device, shape, seed, data):
    k = data.draw(st.integers(1, 3))
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = [data.draw(st.integers(1, 3)) for _ in range(k)]
    shapes_ = [tuple(s if i == d % len(shape) else n for i, n in enumerate(shape))
               for s in sizes]
    ins = arrays(seed, *shapes_)
    check(lambda *xs: F.cat(list(xs), d), lambda *ts: torch.cat(ts, d), ins, device)
    same = arrays(seed, *[shape] * k)
    ds = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check(lambda *xs: F.stack(xs, ds), lambda *ts: torch.stack(ts, ds), same, device)


@SETTINGS
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_split_chunk(device, shape, seed, data):
    (a,) = arrays(seed, shape)
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[d]
    size = data.draw(st.integers(1, n + 1))
    check(lambda x: x.split(size, d), lambda t: t.split(size, d), [a], device)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    sections = [b - a_ for a_, b in zip([0] + cuts, cuts + [n])]
    check(lambda x: F.split(x, sections, d), lambda t: torch.split(t, sections, d), [a], device)
    chunks = data.draw(st.integers(1, 5))
    check(lambda x: x.chunk(chunks, d), lambda t: t.chunk(chunks, d), [a], device)


@SETTINGS
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_pad_constant(device, shape, seed, data):
    (a,) = arrays(seed, shape)
    k = data.draw(st.integers(1, len(shape)))
    amounts = []                       # (left, right) for the last k dims, last dim first
    for n in reversed(shape[-k:]):
        lo = data.draw(st.integers(-(n - 1), 2))
        hi = data.draw(st.integers(-(n - 1 - max(-lo, 0)), 2))   # keep at least one entry
        amounts += [lo, hi]
    value = data.draw(st.sampled_from([0.0, -1.5]))
    check(lambda x: F.pad(x, amounts, value=value), lambda t: TF.pad(t, amounts, value=value),
          [a], device)


def test_to_copy_dtype(device):
    (a,) = arrays(0, (3, 4))
    x = mt.tensor(a, requires_grad=True, device=device)
    y = x.to(np.float32)
    assert y.dtype == np.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(to_numpy(x.grad), 2.0)
    assert x.to(np.float64) is x          # nothing to do: the same tensor


# ------------------------------------------------------------------ linear
@st.composite
def matmul_shapes(draw):
    """All of NumPy's matmul cases: vector @ vector, vector @ matrix, matrix @ vector,
    and matrices with broadcast batch dims on either side."""
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                                   max_side=3))
    bx, by = batch.input_shapes
    x = (k,) if draw(st.booleans()) and not bx else bx + (n, k)
    y = (k,) if draw(st.booleans()) and not by else by + (k, m)
    return x, y


@SETTINGS
@given(shapes_=matmul_shapes(), seed=seeds)
def test_matmul(device, shapes_, seed):
    check(F.matmul, torch.matmul, arrays(seed, *shapes_), device)
    check(lambda x, y: x @ y, lambda x, y: x @ y, arrays(seed, *shapes_), device)


@SETTINGS
@given(lead=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), seed=seeds,
       features=st.tuples(st.integers(1, 4), st.integers(1, 4)), bias=st.booleans())
def test_linear(device, lead, seed, features, bias):
    fin, fout = features
    shapes_ = [lead + (fin,), (fout, fin)] + ([(fout,)] if bias else [])
    check(F.linear, TF.linear, arrays(seed, *shapes_), device)


# -------------------------------------------------------------------- losses
@st.composite
def class_problem(draw):
    """(input shape, target shape, C): (N, C), (N, C, d1[, d2]) or unbatched (C,)."""
    C = draw(st.integers(1, 5))
    if draw(st.integers(0, 4)) == 0:
        return (C,), (), C
    N = draw(st.integers(1, 4))
    spatial = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    return (N, C) + spatial, (N,) + spatial, C


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@SETTINGS
@given(problem=class_problem(), seed=seeds, data=st.data())
def test_cross_entropy(device, reduction, problem, seed, data):
    in_shape, t_shape, C = problem
    rng = np.random.default_rng(seed)
    (logits,) = arrays(seed, in_shape)
    target = rng.integers(0, C, size=t_shape)
    ignore = data.draw(st.sampled_from([-100, 0]))
    if ignore == 0 and not (target != 0).any():
        target = np.asarray(target).copy()       # keep one entry counted (mean of nothing)
        target.reshape(-1)[0] = C - 1 if C > 1 else 0
    weight = rng.random(C) + 0.5 if data.draw(st.booleans()) else None
    smoothing = data.draw(st.sampled_from([0.0, 0.1, 0.35]))
    if reduction == "mean" and C == 1 and ignore == 0:
        return                                   # every entry ignored: 0/0 on both sides
    kw = dict(ignore_index=ignore, reduction=reduction, label_smoothing=smoothing)

    def ours(x):
        w = None if weight is None else mt.tensor(weight, device=device)
        return F.cross_entropy(x * 5, mt.tensor(target, device=device), weight=w, **kw)

    def theirs(t):
        w = None if weight is None else torch.tensor(weight)
        return TF.cross_entropy(t * 5, torch.tensor(target), weight=w, **kw)
    check(ours, theirs, [logits], device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@SETTINGS
@given(problem=class_problem(), seed=seeds, weighted=st.booleans(), ignore=st.booleans())
def test_nll_loss(device, reduction, problem, seed, weighted, ignore):
    in_shape, t_shape, C = problem
    rng = np.random.default_rng(seed)
    (x,) = arrays(seed, in_shape)
    target = np.asarray(rng.integers(0, C, size=t_shape))
    if ignore:
        target = np.where(rng.random(t_shape) < 0.3, -100, target)
        target.reshape(-1)[0] = 0                # keep one entry counted
    weight = rng.random(C) + 0.5 if weighted else None
    kw = dict(reduction=reduction)
    check(lambda x: F.nll_loss(F.log_softmax(x, 0 if x.ndim == 1 else 1),
                               mt.tensor(target, device=device),
                               weight=None if weight is None else mt.tensor(weight, device=device),
                               **kw),
          lambda t: TF.nll_loss(TF.log_softmax(t, 0 if t.ndim == 1 else 1), torch.tensor(target),
                                weight=None if weight is None else torch.tensor(weight), **kw),
          [x], device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_mse_loss(device, reduction, shape, seed):
    # the target takes a gradient too
    check(lambda x, y: F.mse_loss(x, y, reduction=reduction),
          lambda x, y: TF.mse_loss(x, y, reduction=reduction), arrays(seed, shape, shape),
          device)


def test_mse_loss_broadcast_warns(device):
    x = mt.tensor(np.ones((4, 1)), device=device)
    with pytest.warns(UserWarning, match=r"target shape \(4,\) differs from input shape"):
        F.mse_loss(x, mt.tensor(np.zeros(4), device=device))


def test_class_loss_errors(device):
    x = mt.randn(4, 3, device=device)
    with pytest.raises(ValueError, match=r"target of shape \(5,\) does not fit input of shape "
                                         r"\(4, 3\): expected target shape \(4,\)"):
        F.cross_entropy(x, mt.tensor([0, 1, 2, 0, 1], device=device))
    with pytest.raises(IndexError, match=r"target class 3 is out of range for 3 classes"):
        F.cross_entropy(x, mt.tensor([0, 1, 3, 0], device=device))
    with pytest.raises(IndexError, match=r"target class -1 is out of range"):
        F.nll_loss(x, mt.tensor([0, -1, 2, 0], device=device))
    F.cross_entropy(x, mt.tensor([0, -100, 2, 0], device=device))   # ignored: fine
    with pytest.raises(ValueError, match=r"weight of shape \(2,\), expected \(3,\)"):
        F.cross_entropy(x, mt.tensor([0, 1, 2, 0], device=device),
                        weight=mt.tensor([1.0, 2.0], device=device))
    with pytest.raises(ValueError, match="reduction must be 'none', 'mean' or 'sum'"):
        F.cross_entropy(x, mt.tensor([0, 1, 2, 0], device=device), reduction="avg")


# ------------------------------------------------------------------- dropout
def test_dropout(device):
    x = mt.ones(200, 100, dtype=np.float64, device=device, requires_grad=True)
    mt.manual_seed(3)
    y = F.dropout(x, p=0.3, training=True)
    kept = to_numpy(y.detach()) != 0
    assert abs(kept.mean() - 0.7) < 0.02                           # P(keep) = 1 - p
    np.testing.assert_allclose(to_numpy(y.detach())[kept], 1 / 0.7)  # survivors scaled
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), kept / 0.7)       # same mask in backward
    mt.manual_seed(3)
    np.testing.assert_array_equal(to_numpy(F.dropout(x, 0.3).detach()) != 0, kept)  # seeded
    assert F.dropout(x, 0.3, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert not to_numpy(F.dropout(x, 1.0).detach()).any()
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\], got 1.5"):
        F.dropout(x, 1.5)


# -------------------------------------------------- float32 stays float32
FLOAT32_OPS = {
    "add_scalar": lambda x: x + 1.5,
    "rsub": lambda x: 1 - x,
    "mul_np_scalar": lambda x: x * np.sqrt(2.0),        # a NumPy float64 scalar
    "rdiv": lambda x: np.float64(2) / (x * x + 1),
    "pow": lambda x: (x * x + 1) ** 0.5,
    "rpow": lambda x: 2.0 ** x,
    "exp_log": lambda x: (x.exp() + 1).log(),
    "abs_sqrt": lambda x: x.abs().sqrt(),
    "clip": lambda x: x.clip(-0.5, 0.5),
    "relu6": F.relu6,
    "leaky": lambda x: F.leaky_relu(x, 0.1),
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "silu": F.silu,
    "hardsigmoid": F.hardsigmoid,
    "hardswish": F.hardswish,
    "softmax": lambda x: F.softmax(x, 1),
    "log_softmax": lambda x: F.log_softmax(x, -1),
    "sum": lambda x: x.sum(),
    "mean": lambda x: x.mean(0),
    "var": lambda x: x.var(1),
    "max": lambda x: x.max(),
    "max_dim": lambda x: x.max(1).values,
    "amin": lambda x: F.amin(x, (0, 1)),
    "getitem": lambda x: x[[0, 0], ::-1],
    "pad": lambda x: F.pad(x, (1, 1), value=2.0),
    "cat": lambda x: F.cat([x, x], 1),
    "stack": lambda x: F.stack([x, x]),
    "matmul": lambda x: x @ x.T,
    "dropout": lambda x: F.dropout(x, 0.5),
    "cross_entropy": lambda x: F.cross_entropy(x, mt.tensor([0, 2, 1], device=x.device),
                                               label_smoothing=0.1),
    "nll": lambda x: F.nll_loss(x, mt.tensor([0, 2, 1], device=x.device)),
    "mse": lambda x: F.mse_loss(x, x.detach() * 0.5),
}


@pytest.mark.parametrize("name", list(FLOAT32_OPS))
def test_float32_in_float32_out(device, name):
    x = mt.randn(3, 4, device=device, requires_grad=True)
    assert x.dtype == np.float32
    y = FLOAT32_OPS[name](x)
    assert y.dtype == np.float32, f"{name} gave {y.dtype}"
    y.sum().backward()
    assert x.grad.dtype == np.float32


# ------------------------------------------------- comparisons, torch's dtype rules
def _operand(kind, device):
    """One operand in both frameworks: ours, torch's (the same numbers)."""
    rng = np.random.default_rng(len(kind))
    base = rng.integers(-3, 4, size=(2, 3))
    arrays_ = {"f32": base.astype(np.float32), "f64": base.astype(np.float64),
               "i64": base.astype(np.int64), "i32": base.astype(np.int32),
               "u8": np.abs(base).astype(np.uint8), "bool": base > 0,
               "f64_0d": np.array(1.5), "i64_0d": np.array(2)}
    if kind in arrays_:
        a = arrays_[kind]
        return mt.tensor(a, device=device), torch.tensor(a)
    number = {"int": 2, "float": 2.5, "true": True, "np_f64": np.float64(2.5),
              "np_i64": np.int64(2)}[kind]
    return number, number


KINDS = ["f32", "f64", "i64", "i32", "u8", "bool", "f64_0d", "i64_0d", "int", "float",
         "true", "np_f64"]
ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
         "/": lambda a, b: a / b, "//": lambda a, b: a // b, "%": lambda a, b: a % b,
         "**": lambda a, b: a ** b}


def _both(fn, pair):
    """fn on our operands and on torch's; (result, reference) or the two exceptions."""
    (a, ta), (b, tb) = pair
    try:
        ref = fn(ta, tb)
    except Exception as e:                    # torch refuses: so must we
        with pytest.raises(Exception):
            fn(a, b)
        return None, e
    return fn(a, b), ref


@pytest.mark.parametrize("op", list(ARITH))
def test_arithmetic_dtypes_follow_torch(op):
    """Every operator on every pair of operand kinds (tensors of each dtype, 0-d tensors,
    Python and NumPy numbers, on either side): torch's result dtype and values."""
    fn = ARITH[op]
    for ka in KINDS:
        for kb in KINDS:
            if ka in ("int", "float", "true", "np_f64") and kb in ("int", "float", "true",
                                                                   "np_f64"):
                continue                                  # two numbers: no tensor at all
            pair = (_operand(ka, "cpu"), _operand(kb, "cpu"))
            if op in ("//", "%") and (kb in ("bool", "true") or
                                      np.any(to_numpy(pair[1][1]) == 0)):
                continue                                  # division by zero: below
            if op == "**" and ("u8" in (ka, kb) or kb in ("i64", "i32") and
                               ka not in ("f32", "f64", "f64_0d", "float", "np_f64")):
                # torch wraps uint8 powers around, and gives 2 ** -1 = 0 for a tensor
                # exponent; we refuse negative integer powers always (tested below)
                continue
            if op == "**" and ka == "bool" and kb == "true":
                continue                                  # torch: mask ** True; we refuse
            with np.errstate(all="ignore"):
                ours, ref = _both(fn, pair)
            if ours is None:
                continue
            assert str(ours.dtype) == str(ref.dtype).replace("torch.", ""), (ka, op, kb)
            np.testing.assert_allclose(to_numpy(ours), ref.numpy(), rtol=1e-6,
                                       err_msg=f"{ka} {op} {kb}")


def test_integer_division_by_zero_raises_as_torch():
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        mt.tensor([7, 1]) // mt.tensor([2, 0])
    with pytest.raises(ZeroDivisionError):
        mt.tensor([7]) % 0
    np.testing.assert_array_equal((mt.tensor([7.0, -7.0]) // 0).numpy(), [np.inf, -np.inf])
    with pytest.raises(ValueError, match="negative integer powers"):
        mt.tensor([2, 3]) ** -1
    with pytest.raises(TypeError, match="bool"):
        mt.tensor([True]) - mt.tensor([False])
    with pytest.raises(TypeError, match="~mask"):
        -mt.tensor([True])


def test_remainder_gradient_and_floor_divide_has_none():
    a, b = np.array([1.5, -2.5, 7.0]), np.array([3.0, 2.0, -2.0])
    check(lambda x, y: x % y, lambda x, y: x % y, [a, b], "cpu")
    check(lambda x: 5.5 % x, lambda x: 5.5 % x, [b], "cpu", grad=False)
    x = mt.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError, match="no gradient"):
        (x // 2).sum().backward()


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_comparisons_are_elementwise_bool_tensors(op, device):
    fn = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
          "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[op]
    for ka, kb in [("f32", "f32"), ("f32", "i64"), ("i64", "int"), ("int", "i64"),
                   ("float", "f32"), ("f64", "f64_0d"), ("bool", "true")]:
        (a, ta), (b, tb) = _operand(ka, device), _operand(kb, device)
        ours, ref = fn(a, b), fn(ta, tb)
        assert isinstance(ours, mt.Tensor) and ours.dtype == np.bool_, (ka, kb)
        assert not ours.requires_grad
        np.testing.assert_array_equal(to_numpy(ours), ref.numpy())
    x = mt.tensor([[1.0, 2.0, 3.0]], device=device)
    arr = np.array([[1.0], [2.0]])                       # NumPy on the left, broadcasting
    np.testing.assert_array_equal(to_numpy(fn(arr, x)) if device == "cpu" else
                                  to_numpy(fn(x, mt.tensor(arr, device=device))),
                                  fn(torch.tensor(arr), torch.tensor([[1.0, 2.0, 3.0]]))
                                  .numpy() if device == "cpu" else
                                  fn(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor(arr))
                                  .numpy())
    with pytest.raises(ValueError, match="cannot be broadcast"):
        fn(mt.tensor([1, 2], device=device), mt.tensor([1, 2, 3], device=device))


def test_accuracy_idioms_count_right(device):
    logits = mt.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], device=device)
    y = mt.tensor([1, 0, 0, 0], device=device)
    pred = logits.argmax(1)
    hits = (pred == y).sum()
    assert hits.dtype == np.int64 and hits.item() == 3          # torch: int64 too
    assert (pred == y).float().mean().item() == pytest.approx(0.75)
    correct = 0
    for _ in range(2):
        correct += (pred == y).sum()
    assert int(correct) == 6 and correct.dtype == np.int64
    acc = correct / 8
    assert acc.dtype == np.float32 and f"{acc:.1%}" == "75.0%"   # int / int: float32
    assert (pred != y).sum().item() == 1
    with pytest.raises(TypeError, match=r"\(pred == y\).float\(\).mean\(\)"):
        (pred == y).mean()                                      # as torch: no mean of bools


def test_bitwise_ops_on_masks_and_integers():
    a, b = np.array([True, False, True]), np.array([True, True, False])
    for fn in [lambda x, y: x & y, lambda x, y: x | y, lambda x, y: x ^ y,
               lambda x, y: x & True, lambda x, y: False | y]:
        np.testing.assert_array_equal(fn(mt.tensor(a), mt.tensor(b)).numpy(),
                                      fn(torch.tensor(a), torch.tensor(b)).numpy())
    np.testing.assert_array_equal((~mt.tensor(a)).numpy(), (~torch.tensor(a)).numpy())
    i, j = np.array([3, 5, -2]), np.array([1, 4, 7])
    for fn in [lambda x, y: x & y, lambda x, y: x | y, lambda x, y: x ^ y, lambda x, y: ~x]:
        ours, ref = fn(mt.tensor(i), mt.tensor(j)), fn(torch.tensor(i), torch.tensor(j))
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    x = mt.tensor([0.5, -1.0])
    mask = (x > 0) & (x < 1)
    assert mask.tolist() == [True, False]
    for bad in [lambda: x & x, lambda: ~x, lambda: x | True]:
        with pytest.raises(TypeError, match="bool or integer"):
            bad()


def test_unsupported_operands_raise_pythons_type_error():
    x = mt.tensor([1.0, 2.0])
    for bad in [lambda: x + None, lambda: "a" * x, lambda: x < None, lambda: x @ "ab",
                lambda: x & object()]:
        with pytest.raises(TypeError):
            bad()
    assert (x == None) is False and (x != "a") is True        # noqa: E711, as torch


def test_sum_dtypes_as_torch():
    for a in [np.array([True, True, False]), np.array([200, 200], np.uint8),
              np.array([1, 2], np.int32), np.array([1.5, 2.0], np.float32)]:
        ours, ref = mt.tensor(a).sum(), torch.tensor(a).sum()
        assert str(ours.dtype) == str(ref.dtype).replace("torch.", "")
        assert ours.item() == ref.item()
    for bad in [lambda: mt.tensor([1, 2]).mean(), lambda: mt.tensor([1, 2]).var()]:
        with pytest.raises(TypeError, match="floating-point"):
            bad()


def test_float_math_on_integers_gives_float32_as_torch():
    i = np.array([1, 2, 4])
    for name in ["exp", "log", "sqrt", "sigmoid", "tanh"]:
        ours, ref = getattr(F, name)(mt.tensor(i)), getattr(torch, name)(torch.tensor(i))
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)
    for name in ["relu", "relu6"]:
        j = np.array([-1, 3, 8])
        ours, ref = getattr(F, name)(mt.tensor(j)), getattr(TF, name)(torch.tensor(j))
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    clamped = F.clamp(mt.tensor([-1, 4]), 0.5, 2)               # a float bound: float32
    assert clamped.dtype == np.float32 and clamped.tolist() == [0.5, 2.0]
    assert F.abs(mt.tensor([-3, 2])).tolist() == [3, 2]
    m = F.max_pool2d(mt.tensor(np.arange(16).reshape(1, 1, 4, 4)), 2)
    assert m.dtype == np.int64 and m.numpy().ravel().tolist() == [5, 7, 13, 15]
    assert F.cat([mt.tensor([1.0]), mt.tensor([2])]).dtype == np.float32   # as torch


FLOAT_ONLY = {   # torch refuses integer input to these too (or truncates, for avg_pool2d)
    "leaky_relu": lambda x: F.leaky_relu(x), "silu": lambda x: F.silu(x),
    "hardsigmoid": lambda x: F.hardsigmoid(x), "hardswish": lambda x: F.hardswish(x),
    "softmax": lambda x: F.softmax(x, 1), "log_softmax": lambda x: F.log_softmax(x, 1),
    "cross_entropy": lambda x: F.cross_entropy(x, mt.tensor([0, 1])),
    "nll_loss": lambda x: F.nll_loss(x, mt.tensor([0, 1])),
    "mse_loss": lambda x: F.mse_loss(x, x),
    "dropout": lambda x: F.dropout(x, 0.5),
    "avg_pool2d": lambda x: F.avg_pool2d(x.reshape(1, 1, 2, 2), 2),
    "adaptive_avg_pool2d": lambda x: F.adaptive_avg_pool2d(x.reshape(1, 1, 2, 2), 1),
    "adaptive_max_pool2d": lambda x: F.adaptive_max_pool2d(x.reshape(1, 1, 2, 2), 1),
    "local_response_norm": lambda x: F.local_response_norm(x.reshape(1, 2, 2), 2),
}


@pytest.mark.parametrize("name", list(FLOAT_ONLY))
@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.bool_])
def test_float_only_ops_refuse_other_dtypes_clearly(name, dtype):
    x = mt.tensor(np.array([[1, 0], [0, 1]]).astype(dtype))
    with pytest.raises(TypeError, match=rf"{name}: .*(float16|floating-point).*x\.float\(\)"):
        FLOAT_ONLY[name](x)


@pytest.mark.parametrize("name", ["relu", "relu6", "max_pool2d", "conv2d", "linear",
                                  "batch_norm"])
def test_float16_is_refused_before_any_kernel(name):
    h = mt.tensor(np.ones((2, 2, 3, 3), np.float16))
    call = {"relu": lambda: F.relu(h), "relu6": lambda: F.relu6(h),
            "max_pool2d": lambda: F.max_pool2d(h, 2),
            "conv2d": lambda: F.conv2d(h, h),
            "linear": lambda: F.linear(h.reshape(12, 3), h.reshape(12, 3)),
            "batch_norm": lambda: F.batch_norm(h, None, None, training=True)}[name]
    with pytest.raises(TypeError, match="float16 input is not supported.*x.float()"):
        call()


# ---------------------------------------------------------------- NaN, as torch
NAN_ROWS = np.array([[1.0, np.nan, 3.0, np.nan], [4.0, 5.0, 6.0, 2.0],
                     [np.nan, -np.inf, 0.0, 1.0]])


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin", "max_dim", "min_dim",
                                  "amax_dim", "sum", "mean", "softmax", "log_softmax"])
def test_nan_in_reductions_as_torch(name, device):
    """Values, indices and gradients with NaN entries: NaN wins max and min (the first
    NaN's index), max(x) gives its gradient to the NaN entries, amax gives NaN."""
    ops = {"max": lambda x: x.max(), "min": lambda x: x.min(),
           "amax": lambda x: x.amax() if hasattr(x, "amax") else F.amax(x),
           "amin": lambda x: F.amin(x) if isinstance(x, mt.Tensor) else x.amin(),
           "max_dim": lambda x: x.max(1), "min_dim": lambda x: x.min(0),
           "amax_dim": lambda x: F.amax(x, 1) if isinstance(x, mt.Tensor) else x.amax(1),
           "sum": lambda x: x.sum(1), "mean": lambda x: x.mean(0),
           "softmax": lambda x: F.softmax(x, 1) if isinstance(x, mt.Tensor)
           else TF.softmax(x, 1),
           "log_softmax": lambda x: F.log_softmax(x, 1) if isinstance(x, mt.Tensor)
           else TF.log_softmax(x, 1)}
    fn = ops[name]
    x = mt.tensor(NAN_ROWS, requires_grad=True, device=device)
    t = torch.tensor(NAN_ROWS, requires_grad=True)
    out, ref = fn(x), fn(t)
    if name.endswith("_dim") and name != "amax_dim":
        np.testing.assert_array_equal(to_numpy(out.indices), ref.indices.numpy())
        out, ref = out.values, ref.values
    np.testing.assert_allclose(to_numpy(out), ref.detach().numpy(), equal_nan=True)
    up = np.random.default_rng(0).standard_normal(tuple(ref.shape))
    ref.backward(torch.tensor(up))
    out.backward(mt.tensor(up, device=device))
    np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), equal_nan=True, rtol=1e-12)


def test_nan_in_argmax_and_cross_entropy_as_torch():
    for dim in [None, 0, 1]:
        for op in ["argmax", "argmin"]:
            np.testing.assert_array_equal(
                getattr(mt.tensor(NAN_ROWS), op)(dim).numpy(),
                getattr(torch.tensor(NAN_ROWS), op)(dim).numpy())
    target = np.array([0, 2, 3])
    x = mt.tensor(NAN_ROWS, requires_grad=True)
    t = torch.tensor(NAN_ROWS, requires_grad=True)
    out = F.cross_entropy(x, mt.tensor(target), reduction="none")
    ref = TF.cross_entropy(t, torch.tensor(target), reduction="none")
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), equal_nan=True)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), equal_nan=True)


@pytest.mark.parametrize("name", ["relu", "relu6", "clamp", "leaky_relu", "hardsigmoid",
                                  "hardswish", "abs", "silu", "sigmoid"])
@pytest.mark.parametrize("kernels", ["reference", "fast"])
def test_nan_through_activations_as_torch(name, kernels):
    """The output at NaN, and the gradient there (relu'(NaN) = 1, clamp'(NaN) = 0, as
    torch), in both kernel tiers."""
    a = np.array([np.nan, -1.0, 0.5, 7.0])
    ours_fn = {"clamp": lambda x: F.clamp(x, 0.0, 0.5), "abs": F.abs}.get(name, getattr(F, name))
    theirs_fn = {"clamp": lambda t: t.clamp(0.0, 0.5), "abs": torch.abs}.get(
        name, getattr(TF, name, None) or getattr(torch, name))
    with mt.backend.use_kernels(kernels):
        x = mt.tensor(a, requires_grad=True)
        out = ours_fn(x)
        out.sum().backward()
    t = torch.tensor(a, requires_grad=True)
    ref = theirs_fn(t)
    ref.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), equal_nan=True)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), equal_nan=True)
