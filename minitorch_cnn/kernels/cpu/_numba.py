"""What every Numba kernel family shares: the threading layer, ``jit`` and ``jit_parallel``
(see kernels/cpu/__init__.py for the naming rule), and the first-run message."""
import os
import sys
import threading
import types

import numpy as np
from numba import config, njit

from ...fast import TUNING

# prange loops run on a pool of threads, and every conv alternates them with the GEMMs
# of NumPy's BLAS, which has a pool of its own on the same cores. We use Numba's own
# "workqueue" pool: its threads sleep on a condition variable between kernels and
# never spin, and it loads no OpenMP runtime (the default "omp" layer does, and an
# OpenMP runtime is shared with, and tuned by, any other library in the process: torch
# included); on a small shared machine the spinning OpenMP pool made a conv several
# times slower (benchmarks/README.md). (workqueue does not support launching parallel
# kernels from two Python threads at once; minitorch_cnn runs its ops from one thread.)
# A layer the user chose with NUMBA_THREADING_LAYER wins. The choice goes into the
# environment as well as into numba.config: Numba re-reads its whole configuration from
# os.environ whenever the environment has changed since it last looked (at each compile),
# so a value set only in numba.config is lost if anything in the process sets an
# environment variable before the first parallel kernel runs, and the "omp" layer comes
# back unnoticed (benchmarks/README.md: this cost MobileNetV2 a quarter of its step).
if "NUMBA_THREADING_LAYER" not in os.environ:
    os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
    config.THREADING_LAYER = "workqueue"


def jit(fn, **options):
    """``fn`` compiled by Numba on its first call, and cached on disk for later runs."""
    return njit(cache=True, **options)(fn)


class jit_parallel:
    """A prange loop, compiled twice: ``parallel`` splits its outer loop over the cores,
    ``serial`` is the same loop in the calling thread.

    Waking the thread pool costs a fraction of a millisecond a launch, a training step
    launches about a thousand kernels, and right after a GEMM NumPy's BLAS threads still
    spin on the other cores: for small arrays one thread is faster. So work whose largest
    array has fewer than ``serial_below`` elements (default: ``TUNING.serial_below`` in
    fast/__init__.py) runs serially; ``always=True`` for kernels that read several inputs
    per output (depthwise, pooling), whose threads pay at any size.
    """

    def __init__(self, fn, serial_below=None, always=False):
        self.py_func, self.family = fn, fn.__module__.rsplit(".", 1)[-1]
        self.serial_below, self.always = serial_below, always
        self.parallel = njit(parallel=True, cache=True)(fn)
        # a twin function of its own name, so that Numba's on-disk cache keeps the two apart
        twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial",
                                  fn.__defaults__, fn.__closure__)
        twin.__qualname__ = fn.__qualname__ + "_serial"
        self.serial = njit(cache=True)(twin)

    def __call__(self, *args):
        limit = TUNING.serial_below if self.serial_below is None else self.serial_below
        work = max([a.size for a in args if isinstance(a, np.ndarray)], default=0)
        run = self.parallel if self.always or work >= limit else self.serial
        if not getattr(run, "signatures", True):    # the first call in this process
            return _first_call(self.family, run, args)  # (NUMBA_DISABLE_JIT: no signatures)
        return run(*args)


_announced = set()         # the families whose compiling this process has reported
_NOTICE_AFTER = 1.0        # seconds of compiling before the message


def _announce(family):
    if family not in _announced:
        _announced.add(family)
        sys.stderr.write(f"minitorch_cnn: compiling the {family} CPU kernels with Numba (the "
                         f"first run on this machine only: they are cached for later runs)...\n")
        sys.stderr.flush()


def _on_disk(run):
    """Whether Numba's cache holds compiled code of ``run`` (its index file exists)."""
    try:
        return os.path.exists(run._cache._cache_file._index_path)
    except AttributeError:               # another Numba version: assume it compiles
        return False


def _first_call(family, run, args):
    """A kernel's first call: Numba loads it from its cache, or compiles it, which takes
    seconds; when it compiles for more than one second, say once per family what the wait
    is, so that a first run does not sit silent at its first batch."""
    if _on_disk(run):
        return run(*args)
    timer = threading.Timer(_NOTICE_AFTER, _announce, (family,))
    timer.daemon = True
    timer.start()
    try:
        return run(*args)
    finally:
        timer.cancel()
