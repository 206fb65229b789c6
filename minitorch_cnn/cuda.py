"""``torch.cuda``, as far as this engine has it: the GPU is reached through CuPy.

    device = mt.device("cuda" if mt.cuda.is_available() else "cpu")

Nothing here imports CuPy until it is called (importing minitorch_cnn never probes for a
GPU). Without CuPy, or without a GPU, ``is_available()`` is False and ``device_count()``
0; the functions that need a GPU raise and say what to install.
"""
from . import backend

__all__ = ["is_available", "device_count", "current_device", "get_device_name",
           "synchronize", "manual_seed", "manual_seed_all", "empty_cache"]


def is_available():
    """True when CuPy imports and sees a GPU."""
    return backend.cuda_is_available()


def device_count():
    """The number of GPUs CuPy sees (0 without CuPy). minitorch_cnn uses one of them, the
    current one (select it with CUDA_VISIBLE_DEVICES)."""
    if not is_available():
        return 0
    return int(backend.xp_for("cuda").cuda.runtime.getDeviceCount())


def _cupy():
    if not is_available():
        raise RuntimeError("no CUDA GPU is available: minitorch_cnn reaches the GPU through "
                           "CuPy (pip install 'minitorch_cnn[cuda]', i.e. cupy-cuda12x, on a "
                           "machine with an NVIDIA GPU); use the 'cpu' device meanwhile")
    return backend.xp_for("cuda")


def current_device():
    return int(_cupy().cuda.Device().id)


def get_device_name(device=None):
    cp = _cupy()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(device=None):
    """Wait until the GPU has finished its queued work (for timing)."""
    _cupy().cuda.Device().synchronize()


def empty_cache():
    """Give CuPy's cached, unused GPU memory back to the driver."""
    if is_available():
        _cupy().get_default_memory_pool().free_all_blocks()


def manual_seed(seed):
    """Seeds minitorch_cnn's generator, which every device draws from (random numbers
    are drawn on the CPU and copied, so one seed gives the same numbers everywhere)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed
