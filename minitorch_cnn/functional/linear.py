"""Matrix products: matmul (batched, broadcasting) and linear (y = x W^T + b).

Both operands of a product must have one dtype, as in torch: NumPy would quietly
compute float32 @ float64 in float64.
"""
from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor
from .dtypes import check_same_dtype

__all__ = ["matmul", "linear"]


class MatMul(Function):
    """Z = X @ Y;  dL/dX = dL/dZ @ Y^T,  dL/dY = X^T @ dL/dZ (batch axes broadcast).

    A 1-D X is a row (1, k), a 1-D Y a column (k, 1), and that axis is dropped from Z,
    as in NumPy and torch. Saves each factor only if the other needs a grad.
    """
    def forward(self, x, y):
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError("matmul: both arguments need at least one dimension")
        kx = x.shape[-1]
        ky = y.shape[0] if y.ndim == 1 else y.shape[-2]
        if kx != ky:
            raise ValueError(f"matmul: shapes {tuple(x.shape)} and {tuple(y.shape)} do not "
                             f"match: {kx} (last dim of the first) != {ky}")
        for a, b in zip(reversed(x.shape[:-2]), reversed(y.shape[:-2])):
            if a != b and a != 1 and b != 1:
                raise ValueError(f"matmul: batch dims of shapes {tuple(x.shape)} and "
                                 f"{tuple(y.shape)} cannot be broadcast together")
        # vectors as matrices: (k,) -> (1, k) on the left, (k,) -> (k, 1) on the right
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        self.save_for_backward(x2 if self.needs_input_grad[1] else None,
                               y2 if self.needs_input_grad[0] else None)
        self.shapes = x.shape, y.shape
        z2 = x2 @ y2                                  # (.., n, m), n or m 1 for a vector
        self.z2_shape = z2.shape
        n, m = z2.shape[-2:]
        # drop the unit axes again: (.., 1, m) -> (.., m) and (.., n, 1) -> (.., n)
        return z2.reshape(z2.shape[:-2] + ((n,) if x.ndim > 1 else ()) +
                          ((m,) if y.ndim > 1 else ()))

    def backward(self, g):
        x2, y2 = self.saved
        xs, ys = self.shapes
        xp = get_array_module(g)
        g = g.reshape(self.z2_shape)                  # put the vectors' unit axes back
        gx = gy = None
        if self.needs_input_grad[0]:
            gx = _sum_to(g @ xp.swapaxes(y2, -1, -2), xs if len(xs) > 1 else (1,) + xs)
            gx = gx.reshape(xs)
        if self.needs_input_grad[1]:
            gy = _sum_to(xp.swapaxes(x2, -1, -2) @ g, ys if len(ys) > 1 else ys + (1,))
            gy = gy.reshape(ys)
        return gx, gy


def _sum_to(g, shape):
    """Sum broadcast batch axes of a matmul gradient back to ``shape``."""
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape[:-2]) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def matmul(x, y):
    dx, dy = getattr(x, "dtype", None), getattr(y, "dtype", None)
    if dx is not None and dy is not None and dx != dy:
        raise TypeError(f"matmul: expected both operands of one dtype, got {dx} and {dy}; "
                        f"convert one of them (x.float(), x.double(), or y.to(x.dtype))")
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        raise TypeError("matmul: expected at least one Tensor")
    return MatMul.apply(x, y)


class Linear(Function):
    """y = x W^T + b for x of shape (..., in), W (out, in), b (out,).

    dL/dx = g W,  dL/dW = g^T x (summed over leading axes),  dL/db = sum g.
    """
    def forward(self, x, w, b):
        if x.ndim == 0 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input of shape {tuple(x.shape)} does not fit weight of "
                             f"shape {tuple(w.shape)}: expected input (..., in_features) and "
                             f"weight (out_features, in_features)")
        if b is not None and tuple(b.shape) != (w.shape[0],):
            raise ValueError(f"linear: bias of shape {tuple(b.shape)}, expected "
                             f"({w.shape[0]},) for weight of shape {tuple(w.shape)}")
        self.save_for_backward(x if self.needs_input_grad[1] else None,
                               w if self.needs_input_grad[0] else None)
        y = x @ w.T                       # (..., in) @ (in, out) -> (..., out)
        if b is not None:
            y += b
        return y

    def backward(self, g):
        x, w = self.saved
        gx = g @ w if self.needs_input_grad[0] else None
        gw = gb = None
        g2 = g.reshape(-1, g.shape[-1])                     # (M, out)
        if self.needs_input_grad[1]:
            gw = g2.T @ x.reshape(-1, x.shape[-1])          # (out, M) @ (M, in) -> (out, in)
        if self.needs_input_grad[2]:
            gb = g2.sum(axis=0)
        return gx, gw, gb


def linear(x, weight, bias=None):
    check_same_dtype("linear", x, weight=weight, bias=bias)
    return Linear.apply(x, weight, bias)
