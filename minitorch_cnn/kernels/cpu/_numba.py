"""What every Numba kernel family shares: the threading layer, ``_jit`` and the
parallel/serial wrapper ``_Parallel`` (see kernels/cpu/__init__.py for the layout)."""
import os
import types

import numpy as np
from numba import config, njit

# prange loops run on a pool of threads, and every conv alternates them with the GEMMs
# of NumPy's BLAS, which has a pool of its own on the same cores. We use Numba's own
# "workqueue" pool: its threads sleep on a condition variable between kernels and
# never spin, and it loads no OpenMP runtime (the default "omp" layer does, and an
# OpenMP runtime is shared with, and tuned by, any other library in the process: torch
# included). Measured on the 2-core machine this project runs on, under load from other
# processes: a conv forward+backward took 0.25-0.45 s with workqueue, 1.6-3.4 s with
# OpenMP. (workqueue does not support launching parallel kernels from two Python
# threads at once; minitorch_cnn runs its ops from one thread.) A layer the user chose
# with NUMBA_THREADING_LAYER wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    config.THREADING_LAYER = "workqueue"

_jit = njit(cache=True)

# Waking the prange thread pool costs 0.1-0.3 ms a launch on the 2-core machine this
# project runs on (median 106 us back to back, 244 us after other work; 0.6 us for a
# plain call), and a training step launches about a thousand kernels. Right after a
# GEMM, NumPy's BLAS threads still spin on the other core, so two Numba threads are
# rarely faster than one there: BatchNorm statistics + ReLU on 1M elements took 2.2 ms
# on two against 2.0 on one, the Winograd transforms of a ResNet-56 block 0.6-1.7x the
# time of one thread. So each kernel is compiled twice, and work of fewer than
# SERIAL_BELOW elements (its largest array) runs as a plain loop in the calling thread.
# Whole training steps, in-process A/B, all parallel / below 4M serial / all serial:
# VGG-16-BN 1562 / 1452 / 1511 ms, MobileNetV2 1502 / 1424 / 1499 ms; ResNet-56, whose
# arrays are all below 4M, 2100 / - / 1854 ms. 0 makes every kernel parallel. Depthwise
# and pooling kernels, which do several reads per output, stay parallel (see there).
SERIAL_BELOW = 1 << 22


class _Parallel:
    """A prange kernel, parallel for large arrays and a plain loop for small ones."""

    def __init__(self, fn, serial_below=None):
        self.py_func = fn
        self.serial_below = serial_below         # None: the module's SERIAL_BELOW
        self.parallel = njit(parallel=True, cache=True)(fn)
        # a twin function of its own name, so that Numba's on-disk cache keeps the two apart
        twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial",
                                  fn.__defaults__, fn.__closure__)
        twin.__qualname__ = fn.__qualname__ + "_serial"
        self.serial = njit(cache=True)(twin)

    def __call__(self, *args):
        limit = SERIAL_BELOW if self.serial_below is None else self.serial_below
        work = max([a.size for a in args if isinstance(a, np.ndarray)], default=0)
        return (self.serial if work < limit else self.parallel)(*args)


_jit_parallel = _Parallel          # every prange kernel below
