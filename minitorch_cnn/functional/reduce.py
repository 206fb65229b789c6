"""Reductions over axes: sum, mean, var, max, min, amax, amin (``dim``, ``keepdim`` as torch).

``dim`` is None (every axis), an int, or a tuple of ints. Backward puts the reduced
axes back as size 1 and broadcasts the gradient over them.

Like torch, ``max(x)`` returns one value, while ``max(x, dim)`` returns the pair
``(values, indices)``; ``amax(x, dim)`` returns the values only and accepts a tuple of dims.

dtypes as torch: the sum of a bool or integer tensor is int64 ((pred == y).sum() counts);
mean and var need a floating-point tensor. NaN wins every max and min (NaN is "largest"
and "smallest"), and its index is the first NaN's.
"""
import operator
from collections import namedtuple

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor

__all__ = ["sum", "mean", "var", "max", "min", "amax", "amin"]


def _axes(op, dim, ndim):
    """None -> all axes; int or tuple -> a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if not isinstance(dim, (tuple, list)) else tuple(dim)
    n = ndim if ndim > 0 else 1           # (this module's max/min shadow the builtins)
    out = []
    for d in dims:
        d = operator.index(d)
        if not -n <= d < n:
            raise IndexError(f"{op}: dim {d} out of range for a tensor with {ndim} dims")
        out.append(d % n)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dims} names one axis twice")
    return tuple(sorted(out)) if ndim > 0 else ()   # a 0-d tensor: dim 0 / -1 reduce nothing


def _expand_back(g, shape, axes, keepdim):
    """Put back the reduced axes as size 1 so ``g`` broadcasts against the input."""
    if not keepdim:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
    return g


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Sum(Function):
    """y = sum_i x_i;  dy/dx_i = 1.  Saves nothing (only the shape)."""
    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        # bool and integers sum in int64, as torch (NumPy would give uint64 for uint8)
        return x.sum(axis=axes, keepdims=keepdim,
                     dtype=np.int64 if x.dtype.kind in "biu" else None)

    def backward(self, g):
        g = _expand_back(g, self.shape, self.axes, self.keepdim)
        return get_array_module(g).broadcast_to(g, self.shape)


class Mean(Function):
    """y = (1/n) sum_i x_i;  dy/dx_i = 1/n.  Saves nothing (only the shape)."""
    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        self.n = _count(x.shape, axes)
        return x.mean(axis=axes, keepdims=keepdim)

    def backward(self, g):
        g = _expand_back(g, self.shape, self.axes, self.keepdim) / self.n
        return get_array_module(g).broadcast_to(g, self.shape)


class Var(Function):
    """v = sum_i (x_i - m)^2 / (n - c), m the mean, c the correction (1: unbiased);
    dv/dx_i = 2 (x_i - m) / (n - c) (the m-term sums to zero).  Saves x - m."""
    def forward(self, x, axes, keepdim, correction):
        self.denom = _count(x.shape, axes) - correction
        centered = x - x.mean(axis=axes, keepdims=True)
        self.save_for_backward(centered)
        self.axes, self.keepdim, self.shape = axes, keepdim, x.shape
        return (centered * centered).sum(axis=axes, keepdims=keepdim) / self.denom

    def backward(self, g):
        (centered,) = self.saved
        g = _expand_back(g, self.shape, self.axes, self.keepdim)
        return g * centered * (2.0 / self.denom)


class Extreme(Function):
    """y = max_i x_i (or min) over ``axes``; the gradient is split evenly between
    the entries that tie for the extreme (torch's rule for max(x) and amax).
    A NaN entry makes y NaN. Then, as torch: max(x) and min(x) (``nan_ties``) split the
    gradient between the NaN entries; amax and amin give the slice a NaN gradient.
    Saves a boolean mask of the winners and their count per slice."""
    def forward(self, x, axes, keepdim, is_max, nan_ties=False):
        y = x.max(axis=axes, keepdims=True) if is_max else x.min(axis=axes, keepdims=True)
        mask = x == y
        if nan_ties and x.dtype.kind == "f" and get_array_module(x).isnan(y).any():
            mask = get_array_module(x).isnan(x)          # (axes are all axes here)
        self.save_for_backward(mask, mask.sum(axis=axes, keepdims=True).astype(x.dtype))
        self.axes, self.keepdim, self.shape = axes, keepdim, x.shape
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, g):
        mask, count = self.saved
        with np.errstate(divide="ignore", invalid="ignore"):  # no winner (NaN): 0/0 = NaN
            return _expand_back(g, self.shape, self.axes, self.keepdim) * mask / count


class Gather(Function):
    """y = x[..., idx, ...] along one axis (idx holds one position per slice, with
    the axis kept as size 1);  dL/dx is dL/dy at those positions and 0 elsewhere.
    Saves the indices."""
    def forward(self, x, idx, axis, keepdim):
        xp = get_array_module(x)
        self.save_for_backward(idx)
        self.shape, self.axis, self.dtype = x.shape, axis, x.dtype
        y = xp.take_along_axis(x, idx, axis=axis)          # (.., 1, ..)
        return y if keepdim else y.squeeze(axis)

    def backward(self, g):
        (idx,) = self.saved
        xp = get_array_module(g)
        g = g if g.ndim == len(self.shape) else xp.expand_dims(g, self.axis)
        # position along the axis, shaped to broadcast: (1, .., n, .., 1)
        pos = xp.arange(self.shape[self.axis]).reshape(
            [-1 if i == self.axis else 1 for i in range(len(self.shape))])
        return xp.where(pos == idx, g, xp.zeros((), self.dtype))


def sum(x, dim=None, keepdim=False):
    return Sum.apply(x, axes=_axes("sum", dim, x.ndim), keepdim=keepdim)


def _floating(op, x):
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got {x.dtype} (as in torch, "
                        f"the {op} of integers or bools is not defined); use "
                        f"t.float().{op}(), e.g. (pred == y).float().mean()")


def mean(x, dim=None, keepdim=False):
    _floating("mean", x)
    return Mean.apply(x, axes=_axes("mean", dim, x.ndim), keepdim=keepdim)


def var(x, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """Variance over ``dim``, divided by n - 1 (``unbiased``) or n; ``correction=c``
    divides by n - c (torch's newer spelling) and overrides ``unbiased``."""
    _floating("var", x)
    if correction is None:
        correction = 1 if unbiased else 0
    return Var.apply(x, axes=_axes("var", dim, x.ndim), keepdim=keepdim, correction=correction)


max_result = namedtuple("max", ["values", "indices"])
min_result = namedtuple("min", ["values", "indices"])


def _extreme(op, x, dim, keepdim, is_max):
    if dim is None:
        return Extreme.apply(x, axes=_axes(op, None, x.ndim), keepdim=keepdim, is_max=is_max,
                             nan_ties=True)
    if isinstance(dim, (tuple, list, Tensor)):
        raise TypeError(f"{op}: dim must be one int (or None); use a{op}(x, dim=(..)) to "
                        f"reduce over several dims")
    if x.ndim == 0:                       # torch allows dim 0 / -1 on a 0-d tensor
        _axes(op, dim, 0)
        return _extreme(op, x.reshape(1), 0, False, is_max)
    (axis,) = _axes(op, dim, x.ndim)
    xp = x.xp
    idx = xp.expand_dims(x.data.argmax(axis=axis) if is_max else x.data.argmin(axis=axis),
                         axis)                                   # (.., 1, ..), int64
    values = Gather.apply(x, idx=idx, axis=axis, keepdim=keepdim)
    indices = Tensor(idx if keepdim else idx.squeeze(axis))
    return (max_result if is_max else min_result)(values, indices)


def max(x, dim=None, keepdim=False):
    """``max(x)``: the largest entry (the gradient is split between ties).
    ``max(x, dim)``: the pair ``(values, indices)`` along ``dim``, as torch; the
    gradient goes to the first largest entry of each slice (the one in ``indices``)."""
    return _extreme("max", x, dim, keepdim, True)


def min(x, dim=None, keepdim=False):
    """As ``max``, for the smallest entry."""
    return _extreme("min", x, dim, keepdim, False)


def amax(x, dim=None, keepdim=False):
    """Largest entry over ``dim`` (None, int or tuple), values only; ties share the gradient."""
    return Extreme.apply(x, axes=_axes("amax", dim, x.ndim), keepdim=keepdim, is_max=True)


def amin(x, dim=None, keepdim=False):
    """Smallest entry over ``dim`` (None, int or tuple), values only; ties share the gradient."""
    return Extreme.apply(x, axes=_axes("amin", dim, x.ndim), keepdim=keepdim, is_max=False)
