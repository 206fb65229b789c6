"""The Tensor: an n-dimensional array (NumPy or CuPy) plus what autograd needs.

``t.data`` is the raw array, ``t.grad`` a Tensor (filled by ``backward``),
``t.grad_fn`` the Function that made ``t`` (None for a leaf). Arithmetic and
methods call the ops in ``minitorch_cnn.functional``; nothing is patched in.
"""
import numbers

import numpy as np

from . import backend
from . import autograd


def _as_array(data, dtype=None, device=None):
    """Turn lists, scalars, NumPy/CuPy arrays into an array of the right dtype/device."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = np.dtype(dtype)
    if backend.is_cupy_array(data) or isinstance(data, (np.ndarray, np.generic)):
        arr = data if not isinstance(data, np.generic) else np.asarray(data)
        if dtype is not None and arr.dtype != dtype:
            arr = arr.astype(dtype)
    else:
        arr = np.asarray(data)
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        elif arr.dtype.kind == "f":                # python floats -> the default dtype
            arr = arr.astype(backend.get_default_dtype(), copy=False)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64, copy=False)
    if device is not None:
        arr = backend.to_device(arr, device)
    return arr


class Tensor:
    __array_priority__ = 1000   # NumPy scalars defer to Tensor's reflected operators

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.data = _as_array(data, dtype, device)
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients, "
                               f"got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.grad_fn = None

    # ------------------------------------------------------------ properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def xp(self):
        """numpy or cupy: the module that owns ``self.data``."""
        return backend.get_array_module(self.data)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def dim(self):
        return self.data.ndim

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        return self.shape[0]

    # -------------------------------------------------------------- autograd
    def backward(self, grad=None, retain_graph=False):
        """Compute d(self)/d(leaf) for every leaf with ``requires_grad`` and add it
        to ``leaf.grad``; ``grad`` is needed unless ``self`` holds one element."""
        autograd.backward(self, grad, retain_graph)

    def _accumulate(self, g):
        """Add ``g`` to ``self.grad``. The stored array is always this tensor's own,
        writable memory (``g`` may be a broadcast view, or shared with another input's
        gradient, as in z = a + b), so ``p.grad.zero_()`` and friends are safe."""
        if g.dtype != self.dtype:
            g = g.astype(self.dtype)
        if self.grad is None:
            owns = g.base is None and g.flags.writeable
            self.grad = Tensor(g if owns and g.shape == self.shape else
                               self.xp.array(self.xp.broadcast_to(g, self.shape)))
        else:
            self.grad = Tensor(self.grad.data + g)

    def register_hook(self, hook):
        """Call ``hook(grad)`` with dL/d(self) (a Tensor) during backward.
        For a leaf it is called once per contribution to ``.grad``."""
        def call(g):
            hook(Tensor(g))
        if self.grad_fn is None:
            def leaf_acc(g, _acc=Tensor._accumulate):
                call(g)
                _acc(self, g)
            self._accumulate = leaf_acc
        else:
            self.grad_fn.output_hooks = tuple(self.grad_fn.output_hooks) + (call,)

    def retain_grad(self):
        """Keep ``.grad`` on a non-leaf tensor too (as PyTorch's retain_grad)."""
        if self.grad_fn is None:
            return
        def keep(g, t=self):
            t._accumulate(g)
        self.grad_fn.output_hooks = tuple(self.grad_fn.output_hooks) + (keep,)

    def detach(self):
        """The same array, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, flag=True):
        if flag and self.data.dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients, "
                               f"got dtype {self.data.dtype}")
        self.requires_grad = flag
        return self

    def zero_(self):
        self.data[...] = 0
        return self

    # ------------------------------------------------------------ conversion
    def numpy(self):
        """A NumPy array (copied from the GPU if needed)."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        return backend.to_device(self.data, "cpu")

    def tolist(self):
        return backend.to_device(self.data, "cpu").tolist()

    def item(self):
        if self.data.size != 1:
            raise RuntimeError(f"item(): only one-element tensors can be converted to a "
                               f"Python scalar, got shape {self.shape}")
        return self.data.reshape(()).item()

    def to(self, *args, dtype=None, device=None):
        """``t.to("cuda")``, ``t.to(np.float64)``, ``t.to(other_tensor)``: a copy that
        stays in the graph (gradients flow back across devices and dtypes)."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, str):
                device = a
            else:
                dtype = a
        from .functional.shape import to_copy
        return to_copy(self, dtype=dtype, device=device)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return Tensor(self.data.astype(np.int64))

    def type_as(self, other):
        return self.to(other.dtype)

    def __repr__(self):
        body = np.array2string(backend.to_device(self.data, "cpu"), precision=4,
                               separator=", ", threshold=50, prefix="tensor(")
        extra = ""
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.dtype != backend.get_default_dtype() and self.dtype.kind == "f":
            extra += f", dtype={self.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn={type(self.grad_fn).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ------------------------------------------------------------- operators
    def __add__(self, o): return F.add(self, o)
    def __radd__(self, o): return F.add(o, self)
    def __sub__(self, o): return F.sub(self, o)
    def __rsub__(self, o): return F.sub(o, self)
    def __mul__(self, o): return F.mul(self, o)
    def __rmul__(self, o): return F.mul(o, self)
    def __truediv__(self, o): return F.div(self, o)
    def __rtruediv__(self, o): return F.div(o, self)
    def __neg__(self): return F.neg(self)
    def __pow__(self, o): return F.pow(self, o)
    def __rpow__(self, o): return F.pow(o, self)
    def __matmul__(self, o): return F.matmul(self, o)
    def __rmatmul__(self, o): return F.matmul(o, self)
    def __getitem__(self, idx): return F.getitem(self, idx)
    def __abs__(self): return F.abs(self)

    # comparisons give boolean tensors outside the graph
    def _cmp(self, o, op):
        return Tensor(op(self.data, o.data if isinstance(o, Tensor) else o))
    def __lt__(self, o): return self._cmp(o, np.less)
    def __le__(self, o): return self._cmp(o, np.less_equal)
    def __gt__(self, o): return self._cmp(o, np.greater)
    def __ge__(self, o): return self._cmp(o, np.greater_equal)
    def eq(self, o): return self._cmp(o, np.equal)
    def ne(self, o): return self._cmp(o, np.not_equal)
    __hash__ = object.__hash__

    # --------------------------------------------------------------- methods
    def sum(self, dim=None, keepdim=False): return F.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return F.mean(self, dim, keepdim)
    def var(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return F.var(self, dim, unbiased, keepdim, correction=correction)
    def max(self, dim=None, keepdim=False): return F.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return F.min(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False):
        a = self.data.argmax(axis=dim)
        if keepdim and dim is not None:
            a = self.xp.expand_dims(a, dim)
        return Tensor(a)
    def argmin(self, dim=None):
        return Tensor(self.data.argmin(axis=dim))
    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def sqrt(self): return F.sqrt(self)
    def abs(self): return F.abs(self)
    def pow(self, p): return F.pow(self, p)
    def clip(self, min=None, max=None): return F.clip(self, min, max)
    clamp = clip
    def relu(self): return F.relu(self)
    def sigmoid(self): return F.sigmoid(self)
    def tanh(self): return F.tanh(self)
    def softmax(self, dim): return F.softmax(self, dim)
    def log_softmax(self, dim): return F.log_softmax(self, dim)
    def matmul(self, o): return F.matmul(self, o)
    def reshape(self, *shape): return F.reshape(self, *shape)
    view = reshape
    def view_as(self, o): return F.reshape(self, o.shape)
    def flatten(self, start_dim=0, end_dim=-1): return F.flatten(self, start_dim, end_dim)
    def permute(self, *dims): return F.permute(self, *dims)
    def transpose(self, d0, d1): return F.transpose(self, d0, d1)
    def t(self): return F.transpose(self, 0, 1)
    def unsqueeze(self, dim): return F.unsqueeze(self, dim)
    def squeeze(self, dim=None): return F.squeeze(self, dim)
    def expand(self, *shape): return F.expand(self, *shape)
    def split(self, size, dim=0): return F.split(self, size, dim)
    def chunk(self, chunks, dim=0): return F.chunk(self, chunks, dim)
    def contiguous(self): return self
    def clone(self): return F.clone(self)


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new leaf Tensor from a list, scalar or array (copied, as ``torch.tensor``)."""
    if isinstance(data, Tensor):
        data = data.data
    arr = _as_array(data, dtype, device)
    if arr is data:
        arr = arr.copy()
    return Tensor(arr, requires_grad=requires_grad)


def from_numpy(a):
    """A Tensor sharing memory with NumPy array ``a``."""
    return Tensor(a)


def _dtype(dtype):
    return np.dtype(dtype) if dtype is not None else backend.get_default_dtype()


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    xp = backend.xp_for(device)
    return Tensor(xp.zeros(_shape(shape), _dtype(dtype)), requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    xp = backend.xp_for(device)
    return Tensor(xp.ones(_shape(shape), _dtype(dtype)), requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False):
    xp = backend.xp_for(device)
    return Tensor(xp.full(tuple(shape), value, _dtype(dtype)), requires_grad)


def empty(*shape, dtype=None, device=None):
    xp = backend.xp_for(device)
    return Tensor(xp.empty(_shape(shape), _dtype(dtype)))


def zeros_like(t, dtype=None):
    return Tensor(t.xp.zeros(t.shape, dtype or t.dtype))


def ones_like(t, dtype=None):
    return Tensor(t.xp.ones(t.shape, dtype or t.dtype))


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal numbers from the generator seeded by ``manual_seed``."""
    return Tensor(backend.random_array(_shape(shape), _dtype(dtype), device, "normal"),
                  requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform numbers in [0, 1) from the generator seeded by ``manual_seed``."""
    return Tensor(backend.random_array(_shape(shape), _dtype(dtype), device, "uniform"),
                  requires_grad)


def randint(low, high, size, device=None):
    a = backend.get_rng().integers(low, high, size=size, dtype=np.int64)
    return Tensor(backend.to_device(a, device or "cpu"))


def arange(*args, dtype=None, device=None):
    a = np.arange(*args)
    if dtype is not None:
        a = a.astype(dtype)
    elif a.dtype.kind == "f":
        a = a.astype(backend.get_default_dtype())
    return Tensor(backend.to_device(a, device or "cpu"))


def is_tensor(x):
    return isinstance(x, Tensor)


# The ops live in functional/, which imports this module; bind it once here.
from . import functional as F  # noqa: E402
