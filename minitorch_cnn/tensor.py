"""The Tensor: an n-dimensional array (NumPy or CuPy) plus what autograd needs.

``t.data`` is the raw array, ``t.grad`` a Tensor (filled by ``backward``),
``t.grad_fn`` the Function that made ``t`` (None for a leaf). Arithmetic and
methods call the ops in ``minitorch_cnn.functional``; nothing is patched in.

Every Python operator behaves as in torch: ``==`` and the other comparisons give bool
tensors (``(pred == y).sum()`` counts), ``if t:`` needs exactly one value, ``t += v``
and ``t[i] = v`` write in place (checked against what backward still needs), and an
operand that is not a number, array or Tensor gives Python's TypeError.

Also here, in PyTorch's words: ``dtype`` (``t.dtype`` is ``mt.float32``, which prints as
``torch.float32``) and ``device`` (``t.device`` is ``device(type='cpu')``). The functions
that make tensors (``zeros``, ``randn``, ``arange``, ...) are in ``creation.py``.
"""
import numbers

import numpy as np

from . import backend
from . import autograd


class dtype:
    """The type of a tensor's entries, as PyTorch names it: ``mt.float32``, ``mt.int64``,
    ``mt.bool``, ... (``t.dtype``). It prints as PyTorch prints it, ``torch.float32``:
    that is its name in the API this project speaks, the spelling a reader copies into
    code written against ``import minitorch_cnn as torch``.

    Each wraps one NumPy dtype (``.dtype``), so NumPy and CuPy take it wherever they take
    a dtype (``np.zeros(3, mt.float32)``), and it compares equal to that NumPy dtype, to
    ``np.float32`` and to ``"float32"``. One object per dtype: ``t.dtype is mt.float32``."""
    __slots__ = ("dtype", "kind", "itemsize", "is_floating_point", "is_complex", "is_signed")

    def __init__(self, np_dtype):
        self.dtype = np.dtype(np_dtype)
        self.kind, self.itemsize = self.dtype.kind, self.dtype.itemsize
        self.is_floating_point, self.is_complex = self.kind == "f", self.kind == "c"
        self.is_signed = self.kind in "fic"

    def __eq__(self, other):
        # (None first: NumPy reads a dtype of None as float64)
        return other is self or other is not None and self.dtype == other

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.dtype)

    def __getattr__(self, name):          # the rest of NumPy's dtype: .name, .type, .char
        return getattr(object.__getattribute__(self, "dtype"), name)

    def __repr__(self):
        return "torch." + self.dtype.name

    def __reduce__(self):                 # pickle and deepcopy give back the one object
        return as_dtype, (self.dtype.str,)


_DTYPES = {}          # NumPy dtype -> its one ``dtype``


def as_dtype(d):
    """The ``dtype`` for anything NumPy reads as a dtype (np.float32, "int64", a dtype)."""
    if isinstance(d, dtype):
        return d
    d = np.dtype(d)
    if d not in _DTYPES:
        _DTYPES[d] = dtype(d)
    return _DTYPES[d]


class device(str):
    """Where a tensor lives, as ``torch.device``: ``device("cpu")``, ``device("cuda")``,
    ``device("cuda:0")`` or ``device("cuda", 0)``; ``.type`` and ``.index``; prints as torch
    (``cuda:0``, repr ``device(type='cuda', index=0)``).

    It is a str, equal to its plain name, so ``t.device == "cpu"`` and every function that
    takes "cpu" or "cuda" take it too. One GPU is used (CuPy's current one): a CUDA
    tensor's device is ``cuda`` (torch prints ``cuda:0``), and ``cuda:0`` means it."""

    def __new__(cls, type, index=None):
        if isinstance(type, device) and index is None:
            return type
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a str like 'cpu', 'cuda' or 'cuda:0', got "
                            f"{type!r}")
        name, _, number = type.partition(":")
        if number:
            if index is not None:
                raise ValueError(f"device(): {type!r} names an index already; got index="
                                 f"{index} too")
            if not number.isdigit():
                raise ValueError(f"device(): invalid device string {type!r}; expected "
                                 f"'cuda:<index>'")
            index = int(number)
        if name not in ("cpu", "cuda"):
            raise ValueError(f"device(): unknown device type {name!r}: minitorch_cnn runs on "
                             f"'cpu' (NumPy) and 'cuda' (CuPy); mps, xpu and others are not "
                             f"supported")
        if index is not None and (not isinstance(index, numbers.Integral) or index < 0):
            raise ValueError(f"device(): index must be a non-negative int, got {index!r}")
        obj = str.__new__(cls, name if index is None else f"{name}:{index}")
        obj.type, obj.index = name, None if index is None else int(index)
        return obj

    def __repr__(self):
        extra = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{extra})"

    def __reduce__(self):
        return device, (str(self),)


_CPU, _CUDA = device("cpu"), device("cuda")


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
        """``mt.float32`` and friends (equal to the NumPy dtype of ``self.data``)."""
        try:
            return _DTYPES[self.data.dtype]
        except KeyError:
            return as_dtype(self.data.dtype)

    @property
    def device(self):
        """``device(type='cpu')`` or ``device(type='cuda')``, equal to "cpu" / "cuda"."""
        return _CUDA if backend.is_cupy_array(self.data) else _CPU

    @property
    def is_cuda(self):
        return backend.is_cupy_array(self.data)

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

    ndimension = dim

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.data.size)

    nelement = numel

    def element_size(self):
        """Bytes per entry (4 for float32)."""
        return self.data.dtype.itemsize

    def is_floating_point(self):
        return self.data.dtype.kind == "f"

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

    def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False):
        """``t.to("cuda")``, ``t.to(mt.float64)``, ``t.to(device, dtype)``,
        ``t.to(other_tensor)``: a copy that stays in the graph (gradients flow back
        across devices and dtypes); ``t`` itself if nothing changes (unless ``copy``).
        ``non_blocking`` is accepted: copies here are synchronous."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, str):               # "cuda", device("cuda:0")
                device = a
            else:
                dtype = a
        out = F.to_copy(self, dtype=dtype, device=device)
        return out.clone() if copy and out is self else out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to("cuda" if device is None else device)

    def float(self): return self.to(np.float32)
    def double(self): return self.to(np.float64)
    def long(self): return self.to(np.int64)
    def int(self): return self.to(np.int32)
    def short(self): return self.to(np.int16)
    def byte(self): return self.to(np.uint8)
    def bool(self): return self.to(np.bool_)

    def half(self):
        """Refused with what to do: minitorch_cnn computes in float32 and float64 only."""
        return self.to(np.float16)

    def type(self, dtype=None):
        """No argument: torch's legacy type name ('torch.FloatTensor'); else ``to(dtype)``."""
        if dtype is None:
            names = {"float32": "Float", "float64": "Double", "float16": "Half",
                     "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
                     "uint8": "Byte", "bool": "Bool"}
            prefix = "torch.cuda." if self.is_cuda else "torch."
            return prefix + names.get(self.data.dtype.name, self.data.dtype.name) + "Tensor"
        return self.to(dtype)

    def type_as(self, other):
        return self.to(other.dtype)

    def __repr__(self):
        a = backend.to_device(self.data, "cpu")
        # as torch: whole numbers as "1.", others with 4 decimals ("1.5000")
        finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
        fixed = a.dtype.kind == "f" and finite.size and (finite != np.round(finite)).any()
        body = np.array2string(a, precision=4, separator=", ", threshold=50, prefix="tensor(",
                               floatmode="fixed" if fixed else "maxprec")
        extra = ""
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.data.dtype not in (backend.get_default_dtype(), np.int64, np.bool_):
            extra += f", dtype={self.dtype}"            # as torch: the default ones unsaid
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
    # (one line each: the op is in functional/, under the same name)
    def sum(self, dim=None, keepdim=False): return F.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return F.mean(self, dim, keepdim)
    def var(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return F.var(self, dim, unbiased, keepdim, correction=correction)
    def std(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return F.std(self, dim, unbiased, keepdim, correction=correction)
    def norm(self, p="fro", dim=None, keepdim=False): return F.norm(self, p, dim, keepdim)
    def max(self, dim=None, keepdim=False): return F.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return F.min(self, dim, keepdim)
    def amax(self, dim=None, keepdim=False): return F.amax(self, dim, keepdim)
    def amin(self, dim=None, keepdim=False): return F.amin(self, dim, keepdim)
    def maximum(self, o): return F.maximum(self, o)
    def minimum(self, o): return F.minimum(self, o)
    def argmax(self, dim=None, keepdim=False): return F.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return F.argmin(self, dim, keepdim)
    def any(self, dim=None, keepdim=False):
        return Tensor(self.data.any(axis=dim, keepdims=keepdim))
    def all(self, dim=None, keepdim=False):
        return Tensor(self.data.all(axis=dim, keepdims=keepdim))
    def sort(self, dim=-1, descending=False, stable=False):
        return F.sort(self, dim, descending, stable)
    def argsort(self, dim=-1, descending=False, stable=False):
        return F.argsort(self, dim, descending, stable)
    def topk(self, k, dim=-1, largest=True, sorted=True):
        return F.topk(self, k, dim, largest, sorted)
    def gather(self, dim, index): return F.gather(self, dim, index)
    def masked_fill(self, mask, value): return F.masked_fill(self, mask, value)
    def where(self, condition, other): return F.where(condition, self, other)
    def isnan(self): return Tensor(self.xp.isnan(self.data))
    def isinf(self): return Tensor(self.xp.isinf(self.data))
    def isfinite(self): return Tensor(self.xp.isfinite(self.data))
    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def sqrt(self): return F.sqrt(self)
    def abs(self): return F.abs(self)
    def pow(self, p): return F.pow(self, p)
    def add(self, o, *, alpha=1): return F.add(self, o if alpha == 1 else F.mul(o, alpha))
    def sub(self, o, *, alpha=1): return F.sub(self, o if alpha == 1 else F.mul(o, alpha))
    def mul(self, o): return F.mul(self, o)
    def div(self, o): return F.div(self, o)
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
    def reshape_as(self, o): return F.reshape(self, o.shape)
    def flatten(self, start_dim=0, end_dim=-1): return F.flatten(self, start_dim, end_dim)
    def permute(self, *dims): return F.permute(self, *dims)
    def transpose(self, d0, d1): return F.transpose(self, d0, d1)
    def t(self): return F.transpose(self, 0, 1)
    def unsqueeze(self, dim): return F.unsqueeze(self, dim)
    def squeeze(self, dim=None): return F.squeeze(self, dim)
    def expand(self, *shape): return F.expand(self, *shape)
    def expand_as(self, o): return F.expand(self, o.shape)
    def repeat(self, *sizes): return F.repeat(self, *sizes)
    def split(self, size, dim=0): return F.split(self, size, dim)
    def chunk(self, chunks, dim=0): return F.chunk(self, chunks, dim)
    def contiguous(self): return self
    def clone(self): return F.clone(self)

    # new tensors like this one: the same dtype and device unless given
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return creation.tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                               requires_grad=requires_grad)
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return creation.zeros(*size, dtype=dtype or self.dtype, device=device or self.device,
                              requires_grad=requires_grad)
    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return creation.ones(*size, dtype=dtype or self.dtype, device=device or self.device,
                             requires_grad=requires_grad)
    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return creation.empty(*size, dtype=dtype or self.dtype, device=device or self.device,
                              requires_grad=requires_grad)
    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return creation.full(size, fill_value, dtype=dtype or self.dtype,
                             device=device or self.device, requires_grad=requires_grad)

    # ------------------------------------------------------------ in place
    # x.add_(v), x.zero_(), x.copy_(src), ...: the numbers are written into x's own memory
    # by F.setitem, as x[...] = result (so views of x see them). Outside the graph that
    # is all. Inside it, x becomes the output of that write, as for t[i] = v: the same
    # version check refuses a backward through an op that had saved x's old numbers, and
    # a leaf that requires grad refuses, as in torch (update it under no_grad()).
    def _update(self, name, compute, *others, any_dtype=False):
        """Write ``compute(x)`` into x. ``others``: the operands besides x (is the graph
        involved?); ``any_dtype``: cast the result to x's dtype whatever it is (copy_, fill_),
        else refuse what torch refuses (a float result into an integer tensor)."""
        in_graph = autograd.is_grad_enabled() and (
            self.requires_grad or any(getattr(o, "requires_grad", False) for o in others))
        if in_graph and self.requires_grad and self.grad_fn is None:
            raise RuntimeError(f"a leaf tensor that requires grad is being used in an "
                               f"in-place operation ({name}); update it under no_grad() "
                               f"(as optimizers do), or write a new tensor")
        # in the graph the op gets a copy of x: it may save its input for backward, and
        # x's memory is about to be overwritten
        r = compute(self.clone() if in_graph else self)
        shape = tuple(getattr(r, "shape", ()))
        if shape != self.shape and _broadcast(shape, self.shape) != self.shape:
            raise RuntimeError(f"{name}: a value of shape {shape} does not fit the tensor's "
                               f"shape {tuple(self.shape)}; use the out-of-place op for a "
                               f"new tensor")
        if isinstance(r, Tensor) and not any_dtype and not _can_cast(r.dtype, self.dtype):
            raise TypeError(f"{name}: the result is {r.dtype}, which cannot be stored in this "
                            f"{self.dtype} tensor (result type {r.dtype} can't be cast to "
                            f"{self.dtype}); use the out-of-place op for a new tensor")
        F.setitem(self, Ellipsis, r, op=name)
        return self

    def add_(self, o, *, alpha=1): return self._update("add_", lambda x: x.add(o, alpha=alpha), o)
    def sub_(self, o, *, alpha=1): return self._update("sub_", lambda x: x.sub(o, alpha=alpha), o)
    def mul_(self, o): return self._update("mul_", lambda x: F.mul(x, o), o)
    def div_(self, o): return self._update("div_", lambda x: F.div(x, o), o)
    def pow_(self, p): return self._update("pow_", lambda x: F.pow(x, p), p)
    def clamp_(self, min=None, max=None):
        return self._update("clamp_", lambda x: F.clip(x, min, max), min, max)
    clip_ = clamp_
    def masked_fill_(self, mask, value):
        return self._update("masked_fill_", lambda x: F.masked_fill(x, mask, value), value)
    def fill_(self, value): return self._update("fill_", lambda x: value, value, any_dtype=True)
    def zero_(self): return self._update("zero_", lambda x: 0)

    def copy_(self, src, non_blocking=False):
        """Copy ``src`` (broadcast to this shape, any dtype, any device) into this tensor."""
        if isinstance(src, Tensor) and src.device != self.device:
            src = src.to(self.device)
        return self._update("copy_", lambda x: src, src, any_dtype=True)

    def normal_(self, mean=0.0, std=1.0):
        """Fill with N(mean, std^2) numbers from the generator seeded by manual_seed."""
        noise = backend.random_array(self.shape, self.data.dtype, self.device, "normal")
        return self._update("normal_", lambda x: Tensor(noise * std + mean))

    def uniform_(self, a=0.0, b=1.0):
        """Fill with U(a, b) numbers from the generator seeded by manual_seed."""
        noise = backend.random_array(self.shape, self.data.dtype, self.device, "uniform")
        return self._update("uniform_", lambda x: Tensor(noise * (b - a) + a))


# The ops live in functional/, which imports this module; bind it once here. The
# functions that make tensors live in creation.py (re-exported here, where they were).
from . import functional as F  # noqa: E402
from . import creation  # noqa: E402
from .creation import (tensor, from_numpy, zeros, ones, full, empty, zeros_like,  # noqa: E402,F401
                       ones_like, randn, rand, randint, arange)


def _broadcast(a, b):
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return None


def _can_cast(src, dst):
    """torch's rule for in-place results: no float into an integer tensor, nothing but
    bool into a bool tensor; narrowing within a kind (float64 -> float32) is allowed."""
    if dst.kind == "b":
        return src.kind == "b"
    if dst.kind in "iu":
        return src.kind in "biu"
    return True
