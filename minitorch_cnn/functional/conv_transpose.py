"""Transposed convolution and max unpooling: running a convolution and a max pool
backwards, as ZFNet's deconvnet does (Zeiler & Fergus 2014, Section 2.1).

Shape glossary as in geometry.py (N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW), with
C_in, C_out the channels going in and out of *this* op.

Transposed convolution. A conv2d from C_out channels of size OH x OW to C_in channels
of size H x W is a linear map y = A x; its input gradient is A^T dy. The transposed
convolution is that A^T used as a layer of its own: it takes (N, C_in, H, W) to
(N, C_out, OH, OW), spreading every input pixel over a KH x KW window of the output,
SH pixels apart. Its weight has the conv's shape read the other way round,
(C_in, C_out/groups, KH, KW), as in torch.

    forward   cols (C_out*KH*KW, N*H*W) = W^T (C_out*KH*KW, C_in) @ x (C_in, N*H*W)
              y = col2im(cols)                       (windows that overlap add up)
    backward  dcols = im2col(dy)                     (the windows col2im added into)
              dx = W @ dcols,   dW = x @ dcols^T,    db = sum of dy over N, OH, OW

i.e. the two GEMMs and col2im of conv2d's backward, run forwards, and conv2d's im2col
and GEMM, run backwards. The output size undoes conv_output_size:

    OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + output_padding + 1

``output_padding`` picks one of the SH sizes whose convolution gives back H (a stride-2
conv maps both 8 and 7 rows to 4): it adds rows at the bottom (and columns at the
right); they get the contributions that fall there, or zeros.

This is the readable version: one GEMM for the whole batch, no blocking (see fast/
for the fast path's tricks). Padding is done as "compute everything, then crop": col2im
fills the full (H-1)*SH + DH*(KH-1) + 1 rows, and the output is rows PH ... PH+OH-1
of it (zeros past its end).

Max unpooling. A max pool keeps, from each window, the largest value and where it was
(the "switches", ``max_pool2d(..., return_indices=True)``). Unpooling puts each value
back at its switch and zeros everywhere else: y[n, c].flat[indices[n, c, i, j]] =
x[n, c, i, j]. Its backward reads the gradient at the same places.
"""
import numpy as np

from .. import kernels
from ..autograd import Function
from ..backend import get_array_module
from .dtypes import check_same_dtype
from .geometry import conv_transpose_geometry, conv_transpose_output_size, pair
from .shape import reshape

__all__ = ["conv_transpose2d", "conv_transpose_output_size", "max_unpool2d"]


def _crop(full, PH, PW, OH, OW):
    """Rows PH .. PH+OH-1 and columns PW .. PW+OW-1 of ``full``, zeros where they run past
    its end (output_padding larger than padding)."""
    xp = get_array_module(full)
    N, C, HF, WF = full.shape
    out = xp.zeros((N, C, OH, OW), dtype=full.dtype)
    h, w = min(OH, HF - PH), min(OW, WF - PW)
    out[:, :, :h, :w] = full[:, :, PH:PH + h, PW:PW + w]
    return out


class ConvTranspose2d(Function):
    """y = conv_transpose(x, w) + b (module docstring); backward gives dL/dx, dL/dw, dL/db.

    g: the geometry of the conv this op is the adjoint of (geometry.conv_transpose_geometry:
    from the full output map (N, C_out, HF, WF) to x (N, C_in, H, W)); crop: (PH, PW, OH,
    OW). Saves x (needed for dw) and w (needed for dx) only."""

    def forward(self, x, w, b, g, crop):
        xp = get_array_module(x)
        N, G = x.shape[0], g.groups
        C_in, C_out, L = g.OC, g.C, N * g.OH * g.OW           # L: the N*H*W input pixels
        self.g, self.crop = g, crop
        self.save_for_backward(x if self.needs_input_grad[1] else None,
                               w if self.needs_input_grad[0] else None)
        # (N, C_in, H, W) -> (groups, C_in/g, N*H*W): every pixel a column
        x_mat = xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(G, C_in // G, L)
        w_mat = w.reshape(G, C_in // G, C_out // G * g.KH * g.KW)
        cols = w_mat.transpose(0, 2, 1) @ x_mat                # the GEMM: (G, C_out/G*KH*KW, L)
        full = kernels.col2im(cols.reshape(C_out * g.KH * g.KW, L), g)   # (N, C_out, HF, WF)
        PH, PW, OH, OW = crop
        y = full if (PH, PW, OH, OW) == (0, 0, g.H, g.W) else _crop(full, PH, PW, OH, OW)
        if b is not None:
            y += b.reshape(C_out, 1, 1)
        return y

    def backward(self, gy):
        x, w = self.saved
        xp = get_array_module(gy)
        g, (PH, PW, OH, OW) = self.g, self.crop
        N, G = gy.shape[0], g.groups
        C_in, C_out, L = g.OC, g.C, N * g.OH * g.OW
        # the adjoint of the crop: dy back in its place on the full map, zeros elsewhere
        gfull = xp.zeros((N, C_out, g.H, g.W), dtype=gy.dtype)
        h, w_ = min(OH, g.H - PH), min(OW, g.W - PW)
        gfull[:, :, PH:PH + h, PW:PW + w_] = gy[:, :, :h, :w_]
        # the adjoint of col2im: (N, C_out, HF, WF) -> (G, C_out/G*KH*KW, N*H*W)
        gcols = kernels.im2col(gfull, g).reshape(G, C_out // G * g.KH * g.KW, L)
        gx = gw = gb = None
        if self.needs_input_grad[0]:                           # dx = W @ dcols
            gx = w.reshape(G, C_in // G, -1) @ gcols           # (G, C_in/G, N*H*W)
            gx = xp.ascontiguousarray(gx.reshape(C_in, N, g.OH, g.OW).transpose(1, 0, 2, 3))
        if self.needs_input_grad[1]:                           # dW = x @ dcols^T
            x_mat = xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(G, C_in // G, -1)
            gw = (x_mat @ gcols.transpose(0, 2, 1)).reshape(C_in, C_out // G, g.KH, g.KW)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gw, gb


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1, *, name="conv_transpose2d"):
    """Transposed 2-D convolution (torch.nn.functional.conv_transpose2d): the adjoint of
    conv2d, (N, C_in, H, W) -> (N, C_out, OH, OW), weight (C_in, C_out/groups, KH, KW),
    bias (C_out,). Note torch's argument order: groups before dilation. ``name`` is who
    errors say is asking (nn.ConvTranspose2d passes its own)."""
    unbatched = input.ndim == 3
    if unbatched:
        input = reshape(input, (1,) + tuple(input.shape))
    check_same_dtype(name, input, weight=weight, bias=bias)
    g, crop = conv_transpose_geometry(input.shape, weight.shape, stride, padding,
                                      output_padding, dilation, groups, name)
    if bias is not None and tuple(bias.shape) != (g.C,):
        raise ValueError(f"{name}: bias must have shape ({g.C},), got {tuple(bias.shape)}")
    y = ConvTranspose2d.apply(input, weight, bias, g=g, crop=crop)
    return reshape(y, y.shape[1:]) if unbatched else y


# ------------------------------------------------------------------ max unpooling
class MaxUnpool2d(Function):
    """y = zeros with x written at its switches;  dL/dx = dL/dy read at the switches."""

    def forward(self, x, indices, OH, OW):
        xp = get_array_module(x)
        N, C = x.shape[:2]
        y = xp.zeros((N * C, OH * OW), dtype=x.dtype)
        flat = indices.reshape(N * C, -1)                     # one row of switches per plane
        # put_along_axis: y[p, flat[p, i]] = x[p, i]; a switch shared by overlapping
        # windows holds the same value from each, so the last write is as good as any
        xp.put_along_axis(y, flat, x.reshape(N * C, -1), axis=1)
        self.save_for_backward(flat)
        self.x_shape = x.shape
        return y.reshape(N, C, OH, OW)

    def backward(self, gy):
        flat, = self.saved
        N, C = gy.shape[:2]
        gx = get_array_module(gy).take_along_axis(gy.reshape(N * C, -1), flat, axis=1)
        return gx.reshape(self.x_shape), None


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool2d where it can be (torch.nn.functional.max_unpool2d): each
    value goes back to the place its pool took it from (``indices``, from
    ``max_pool2d(..., return_indices=True)``), zeros elsewhere.
    Output (N, C, OH, OW), OH = (H - 1)*SH - 2*PH + KH, or ``output_size`` (the pooled
    input's size when the pool dropped a row, as an odd size does)."""
    from ..tensor import Tensor
    op = "max_unpool2d"
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), "
                         f"got shape {tuple(input.shape)}")
    idx = indices.data if isinstance(indices, Tensor) else indices
    if tuple(idx.shape) != tuple(input.shape):
        raise ValueError(f"{op}: indices must have the input's shape {tuple(input.shape)}, "
                         f"got {tuple(idx.shape)} (pass the indices that max_pool2d(..., "
                         f"return_indices=True) gave with this input)")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got dtype {idx.dtype}")
    KH, KW = pair(kernel_size, "kernel_size", op)
    SH, SW = pair(stride if stride is not None else (KH, KW), "stride", op)
    PH, PW = pair(padding, "padding", op)
    H, W = input.shape[-2:]
    if output_size is None:
        OH = conv_transpose_output_size(H, KH, SH, PH)      # the pool's size, undone
        OW = conv_transpose_output_size(W, KW, SW, PW)
    else:
        OH, OW = (int(s) for s in tuple(output_size)[-2:])
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: the output would be {OH}x{OW}; check kernel_size, stride "
                         f"and padding against the pool that made the indices")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= OH * OW):
        raise ValueError(f"{op}: indices must lie in [0, {OH * OW}) for a {OH}x{OW} output, "
                         f"got {int(idx.min())} ... {int(idx.max())}; pass output_size= the "
                         f"size of the pooled input")
    unbatched = input.ndim == 3
    if unbatched:
        input = reshape(input, (1,) + tuple(input.shape))
        idx = idx.reshape((1,) + tuple(idx.shape))
    y = MaxUnpool2d.apply(input, idx.astype(np.int64, copy=False), OH=OH, OW=OW)
    return reshape(y, y.shape[1:]) if unbatched else y
