"""An experiment (benchmarks/README.md, "Speed round 3: levers"; not part of the package):
Winograd F(m x m, 3x3) fused per block of samples, transform, multiply and transform back
while the block's tiles are still in the core's cache.

The unit ``winograd`` (fast/conv_winograd.py) runs each step over a block of samples:
the input transform writes V (a*a, tiles, C) for the block, one BLAS call per tile value
multiplies it, the output transform reads M (a*a, tiles, OC) back. Here one ``prange``
iteration does all of it for a few samples (about ``tiles`` = 64 tiles), so that their
V and M (a few hundred kB) stay in L2. The products are either BLAS calls made from
inside Numba (np.dot: needs SciPy, whose BLAS Numba calls) or, with ``blas=False``,
loops along the output channels (4-10x slower on these shapes).

The transforms are those of kernels/cpu/winograd.py (the same helpers, applied to one
sample at a time); backward is the plan of conv_winograd.backward, per block, with each
thread adding its samples' dL/dU into its own slice of ``gU_parts``.
"""
import numpy as np
from numba import prange

from minitorch_cnn.kernels.cpu.winograd import (MAT_A, MAT_AT, MAT_B, MAT_BT, crop_plane_cpu,
                                                gather_columns_cpu, tile_row_cpu,
                                                untile_row_cpu)
from minitorch_cnn.kernels.cpu._numba import jit, jit_parallel
from minitorch_cnn.kernels.reference import _winograd_tiles


def _tile_products(V, U, M):
    """M[xi] = V[xi] @ U[xi] for each of the a*a tile values xi:
    V (a*a, T, K), U (a*a, K, J) -> M (a*a, T, J). The innermost loop runs along the J
    output channels, contiguous in U and M: a few SIMD multiply-adds per (t, k)."""
    A, T, K = V.shape
    J = U.shape[2]
    for xi in range(A):
        for t in range(T):
            out = M[xi, t]
            for j in range(J):
                out[j] = 0
            for k in range(K):
                v, row = V[xi, t, k], U[xi, k]
                for j in range(J):
                    out[j] += v * row[j]


def _add_products_t(G, V, gU):
    """gU[xi] += G[xi]^T @ V[xi]: G (a*a, T, J), V (a*a, T, K) -> gU (a*a, J, K)."""
    A, T, J = G.shape
    K = V.shape[2]
    for xi in range(A):
        for t in range(T):
            vrow = V[xi, t]
            for j in range(J):
                s, out = G[xi, t, j], gU[xi, j]
                for k in range(K):
                    out[k] += s * vrow[k]


def _tile_products_blas(V, U, M):
    """_tile_products with one BLAS sgemm per tile value: Numba's np.dot on contiguous
    2-D arrays calls SciPy's BLAS (scipy.linalg.cython_blas), from inside the loop."""
    for xi in range(V.shape[0]):
        np.dot(V[xi], U[xi], M[xi])


def _add_products_t_blas(G, V, gU, scratch):
    """_add_products_t with one BLAS sgemm per tile value (into scratch (J, K), added)."""
    for xi in range(G.shape[0]):
        np.dot(G[xi].T, V[xi], scratch)
        gU[xi] += scratch


tile_products_cpu, add_products_t_cpu = jit(_tile_products), jit(_add_products_t)
tile_products_blas_cpu = jit(_tile_products_blas)
add_products_t_blas_cpu = jit(_add_products_t_blas)


def _transform_sample(x, n, PH, PW, TH, TW, m, q, which, V, i=0):
    """V[:, i*TH*TW:(i+1)*TH*TW] (V: (a*a, tiles, C)) = P d P^T for each q x q tile d of
    sample n of x (as winograd._tile_transform, for one sample, the i-th of a block)."""
    C = x.shape[1]
    a = m + 2
    T = V.shape[1]
    xl = np.empty((q, m * (TH - 1) + q, TW, C), dtype=x.dtype)
    gather_columns_cpu(x, n, PH, PW, TW, m, q, xl)
    t = np.empty((q, a, TW * C), dtype=x.dtype)
    Vf = V.reshape(-1)
    for th in range(TH):
        tile_row_cpu(xl, th, m, a, which, t, Vf, (i * TH + th) * TW * C, T * C)


def _untransform_sample(M, PH, PW, TH, TW, m, q, which, bias, y, n, i=0):
    """y[n] = the q x q tiles Q M_t Q^T added at step m, cropped by PH, PW, plus bias (as
    winograd._untile_transform, for one sample, the i-th of M's block (a*a, tiles, C))."""
    C = y.shape[1]
    a = m + 2
    T = M.shape[1]
    acc = np.zeros((m * (TH - 1) + q, m * (TW - 1) + q, C), dtype=y.dtype)
    u = np.empty((a, q, TW * C), dtype=y.dtype)
    z = np.empty((q, q, TW, C), dtype=y.dtype)
    Mf = M.reshape(-1)
    for th in range(TH):
        untile_row_cpu(Mf, (i * TH + th) * TW * C, T * C, th, m, which, u, z, acc)
    crop_plane_cpu(acc, PH, PW, bias, y, n)


transform_sample_cpu, untransform_sample_cpu = jit(_transform_sample), jit(_untransform_sample)


def _fused_forward(x, U, bias, PH, PW, TH, TW, m, y, blas, S):
    """y = conv(x, g) + bias by Winograd, S samples per iteration (their tiles stacked,
    so that the products are S times taller): x (N, C, H, W), U (a*a, C, OC)
    -> y (N, OC, OH, OW)."""
    N, C = x.shape[:2]
    OC = y.shape[1]
    a = m + 2
    for blk in prange(-(-N // S)):
        n0 = blk * S
        nb = min(S, N - n0)
        T = nb * TH * TW
        V = np.empty((a * a, T, C), dtype=x.dtype)
        for i in range(nb):
            transform_sample_cpu(x, n0 + i, PH, PW, TH, TW, m, a, MAT_BT, V, i)  # B^T d B
        M = np.empty((a * a, T, OC), dtype=x.dtype)
        if blas:
            tile_products_blas_cpu(V, U, M)                               # M = V @ U
        else:
            tile_products_cpu(V, U, M)
        for i in range(nb):
            untransform_sample_cpu(M, 0, 0, TH, TW, m, m, MAT_AT, bias, y, n0 + i, i)  # A^T M A


def _fused_backward(x, gy, Ut, PH, PW, TH, TW, m, need_x, need_w, gx, gU_parts, blas, S):
    """The adjoint of _fused_forward, per block: dM = A dY A^T; dV = dM @ U^T,
    dx = B dV B^T (if need_x); dU += dM^T @ V, V rebuilt from x (if need_w), into
    gU_parts[p] (a*a, OC, C) for the p-th of P runs of samples, one run per thread."""
    N, C = x.shape[:2]
    OC = gy.shape[1]
    P = gU_parts.shape[0]
    a = m + 2
    zero = np.zeros(C, dtype=x.dtype)
    for p in prange(P):
        scratch = np.empty((OC, C), dtype=x.dtype)
        if need_w:
            gU_parts[p] = 0
        n1 = (p + 1) * N // P
        for n0 in range(p * N // P, n1, S):
            nb = min(S, n1 - n0)
            T = nb * TH * TW
            gM = np.empty((a * a, T, OC), dtype=x.dtype)
            V = np.empty((a * a, T, C), dtype=x.dtype)
            for i in range(nb):
                transform_sample_cpu(gy, n0 + i, 0, 0, TH, TW, m, m, MAT_A, gM, i)  # A dY A^T
            if need_x:
                if blas:
                    tile_products_blas_cpu(gM, Ut, V)                        # dV = dM @ U^T
                else:
                    tile_products_cpu(gM, Ut, V)
                for i in range(nb):
                    untransform_sample_cpu(V, PH, PW, TH, TW, m, a, MAT_B, zero, gx, n0 + i, i)
            if need_w:
                for i in range(nb):
                    transform_sample_cpu(x, n0 + i, PH, PW, TH, TW, m, a, MAT_BT, V, i)
                if blas:
                    add_products_t_blas_cpu(gM, V, gU_parts[p], scratch)     # dU += dM^T V
                else:
                    add_products_t_cpu(gM, V, gU_parts[p])


fused_forward_cpu = jit_parallel(_fused_forward, always=True)
fused_backward_cpu = jit_parallel(_fused_backward, always=True)


def winograd_fused_conv2d(x, U, bias, g, m, blas=True, tiles=64):
    """conv2d of x (N, C, H, W) with the transformed filters U (a*a, C, OC) of a 3x3,
    stride 1 conv of geometry g, plus bias (OC,), by F(m x m, 3x3) -> (N, OC, OH, OW)."""
    TH, TW = _winograd_tiles(g.OH, g.OW, m)
    y = np.empty((x.shape[0], U.shape[2], g.OH, g.OW), dtype=x.dtype)
    fused_forward_cpu(np.ascontiguousarray(x), np.ascontiguousarray(U), bias,
                      g.PH, g.PW, TH, TW, m, y, blas, max(1, tiles // (TH * TW)))
    return y


def winograd_fused_conv2d_backward(x, gy, Ut, g, m, need_x, need_w, parts, blas=True,
                                   tiles=64):
    """(dL/dx or None, dL/dU (a*a, OC, C) or None) of winograd_fused_conv2d, from dL/dy;
    Ut (a*a, OC, C) is U transposed; ``parts`` runs of samples (one per thread) each
    sum their dU, added at the end."""
    N, C = x.shape[:2]
    OC = gy.shape[1]
    TH, TW = _winograd_tiles(g.OH, g.OW, m)
    A = (m + 2) ** 2
    parts = max(1, min(parts, N))
    gx = np.empty((N, C, g.H, g.W), dtype=gy.dtype) if need_x else np.empty((0, C, 1, 1), gy.dtype)
    gU_parts = np.empty((parts, A, OC, C) if need_w else (parts, 0, 0, 0), dtype=gy.dtype)
    fused_backward_cpu(np.ascontiguousarray(x), np.ascontiguousarray(gy),
                       np.ascontiguousarray(Ut), g.PH, g.PW, TH, TW, m, need_x, need_w,
                       gx, gU_parts, blas, max(1, tiles // (TH * TW)))
    return (gx if need_x else None), (gU_parts.sum(axis=0) if need_w else None)
