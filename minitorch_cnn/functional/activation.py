"""Activations: y = f(x) entry by entry, and softmax / log_softmax over one dim.

Each backward matches torch's, including the value chosen at a kink (relu'(0) = 0,
leaky_relu'(0) = slope, relu6'(6) = 0, ...) and at NaN (relu'(NaN) = 1, as torch: NaN
passes through, and so does its gradient). Each docstring says what is saved:
where the output is enough we keep the output, which the next layer usually holds
anyway, so the activation costs no extra memory.

dtypes, as torch where it has them: relu and relu6 also take integer tensors (and keep
their dtype); sigmoid and tanh turn integers into float32; the others need float32 or
float64 and say so.
"""
import warnings

from .. import backend, kernels
from ..autograd import Function
from ..backend import get_array_module
from .dtypes import check_float

__all__ = ["relu", "relu6", "leaky_relu", "sigmoid", "tanh", "silu", "hardsigmoid",
           "hardswish", "softmax", "log_softmax"]


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0 (0 at x = 0, 1 at NaN, as torch).
    Saves y (y > 0 iff x > 0)."""
    def forward(self, x):
        y = kernels.clamp(x, 0.0, float("inf"))               # max(x, 0)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        return kernels.band_backward(g, self.saved[0], 0.0, float("inf"))   # g * (y > 0)


class ReLU6(Function):
    """y = min(max(x, 0), 6);  dy/dx = 1 where 0 < x < 6 (0 at both kinks, as torch's
    hardtanh).  Saves y (0 < y < 6 iff 0 < x < 6)."""
    def forward(self, x):
        y = kernels.clamp(x, 0.0, 6.0)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        return kernels.band_backward(g, self.saved[0], 0.0, 6.0)   # g * (0 < y < 6)


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x;  dy/dx = 1 where x > 0, else slope (slope at 0).
    Saves the boolean mask x > 0 (the slope may be negative, so y does not tell)."""
    def forward(self, x, slope):
        xp = get_array_module(x)
        pos = x > 0
        self.slope = slope
        self.save_for_backward(pos)
        return xp.where(pos, x, x * slope)

    def backward(self, g):
        return get_array_module(g).where(self.saved[0], g, g * self.slope)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dy/dx = y (1 - y).  Saves y."""
    def forward(self, x):
        y = kernels.reference.sigmoid(x)            # without overflow: see there
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return g * y * (1 - y)


class Tanh(Function):
    """y = tanh x;  dy/dx = 1 - y^2.  Saves y."""
    def forward(self, x):
        y = get_array_module(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return g * (1 - y * y)


class SiLU(Function):
    """y = x * s, s = sigmoid(x) (a.k.a. swish);  dy/dx = s (1 + x (1 - s)).
    Saves x only; s is recomputed in backward (one pass each: kernels.silu)."""
    def forward(self, x):
        self.save_for_backward(x)
        return kernels.silu(x)

    def backward(self, g):
        return kernels.silu_backward(g, self.saved[0])


class Hardsigmoid(Function):
    """y = relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1);  dy/dx = 1/6 where -3 < x < 3,
    else 0 (0 at both kinks, as torch).  Saves y (0 < y < 1 iff -3 < x < 3)."""
    def forward(self, x):
        y = get_array_module(x).clip(x / 6 + 0.5, 0, 1)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return g * ((y > 0) & (y < 1)) / 6


class Hardswish(Function):
    """y = x * relu6(x + 3) / 6 (MobileNetV3);  dy/dx = 0 for x <= -3, x/3 + 1/2 for
    -3 < x < 3, 1 for x >= 3 (torch's choice at the kinks).  Saves x."""
    def forward(self, x):
        self.save_for_backward(x)
        return x * get_array_module(x).clip(x + 3, 0, 6) / 6

    def backward(self, g):
        x = self.saved[0]
        xp = get_array_module(g)
        slope = xp.where(x <= -3, 0, xp.where(x < 3, x / 3 + 0.5, 1))
        return g * slope


class Softmax(Function):
    """y_i = e^(x_i - m) / sum_j e^(x_j - m) along ``dim`` (m = max_j x_j keeps e^ from
    overflowing, and cancels);  dL/dx = y * (g - sum_j g_j y_j).  Saves y."""
    def forward(self, x, dim):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=dim, keepdims=True))
        y = e / e.sum(axis=dim, keepdims=True)
        self.dim = dim
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return y * (g - (g * y).sum(axis=self.dim, keepdims=True))


class LogSoftmax(Function):
    """y_i = x_i - m - log sum_j e^(x_j - m) along ``dim`` (m = max_j x_j);
    dL/dx = g - softmax(x) * sum_j g_j, with softmax(x) = e^y.  Saves y."""
    def forward(self, x, dim):
        xp = get_array_module(x)
        shifted = x - x.max(axis=dim, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        self.dim = dim
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return g - get_array_module(g).exp(y) * g.sum(axis=self.dim, keepdims=True)


def _float_or_integer(op, x):
    """relu and relu6 take integers too (as torch), not bools, nor float16."""
    if x.dtype.kind == "b":
        raise TypeError(f"{op}: bool input is not supported; convert it with x.float() (or "
                        f"x.long())")
    if x.dtype.kind not in "iu":
        check_float(op, x)


def _as_float(op, x):
    """sigmoid and tanh of integers are float32 (the default dtype), as in torch."""
    if x.dtype.kind in "biu":
        x = x.to(backend.get_default_dtype())
    check_float(op, x)
    return x


def relu(x, inplace=False):
    """``inplace`` is accepted for torch's signature; a new tensor is always returned."""
    _float_or_integer("relu", x)
    return ReLU.apply(x)


def relu6(x, inplace=False):
    _float_or_integer("relu6", x)
    return ReLU6.apply(x)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    check_float("leaky_relu", x)
    return LeakyReLU.apply(x, slope=negative_slope)


def sigmoid(x):
    return Sigmoid.apply(_as_float("sigmoid", x))


def tanh(x):
    return Tanh.apply(_as_float("tanh", x))


def silu(x, inplace=False):
    check_float("silu", x)
    return SiLU.apply(x)


def hardsigmoid(x, inplace=False):
    check_float("hardsigmoid", x)
    return Hardsigmoid.apply(x)


def hardswish(x, inplace=False):
    check_float("hardswish", x)
    return Hardswish.apply(x)


def _softmax_dim(op, x, dim):
    """torch's legacy rule when no dim is given: dim 0 for 0-, 1- and 3-d input, else 1."""
    if dim is None:
        warnings.warn(f"{op}: implicit dim choice is deprecated; pass dim=", stacklevel=3)
        dim = 0 if x.ndim in (0, 1, 3) else 1
    if x.ndim == 0:
        if dim not in (0, -1):
            raise IndexError(f"{op}: dim {dim} out of range for a 0-d tensor")
        return None                       # a 0-d tensor: reduce over "all" (nothing)
    if not -x.ndim <= dim < x.ndim:
        raise IndexError(f"{op}: dim {dim} out of range for a tensor of shape "
                         f"{tuple(x.shape)}")
    return dim % x.ndim


def softmax(x, dim=None):
    check_float("softmax", x)
    return Softmax.apply(x, dim=_softmax_dim("softmax", x, dim))


def log_softmax(x, dim=None):
    check_float("log_softmax", x)
    return LogSoftmax.apply(x, dim=_softmax_dim("log_softmax", x, dim))
