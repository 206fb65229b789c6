"""The autograd engine seen from the outside: deep graphs, accumulation, retain_graph,
no_grad, and the errors a user gets for common mistakes."""
import numpy as np
import pytest
import torch

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn.autograd import Function
from conftest import to_numpy


def leaf(a, device, dtype=np.float64):
    return mt.tensor(np.asarray(a, dtype=dtype), requires_grad=True, device=device)


def test_deep_chain_has_no_recursion_limit(device):
    # 1,000 layers of two ops each: a recursive backward would need ~2,000 frames
    x = leaf([1.0, 2.0], device)
    y = x
    for _ in range(1000):
        y = y * 1.001 + 0.5
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), 1.001 ** 1000, rtol=1e-10)


def test_gradients_accumulate_across_backward_calls(device):
    x = leaf([1.0, -2.0, 3.0], device)
    (x * x).sum().backward()
    (x * 3).sum().backward()                   # a second, separate graph
    np.testing.assert_allclose(to_numpy(x.grad), 2 * np.array([1, -2, 3]) + 3)


def test_tensor_used_twice_gets_the_sum(device):
    x = leaf([0.5, -1.5], device)
    y = x * x + x                              # x feeds mul twice and add once
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), 2 * np.array([0.5, -1.5]) + 1)
    # a diamond: a is used by two branches that meet again
    x.grad = None
    a = x * 2
    (a.exp() + a.sigmoid() * a).sum().backward()
    av = 2 * np.array([0.5, -1.5])
    s = 1 / (1 + np.exp(-av))
    np.testing.assert_allclose(to_numpy(x.grad), 2 * (np.exp(av) + s * (1 - s) * av + s))


def test_broadcast_gradient_is_summed_to_the_input_shape(device):
    x = leaf(np.ones((3, 1)), device)
    b = leaf(np.ones(4), device)
    (x * b).sum().backward()
    assert x.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(to_numpy(x.grad), 4.0)
    np.testing.assert_allclose(to_numpy(b.grad), 3.0)


def test_backward_twice_needs_retain_graph(device):
    x = leaf([1.0, 2.0], device)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    x.grad = None
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()                               # allowed, and the two add up
    np.testing.assert_allclose(to_numpy(x.grad), 2 * 2 * np.array([1.0, 2.0]))


def test_no_grad_records_nothing(device):
    x = leaf([1.0, 2.0], device)
    with mt.no_grad():
        y = (x * 2).exp().sum()
    assert not y.requires_grad and y.grad_fn is None
    assert mt.is_grad_enabled()                # switched back on on exit
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()

    @mt.no_grad()
    def f(t):
        return t * 3
    assert f(x).grad_fn is None
    assert (x * 3).grad_fn is not None


def test_detach_cuts_the_graph(device):
    x = leaf([1.0, 2.0], device)
    (x * x.detach()).sum().backward()          # d/dx of x * const = const
    np.testing.assert_allclose(to_numpy(x.grad), [1.0, 2.0])


def test_custom_function_and_needs_input_grad(device):
    class Scale(Function):
        """y = a * x with a constant a."""
        def forward(self, x, a):
            self.a = a
            return x * a

        def backward(self, g):
            return g * self.a, None

    x = leaf([1.0, 2.0], device)
    c = mt.tensor(np.array([5.0, 5.0]), device=device)      # needs no grad
    y = F.mul(x, c)
    assert y.grad_fn.needs_input_grad == (True, False)
    z = Scale.apply(y, 3.0)
    z.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), 15.0)
    assert c.grad is None


# -------------------------------------------------------------------- errors
def test_shape_mismatch_names_both_shapes(device):
    a, b = mt.randn(2, 3, device=device), mt.randn(4, 5, device=device)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not match"):
        a @ b
    with pytest.raises(ValueError, match=r"matmul: batch dims of shapes \(2, 3, 4\) and "
                                         r"\(5, 4, 2\) cannot be broadcast"):
        mt.randn(2, 3, 4, device=device) @ mt.randn(5, 4, 2, device=device)
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4, 5\) cannot be "
                                         r"broadcast"):
        a + b
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(2,\)"):
        a * mt.randn(2, device=device)
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) does not fit "
                                         r"weight of shape \(4, 5\)"):
        F.linear(a, b)
    with pytest.raises(ValueError, match=r"reshape: cannot view a tensor of shape \(2, 3\)"):
        a.reshape(4, 2)
    with pytest.raises(ValueError, match=r"cat: shapes \[\(2, 3\), \(4, 5\)\] differ"):
        F.cat([a, b], 0)
    with pytest.raises(IndexError, match=r"getitem: .*out of bounds.*shape \(2, 3\)"):
        a[[0, 5]]


def test_backward_on_non_scalar_needs_a_grad(device):
    x = leaf(np.ones((2, 3)), device)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"grad can be implicitly created only for scalar "
                                           r"outputs.*shape \(2, 3\)"):
        y.backward()
    y.backward(mt.ones(2, 3, dtype=np.float64, device=device))     # an explicit grad works
    np.testing.assert_allclose(to_numpy(x.grad), 2.0)


class _ElsewhereTensor(mt.Tensor):
    """A CPU tensor that reports another device: lets the device check in
    Function.apply be tested on a machine without a GPU."""
    @property
    def device(self):
        return "cuda"


def test_mixing_devices_is_refused():
    a = mt.randn(2, 3)
    b = _ElsewhereTensor(np.ones((2, 3), np.float32))
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on one device, got "
                                           r"Tensor\(2, 3\) on cpu, _ElsewhereTensor\(2, 3\) "
                                           r"on cuda"):
        a + b
    with pytest.raises(RuntimeError, match="CrossEntropy: expected all tensors on one device"):
        F.cross_entropy(a, _ElsewhereTensor(np.array([0, 1])))


@pytest.mark.gpu
def test_mixing_real_devices_is_refused(device):
    if device != "cuda":
        pytest.skip("needs a GPU to hold the second tensor")
    with pytest.raises(RuntimeError, match="expected all tensors on one device"):
        mt.randn(2, 3) + mt.randn(2, 3, device="cuda")


def test_wrong_target_dtype_for_class_losses(device):
    logits = mt.randn(3, 4, device=device)
    floats = mt.tensor(np.array([0.0, 1.0, 2.0], np.float32), device=device)
    with pytest.raises(TypeError, match=r"cross_entropy: expected integer class indices "
                                        r"\(int64\) as target, got float32"):
        F.cross_entropy(logits, floats)
    with pytest.raises(TypeError, match=r"nll_loss: expected integer class indices"):
        F.nll_loss(logits, floats)


def test_only_float_tensors_take_gradients():
    with pytest.raises(RuntimeError, match="only floating-point tensors can require grad"):
        mt.tensor([1, 2, 3], requires_grad=True)


# ------------------------------------------------- the graph and hooks, seen from outside
def test_next_functions_and_topological_order(device):
    from minitorch_cnn.autograd import topological_order
    a, b = leaf([1.0, 2.0], device), leaf([3.0, 4.0], device)
    m = a * b
    e = m.exp()
    z = e + m                                  # m feeds exp and add: a diamond
    assert [type(f).__name__ for f, _ in z.grad_fn.next_functions] == ["Exp", "Mul"]
    assert z.grad_fn.next_functions[1] == (m.grad_fn, 0)
    assert m.grad_fn.next_functions == ((None, 0), (None, 0))     # two leaves
    order = topological_order(z.grad_fn)
    assert order[-1] is z.grad_fn and len(order) == 3
    pos = {id(f): i for i, f in enumerate(order)}
    for f in order:                            # every op after the ops that fed it
        assert all(pos[id(p)] < pos[id(f)] for p, _ in f.next_functions if p is not None)
    # the same structure as PyTorch's graph (where leaves are AccumulateGrad nodes)
    torch = pytest.importorskip("torch")
    ta, tb = (torch.tensor([1.0, 2.0], requires_grad=True) for _ in range(2))
    tm = ta * tb
    tz = tm.exp() + tm
    assert [type(f).__name__.rstrip("0123456789") for f, _ in tz.grad_fn.next_functions] \
        == ["ExpBackward", "MulBackward"]
    assert tz.grad_fn.next_functions[1][0] is tm.grad_fn


def test_graph_walk_of_a_deep_chain_has_no_recursion_limit():
    from minitorch_cnn.autograd import topological_order
    y = leaf([1.0], "cpu")
    for _ in range(3000):
        y = y * 1.0
    assert len(topological_order(y.grad_fn)) == 3000


def test_backward_hooks_see_the_gradients_torch_sees(device):
    torch = pytest.importorskip("torch")
    av, bv = np.array([1.0, -2.0, 3.0]), np.array([0.5, 4.0, -1.0])
    ours, theirs = {}, {}

    def record(into, key):
        def hook(*grads):                      # (grad_outputs,) or (grad_inputs, grad_outputs)
            into[key] = [to_numpy(g) for gs in grads for g in gs]
        return hook

    a, b = leaf(av, device), leaf(bv, device)
    y = a * b
    y.grad_fn.register_prehook(record(ours, "pre"))
    y.grad_fn.register_hook(record(ours, "post"))
    (y * y).sum().backward()
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (av, bv))
    ty = ta * tb
    ty.grad_fn.register_prehook(record(theirs, "pre"))
    ty.grad_fn.register_hook(record(theirs, "post"))
    (ty * ty).sum().backward()
    assert len(ours["pre"]) == 1 and len(ours["post"]) == 3    # (dy,), (da, db), (dy,)
    for key in ("pre", "post"):
        for o, t in zip(ours[key], theirs[key], strict=True):
            np.testing.assert_allclose(o, t)
    np.testing.assert_allclose(to_numpy(a.grad), ta.grad.numpy())


def test_backward_hooks_replace_gradients_and_are_removable(device):
    a, b = leaf([1.0, 2.0], device), leaf([3.0, 5.0], device)
    y = a * b
    h_pre = y.grad_fn.register_prehook(lambda go: (go[0] * 10,))      # scale dL/dy
    y.grad_fn.register_hook(lambda gi, go: (gi[0], None))              # b gets nothing
    y.sum().backward(retain_graph=True)
    np.testing.assert_allclose(to_numpy(a.grad), [30.0, 50.0])
    assert b.grad is None
    h_pre.remove()
    h_pre.remove()                             # twice: nothing more happens
    a.grad = None
    y.sum().backward(retain_graph=True)
    np.testing.assert_allclose(to_numpy(a.grad), [3.0, 5.0])
    assert y.grad_fn.prehooks == ()
    # the same hook twice is called twice; each handle removes one
    double = lambda go: (go[0] * 2,)           # noqa: E731
    handles = [y.grad_fn.register_prehook(double) for _ in range(2)]
    a.grad = None
    y.sum().backward(retain_graph=True)
    np.testing.assert_allclose(to_numpy(a.grad), [12.0, 20.0])
    handles[0].remove()
    a.grad = None
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(a.grad), [6.0, 10.0])


def test_backward_hook_returning_the_wrong_count_is_refused():
    a = leaf([1.0, 2.0], "cpu")
    y = a * 2.0
    y.grad_fn.register_hook(lambda gi, go: (gi[0], gi[0], gi[0]))
    with pytest.raises(RuntimeError, match=r"returned \(Tensor, Tensor, Tensor\); expected "
                                           r"None, or 2 gradients as Tensors or None"):
        y.sum().backward()
    y = a * 2.0
    y.grad_fn.register_prehook(lambda go: [go[0].numpy()])            # not Tensors
    with pytest.raises(RuntimeError, match=r"returned \(ndarray\); expected None, or 1"):
        y.sum().backward()


def test_forward_pre_hooks_see_and_replace_the_inputs():
    lin = mt.nn.Linear(3, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, args: seen.append((m, args[0].shape)))
    x = mt.randn(4, 3)
    lin(x)
    assert seen == [(lin, (4, 3))]
    h2 = lin.register_forward_pre_hook(lambda m, args: args[0] * 0)   # one value: the new x
    out = lin(x)
    np.testing.assert_allclose(out.data, np.broadcast_to(lin.bias.data, (4, 2)))
    h2.remove()
    h1.remove()
    np.testing.assert_allclose(lin(x).data, F.linear(x, lin.weight, lin.bias).data)
    assert len(seen) == 2
    # a tuple replaces all the positional inputs; the forward hook gets the new ones
    got = []
    lin.register_forward_pre_hook(lambda m, args: (args[0][:1],))
    lin.register_forward_hook(lambda m, args, out: got.append((args[0].shape, out.shape)))
    lin(x)
    assert got == [((1, 3), (1, 2))]


def test_module_forward_pre_hook_sees_every_module():
    from minitorch_cnn.nn.module import register_module_forward_pre_hook
    model = mt.nn.Sequential(mt.nn.Linear(3, 4), mt.nn.ReLU(), mt.nn.Linear(4, 2))
    called = []
    handle = register_module_forward_pre_hook(lambda m, args: called.append(type(m).__name__))
    try:
        model(mt.randn(2, 3))
    finally:
        handle.remove()
    assert called == ["Sequential", "Linear", "ReLU", "Linear"]
    model(mt.randn(2, 3))
    assert len(called) == 4                    # removed: no more calls


# ---------------------------------------------------- Python's protocols, as torch
def test_bool_int_float_index_of_tensors():
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        bool(mt.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="no values is ambiguous"):
        bool(mt.tensor([]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        if mt.tensor([0.0, 0.0]) == mt.tensor([0.0, 0.0]):    # the classic slip
            pass
    assert bool(mt.tensor([0.0])) is False and bool(mt.tensor(2)) is True
    assert int(mt.tensor([[2.7]])) == 2 and float(mt.tensor(3)) == 3.0
    assert complex(mt.tensor(1.5)) == 1.5
    with pytest.raises(ValueError, match="only one element tensors"):
        int(mt.tensor([1, 2]))
    with pytest.raises(ValueError, match="only one element tensors"):
        float(mt.tensor([1.0, 2.0]))
    assert [10, 20, 30][mt.tensor(1)] == 20 and [10, 20][mt.tensor([True])] == 20
    assert list(range(mt.tensor(3))) == [0, 1, 2]
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        [1, 2][mt.tensor(1.0)]


def test_len_iter_contains_of_tensors():
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(mt.tensor(3.0))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(mt.tensor(3.0))
    m = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(m)
    assert len(m) == 2 and [r.tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0]]
    (rows[0] * 2 + rows[1]).sum().backward()                 # rows stay in the graph
    np.testing.assert_array_equal(m.grad.numpy(), [[2.0, 2.0], [1.0, 1.0]])
    t = mt.tensor([1, 2, 3])
    assert 2 in t and 5 not in t and mt.tensor(3) in t and np.int64(1) in t
    assert mt.tensor([1, 2]) in mt.tensor([[1, 2], [3, 4]])    # broadcast, as torch
    with pytest.raises(RuntimeError, match="only supports a Tensor or a number"):
        "a" in t


def test_hash_by_identity_format_and_numpy():
    a, b = mt.tensor([1.0]), mt.tensor([1.0])
    assert hash(a) != hash(b) and len({a, b}) == 2 and {a: 1, b: 2}[b] == 2
    params = [mt.tensor([5.0]), b]
    assert params.index(b) == 1 and b in params                # identity first, as torch
    assert f"{mt.tensor(0.25):.1%}" == "25.0%" and f"{mt.tensor([1.0])}" == str(mt.tensor([1.0]))
    with pytest.raises(TypeError, match="unsupported format string"):
        f"{mt.tensor([0.25]):.2f}"
    arr = np.asarray(mt.tensor([1, 2]))
    assert isinstance(arr, np.ndarray) and arr.dtype == np.int64 and arr.tolist() == [1, 2]
    assert np.asarray(mt.tensor([1.0, 2.0]), dtype=np.float64).dtype == np.float64
    with pytest.raises(RuntimeError, match="detach"):
        np.asarray(mt.tensor([1.0], requires_grad=True))
    assert +a is a
    with pytest.raises(TypeError, match="bool"):
        +mt.tensor([True])


# ----------------------------------------------------------- in-place changes
def test_inplace_operators_write_into_the_tensor(device):
    x = mt.tensor([1.0, 2.0, 3.0], device=device)
    alias, view = x, x[1:]
    x += 1
    x *= mt.tensor([2.0], device=device)
    x /= 2
    x -= 1
    assert x is alias and x.tolist() == [1.0, 2.0, 3.0] and view.tolist() == [2.0, 3.0]
    i = mt.tensor([5, 7], device=device)
    i //= 2
    i %= 2
    i **= 2
    assert i.tolist() == [0, 1] and i.dtype == np.int64
    m = mt.tensor([True, False], device=device)
    m &= mt.tensor([True, True], device=device)
    m |= mt.tensor([False, True], device=device)
    m ^= True
    assert m.tolist() == [False, False]
    with pytest.raises(TypeError, match="cannot be stored in this int64 tensor"):
        i += 0.5                                           # as torch: no float into int
    with pytest.raises(RuntimeError, match="does not fit the tensor's shape"):
        x += mt.ones(2, 3, device=device)
    assert i.tolist() == [0, 1] and x.tolist() == [1.0, 2.0, 3.0]    # nothing written


def test_manual_sgd_step_updates_the_parameter_in_place():
    """`p -= lr * p.grad` under no_grad is the textbook SGD loop: it must change the
    model's own parameter (a rebinding would leave the model untrained)."""
    layer = mt.nn.Linear(3, 1)
    w_before = layer.weight.data.copy()
    loss = layer(mt.ones(4, 3)).sum()
    loss.backward()
    with mt.no_grad():
        for p in layer.parameters():
            p -= 0.1 * p.grad
    assert isinstance(layer.weight, mt.nn.Parameter)
    np.testing.assert_allclose(layer.weight.data, w_before - 0.1 * 4.0, rtol=1e-6)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*no_grad"):
        layer.weight -= 1.0                                # outside no_grad: refused
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        layer.weight.zero_()


def test_inplace_on_a_graph_tensor_keeps_the_gradient():
    """torchvision's `out += identity` on a non-leaf: the same numbers and gradient."""
    x = mt.tensor([1.0, -2.0], requires_grad=True)
    t = torch.tensor([1.0, -2.0], requires_grad=True)
    y = x * 3
    y += x * x
    u = t * 3
    u += t * t
    y.sum().backward()
    u.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_setitem_like_torch():
    x = mt.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    t = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    for idx, v in [((0, 1), 9.0), ((slice(None), 0), [7.0, 8.0]),
                   (np.array([[True, False, True], [False, False, True]]), -1.0),
                   ((1, [0, 2]), np.array([0.5, 0.25]))]:
        x[idx if not isinstance(idx, np.ndarray) else mt.tensor(idx)] = v
        t[idx if not isinstance(idx, np.ndarray) else torch.tensor(idx)] = (
            torch.tensor(v, dtype=torch.float32) if not isinstance(v, float) else v)
    np.testing.assert_array_equal(x.numpy(), t.numpy())
    with pytest.raises(TypeError, match="can't assign a str"):
        x[0, 0] = "a"
    with pytest.raises(ValueError, match="setitem: .*shape"):
        x[0] = mt.tensor([1.0, 2.0])
    np.testing.assert_array_equal(x.numpy(), t.numpy())     # unchanged by the errors


def test_setitem_in_the_graph_gives_torchs_gradients():
    a = np.array([1.0, 2.0, 3.0])
    w, tw = mt.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    v, tv = mt.tensor([5.0], requires_grad=True), torch.tensor([5.0], requires_grad=True)
    y, ty = w * 2, tw * 2
    y[1:] = v * v                                           # v broadcast to 2 entries
    ty[1:] = tv * tv
    buf, tbuf = mt.zeros(3), torch.zeros(3)                 # a constant receiving w
    buf[0] = w[2]
    tbuf[0] = tw[2]
    ((y * mt.tensor([1.0, 2.0, 3.0])).sum() + buf.sum() * 4).backward()
    ((ty * torch.tensor([1.0, 2.0, 3.0])).sum() + tbuf.sum() * 4).backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy())
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy())
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w[0] = 1.0


def test_changing_a_saved_tensor_in_place_breaks_backward_as_in_torch():
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    for change in [lambda t: t.__setitem__(0, 5.0), lambda t: t.__iadd__(1.0),
                   lambda t: t.zero_(), lambda t: t[1:].__setitem__(0, 3.0)]:
        x = mt.tensor([3.0, 4.0])
        z = (w * x).sum()                     # Mul saves x for dL/dw
        change(x)
        with pytest.raises(RuntimeError, match="modified by an in-place operation.*Mul"):
            z.backward()
    y = w.exp()                               # Exp saves its output
    with mt.no_grad():
        y[0] = 0.0
    with pytest.raises(RuntimeError, match="in-place"):
        y.sum().backward()
    x = mt.tensor([3.0, 4.0])                 # a change to what was *not* saved is fine
    z = (w + x).sum()
    x += 1
    z.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])
