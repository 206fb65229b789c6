"""Depthwise convolution, compiled by Numba: two layouts, planes and channels-last."""
import numpy as np
from numba import get_num_threads, prange

from ...fast import depthwise_layout
from ._numba import jit, jit_parallel


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
    fill_cpu(P, 0)
    for ih in range(min(H, Hp - PH)):
        start = (ih + PH) * Wp + PW
        copy_cpu(src[ih], P[start:start + W])


def _on_grid(g, SH, SW, Wp, G):
    """G (flat) = g (OH, OW) placed at rows oh*SH, columns ow*SW of a Wp-wide grid, zeros
    between: the output gradient where the stride-1 output Q had its samples."""
    OH, OW = g.shape
    if SH == 1 and SW == 1:                         # every grid row holds a row of g
        for oh in range(OH):
            row = G[oh * Wp:(oh + 1) * Wp]
            copy_cpu(g[oh], row[:OW])
            fill_cpu(row[OW:], 0)
        return
    fill_cpu(G, 0)
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
            copy_cpu(q, row)
        else:
            for ow in range(OW):
                row[ow] = q[ow * SW]


axpy_cpu = jit(_axpy)
dot_cpu = jit(_dot, fastmath={"reassoc", "contract"})
fill_cpu = jit(_fill)
copy_cpu = jit(_copy)
padded_plane_cpu = jit(_padded_plane)
on_grid_cpu = jit(_on_grid)
from_grid_cpu = jit(_from_grid)


def _depthwise_grid(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH):
    """(Hp, Wp, RH): padded plane rows and width, and rows of the stride-1 output grid."""
    RH = (OH - 1) * SH + 1
    return RH + (KH - 1) * DH, W + 2 * PW, RH


depthwise_grid_cpu = jit(_depthwise_grid)


def _depthwise_conv2d(x, w, SH, SW, PH, PW, DH, DW, y):
    N, C, H, W = x.shape
    OC, _, KH, KW = w.shape
    M = OC // C
    OH, OW = y.shape[2:]
    Hp, Wp, RH = depthwise_grid_cpu(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH)
    for n in prange(N):                             # one sample per iteration
        P = np.empty(Hp * Wp + KW * DW, dtype=x.dtype)    # + slack for the last row's taps
        Q = np.empty(RH * Wp, dtype=x.dtype)
        for o in range(OC):
            padded_plane_cpu(x[n, o // M], PH, PW, Hp, Wp, P)
            fill_cpu(Q, 0)
            for kh in range(KH):
                for kw in range(KW):
                    off = kh * DH * Wp + kw * DW
                    axpy_cpu(w[o, 0, kh, kw], P[off:off + RH * Wp], Q)
            from_grid_cpu(Q, SH, SW, Wp, y[n, o])


def _depthwise_conv2d_backward_input(gy, w, SH, SW, PH, PW, DH, DW, dx):
    N, C, H, W = dx.shape
    OC, _, KH, KW = w.shape
    M = OC // C
    OH, OW = gy.shape[2:]
    Hp, Wp, RH = depthwise_grid_cpu(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH)
    for n in prange(N):                             # one sample per iteration
        dP = np.empty(Hp * Wp + KW * DW, dtype=dx.dtype)
        G = np.empty(RH * Wp, dtype=dx.dtype)
        for c in range(C):
            fill_cpu(dP, 0)
            for o in range(c * M, (c + 1) * M):     # the M filters that read channel c
                on_grid_cpu(gy[n, o], SH, SW, Wp, G)
                for kh in range(KH):
                    for kw in range(KW):            # the adjoint of the forward's shift
                        off = kh * DH * Wp + kw * DW
                        axpy_cpu(w[o, 0, kh, kw], G, dP[off:off + RH * Wp])
            for ih in range(H):
                r = ih + PH
                if r < Hp:
                    copy_cpu(dP[r * Wp + PW:r * Wp + PW + W], dx[n, c, ih])
                else:
                    fill_cpu(dx[n, c, ih], 0)


def _depthwise_conv2d_backward_weight(x, gy, SH, SW, PH, PW, DH, DW, dw):
    N, C, H, W = x.shape
    OC, _, KH, KW = dw.shape
    M = OC // C
    OH, OW = gy.shape[2:]
    Hp, Wp, RH = depthwise_grid_cpu(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH)
    for o in prange(OC):                            # one filter per iteration
        P = np.empty(Hp * Wp + KW * DW, dtype=x.dtype)
        G = np.empty(RH * Wp, dtype=x.dtype)
        acc = np.zeros(KH * KW, dtype=x.dtype)
        for n in range(N):
            padded_plane_cpu(x[n, o // M], PH, PW, Hp, Wp, P)
            on_grid_cpu(gy[n, o], SH, SW, Wp, G)
            # dw[kh, kw] = sum over n and the grid of G * (P shifted by the tap)
            for kh in range(KH):
                for kw in range(KW):
                    off = kh * DH * Wp + kw * DW
                    acc[kh * KW + kw] += dot_cpu(G, P[off:off + RH * Wp])
        for kh in range(KH):
            for kw in range(KW):
                dw[o, 0, kh, kw] = acc[kh * KW + kw]


# Nine taps per output: the threads pay even on small planes when the kernel runs alone,
# and in a whole MobileNetV2 step the choice was a wash: so always parallel, like pooling.
depthwise_conv2d_cpu = jit_parallel(_depthwise_conv2d, always=True)
depthwise_conv2d_backward_input_cpu = jit_parallel(_depthwise_conv2d_backward_input,
                                                   always=True)
depthwise_conv2d_backward_weight_cpu = jit_parallel(_depthwise_conv2d_backward_weight,
                                                    always=True)


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


channels_last_grid_cpu = jit(_channels_last_grid)
to_channels_last_cpu = jit(_to_channels_last)


def _depthwise_conv2d_cl(x, wt, KH, KW, SH, SW, PH, PW, DH, DW, y):
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    Hp, Wp = channels_last_grid_cpu(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    for n in prange(N):                             # one sample per iteration
        xt = np.empty((Hp, Wp, C), dtype=x.dtype)
        to_channels_last_cpu(x[n], PH, PW, xt)
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
    Hp, Wp = channels_last_grid_cpu(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    for n in prange(N):                             # one sample per iteration
        gt = np.empty((OH, OW, C), dtype=gy.dtype)
        to_channels_last_cpu(gy[n], 0, 0, gt)
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
    Hp, Wp = channels_last_grid_cpu(H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    for t in prange(T):
        xt = np.empty((Hp, Wp, C), dtype=x.dtype)
        gt = np.empty((OH, OW, C), dtype=x.dtype)
        p = part[t]
        for k in range(KH * KW):
            for c in range(C):
                p[k, c] = 0
        for n in range(t * N // T, (t + 1) * N // T):
            to_channels_last_cpu(x[n], PH, PW, xt)
            to_channels_last_cpu(gy[n], 0, 0, gt)
            for oh in range(OH):
                for ow in range(OW):
                    g = gt[oh, ow]
                    for kh in range(KH):
                        for kw in range(KW):
                            src = xt[oh * SH + kh * DH, ow * SW + kw * DW]
                            pk = p[kh * KW + kw]
                            for c in range(C):
                                pk[c] += g[c] * src[c]


depthwise_conv2d_cl_cpu = jit_parallel(_depthwise_conv2d_cl, always=True)
depthwise_conv2d_backward_input_cl_cpu = jit_parallel(_depthwise_conv2d_backward_input_cl,
                                                      always=True)
depthwise_conv2d_backward_weight_cl_cpu = jit_parallel(_depthwise_conv2d_backward_weight_cl,
                                                       always=True)


def _layout(g, layout):
    """The layout to run: the one asked for, or fast.depthwise_layout's choice; channels-
    last needs one filter per channel."""
    layout = layout or depthwise_layout(g)
    if layout not in ("planes", "channels_last") or (layout == "channels_last"
                                                     and g.OC != g.C):
        raise ValueError(f"depthwise_conv2d: layout must be 'planes' or 'channels_last' (the "
                         f"latter with one filter per channel), got {layout!r} for "
                         f"{g.C} -> {g.OC} channels")
    return layout


def _turned(w):
    """w (C, 1, KH, KW) -> wt (KH*KW, C), the channels-last filters."""
    C, _, KH, KW = w.shape
    return np.ascontiguousarray(w.reshape(C, KH * KW).T)


def depthwise_conv2d(x, w, g, layout=None):
    y = np.empty((x.shape[0], g.OC, g.OH, g.OW), dtype=x.dtype)
    x = np.ascontiguousarray(x)
    if _layout(g, layout) == "channels_last":
        depthwise_conv2d_cl_cpu(x, _turned(w), g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW,
                                y)
    else:
        depthwise_conv2d_cpu(x, np.ascontiguousarray(w), g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, y)
    return y


def depthwise_conv2d_backward_input(gy, w, g, layout=None):
    dx = np.empty((gy.shape[0], g.C, g.H, g.W), dtype=gy.dtype)
    gy = np.ascontiguousarray(gy)
    if _layout(g, layout) == "channels_last":
        depthwise_conv2d_backward_input_cl_cpu(gy, _turned(w), g.KH, g.KW, g.SH, g.SW, g.PH,
                                               g.PW, g.DH, g.DW, dx)
    else:
        depthwise_conv2d_backward_input_cpu(gy, np.ascontiguousarray(w), g.SH, g.SW, g.PH,
                                            g.PW, g.DH, g.DW, dx)
    return dx


def depthwise_conv2d_backward_weight(x, gy, g, layout=None):
    N = x.shape[0]
    x, gy = np.ascontiguousarray(x), np.ascontiguousarray(gy)
    if _layout(g, layout) == "channels_last":
        part = np.empty((min(N, get_num_threads()), g.KH * g.KW, g.C), dtype=gy.dtype)
        depthwise_conv2d_backward_weight_cl_cpu(x, gy, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW,
                                                g.DH, g.DW, part)
        return np.ascontiguousarray(part.sum(axis=0).T).reshape(g.C, 1, g.KH, g.KW)
    dw = np.empty((g.OC, 1, g.KH, g.KW), dtype=gy.dtype)
    depthwise_conv2d_backward_weight_cpu(x, gy, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, dw)
    return dw
