"""im2col and col2im, compiled by Numba (reference.py has what they compute)."""
import numpy as np
from numba import prange, uintp

from ._numba import jit, jit_parallel


def _inside_range(size, S, offset, out_size):
    """The outputs o in [o0, o1) whose input index o*S + offset lies in [0, size)."""
    o0 = max(0, (S - 1 - offset) // S)
    o1 = min(out_size, (size - 1 - offset) // S + 1)
    return o0, max(o0, o1)


inside_range_cpu = jit(_inside_range)


# ------------------------------------------------------------------ im2col
# Loops here are written out element by element, not as slice assignments: Numba
# compiles ``row[:] = 0`` into a generic call, and at hundreds of thousands of short
# rows per conv that overhead would dominate.
def _im2col(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols):
    N, C, H, W = x.shape
    xf, cf = x.reshape(-1), cols.reshape(-1)       # flat views, for the unsigned indices
    for r in prange(C * KH * KW):                   # one row of cols per iteration
        c, kh, kw = r // (KH * KW), (r // KW) % KH, r % KW
        ow0, ow1 = inside_range_cpu(W, SW, kw * DW - PW, OW)
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
                ow0, ow1 = inside_range_cpu(W, SW, kw * DW - PW, OW)
                for oh in range(OH):
                    ih = oh * SH - PH + kh * DH
                    if ih < 0 or ih >= H:
                        continue
                    # dx[n, c, ih, ow*SW - PW + kw*DW] += cols[r, (n*OH + oh)*OW + ow]
                    src = uintp(r * cols.shape[1] + (n * OH + oh) * OW + ow0)
                    dst = uintp((nc * H + ih) * W + ow0 * SW - PW + kw * DW)
                    for j in range(uintp(ow1 - ow0)):
                        dxf[dst + j * uintp(SW)] += cf[src + j]


im2col_cpu = jit_parallel(_im2col)
col2im_cpu = jit_parallel(_col2im)


def im2col(x, g, out=None):
    N, C = x.shape[:2]
    if out is None:
        out = np.empty((C * g.KH * g.KW, N * g.OH * g.OW), dtype=x.dtype)
    im2col_cpu(np.ascontiguousarray(x), g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, g.OH,
               g.OW, out)
    return out


def col2im(cols, g, out=None):
    if out is None:
        out = np.empty((cols.shape[1] // (g.OH * g.OW), g.C, g.H, g.W), dtype=cols.dtype)
    col2im_cpu(np.ascontiguousarray(cols), g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, g.OH,
               g.OW, out)
    return out
