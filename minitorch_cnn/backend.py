"""Which array module holds the numbers: NumPy on the CPU, CuPy on the GPU.

Every array lives on one device; ``get_array_module(a)`` (``xp`` below) returns
``numpy`` or ``cupy`` for it, so each kernel is written once with ``xp``.
CuPy is imported lazily, the first time a CUDA array is asked for: importing
minitorch_cnn never probes for a GPU.

Also here: the default dtype (float32), the global random generator behind
``manual_seed``, and the switch between the readable reference kernels and the
fast ones (``set_kernels("reference" | "fast")``).
"""
import numpy as np

_cupy = None  # the cupy module once imported


def _import_cupy():
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise RuntimeError(
                "device 'cuda' needs CuPy, which is not installed: "
                "pip install 'minitorch_cnn[cuda]' (cupy-cuda12x)") from e
        _cupy = cupy
    return _cupy


def cuda_is_available():
    """True when CuPy imports and sees at least one GPU (imports CuPy if present)."""
    try:
        cp = _import_cupy()
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def is_cupy_array(a):
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def get_array_module(a):
    """``numpy`` or ``cupy``: the module that owns array ``a``."""
    return _cupy if is_cupy_array(a) else np


def device_of(a):
    """'cpu' or 'cuda' for a raw array."""
    return "cuda" if is_cupy_array(a) else "cpu"


def normalize_device(device):
    """Accept 'cpu', 'cuda', 'cuda:0' (one GPU is used: CuPy's current one), a
    ``device`` (a str) or None (cpu)."""
    if device is None:
        return "cpu"
    name = str(device)
    if name == "cpu":
        return "cpu"
    if name in ("cuda", "cuda:0"):
        return "cuda"
    if name.startswith("cuda:"):
        raise ValueError(f"device {name!r}: minitorch_cnn uses one GPU, CuPy's current one, "
                         f"as 'cuda' (or 'cuda:0'); to run on another GPU select it before "
                         f"starting Python, e.g. CUDA_VISIBLE_DEVICES={name[5:]}")
    raise ValueError(f"unknown device {str(device)!r}: expected 'cpu' or 'cuda'")


def xp_for(device):
    """The array module for a device name."""
    return _import_cupy() if normalize_device(device) == "cuda" else np


def to_device(a, device):
    """Move a raw array to ``device`` (a no-op when it is there already)."""
    device = normalize_device(device)
    if device == device_of(a):
        return a
    if device == "cuda":
        return _import_cupy().asarray(a)
    return a.get()  # cupy -> numpy


# ----------------------------------------------------------------- dtypes
_default_dtype = np.dtype(np.float32)


def get_default_dtype():
    return _default_dtype


def set_default_dtype(dtype):
    """Set the dtype of new floating tensors (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


# ------------------------------------------------------------- randomness
_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed every generator minitorch_cnn draws from (NumPy, and CuPy if loaded)."""
    global _rng
    _rng = np.random.default_rng(seed)
    if _cupy is not None:
        _cupy.random.seed(seed)
    return _rng


def get_rng():
    """The global NumPy ``Generator`` used for init, dropout and data order."""
    return _rng


def set_rng_state(state):
    _rng.bit_generator.state = state


def get_rng_state():
    return _rng.bit_generator.state


def random_array(shape, dtype, device, kind="uniform"):
    """Random numbers drawn from the global generator, then placed on ``device``.

    Drawing on the CPU keeps one seed reproducible across devices.
    """
    if kind == "uniform":
        a = _rng.random(shape, dtype=np.float64)
    elif kind == "normal":
        a = _rng.standard_normal(shape)
    else:
        raise ValueError(kind)
    return to_device(a.astype(dtype, copy=False), device)


# ------------------------------------------------------- kernel selection
_kernels = "fast"


def set_kernels(name):
    """Choose the kernels behind the ops: 'reference' (plain NumPy, to read: the story of
    functional/conv.py is then exactly what runs) or 'fast' (the fast path of fast/, with
    Numba on the CPU and CuPy on the GPU; kernels.tier applies the choice)."""
    global _kernels
    if name not in ("reference", "fast"):
        raise ValueError(f"set_kernels expects 'reference' or 'fast', got {name!r}")
    _kernels = name


def get_kernels():
    return _kernels


class use_kernels:
    """``with use_kernels("reference"): ...`` runs a block on one kernel tier."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.prev = get_kernels()
        set_kernels(self.name)

    def __exit__(self, *exc):
        set_kernels(self.prev)
