"""The Tensor: an n-dimensional array (NumPy or CuPy) plus what autograd needs.

``t.data`` is the raw array, ``t.grad`` a Tensor (filled by ``backward``),
``t.grad_fn`` the Function that made ``t`` (None for a leaf). Arithmetic and
methods call the ops in ``minitorch_cnn.functional``; nothing is patched in.

Every Python operator behaves as in torch: ``==`` and the other comparisons give bool
tensors (``(pred == y).sum()`` counts), ``if t:`` needs exactly one value, ``t += v``
and ``t[i] = v`` write in place (checked against what backward still needs), and an
operand that is not a number, array or Tensor gives Python's TypeError.
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
        """Fill with zeros, in place (refused, as in torch, for a leaf that requires grad
        while gradients are recorded: do it under no_grad())."""
        if self.requires_grad and self.grad_fn is None and autograd.is_grad_enabled():
            raise RuntimeError("a leaf tensor that requires grad is being used in an "
                               "in-place operation (zero_); do it under no_grad()")
        self.data[...] = 0
        autograd.mark_written(self.data)
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
    # Every operator is an op of functional/ (elementwise.py has the dtype rules); one
    # that meets something it cannot take (None, a string) returns NotImplemented, so
    # that Python raises its usual TypeError instead of an error from inside NumPy.
    def _binary(name, reflected=False):
        """The method that runs F.<name>(self, o), or F.<name>(o, self) if reflected."""
        def method(self, o):
            if not F.is_operand(o):
                return NotImplemented
            op = getattr(F, name)
            return op(o, self) if reflected else op(self, o)
        return method

    __add__, __radd__ = _binary("add"), _binary("add", True)
    __sub__, __rsub__ = _binary("sub"), _binary("sub", True)
    __mul__, __rmul__ = _binary("mul"), _binary("mul", True)
    __truediv__ = _binary("div")
    __rtruediv__ = _binary("div", True)
    __floordiv__ = _binary("floor_divide")
    __rfloordiv__ = _binary("floor_divide", True)
    __mod__ = _binary("remainder")
    __rmod__ = _binary("remainder", True)
    __pow__, __rpow__ = _binary("pow"), _binary("pow", True)
    __matmul__ = _binary("matmul")
    __rmatmul__ = _binary("matmul", True)
    # & | ^ ~ on bool tensors combine masks (on integer tensors: bitwise, as in torch)
    __and__ = __rand__ = _binary("bitwise_and")
    __or__ = __ror__ = _binary("bitwise_or")
    __xor__ = __rxor__ = _binary("bitwise_xor")

    def __invert__(self): return F.bitwise_not(self)
    def __neg__(self): return F.neg(self)
    def __abs__(self): return F.abs(self)

    def __pos__(self):
        if self.dtype == bool:
            raise TypeError("the unary + operator on a bool tensor is not supported")
        return self

    def __getitem__(self, idx): return F.getitem(self, idx)

    def __setitem__(self, idx, value):
        """``t[idx] = value`` writes into t's memory, as in torch (see F.setitem)."""
        F.setitem(self, idx, value)

    # comparisons: elementwise, giving bool tensors outside the graph (x == y, 3 < x,
    # np.array(..) == x). Python's reflection covers the reflected forms: 3 < x is x > 3.
    __eq__ = _binary("eq")
    __ne__ = _binary("ne")
    __lt__ = _binary("lt")
    __le__ = _binary("le")
    __gt__ = _binary("gt")
    __ge__ = _binary("ge")
    # With __eq__ elementwise, a Tensor stays hashable by identity (as in torch), so it
    # can key a dict or sit in a set; == is not identity.
    __hash__ = object.__hash__
    del _binary

    def eq(self, o): return F.eq(self, o)
    def ne(self, o): return F.ne(self, o)
    def lt(self, o): return F.lt(self, o)
    def le(self, o): return F.le(self, o)
    def gt(self, o): return F.gt(self, o)
    def ge(self, o): return F.ge(self, o)
    def logical_not(self): return F.logical_not(self)

    # in place: t += v. Outside the graph (no_grad, or nothing requires grad) the numbers
    # are written into t's own memory, so every view and every holder of t sees them (an
    # optimizer's `p -= lr * p.grad` under no_grad). Inside the graph, a leaf that needs
    # a gradient refuses (as in torch), and any other tensor gets a new tensor, t = t + v:
    # the same numbers and gradients, a fresh node in the graph.
    def _inplace(name, symbol):
        def method(self, o):
            if not F.is_operand(o):
                return NotImplemented
            op = getattr(F, name)
            needs_graph = autograd.is_grad_enabled() and (
                self.requires_grad or getattr(o, "requires_grad", False))
            if needs_graph:
                if self.requires_grad and self.grad_fn is None:
                    raise RuntimeError(
                        f"a leaf tensor that requires grad is being used in an in-place "
                        f"operation ({symbol}); update it under no_grad() (as optimizers "
                        f"do), or write a new tensor: y = x {symbol[:-1]} v")
                return op(self, o)
            with autograd.no_grad():
                r = op(self, o)
            if r.shape != self.shape:
                raise RuntimeError(f"in-place {symbol}: the result has shape {r.shape}, "
                                   f"which does not fit the tensor's shape {self.shape}; "
                                   f"write y = x {symbol[:-1]} v for a new tensor")
            if not _can_cast(r.dtype, self.dtype):
                raise TypeError(f"in-place {symbol}: the result is {r.dtype}, which cannot "
                                f"be stored in this {self.dtype} tensor; write y = x "
                                f"{symbol[:-1]} v for a new tensor")
            self.data[...] = r.data
            autograd.mark_written(self.data)
            return self
        return method

    __iadd__ = _inplace("add", "+=")
    __isub__ = _inplace("sub", "-=")
    __imul__ = _inplace("mul", "*=")
    __itruediv__ = _inplace("div", "/=")
    __ifloordiv__ = _inplace("floor_divide", "//=")
    __imod__ = _inplace("remainder", "%=")
    __ipow__ = _inplace("pow", "**=")
    __iand__ = _inplace("bitwise_and", "&=")
    __ior__ = _inplace("bitwise_or", "|=")
    __ixor__ = _inplace("bitwise_xor", "^=")
    del _inplace

    # ------------------------------------------------ Python's protocols, as torch
    def __bool__(self):
        """``if t:`` needs exactly one value (else it is ambiguous: use .any() / .all())."""
        if self.data.size != 1:
            many = "no values" if self.data.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {many} is ambiguous "
                               f"(shape {self.shape}); use t.any() or t.all()")
        return bool(self.data.reshape(()).item())

    def _one_value(self, kind):
        if self.data.size != 1:
            raise ValueError(f"only one element tensors can be converted to Python scalars "
                             f"({kind}() of a tensor of shape {self.shape})")
        return self.data.reshape(()).item()

    def __int__(self): return int(self._one_value("int"))
    def __float__(self): return float(self._one_value("float"))

    def __index__(self):
        """So that a one-element integer tensor can index a list (as torch)."""
        if self.data.size != 1 or self.dtype.kind not in "biu":
            raise TypeError(f"only integer tensors of a single element can be converted to "
                            f"an index, got a {self.dtype} tensor of shape {self.shape}")
        return int(self.data.reshape(()).item())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        """The sub-tensors along dim 0 (each t[i], in the graph)."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __contains__(self, element):
        """``v in t``: is v equal to some entry (or, broadcast, to some row) of t."""
        if not isinstance(element, (Tensor, numbers.Number, np.generic)):
            raise RuntimeError(f"Tensor.__contains__ only supports a Tensor or a number, "
                               f"got {type(element).__name__}")
        return bool(F.eq(self, element).data.any())

    def __format__(self, spec):
        """f"{loss:.4f}" works for a 0-d tensor (its value); other shapes take no spec."""
        if self.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t): the array itself (for a CPU tensor without a graph)."""
        if self.device != "cpu":
            raise TypeError(f"can't convert a tensor on {self.device} to a NumPy array "
                            f"implicitly; use t.cpu().numpy()")
        if self.requires_grad:
            raise RuntimeError("Can't convert a tensor that requires grad to a NumPy "
                               "array; use tensor.detach().numpy()")
        a = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return a.copy() if copy else a

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
    def argmin(self, dim=None, keepdim=False):
        a = self.data.argmin(axis=dim)
        if keepdim and dim is not None:
            a = self.xp.expand_dims(a, dim)
        return Tensor(a)
    def any(self, dim=None, keepdim=False):
        return Tensor(self.data.any(axis=dim, keepdims=keepdim))
    def all(self, dim=None, keepdim=False):
        return Tensor(self.data.all(axis=dim, keepdims=keepdim))
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


def _can_cast(src, dst):
    """torch's rule for in-place results: no float into an integer tensor, nothing but
    bool into a bool tensor; narrowing within a kind (float64 -> float32) is allowed."""
    if dst.kind == "b":
        return src.kind == "b"
    if dst.kind in "iu":
        return src.kind in "biu"
    return True
