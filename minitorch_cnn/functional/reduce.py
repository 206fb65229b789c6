"""Reductions over axes: sum, mean, var, max, min (``dim`` and ``keepdim`` as torch)."""
from ..autograd import Function
from ..backend import get_array_module

__all__ = ["sum", "mean", "var", "max", "min"]


def _axes(dim, ndim):
    """None -> all axes; int or tuple -> a tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    for d in dims:
        if not -ndim <= d < max(ndim, 1):
            raise IndexError(f"dimension {d} out of range for a tensor of {ndim} dims")
    return tuple(sorted(d % max(ndim, 1) for d in dims))


def _expand_back(g, shape, axes, keepdim):
    """Put back the reduced axes as size 1 so ``g`` broadcasts against the input."""
    if not keepdim:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
    return g


class Sum(Function):
    """y = sum_i x_i;  dy/dx_i = 1"""
    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    def backward(self, g):
        g = _expand_back(g, self.shape, self.axes, self.keepdim)
        return get_array_module(g).broadcast_to(g, self.shape), None, None


class Mean(Function):
    """y = (1/n) sum_i x_i;  dy/dx_i = 1/n"""
    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        self.n = 1
        for a in axes:
            self.n *= x.shape[a]
        return x.mean(axis=axes, keepdims=keepdim)

    def backward(self, g):
        g = _expand_back(g, self.shape, self.axes, self.keepdim) / self.n
        return get_array_module(g).broadcast_to(g, self.shape), None, None


class Var(Function):
    """v = sum_i (x_i - m)^2 / (n - c), c = 1 if unbiased;  dv/dx_i = 2 (x_i - m) / (n - c)"""
    def forward(self, x, axes, keepdim, unbiased):
        n = 1
        for a in axes:
            n *= x.shape[a]
        self.denom = n - 1 if unbiased else n
        centered = x - x.mean(axis=axes, keepdims=True)
        self.save_for_backward(centered)
        self.axes, self.keepdim, self.shape = axes, keepdim, x.shape
        return (centered * centered).sum(axis=axes, keepdims=keepdim) / self.denom

    def backward(self, g):
        (centered,) = self.saved
        g = _expand_back(g, self.shape, self.axes, self.keepdim)
        return g * centered * (2.0 / self.denom), None, None, None


class MaxMin(Function):
    """y = max_i x_i;  the gradient goes to the arg-max (split evenly between ties
    when reducing over several axes at once, to the first one for a single ``dim``,
    as torch does)."""
    def forward(self, x, axes, keepdim, is_max):
        y = x.max(axis=axes, keepdims=True) if is_max else x.min(axis=axes, keepdims=True)
        xp = get_array_module(x)
        if len(axes) == 1:           # one winner per slice: the first extreme value
            a = axes[0]
            idx = (x.argmax(axis=a) if is_max else x.argmin(axis=a))
            idx = xp.expand_dims(idx, a)
            mask = xp.zeros(x.shape, dtype=bool)
            xp.put_along_axis(mask, idx, True, axis=a)
            mask = mask.astype(x.dtype)
        else:                        # ties share the gradient
            mask = (x == y).astype(x.dtype)
            mask /= mask.sum(axis=axes, keepdims=True)
        self.save_for_backward(mask)
        self.axes, self.keepdim, self.shape = axes, keepdim, x.shape
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, g):
        (mask,) = self.saved
        return _expand_back(g, self.shape, self.axes, self.keepdim) * mask, None, None, None


def sum(x, dim=None, keepdim=False):
    return Sum.apply(x, _axes(dim, x.ndim), keepdim)


def mean(x, dim=None, keepdim=False):
    return Mean.apply(x, _axes(dim, x.ndim), keepdim)


def var(x, dim=None, keepdim=False, unbiased=True):
    return Var.apply(x, _axes(dim, x.ndim), keepdim, unbiased)


def max(x, dim=None, keepdim=False):
    """Largest entry (``dim=None``) or largest along ``dim`` (values only)."""
    return MaxMin.apply(x, _axes(dim, x.ndim), keepdim, True)


def min(x, dim=None, keepdim=False):
    return MaxMin.apply(x, _axes(dim, x.ndim), keepdim, False)
