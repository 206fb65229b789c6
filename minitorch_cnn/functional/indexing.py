"""Ops that pick entries by a condition or by index: where, masked_fill, gather, sort,
argsort, topk, one_hot.

Picking is linear, so each backward sends the gradient back to the entries that were
picked (adding it up where one entry was picked twice) and 0 to the others.
"""
from collections import namedtuple

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor
from .dtypes import promote, result_type
from .elementwise import _check_broadcast, _scalar

__all__ = ["where", "masked_fill", "gather", "take_along_dim", "sort", "argsort", "topk",
           "one_hot"]


def _raw_bool(op, cond, device):
    """A condition as a raw bool array on ``device``."""
    raw = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    if raw.dtype != bool:
        raise TypeError(f"{op}: expected a bool condition (mask), got {raw.dtype}; compare "
                        f"first (x > 0) or convert with mask.bool()")
    return backend.to_device(raw, device)


# ------------------------------------------------------------------ where
class Where(Function):
    """z = x where c, else y (c a bool mask, broadcast);  dz/dx = c, dz/dy = not c.
    Saves the mask."""
    def forward(self, x, y, cond):
        _check_broadcast("where", cond, x)
        _check_broadcast("where", cond, y)
        _check_broadcast("where", x, y)
        self.save_for_backward(cond)
        return get_array_module(cond).where(cond, x, y)

    def backward(self, g):
        (cond,) = self.saved
        xp = get_array_module(g)
        zero = xp.zeros((), g.dtype)
        return (xp.where(cond, g, zero) if self.needs_input_grad[0] else None,
                xp.where(cond, zero, g) if self.needs_input_grad[1] else None)


def where(condition, input=None, other=None):
    """``where(c, x, y)``: x where c is True, else y (tensors or numbers, broadcast; the
    dtype as x + y would have). ``where(c)``: the indices of the True entries, one index
    tensor per dim (as ``c.nonzero(as_tuple=True)``)."""
    if input is None and other is None:
        raw = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
        return tuple(Tensor(i.astype(np.int64)) for i in raw.nonzero())
    if input is None or other is None:
        raise TypeError("where: expected where(condition, input, other) or where(condition)")
    device = next((t.device for t in (input, other, condition) if isinstance(t, Tensor)), "cpu")
    cond = _raw_bool("where", condition, device)
    input, other = _scalar(input), _scalar(other)
    dtype = result_type(input, other)
    input, other = promote(dtype, input, other)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        return Tensor(get_array_module(cond).where(cond, input, other).astype(dtype))
    # numbers become 0-d arrays of the result dtype, so NumPy keeps that dtype
    xp = get_array_module(cond)
    input, other = (v if isinstance(v, Tensor) else xp.asarray(v, dtype) for v in (input, other))
    return Where.apply(input, other, cond=cond)


def masked_fill(input, mask, value):
    """``input`` with ``value`` (a number or a 0-d tensor) where the bool ``mask`` is
    True (mask broadcasts to input's shape); input's dtype is kept, as in torch."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape "
                             f"{tuple(value.shape)}")
        value = value.to(input.dtype)
    else:
        value = input.xp.asarray(_scalar(value)).astype(input.data.dtype)
    cond = _raw_bool("masked_fill", mask, input.device)
    if np.broadcast_shapes(cond.shape, input.shape) != tuple(input.shape):
        raise ValueError(f"masked_fill: mask of shape {tuple(cond.shape)} does not broadcast "
                         f"to the input's shape {tuple(input.shape)}")
    return Where.apply(value, input, cond=cond)


# ------------------------------------------------------------------ gather
class TakeAlongDim(Function):
    """y = x[.., idx[.., j, ..], ..] along axis d: y_j = x_{idx_j} (the other axes as they
    are);  dL/dx_i = sum of dL/dy_j over the j with idx_j = i (np.add.at: an entry picked
    twice gets both gradients).  Saves the index array."""
    def forward(self, x, idx, axis):
        self.save_for_backward(idx)
        self.shape, self.axis, self.dtype = x.shape, axis, x.dtype
        return get_array_module(x).take_along_axis(x, idx, axis=axis)

    def backward(self, g):
        (idx,) = self.saved
        xp = get_array_module(g)
        where = list(xp.indices(idx.shape, sparse=True))       # each axis' own position...
        where[self.axis] = idx                                 # ...but idx along ``axis``
        gx = xp.zeros(self.shape, self.dtype)
        xp.add.at(gx, tuple(where), g)
        return gx


def _dim(op, dim, ndim):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} out of range for a tensor with {ndim} dims")
    return dim % n


def _index_array(op, index, device):
    raw = index.data if isinstance(index, Tensor) else np.asarray(index)
    if raw.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected an integer (int64) index tensor, got {raw.dtype}")
    return backend.to_device(raw.astype(np.int64, copy=False), device)


def gather(input, dim, index):
    """out[i][j][k] = input[index[i][j][k]][j][k] for dim 0 (and so on): pick along ``dim``
    by ``index``, which has input's number of dims and sizes no larger than input's."""
    d = _dim("gather", dim, input.ndim)
    idx = _index_array("gather", index, input.device)
    if idx.ndim != input.ndim:
        raise ValueError(f"gather: index has {idx.ndim} dims, input {input.ndim} (shape "
                         f"{tuple(input.shape)}); they must be equal")
    if any(i != d and a > b for i, (a, b) in enumerate(zip(idx.shape, input.shape))):
        raise ValueError(f"gather: index of shape {tuple(idx.shape)} is larger than input "
                         f"{tuple(input.shape)} outside dim {d}")
    n = input.shape[d] if input.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"gather: index {int(idx.max() if idx.max() >= n else idx.min())} "
                         f"is out of bounds for dim {d} of size {n}")
    idx = idx % max(n, 1)
    # torch lets index be smaller than input outside dim: keep input's leading block
    block = tuple(slice(None) if i == d else slice(0, s) for i, s in enumerate(idx.shape))
    x = input[block] if input.shape != idx.shape else input
    return TakeAlongDim.apply(x, idx=idx, axis=d)


def take_along_dim(input, indices, dim):
    """NumPy's take_along_axis, in the graph (``indices`` broadcast against input)."""
    d = _dim("take_along_dim", dim, input.ndim)
    return TakeAlongDim.apply(input, idx=_index_array("take_along_dim", indices, input.device),
                              axis=d)


# ------------------------------------------------------------ sort, topk
sort_result = namedtuple("sort", ["values", "indices"])
topk_result = namedtuple("topk", ["values", "indices"])


def argsort(input, dim=-1, descending=False, stable=False):
    """The indices that sort ``input`` along ``dim`` (int64). Ties keep their order (a
    stable sort); NaN sorts as the largest value, as in torch."""
    if input.ndim == 0:
        return Tensor(np.zeros((), np.int64))
    d = _dim("argsort", dim, input.ndim)
    xp, a = input.xp, input.data
    if not descending:
        return Tensor(xp.argsort(a, axis=d, kind="stable"))
    # descending and stable: sort the reversed array ascending, reverse that order back,
    # and map its positions to the original ones (n - 1 - i)
    n = a.shape[d]
    order = xp.argsort(xp.flip(a, axis=d), axis=d, kind="stable")
    return Tensor(n - 1 - xp.flip(order, axis=d))


def sort(input, dim=-1, descending=False, stable=False):
    """``(values, indices)`` of ``input`` sorted along ``dim``; values stay in the graph."""
    if input.ndim == 0:
        return sort_result(input, Tensor(np.zeros((), np.int64)))
    d = _dim("sort", dim, input.ndim)
    idx = argsort(input, d, descending)
    return sort_result(TakeAlongDim.apply(input, idx=idx.data, axis=d), idx)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """``(values, indices)`` of the k largest (``largest=False``: smallest) entries along
    ``dim``, largest first; values stay in the graph."""
    d = _dim("topk", dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise IndexError(f"topk: k = {k} is out of range for dim {d} of size {n}")
    if input.ndim == 0:
        return topk_result(input, Tensor(np.zeros((), np.int64)))
    order = argsort(input, d, descending=largest).data
    idx = order[(slice(None),) * d + (slice(0, k),)]
    return topk_result(TakeAlongDim.apply(input, idx=idx, axis=d), Tensor(idx))


# ---------------------------------------------------------------- one_hot
def one_hot(tensor, num_classes=-1):
    """Class indices (N, *) -> (N, *, num_classes) int64 rows of 0s with a 1 at the class
    (num_classes = -1: one more than the largest index)."""
    raw = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if raw.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected integer class indices (int64), got {raw.dtype}")
    xp = get_array_module(raw)
    if num_classes == -1:
        if raw.size == 0:
            raise ValueError("one_hot: can not infer the number of classes from an empty "
                             "tensor; pass num_classes")
        num_classes = int(raw.max()) + 1
    if raw.size and (raw.min() < 0 or raw.max() >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got "
                         f"{int(raw.min())}..{int(raw.max())}")
    return Tensor((raw[..., None] == xp.arange(num_classes)).astype(np.int64))
