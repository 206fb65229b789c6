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
  planes of 8x8 and less, along the channels of one sample turned channels-last;
- ``prange`` splits the outermost loop over the cores. Each parallel iteration owns
  the part of the output it writes (a row of cols, an (n, c) image plane), so the
  scatter-adds of the backward passes need no locks and no atomics. Each kernel is also
  compiled as a plain loop, which runs arrays too small to repay waking the threads
  (``SERIAL_BELOW``).
"""
import os
import types

import numpy as np
from numba import config, get_num_threads, njit, prange

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
           "batch_norm_backward_input", "clamp", "band_backward",
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
                for ow in range(ow0, ow1):
                    cols[r, base + ow] = x[n, c, ih, ow * SW - PW + kw * DW]
                for ow in range(ow1, OW):
                    cols[r, base + ow] = 0


def _col2im(cols, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, dx):
    N, C, H, W = dx.shape
    for nc in prange(N * C):                        # one image plane per iteration
        n, c = nc // C, nc % C
        for ih in range(H):
            for iw in range(W):
                dx[n, c, ih, iw] = 0
        for kh in range(KH):
            for kw in range(KW):
                r = (c * KH + kh) * KW + kw
                ow0, ow1 = _inside(W, SW, kw * DW - PW, OW)
                for oh in range(OH):
                    ih = oh * SH - PH + kh * DH
                    if ih < 0 or ih >= H:
                        continue
                    base = (n * OH + oh) * OW
                    for ow in range(ow0, ow1):
                        dx[n, c, ih, ow * SW - PW + kw * DW] += cols[r, base + ow]


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


def _padded_plane(src, PH, PW, Hp, Wp, P):
    """P (Hp*Wp + slack, flat) = src (H, W) with PH rows / PW columns of zeros before it."""
    H, W = src.shape
    P[:] = 0
    for ih in range(min(H, Hp - PH)):
        P[(ih + PH) * Wp + PW:(ih + PH) * Wp + PW + W] = src[ih]


def _on_grid(g, SH, SW, Wp, G):
    """G (flat) = g (OH, OW) placed at rows oh*SH, columns ow*SW of a Wp-wide grid, zeros
    between: the output gradient where the stride-1 output Q had its samples."""
    OH, OW = g.shape
    G[:] = 0
    for oh in range(OH):
        for ow in range(OW):
            G[oh * SH * Wp + ow * SW] = g[oh, ow]


axpy = _jit(_axpy)
padded_plane = _jit(_padded_plane)
on_grid = _jit(_on_grid)


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
            Q[:] = 0
            for kh in range(KH):
                for kw in range(KW):
                    off = kh * DH * Wp + kw * DW
                    axpy(w[o, 0, kh, kw], P[off:off + RH * Wp], Q)
            for oh in range(OH):
                for ow in range(OW):
                    y[n, o, oh, ow] = Q[oh * SH * Wp + ow * SW]


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
            dP[:] = 0
            for o in range(c * M, (c + 1) * M):     # the M filters that read channel c
                on_grid(gy[n, o], SH, SW, Wp, G)
                for kh in range(KH):
                    for kw in range(KW):            # the adjoint of the forward's shift
                        off = kh * DH * Wp + kw * DW
                        axpy(w[o, 0, kh, kw], G, dP[off:off + RH * Wp])
            for ih in range(H):
                r = ih + PH
                if r < Hp:
                    dx[n, c, ih, :] = dP[r * Wp + PW:r * Wp + PW + W]
                else:
                    dx[n, c, ih, :] = 0


def _depthwise_conv2d_backward_weight(x, gy, SH, SW, PH, PW, DH, DW, dw):
    N, C, H, W = x.shape
    OC, _, KH, KW = dw.shape
    M = OC // C
    OH, OW = gy.shape[2:]
    Hp, Wp, RH = _grid(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH)
    for o in prange(OC):                            # one filter per iteration
        P = np.empty(Hp * Wp + KW * DW, dtype=x.dtype)
        G = np.empty(RH * Wp, dtype=x.dtype)
        # dw[kh, kw] = sum over n and the grid of G * (P shifted by the tap); summed per
        # grid position first (vector multiply-adds), over the grid at the end
        acc = np.zeros((KH * KW, RH * Wp), dtype=x.dtype)
        for n in range(N):
            padded_plane(x[n, o // M], PH, PW, Hp, Wp, P)
            on_grid(gy[n, o], SH, SW, Wp, G)
            for kh in range(KH):
                for kw in range(KW):
                    off = kh * DH * Wp + kw * DW
                    row = acc[kh * KW + kw]
                    src = P[off:off + RH * Wp]
                    for i in range(RH * Wp):
                        row[i] += G[i] * src[i]
        for kh in range(KH):
            for kw in range(KW):
                dw[o, 0, kh, kw] = acc[kh * KW + kw].sum()


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
                best, where = -np.inf, -1
                for kh in range(KH):
                    ih = oh * SH - PH + kh * DH
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = ow * SW - PW + kw * DW
                        if iw >= 0 and iw < W and x[n, c, ih, iw] > best:
                            best, where = x[n, c, ih, iw], ih * W + iw
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
                best, where = -np.inf, -1
                for ih in range(hbins[oh, 0], hbins[oh, 1]):
                    for iw in range(wbins[ow, 0], wbins[ow, 1]):
                        if x[n, c, ih, iw] > best:
                            best, where = x[n, c, ih, iw], ih * W + iw
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
    """The backward of a clamp to (lo, hi) at one number: g where lo < v < hi, else 0
    (v is the clamped output; the kinks pass nothing, as in torch). The ReLU/ReLU6
    kernel and the BatchNorm kernels with a fused activation share it."""
    return g if v > lo and v < hi else 0


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


# ---------------------------------------------------------- Winograd F(2x2, 3x3)
# The transforms of reference.py written out: with B^T, G, A^T made of 0, +-1 and 1/2,
# each matrix product is a handful of additions. B^T d B is separable: combine the 4
# rows of a tile first (d0 - d2, d1 + d2, d2 - d1, d1 - d3), then the 4 columns of
# the result the same way; one image plane per parallel iteration.
def _padded_rows(x, n, c, ih0, PW, ow0, ow1, rows):
    """rows[i, k] = x[n, c, ih0 + i, k - PW]: the padded input rows that one row of tiles
    reads, zero outside the image (columns outside [ow0, ow1), rows outside [0, H))."""
    H = x.shape[2]
    for i in range(rows.shape[0]):
        ih = ih0 + i
        inside = ih >= 0 and ih < H
        for k in range(rows.shape[1]):
            rows[i, k] = x[n, c, ih, k - PW] if inside and ow0 <= k < ow1 else 0


def _crop(acc, PH, PW, n, c, dx):
    """dx[n, c] = the padded plane acc without its padding."""
    H, W = dx.shape[2:]
    for ih in range(H):
        for iw in range(W):
            dx[n, c, ih, iw] = acc[ih + PH, iw + PW]


_padded_rows, _crop = _jit(_padded_rows), _jit(_crop)


def _winograd_input_transform(x, PH, PW, TH, TW, V):
    N, C, H, W = x.shape
    Wp = 2 * TW + 2
    ow0, ow1 = _inside(W, 1, -PW, Wp)
    for nc in prange(N * C):                        # one image plane per iteration
        n, c = nc // C, nc % C
        rows = np.empty((4, Wp), dtype=x.dtype)     # the 4 input rows of a tile row, padded
        t = np.empty((4, Wp), dtype=x.dtype)        # B^T applied down each column
        for th in range(TH):
            _padded_rows(x, n, c, 2 * th - PH, PW, ow0, ow1, rows)
            for k in range(Wp):
                t[0, k] = rows[0, k] - rows[2, k]
                t[1, k] = rows[1, k] + rows[2, k]
                t[2, k] = rows[2, k] - rows[1, k]
                t[3, k] = rows[1, k] - rows[3, k]
            base = (n * TH + th) * TW
            for i in range(4):
                for tw in range(TW):                # ... then B along each tile's columns
                    k = 2 * tw
                    V[4 * i + 0, c, base + tw] = t[i, k] - t[i, k + 2]
                    V[4 * i + 1, c, base + tw] = t[i, k + 1] + t[i, k + 2]
                    V[4 * i + 2, c, base + tw] = t[i, k + 2] - t[i, k + 1]
                    V[4 * i + 3, c, base + tw] = t[i, k + 1] - t[i, k + 3]


def _winograd_output_transform(M, bias, y):
    N, OC, OH, OW = y.shape
    TH, TW = (OH + 1) // 2, (OW + 1) // 2
    for no in prange(N * OC):                               # one output plane per iteration
        n, o = no // OC, no % OC
        b = bias[o]
        for th in range(TH):
            last_row = 2 * th + 1 < OH                      # an odd OH drops a row ...
            for tw in range(TW):
                t = (n * TH + th) * TW + tw
                # A^T m: 4 rows -> 2 (m0 + m1 + m2, m1 - m2 - m3), for each column ...
                u0 = M[0, o, t] + M[4, o, t] + M[8, o, t]
                u1 = M[1, o, t] + M[5, o, t] + M[9, o, t]
                u2 = M[2, o, t] + M[6, o, t] + M[10, o, t]
                u3 = M[3, o, t] + M[7, o, t] + M[11, o, t]
                v0 = M[4, o, t] - M[8, o, t] - M[12, o, t]
                v1 = M[5, o, t] - M[9, o, t] - M[13, o, t]
                v2 = M[6, o, t] - M[10, o, t] - M[14, o, t]
                v3 = M[7, o, t] - M[11, o, t] - M[15, o, t]
                # ... then A along the columns: 4 -> 2
                oh, ow = 2 * th, 2 * tw
                y[n, o, oh, ow] = u0 + u1 + u2 + b
                if last_row:
                    y[n, o, oh + 1, ow] = v0 + v1 + v2 + b
                if ow + 1 < OW:                             # ... and an odd OW a column
                    y[n, o, oh, ow + 1] = u1 - u2 - u3 + b
                    if last_row:
                        y[n, o, oh + 1, ow + 1] = v1 - v2 - v3 + b


def _winograd_output_transform_backward(gy, dM):
    N, OC, OH, OW = gy.shape
    TH, TW = (OH + 1) // 2, (OW + 1) // 2
    for no in prange(N * OC):                              # one gy plane per iteration
        n, o = no // OC, no % OC
        g = np.empty((2, 2 * TW), dtype=gy.dtype)          # two rows of gy, zero-padded
        r = np.empty((4, 2 * TW), dtype=gy.dtype)          # A applied down each column
        for th in range(TH):
            _padded_rows(gy, n, o, 2 * th, 0, 0, OW, g)
            # A maps a pair (g0, g1) to (g0, g0 + g1, g0 - g1, -g1): rows first ...
            for k in range(2 * TW):
                r[0, k] = g[0, k]
                r[1, k] = g[0, k] + g[1, k]
                r[2, k] = g[0, k] - g[1, k]
                r[3, k] = -g[1, k]
            base = (n * TH + th) * TW
            for i in range(4):
                for tw in range(TW):                       # ... then each tile's columns
                    dM[4 * i + 0, o, base + tw] = r[i, 2 * tw]
                    dM[4 * i + 1, o, base + tw] = r[i, 2 * tw] + r[i, 2 * tw + 1]
                    dM[4 * i + 2, o, base + tw] = r[i, 2 * tw] - r[i, 2 * tw + 1]
                    dM[4 * i + 3, o, base + tw] = -r[i, 2 * tw + 1]


def _winograd_input_transform_backward(dV, PH, PW, TH, TW, dx):
    N, C, H, W = dx.shape
    Hp, Wp = 2 * TH + 2, 2 * TW + 2
    for nc in prange(N * C):                               # one dx plane per iteration
        n, c = nc // C, nc % C
        acc = np.zeros((Hp, Wp), dtype=dx.dtype)           # the padded plane
        w = np.empty((4, Wp), dtype=dx.dtype)              # one row of tiles
        for th in range(TH):
            base = (n * TH + th) * TW
            for a in range(4):
                for k in range(Wp):
                    w[a, k] = 0
                for tw in range(TW):
                    # B along the columns of tile row a: (v0, v1 - v2 + v3, v1 + v2 - v0,
                    # -v3), added where the tile sits (neighbours overlap by 2 columns)
                    v0, v1 = dV[4 * a, c, base + tw], dV[4 * a + 1, c, base + tw]
                    v2, v3 = dV[4 * a + 2, c, base + tw], dV[4 * a + 3, c, base + tw]
                    w[a, 2 * tw] += v0
                    w[a, 2 * tw + 1] += v1 - v2 + v3
                    w[a, 2 * tw + 2] += v1 + v2 - v0
                    w[a, 2 * tw + 3] -= v3
            # ... then B along the rows, for the whole row of tiles at once
            for k in range(Wp):
                acc[2 * th, k] += w[0, k]
                acc[2 * th + 1, k] += w[1, k] - w[2, k] + w[3, k]
                acc[2 * th + 2, k] += w[1, k] + w[2, k] - w[0, k]
                acc[2 * th + 3, k] -= w[3, k]
        _crop(acc, PH, PW, n, c, dx)                       # drop the padding


# ---------------------------------------------------------- Winograd F(4x4, 3x3)
# The same four loops for 6x6 tiles that step by 4 (reference.WINOGRAD4_*). The 1-D
# transforms are written once each, with their common sums shared; the 2-D ones apply
# them down the columns, then along the rows. The constants are float32, so that float32
# arithmetic stays float32 (an integer literal would promote it to float64 in Numba).
TWO, FOUR, FIVE, EIGHT = np.float32(2), np.float32(4), np.float32(5), np.float32(8)


def _bt6(d0, d1, d2, d3, d4, d5):
    """B^T d for 6 numbers: the rows of WINOGRAD4_BT."""
    return (FOUR * d0 - FIVE * d2 + d4,
            (d3 + d4) - FOUR * (d1 + d2),
            (d4 - d3) + FOUR * (d1 - d2),
            (d4 - d2) + TWO * (d3 - d1),
            (d4 - d2) - TWO * (d3 - d1),
            FOUR * d1 - FIVE * d3 + d5)


def _b6(v0, v1, v2, v3, v4, v5):
    """B v for 6 numbers (the adjoint of _bt6): the columns of WINOGRAD4_BT."""
    return (FOUR * v0,
            FOUR * (v2 - v1 + v5) + TWO * (v4 - v3),
            -FIVE * v0 - FOUR * (v1 + v2) - (v3 + v4),
            (v1 - v2) + TWO * (v3 - v4) - FIVE * v5,
            v0 + v1 + v2 + v3 + v4,
            v5)


def _at6(m0, m1, m2, m3, m4, m5):
    """A^T m: 6 numbers -> 4 (the rows of WINOGRAD4_AT)."""
    s1, d1, s2, d2 = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    return m0 + s1 + s2, d1 + TWO * d2, s1 + FOUR * s2, d1 + EIGHT * d2 + m5


def _a6(g0, g1, g2, g3):
    """A g: 4 numbers -> 6 (the adjoint of _at6)."""
    e, o = g0 + g2, g1 + g3
    e4, o4 = g0 + FOUR * g2, TWO * g1 + EIGHT * g3
    return g0, e + o, e - o, e4 + o4, e4 - o4, g3


_bt6, _b6, _at6, _a6 = _jit(_bt6), _jit(_b6), _jit(_at6), _jit(_a6)


def _winograd4_input_transform(x, PH, PW, TH, TW, V):
    N, C, H, W = x.shape
    Wp = 4 * TW + 2
    ow0, ow1 = _inside(W, 1, -PW, Wp)
    for nc in prange(N * C):                        # one image plane per iteration
        n, c = nc // C, nc % C
        rows = np.empty((6, Wp), dtype=x.dtype)     # the 6 input rows of a tile row, padded
        t = np.empty((6, Wp), dtype=x.dtype)        # B^T applied down each column
        for th in range(TH):
            _padded_rows(x, n, c, 4 * th - PH, PW, ow0, ow1, rows)
            for k in range(Wp):
                t0, t1, t2, t3, t4, t5 = _bt6(rows[0, k], rows[1, k], rows[2, k],
                                              rows[3, k], rows[4, k], rows[5, k])
                t[0, k], t[1, k], t[2, k] = t0, t1, t2
                t[3, k], t[4, k], t[5, k] = t3, t4, t5
            base = (n * TH + th) * TW
            for i in range(6):
                for tw in range(TW):                # ... then B along each tile's columns
                    k = 4 * tw
                    v0, v1, v2, v3, v4, v5 = _bt6(t[i, k], t[i, k + 1], t[i, k + 2],
                                                  t[i, k + 3], t[i, k + 4], t[i, k + 5])
                    V[6 * i + 0, c, base + tw] = v0
                    V[6 * i + 1, c, base + tw] = v1
                    V[6 * i + 2, c, base + tw] = v2
                    V[6 * i + 3, c, base + tw] = v3
                    V[6 * i + 4, c, base + tw] = v4
                    V[6 * i + 5, c, base + tw] = v5


def _winograd4_output_transform(M, bias, y):
    N, OC, OH, OW = y.shape
    TH, TW = (OH + 3) // 4, (OW + 3) // 4
    for no in prange(N * OC):                               # one output plane per iteration
        n, o = no // OC, no % OC
        b = bias[o]
        u = np.empty((4, 6), dtype=y.dtype)                 # A^T m of one tile's columns
        for th in range(TH):
            for tw in range(TW):
                t = (n * TH + th) * TW + tw
                for j in range(6):                          # A^T down each column ...
                    u0, u1, u2, u3 = _at6(M[j, o, t], M[6 + j, o, t], M[12 + j, o, t],
                                          M[18 + j, o, t], M[24 + j, o, t], M[30 + j, o, t])
                    u[0, j], u[1, j], u[2, j], u[3, j] = u0, u1, u2, u3
                ow = 4 * tw
                for r in range(min(4, OH - 4 * th)):        # ... then along each row kept
                    y0, y1, y2, y3 = _at6(u[r, 0], u[r, 1], u[r, 2], u[r, 3], u[r, 4],
                                          u[r, 5])
                    oh = 4 * th + r
                    if ow + 3 < OW:
                        y[n, o, oh, ow] = y0 + b
                        y[n, o, oh, ow + 1] = y1 + b
                        y[n, o, oh, ow + 2] = y2 + b
                        y[n, o, oh, ow + 3] = y3 + b
                    else:                                   # the last tile may hang over
                        y[n, o, oh, ow] = y0 + b
                        if ow + 1 < OW:
                            y[n, o, oh, ow + 1] = y1 + b
                        if ow + 2 < OW:
                            y[n, o, oh, ow + 2] = y2 + b


def _winograd4_output_transform_backward(gy, dM):
    N, OC, OH, OW = gy.shape
    TH, TW = (OH + 3) // 4, (OW + 3) // 4
    for no in prange(N * OC):                              # one gy plane per iteration
        n, o = no // OC, no % OC
        g = np.empty((4, 4 * TW), dtype=gy.dtype)          # four rows of gy, zero-padded
        r = np.empty((6, 4 * TW), dtype=gy.dtype)          # A applied down each column
        for th in range(TH):
            _padded_rows(gy, n, o, 4 * th, 0, 0, OW, g)
            for k in range(4 * TW):                        # rows first ...
                r0, r1, r2, r3, r4, r5 = _a6(g[0, k], g[1, k], g[2, k], g[3, k])
                r[0, k], r[1, k], r[2, k] = r0, r1, r2
                r[3, k], r[4, k], r[5, k] = r3, r4, r5
            base = (n * TH + th) * TW
            for i in range(6):
                for tw in range(TW):                       # ... then each tile's columns
                    k = 4 * tw
                    d0, d1, d2, d3, d4, d5 = _a6(r[i, k], r[i, k + 1], r[i, k + 2],
                                                 r[i, k + 3])
                    dM[6 * i + 0, o, base + tw] = d0
                    dM[6 * i + 1, o, base + tw] = d1
                    dM[6 * i + 2, o, base + tw] = d2
                    dM[6 * i + 3, o, base + tw] = d3
                    dM[6 * i + 4, o, base + tw] = d4
                    dM[6 * i + 5, o, base + tw] = d5


def _winograd4_input_transform_backward(dV, PH, PW, TH, TW, dx):
    N, C, H, W = dx.shape
    Hp, Wp = 4 * TH + 2, 4 * TW + 2
    for nc in prange(N * C):                               # one dx plane per iteration
        n, c = nc // C, nc % C
        acc = np.zeros((Hp, Wp), dtype=dx.dtype)           # the padded plane
        w = np.empty((6, Wp), dtype=dx.dtype)              # one row of tiles
        for th in range(TH):
            base = (n * TH + th) * TW
            for a in range(6):
                for k in range(Wp):
                    w[a, k] = 0
                for tw in range(TW):                       # B along the columns of row a,
                    k = 4 * tw                             # added where the tile sits
                    e0, e1, e2, e3, e4, e5 = _b6(
                        dV[6 * a, c, base + tw], dV[6 * a + 1, c, base + tw],
                        dV[6 * a + 2, c, base + tw], dV[6 * a + 3, c, base + tw],
                        dV[6 * a + 4, c, base + tw], dV[6 * a + 5, c, base + tw])
                    w[a, k] += e0
                    w[a, k + 1] += e1
                    w[a, k + 2] += e2
                    w[a, k + 3] += e3
                    w[a, k + 4] += e4
                    w[a, k + 5] += e5
            for k in range(Wp):                            # ... then B along the rows
                e0, e1, e2, e3, e4, e5 = _b6(w[0, k], w[1, k], w[2, k], w[3, k], w[4, k],
                                             w[5, k])
                acc[4 * th, k] += e0
                acc[4 * th + 1, k] += e1
                acc[4 * th + 2, k] += e2
                acc[4 * th + 3, k] += e3
                acc[4 * th + 4, k] += e4
                acc[4 * th + 5, k] += e5
        _crop(acc, PH, PW, n, c, dx)                       # drop the padding


winograd_input_transform_cpu = _jit_parallel(_winograd_input_transform)
winograd_output_transform_cpu = _jit_parallel(_winograd_output_transform)
winograd_output_transform_backward_cpu = _jit_parallel(_winograd_output_transform_backward)
winograd_input_transform_backward_cpu = _jit_parallel(_winograd_input_transform_backward)
winograd4_input_transform_cpu = _jit_parallel(_winograd4_input_transform)
winograd4_output_transform_cpu = _jit_parallel(_winograd4_output_transform)
winograd4_output_transform_backward_cpu = _jit_parallel(_winograd4_output_transform_backward)
winograd4_input_transform_backward_cpu = _jit_parallel(_winograd4_input_transform_backward)
# m -> the (input, output, output backward, input backward) transforms of F(m x m, 3x3)
_WINOGRAD = {2: (winograd_input_transform_cpu, winograd_output_transform_cpu,
                 winograd_output_transform_backward_cpu, winograd_input_transform_backward_cpu),
             4: (winograd4_input_transform_cpu, winograd4_output_transform_cpu,
                 winograd4_output_transform_backward_cpu,
                 winograd4_input_transform_backward_cpu)}


def winograd_input_transform(x, PH, PW, OH, OW, out=None, m=2):
    N, C = x.shape[:2]
    TH, TW = _winograd_tiles(OH, OW, m)
    V = np.empty(((m + 2) ** 2, C, N * TH * TW), dtype=x.dtype) if out is None else out
    _WINOGRAD[m][0](np.ascontiguousarray(x), PH, PW, TH, TW, V)
    return V


def winograd_output_transform(M, bias, N, OH, OW, out=None, m=2):
    y = np.empty((N, M.shape[1], OH, OW), dtype=M.dtype) if out is None else out
    _WINOGRAD[m][1](np.ascontiguousarray(M), bias, y)
    return y


def winograd_output_transform_backward(gy, out=None, m=2):
    N, OC, OH, OW = gy.shape
    TH, TW = _winograd_tiles(OH, OW, m)
    dM = np.empty(((m + 2) ** 2, OC, N * TH * TW), dtype=gy.dtype) if out is None else out
    _WINOGRAD[m][2](np.ascontiguousarray(gy), dM)
    return dM


def winograd_input_transform_backward(dV, x_shape, PH, PW, OH, OW, out=None, m=2):
    TH, TW = _winograd_tiles(OH, OW, m)
    dx = np.empty(x_shape, dtype=dV.dtype) if out is None else out
    _WINOGRAD[m][3](np.ascontiguousarray(dV), PH, PW, TH, TW, dx)
    return dx
