"""Matrix products: matmul (batched, broadcasting) and linear (y = x W^T + b)."""
from ..autograd import Function
from ..backend import get_array_module

__all__ = ["matmul", "linear"]


class MatMul(Function):
    """Z = X @ Y;  dL/dX = dL/dZ @ Y^T,  dL/dY = X^T @ dL/dZ (batch axes broadcast)."""
    def forward(self, x, y):
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError("matmul: both arguments need at least one dimension")
        kx = x.shape[-1]
        ky = y.shape[0] if y.ndim == 1 else y.shape[-2]
        if kx != ky:
            raise ValueError(f"matmul: shapes {tuple(x.shape)} and {tuple(y.shape)} do not "
                             f"match: {kx} (last dim of the first) != {ky}")
        self.save_for_backward(x if self.needs_input_grad[1] else None,
                               y if self.needs_input_grad[0] else None)
        self.shapes = x.shape, y.shape
        return x @ y

    def backward(self, g):
        x, y = self.saved
        xs, ys = self.shapes
        xp = get_array_module(g)
        # treat vectors as matrices: (k,) @ (.., k, m) is (1, k) @ ..., (.., n, k) @ (k,) is @ (k, 1)
        if len(xs) == 1:
            g = xp.expand_dims(g, -2)
        if len(ys) == 1:
            g = xp.expand_dims(g, -1)
        gx = gy = None
        if self.needs_input_grad[0]:
            y2 = y.reshape(ys + (1,)) if len(ys) == 1 else y
            gx = g @ xp.swapaxes(y2, -1, -2)
            gx = _sum_to(gx, xs if len(xs) > 1 else (1,) + xs)
            gx = gx.reshape(xs)
        if self.needs_input_grad[1]:
            x2 = x.reshape((1,) + xs) if len(xs) == 1 else x
            gy = xp.swapaxes(x2, -1, -2) @ g
            gy = _sum_to(gy, ys if len(ys) > 1 else ys + (1,))
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
    return MatMul.apply(x, y)


class Linear(Function):
    """y = x W^T + b for x of shape (..., in), W (out, in), b (out,).

    dL/dx = g W,  dL/dW = g^T x (summed over leading axes),  dL/db = sum g.
    """
    def forward(self, x, w, b):
        if x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input has {x.shape[-1]} features (shape "
                             f"{tuple(x.shape)}), weight expects {w.shape[1]} (weight shape "
                             f"{tuple(w.shape)})")
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
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            gb = g2.sum(axis=0)
        return gx, gw, gb


def linear(x, weight, bias=None):
    return Linear.apply(x, weight, bias)
