"""The kernels of reference.py again, as explicit loops compiled by Numba for the CPU.

Same names, same arguments, same results (to float32 rounding) as reference.py; read
that file first for what each one computes, and the shape glossary. One file per
family, each imported by kernels/__init__.py the first time one of its kernels runs:

    im2col.py       im2col, col2im                 depthwise.py   depthwise conv, 2 layouts
    winograd.py     the Winograd transforms        pool.py        max, average, adaptive
    norm.py         batch norm (+ fused clamp)     elementwise.py clamp/band, SiLU, SGD step
    _numba.py       jit, jit_parallel, the threading layer, the first-run message

One naming rule throughout: ``_name`` is a plain Python function over loops (read it;
run with ``NUMBA_DISABLE_JIT=1`` it is what runs, debuggable), ``name_cpu`` is the same
function compiled by Numba (``im2col_cpu = jit_parallel(_im2col)``, helpers called from
inside other loops too: ``fill_cpu = jit(_fill)``), and ``name``, with the arguments of
reference.name, allocates the output and calls ``name_cpu``. Numba compiles a kernel on
its first call and caches it on disk, so a first run on a machine spends a while
compiling (and says so); later runs load the cache.

Where the speed comes from:
- one pass over memory, no temporaries (reference.py builds a padded copy and a
  (N, C, OH, OW) slice per tap);
- the bounds checks of the padding are hoisted out of the inner loops (``_inside_range``);
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
  (``jit_parallel``).
"""
