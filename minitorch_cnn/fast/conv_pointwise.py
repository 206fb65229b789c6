"""pointwise: a 1x1 conv at stride 1 without padding. The input of one sample, viewed as
(C, H*W), already *is* its column matrix: a GEMM per sample (and group), nothing copied."""
from ..backend import get_array_module

__all__ = ["forward", "backward"]


def forward(x, w, b, g, plan):
    N, G = x.shape[0], g.groups
    x4 = x.reshape(N, G, g.C // G, g.H * g.W)            # each sample: its own column matrix
    w3 = w.reshape(G, g.OC // G, g.C // G)
    y = (w3 @ x4).reshape(N, g.OC, g.H, g.W)             # a GEMM per sample (and group)
    if b is not None:
        y += b.reshape(g.OC, 1, 1)
    return y


def backward(x, w, gy, g, plan, need_x, need_w):
    N, G, HW = gy.shape[0], g.groups, g.H * g.W
    Cg, OCg = g.C // G, g.OC // G
    g4 = gy.reshape(N, G, OCg, HW)
    gx = gw = None
    if need_x:                                          # dx[n] = W^T @ dY[n]
        w3 = w.reshape(G, OCg, Cg)
        gx = (w3.transpose(0, 2, 1) @ g4).reshape(N, g.C, g.H, g.W)
    if need_w:                                          # dW = sum_n dY[n] @ x[n]^T
        x4 = x.reshape(N, G, Cg, HW)
        if g.OC * Cg <= HW * (OCg + Cg):
            # large images, few channels: N small products, then their sum
            gw = (g4 @ x4.transpose(0, 1, 3, 2)).sum(axis=0)
        else:
            # small images, many channels (the 4x4 maps of a CIFAR MobileNet): the N
            # products (OC x C each) would outweigh dY and x themselves; one GEMM over
            # n and the pixels at once, on (groups, OC/g, N*HW) and (groups, C/g, N*HW)
            # copies of dY and x, moves less memory
            xp = get_array_module(gy)
            g_all = xp.ascontiguousarray(g4.transpose(1, 2, 0, 3)).reshape(G, OCg, N * HW)
            x_all = xp.ascontiguousarray(x4.transpose(1, 2, 0, 3)).reshape(G, Cg, N * HW)
            gw = g_all @ x_all.transpose(0, 2, 1)
        gw = gw.reshape(g.OC, Cg, 1, 1)
    return gx, gw
