"""Activations: y = f(x) entry by entry, and softmax over one axis."""
from ..autograd import Function
from ..backend import get_array_module

__all__ = ["relu"]


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0.  Saves only the boolean mask."""
    def forward(self, x):
        mask = x > 0
        self.save_for_backward(mask)
        return x * mask

    def backward(self, g):
        return g * self.saved[0]


def relu(x, inplace=False):
    return ReLU.apply(x)
