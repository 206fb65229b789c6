"""Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms, compiled by Numba."""
import numpy as np
from numba import prange

from ..reference import _winograd_tiles
from ._numba import jit, jit_parallel


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
# which LLVM turns into SIMD code. Two details decide that it does (a loop that stored
# six outputs at once ran several times slower): each loop stores one vector only
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


vecs2_cpu, vecs4_cpu, vecs6_cpu = jit(_vecs2), jit(_vecs4), jit(_vecs6)

# The 1-D matrices, each as f(src, s, ss, dst, d, ds, L): output vector j (at
# dst[d + j*ds]) = sum_k P[j, k] * input vector k (at src[s + k*ss]), all of length L.
# F(2x2): the rows of reference.WINOGRAD_BT and _AT, and their transposes.


def _bt4_rows(src, s, ss, dst, d, ds, L):
    """B^T d (F(2x2)): (d0 - d2, d1 + d2, d2 - d1, d1 - d3)."""
    d0, d1, d2, d3 = vecs4_cpu(src, s, ss, L)
    v0, v1, v2, v3 = vecs4_cpu(dst, d, ds, L)
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
    v0, v1, v2, v3 = vecs4_cpu(src, s, ss, L)
    e0, e1, e2, e3 = vecs4_cpu(dst, d, ds, L)
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
    m0, m1, m2, m3 = vecs4_cpu(src, s, ss, L)
    y0, y1 = vecs2_cpu(dst, d, ds, L)
    for l in range(L):
        y0[l] = m0[l] + m1[l] + m2[l]
    for l in range(L):
        y1[l] = m1[l] - m2[l] - m3[l]


def _a4_rows(src, s, ss, dst, d, ds, L):
    """A g (F(2x2)), the adjoint of _at4_rows: 2 -> 4, (g0, g0 + g1, g0 - g1, -g1)."""
    g0, g1 = vecs2_cpu(src, s, ss, L)
    r0, r1, r2, r3 = vecs4_cpu(dst, d, ds, L)
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
    d0, d1, d2, d3, d4, d5 = vecs6_cpu(src, s, ss, L)
    v0, v1, v2, v3, v4, v5 = vecs6_cpu(dst, d, ds, L)
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
    v0, v1, v2, v3, v4, v5 = vecs6_cpu(src, s, ss, L)
    e0, e1, e2, e3, e4, e5 = vecs6_cpu(dst, d, ds, L)
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
    m0, m1, m2, m3, m4, m5 = vecs6_cpu(src, s, ss, L)
    y0, y1, y2, y3 = vecs4_cpu(dst, d, ds, L)
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
    g0, g1, g2, g3 = vecs4_cpu(src, s, ss, L)
    r0, r1, r2, r3, r4, r5 = vecs6_cpu(dst, d, ds, L)
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


(bt4_rows_cpu, b4_rows_cpu, at4_rows_cpu, a4_rows_cpu,
 bt6_rows_cpu, b6_rows_cpu, at6_rows_cpu, a6_rows_cpu) = [
    jit(f) for f in (_bt4_rows, _b4_rows, _at4_rows, _a4_rows,
                      _bt6_rows, _b6_rows, _at6_rows, _a6_rows)]

MAT_BT, MAT_AT, MAT_A, MAT_B = 0, 1, 2, 3            # which 1-D matrix


def _apply(which, m, src, s, ss, dst, d, ds, L):
    """The 1-D matrix ``which`` (MAT_BT, _AT, _A or _B) of F(m x m, 3x3), on vectors of
    length L."""
    if m == 2:
        if which == MAT_BT:
            bt4_rows_cpu(src, s, ss, dst, d, ds, L)
        elif which == MAT_AT:
            at4_rows_cpu(src, s, ss, dst, d, ds, L)
        elif which == MAT_A:
            a4_rows_cpu(src, s, ss, dst, d, ds, L)
        else:
            b4_rows_cpu(src, s, ss, dst, d, ds, L)
    else:
        if which == MAT_BT:
            bt6_rows_cpu(src, s, ss, dst, d, ds, L)
        elif which == MAT_AT:
            at6_rows_cpu(src, s, ss, dst, d, ds, L)
        elif which == MAT_A:
            a6_rows_cpu(src, s, ss, dst, d, ds, L)
        else:
            b6_rows_cpu(src, s, ss, dst, d, ds, L)


apply_cpu = jit(_apply)


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
        apply_cpu(which, m, xf, (k * Hp + m * th) * L, L, tf, k * a * L, L, L)
    for i in range(a):
        apply_cpu(which, m, tf, i * L, a * L, dst, d + i * a * ds, ds, L)


def _untile_row(src, s, ss, th, m, which, u, z, acc):
    """Q m Q^T for the tiles of row th, added into the plane acc (channels last) at
    (m*th, m*tw): value (i, j) of every tile of the row is the vector at src[s + (i*a +
    j)*ss]; Q goes down each column j into u[j], then along each row r into z."""
    a, q, TW, C = u.shape[0], z.shape[0], z.shape[2], z.shape[3]
    L = TW * C
    uf, zf = u.reshape(-1), z.reshape(-1)
    for j in range(a):
        apply_cpu(which, m, src, s + j * ss, a * ss, uf, j * q * L, L, L)
    for r in range(q):
        apply_cpu(which, m, uf, r * L, q * L, zf, r * L, q * L, L)
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


gather_columns_cpu, tile_row_cpu, untile_row_cpu, crop_plane_cpu = (
    jit(_gather_columns), jit(_tile_row), jit(_untile_row), jit(_crop_plane))


def _tile_transform(x, PH, PW, TH, TW, m, q, a, which, V):
    """V[i*a + j, tile, c] = (P d P^T)[i, j] for each q x q tile d of x (tiles step by m;
    x padded by PH, PW zeros before and with zeros past its end). P (a x q) is applied
    by _apply: ``which`` is MAT_BT (the input) or MAT_A (the output's gradient).
    x (N, C, H, W) -> V (a*a, N*TH*TW, C)."""
    N, C = x.shape[:2]
    T = V.shape[1]
    for n in prange(N):                             # one sample per iteration
        xl = np.empty((q, m * (TH - 1) + q, TW, C), dtype=x.dtype)
        gather_columns_cpu(x, n, PH, PW, TW, m, q, xl)
        t = np.empty((q, a, TW * C), dtype=x.dtype)
        for th in range(TH):
            tile_row_cpu(xl, th, m, a, which, t, V.reshape(-1), (n * TH + th) * TW * C, T * C)


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
            untile_row_cpu(M.reshape(-1), (n * TH + th) * TW * C, T * C, th, m, which, u, z, acc)
        crop_plane_cpu(acc, PH, PW, bias, y, n)


tile_transform_cpu = jit_parallel(_tile_transform)
untile_transform_cpu = jit_parallel(_untile_transform)


def winograd_input_transform(x, g, m=2, out=None):
    N, C = x.shape[:2]
    TH, TW = _winograd_tiles(g.OH, g.OW, m)
    a = m + 2
    V = np.empty((a * a, N * TH * TW, C), dtype=x.dtype) if out is None else out
    tile_transform_cpu(np.ascontiguousarray(x), g.PH, g.PW, TH, TW, m, a, a, MAT_BT, V)
    return V


def winograd_output_transform(M, bias, g, m=2, out=None):
    TH, TW = _winograd_tiles(g.OH, g.OW, m)
    N = M.shape[1] // (TH * TW)
    y = np.empty((N, M.shape[2], g.OH, g.OW), dtype=M.dtype) if out is None else out
    untile_transform_cpu(np.ascontiguousarray(M), 0, 0, TH, TW, m, m, m + 2, MAT_AT, bias, y)
    return y


def winograd_output_transform_backward(gy, m=2, out=None):
    N, OC, OH, OW = gy.shape
    TH, TW = _winograd_tiles(OH, OW, m)
    a = m + 2
    dM = np.empty((a * a, N * TH * TW, OC), dtype=gy.dtype) if out is None else out
    tile_transform_cpu(np.ascontiguousarray(gy), 0, 0, TH, TW, m, m, a, MAT_A, dM)
    return dM


def winograd_input_transform_backward(dV, g, m=2, out=None):
    TH, TW = _winograd_tiles(g.OH, g.OW, m)
    N = dV.shape[1] // (TH * TW)
    dx = np.empty((N, g.C, g.H, g.W), dtype=dV.dtype) if out is None else out
    untile_transform_cpu(np.ascontiguousarray(dV), g.PH, g.PW, TH, TW, m, m + 2, m + 2, MAT_B,
                         np.zeros(g.C, dtype=dV.dtype), dx)
    return dx
