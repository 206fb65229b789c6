"""Max, average and adaptive pooling, compiled by Numba."""
import numpy as np
from numba import prange

from ..reference import _adaptive_bins
from ._numba import jit_parallel


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
# pay even on small maps, so these kernels are always parallel.
max_pool2d_cpu = jit_parallel(_max_pool2d, always=True)
max_pool2d_backward_cpu = jit_parallel(_max_pool2d_backward, always=True)
avg_pool2d_cpu = jit_parallel(_avg_pool2d, always=True)
avg_pool2d_backward_cpu = jit_parallel(_avg_pool2d_backward, always=True)
adaptive_avg_pool2d_cpu = jit_parallel(_adaptive_avg_pool2d, always=True)
adaptive_avg_pool2d_backward_cpu = jit_parallel(_adaptive_avg_pool2d_backward,
                                                always=True)
adaptive_max_pool2d_cpu = jit_parallel(_adaptive_max_pool2d, always=True)


def max_pool2d(x, g):
    N, C = x.shape[:2]
    y = np.empty((N, C, g.OH, g.OW), dtype=x.dtype)
    argmax = np.empty((N, C, g.OH, g.OW), dtype=np.int64)
    max_pool2d_cpu(np.ascontiguousarray(x), g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, y,
                   argmax)
    return y, argmax


def max_pool2d_backward(gy, argmax, x_shape):
    dx = np.empty(x_shape, dtype=gy.dtype)
    max_pool2d_backward_cpu(np.ascontiguousarray(gy), argmax, dx)
    return dx


def avg_pool2d(x, g, divisor):
    N, C = x.shape[:2]
    y = np.empty((N, C, g.OH, g.OW), dtype=x.dtype)
    avg_pool2d_cpu(np.ascontiguousarray(x), g.KH, g.KW, g.SH, g.SW, g.PH, g.PW,
                   np.asarray(divisor, dtype=x.dtype), y)
    return y


def avg_pool2d_backward(gy, g, divisor):
    dx = np.empty((gy.shape[0], g.C, g.H, g.W), dtype=gy.dtype)
    avg_pool2d_backward_cpu(np.ascontiguousarray(gy), g.KH, g.KW, g.SH, g.SW, g.PH, g.PW,
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
