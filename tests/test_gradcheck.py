"""minitorch_cnn.gradcheck: passes on correct ops and composites, and catches a wrong
backward, naming where it is wrong."""
import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn.autograd import Function
from minitorch_cnn.gradcheck import GradcheckError


def inputs(device, *shapes, positive=False, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        a = rng.standard_normal(s)
        out.append(mt.tensor(np.abs(a) + 0.5 if positive else a, requires_grad=True,
                             device=device))
    return out


CASES = {   # name: (fn, input shapes, positive inputs?)
    "div_broadcast": (lambda a, b: a / b, [(2, 3), (3,)], True),
    "pow_tensor_exponent": (lambda a, b: a ** b, [(2, 3), (2, 1)], True),
    "matmul_batched": (F.matmul, [(2, 2, 3), (3, 2)], False),
    "softmax": (lambda a: F.softmax(a, 1), [(2, 4)], False),
    "var_keepdim": (lambda a: a.var((0, 2), keepdim=True), [(2, 3, 2)], False),
    "max_dim": (lambda a: a.max(1).values, [(3, 4)], False),
    "getitem_repeats": (lambda a: a[[0, 0, 2], 1:], [(3, 3)], False),
    "pad_crop": (lambda a: F.pad(a, (1, -1, 2, 0), value=0.3), [(2, 3, 3)], False),
    "split": (lambda a: F.split(a, [1, 3], 1), [(2, 4)], False),
    "cross_entropy": (lambda a: F.cross_entropy(a, mt.tensor([2, 0, -100], device=a.device),
                                                weight=mt.tensor([1.0, 2.0, 0.5, 1.5],
                                                                 device=a.device),
                                                label_smoothing=0.2), [(3, 4)], False),
    "mlp": (lambda x, w1, b1, w2: F.log_softmax(F.linear(F.tanh(F.linear(x, w1, b1)), w2), 1),
            [(3, 4), (5, 4), (5,), (2, 5)], False),
    "conv_like_block": (lambda x, w: F.silu(F.hardswish(x * w).sum(1)).mean(),
                        [(2, 3, 4), (3, 1)], False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_passes_on_correct_ops(device, name):
    fn, shapes, positive = CASES[name]
    assert mt.gradcheck(fn, inputs(device, *shapes, positive=positive))


def test_float32_inputs_are_checked_in_float64():
    (x,) = inputs("cpu", (2, 3))
    x32 = mt.tensor(x.data.astype(np.float32), requires_grad=True)
    assert mt.gradcheck(lambda a: (a * a).exp().sum(), [x32])


class WrongSquare(Function):
    """y = x^2 with a wrong backward: misses the factor 2."""
    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, g):
        return g * self.saved[0]


class WrongAtOneEntry(Function):
    """y = x * w with a correct backward except at w[1, 2]."""
    def forward(self, x, w):
        self.save_for_backward(x, w)
        return x * w

    def backward(self, g):
        x, w = self.saved
        gw = g * x                   # a new array: safe to change
        gw[1, 2] += 0.5 * g[1, 2]
        return g * w, gw


def test_gradcheck_catches_a_wrong_backward():
    (x,) = inputs("cpu", (2, 3))
    with pytest.raises(GradcheckError, match=r"analytic .* vs numeric"):
        mt.gradcheck(WrongSquare.apply, [x])


def test_gradcheck_names_input_and_position():
    x, w = inputs("cpu", (2, 3), (2, 3))
    with pytest.raises(GradcheckError, match=r"d\(output 0\)\[\(1, 2\)\] / d\(input 1\)"
                                             r"\[\(1, 2\)\]: analytic .* vs numeric"):
        mt.gradcheck(WrongAtOneEntry.apply, [x, w])
    # the same function, checked only on its correct input, passes
    w.requires_grad = False
    assert mt.gradcheck(WrongAtOneEntry.apply, [x, w])


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        mt.gradcheck(F.exp, [mt.randn(2)])
