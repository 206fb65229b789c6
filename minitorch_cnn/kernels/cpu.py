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
import os
import types

import numpy as np
from numba import config, get_num_threads, njit, prange, uintp

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

from . import reference
from .reference import _adaptive_bins, _out_size, _winograd_tiles

__all__ = ["im2col", "col2im", "depthwise_conv2d", "depthwise_conv2d_backward_input",
           "depthwise_conv2d_backward_weight", "max_pool2d", "max_pool2d_backward",
           "avg_pool2d", "avg_pool2d_backward", "adaptive_avg_pool2d",
           "adaptive_avg_pool2d_backward", "adaptive_max_pool2d",
           "batch_norm_statistics", "batch_norm_apply", "batch_norm_backward_reduce",
           "batch_norm_backward_input", "clamp", "band_backward", "silu", "silu_backward",
           "sgd_update",
           "winograd_input_transform", "winograd_input_transform_backward",
           "winograd_output_transform", "winograd_output_transform_backward"]

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


def _inside_range(size, S, offset, out_size):
    """The outputs o in [o0, o1) whose input index o*S + offset lies in [0, size)."""
    o0 = max(0, (S - 1 - offset) // S)
    o1 = min(out_size, (size - 1 - offset) // S + 1)
    return o0, max(o0, o1)


_inside = _jit(_inside_range)


# ------------------------------------------------------------------ im2col
# Loops here are written out element by element, not as slice assignments: Numba
# compiles ``row[:] = 0`` into a generic call, and at hundreds of thousands of short
# rows per conv that overhead would dominate.
def _im2col(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols):
    N, C, H, W = x.shape
    xf, cf = x.reshape(-1), cols.reshape(-1)       # flat views, for the unsigned indices
    for r in prange(C * KH * KW):                   # one row of cols per iteration
        c, kh, kw = r // (KH * KW), (r // KW) % KH, r % KW
        ow0, ow1 = _inside(W, SW, kw * DW - PW, OW)
        for n in range(N):
            for oh in range(OH):
                base = (n * OH + oh) * OW
                ih = oh * SH - PH + kh * DH
                if ih < 0 or ih >= H:               # the whole row reads padding
                    for ow in range(OW):
                        cols[r, base + ow] = 0
                    continue
                for ow in range(ow0):
                    cols[r, base + ow] = 0
                # the inside of the row, cols[r, base + ow] = x[n, c, ih, ow*SW - PW + kw*DW],
                # with unsigned indices: Numba tests a signed index for being negative
                # (wrap-around), which keeps the loop from compiling to plain loads
                dst = uintp(r * cols.shape[1] + base + ow0)
                src = uintp(((n * C + c) * H + ih) * W + ow0 * SW - PW + kw * DW)
                for j in range(uintp(ow1 - ow0)):
                    cf[dst + j] = xf[src + j * uintp(SW)]
                for ow in range(ow1, OW):
                    cols[r, base + ow] = 0


def _col2im(cols, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, dx):
    N, C, H, W = dx.shape
    cf, dxf = cols.reshape(-1), dx.reshape(-1)
    for nc in prange(N * C):                        # one image plane per iteration
        n, c = nc // C, nc % C
        for i in range(uintp(H * W)):
            dxf[uintp(nc * H * W) + i] = 0
        for kh in range(KH):
            for kw in range(KW):
                r = (c * KH + kh) * KW + kw
                ow0, ow1 = _inside(W, SW, kw * DW - PW, OW)
                for oh in range(OH):
                    ih = oh * SH - PH + kh * DH
                    if ih < 0 or ih >= H:
                        continue
                    # dx[n, c, ih, ow*SW - PW + kw*DW] += cols[r, (n*OH + oh)*OW + ow]
                    src = uintp(r * cols.shape[1] + (n * OH + oh) * OW + ow0)
                    dst = uintp((nc * H + ih) * W + ow0 * SW - PW + kw * DW)
                    for j in range(uintp(ow1 - ow0)):
                        dxf[dst + j * uintp(SW)] += cf[src + j]


im2col_cpu = _jit_parallel(_im2col)
col2im_cpu = _jit_parallel(_col2im)


def im2col(x, KH, KW, SH, SW, PH, PW, DH, DW, out=None):
    N, C, H, W = x.shape
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    if out is None:
        out = np.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    im2col_cpu(np.ascontiguousarray(x), KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, out)
    return out


def col2im(cols, x_shape, KH, KW, SH, SW, PH, PW, DH, DW, out=None):
    N, C, H, W = x_shape
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    if out is None:
        out = np.empty(x_shape, dtype=cols.dtype)
    col2im_cpu(np.ascontiguousarray(cols), KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, out)
    return out


# ------------------------------------------------------ depthwise convolution
# With one channel per filter there is no GEMM to lean on, and a plane is small (16x16
# in MobileNet's later layers): a loop along one output row (16 pixels) is too short
# for LLVM to vectorise. So each plane is copied into a zero-padded buffer P of width
# Wp = W + 2*PW and flattened: on that grid, tap (kh, kw) of every output pixel is the
# same shift of P, and the whole plane becomes KH*KW long multiply-adds
#     Q[0 : RH*Wp] += w[kh, kw] * P[kh*DH*Wp + kw*DW : ... + RH*Wp]
# where Q is the stride-1 output on the same grid. Its columns past the last window
# hold garbage, which is never copied out; a stride > 1 samples every SH-th row and
# SW-th column of Q (computing the rest is the price of the long loops).
def _axpy(a, x, y):
    """y += a * x, the loop LLVM turns into vector multiply-adds."""
    for i in range(y.shape[0]):
        y[i] += a * x[i]


def _dot(a, b):
    """sum(a * b). A sum is a chain of additions, each waiting for the one before, and
    LLVM keeps floating-point additions in the order written unless told they may be
    regrouped: compiled with fastmath "reassoc", it keeps 8 or 16 running sums in a vector
    register and adds them up at the end (the float32 result then differs from the
    in-order sum by rounding only). The accumulator has the arrays' dtype."""
    s = a.dtype.type(0)
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


def _fill(a, value):
    """a[:] = value, as a loop (see the im2col note: ``a[:] = 0`` is a generic call)."""
    for i in range(a.shape[0]):
        a[i] = value


def _copy(src, dst):
    """dst[:] = src[:len(dst)], as a loop."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


def _padded_plane(src, PH, PW, Hp, Wp, P):
    """P (Hp*Wp + slack, flat) = src (H, W) with PH rows / PW columns of zeros before it."""
    H, W = src.shape
    fill(P, 0)
    for ih in range(min(H, Hp - PH)):
        start = (ih + PH) * Wp + PW
        copy(src[ih], P[start:start + W])


def _on_grid(g, SH, SW, Wp, G):
    """G (flat) = g (OH, OW) placed at rows oh*SH, columns ow*SW of a Wp-wide grid, zeros
    between: the output gradient where the stride-1 output Q had its samples."""
    OH, OW = g.shape
    if SH == 1 and SW == 1:                         # every grid row holds a row of g
        for oh in range(OH):
            row = G[oh * Wp:(oh + 1) * Wp]
            copy(g[oh], row[:OW])
            fill(row[OW:], 0)
        return
    fill(G, 0)
    for oh in range(OH):
        for ow in range(OW):
            G[oh * SH * Wp + ow * SW] = g[oh, ow]


def _from_grid(Q, SH, SW, Wp, y):
    """y (OH, OW) = Q (flat) sampled at rows oh*SH, columns ow*SW of its Wp-wide grid."""
    OH, OW = y.shape
    for oh in range(OH):
        q = Q[oh * SH * Wp:oh * SH * Wp + (OW - 1) * SW + 1]
        row = y[oh]
        if SW == 1:
            copy(q, row)
        else:
            for ow in range(OW):
                row[ow] = q[ow * SW]


axpy = _jit(_axpy)
dot = njit(cache=True, fastmath={"reassoc", "contract"})(_dot)
fill = _jit(_fill)
copy = _jit(_copy)
padded_plane = _jit(_padded_plane)
on_grid = _jit(_on_grid)
from_grid = _jit(_from_grid)


def _depthwise_grid(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH):
    """(Hp, Wp, RH): padded plane rows and width, and rows of the stride-1 output grid."""
    RH = (OH - 1) * SH + 1
    return RH + (KH - 1) * DH, W + 2 * PW, RH


_grid = _jit(_depthwise_grid)


def _depthwise_conv2d(x, w, SH, SW, PH, PW, DH, DW, y):
    N, C, H, W = x.shape
    OC, _, KH, KW = w.shape
    M = OC // C
    OH, OW = y.shape[2:]
    Hp, Wp, RH = _grid(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH)
    for n in prange(N):                             # one sample per iteration
        P = np.empty(Hp * Wp + KW * DW, dtype=x.dtype)    # + slack for the last row's taps
        Q = np.empty(RH * Wp, dtype=x.dtype)
        for o in range(OC):
            padded_plane(x[n, o // M], PH, PW, Hp, Wp, P)
            fill(Q, 0)
            for kh in range(KH):
                for kw in range(KW):
                    off = kh * DH * Wp + kw * DW
                    axpy(w[o, 0, kh, kw], P[off:off + RH * Wp], Q)
            from_grid(Q, SH, SW, Wp, y[n, o])


def _depthwise_conv2d_backward_input(gy, w, SH, SW, PH, PW, DH, DW, dx):
    N, C, H, W = dx.shape
    OC, _, KH, KW = w.shape
    M = OC // C
    OH, OW = gy.shape[2:]
    Hp, Wp, RH = _grid(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH)
    for n in prange(N):                             # one sample per iteration
        dP = np.empty(Hp * Wp + KW * DW, dtype=dx.dtype)
        G = np.empty(RH * Wp, dtype=dx.dtype)
        for c in range(C):
            fill(dP, 0)
            for o in range(c * M, (c + 1) * M):     # the M filters that read channel c
                on_grid(gy[n, o], SH, SW, Wp, G)
                for kh in range(KH):
                    for kw in range(KW):            # the adjoint of the forward's shift
                        off = kh * DH * Wp + kw * DW
                        axpy(w[o, 0, kh, kw], G, dP[off:off + RH * Wp])
            for ih in range(H):
                r = ih + PH
                if r < Hp:
                    copy(dP[r * Wp + PW:r * Wp + PW + W], dx[n, c, ih])
                else:
                    fill(dx[n, c, ih], 0)


def _depthwise_conv2d_backward_weight(x, gy, SH, SW, PH, PW, DH, DW, dw):
    N, C, H, W = x.shape
    OC, _, KH, KW = dw.shape
    M = OC // C
    OH, OW = gy.shape[2:]
    Hp, Wp, RH = _grid(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH)
    for o in prange(OC):                            # one filter per iteration
        P = np.empty(Hp * Wp + KW * DW, dtype=x.dtype)
        G = np.empty(RH * Wp, dtype=x.dtype)
        acc = np.zeros(KH * KW, dtype=x.dtype)
        for n in range(N):
            padded_plane(x[n, o // M], PH, PW, Hp, Wp, P)
            on_grid(gy[n, o], SH, SW, Wp, G)
            # dw[kh, kw] = sum over n and the grid of G * (P shifted by the tap)
            for kh in range(KH):
                for kw in range(KW):
                    off = kh * DH * Wp + kw * DW
                    acc[kh * KW + kw] += dot(G, P[off:off + RH * Wp])
        for kh in range(KH):
            for kw in range(KW):
                dw[o, 0, kh, kw] = acc[kh * KW + kw]


# Nine taps per output: the threads pay even on small planes when the kernel runs alone
# (bench_ops 144x16x16: 23 ms parallel, 40 ms as a plain loop), and in a MobileNetV2 step
# the choice was a wash (1842 against 1808 ms): so always parallel, like pooling.
_ALWAYS = 0
depthwise_conv2d_cpu = _jit_parallel(_depthwise_conv2d, _ALWAYS)
depthwise_conv2d_backward_input_cpu = _jit_parallel(_depthwise_conv2d_backward_input, _ALWAYS)
depthwise_conv2d_backward_weight_cpu = _jit_parallel(_depthwise_conv2d_backward_weight,
                                                     _ALWAYS)


# The plane layout above pays per plane: a padded copy, a zeroed Q, KH*KW short loops
# and a strided read-out, for every (n, c). At 8x8 and 4x4 (MobileNet's last stages:
# 384-960 channels of 64 or 16 pixels) that overhead is most of the work, and a stride
# of 2 throws away three quarters of Q. There the kernels below turn one sample at a
# time around to channels-last, xt (Hp, Wp, C), in a scratch buffer that stays in cache:
# tap (kh, kw) of output pixel (oh, ow) is then one contiguous row of C numbers,
#     y[oh, ow, :] += wt[kh*KW + kw, :] * xt[oh*SH + kh*DH, ow*SW + kw*DW, :]
# a long multiply-add along the channels that LLVM vectorises, at any stride. wt is w
# turned around the same way, (KH*KW, C). Only for one filter per channel (M == 1).
def _channels_last_grid(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    """(Hp, Wp): rows and columns of the padded plane that hold the input and every tap."""
    return (max(H + PH, (OH - 1) * SH + (KH - 1) * DH + 1),
            max(W + PW, (OW - 1) * SW + (KW - 1) * DW + 1))


def _to_channels_last(src, PH, PW, dst):
    """dst (Hp, Wp, C) = src (C, H, W) moved down PH rows and right PW columns; zeros around."""
    C, H, W = src.shape
    Hp, Wp, _ = dst.shape
    for h in range(Hp):
        for w in range(Wp):
            for c in range(C):
                dst[h, w, c] = 0
    for c in range(C):
        for h in range(H):
            for w in range(W):
                dst[h + PH, w + PW, c] = src[c, h, w]


_cl_grid = _jit(_channels_last_grid)
to_channels_last = _jit(_to_channels_last)


def _depthwise_conv2d_cl(x, wt, KH, KW, SH, SW, PH, PW, DH, DW, y):
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    Hp, Wp = _cl_grid(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    for n in prange(N):                             # one sample per iteration
        xt = np.empty((Hp, Wp, C), dtype=x.dtype)
        to_channels_last(x[n], PH, PW, xt)
        acc = np.empty(C, dtype=x.dtype)
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    acc[c] = 0
                for kh in range(KH):
                    for kw in range(KW):
                        src = xt[oh * SH + kh * DH, ow * SW + kw * DW]     # (C,)
                        wk = wt[kh * KW + kw]
                        for c in range(C):
                            acc[c] += wk[c] * src[c]
                for c in range(C):
                    y[n, c, oh, ow] = acc[c]


def _depthwise_conv2d_backward_input_cl(gy, wt, KH, KW, SH, SW, PH, PW, DH, DW, dx):
    N, C, H, W = dx.shape
    OH, OW = gy.shape[2:]
    Hp, Wp = _cl_grid(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    for n in prange(N):                             # one sample per iteration
        gt = np.empty((OH, OW, C), dtype=gy.dtype)
        to_channels_last(gy[n], 0, 0, gt)
        dxt = np.zeros((Hp, Wp, C), dtype=gy.dtype)
        for oh in range(OH):
            for ow in range(OW):
                g = gt[oh, ow]
                for kh in range(KH):
                    for kw in range(KW):            # the adjoint: each tap sends g back
                        dst = dxt[oh * SH + kh * DH, ow * SW + kw * DW]
                        wk = wt[kh * KW + kw]
                        for c in range(C):
                            dst[c] += wk[c] * g[c]
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    dx[n, c, h, w] = dxt[h + PH, w + PW, c]


def _depthwise_conv2d_backward_weight_cl(x, gy, KH, KW, SH, SW, PH, PW, DH, DW, part):
    """part (T, KH*KW, C): thread t sums dw over its own share of the samples."""
    N, C, H, W = x.shape
    OH, OW = gy.shape[2:]
    T = part.shape[0]
    Hp, Wp = _cl_grid(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    for t in prange(T):
        xt = np.empty((Hp, Wp, C), dtype=x.dtype)
        gt = np.empty((OH, OW, C), dtype=x.dtype)
        p = part[t]
        for k in range(KH * KW):
            for c in range(C):
                p[k, c] = 0
        for n in range(t * N // T, (t + 1) * N // T):
            to_channels_last(x[n], PH, PW, xt)
            to_channels_last(gy[n], 0, 0, gt)
            for oh in range(OH):
                for ow in range(OW):
                    g = gt[oh, ow]
                    for kh in range(KH):
                        for kw in range(KW):
                            src = xt[oh * SH + kh * DH, ow * SW + kw * DW]
                            pk = p[kh * KW + kw]
                            for c in range(C):
                                pk[c] += g[c] * src[c]


depthwise_conv2d_cl_cpu = _jit_parallel(_depthwise_conv2d_cl, _ALWAYS)
depthwise_conv2d_backward_input_cl_cpu = _jit_parallel(_depthwise_conv2d_backward_input_cl,
                                                       _ALWAYS)
depthwise_conv2d_backward_weight_cl_cpu = _jit_parallel(_depthwise_conv2d_backward_weight_cl,
                                                        _ALWAYS)

# Which layout the public functions use: "auto" picks by shape (what the benchmark
# showed, see _channels_last_pays); "planes" or "channels_last" force one (tests).
DEPTHWISE_LAYOUT = "auto"


def _channels_last_pays(C, OC, H, W, SH, SW):
    """Channels-last for planes of at most 8x8, or a stride; one filter per channel only.

    Measured per layer of MobileNetV2 at batch 64 (2 threads), forward + both
    gradients in ms, planes -> channels-last: 960x4x4 24.5 -> 8.6; 384x8x8 21.0 -> 12.0;
    576x8x8/2 26.4 -> 9.1; 192x16x16/2 23.6 -> 15.0; 144x32x32/2 45.7 -> 38.9. At stride 1 on
    16x16 they are even (192: 31.4 -> 32.5) and on 32x32 the planes win (144: 60.7 -> 89.9).
    """
    if OC != C or DEPTHWISE_LAYOUT == "planes":
        return False
    return DEPTHWISE_LAYOUT == "channels_last" or SH > 1 or SW > 1 or H * W <= 64


def _turned(w):
    """w (C, 1, KH, KW) -> wt (KH*KW, C), the channels-last filters."""
    C, _, KH, KW = w.shape
    return np.ascontiguousarray(w.reshape(C, KH * KW).T)


def depthwise_conv2d(x, w, SH, SW, PH, PW, DH, DW):
    N, C, H, W = x.shape
    OC, _, KH, KW = w.shape
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    y = np.empty((N, OC, OH, OW), dtype=x.dtype)
    x = np.ascontiguousarray(x)
    if _channels_last_pays(C, OC, H, W, SH, SW):
        depthwise_conv2d_cl_cpu(x, _turned(w), KH, KW, SH, SW, PH, PW, DH, DW, y)
    else:
        depthwise_conv2d_cpu(x, np.ascontiguousarray(w), SH, SW, PH, PW, DH, DW, y)
    return y


def depthwise_conv2d_backward_input(gy, w, x_shape, SH, SW, PH, PW, DH, DW):
    N, C, H, W = x_shape
    OC, _, KH, KW = w.shape
    dx = np.empty(x_shape, dtype=gy.dtype)
    gy = np.ascontiguousarray(gy)
    if _channels_last_pays(C, OC, H, W, SH, SW):
        depthwise_conv2d_backward_input_cl_cpu(gy, _turned(w), KH, KW, SH, SW, PH, PW, DH, DW,
                                               dx)
    else:
        depthwise_conv2d_backward_input_cpu(gy, np.ascontiguousarray(w),
                                            SH, SW, PH, PW, DH, DW, dx)
    return dx


def depthwise_conv2d_backward_weight(x, gy, KH, KW, SH, SW, PH, PW, DH, DW):
    N, C, H, W = x.shape
    OC = gy.shape[1]
    x, gy = np.ascontiguousarray(x), np.ascontiguousarray(gy)
    if _channels_last_pays(C, OC, H, W, SH, SW):
        part = np.empty((min(N, get_num_threads()), KH * KW, C), dtype=gy.dtype)
        depthwise_conv2d_backward_weight_cl_cpu(x, gy, KH, KW, SH, SW, PH, PW, DH, DW, part)
        return np.ascontiguousarray(part.sum(axis=0).T).reshape(C, 1, KH, KW)
    dw = np.empty((OC, 1, KH, KW), dtype=gy.dtype)
    depthwise_conv2d_backward_weight_cpu(x, gy, SH, SW, PH, PW, DH, DW, dw)
    return dw


# ------------------------------------------------------------------ pooling
def _max_pool2d(x, KH, KW, SH, SW, PH, PW, DH, DW, y, argmax):
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for oh in range(OH):
            for ow in range(OW):
                best, where = x[n, c, 0, 0], -1
                for kh in range(KH):
                    ih = oh * SH - PH + kh * DH
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = ow * SW - PW + kw * DW
                        if iw < 0 or iw >= W:
                            continue
                        v = x[n, c, ih, iw]
                        # the window's first pixel, a larger one, or NaN (v != v) wins
                        if where < 0 or v > best or v != v:
                            best, where = v, ih * W + iw
                y[n, c, oh, ow] = best
                argmax[n, c, oh, ow] = where


def _max_pool2d_backward(gy, argmax, dx):
    N, C, H, W = dx.shape
    OH, OW = gy.shape[2:]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        plane = dx[n, c].reshape(H * W)             # a view: dx is contiguous
        plane[:] = 0
        for oh in range(OH):
            for ow in range(OW):
                plane[argmax[n, c, oh, ow]] += gy[n, c, oh, ow]


def _avg_pool2d(x, KH, KW, SH, SW, PH, PW, divisor, y):
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for oh in range(OH):
            for ow in range(OW):
                s = 0.0
                for ih in range(max(oh * SH - PH, 0), min(oh * SH - PH + KH, H)):
                    for iw in range(max(ow * SW - PW, 0), min(ow * SW - PW + KW, W)):
                        s += x[n, c, ih, iw]
                y[n, c, oh, ow] = s / divisor[oh, ow]


def _avg_pool2d_backward(gy, KH, KW, SH, SW, PH, PW, divisor, dx):
    N, C, H, W = dx.shape
    OH, OW = gy.shape[2:]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        dx[n, c] = 0
        for oh in range(OH):
            for ow in range(OW):
                g = gy[n, c, oh, ow] / divisor[oh, ow]
                for ih in range(max(oh * SH - PH, 0), min(oh * SH - PH + KH, H)):
                    for iw in range(max(ow * SW - PW, 0), min(ow * SW - PW + KW, W)):
                        dx[n, c, ih, iw] += g


def _adaptive_avg_pool2d(x, hbins, wbins, y):
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for oh in range(OH):
            for ow in range(OW):
                h0, h1, w0, w1 = hbins[oh, 0], hbins[oh, 1], wbins[ow, 0], wbins[ow, 1]
                s = 0.0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        s += x[n, c, ih, iw]
                y[n, c, oh, ow] = s / ((h1 - h0) * (w1 - w0))


def _adaptive_avg_pool2d_backward(gy, hbins, wbins, dx):
    N, C, H, W = dx.shape
    OH, OW = gy.shape[2:]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        dx[n, c] = 0
        for oh in range(OH):
            for ow in range(OW):
                h0, h1, w0, w1 = hbins[oh, 0], hbins[oh, 1], wbins[ow, 0], wbins[ow, 1]
                g = gy[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        dx[n, c, ih, iw] += g


def _adaptive_max_pool2d(x, hbins, wbins, y, argmax):
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for oh in range(OH):
            for ow in range(OW):
                best, where = x[n, c, 0, 0], -1
                for ih in range(hbins[oh, 0], hbins[oh, 1]):
                    for iw in range(wbins[ow, 0], wbins[ow, 1]):
                        v = x[n, c, ih, iw]
                        if where < 0 or v > best or v != v:     # as in _max_pool2d
                            best, where = v, ih * W + iw
                y[n, c, oh, ow] = best
                argmax[n, c, oh, ow] = where


# Pooling reads KH*KW inputs per output and follows no GEMM in the nets here: the threads
# pay even on small maps (192x16x16, 3x3 max pool, forward + backward: 61 ms on two,
# 125 ms as a plain loop), so these kernels are always parallel.
max_pool2d_cpu = _jit_parallel(_max_pool2d, _ALWAYS)
max_pool2d_backward_cpu = _jit_parallel(_max_pool2d_backward, _ALWAYS)
avg_pool2d_cpu = _jit_parallel(_avg_pool2d, _ALWAYS)
avg_pool2d_backward_cpu = _jit_parallel(_avg_pool2d_backward, _ALWAYS)
adaptive_avg_pool2d_cpu = _jit_parallel(_adaptive_avg_pool2d, _ALWAYS)
adaptive_avg_pool2d_backward_cpu = _jit_parallel(_adaptive_avg_pool2d_backward, _ALWAYS)
adaptive_max_pool2d_cpu = _jit_parallel(_adaptive_max_pool2d, _ALWAYS)


def max_pool2d(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C = x.shape[:2]
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW), dtype=np.int64)
    max_pool2d_cpu(np.ascontiguousarray(x), KH, KW, SH, SW, PH, PW, DH, DW, y, argmax)
    return y, argmax


def max_pool2d_backward(gy, argmax, x_shape):
    dx = np.empty(x_shape, dtype=gy.dtype)
    max_pool2d_backward_cpu(np.ascontiguousarray(gy), argmax, dx)
    return dx


def avg_pool2d(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    N, C = x.shape[:2]
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    avg_pool2d_cpu(np.ascontiguousarray(x), KH, KW, SH, SW, PH, PW,
                   np.asarray(divisor, dtype=x.dtype), y)
    return y


def avg_pool2d_backward(gy, x_shape, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    dx = np.empty(x_shape, dtype=gy.dtype)
    avg_pool2d_backward_cpu(np.ascontiguousarray(gy), KH, KW, SH, SW, PH, PW,
                            np.asarray(divisor, dtype=gy.dtype), dx)
    return dx


def _bins(size, out_size):
    return np.array(_adaptive_bins(size, out_size), dtype=np.int64).reshape(out_size, 2)


def adaptive_avg_pool2d(x, OH, OW):
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    adaptive_avg_pool2d_cpu(np.ascontiguousarray(x), _bins(H, OH), _bins(W, OW), y)
    return y


def adaptive_avg_pool2d_backward(gy, x_shape):
    H, W = x_shape[2:]
    OH, OW = gy.shape[2:]
    dx = np.empty(x_shape, dtype=gy.dtype)
    adaptive_avg_pool2d_backward_cpu(np.ascontiguousarray(gy), _bins(H, OH), _bins(W, OW), dx)
    return dx


def adaptive_max_pool2d(x, OH, OW):
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW), dtype=np.int64)
    adaptive_max_pool2d_cpu(np.ascontiguousarray(x), _bins(H, OH), _bins(W, OW), y, argmax)
    return y, argmax


def _through_band(g, v, lo, hi):
    """The backward of a clamp to (lo, hi) at one number: 0 where v <= lo or v >= hi, else
    g (v is the clamped output; the kinks pass nothing, NaN passes g, as in torch). The
    ReLU/ReLU6 kernel and the BatchNorm kernels with a fused activation share it."""
    return 0 if v <= lo or v >= hi else g


_through_band = _jit(_through_band)


# ------------------------------------------------------ batch normalisation
# Sums are accumulated in float64 along vectors of length L (one entry per position,
# summed at the end): the loop over a row is then elementwise and vectorises, where a
# single scalar accumulator would be a serial chain of additions.
#
# One pass, not reference.py's two (mean first, then the squares about it): the sums of
# d = x - k and d^2 give mean = k + S1/M and var = S2/M - (S1/M)^2. Taken about k = the
# channel's first number, which lies inside the data, S2/M and (S1/M)^2 stay within
# (max - min)^2 of each other, and float64 keeps the difference exact to float32: the
# cancellation of the textbook E[x^2] - E[x]^2 needs |mean| >> std, which the shift
# removes. Measured: 1.1-2.4x faster than two passes (64x96x32x32: 4.1 -> 2.3 ms).
def _batch_norm_statistics(x, mean, var):
    N, C, L = x.shape
    M = N * L
    for c in prange(C):
        k = np.float64(x[0, c, 0]) if M > 0 else 0.0
        s1 = np.zeros(L, dtype=np.float64)
        s2 = np.zeros(L, dtype=np.float64)
        for n in range(N):
            for i in range(L):
                d = x[n, c, i] - k
                s1[i] += d
                s2[i] += d * d
        m1 = s1.sum() / M
        mean[c] = k + m1
        var[c] = max(s2.sum() / M - m1 * m1, 0.0)


def _batch_norm_apply(x, mean, inv_std, weight, bias, lo, hi, y):
    """y = clamp((x - mean) * inv_std * weight + bias, lo, hi): (-inf, inf) for plain batch
    norm, (0, inf) or (0, 6) with a fused ReLU / ReLU6 (NaN falls through, as in clamp)."""
    N, C, L = x.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        m, s, w, b = mean[c], inv_std[c], weight[c], bias[c]
        for i in range(L):
            v = (x[n, c, i] - m) * s * w + b
            y[n, c, i] = lo if v < lo else (hi if v > hi else v)


# backward recomputes x_hat = (x - mean) * inv_std on the fly (one multiply-add per
# number) instead of reading a saved copy: forward then writes one array, not two.
# With a fused activation, y is its output and gy passes only where lo < y < hi; with
# y = None (plain batch norm) Numba compiles a version without that test.
def _batch_norm_backward_reduce(gy, x, mean, inv_std, y, lo, hi, sum_gy, sum_gy_xhat):
    N, C, L = gy.shape
    for c in prange(C):
        m, s = mean[c], inv_std[c]
        a = np.zeros(L, dtype=np.float64)
        b = np.zeros(L, dtype=np.float64)
        for n in range(N):
            for i in range(L):
                g = gy[n, c, i]
                if y is not None:
                    g = _through_band(g, y[n, c, i], lo, hi)
                a[i] += g
                b[i] += g * ((x[n, c, i] - m) * s)
        sum_gy[c] = a.sum()
        sum_gy_xhat[c] = b.sum()


def _batch_norm_backward_input(gy, x, mean, inv_std, scale, mean_gy, mean_gy_xhat, y, lo, hi,
                               dx):
    N, C, L = gy.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        m, s = mean[c], inv_std[c]
        k, a, b = scale[c], mean_gy[c], mean_gy_xhat[c]
        for i in range(L):
            g = gy[n, c, i]
            if y is not None:
                g = _through_band(g, y[n, c, i], lo, hi)
            dx[n, c, i] = k * (g - a - (x[n, c, i] - m) * s * b)


batch_norm_statistics_cpu = _jit_parallel(_batch_norm_statistics)
batch_norm_apply_cpu = _jit_parallel(_batch_norm_apply)
batch_norm_backward_reduce_cpu = _jit_parallel(_batch_norm_backward_reduce)
batch_norm_backward_input_cpu = _jit_parallel(_batch_norm_backward_input)


def batch_norm_statistics(x):
    C = x.shape[1]
    mean, var = np.empty(C, dtype=x.dtype), np.empty(C, dtype=x.dtype)
    batch_norm_statistics_cpu(np.ascontiguousarray(x), mean, var)
    return mean, var


def _bounds(band):
    """(lo, hi) of a fused activation; no activation: (-inf, inf)."""
    return (-np.inf, np.inf) if band is None else (float(band[0]), float(band[1]))


def batch_norm_apply(x, mean, inv_std, weight, bias, band=None):
    y = np.empty_like(x)
    batch_norm_apply_cpu(np.ascontiguousarray(x), mean, inv_std, weight, bias, *_bounds(band),
                         y)
    return y


def batch_norm_backward_reduce(gy, x, mean, inv_std, y=None, band=None):
    C = gy.shape[1]
    sum_gy, sum_gy_xhat = np.empty(C, dtype=gy.dtype), np.empty(C, dtype=gy.dtype)
    y = None if y is None else np.ascontiguousarray(y)
    batch_norm_backward_reduce_cpu(np.ascontiguousarray(gy), np.ascontiguousarray(x), mean,
                                   inv_std, y, *_bounds(band), sum_gy, sum_gy_xhat)
    return sum_gy, sum_gy_xhat


def batch_norm_backward_input(gy, x, mean, inv_std, scale, mean_gy, mean_gy_xhat, y=None,
                              band=None):
    dx = np.empty(x.shape, dtype=gy.dtype)
    y = None if y is None else np.ascontiguousarray(y)
    batch_norm_backward_input_cpu(np.ascontiguousarray(gy), np.ascontiguousarray(x), mean,
                                  inv_std, scale, mean_gy, mean_gy_xhat, y, *_bounds(band), dx)
    return dx


# ------------------------------------------------------------ clipped activations
# NumPy's g * ((y > lo) & (y < hi)) makes three passes and two temporaries, and
# np.maximum(x, 0) runs on one thread; these are one parallel pass each.
def _clamp(x, lo, hi, y):                           # x, y: flat (1-D) views
    for i in prange(y.shape[0]):
        v = x[i]
        y[i] = lo if v < lo else (hi if v > hi else v)       # NaN falls through: NaN


def _band_backward(g, y, lo, hi, dx):               # all flat (1-D) views
    for i in prange(dx.shape[0]):
        dx[i] = _through_band(g[i], y[i], lo, hi)


clamp_cpu = _jit_parallel(_clamp)
band_backward_cpu = _jit_parallel(_band_backward)


def clamp(x, lo, hi):
    if x.dtype.kind != "f":                         # integer tensors: the reference
        return reference.clamp(x, lo, hi)
    y = np.empty(x.shape, dtype=x.dtype)
    clamp_cpu(np.ascontiguousarray(x).reshape(-1), lo, hi, y.reshape(-1))
    return y


def band_backward(g, y, lo, hi):
    if g.dtype.kind != "f" or y.dtype.kind != "f":  # integer tensors: the reference
        return reference.band_backward(g, y, lo, hi)
    dx = np.empty(y.shape, dtype=g.dtype)
    band_backward_cpu(np.ascontiguousarray(g).reshape(-1), np.ascontiguousarray(y).reshape(-1),
                      lo, hi, dx.reshape(-1))
    return dx


# --------------------------------------------------------------- SiLU (swish)
# x * sigmoid(x) is bound by its exponential. NumPy's np.exp is SIMD code, but the
# whole expression takes it eight passes and as many temporaries (abs, exp, where, the
# divisions) on one thread; Numba's np.exp is a call to libm's expf per number, which
# LLVM cannot vectorise. So float32 gets an exponential written out as arithmetic,
#     e^t = 2^k * e^r,   k = round(t / ln 2),   r = t - k ln 2  in [-ln2/2, ln2/2],
# e^r by its Taylor series to r^7 (relative error < 6e-9, under float32's 6e-8) and
# 2^k made directly as the bits of a float32: exponent field k + 127, mantissa 0.
# Every step vectorises. Measured on EfficientNet's 64x96x32x32 activations (6.3M
# numbers, 2 threads): NumPy 88 ms, a parallel loop over expf 14-20 ms, this 6-7 ms.
# float64 (gradient checks) keeps the exact np.exp.
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693145751953125)        # ln 2 = _LN2_HI + _LN2_LO; k * _LN2_HI is
_LN2_LO = np.float32(1.4286067653301870e-06)   # exact for |k| < 2^8, so r loses nothing
_MIN_EXPONENT = np.float32(-87.0)              # e^-87 = 1.6e-38: float32's smallest
_ONE = np.float32(1)                           # normal number is 1.2e-38 = e^-87.3;
                                               # below e^-87 we return 0
_CHUNK = 1024                                   # numbers per pass: the buffers stay in L1


def _exp_neg_abs(x, e, bits):
    """e = e^-|x| entry by entry (0 <= e <= 1; NaN stays NaN). bits: int32 scratch."""
    if x.itemsize != 4:                         # float64: libm, exact
        for j in range(e.shape[0]):
            e[j] = np.exp(-abs(x[j]))
        return
    for j in range(e.shape[0]):
        t = max(-abs(x[j]), _MIN_EXPONENT)
        k = np.floor(t * _LOG2E + np.float32(0.5))             # nearest integer to t/ln2
        r = (t - k * _LN2_HI) - k * _LN2_LO                     # |r| <= ln2/2
        p = np.float32(1 / 5040)                                # e^r = sum r^i / i!
        p = p * r + np.float32(1 / 720)
        p = p * r + np.float32(1 / 120)
        p = p * r + np.float32(1 / 24)
        p = p * r + np.float32(1 / 6)
        p = p * r + np.float32(1 / 2)
        p = p * r + _ONE
        e[j] = p * r + _ONE
        bits[j] = (np.int32(k) + 127) << 23                    # the float32 2^k
    two_k = bits.view(np.float32)
    for j in range(e.shape[0]):                 # below e^-87, 0 (as IEEE's e^-inf)
        e[j] = e[j] * two_k[j] if abs(x[j]) <= -_MIN_EXPONENT else 0


exp_neg_abs = _jit(_exp_neg_abs)


def _sigmoid_from(v, e):
    """sigmoid(v) from e = e^-|v| (no overflow either way): 1/(1+e) for v >= 0, else
    e^v/(1+e^v) = e/(1+e)."""
    return (_ONE if v >= 0 else e) / (_ONE + e)


sigmoid_from = _jit(_sigmoid_from)


def _silu(x, g, out):                               # flat (1-D) views
    """out = silu(x) (g None), or the gradient g * silu'(x) = g * s (1 + x (1 - s))."""
    n = out.shape[0]
    T = max(1, min(64, n // _CHUNK))                # pieces for the threads
    for t in prange(T):
        e = np.empty(_CHUNK, dtype=out.dtype)       # e^-|x| of one chunk, in L1
        bits = np.empty(_CHUNK, dtype=np.int32)
        for i0 in range(t * n // T, (t + 1) * n // T, _CHUNK):
            i1 = min(i0 + _CHUNK, (t + 1) * n // T)
            xs, ys, es = x[i0:i1], out[i0:i1], e[:i1 - i0]
            exp_neg_abs(xs, es, bits)
            if g is None:                           # forward (Numba compiles one branch)
                for j in range(ys.shape[0]):
                    ys[j] = xs[j] * sigmoid_from(xs[j], es[j])
            else:
                gs = g[i0:i1]
                for j in range(ys.shape[0]):
                    v = xs[j]
                    s = sigmoid_from(v, es[j])
                    ys[j] = gs[j] * (s * (_ONE + v * (_ONE - s)))


silu_cpu = _jit_parallel(_silu)


def silu(x):
    if x.dtype.kind != "f":
        return reference.silu(x)
    y = np.empty(x.shape, dtype=x.dtype)
    silu_cpu(np.ascontiguousarray(x).reshape(-1), None, y.reshape(-1))
    return y


def silu_backward(g, x):
    if g.dtype != x.dtype or x.dtype.kind != "f":
        return reference.silu_backward(g, x)
    dx = np.empty(x.shape, dtype=x.dtype)
    silu_cpu(np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(g).reshape(-1),
             dx.reshape(-1))
    return dx


# ------------------------------------------------------------------ SGD step
# reference.sgd_update takes five passes over the parameter and two temporaries
# (g + wd*p, buf *= mu, buf += d, lr*d, p -= ...); here one pass reads p, g and buf
# and writes p and buf. The scalars come in as the arrays' dtype, so every product
# rounds as NumPy's float32 arithmetic does: the same numbers, bit for bit.
def _sgd_update(p, g, buf, lr, mu, one_minus_tau, wd, nesterov, first):   # flat views
    for i in prange(p.shape[0]):
        d = g[i]
        if wd != 0:
            d = d + wd * p[i]
        if mu != 0:
            if first:
                b = d
            else:
                b = mu * buf[i] + one_minus_tau * d
            buf[i] = b
            d = d + mu * b if nesterov else b
        p[i] -= lr * d


sgd_update_cpu = _jit_parallel(_sgd_update, 1 << 18)


def sgd_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    flat_ok = p.flags.c_contiguous and (buf is None or buf.flags.c_contiguous)
    if not flat_ok or p.dtype.kind != "f" or g.dtype != p.dtype:
        return reference.sgd_update(p, g, buf, lr, momentum, dampening, weight_decay,
                                    nesterov, first)
    t = p.dtype.type
    buf_flat = p.reshape(-1)[:0] if buf is None else buf.reshape(-1)    # unused w/o momentum
    sgd_update_cpu(p.reshape(-1), np.ascontiguousarray(g).reshape(-1), buf_flat, t(lr),
                   t(momentum), t(1.0 - dampening), t(weight_decay), bool(nesterov),
                   bool(first))


# ---------------------------------------------------------- Winograd F(m x m, 3x3)
# Every transform of reference.py is a 1-D matrix applied twice: V = B^T d B is B^T
# down the columns of each tile, then B^T along its rows (likewise A^T m A, and the
# adjoints A g A^T, B v B^T of backward). So there are two kernels for all eight
# transforms, each told which 1-D matrix to apply (``_apply``):
#   _tile_transform    cuts x into q x q tiles at step m and applies P on both sides
#                      (input: P = B^T, q = m + 2; output backward: P = A, q = m);
#   _untile_transform  applies Q on both sides of each tile's a x a values and adds
#                      the q x q results back at step m (output: Q = A^T, q = m;
#                      input backward: Q = B, q = m + 2, so that neighbours overlap).
# Speed comes from the layout. Tile values are stored channels last, V[xi, tile, c]
# (xi = one of the a*a positions), and the kernels work on whole vectors: the same
# column of every tile in a row of tiles, for every channel, is one contiguous vector
# of TW*C numbers. Each 1-D matrix is then a few long loops of the form
#     v_j[l] = sum_k P[j, k] d_k[l]            (one loop per output j)
# which LLVM turns into SIMD code. Two details decide that it does (measured: a loop
# that stored six outputs at once ran 5-8x slower): each loop stores one vector only
# (with six it must prove at run time that none of the twelve overlap, and gives
# up), and each vector is a slice, indexed from 0 (an index like base + l could be
# negative for all LLVM knows, and Numba's wrap-around for negative indices then
# blocks the vector code).
TWO, FOUR, FIVE, EIGHT = np.float32(2), np.float32(4), np.float32(5), np.float32(8)
# (float32 constants: an integer literal would promote float32 arithmetic to float64)


def _vecs2(a, s, ss, L):
    """Two vectors of length L in the flat array a, at s and s + ss."""
    return a[s:s + L], a[s + ss:s + ss + L]


def _vecs4(a, s, ss, L):
    """Four vectors of length L in the flat array a, ss apart from s on."""
    return (a[s:s + L], a[s + ss:s + ss + L], a[s + 2 * ss:s + 2 * ss + L],
            a[s + 3 * ss:s + 3 * ss + L])


def _vecs6(a, s, ss, L):
    """Six vectors of length L in the flat array a, ss apart from s on."""
    return (a[s:s + L], a[s + ss:s + ss + L], a[s + 2 * ss:s + 2 * ss + L],
            a[s + 3 * ss:s + 3 * ss + L], a[s + 4 * ss:s + 4 * ss + L],
            a[s + 5 * ss:s + 5 * ss + L])


_vecs2, _vecs4, _vecs6 = _jit(_vecs2), _jit(_vecs4), _jit(_vecs6)

# The 1-D matrices, each as f(src, s, ss, dst, d, ds, L): output vector j (at
# dst[d + j*ds]) = sum_k P[j, k] * input vector k (at src[s + k*ss]), all of length L.
# F(2x2): the rows of reference.WINOGRAD_BT and _AT, and their transposes.


def _bt4_rows(src, s, ss, dst, d, ds, L):
    """B^T d (F(2x2)): (d0 - d2, d1 + d2, d2 - d1, d1 - d3)."""
    d0, d1, d2, d3 = _vecs4(src, s, ss, L)
    v0, v1, v2, v3 = _vecs4(dst, d, ds, L)
    for l in range(L):
        v0[l] = d0[l] - d2[l]
    for l in range(L):
        v1[l] = d1[l] + d2[l]
    for l in range(L):
        v2[l] = d2[l] - d1[l]
    for l in range(L):
        v3[l] = d1[l] - d3[l]


def _b4_rows(src, s, ss, dst, d, ds, L):
    """B v (F(2x2)), the adjoint of _bt4_rows: (v0, v1 - v2 + v3, v1 + v2 - v0, -v3)."""
    v0, v1, v2, v3 = _vecs4(src, s, ss, L)
    e0, e1, e2, e3 = _vecs4(dst, d, ds, L)
    for l in range(L):
        e0[l] = v0[l]
    for l in range(L):
        e1[l] = v1[l] - v2[l] + v3[l]
    for l in range(L):
        e2[l] = v1[l] + v2[l] - v0[l]
    for l in range(L):
        e3[l] = -v3[l]


def _at4_rows(src, s, ss, dst, d, ds, L):
    """A^T m (F(2x2)): 4 -> 2, (m0 + m1 + m2, m1 - m2 - m3)."""
    m0, m1, m2, m3 = _vecs4(src, s, ss, L)
    y0, y1 = _vecs2(dst, d, ds, L)
    for l in range(L):
        y0[l] = m0[l] + m1[l] + m2[l]
    for l in range(L):
        y1[l] = m1[l] - m2[l] - m3[l]


def _a4_rows(src, s, ss, dst, d, ds, L):
    """A g (F(2x2)), the adjoint of _at4_rows: 2 -> 4, (g0, g0 + g1, g0 - g1, -g1)."""
    g0, g1 = _vecs2(src, s, ss, L)
    r0, r1, r2, r3 = _vecs4(dst, d, ds, L)
    for l in range(L):
        r0[l] = g0[l]
    for l in range(L):
        r1[l] = g0[l] + g1[l]
    for l in range(L):
        r2[l] = g0[l] - g1[l]
    for l in range(L):
        r3[l] = -g1[l]


# F(4x4): the rows of reference.WINOGRAD4_BT and _AT and their transposes, with the
# common sums shared.
def _bt6_rows(src, s, ss, dst, d, ds, L):
    """B^T d (F(4x4)): 6 -> 6."""
    d0, d1, d2, d3, d4, d5 = _vecs6(src, s, ss, L)
    v0, v1, v2, v3, v4, v5 = _vecs6(dst, d, ds, L)
    for l in range(L):
        v0[l] = FOUR * d0[l] - FIVE * d2[l] + d4[l]
    for l in range(L):
        v1[l] = (d3[l] + d4[l]) - FOUR * (d1[l] + d2[l])
    for l in range(L):
        v2[l] = (d4[l] - d3[l]) + FOUR * (d1[l] - d2[l])
    for l in range(L):
        v3[l] = (d4[l] - d2[l]) + TWO * (d3[l] - d1[l])
    for l in range(L):
        v4[l] = (d4[l] - d2[l]) - TWO * (d3[l] - d1[l])
    for l in range(L):
        v5[l] = FOUR * d1[l] - FIVE * d3[l] + d5[l]


def _b6_rows(src, s, ss, dst, d, ds, L):
    """B v (F(4x4)), the adjoint of _bt6_rows: 6 -> 6."""
    v0, v1, v2, v3, v4, v5 = _vecs6(src, s, ss, L)
    e0, e1, e2, e3, e4, e5 = _vecs6(dst, d, ds, L)
    for l in range(L):
        e0[l] = FOUR * v0[l]
    for l in range(L):
        e1[l] = FOUR * (v2[l] - v1[l] + v5[l]) + TWO * (v4[l] - v3[l])
    for l in range(L):
        e2[l] = -FIVE * v0[l] - FOUR * (v1[l] + v2[l]) - (v3[l] + v4[l])
    for l in range(L):
        e3[l] = (v1[l] - v2[l]) + TWO * (v3[l] - v4[l]) - FIVE * v5[l]
    for l in range(L):
        e4[l] = v0[l] + v1[l] + v2[l] + v3[l] + v4[l]
    for l in range(L):
        e5[l] = v5[l]


def _at6_rows(src, s, ss, dst, d, ds, L):
    """A^T m (F(4x4)): 6 -> 4."""
    m0, m1, m2, m3, m4, m5 = _vecs6(src, s, ss, L)
    y0, y1, y2, y3 = _vecs4(dst, d, ds, L)
    for l in range(L):
        y0[l] = m0[l] + (m1[l] + m2[l]) + (m3[l] + m4[l])
    for l in range(L):
        y1[l] = (m1[l] - m2[l]) + TWO * (m3[l] - m4[l])
    for l in range(L):
        y2[l] = (m1[l] + m2[l]) + FOUR * (m3[l] + m4[l])
    for l in range(L):
        y3[l] = (m1[l] - m2[l]) + EIGHT * (m3[l] - m4[l]) + m5[l]


def _a6_rows(src, s, ss, dst, d, ds, L):
    """A g (F(4x4)), the adjoint of _at6_rows: 4 -> 6."""
    g0, g1, g2, g3 = _vecs4(src, s, ss, L)
    r0, r1, r2, r3, r4, r5 = _vecs6(dst, d, ds, L)
    for l in range(L):
        r0[l] = g0[l]
    for l in range(L):
        r1[l] = (g0[l] + g2[l]) + (g1[l] + g3[l])
    for l in range(L):
        r2[l] = (g0[l] + g2[l]) - (g1[l] + g3[l])
    for l in range(L):
        r3[l] = (g0[l] + FOUR * g2[l]) + (TWO * g1[l] + EIGHT * g3[l])
    for l in range(L):
        r4[l] = (g0[l] + FOUR * g2[l]) - (TWO * g1[l] + EIGHT * g3[l])
    for l in range(L):
        r5[l] = g3[l]


(_bt4_rows, _b4_rows, _at4_rows, _a4_rows,
 _bt6_rows, _b6_rows, _at6_rows, _a6_rows) = [
    _jit(f) for f in (_bt4_rows, _b4_rows, _at4_rows, _a4_rows,
                      _bt6_rows, _b6_rows, _at6_rows, _a6_rows)]

MAT_BT, MAT_AT, MAT_A, MAT_B = 0, 1, 2, 3            # which 1-D matrix


def _apply(which, m, src, s, ss, dst, d, ds, L):
    """The 1-D matrix ``which`` (MAT_BT, _AT, _A or _B) of F(m x m, 3x3), on vectors of
    length L."""
    if m == 2:
        if which == MAT_BT:
            _bt4_rows(src, s, ss, dst, d, ds, L)
        elif which == MAT_AT:
            _at4_rows(src, s, ss, dst, d, ds, L)
        elif which == MAT_A:
            _a4_rows(src, s, ss, dst, d, ds, L)
        else:
            _b4_rows(src, s, ss, dst, d, ds, L)
    else:
        if which == MAT_BT:
            _bt6_rows(src, s, ss, dst, d, ds, L)
        elif which == MAT_AT:
            _at6_rows(src, s, ss, dst, d, ds, L)
        elif which == MAT_A:
            _a6_rows(src, s, ss, dst, d, ds, L)
        else:
            _b6_rows(src, s, ss, dst, d, ds, L)


_apply = _jit(_apply)


def _gather_columns(x, n, PH, PW, TW, m, q, xl):
    """xl[k, h, tw, c] = x[n, c, h - PH, m*tw + k - PW] (0 outside x): column k of every
    tile in the rows of tiles, for each padded row h, as one vector of length TW*C."""
    C, H, W = x.shape[1:]
    Hp = xl.shape[1]
    for h in range(Hp):
        ih = h - PH
        for k in range(q):
            for tw in range(TW):
                iw = m * tw + k - PW
                dst = xl[k, h, tw]
                if 0 <= ih < H and 0 <= iw < W:
                    src = x[n, :, ih, iw]
                    for c in range(C):
                        dst[c] = src[c]
                else:
                    for c in range(C):
                        dst[c] = 0


def _tile_row(xl, th, m, a, which, t, dst, d, ds):
    """P d P^T for the tiles of row th: P down each column k of the tiles (xl[k], rows
    m*th ...) into t[k], then along each of their rows i; value (i, j) of every tile of
    the row goes to the vector at dst[d + (i*a + j)*ds], of length TW*C."""
    q, Hp, L = xl.shape[0], xl.shape[1], xl.shape[2] * xl.shape[3]
    xf, tf = xl.reshape(-1), t.reshape(-1)
    for k in range(q):
        _apply(which, m, xf, (k * Hp + m * th) * L, L, tf, k * a * L, L, L)
    for i in range(a):
        _apply(which, m, tf, i * L, a * L, dst, d + i * a * ds, ds, L)


def _untile_row(src, s, ss, th, m, which, u, z, acc):
    """Q m Q^T for the tiles of row th, added into the plane acc (channels last) at
    (m*th, m*tw): value (i, j) of every tile of the row is the vector at src[s + (i*a +
    j)*ss]; Q goes down each column j into u[j], then along each row r into z."""
    a, q, TW, C = u.shape[0], z.shape[0], z.shape[2], z.shape[3]
    L = TW * C
    uf, zf = u.reshape(-1), z.reshape(-1)
    for j in range(a):
        _apply(which, m, src, s + j * ss, a * ss, uf, j * q * L, L, L)
    for r in range(q):
        _apply(which, m, uf, r * L, q * L, zf, r * L, q * L, L)
    for r in range(q):                              # z[col, r, tw] is pixel
        for tw in range(TW):                        # (m*th + r, m*tw + col) of the plane
            for col in range(q):
                out, add = acc[m * th + r, m * tw + col], z[col, r, tw]
                for c in range(C):
                    out[c] += add[c]


def _crop_plane(acc, PH, PW, bias, y, n):
    """y[n] = acc (channels last) without its first PH rows and PW columns, + bias."""
    C, OH, OW = y.shape[1:]
    for c in range(C):
        b = bias[c]
        for h in range(OH):
            src, dst = acc[h + PH, PW:PW + OW, c], y[n, c, h]
            for w in range(OW):
                dst[w] = src[w] + b


_gather_columns, _tile_row, _untile_row, _crop_plane = (
    _jit(_gather_columns), _jit(_tile_row), _jit(_untile_row), _jit(_crop_plane))


def _tile_transform(x, PH, PW, TH, TW, m, q, a, which, V):
    """V[i*a + j, tile, c] = (P d P^T)[i, j] for each q x q tile d of x (tiles step by m;
    x padded by PH, PW zeros before and with zeros past its end). P (a x q) is applied
    by _apply: ``which`` is MAT_BT (the input) or MAT_A (the output's gradient).
    x (N, C, H, W) -> V (a*a, N*TH*TW, C)."""
    N, C = x.shape[:2]
    T = V.shape[1]
    for n in prange(N):                             # one sample per iteration
        xl = np.empty((q, m * (TH - 1) + q, TW, C), dtype=x.dtype)
        _gather_columns(x, n, PH, PW, TW, m, q, xl)
        t = np.empty((q, a, TW * C), dtype=x.dtype)
        for th in range(TH):
            _tile_row(xl, th, m, a, which, t, V.reshape(-1), (n * TH + th) * TW * C, T * C)


def _untile_transform(M, PH, PW, TH, TW, m, q, a, which, bias, y):
    """y = the q x q tiles Q M_t Q^T, each added at (m*th, m*tw) of a padded plane, without
    the first PH rows and PW columns of that plane, plus bias. Q (q x a) is applied by
    _apply: ``which`` is MAT_AT (the output) or MAT_B (the input's gradient).
    M (a*a, N*TH*TW, C) -> y (N, C, OH, OW)."""
    N, C = y.shape[:2]
    T = M.shape[1]
    for n in prange(N):                             # one sample per iteration
        acc = np.zeros((m * (TH - 1) + q, m * (TW - 1) + q, C), dtype=y.dtype)
        u = np.empty((a, q, TW * C), dtype=y.dtype)
        z = np.empty((q, q, TW, C), dtype=y.dtype)
        for th in range(TH):
            _untile_row(M.reshape(-1), (n * TH + th) * TW * C, T * C, th, m, which, u, z, acc)
        _crop_plane(acc, PH, PW, bias, y, n)


tile_transform_cpu = _jit_parallel(_tile_transform)
untile_transform_cpu = _jit_parallel(_untile_transform)


def winograd_input_transform(x, PH, PW, OH, OW, out=None, m=2):
    N, C = x.shape[:2]
    TH, TW = _winograd_tiles(OH, OW, m)
    a = m + 2
    V = np.empty((a * a, N * TH * TW, C), dtype=x.dtype) if out is None else out
    tile_transform_cpu(np.ascontiguousarray(x), PH, PW, TH, TW, m, a, a, MAT_BT, V)
    return V


def winograd_output_transform(M, bias, N, OH, OW, out=None, m=2):
    TH, TW = _winograd_tiles(OH, OW, m)
    y = np.empty((N, M.shape[2], OH, OW), dtype=M.dtype) if out is None else out
    untile_transform_cpu(np.ascontiguousarray(M), 0, 0, TH, TW, m, m, m + 2, MAT_AT, bias, y)
    return y


def winograd_output_transform_backward(gy, out=None, m=2):
    N, OC, OH, OW = gy.shape
    TH, TW = _winograd_tiles(OH, OW, m)
    a = m + 2
    dM = np.empty((a * a, N * TH * TW, OC), dtype=gy.dtype) if out is None else out
    tile_transform_cpu(np.ascontiguousarray(gy), 0, 0, TH, TW, m, m, a, MAT_A, dM)
    return dM


def winograd_input_transform_backward(dV, x_shape, PH, PW, OH, OW, out=None, m=2):
    TH, TW = _winograd_tiles(OH, OW, m)
    dx = np.empty(x_shape, dtype=dV.dtype) if out is None else out
    untile_transform_cpu(np.ascontiguousarray(dV), PH, PW, TH, TW, m, m + 2, m + 2, MAT_B,
                         np.zeros(x_shape[1], dtype=dV.dtype), dx)
    return dx

