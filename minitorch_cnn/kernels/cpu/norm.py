"""Batch normalisation, compiled by Numba."""
import numpy as np
from numba import prange

from ._numba import jit_parallel
from .elementwise import through_band_cpu


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
# removes. It reads x once instead of twice.
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


def _batch_norm_apply(x, mean, inv_std, weight, bias, residual, lo, hi, y):
    """y = clamp((x - mean) * inv_std * weight + bias [+ residual], lo, hi): (-inf, inf) for
    plain batch norm, (0, inf) or (0, 6) with a fused ReLU / ReLU6 (NaN falls through, as
    in clamp). residual None: Numba compiles a version without the addition."""
    N, C, L = x.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        m, s, w, b = mean[c], inv_std[c], weight[c], bias[c]
        for i in range(L):
            v = (x[n, c, i] - m) * s * w + b
            if residual is not None:
                v += residual[n, c, i]
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
                    g = through_band_cpu(g, y[n, c, i], lo, hi)
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
                g = through_band_cpu(g, y[n, c, i], lo, hi)
            dx[n, c, i] = k * (g - a - (x[n, c, i] - m) * s * b)


batch_norm_statistics_cpu = jit_parallel(_batch_norm_statistics)
batch_norm_apply_cpu = jit_parallel(_batch_norm_apply)
batch_norm_backward_reduce_cpu = jit_parallel(_batch_norm_backward_reduce)
batch_norm_backward_input_cpu = jit_parallel(_batch_norm_backward_input)


def batch_norm_statistics(x):
    C = x.shape[1]
    mean, var = np.empty(C, dtype=x.dtype), np.empty(C, dtype=x.dtype)
    batch_norm_statistics_cpu(np.ascontiguousarray(x), mean, var)
    return mean, var


def _bounds(band):
    """(lo, hi) of a fused activation; no activation: (-inf, inf)."""
    return (-np.inf, np.inf) if band is None else (float(band[0]), float(band[1]))


def batch_norm_apply(x, mean, inv_std, weight, bias, band=None, residual=None):
    y = np.empty_like(x)
    residual = None if residual is None else np.ascontiguousarray(residual, dtype=x.dtype)
    batch_norm_apply_cpu(np.ascontiguousarray(x), mean, inv_std, weight, bias, residual,
                         *_bounds(band), y)
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
