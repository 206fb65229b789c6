"""blocked_im2col: the story of functional/conv.py (im2col, one GEMM, a reshape; backward
two GEMMs and col2im), run over blocks of samples with buffers reused from block to block.

Why blocks: the column matrix is KH*KW times the size of x (9x for a 3x3: 151 MB for a
batch of 64 at 64x32x32). Built for the whole batch it spills out of every cache and
costs fresh pages per layer; built for a few samples at a time (``fast.blocks``: as many
as fit ``TUNING.block_bytes_cpu``) it stays in cache, and one buffer serves every block.
Backward rebuilds each block's columns from x, as the story does.
"""
import math

from .. import kernels
from ..backend import device_of, get_array_module
from . import blocks

__all__ = ["forward", "backward", "view", "add_product"]


def view(buf, shape):
    """The first prod(shape) entries of a flat buffer, as a contiguous array of ``shape``."""
    return buf[:math.prod(shape)].reshape(shape)


def add_product(first, a, b, total, scratch):
    """total = a @ b for the first block, total += a @ b for the later ones; the product
    lands in ``total`` itself or in a reused ``scratch``, so no block allocates."""
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


def forward(x, w, b, g, plan):
    xp = get_array_module(x)
    N, G, L = x.shape[0], g.groups, g.OH * g.OW
    K = g.C // G * g.KH * g.KW                          # one group's rows of cols
    w_mat = w.reshape(G, g.OC // G, K)                   # one (OC/groups, K) matrix per group
    y = xp.empty((N, g.OC, g.OH, g.OW), dtype=x.dtype)
    todo = blocks(N, (G * K + g.OC) * L * x.itemsize, device_of(x))
    B = todo[0][1]
    cols_buf = xp.empty(G * K * B * L, dtype=x.dtype)   # reused by every block
    y_buf = xp.empty(g.OC * B * L, dtype=x.dtype)
    for n0, n1 in todo:
        nb = n1 - n0
        cols = kernels.im2col(x[n0:n1], g, out=view(cols_buf, (G * K, nb * L)))
        yb = view(y_buf, (G, g.OC // G, nb * L))
        xp.matmul(w_mat, cols.reshape(G, K, nb * L), out=yb)          # the GEMM
        _to_nchw(yb.reshape(g.OC, nb, L), b, y[n0:n1].reshape(nb, g.OC, L))
    return y


def backward(x, w, gy, g, plan, need_x, need_w):
    xp = get_array_module(gy)
    N, G, L = gy.shape[0], g.groups, g.OH * g.OW
    K = g.C // G * g.KH * g.KW
    w_mat = w.reshape(G, g.OC // G, K) if need_x else None
    gx = xp.empty((N, g.C, g.H, g.W), dtype=gy.dtype) if need_x else None
    gw = xp.empty((G, g.OC // G, K), dtype=gy.dtype) if need_w else None
    todo = blocks(N, (G * K + g.OC) * L * gy.itemsize, device_of(gy))
    gw_block = xp.empty_like(gw) if need_w and len(todo) > 1 else None
    B = todo[0][1]
    cols_buf = xp.empty(G * K * B * L, dtype=gy.dtype)
    gy_buf = xp.empty(g.OC * B * L, dtype=gy.dtype)
    for i, (n0, n1) in enumerate(todo):
        nb = n1 - n0
        # (nb, OC, OH*OW) -> (OC, nb*OH*OW): dY in the layout of Y = W @ cols
        gyb = view(gy_buf, (g.OC, nb, L))
        gyb[...] = gy[n0:n1].reshape(nb, g.OC, L).transpose(1, 0, 2)
        gyb = gyb.reshape(G, g.OC // G, nb * L)
        if need_w:                                  # dW = dY @ cols^T, summed over blocks
            cols = kernels.im2col(x[n0:n1], g, out=view(cols_buf, (G * K, nb * L)))
            add_product(i == 0, gyb, cols.reshape(G, K, nb * L).transpose(0, 2, 1), gw,
                        gw_block)
        if need_x:                                  # dcols = W^T @ dY, then back to pixels
            gcols = xp.matmul(w_mat.transpose(0, 2, 1), gyb, out=view(cols_buf, (G, K, nb * L)))
            kernels.col2im(gcols.reshape(G * K, nb * L), g, out=gx[n0:n1])
    return gx, (gw.reshape(g.OC, g.C // G, g.KH, g.KW) if need_w else None)
