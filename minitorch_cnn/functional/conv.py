"""2-D convolution, the whole story in one file.

Shape glossary (the same in kernels/reference.py):
    N batch, C input channels, OC output channels, H, W input size, OH, OW output size,
    KH, KW kernel size, SH, SW stride, PH, PW zero padding, DH, DW dilation.

A convolution (a cross-correlation, strictly) slides OC filters over the input:

    y[n, o, oh, ow] = b[o] + sum_{c, kh, kw} w[o, c, kh, kw] * x[n, c', ih, iw]
        ih = oh*SH - PH + kh*DH,  iw = ow*SW - PW + kw*DW,
        c' = c + (C/groups) * (o // (OC/groups))     (the channels of o's group)
    OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1        (likewise OW)

The same numbers can be computed four ways; ``_algorithm`` picks one per call:

1. im2col + GEMM (any conv). ``kernels.im2col`` copies every KH x KW window into a
   column: cols (C*KH*KW, N*OH*OW). Then the whole layer is one matrix product,
       Y (OC, N*OH*OW) = W (OC, C*KH*KW) @ cols,
   and backward is two more:  dW = dY @ cols^T,  dcols = W^T @ dY,  dx = col2im(dcols).
   With groups, W and cols split into ``groups`` diagonal blocks: a batch of products.
2. pointwise (1x1 kernel, stride 1, no padding): the input of one sample, viewed as
   (C, H*W), already *is* its column matrix: a GEMM per sample, nothing copied.
3. depthwise (groups == C, as in MobileNet): each filter sees one channel, so the GEMM
   would be (1 x KH*KW) @ (KH*KW x OH*OW), all overhead; ``kernels.depthwise_conv2d``
   loops over the taps directly.
4. Winograd F(m x m, 3x3) (3x3, stride 1, no dilation, groups 1, fast kernels on the
   CPU): an m x m block of outputs from an (m+2) x (m+2) input tile with (m+2)^2
   multiplications instead of 9*m*m; summed over channels they become (m+2)^2 GEMMs of
   (tiles, C) @ (C, OC). F(2x2) (16 for 36) rounds like im2col; F(4x4) (36 for 144)
   has 1.8 times fewer GEMM FLOPs and tile values to move, for some float32 accuracy.
   ``_winograd_tile`` picks m per layer. Forward and backward (its exact adjoint) are in
   ``_winograd_*`` below; the transforms B^T d B, G g G^T, A^T m A are explained in
   kernels/reference.py. The reference kernels keep to im2col, the plain oracle.

What backward keeps alive: x (for dW) and w (for dx), nothing else. The column matrix
is KH*KW times the size of x (9x for 3x3: 151 MB for a batch of 64 at 64x32x32) and the
Winograd V 2.25-4x: a network that kept one per layer until backward would need GBs. So the
batch runs in blocks of a few samples whose cols (or V) fit in the CPU's cache
(BLOCK_BYTES), and backward rebuilds each block's cols from x. That costs one more
im2col per block: about a sixth of the forward+backward time of the stride-2 layer in
benchmarks/bench_ops.py, for 38 MB of memory not held per layer of that size.
"""
import math

import numpy as np

from .. import backend, kernels
from ..autograd import Function
from ..backend import get_array_module
from .dtypes import check_same_dtype
from .shape import reshape

__all__ = ["conv2d", "conv_output_size"]

# Bytes of column matrix (or Winograd tiles) per block of samples: about what the CPU's
# caches hold (L2 1.25 MB per core, L3 tens of MB here); on a GPU, blocks only bound
# the memory of a huge batch.
BLOCK_BYTES = {"cpu": 8 << 20, "cuda": 1 << 30}
# Winograd's 16 GEMMs have K = C: with very few input channels (an RGB stem) they are
# too thin to beat im2col's single GEMM with K = 9*C.
WINOGRAD_MIN_CHANNELS = 16
# A map of at most 2x2 outputs is one Winograd tile per sample: its GEMMs are only as
# wide as the batch, and the filter transform costs as much as they do; im2col's one GEMM
# wins (512 -> 512 at 2x2, batch 64, forward + backward: 56-65 against 75-88 ms).
WINOGRAD_MIN_OUTPUTS = 5             # per map: OH * OW
# Winograd's output tile: "auto" (``_winograd_tile``), or 2 / 4 to force F(2x2) / F(4x4).
WINOGRAD_TILE = "auto"


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    """OH for one axis: the number of window positions that fit in the padded input."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _pair(v, name, op="conv2d"):
    """An int or a pair of ints -> a pair (for H and W)."""
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(a, (int, np.integer))
                                                          for a in v):
        return int(v[0]), int(v[1])
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")


def _blocks(N, bytes_per_sample, xp):
    """Split range(N) into [n0, n1) blocks whose buffers fit BLOCK_BYTES, all of about
    the same size (64 as 32 + 32, not 56 + 8: a thin last block makes thin GEMMs)."""
    if N == 0:
        return [(0, 0)]                          # an empty batch: one empty block
    budget = BLOCK_BYTES["cuda" if xp is not np else "cpu"]
    B = max(1, min(N, budget // max(1, bytes_per_sample)))
    B = -(-N // -(-N // B))                      # ceil(N / number of blocks)
    return [(n0, min(n0 + B, N)) for n0 in range(0, N, B)]


def _view(buf, shape):
    """The first prod(shape) entries of a flat buffer, as a contiguous array of ``shape``."""
    return buf[:math.prod(shape)].reshape(shape)


def _add_product(first, a, b, total, scratch):
    """total = a @ b for the first block, total += a @ b for the later ones; the product
    lands in ``total`` itself or in a reused ``scratch``, so no block allocates (the dU of
    a 256 -> 256 layer in F(4x4) is 9.4 MB of fresh pages: 2x slower to allocate and add
    than to reuse)."""
    if first:
        get_array_module(total).matmul(a, b, out=total)
    else:
        total += get_array_module(total).matmul(a, b, out=scratch)


def _to_nchw(yb, b, out):
    """(OC, B, OH*OW) -> out (B, OC, OH*OW), adding the bias on the way (one pass)."""
    xp = get_array_module(yb)
    yb = yb.transpose(1, 0, 2)
    if b is None:
        out[...] = yb
    else:
        xp.add(yb, b.reshape(-1, 1), out=out)


# ----------------------------------------------------------- 1. im2col + GEMM
def _im2col_forward(x, w, b, geom, groups):
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OC, Cg = w.shape[:2]
    KH, KW, SH, SW, PH, PW, DH, DW = geom
    OH, OW = conv_output_size(H, KH, SH, PH, DH), conv_output_size(W, KW, SW, PW, DW)
    K, L = Cg * KH * KW, OH * OW
    w_mat = w.reshape(groups, OC // groups, K)          # one (OC/groups, K) matrix per group
    y = xp.empty((N, OC, OH, OW), dtype=x.dtype)
    blocks = _blocks(N, (C * KH * KW + OC) * L * x.itemsize, xp)
    B = blocks[0][1]
    cols_buf = xp.empty(C * KH * KW * B * L, dtype=x.dtype)   # reused by every block
    y_buf = xp.empty(OC * B * L, dtype=x.dtype)
    for n0, n1 in blocks:
        nb = n1 - n0
        cols = kernels.im2col(x[n0:n1], *geom, out=_view(cols_buf, (C * KH * KW, nb * L)))
        yb = _view(y_buf, (groups, OC // groups, nb * L))
        xp.matmul(w_mat, cols.reshape(groups, K, nb * L), out=yb)     # the GEMM
        _to_nchw(yb.reshape(OC, nb, L), b, y[n0:n1].reshape(nb, OC, L))
    return y


def _im2col_backward(x, w, gy, x_shape, geom, groups, need_x, need_w):
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    OC, OH, OW = gy.shape[1:]
    KH, KW = geom[:2]
    K, L = C // groups * KH * KW, OH * OW
    w_mat = w.reshape(groups, OC // groups, K) if need_x else None
    gx = xp.empty((N, C, H, W), dtype=gy.dtype) if need_x else None
    gw = xp.empty((groups, OC // groups, K), dtype=gy.dtype) if need_w else None
    blocks = _blocks(N, (C * KH * KW + OC) * L * gy.itemsize, xp)
    gw_block = xp.empty_like(gw) if need_w and len(blocks) > 1 else None
    B = blocks[0][1]
    cols_buf = xp.empty(C * KH * KW * B * L, dtype=gy.dtype)
    gy_buf = xp.empty(OC * B * L, dtype=gy.dtype)
    for i, (n0, n1) in enumerate(blocks):
        nb = n1 - n0
        # (nb, OC, OH*OW) -> (OC, nb*OH*OW): dY in the layout of Y = W @ cols
        gyb = _view(gy_buf, (OC, nb, L))
        gyb[...] = gy[n0:n1].reshape(nb, OC, L).transpose(1, 0, 2)
        gyb = gyb.reshape(groups, OC // groups, nb * L)
        if need_w:                                  # dW = dY @ cols^T, summed over blocks
            cols = kernels.im2col(x[n0:n1], *geom, out=_view(cols_buf, (C * KH * KW, nb * L)))
            _add_product(i == 0, gyb, cols.reshape(groups, K, nb * L).transpose(0, 2, 1),
                         gw, gw_block)
        if need_x:                                  # dcols = W^T @ dY, then back to pixels
            gcols = xp.matmul(w_mat.transpose(0, 2, 1), gyb,
                              out=_view(cols_buf, (groups, K, nb * L)))
            kernels.col2im(gcols.reshape(C * KH * KW, nb * L), (nb, C, H, W), *geom,
                           out=gx[n0:n1])
    return gx, (gw.reshape(OC, C // groups, KH, KW) if need_w else None)


# ------------------------------------------------------------ 2. pointwise (1x1)
def _pointwise_forward(x, w, b, geom, groups):
    N, C, H, W = x.shape
    OC = w.shape[0]
    x4 = x.reshape(N, groups, C // groups, H * W)        # each sample: its own column matrix
    w3 = w.reshape(groups, OC // groups, C // groups)
    y = (w3 @ x4).reshape(N, OC, H, W)                  # a GEMM per sample (and group)
    if b is not None:
        y += b.reshape(OC, 1, 1)
    return y


def _pointwise_backward(x, w, gy, x_shape, geom, groups, need_x, need_w):
    N, OC, H, W = gy.shape
    Cg = x_shape[1] // groups
    g4 = gy.reshape(N, groups, OC // groups, H * W)
    gx = gw = None
    if need_x:                                          # dx[n] = W^T @ dY[n]
        w3 = w.reshape(groups, OC // groups, Cg)
        gx = (w3.transpose(0, 2, 1) @ g4).reshape(N, Cg * groups, H, W)
    if need_w:                                          # dW = sum_n dY[n] @ x[n]^T
        x4 = x.reshape(N, groups, Cg, H * W)
        if OC * Cg <= H * W * (OC // groups + Cg):
            # large images, few channels: N small products, then their sum
            gw = (g4 @ x4.transpose(0, 1, 3, 2)).sum(axis=0)
        else:
            # small images, many channels (the 4x4 maps of a CIFAR MobileNet): the N
            # products (OC x C each) would outweigh dY and x themselves; one GEMM over
            # n and the pixels at once, on (groups, OC/g, N*HW) and (groups, C/g, N*HW)
            # copies of dY and x, moves less memory
            xp = get_array_module(gy)
            g_all = xp.ascontiguousarray(g4.transpose(1, 2, 0, 3))
            g_all = g_all.reshape(groups, OC // groups, N * H * W)
            x_all = xp.ascontiguousarray(x4.transpose(1, 2, 0, 3)).reshape(groups, Cg, N * H * W)
            gw = g_all @ x_all.transpose(0, 2, 1)
        gw = gw.reshape(OC, Cg, 1, 1)
    return gx, gw


# ---------------------------------------------------------------- 3. depthwise
def _depthwise_forward(x, w, b, geom, groups):
    KH, KW, SH, SW, PH, PW, DH, DW = geom
    y = kernels.depthwise_conv2d(x, w, SH, SW, PH, PW, DH, DW)
    if b is not None:
        y += b.reshape(-1, 1, 1)
    return y


def _depthwise_backward(x, w, gy, x_shape, geom, groups, need_x, need_w):
    KH, KW, SH, SW, PH, PW, DH, DW = geom
    gx = gw = None
    if need_x:
        gx = kernels.depthwise_conv2d_backward_input(gy, w, x_shape, SH, SW, PH, PW, DH, DW)
    if need_w:
        gw = kernels.depthwise_conv2d_backward_weight(x, gy, KH, KW, SH, SW, PH, PW, DH, DW)
    return gx, gw


# ------------------------------------------------------ 4. Winograd F(m x m, 3x3)
def _winograd_tile(OH, OW):
    """The output tile m: 4 where the map holds at least 2 x 2 of F(4x4)'s tiles and they
    move fewer values than F(2x2)'s, (m+2)^2 per tile; otherwise 2 (also the more
    accurate). On a 4x4 map F(4x4) moves 36 values per sample to F(2x2)'s 64, yet
    measured 6-15% slower (256 and 512 channels, batch 64, forward + backward): one tile
    per sample leaves its 36 GEMMs too thin."""
    if WINOGRAD_TILE != "auto":
        return WINOGRAD_TILE
    cost = {m: (m + 2) ** 2 * -(-OH // m) * -(-OW // m) for m in (2, 4)}
    return 4 if min(OH, OW) > 4 and cost[4] < cost[2] else 2


def _winograd_plan(OH, OW):
    """(m, A, T): the output tile, the A = (m+2)^2 values per tile, the tiles per sample."""
    m = _winograd_tile(OH, OW)
    return m, (m + 2) ** 2, -(-OH // m) * -(-OW // m)


def _kron_G(m, xp, dtype):
    """kron(G, G) (a*a x 9), a = m + 2: row (i, j) holds G[i, k] G[j, l] for the 9 (k, l)."""
    G = kernels.reference.WINOGRAD[m][1]
    return xp.asarray(np.kron(G, G), dtype=dtype)


def _winograd_filters(w, m):
    """U = G g G^T for every (o, c) filter: (OC, C, 3, 3) -> (a*a, C, OC), a = m + 2.

    Entry (i, j) of G g G^T is sum_kl G[i, k] G[j, l] g[k, l]: the a*a numbers of U are
    the Kronecker product kron(G, G) (a*a x 9) times the 9 numbers of g, one GEMM for
    all OC*C filters. (The result is a transposed view; matmul reads it as it is.)"""
    OC, C = w.shape[:2]
    GG = _kron_G(m, get_array_module(w), w.dtype)
    return (GG @ w.reshape(OC * C, 9).T).reshape((m + 2) ** 2, OC, C).transpose(0, 2, 1)


def _winograd_forward(x, w, b, geom, groups):
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OC = w.shape[0]
    PH, PW = geom[4], geom[5]
    OH, OW = H + 2 * PH - 2, W + 2 * PW - 2
    m, A, T = _winograd_plan(OH, OW)                    # tile, values per tile, tiles
    U = _winograd_filters(w, m)
    bias = b if b is not None else xp.zeros(OC, dtype=x.dtype)
    y = xp.empty((N, OC, OH, OW), dtype=x.dtype)
    blocks = _blocks(N, A * (C + OC) * T * x.itemsize, xp)
    B = blocks[0][1]
    V_buf, M_buf = xp.empty(A * C * B * T, x.dtype), xp.empty(A * OC * B * T, x.dtype)
    for n0, n1 in blocks:
        nb = n1 - n0
        V = kernels.winograd_input_transform(x[n0:n1], PH, PW, OH, OW,
                                             _view(V_buf, (A, nb * T, C)), m)
        M = xp.matmul(V, U, out=_view(M_buf, (A, nb * T, OC)))    # A GEMMs (tiles, C) @ (C, OC)
        kernels.winograd_output_transform(M, bias, nb, OH, OW, y[n0:n1], m)
    return y


def _winograd_backward(x, w, gy, x_shape, geom, groups, need_x, need_w):
    """The adjoint of each forward step, in reverse: y = A^T M A  ->  dM = A dY A^T;
    M = V @ U  ->  dU = V^T @ dM,  dV = dM @ U^T;  U = G g G^T  ->  dg = G^T dU G;
    V = B^T d B  ->  dd = B dV B^T, added back onto the overlapping input tiles."""
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    OC, OH, OW = gy.shape[1:]
    PH, PW = geom[4], geom[5]
    m, A, T = _winograd_plan(OH, OW)
    Ut = _winograd_filters(w, m).transpose(0, 2, 1) if need_x else None    # (A, OC, C)
    gx = xp.empty((N, C, H, W), dtype=gy.dtype) if need_x else None
    blocks = _blocks(N, A * (C + OC) * T * gy.itemsize, xp)
    B = blocks[0][1]
    V_buf, M_buf = xp.empty(A * C * B * T, gy.dtype), xp.empty(A * OC * B * T, gy.dtype)
    gU = xp.empty((A, OC, C), dtype=gy.dtype) if need_w else None
    gU_block = xp.empty_like(gU) if need_w and len(blocks) > 1 else None
    for i, (n0, n1) in enumerate(blocks):
        nb = n1 - n0
        gM = kernels.winograd_output_transform_backward(gy[n0:n1],
                                                        _view(M_buf, (A, nb * T, OC)), m)
        if need_w:
            V = kernels.winograd_input_transform(x[n0:n1], PH, PW, OH, OW,
                                                 _view(V_buf, (A, nb * T, C)), m)
            _add_product(i == 0, gM.transpose(0, 2, 1), V, gU, gU_block)   # dU^T += dM^T V
        if need_x:
            gV = xp.matmul(gM, Ut, out=_view(V_buf, (A, nb * T, C)))
            kernels.winograd_input_transform_backward(gV, (nb, C, H, W), PH, PW, OH, OW,
                                                      gx[n0:n1], m)
    return gx, (_winograd_filter_grad(gU, m) if need_w else None)


def _winograd_filter_grad(gU, m):
    """dL/dg from dL/dU: dg = G^T dU G = kron(G, G)^T dU. gU is kept as (a*a, OC, C), the
    transpose of U's (a*a, C, OC), so that this reshape is a view, not a copy of a
    16.8 MB array (512 -> 512 in F(2x2)). -> (OC, C, 3, 3)."""
    A, OC, C = gU.shape
    return (_kron_G(m, get_array_module(gU), gU.dtype).T @ gU.reshape(A, OC * C)).T.reshape(
        OC, C, 3, 3)


_ALGORITHMS = {
    "im2col": (_im2col_forward, _im2col_backward),
    "pointwise": (_pointwise_forward, _pointwise_backward),
    "depthwise": (_depthwise_forward, _depthwise_backward),
    "winograd": (_winograd_forward, _winograd_backward),
}


def _algorithm(x, w, geom, groups):
    """The fastest of the four ways that applies (see the module docstring)."""
    C = x.shape[1]
    KH, KW, SH, SW, PH, PW, DH, DW = geom
    if groups == C:
        return "depthwise"
    if (KH, KW, SH, SW, PH, PW) == (1, 1, 1, 1, 0, 0):
        return "pointwise"
    OH, OW = x.shape[2] + 2 * PH - 2, x.shape[3] + 2 * PW - 2      # for a 3x3, stride 1
    if ((KH, KW, SH, SW, DH, DW) == (3, 3, 1, 1, 1, 1) and groups == 1
            and C >= WINOGRAD_MIN_CHANNELS and OH * OW >= WINOGRAD_MIN_OUTPUTS
            and backend.get_kernels() == "fast" and not backend.is_cupy_array(x)):
        return "winograd"
    return "im2col"


class Conv2d(Function):
    """y = conv(x, w) + b  (module docstring); backward gives dL/dx, dL/dw, dL/db.

    Saves x (needed for dw) and w (needed for dx) only; db = sum of dy over N, OH, OW.
    """

    def forward(self, x, w, b, stride, padding, dilation, groups, extra_pad):
        # extra_pad: one more zero row/column at the bottom/right, for padding="same"
        # with an even kernel (the rest of the padding is symmetric)
        if extra_pad != (0, 0):
            xp = get_array_module(x)
            x = xp.pad(x, ((0, 0), (0, 0), (0, extra_pad[0]), (0, extra_pad[1])))
        KH, KW = w.shape[2:]
        geom = (KH, KW) + stride + padding + dilation        # (KH, KW, SH, SW, PH, PW, DH, DW)
        self.geom, self.groups, self.extra_pad = geom, groups, extra_pad
        self.algorithm = _algorithm(x, w, geom, groups)
        self.x_shape = x.shape
        self.save_for_backward(x if self.needs_input_grad[1] else None,
                               w if self.needs_input_grad[0] else None)
        forward = _ALGORITHMS[self.algorithm][0]
        return forward(x, w, b, geom, groups)

    def backward(self, gy):
        x, w = self.saved
        xp = get_array_module(gy)
        gy = xp.ascontiguousarray(gy)
        need_x, need_w = self.needs_input_grad[0], self.needs_input_grad[1]
        need_b = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        backward = _ALGORITHMS[self.algorithm][1]
        gx, gw = backward(x, w, gy, self.x_shape, self.geom, self.groups, need_x, need_w)
        if gx is not None and self.extra_pad != (0, 0):
            H, W = self.x_shape[2] - self.extra_pad[0], self.x_shape[3] - self.extra_pad[1]
            gx = xp.ascontiguousarray(gx[:, :, :H, :W])
        gb = gy.sum(axis=(0, 2, 3)) if need_b else None
        return gx, gw, gb


def _same_padding(KH, KW, DH, DW):
    """padding="same": DH*(KH-1) rows in all, half on top; an odd total puts the extra row
    at the bottom (as torch does). Returns the symmetric part and the extra (bottom, right)."""
    th, tw = DH * (KH - 1), DW * (KW - 1)
    return (th // 2, tw // 2), (th % 2, tw % 2)


def check_conv2d_args(x_shape, w_shape, x_dtype, w_dtype, stride, padding, dilation, groups,
                      name="conv2d"):
    """Raise a clear error for arguments conv2d cannot run (``name`` says who is asking)."""
    if len(w_shape) != 4:
        raise ValueError(f"{name}: weight must be 4-D (OC, C/groups, KH, KW), got shape "
                         f"{tuple(w_shape)}")
    if len(x_shape) != 4:
        raise ValueError(f"{name}: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), "
                         f"got shape {tuple(x_shape)}")
    OC, Cg, KH, KW = w_shape
    N, C, H, W = x_shape
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if OC % groups:
        raise ValueError(f"{name}: groups={groups} must divide the {OC} output channels")
    if C != Cg * groups:
        raise ValueError(f"{name}: expected input with {Cg * groups} channels (weight "
                         f"{tuple(w_shape)}, groups={groups}), got {C} channels (input shape "
                         f"{tuple(x_shape)})")
    if x_dtype != w_dtype:
        raise TypeError(f"{name}: input dtype {x_dtype} and weight dtype {w_dtype} differ")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{name}: stride and dilation must be >= 1 and padding >= 0, got "
                         f"stride={stride}, padding={padding}, dilation={dilation}")
    span = (dilation[0] * (KH - 1) + 1, dilation[1] * (KW - 1) + 1)
    padded = (H + 2 * padding[0], W + 2 * padding[1])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(f"{name}: kernel {KH}x{KW} (spanning {span[0]}x{span[1]} with dilation "
                         f"{dilation}) is larger than the padded input {padded[0]}x{padded[1]} "
                         f"(input {H}x{W}, padding {padding})")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution over an (N, C, H, W) or (C, H, W) input (torch.nn.functional.conv2d).

    weight (OC, C/groups, KH, KW), bias (OC,); stride, padding, dilation: an int or a pair;
    padding may also be "valid" (0) or "same" (output as large as the input, stride 1).
    """
    unbatched = input.ndim == 3
    if unbatched:
        input = reshape(input, (1,) + tuple(input.shape))
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    extra = (0, 0)
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        if stride != (1, 1):
            raise ValueError(f"conv2d: padding='same' needs stride 1, got stride={stride}")
        padding, extra = _same_padding(*weight.shape[2:], *dilation)
    elif isinstance(padding, str):
        raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', "
                         f"got {padding!r}")
    else:
        padding = _pair(padding, "padding")
    check_same_dtype("conv2d", input, weight=weight, bias=bias)
    check_conv2d_args(input.shape, weight.shape, input.dtype, weight.dtype, stride, padding,
                      dilation, groups)
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"conv2d: bias must have shape ({weight.shape[0]},), got "
                         f"{tuple(bias.shape)}")
    y = Conv2d.apply(input, weight, bias, stride=stride, padding=padding, dilation=dilation,
                     groups=int(groups), extra_pad=extra)
    return reshape(y, y.shape[1:]) if unbatched else y
