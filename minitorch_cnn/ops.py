"""The functions of the ``torch`` namespace: ``torch.max``, ``torch.cat``, ``torch.where``,
``torch.flatten``, ``torch.softmax`` ... as ``minitorch_cnn.max`` and so on, plus the
grad-mode switches (``inference_mode``, ``set_grad_enabled``).

Each is the op of ``functional/`` of the same name (the one ``Tensor``'s methods call);
the only thing added here is that a raw array may stand in for a tensor, because
``t.data`` is the raw NumPy/CuPy array in this project (in torch it is a Tensor), so the
tutorials' ``torch.max(outputs.data, 1)`` works.
"""
import builtins

import numpy as np

from . import autograd, backend
from . import functional as F
from .tensor import Tensor

__all__ = ["abs", "exp", "log", "sqrt", "sigmoid", "tanh", "relu", "softmax", "log_softmax",
           "sum", "mean", "std", "var", "norm", "max", "min", "amax", "amin", "maximum",
           "minimum", "argmax", "argmin", "clamp", "clip", "where", "matmul", "mm", "bmm",
           "flatten", "reshape", "squeeze", "unsqueeze", "transpose", "permute", "cat",
           "concat", "stack", "split", "chunk", "topk", "sort", "argsort", "gather",
           "masked_fill", "eq", "ne", "lt", "le", "gt", "ge", "equal", "allclose", "isnan",
           "isinf", "isfinite", "numel", "add", "sub", "mul", "div", "pow", "neg",
           "is_tensor", "is_floating_point", "inference_mode", "set_grad_enabled",
           "set_num_threads", "get_num_threads"]


def _t(x):
    """A Tensor for a Tensor or a raw array (``outputs.data``); anything else as it is."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or backend.is_cupy_array(x):
        return Tensor(x)
    return x


def _ts(xs):
    return [_t(x) for x in xs]


# ------------------------------------------------------------- entry by entry
def abs(input): return F.abs(_t(input))
def exp(input): return F.exp(_t(input))
def log(input): return F.log(_t(input))
def sqrt(input): return F.sqrt(_t(input))
def sigmoid(input): return F.sigmoid(_t(input))
def tanh(input): return F.tanh(_t(input))
def relu(input): return F.relu(_t(input))
def neg(input): return F.neg(_t(input))
def add(input, other, *, alpha=1): return _t(input).add(_t(other), alpha=alpha)
def sub(input, other, *, alpha=1): return _t(input).sub(_t(other), alpha=alpha)
def mul(input, other): return F.mul(_t(input), _t(other))
def div(input, other): return F.div(_t(input), _t(other))
def pow(input, exponent): return F.pow(_t(input), _t(exponent))
def clamp(input, min=None, max=None): return F.clip(_t(input), min, max)
clip = clamp
def maximum(input, other): return F.maximum(_t(input), _t(other))
def minimum(input, other): return F.minimum(_t(input), _t(other))
def where(condition, input=None, other=None): return F.where(_t(condition), _t(input), _t(other))
def masked_fill(input, mask, value): return F.masked_fill(_t(input), _t(mask), value)
def softmax(input, dim, dtype=None):
    x = _t(input)
    return F.softmax(x if dtype is None else x.to(dtype), dim)
def log_softmax(input, dim, dtype=None):
    x = _t(input)
    return F.log_softmax(x if dtype is None else x.to(dtype), dim)


# comparisons give bool tensors; equal and allclose give one Python bool
def eq(input, other): return F.eq(_t(input), _t(other))
def ne(input, other): return F.ne(_t(input), _t(other))
def lt(input, other): return F.lt(_t(input), _t(other))
def le(input, other): return F.le(_t(input), _t(other))
def gt(input, other): return F.gt(_t(input), _t(other))
def ge(input, other): return F.ge(_t(input), _t(other))
def isnan(input): return _t(input).isnan()
def isinf(input): return _t(input).isinf()
def isfinite(input): return _t(input).isfinite()


def equal(input, other):
    """True if both have the same shape and the same entries."""
    a, b = _t(input), _t(other)
    return a.shape == b.shape and bool((a == b).all())


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True if |input - other| <= atol + rtol |other| everywhere (as torch and NumPy)."""
    a, b = _t(input), _t(other)
    return bool(a.xp.allclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


# ---------------------------------------------------------------- reductions
def sum(input, dim=None, keepdim=False): return F.sum(_t(input), dim, keepdim)
def mean(input, dim=None, keepdim=False): return F.mean(_t(input), dim, keepdim)
def std(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    return F.std(_t(input), dim, unbiased, keepdim, correction=correction)
def var(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    return F.var(_t(input), dim, unbiased, keepdim, correction=correction)
def norm(input, p="fro", dim=None, keepdim=False): return F.norm(_t(input), p, dim, keepdim)
def max(input, dim=None, keepdim=False): return F.max(_t(input), _t(dim), keepdim)
def min(input, dim=None, keepdim=False): return F.min(_t(input), _t(dim), keepdim)
def amax(input, dim=None, keepdim=False): return F.amax(_t(input), dim, keepdim)
def amin(input, dim=None, keepdim=False): return F.amin(_t(input), dim, keepdim)
def argmax(input, dim=None, keepdim=False): return F.argmax(_t(input), dim, keepdim)
def argmin(input, dim=None, keepdim=False): return F.argmin(_t(input), dim, keepdim)
def numel(input): return _t(input).numel()
def is_tensor(obj): return isinstance(obj, Tensor)
def is_floating_point(input): return _t(input).is_floating_point()


# ---------------------------------------------------------- products, shapes
def matmul(input, other): return F.matmul(_t(input), _t(other))


def mm(input, mat2):
    """Matrix product of two 2-D tensors (``matmul`` for any number of dims)."""
    a, b = _t(input), _t(mat2)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"mm: expected two 2-D tensors, got shapes {tuple(a.shape)} and "
                         f"{tuple(b.shape)}; use matmul for other shapes")
    return F.matmul(a, b)


def bmm(input, mat2):
    """Batched matrix product of (B, n, k) and (B, k, m) tensors."""
    a, b = _t(input), _t(mat2)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: expected (B, n, k) and (B, k, m) tensors, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    return F.matmul(a, b)


def flatten(input, start_dim=0, end_dim=-1): return F.flatten(_t(input), start_dim, end_dim)
def reshape(input, shape): return F.reshape(_t(input), shape)
def squeeze(input, dim=None): return F.squeeze(_t(input), dim)
def unsqueeze(input, dim): return F.unsqueeze(_t(input), dim)
def transpose(input, dim0, dim1): return F.transpose(_t(input), dim0, dim1)
def permute(input, dims): return F.permute(_t(input), dims)
def cat(tensors, dim=0): return F.cat(_ts(tensors), dim)
concat = cat
def stack(tensors, dim=0): return F.stack(_ts(tensors), dim)
def split(tensor, split_size_or_sections, dim=0):
    return F.split(_t(tensor), split_size_or_sections, dim)
def chunk(input, chunks, dim=0): return F.chunk(_t(input), chunks, dim)
def topk(input, k, dim=-1, largest=True, sorted=True):
    return F.topk(_t(input), k, dim, largest, sorted)
def sort(input, dim=-1, descending=False, stable=False):
    return F.sort(_t(input), dim, descending, stable)
def argsort(input, dim=-1, descending=False, stable=False):
    return F.argsort(_t(input), dim, descending, stable)
def gather(input, dim, index): return F.gather(_t(input), dim, _t(index))


# ------------------------------------------------------------------ grad modes
class inference_mode(autograd.no_grad):
    """``with torch.inference_mode():`` (or as a decorator): no graph is recorded, as
    ``no_grad``. torch adds a few optimisations on top that this engine does not need;
    ``inference_mode(False)`` changes nothing."""

    def __new__(cls, mode=True):
        if callable(mode):                    # @inference_mode without parentheses
            return autograd.no_grad()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self.prev = autograd.is_grad_enabled()
        if self.mode:
            autograd.set_grad_enabled(False)


class set_grad_enabled:
    """``torch.set_grad_enabled(mode)``: switch the recording of the graph on or off now;
    used as ``with set_grad_enabled(phase == "train"):`` the previous mode comes back at
    the end of the block."""

    def __init__(self, mode):
        self.prev = autograd.is_grad_enabled()
        autograd.set_grad_enabled(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        autograd.set_grad_enabled(self.prev)


# --------------------------------------------------------------------- threads
def set_num_threads(n):
    """The number of threads of the Numba (fast, CPU) kernels. NumPy's BLAS keeps its own
    count: set OMP_NUM_THREADS before starting Python to change that one too."""
    import numba
    _choose_threading_layer()
    numba.set_num_threads(builtins.max(1, builtins.min(int(n), numba.config.NUMBA_NUM_THREADS)))


def get_num_threads():
    import numba
    _choose_threading_layer()
    return numba.get_num_threads()


def _choose_threading_layer():
    """Numba starts its thread pool, and fixes its threading layer for the rest of the
    process, at the first call that needs the pool: set_num_threads and get_num_threads
    are such calls. The kernels choose the layer when they are imported (kernels/cpu/
    _numba.py), so import them first, or the pool starts on Numba's default layer."""
    from .kernels.cpu import _numba  # noqa: F401
