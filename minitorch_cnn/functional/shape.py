"""Ops that move entries around without changing them: reshape, permute, slicing,
concatenation, splitting, padding, device/dtype copies. Backward moves the gradient back.

Where an op only broadcasts (``expand``), backward returns the gradient at the output
shape and the autograd engine sums it back to the input's shape.
"""
import math
import numbers

import numpy as np

from .. import autograd, backend
from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor
from .dtypes import promote, result_type

__all__ = ["reshape", "flatten", "unsqueeze", "squeeze", "permute", "transpose", "expand",
           "clone", "getitem", "setitem", "cat", "stack", "split", "chunk", "pad", "to_copy"]


def _dims(args):
    """f(x, 2, 3) and f(x, (2, 3)) mean the same, as in torch."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _dim(op, d, ndim):
    """A dim in [-ndim, ndim) as a non-negative axis, or a clear IndexError."""
    if not -ndim <= d < ndim:
        raise IndexError(f"{op}: dim {d} out of range for a tensor with {ndim} dims "
                         f"(expected in [{-ndim}, {ndim - 1}])")
    return d % ndim


# ----------------------------------------------------------------- views
class Reshape(Function):
    """y = x viewed with a new shape; dL/dx = dL/dy viewed with x's shape."""
    def forward(self, x, shape):
        self.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot view a tensor of shape {tuple(x.shape)} "
                             f"({x.size} elements) as {tuple(shape)}") from None

    def backward(self, g):
        return g.reshape(self.in_shape)


def reshape(x, *shape):
    return Reshape.apply(x, shape=_dims(shape))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) for start_dim=1."""
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = _dim("flatten", start_dim, x.ndim), _dim("flatten", end_dim, x.ndim)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape
    return reshape(x, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def unsqueeze(x, dim):
    """Insert a dim of size 1 at ``dim`` (in [-ndim-1, ndim])."""
    d = _dim("unsqueeze", dim, x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x, dim=None):
    """Drop dims of size 1: all of them, or those among ``dim`` (int or tuple);
    a named dim whose size is not 1 is left alone, as torch does."""
    if dim is None:
        drop = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        drop = {d for d in (_dim("squeeze", d, max(x.ndim, 1)) for d in dims)
                if x.ndim > 0 and x.shape[d] == 1}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in drop))


class Permute(Function):
    """y = x with its axes reordered, y.shape[i] = x.shape[dims[i]];
    dL/dx = dL/dy permuted by the inverse order (argsort of dims)."""
    def forward(self, x, dims):
        self.inverse = tuple(int(i) for i in np.argsort(dims))
        return x.transpose(dims)

    def backward(self, g):
        return g.transpose(self.inverse)


def permute(x, *dims):
    dims = _dims(dims)
    norm = tuple(_dim("permute", d, x.ndim) for d in dims) if x.ndim else dims
    if sorted(norm) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not an ordering of the {x.ndim} dims of "
                         f"a tensor of shape {tuple(x.shape)}")
    return Permute.apply(x, dims=norm)


def transpose(x, dim0, dim1):
    """Swap two dims."""
    if x.ndim == 0:
        return x
    order = list(range(x.ndim))
    a, b = _dim("transpose", dim0, x.ndim), _dim("transpose", dim1, x.ndim)
    order[a], order[b] = order[b], order[a]
    return Permute.apply(x, dims=tuple(order))


class Expand(Function):
    """y = x broadcast to ``shape`` (a view, no copy); backward returns dL/dy as is and
    the engine sums it over the broadcast axes."""
    def forward(self, x, shape):
        return get_array_module(x).broadcast_to(x, shape)

    def backward(self, g):
        return g


def expand(x, *sizes):
    """Broadcast size-1 dims to larger sizes (-1 keeps a dim); new dims go in front."""
    sizes = _dims(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes {sizes} given for a tensor with "
                         f"{x.ndim} dims (shape {tuple(x.shape)})")
    shape = []
    for i, n in enumerate(sizes):
        old = x.shape[i - lead] if i >= lead else None
        if n == -1:
            if old is None:
                raise ValueError(f"expand: -1 is not allowed for the new leading dim {i} "
                                 f"(sizes {sizes})")
            n = old
        elif old is not None and old != n and old != 1:
            raise ValueError(f"expand: the size of dim {i - lead} must be {old} or the "
                             f"tensor's size must be 1 to expand it to {n} (shape "
                             f"{tuple(x.shape)}, sizes {sizes})")
        shape.append(n)
    return Expand.apply(x, shape=tuple(shape))


class Clone(Function):
    """y = a copy of x;  dL/dx = dL/dy."""
    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


def clone(x):
    return Clone.apply(x)


# -------------------------------------------------------------- indexing
class GetItem(Function):
    """y = x[index];  dL/dx is zero except at the picked entries, which get dL/dy.

    With basic indexing (ints, slices, None, ...) every entry is picked at most once,
    so dL/dx[index] = dL/dy is exact. An integer array may pick one entry several
    times (x[[0, 0]]): then the gradients must add up, which ``add.at`` does
    (NumPy's ufunc.at; CuPy >= 12 has the same).  Saves the index only.
    """
    def forward(self, x, index):
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        self.basic = all(isinstance(i, (numbers.Integral, slice)) or i is None or i is Ellipsis
                         for i in index)
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (tensor of shape {tuple(x.shape)})") from None

    def backward(self, g):
        xp = get_array_module(g)
        gx = xp.zeros(self.shape, self.dtype)
        if self.basic:
            gx[self.index] = g
        else:
            xp.add.at(gx, self.index, g)
        return gx


def _index_part(i, device):
    """One component of an index, as raw NumPy/CuPy on x's device: Tensors and lists
    become integer arrays; a boolean mask becomes the integer arrays of its nonzeros
    (the same selection, and add.at handles it)."""
    if isinstance(i, Tensor):
        i = i.data
    if isinstance(i, list):
        i = np.asarray(i)
    if hasattr(i, "dtype") and hasattr(i, "ndim") and not isinstance(i, np.generic):
        i = backend.to_device(i, device)
        if i.dtype == bool and i.ndim > 0:
            return tuple(i.nonzero())
        if i.dtype.kind not in "iub":
            raise IndexError(f"getitem: index arrays must be integer or boolean, got {i.dtype}")
        return (i,)
    return (i,)


def getitem(x, index):
    """x[index] with ints, slices (negative steps too), None, ..., integer arrays
    (lists, Tensors) and boolean masks, as NumPy and torch read them."""
    parts = index if isinstance(index, tuple) else (index,)
    index = tuple(p for part in parts for p in _index_part(part, x.device))
    return GetItem.apply(x, index=index)


class SetItem(Function):
    """x[index] = v, written into x's own memory (the tensor keeps its identity, and its
    views see the change, as in torch).

    dL/dx (before the write) = dL/dx (after) with the overwritten entries zeroed: they no
    longer reach the output;  dL/dv = dL/dx (after) at the written entries (the engine sums
    it back over the entries v was broadcast to).  Saves the index only.
    """
    def forward(self, x, v, index):
        self.index = index
        x[index] = v
        return x

    def backward(self, g):
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = g.copy()
            gx[self.index] = 0
        if self.needs_input_grad[1]:
            gv = g[self.index]
        return gx, gv


def setitem(x, index, value):
    """``x[index] = value`` in place (the indices getitem takes; value a number, a list,
    an array or a Tensor that broadcasts to x[index]).

    Inside the graph (value or x needs a gradient), x becomes the output of a SetItem op,
    as torch's CopySlices; a leaf that requires grad refuses, as in torch. Any op that saved
    x's old numbers for its backward then refuses to run backward (autograd.mark_written)."""
    if not isinstance(value, (Tensor, numbers.Number, np.ndarray, np.generic, list, tuple)) \
            and not backend.is_cupy_array(value):
        raise TypeError(f"setitem: can't assign a {type(value).__name__} to a tensor; "
                        f"expected a number, a list, an array or a Tensor")
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise TypeError(f"setitem: can't assign a {value.dtype} array to a {x.dtype} tensor")
    grad = autograd.is_grad_enabled()
    if grad and x.requires_grad and x.grad_fn is None:
        raise RuntimeError("a leaf tensor that requires grad is being used in an in-place "
                           "operation (t[i] = v); do it under no_grad(), or build a new "
                           "tensor (t = t.clone(); t[i] = v)")
    parts = index if isinstance(index, tuple) else (index,)
    index = tuple(p for part in parts for p in _index_part(part, x.device))
    raw = value.data if isinstance(value, Tensor) else value
    if isinstance(value, Tensor) and value.device != x.device:
        raise RuntimeError(f"setitem: the value is on {value.device}, the tensor on "
                           f"{x.device}; move it with value.to({x.device!r})")
    try:
        if grad and (x.requires_grad or getattr(value, "requires_grad", False)):
            # x as an input: its graph node if it has one, else its numbers (a constant)
            out = SetItem.apply(x if x.grad_fn is not None else x.data, value, index=index)
            x.grad_fn, x.requires_grad = out.grad_fn, True
        else:
            x.data[index] = raw
    except (IndexError, ValueError) as e:
        raise type(e)(f"setitem: {e} (tensor of shape {tuple(x.shape)}, value of shape "
                      f"{tuple(getattr(raw, 'shape', ()))})") from None
    autograd.mark_written(x.data)


# ------------------------------------------------- joining and splitting
class Cat(Function):
    """y = [x_1, x_2, ...] joined along ``dim``;  dL/dx_k is y's slice of x_k."""
    def forward(self, *xs, dim):
        xp = get_array_module(xs[0])
        self.dim, self.dtypes = dim, [x.dtype for x in xs]
        self.bounds = np.cumsum([x.shape[dim] for x in xs])[:-1].tolist()   # where to cut g
        return xp.concatenate(xs, axis=dim)

    def backward(self, g):
        pieces = get_array_module(g).split(g, self.bounds, axis=self.dim)
        return tuple(p.astype(t, copy=False) for p, t in zip(pieces, self.dtypes))


def _same_rank(op, tensors):
    if not isinstance(tensors, (list, tuple)) or len(tensors) == 0:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    ndim = tensors[0].ndim
    for t in tensors:
        if t.ndim != ndim:
            raise ValueError(f"{op}: all tensors need the same number of dims, got shapes "
                             f"{[tuple(t.shape) for t in tensors]}")
    return ndim


def _one_dtype(tensors):
    """Mixed dtypes promote as in torch (float32 with int64: float32), not as NumPy's
    concatenate would (float64)."""
    dtype = result_type(*tensors)
    return promote(dtype, *tensors)


def cat(tensors, dim=0):
    """Join tensors along an existing dim; the other dims must agree."""
    ndim = _same_rank("cat", tensors)
    if ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be joined; use stack")
    d = _dim("cat", dim, ndim)
    ref = tensors[0].shape
    for t in tensors:
        if any(a != b for i, (a, b) in enumerate(zip(t.shape, ref)) if i != d):
            raise ValueError(f"cat: shapes {[tuple(t.shape) for t in tensors]} differ outside "
                             f"dim {d}")
    return Cat.apply(*_one_dtype(tensors), dim=d)


class Stack(Function):
    """y = the x_k stacked along a new dim;  dL/dx_k = y's k-th slice along it."""
    def forward(self, *xs, dim):
        self.dim = dim
        return get_array_module(xs[0]).stack(xs, axis=dim)

    def backward(self, g):
        return tuple(get_array_module(g).moveaxis(g, self.dim, 0))


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim."""
    ndim = _same_rank("stack", tensors)
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack: expects tensors of one shape, got "
                         f"{[tuple(t.shape) for t in tensors]}")
    return Stack.apply(*_one_dtype(tensors), dim=_dim("stack", dim, ndim + 1))


def split(x, split_size_or_sections, dim=0):
    """Cut ``x`` along ``dim`` into pieces of ``split_size`` (the last may be smaller)
    or of the listed sizes (which must add up to the dim's size). Returns a tuple."""
    d = _dim("split", dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} must be >= 0 and add up to {n}, the size "
                             f"of dim {d} (shape {tuple(x.shape)})")
    pieces, start = [], 0
    for s in sizes:
        pieces.append(getitem(x, (slice(None),) * d + (slice(start, start + s),)))
        start += s
    return tuple(pieces)


def chunk(x, chunks, dim=0):
    """Cut ``x`` into ``chunks`` pieces of ceil(n / chunks) along ``dim`` (fewer if
    n is too small, as torch)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[_dim("chunk", dim, x.ndim)]
    return split(x, max(math.ceil(n / chunks), 1), dim)


# --------------------------------------------------------------- padding
class ConstantPad(Function):
    """y = x surrounded by ``value``: lo_d entries before and hi_d after along each dim d
    (negative amounts crop instead). y[dst] = x[src] for the overlapping block;
    dL/dx[src] = dL/dy[dst] and 0 for the cropped entries."""
    def forward(self, x, pads, value):
        xp = get_array_module(x)
        out_shape, src, dst = [], [], []
        for n, (lo, hi) in zip(x.shape, pads):
            m = n + lo + hi
            if m < 0:
                raise ValueError(f"pad: padding {pads} leaves a negative size for a tensor "
                                 f"of shape {tuple(x.shape)}")
            k = max(n - max(-lo, 0) - max(-hi, 0), 0)   # entries of x that survive
            out_shape.append(m)
            src.append(slice(max(-lo, 0), max(-lo, 0) + k))
            dst.append(slice(max(lo, 0), max(lo, 0) + k))
        self.shape, self.dtype, self.src, self.dst = x.shape, x.dtype, tuple(src), tuple(dst)
        y = xp.full(out_shape, value, x.dtype)
        y[self.dst] = x[self.src]
        return y

    def backward(self, g):
        gx = get_array_module(g).zeros(self.shape, self.dtype)
        gx[self.src] = g[self.dst]
        return gx


def pad(x, pad, mode="constant", value=0):
    """Pad with ``value``; ``pad`` lists (left, right) amounts starting from the LAST dim:
    (1, 1) pads W, (1, 1, 2, 2) pads W by 1 and H by 2, as torch.nn.functional.pad.
    Only mode='constant' is implemented."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not implemented; only 'constant'")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) > 2 * x.ndim:
        raise ValueError(f"pad: expected an even number of amounts, at most 2 per dim "
                         f"({2 * x.ndim} for shape {tuple(x.shape)}), got {pad}")
    # (lo, hi) per dim, first dim first: the pad tuple names the last dim first
    pairs = [(0, 0)] * (x.ndim - len(pad) // 2) + [
        (pad[2 * k], pad[2 * k + 1]) for k in reversed(range(len(pad) // 2))]
    return ConstantPad.apply(x, pads=tuple(pairs), value=value)


# -------------------------------------------------------- device / dtype
class ToCopy(Function):
    """y = x on another device and/or dtype; the gradient goes back the same way."""
    def forward(self, x, dtype, device):
        self.in_dtype, self.in_device = x.dtype, backend.device_of(x)
        y = backend.to_device(x, device) if device is not None else x
        if dtype is not None:
            y = y.astype(dtype, copy=False)
        return y

    def backward(self, g):
        return backend.to_device(g, self.in_device).astype(self.in_dtype, copy=False)


def to_copy(x, dtype=None, device=None):
    if device is not None:
        device = backend.normalize_device(device)
    if dtype is not None:
        dtype = np.dtype(dtype)
    if (device is None or device == x.device) and (dtype is None or dtype == x.dtype):
        return x
    return ToCopy.apply(x, dtype=dtype, device=device)
