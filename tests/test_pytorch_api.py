"""PyTorch's spelling, checked against torch itself (issue 21): dtypes and devices, the
functions of the torch namespace, Tensor methods, in-place ops with torch's version
check, torch.save/torch.load. Each name is run on both sides with the same inputs and
compared in values, shapes, dtypes and errors.

The nn layers and losses are in test_pytorch_api_nn.py, the optimizers and schedulers in
test_pytorch_api_optim.py, torch.utils.data in test_pytorch_api_data.py, and whole
tutorial scripts run under both engines in test_tutorials.py.
"""
import copy
import pickle

import numpy as np
import pytest
import torch

import minitorch_cnn as mt
from minitorch_cnn import nn, optim
from conftest import to_numpy


def pair(a, requires_grad=False):
    """The same float64 numbers as a minitorch_cnn and a torch tensor."""
    a = np.asarray(a)
    return (mt.tensor(a.copy(), requires_grad=requires_grad),
            torch.tensor(a.copy(), requires_grad=requires_grad))


def same(ours, theirs, rtol=1e-10, atol=1e-12):
    """Equal values, shapes and dtypes (printed names: both say torch.float32)."""
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype) == str(theirs.dtype), (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(to_numpy(ours), to_numpy(theirs), rtol=rtol, atol=atol)


def grads_agree(f_ours, f_torch, *arrays, rtol=1e-9, atol=1e-12):
    """f on both sides, then backward of a random weighting of the output: outputs and
    every input's gradient must agree."""
    ins = [pair(a, requires_grad=True) for a in arrays]
    y, ty = f_ours(*(o for o, _ in ins)), f_torch(*(t for _, t in ins))
    same(y, ty, rtol, atol)
    w = np.random.default_rng(5).standard_normal(tuple(ty.shape))
    (y * mt.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    for o, t in ins:
        np.testing.assert_allclose(to_numpy(o.grad), to_numpy(t.grad), rtol=rtol, atol=atol)


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------ dtypes
DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
          "complex64", "complex128"]
ALIASES = ["float", "double", "half", "long", "int", "short", "cfloat", "cdouble"]


@pytest.mark.parametrize("name", DTYPES + ALIASES)
def test_dtype_objects_print_and_compare_as_torch(name):
    ours, theirs = getattr(mt, name), getattr(torch, name)
    assert str(ours) == str(theirs) and repr(ours) == repr(theirs)
    assert ours.is_floating_point == theirs.is_floating_point
    assert ours.is_complex == theirs.is_complex and ours.itemsize == theirs.itemsize
    assert ours.is_signed == theirs.is_signed
    # the NumPy dtype it wraps: equal, and accepted wherever NumPy takes a dtype
    np_name = str(ours).replace("torch.", "")
    assert ours == np.dtype(np_name) and ours == np_name and np.dtype(ours) == np_name
    assert np.zeros(2, ours).dtype == np_name
    assert ours != None and ours != "float128"          # noqa: E711 (NumPy reads None as f8)
    assert copy.deepcopy(ours) is ours and pickle.loads(pickle.dumps(ours)) is ours
    assert isinstance(ours, mt.dtype) and hash(ours) == hash(np.dtype(np_name))


def test_tensor_dtype_is_the_dtype_object():
    x = mt.randn(2, 3)
    assert x.dtype is mt.float32 and x.dtype == np.float32 and x.dtype == "float32"
    assert print_of(x.dtype) == print_of(torch.randn(2).dtype) == "torch.float32\n"
    for ours, theirs in [(mt.float64, torch.float64), (mt.long, torch.long),
                         (mt.int32, torch.int32), (mt.bool, torch.bool)]:
        a, b = x.to(ours), torch.randn(2, 3).to(theirs)
        assert a.dtype is ours and str(a.dtype) == str(b.dtype)
    assert mt.tensor([1, 2], dtype=mt.long).dtype is mt.int64
    assert mt.zeros(2, dtype=mt.float64).dtype == torch.zeros(2, dtype=torch.float64).numpy().dtype
    assert mt.get_default_dtype() is mt.float32
    assert str(mt.get_default_dtype()) == str(torch.get_default_dtype())


def print_of(obj):
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        print(obj)
    return buf.getvalue()


@pytest.mark.parametrize("values, dtype", [([1, 2, 3], "int32"), ([1.5, -2.0], "float64"),
                                           ([1, 2], "int64"), ([True, False], "bool"),
                                           ([1.0, 2.5], "float32"), ([7, 8], "uint8")])
def test_tensor_repr_names_the_dtype_as_torch(values, dtype):
    ours = mt.tensor(values, dtype=getattr(mt, dtype))
    theirs = torch.tensor(values, dtype=getattr(torch, dtype))
    assert repr(ours) == repr(theirs)


def test_half_is_refused_with_what_to_do():
    x = mt.randn(2)
    for call in (x.half, lambda: x.to(mt.float16), lambda: nn.Linear(2, 2).half()):
        with pytest.raises(TypeError, match=r"(?s)(?=.*float16)(?=.*float32)"):
            call()
    assert torch.randn(2).half().dtype == torch.float16          # torch has it; we say why not


def test_conversions_as_torch():
    a = np.array([[-1.7, 0.0], [2.4, 3.0]])
    x, t = pair(a)
    for name in ["float", "double", "long", "int", "bool", "short", "byte"]:
        if name == "byte":
            x, t = pair(np.abs(a))
        same(getattr(x, name)(), getattr(t, name)())
    assert x.type() == t.type() == "torch.DoubleTensor"
    assert mt.ones(2).type() == "torch.FloatTensor" and mt.ones(2).long().type() == "torch.LongTensor"
    same(x.type(mt.float32), t.type(torch.float32))
    y = mt.randn(3, requires_grad=True)
    assert not y.long().requires_grad                              # integers carry no gradient
    assert y.element_size() == 4 and y.nelement() == 3 and y.is_floating_point()


# ------------------------------------------------------------------ devices
@pytest.mark.parametrize("spec", [("cpu",), ("cuda",), ("cuda:0",), ("cuda", 1), ("cpu", 0)])
def test_device_objects_as_torch(spec):
    ours, theirs = mt.device(*spec), torch.device(*spec)
    assert str(ours) == str(theirs) and repr(ours) == repr(theirs)
    assert ours.type == theirs.type and ours.index == theirs.index
    assert ours == str(theirs)                       # a str: equal to its plain name
    assert mt.device(ours) is ours and pickle.loads(pickle.dumps(ours)) == ours


@pytest.mark.parametrize("bad, error", [("mps", "unknown device type 'mps'"),
                                        ("gpu", "unknown device type 'gpu'"),
                                        ("cuda:x", "invalid device string")])
def test_bad_devices_are_refused_clearly(bad, error):
    with pytest.raises(ValueError, match=error):
        mt.device(bad)
    if bad != "mps":                             # (torch knows Apple's GPUs; we do not)
        with pytest.raises(RuntimeError):
            torch.device(bad)


def test_tensor_device_and_moving():
    x = mt.randn(2, 3)
    assert x.device == "cpu" and x.device.type == "cpu" and x.device.index is None
    assert repr(x.device) == repr(torch.randn(1).device) and not x.is_cuda
    device = mt.device("cuda" if mt.cuda.is_available() else "cpu")
    y = x.to(device)
    assert y.device == device.type
    z = x.to(device, mt.float64)
    assert z.dtype is mt.float64 and z.device == device.type
    assert x.to("cpu") is x and x.to(mt.device("cpu"), non_blocking=True) is x
    assert x.to(x) is x and x.to(device="cpu", dtype=mt.float32) is x
    assert x.to("cpu", copy=True) is not x
    m = nn.Linear(3, 2).to(device)
    assert m.weight.device == device.type and m(y).shape == (2, 2)
    m.to(device, mt.float64)
    assert m.weight.dtype is mt.float64


@pytest.mark.skipif(mt.cuda.is_available(), reason="checks the errors without a GPU")
def test_cuda_without_cupy_or_gpu_says_what_to_do():
    assert mt.cuda.is_available() is False and mt.cuda.device_count() == 0
    assert not mt.accelerator.is_available() and mt.accelerator.current_accelerator() is None
    with pytest.raises(RuntimeError, match="(CuPy|cupy)"):
        mt.randn(2).to("cuda")
    with pytest.raises(RuntimeError, match="(CuPy|cupy)"):
        nn.Linear(2, 2).cuda()
    with pytest.raises(RuntimeError, match="no CUDA GPU is available.*CuPy.*'cpu'"):
        mt.cuda.get_device_name()
    mt.cuda.manual_seed_all(0)                      # allowed without a GPU, as in torch
    mt.cuda.empty_cache()


def test_one_gpu_only_and_backends_switches():
    with pytest.raises(ValueError, match="uses one GPU.*CUDA_VISIBLE_DEVICES=1"):
        mt.randn(2).to("cuda:1")
    mt.backends.cudnn.benchmark = True               # accepted (no cuDNN here)
    mt.backends.cudnn.deterministic = True
    assert mt.backends.mps.is_available() is False and mt.backends.mps.is_built() is False


# ------------------------------------------------------------ the torch namespace
def test_flatten_cat_stack_as_torch():
    a, b = rnd(2, 3, 4), rnd(2, 3, 4, seed=1)
    grads_agree(lambda x: mt.flatten(x, 1), lambda x: torch.flatten(x, 1), a)
    grads_agree(lambda x: mt.flatten(x), lambda x: torch.flatten(x), a)
    grads_agree(lambda x, y: mt.cat([x, y], dim=1), lambda x, y: torch.cat([x, y], dim=1), a, b)
    grads_agree(lambda x, y: mt.concat((x, y)), lambda x, y: torch.concat((x, y)), a, b)
    grads_agree(lambda x, y: mt.stack([x, y], 2), lambda x, y: torch.stack([x, y], 2), a, b)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_and_without_dim(name):
    a = rnd(3, 4)
    a[1, 2] = a[1, 0]                                       # a tie
    x, t = pair(a)
    same(getattr(mt, name)(x), getattr(torch, name)(t))
    for dim, keepdim in [(1, False), (0, True), (-1, False)]:
        v, i = getattr(mt, name)(x, dim, keepdim=keepdim)
        tv, ti = getattr(torch, name)(t, dim, keepdim=keepdim)
        same(v, tv)
        same(i, ti)
        r = getattr(mt, name)(x, dim=dim)
        assert r.values.shape == tuple(getattr(torch, name)(t, dim=dim).values.shape)
    grads_agree(lambda x: getattr(mt, name)(x, 1)[0], lambda x: getattr(torch, name)(x, 1)[0], a)
    b = rnd(3, 4, seed=2)
    b[0, 0] = a[0, 0]                                       # a tie between the two tensors
    grads_agree(lambda x, y: getattr(mt, name)(x, y), lambda x, y: getattr(torch, name)(x, y),
                a, b)
    grads_agree(lambda x, y: getattr(x, name + "imum")(y),
                lambda x, y: getattr(x, name + "imum")(y), a, b)


def test_torch_max_of_outputs_data_as_in_the_tutorials():
    """In torch ``outputs.data`` is a Tensor; here it is the raw array, which every
    function of the torch namespace accepts."""
    a = rnd(5, 3)
    outputs, toutputs = pair(a)
    _, predicted = mt.max(outputs.data, 1)
    _, tpredicted = torch.max(toutputs.data, 1)
    same(predicted, tpredicted)
    labels = mt.tensor([0, 1, 2, 0, 1])
    assert (predicted == labels).sum().item() == (tpredicted == torch.tensor([0, 1, 2, 0, 1])).sum().item()


@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, False), (0, True), (-1, True)])
def test_argmax_argmin(dim, keepdim):
    a = rnd(4, 5)
    x, t = pair(a)
    for name in ["argmax", "argmin"]:
        kw = {} if dim is None else dict(dim=dim, keepdim=keepdim)
        same(getattr(mt, name)(x, **kw), getattr(torch, name)(t, **kw))
        same(getattr(x, name)(**kw), getattr(t, name)(**kw))


def test_where_as_torch():
    a, b = rnd(3, 4), rnd(3, 4, seed=1)
    cond = a > b
    grads_agree(lambda x, y: mt.where(mt.tensor(cond), x, y),
                lambda x, y: torch.where(torch.tensor(cond), x, y), a, b)
    grads_agree(lambda x: mt.where(mt.tensor(cond), x, 0.0),
                lambda x: torch.where(torch.tensor(cond), x, 0.0), a)
    grads_agree(lambda x, y: mt.where(mt.tensor(cond[0]), x, y[:1]),     # broadcasting
                lambda x, y: torch.where(torch.tensor(cond[0]), x, y[:1]), a, b)
    for o, t in zip(mt.where(mt.tensor(cond)), torch.where(torch.tensor(cond))):
        same(o, t)
    same(mt.where(mt.tensor(cond), 1, 0), torch.where(torch.tensor(cond), 1, 0))
    with pytest.raises(TypeError, match="bool condition"):
        mt.where(mt.tensor(a), mt.tensor(a), mt.tensor(b))


def test_matmul_relu_softmax_and_friends():
    a, b = rnd(2, 3, 4), rnd(4, 5, seed=1)
    grads_agree(mt.matmul, torch.matmul, a, b)
    grads_agree(lambda x, y: mt.mm(x[0], y), lambda x, y: torch.mm(x[0], y), a, b)
    grads_agree(lambda x: mt.bmm(x, x.transpose(1, 2)),
                lambda x: torch.bmm(x, x.transpose(1, 2)), a)
    grads_agree(mt.relu, torch.relu, a)
    for f in ["softmax", "log_softmax"]:
        grads_agree(lambda x: getattr(mt, f)(x, dim=1), lambda x: getattr(torch, f)(x, dim=1), a)
        grads_agree(lambda x: getattr(x, f)(-1), lambda x: getattr(x, f)(-1), a)
    for f in ["exp", "sigmoid", "tanh", "abs", "neg"]:
        grads_agree(getattr(mt, f), getattr(torch, f), a)
    grads_agree(lambda x: mt.sqrt(x.abs()), lambda x: torch.sqrt(x.abs()), a)
    grads_agree(lambda x: mt.clamp(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5), a)
    grads_agree(lambda x, y: mt.add(x, y[0, 0], alpha=2), lambda x, y: torch.add(x, y[0, 0], alpha=2), a, b)


def test_factories_as_torch():
    same(mt.eye(3), torch.eye(3))
    same(mt.eye(2, 4, dtype=mt.float64), torch.eye(2, 4, dtype=torch.float64))
    # (torch steps in float32 from both ends; we round the exact value: within 1 ulp)
    same(mt.linspace(-1, 1, 7), torch.linspace(-1, 1, 7), rtol=0, atol=1e-7)
    same(mt.linspace(0, 10, 5, dtype=mt.float64), torch.linspace(0, 10, 5, dtype=torch.float64))
    for args in [(5,), (1, 7), (1, 7, 2), (0.0, 1.0, 0.25), (0, 1, 0.5)]:
        same(mt.arange(*args), torch.arange(*args))
    same(mt.arange(5, dtype=mt.float64), torch.arange(5, dtype=torch.float64))
    same(mt.full((2, 3), 7), torch.full((2, 3), 7))
    same(mt.full((2,), 1.5), torch.full((2,), 1.5))
    same(mt.full((2,), True), torch.full((2,), True))
    x, t = pair(rnd(2, 3))
    for name in ["zeros_like", "ones_like", "randn_like", "rand_like", "empty_like"]:
        o, r = getattr(mt, name)(x), getattr(torch, name)(t)
        assert o.shape == tuple(r.shape) and str(o.dtype) == str(r.dtype)
    same(mt.zeros_like(x, dtype=mt.int64), torch.zeros_like(t, dtype=torch.int64))
    same(mt.full_like(x, 3.0), torch.full_like(t, 3.0))
    assert mt.randn_like(x, requires_grad=True).requires_grad
    same(x.new_zeros(2, 2), t.new_zeros(2, 2))
    same(x.new_ones((3,)), t.new_ones((3,)))
    same(x.new_full((2,), 4.0), t.new_full((2,), 4.0))
    same(x.new_tensor([1.0, 2.0]), t.new_tensor([1.0, 2.0]))
    assert x.new_empty(4).shape == (4,) and x.new_zeros(2, dtype=mt.long).dtype is mt.int64
    p = mt.randperm(10)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype is mt.int64
    r = mt.randint(3, 9, (4, 5))
    assert r.shape == (4, 5) and r.dtype is mt.int64 and 3 <= r.min().item() <= r.max().item() < 9
    assert mt.randint(5, (3,)).shape == (3,)


def test_manual_seed_and_generators_repeat():
    mt.manual_seed(3)
    a = mt.randn(5)
    mt.manual_seed(3)
    assert mt.equal(a, mt.randn(5))
    g1, g2 = mt.Generator().manual_seed(7), mt.Generator().manual_seed(7)
    assert mt.equal(mt.randn(4, generator=g1), mt.randn(4, generator=g2))
    assert mt.equal(mt.randperm(9, generator=g1), mt.randperm(9, generator=g2))
    assert g1.initial_seed() == 7


def test_grad_modes_as_torch():
    w = mt.randn(3, requires_grad=True)
    with mt.inference_mode():
        assert not (w * 2).requires_grad and not mt.is_grad_enabled()
    assert mt.is_grad_enabled()

    @mt.inference_mode()
    def evaluate():
        return w * 2

    @mt.inference_mode
    def evaluate2():
        return w * 2

    assert not evaluate().requires_grad and not evaluate2().requires_grad
    with mt.inference_mode(False):
        assert (w * 2).requires_grad
    for phase in ["train", "val"]:
        with mt.set_grad_enabled(phase == "train"):
            assert (w * 2).requires_grad == (phase == "train")
    assert mt.is_grad_enabled()
    mt.set_grad_enabled(False)                   # as a plain call: switches now
    try:
        assert not (w * 2).requires_grad
    finally:
        mt.set_grad_enabled(True)
    with mt.no_grad():
        assert not (w + 1).requires_grad


def test_equal_allclose_isnan_numel():
    a = rnd(3)
    x, t = pair(a)
    assert mt.equal(x, x.clone()) == torch.equal(t, t.clone()) is True
    assert mt.allclose(x, x + 1e-9) == torch.allclose(t, t + 1e-9) is True
    assert mt.allclose(x, x + 1e-3) == torch.allclose(t, t + 1e-3) is False
    n, tn = pair(np.array([1.0, np.nan, np.inf]))
    for f in ["isnan", "isinf", "isfinite"]:
        same(getattr(mt, f)(n), getattr(torch, f)(tn))
    assert mt.numel(x) == torch.numel(t) == 3 and mt.is_tensor(x) and not mt.is_tensor(a)


# ------------------------------------------------------------ Tensor methods
def test_view_comparisons_and_sizes():
    a = rnd(2, 6)
    x, t = pair(a)
    same(x.view(3, 4).view_as(x), t.view(3, 4).view_as(t))
    same(x.reshape_as(x.T), t.reshape_as(t.T))
    other = pair(rnd(2, 6, seed=1))
    for name in ["eq", "ne", "lt", "gt", "le", "ge"]:
        same(getattr(x, name)(other[0]), getattr(t, name)(other[1]))
        same(getattr(x, name)(0.0), getattr(t, name)(0.0))
    assert x.sum().item() == pytest.approx(t.sum().item())
    assert x.size(1) == t.size(1) and x.size(-1) == t.size(-1) and x.size() == tuple(t.size())
    assert x.numel() == t.numel() and x.dim() == t.dim() and x.shape == tuple(t.shape)
    same(x.T, t.T)
    same(x.mean(dim=1), t.mean(dim=1))
    same(x.mean(dim=(0, 1), keepdim=True), t.mean(dim=(0, 1), keepdim=True))
    same(x.sum(dim=0, keepdim=True), t.sum(dim=0, keepdim=True))


@pytest.mark.parametrize("dim, unbiased, keepdim", [(None, True, False), (1, False, False),
                                                    (0, True, True), ((0, 2), True, False)])
def test_std_var(dim, unbiased, keepdim):
    a = rnd(3, 4, 2)
    grads_agree(lambda x: x.std(dim=dim, unbiased=unbiased, keepdim=keepdim),
                lambda x: x.std(dim=dim, unbiased=unbiased, keepdim=keepdim), a)
    grads_agree(lambda x: mt.var(x, dim, unbiased, keepdim),
                lambda x: torch.var(x, dim, unbiased=unbiased, keepdim=keepdim), a)
    grads_agree(lambda x: mt.std(x, dim, correction=0), lambda x: torch.std(x, dim, correction=0), a)


@pytest.mark.parametrize("p", ["fro", 2, 1, 3, 0.5, float("inf"), float("-inf"), 0])
@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
def test_norm(p, dim):
    a = rnd(3, 4)
    a[1] = 0.0                                   # a zero row: the gradient there is 0
    a[2, 1] = a[2, 3]                            # a tie for the inf-norm
    if p == 0:
        x, t = pair(a)
        same(x.norm(p, dim), t.norm(p, dim))
        return
    rows_zero = dim == 1 and p not in (float("inf"), float("-inf"), 1, 2, "fro")
    if rows_zero or (p == 0.5 and dim != 1):
        a[1] = 1.0                               # torch's gradient there is nan for p < 1
    grads_agree(lambda x: x.norm(p, dim), lambda x: x.norm(p, dim), a)
    grads_agree(lambda x: mt.norm(x, p, dim, keepdim=True),
                lambda x: torch.norm(x, p, dim, keepdim=True), a)


def test_repeat_masked_fill_gather():
    a = rnd(2, 3)
    for sizes in [(2, 1), (1, 3), (2, 2, 2)]:
        grads_agree(lambda x: x.repeat(*sizes), lambda x: x.repeat(*sizes), a)
    grads_agree(lambda x: x.repeat((3, 2)), lambda x: x.repeat((3, 2)), a)
    mask = a > 0
    grads_agree(lambda x: x.masked_fill(mt.tensor(mask), -1.0),
                lambda x: x.masked_fill(torch.tensor(mask), -1.0), a)
    grads_agree(lambda x: x.masked_fill(mt.tensor(mask[0]), 0),          # broadcast mask
                lambda x: x.masked_fill(torch.tensor(mask[0]), 0), a)
    i = mt.tensor([1, 2, 3]).masked_fill(mt.tensor([True, False, True]), 0.7)
    same(i, torch.tensor([1, 2, 3]).masked_fill(torch.tensor([True, False, True]), 0.7))
    idx = np.array([[0, 0, 2], [1, 1, 1]])                 # index 0 picked twice in a row
    grads_agree(lambda x: x.gather(1, mt.tensor(idx)), lambda x: x.gather(1, torch.tensor(idx)), a)
    grads_agree(lambda x: mt.gather(x, 0, mt.tensor(idx[:, :2] % 2)),
                lambda x: torch.gather(x, 0, torch.tensor(idx[:, :2] % 2)), a)
    with pytest.raises(TypeError, match="bool condition"):
        mt.tensor(a).masked_fill(mt.tensor(a), 0)
    with pytest.raises(RuntimeError):
        torch.tensor(a).masked_fill(torch.tensor(a), 0)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [-1, 0])
def test_sort_argsort_topk(descending, dim):
    a = rnd(4, 5)
    grads_agree(lambda x: x.sort(dim=dim, descending=descending)[0],
                lambda x: x.sort(dim=dim, descending=descending)[0], a)
    x, t = pair(a)
    v, i = mt.sort(x, dim, descending)
    tv, ti = torch.sort(t, dim, descending)
    same(v, tv)
    same(i, ti)
    same(x.argsort(dim, descending), t.argsort(dim, descending))
    for k in (1, 3):
        v, i = x.topk(k, dim, largest=not descending)
        tv, ti = t.topk(k, dim, largest=not descending)
        same(v, tv)
        same(i, ti)
        grads_agree(lambda x: mt.topk(x, k, dim)[0], lambda x: torch.topk(x, k, dim)[0], a)
    v = mt.topk(x, 2).values
    assert v.shape == tuple(torch.topk(t, 2).values.shape)
    with pytest.raises(IndexError, match="out of range"):
        x.topk(9, 0)


def test_sort_keeps_ties_in_order_and_puts_nan_as_torch():
    a = np.array([3.0, 1.0, np.nan, 1.0, 3.0, 2.0])
    x, t = pair(a)
    for descending in (False, True):
        v, i = x.sort(descending=descending, stable=True)
        tv, ti = t.sort(descending=descending, stable=True)
        np.testing.assert_array_equal(to_numpy(v), to_numpy(tv))
        np.testing.assert_array_equal(to_numpy(i), to_numpy(ti))


# ------------------------------------------------------------ in place
@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_", "clamp_", "zero_", "fill_",
                                "copy_", "add_alpha", "masked_fill_"])
def test_inplace_methods_write_into_the_tensor(op):
    a, b = rnd(3, 4), rnd(3, 4, seed=1)
    calls = {"add_": lambda x, y: x.add_(y), "sub_": lambda x, y: x.sub_(y[0]),
             "mul_": lambda x, y: x.mul_(2.5), "div_": lambda x, y: x.div_(y),
             "clamp_": lambda x, y: x.clamp_(min=-0.3, max=0.4), "zero_": lambda x, y: x.zero_(),
             "fill_": lambda x, y: x.fill_(1.25), "copy_": lambda x, y: x.copy_(y[1]),
             "add_alpha": lambda x, y: x.add_(y, alpha=-0.5),
             "masked_fill_": lambda x, y: x.masked_fill_(y > 0, 9.0)}
    (x, t), (y, u) = pair(a), pair(b)
    view, tview = x[1], t[1]
    r, tr = calls[op](x, y), calls[op](t, u)
    assert r is x and tr is t
    same(x, t)
    same(view, tview)                            # a view sees the write


def test_inplace_dtype_rules_as_torch():
    i, ti = mt.tensor([1, 2, 3]), torch.tensor([1, 2, 3])
    i.fill_(2.7)
    ti.fill_(2.7)
    same(i, ti)                                  # fill_ and copy_ cast to the tensor's dtype
    i.copy_(mt.tensor([1.9, -1.9, 0.5]))
    ti.copy_(torch.tensor([1.9, -1.9, 0.5]))
    same(i, ti)
    f, tf = mt.zeros(3), torch.zeros(3)
    f.copy_(mt.tensor([1.0, 2.0, 3.0], dtype=mt.float64))
    tf.copy_(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    same(f, tf)
    with pytest.raises(TypeError, match="add_: the result is torch.float32.*torch.int64"):
        i.add_(0.5)
    with pytest.raises(RuntimeError, match="can't be cast"):
        ti.add_(0.5)
    with pytest.raises(RuntimeError, match=r"add_: a value of shape \(2, 3\) does not fit"):
        mt.zeros(3).add_(mt.zeros(2, 3))
    with pytest.raises(RuntimeError):
        torch.zeros(3).add_(torch.zeros(2, 3))


def test_inplace_on_a_leaf_that_requires_grad_is_refused_as_in_torch():
    w, tw = pair(rnd(3), requires_grad=True)
    for op in ["add_", "mul_", "zero_", "fill_", "clamp_", "copy_"]:
        args = {"add_": (1.0,), "mul_": (2.0,), "zero_": (), "fill_": (0.0,),
                "clamp_": (0.0,), "copy_": (mt.zeros(3),)}[op]
        targs = tuple(torch.zeros(3) if isinstance(a, mt.Tensor) else a for a in args)
        with pytest.raises(RuntimeError, match="leaf.*requires grad.*in-place"):
            getattr(w, op)(*args)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            getattr(tw, op)(*targs)
    with mt.no_grad():                           # as optimizers do
        w.add_(1.0)
        w.mul_(2.0)
    with torch.no_grad():
        tw.add_(1.0)
        tw.mul_(2.0)
    same(w.detach(), tw.detach())


def test_inplace_in_the_graph_as_torch():
    """A non-leaf changed in place: the gradient flows through the change."""
    a, b = rnd(3, 4), rnd(3, 4, seed=1)

    def f(mod):
        def run(w, v):
            y = w * 2
            y.mul_(v)
            y.add_(w, alpha=3)
            y.clamp_(-1.5, 1.5)
            y[0] = 0
            return y
        return run
    grads_agree(f(mt), f(torch), a, b)

    def g(w, v):
        y = w * 1
        y.copy_(v * 2)                          # y's old numbers no longer matter
        return y
    grads_agree(g, g, a, b)


def test_version_check_refuses_a_backward_that_would_be_wrong():
    """y * y saved y; changing y in place afterwards makes its gradient wrong, and both
    engines refuse to compute it."""
    for lib, error in [(mt, "modified by an in-place operation"),
                       (torch, "modified by an inplace operation")]:
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        y = w * 1
        z = y * y
        y.add_(1)
        with pytest.raises(RuntimeError, match=error):
            z.sum().backward()
        y = w.exp()                             # exp saved its output, then overwritten
        y.copy_(w.detach() * 2)
        with pytest.raises(RuntimeError, match=error):
            y.sum().backward()


def test_normal_and_uniform_fill_in_place():
    mt.manual_seed(0)
    x = mt.zeros(2000)
    assert x.normal_(1.0, 2.0) is x
    assert abs(x.mean().item() - 1.0) < 0.2 and abs(x.std().item() - 2.0) < 0.2
    x.uniform_(-1, 3)
    assert x.min().item() >= -1 and x.max().item() < 3


# ------------------------------------------------------------ save and load
def _checkpoint_state(seed=0):
    mt.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return model, opt, sched


def _train_steps(model, opt, sched, n, seed):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x, y = mt.tensor(rng.standard_normal((16, 4))), mt.tensor(rng.integers(0, 3, 16))
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(x.float()), y).backward()
        opt.step()
        sched.step()


def test_save_and_load_a_checkpoint_dict_and_resume_exactly(tmp_path):
    model, opt, sched = _checkpoint_state()
    _train_steps(model, opt, sched, 3, seed=1)
    path = tmp_path / "checkpoint.pt"
    mt.save({"epoch": 3, "model_state_dict": model.state_dict(),
             "optimizer_state_dict": opt.state_dict(), "scheduler": sched.state_dict(),
             "loss": 0.25, "note": "best", "history": [1.0, 0.5]}, str(path))
    ck = mt.load(path, weights_only=True)
    assert ck["epoch"] == 3 and ck["loss"] == 0.25 and ck["note"] == "best"
    assert ck["history"] == [1.0, 0.5]
    for k, v in model.state_dict().items():
        assert isinstance(ck["model_state_dict"][k], mt.Tensor)
        assert ck["model_state_dict"][k].dtype is v.dtype
        np.testing.assert_array_equal(to_numpy(ck["model_state_dict"][k]), to_numpy(v))
    model2, opt2, sched2 = _checkpoint_state(seed=5)
    model2.load_state_dict(ck["model_state_dict"])
    opt2.load_state_dict(ck["optimizer_state_dict"])
    sched2.load_state_dict(ck["scheduler"])
    _train_steps(model, opt, sched, 3, seed=2)             # the uninterrupted run...
    _train_steps(model2, opt2, sched2, 3, seed=2)          # ...and the resumed one
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=k)
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_load_reads_what_torch_save_wrote(tmp_path):
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    path = tmp_path / "torch_model.pth"
    torch.save({"epoch": 7, "model": tmodel.state_dict()}, path)
    ck = mt.load(str(path), map_location="cpu")
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    model.load_state_dict(ck["model"])
    x = rnd(5, 4)
    same(model(mt.tensor(x, dtype=mt.float32)),
         tmodel(torch.tensor(x, dtype=torch.float32)), rtol=1e-6, atol=1e-6)
    assert ck["epoch"] == 7
    torch.save(tmodel.state_dict(), path)               # a bare state dict
    assert set(mt.load(path)) == set(tmodel.state_dict())


def test_save_refuses_what_cannot_be_stored_safely(tmp_path):
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="whole Linear cannot be saved.*state_dict"):
        mt.save(model, str(tmp_path / "m.pt"))
    with pytest.raises(TypeError, match="save: cannot store the builtin_function_or_method"):
        mt.save({"fn": len}, str(tmp_path / "f.pt"))
    assert not (tmp_path / "f.pt").exists()              # nothing half-written
    with pytest.raises(TypeError, match="file path"):
        mt.save({}, open(tmp_path / "x", "wb"))
    # a pickle that would run code on loading is refused, never executed
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="os.*system|refus"):
        mt.load(str(evil), weights_only=False)


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo hacked",))


def test_load_places_tensors_on_map_location(tmp_path):
    path = str(tmp_path / "t.pt")
    mt.save({"w": mt.ones(2, dtype=mt.float64), "i": mt.tensor([1, 2])}, path)
    ck = mt.load(path, map_location=mt.device("cpu"))
    assert ck["w"].dtype is mt.float64 and ck["i"].dtype is mt.int64 and ck["w"].device == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        mt.load(path, map_location="tpu")


def test_a_write_into_a_view_in_the_graph_is_refused_not_wrong():
    """torch tracks views: y[0][1] = v changes y's gradient too. This engine does not, so
    instead of a silently wrong gradient the write is refused with what to do."""
    w, v = mt.randn(2, 3, requires_grad=True), mt.randn(1, requires_grad=True)
    y = w * 2
    with pytest.raises(RuntimeError, match=r"view of another one.*x\[0, 1\] = v"):
        y[0][1] = v
    with pytest.raises(RuntimeError, match="view of another one"):
        y.view(-1).mul_(3)
    buf = mt.zeros(2, 3)
    with pytest.raises(RuntimeError, match="view of another one"):
        buf[0][1] = v                          # buf[0] views buf; v needs a gradient
    y[0, 1] = v[0]                             # written into y itself: fine, as in torch
    tw, tv = w.detach().numpy(), v.detach().numpy()
    tw, tv = torch.tensor(tw, requires_grad=True), torch.tensor(tv, requires_grad=True)
    ty = tw * 2
    ty[0][1] = tv[0]
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(to_numpy(w.grad), tw.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(to_numpy(v.grad), tv.grad.numpy(), rtol=1e-6)
    with mt.no_grad():                         # outside the graph, views are written freely
        y[0][1] = 7.0
    assert y[0, 1].item() == 7.0
