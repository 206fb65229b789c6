"""The kernels of reference.py again, as explicit loops compiled by Numba for the CPU.

Same names, same arguments, same results (to float32 rounding) as reference.py; read
that file first for what each one computes, and the shape glossary. Here each kernel
is a plain Python function over loops (``_im2col``), compiled once at module level
(``im2col_cpu = njit(...)(_im2col)``): run with ``NUMBA_DISABLE_JIT=1`` and they are
ordinary, debuggable Python again. The public function of the same name (``im2col``)
allocates the output and calls the compiled loop.

Where the speed comes from:
- one pass over memory, no temporaries (reference.py builds a padded copy and a
  (N, C, OH, OW) slice per tap);
- the bounds checks of the padding are hoisted out of the inner loops (``_inside``);
- long inner loops where it pays: LLVM only vectorises a loop that runs for a few
  dozen iterations, and an image row of a CIFAR-sized net has 8 to 32 pixels. The
  depthwise kernels therefore work on a whole flattened, padded plane at once, or, on
  planes of 8x8 and less, along the channels of one sample turned channels-last; the
  Winograd kernels along the channels of a whole row of tiles;
- loops that LLVM can vectorise: one output array per loop (with several, it must prove
  at run time that none of them overlaps the inputs, and soon gives up), indexed by the
  loop counter itself, through a slice (``v = a[s:s + L]; v[l]``, not ``a[s + l]``: an
  index that might be negative gets Numba's wrap-around test, which blocks SIMD code),
  or by an unsigned index (``uintp``), which has no such test (im2col/col2im, where a
  slice per short row would cost more than the row);
- ``prange`` splits the outermost loop over the cores. Each parallel iteration owns
  the part of the output it writes (a row of cols, an (n, c) image plane), so the
  scatter-adds of the backward passes need no locks and no atomics. Each kernel is also
  compiled as a plain loop, which runs arrays too small to repay waking the threads
  (``SERIAL_BELOW``).
"""
from ._numba import SERIAL_BELOW, _Parallel, _jit, _jit_parallel  # noqa: F401
from .im2col import *  # noqa: F401,F403
from .im2col import _im2col, _col2im, _inside, _inside_range  # noqa: F401
from .depthwise import *  # noqa: F401,F403
from .depthwise import (_depthwise_conv2d, _depthwise_conv2d_cl, _turned,  # noqa: F401
                        _channels_last_pays)
from .pool import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .elementwise import exp_neg_abs, _through_band  # noqa: F401
from .winograd import *  # noqa: F401,F403
from .winograd import _tile_transform, _untile_transform, MAT_BT, MAT_AT, MAT_A, MAT_B  # noqa

__all__ = ["im2col", "col2im", "depthwise_conv2d", "depthwise_conv2d_backward_input",
           "depthwise_conv2d_backward_weight", "max_pool2d", "max_pool2d_backward",
           "avg_pool2d", "avg_pool2d_backward", "adaptive_avg_pool2d",
           "adaptive_avg_pool2d_backward", "adaptive_max_pool2d",
           "batch_norm_statistics", "batch_norm_apply", "batch_norm_backward_reduce",
           "batch_norm_backward_input", "clamp", "band_backward", "silu", "silu_backward",
           "sgd_update",
           "winograd_input_transform", "winograd_input_transform_backward",
           "winograd_output_transform", "winograd_output_transform_backward"]
