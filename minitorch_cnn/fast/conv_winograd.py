"""winograd: Winograd F(m x m, 3x3) for 3x3 convs at stride 1 (Lavin & Gray, 2016).

An m x m block of outputs comes from an (m+2) x (m+2) input tile with (m+2)^2
multiplications instead of 9*m*m; summed over the input channels they become (m+2)^2
GEMMs of (tiles, C) @ (C, OC). F(2x2) (16 products for 36) rounds like im2col; F(4x4)
(36 for 144) has 1.8 times fewer GEMM FLOPs and tile values to move than F(2x2), for
some float32 accuracy (fast.winograd_tile picks m per layer). The transforms
B^T d B, G g G^T and A^T m A are explained in kernels/reference.py; as in
blocked_im2col, the batch runs in blocks whose tiles fit the cache, and backward (the
exact adjoint of each step, in reverse) rebuilds V from x.
"""
import numpy as np

from .. import kernels
from ..backend import device_of, get_array_module
from . import blocks
from .conv_im2col import add_product, view

__all__ = ["forward", "backward"]


def _kron_G(m, xp, dtype):
    """kron(G, G) (a*a x 9), a = m + 2: row (i, j) holds G[i, k] G[j, l] for the 9 (k, l)."""
    G = kernels.reference.WINOGRAD[m][1]
    return xp.asarray(np.kron(G, G), dtype=dtype)


def _filters(w, m):
    """U = G g G^T for every (o, c) filter: (OC, C, 3, 3) -> (a*a, C, OC), a = m + 2.

    Entry (i, j) of G g G^T is sum_kl G[i, k] G[j, l] g[k, l]: the a*a numbers of U are
    kron(G, G) (a*a x 9) times the 9 numbers of g, one GEMM for all OC*C filters. (The
    result is a transposed view; matmul reads it as it is.)"""
    OC, C = w.shape[:2]
    GG = _kron_G(m, get_array_module(w), w.dtype)
    return (GG @ w.reshape(OC * C, 9).T).reshape((m + 2) ** 2, OC, C).transpose(0, 2, 1)


def _filter_grad(gU, m):
    """dL/dg from dL/dU: dg = G^T dU G = kron(G, G)^T dU. gU is kept as (a*a, OC, C), the
    transpose of U's (a*a, C, OC), so that this reshape is a view, not a copy.
    -> (OC, C, 3, 3)."""
    A, OC, C = gU.shape
    GG = _kron_G(m, get_array_module(gU), gU.dtype)
    return (GG.T @ gU.reshape(A, OC * C)).T.reshape(OC, C, 3, 3)


def _sizes(g, m):
    """(A, T): the A = (m+2)^2 values per tile and the tiles per sample."""
    return (m + 2) ** 2, -(-g.OH // m) * -(-g.OW // m)


def forward(x, w, b, g, plan):
    xp = get_array_module(x)
    m, N = plan.tile, x.shape[0]
    A, T = _sizes(g, m)
    U = _filters(w, m)
    bias = b if b is not None else xp.zeros(g.OC, dtype=x.dtype)
    y = xp.empty((N, g.OC, g.OH, g.OW), dtype=x.dtype)
    todo = blocks(N, A * (g.C + g.OC) * T * x.itemsize, device_of(x))
    B = todo[0][1]
    V_buf, M_buf = xp.empty(A * g.C * B * T, x.dtype), xp.empty(A * g.OC * B * T, x.dtype)
    for n0, n1 in todo:
        nb = n1 - n0
        V = kernels.winograd_input_transform(x[n0:n1], g, m, out=view(V_buf, (A, nb * T, g.C)))
        M = xp.matmul(V, U, out=view(M_buf, (A, nb * T, g.OC)))  # A GEMMs (tiles, C) @ (C, OC)
        kernels.winograd_output_transform(M, bias, g, m, out=y[n0:n1])
    return y


def backward(x, w, gy, g, plan, need_x, need_w):
    """The adjoint of each forward step, in reverse: y = A^T M A  ->  dM = A dY A^T;
    M = V @ U  ->  dU = V^T @ dM,  dV = dM @ U^T;  U = G g G^T  ->  dg = G^T dU G;
    V = B^T d B  ->  dd = B dV B^T, added back onto the overlapping input tiles."""
    xp = get_array_module(gy)
    m, N = plan.tile, gy.shape[0]
    A, T = _sizes(g, m)
    Ut = _filters(w, m).transpose(0, 2, 1) if need_x else None        # (A, OC, C)
    gx = xp.empty((N, g.C, g.H, g.W), dtype=gy.dtype) if need_x else None
    todo = blocks(N, A * (g.C + g.OC) * T * gy.itemsize, device_of(gy))
    B = todo[0][1]
    V_buf, M_buf = xp.empty(A * g.C * B * T, gy.dtype), xp.empty(A * g.OC * B * T, gy.dtype)
    gU = xp.empty((A, g.OC, g.C), dtype=gy.dtype) if need_w else None
    gU_block = xp.empty_like(gU) if need_w and len(todo) > 1 else None
    for i, (n0, n1) in enumerate(todo):
        nb = n1 - n0
        gM = kernels.winograd_output_transform_backward(gy[n0:n1], m,
                                                        out=view(M_buf, (A, nb * T, g.OC)))
        if need_w:
            V = kernels.winograd_input_transform(x[n0:n1], g, m,
                                                 out=view(V_buf, (A, nb * T, g.C)))
            add_product(i == 0, gM.transpose(0, 2, 1), V, gU, gU_block)   # dU^T += dM^T V
        if need_x:
            gV = xp.matmul(gM, Ut, out=view(V_buf, (A, nb * T, g.C)))
            kernels.winograd_input_transform_backward(gV, g, m, out=gx[n0:n1])
    return gx, (_filter_grad(gU, m) if need_w else None)
