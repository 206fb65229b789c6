"""Basic layers: Linear, Identity, Flatten, the activations, Dropout."""
import math

from .. import functional as F
from ..functional.dtypes import mismatch_message
from ..tensor import empty
from . import init
from .module import Module, Parameter

__all__ = ["Identity", "Linear", "Flatten", "ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh",
           "SiLU", "Hardsigmoid", "Hardswish", "Softmax", "LogSoftmax", "Dropout"]


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Linear(Module):
    """y = x W^T + b, W of shape (out_features, in_features).

    PyTorch's default init: W ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a=sqrt(5)),
    b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(empty(out_features, in_features))
        self.bias = Parameter(empty(out_features)) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: expected input with {self.in_features} features in "
                             f"the last dim, got shape {tuple(x.shape)}")
        if x.dtype != self.weight.dtype:
            raise TypeError(mismatch_message(repr(self), x.dtype, self.weight.dtype))
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W) by default (start_dim=1)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)


class _Activation(Module):
    fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return type(self).fn(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU(_Activation):
    fn = staticmethod(lambda x: F.relu(x))


class ReLU6(_Activation):
    fn = staticmethod(lambda x: F.relu6(x))


class SiLU(_Activation):
    fn = staticmethod(lambda x: F.silu(x))


class Hardsigmoid(_Activation):
    fn = staticmethod(lambda x: F.hardsigmoid(x))


class Hardswish(_Activation):
    fn = staticmethod(lambda x: F.hardswish(x))


class Sigmoid(_Activation):
    fn = staticmethod(lambda x: F.sigmoid(x))


class Tanh(_Activation):
    fn = staticmethod(lambda x: F.tanh(x))


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, self.dim)


class Dropout(Module):
    """Zero each entry with probability p in training and scale the rest by 1/(1-p)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
