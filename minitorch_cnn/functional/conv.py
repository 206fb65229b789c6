"""2-D convolution, the story: im2col, one GEMM, a reshape; backward two GEMMs and col2im.

Shape glossary in functional/geometry.py (N, C, H, W, OC, KH, KW, SH, SW, PH, PW, DH,
DW, OH, OW). A convolution (a cross-correlation, strictly) slides OC filters over the
input:

    y[n, o, oh, ow] = b[o] + sum_{c, kh, kw} w[o, c, kh, kw] * x[n, c', ih, iw]
        ih = oh*SH - PH + kh*DH,  iw = ow*SW - PW + kw*DW,
        c' = c + (C/groups) * (o // (OC/groups))     (the channels of o's group)

Computed as one matrix product:
1. im2col (kernels/reference.py) copies every KH x KW window of x into one column:
       cols (C*KH*KW, N*OH*OW)
2. the GEMM  Y (OC, N*OH*OW) = W (OC, C*KH*KW) @ cols, reshaped to (N, OC, OH, OW).
   With groups, W and cols split into ``groups`` diagonal blocks: a batch of products.
3. backward, two more GEMMs and col2im, im2col's adjoint:
       dW = dY @ cols^T,   dcols = W^T @ dY,   dx = col2im(dcols)

What backward keeps alive: x (for dW) and w (for dx), nothing else. The column matrix
is KH*KW times the size of x (9x for a 3x3: 151 MB for a batch of 64 at 64x32x32): a
network that kept one per layer until backward would need gigabytes, so backward
builds cols again from x, one more im2col.

Under ``set_kernels("reference")`` the story below is exactly what runs. Under "fast",
``fast.choose_conv`` hands the same computation to one of the named units of the fast
path (fast/__init__.py: blocked im2col, pointwise, depthwise, Winograd), each tested
against this story; ``nn.Conv2d.plan(x)`` says which.
"""
from .. import fast
from ..autograd import Function
from ..backend import device_of
from ..fast import conv_depthwise, conv_im2col, conv_pointwise, conv_winograd
from ..kernels.reference import col2im, im2col
from .dtypes import check_same_dtype
from .geometry import conv_geometry, conv_output_size
from .shape import pad, reshape

__all__ = ["conv2d", "conv_output_size"]

FAST_UNITS = {"blocked_im2col": conv_im2col, "pointwise": conv_pointwise,
              "depthwise": conv_depthwise, "winograd": conv_winograd}


class Conv2d(Function):
    """y = conv(x, w) + b (module docstring); backward gives dL/dx, dL/dw, dL/db.

    g: the layer's ConvGeometry. Saves x (needed for dw) and w (needed for dx) only.
    """

    def forward(self, x, w, b, g):
        self.g, self.plan = g, fast.choose_conv(g, device_of(x))
        self.save_for_backward(x if self.needs_input_grad[1] else None,
                               w if self.needs_input_grad[0] else None)
        if self.plan.algorithm != "im2col":                       # the fast path
            return FAST_UNITS[self.plan.algorithm].forward(x, w, b, g, self.plan)
        G, K, L = g.groups, g.C // g.groups * g.KH * g.KW, g.N * g.OH * g.OW
        cols = im2col(x, g).reshape(G, K, L)          # (C*KH*KW, N*OH*OW), by group
        y = w.reshape(G, g.OC // G, K) @ cols         # the GEMM: (groups, OC/groups, L)
        # (OC, N, OH, OW) -> (N, OC, OH, OW)
        y = y.reshape(g.OC, g.N, g.OH, g.OW).transpose(1, 0, 2, 3).copy()
        if b is not None:
            y += b.reshape(g.OC, 1, 1)
        return y

    def backward(self, gy):
        x, w = self.saved
        g, plan = self.g, self.plan
        need_x, need_w, need_b = self.needs_input_grad
        gx = gw = None
        if plan.algorithm != "im2col":                            # the fast path
            gx, gw = FAST_UNITS[plan.algorithm].backward(x, w, gy, g, plan, need_x, need_w)
        else:
            G, K, L = g.groups, g.C // g.groups * g.KH * g.KW, g.N * g.OH * g.OW
            # (N, OC, OH, OW) -> (groups, OC/groups, N*OH*OW): dY in the layout of W @ cols
            gy_mat = gy.transpose(1, 0, 2, 3).reshape(G, g.OC // G, L)
            if need_w:           # dW = dY @ cols^T, with cols built again from x
                cols = im2col(x, g).reshape(G, K, L)
                gw = (gy_mat @ cols.transpose(0, 2, 1)).reshape(g.OC, g.C // G, g.KH, g.KW)
            if need_x:           # dcols = W^T @ dY, then each column back onto its pixels
                gcols = w.reshape(G, g.OC // G, K).transpose(0, 2, 1) @ gy_mat
                gx = col2im(gcols.reshape(G * K, L), g)
        gb = gy.sum(axis=(0, 2, 3)) if need_b else None
        return gx, gw, gb


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           name="conv2d"):
    """2-D convolution over an (N, C, H, W) or (C, H, W) input (torch.nn.functional.conv2d).

    weight (OC, C/groups, KH, KW), bias (OC,); stride, padding, dilation: an int or a pair;
    padding may also be "valid" (0) or "same" (output as large as the input, stride 1).
    ``name`` is who errors say is asking (nn.Conv2d passes its own, "Conv2d(64->128)").
    """
    if input.ndim == 3:                                # unbatched: a batch of one
        y = conv2d(reshape(input, (1,) + tuple(input.shape)), weight, bias, stride, padding,
                   dilation, groups, name=name)
        return reshape(y, y.shape[1:])
    check_same_dtype(name, input, weight=weight, bias=bias)
    g = conv_geometry(input.shape, weight.shape, stride, padding, dilation, groups, name)
    if (g.H, g.W) != tuple(input.shape[2:]):
        # padding="same" with an even kernel: one more zero row/column at the bottom/right
        input = pad(input, (0, g.W - input.shape[3], 0, g.H - input.shape[2]))
    if bias is not None and tuple(bias.shape) != (g.OC,):
        raise ValueError(f"{name}: bias must have shape ({g.OC},), got {tuple(bias.shape)}")
    return Conv2d.apply(input, weight, bias, g=g)
