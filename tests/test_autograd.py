"""The autograd engine seen from the outside: deep graphs, accumulation, retain_graph,
no_grad, and the errors a user gets for common mistakes."""
import numpy as np
import pytest

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
