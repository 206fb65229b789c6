"""Functions that make tensors, with torch's names and arguments: ``tensor``, ``zeros``,
``ones``, ``full``, ``empty``, the ``*_like`` family, ``arange``, ``linspace``, ``eye``,
and the random ones (``randn``, ``rand``, ``randint``, ``randperm``).

Floating-point tensors get the default dtype (float32) unless ``dtype`` says otherwise;
integers are int64, as in torch. Random numbers come from the generator seeded by
``manual_seed``, or from the ``generator`` given (a ``Generator``), and are drawn on the
CPU, so one seed gives the same numbers on every device.
"""
import numpy as np

from . import backend
from .tensor import Tensor, _as_array, as_dtype

__all__ = ["get_default_dtype", "set_default_dtype", "Generator", "tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty",
           "zeros_like", "ones_like", "full_like", "empty_like", "randn_like", "rand_like",
           "randn", "rand", "randint", "randperm", "arange", "linspace", "eye"]


def get_default_dtype():
    """The dtype of new floating-point tensors: ``float32`` (or what was set)."""
    return as_dtype(backend.get_default_dtype())


def set_default_dtype(d):
    """Make new floating-point tensors ``d`` (float32 or float64)."""
    backend.set_default_dtype(np.dtype(d))


class Generator(np.random.Generator):
    """``torch.Generator``: a random generator of its own, for ``random_split``,
    ``DataLoader(generator=...)`` and the random factories. It is a NumPy ``Generator``
    (PCG64), so it goes wherever one is taken; ``manual_seed`` re-seeds it in place::

        train, val = random_split(ds, [0.8, 0.2], generator=Generator().manual_seed(42))
    """

    def __init__(self, device="cpu"):
        super().__init__(np.random.PCG64())
        self._seed = None

    def manual_seed(self, seed):
        self.bit_generator.state = np.random.PCG64(int(seed)).state
        self._seed = int(seed)
        return self

    def initial_seed(self):
        return self._seed

    def get_state(self):
        return self.bit_generator.state

    def set_state(self, state):
        self.bit_generator.state = state
        return self


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new leaf Tensor from a list, scalar or array (copied, as ``torch.tensor``)."""
    if isinstance(data, Tensor):
        data = data.data
    arr = _as_array(data, dtype, device)
    if arr is data:
        arr = arr.copy()
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """A Tensor sharing memory with ``data`` where it can (an array of the right dtype
    and device, or a Tensor), else a copy."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return Tensor(_as_array(data, dtype, device))


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


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    """``shape`` filled with ``fill_value``; without a dtype, as torch: bool for a bool,
    int64 for an int, the default float dtype for a float."""
    if dtype is None and isinstance(fill_value, (bool, int, np.bool_, np.integer)):
        dtype = np.bool_ if isinstance(fill_value, (bool, np.bool_)) else np.int64
    xp = backend.xp_for(device)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return Tensor(xp.full(shape, fill_value, _dtype(dtype)), requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    xp = backend.xp_for(device)
    return Tensor(xp.empty(_shape(shape), _dtype(dtype)), requires_grad)


# --------------------------------------------------------------- *_like
def _like(t, dtype, device):
    return (t.dtype if dtype is None else dtype), (t.device if device is None else device)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return zeros(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return ones(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return empty(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return randn(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return rand(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


# ---------------------------------------------------------------- random
def _random(shape, dtype, device, kind, generator):
    dtype = _dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{'randn' if kind == 'normal' else 'rand'}: expected a floating "
                        f"dtype, got {dtype}")
    if generator is None:
        return backend.random_array(shape, dtype, device, kind)
    a = generator.random(shape) if kind == "uniform" else generator.standard_normal(shape)
    return backend.to_device(a.astype(dtype, copy=False), device or "cpu")


def randn(*shape, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal numbers from the generator seeded by ``manual_seed``."""
    return Tensor(_random(_shape(shape), dtype, device, "normal", generator), requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform numbers in [0, 1) from the generator seeded by ``manual_seed``."""
    return Tensor(_random(_shape(shape), dtype, device, "uniform", generator), requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, generator=None):
    """Integers in [low, high) (``randint(high, size)`` draws from [0, high)), int64."""
    if size is None:                                       # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint: expected randint(low, high, size) or randint(high, size)")
    rng = generator if generator is not None else backend.get_rng()
    a = rng.integers(low, high, size=tuple(size), dtype=np.int64)
    return Tensor(backend.to_device(a.astype(np.dtype(dtype or np.int64), copy=False),
                                    device or "cpu"))


def randperm(n, dtype=None, device=None, generator=None):
    """A random permutation of 0 .. n-1 (int64)."""
    rng = generator if generator is not None else backend.get_rng()
    a = rng.permutation(int(n)).astype(np.dtype(dtype or np.int64), copy=False)
    return Tensor(backend.to_device(a, device or "cpu"))


# ---------------------------------------------------------------- ranges
def arange(*args, dtype=None, device=None, requires_grad=False, start=None, end=None,
           step=1):
    """``arange(end)``, ``arange(start, end, step)``: start, start + step, ... < end.
    int64 when every bound is an integer, else the default float dtype (as torch)."""
    if not args:
        args = (end,) if start is None else (start, end, step)
    a = np.arange(*args)
    if dtype is not None:
        a = a.astype(np.dtype(dtype))
    elif a.dtype.kind == "f":
        a = a.astype(backend.get_default_dtype())
    return Tensor(backend.to_device(a, device or "cpu"), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced numbers from ``start`` to ``end``, both included."""
    a = np.linspace(start, end, int(steps)).astype(_dtype(dtype))
    return Tensor(backend.to_device(a, device or "cpu"), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n x m identity matrix (m = n by default)."""
    a = np.eye(int(n), None if m is None else int(m), dtype=_dtype(dtype))
    return Tensor(backend.to_device(a, device or "cpu"), requires_grad)
