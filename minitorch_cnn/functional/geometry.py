"""The geometry of a convolution or a pool: one named tuple, built and checked once.

Shape glossary, used in every file of the conv story:

    N  batch size            C  channels (input)       OC  channels (output)
    H, W    input height and width       OH, OW   output height and width
    KH, KW  kernel (window) size         SH, SW   stride
    PH, PW  zero padding on each side    DH, DW   dilation (gap between taps)

A window's tap (kh, kw) of output pixel (oh, ow) reads input pixel

    ih = oh*SH - PH + kh*DH,    iw = ow*SW - PW + kw*DW

and the windows that fit in the padded input number

    OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1          (likewise OW)

(a pool with ceil_mode rounds up instead, so that a last, partial window covers the
rest of the input). ``conv_geometry`` and ``pool_geometry`` check the arguments and
return a ``ConvGeometry``: the kernels take it whole, not as a dozen loose integers.
"""
from typing import NamedTuple

import numpy as np

__all__ = ["ConvGeometry", "conv_geometry", "pool_geometry", "conv_transpose_geometry",
           "output_size", "conv_output_size", "pool_output_size", "conv_transpose_output_size"]


class ConvGeometry(NamedTuple):
    """Every size of one conv (or pool: OC = C, groups = C, each channel on its own)."""
    N: int
    C: int
    H: int
    W: int
    OC: int
    KH: int
    KW: int
    SH: int
    SW: int
    PH: int
    PW: int
    DH: int
    DW: int
    groups: int
    OH: int
    OW: int


def output_size(size, kernel, stride=1, padding=0, dilation=1, ceil_mode=False):
    """OH for one axis: the number of window positions that fit in the padded input,
    rounding the last step down, or up with ceil_mode (but never starting a window in
    the bottom padding, as torch)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


conv_output_size = pool_output_size = output_size       # the names torch users look for


def conv_transpose_output_size(size, kernel, stride=1, padding=0, output_padding=0,
                               dilation=1):
    """OH of a transposed conv, the size that ``output_size`` maps back to ``size``:
    (H - 1)*SH - 2*PH + DH*(KH - 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def pair(v, name, op):
    """An int or a pair of ints -> a pair (for H and W)."""
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(a, (int, np.integer))
                                                          for a in v):
        return int(v[0]), int(v[1])
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")


def conv_args(kernel_size, stride, padding, dilation, op):
    """Check and normalise a conv's hyper-parameters: (stride, padding, dilation, extra),
    each a pair. padding may be "valid" (0) or "same" (output as large as the input, at
    stride 1): DH*(KH-1) rows in all, half on top; an odd total puts the extra row at the
    bottom, as torch does, and ``extra`` is that (bottom, right) remainder."""
    KH, KW = pair(kernel_size, "kernel_size", op)
    stride, dilation = pair(stride, "stride", op), pair(dilation, "dilation", op)
    extra = (0, 0)
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride={stride}")
        th, tw = dilation[0] * (KH - 1), dilation[1] * (KW - 1)
        padding, extra = (th // 2, tw // 2), (th % 2, tw % 2)
    elif isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', "
                         f"got {padding!r}")
    else:
        padding = pair(padding, "padding", op)
    _check_steps(stride, padding, dilation, op)
    return stride, padding, dilation, extra


def _check_steps(stride, padding, dilation, op):
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: stride and dilation must be >= 1 and padding >= 0, got "
                         f"stride={stride}, padding={padding}, dilation={dilation}")


def check_groups(C, OC, groups, op, input_channels=True):
    """groups must be a positive int dividing the input and output channels (the input's
    only where ``input_channels``: conv_geometry checks them against the weight instead)."""
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if (input_channels and C % groups) or OC % groups:
        raise ValueError(f"{op}: groups={groups} must divide in_channels ({C}) and "
                         f"out_channels ({OC})")


def _check_input(x_shape, op):
    if len(x_shape) != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), "
                         f"got shape {tuple(x_shape)}")


def _check_fits(H, W, KH, KW, PH, PW, DH, DW, OH, OW, op):
    if OH < 1 or OW < 1:
        span = (DH * (KH - 1) + 1, DW * (KW - 1) + 1)
        raise ValueError(f"{op}: window {KH}x{KW} (spanning {span[0]}x{span[1]} with dilation "
                         f"{(DH, DW)}) does not fit the input {H}x{W} with padding {(PH, PW)}: "
                         f"it is larger than the padded input {H + 2 * PH}x{W + 2 * PW}")


def conv_geometry(x_shape, w_shape, stride, padding, dilation, groups, op="conv2d"):
    """The checked geometry of a conv of an (N, C, H, W) input with (OC, C/groups, KH, KW)
    weights (stride, padding, dilation as ``conv_args`` takes them). Errors name ``op``.
    padding="same" with an even kernel needs one more row (column) at the bottom (right)
    than on top: H and W here are the input's sizes with that extra row added."""
    _check_input(x_shape, op)
    if len(w_shape) != 4:
        raise ValueError(f"{op}: weight must be 4-D (OC, C/groups, KH, KW), got shape "
                         f"{tuple(w_shape)}")
    N, C, H, W = (int(d) for d in x_shape)
    OC, Cg, KH, KW = (int(d) for d in w_shape)
    (SH, SW), (PH, PW), (DH, DW), extra = conv_args((KH, KW), stride, padding, dilation, op)
    H, W = H + extra[0], W + extra[1]
    check_groups(C, OC, groups, op, input_channels=False)
    if C != Cg * groups:
        raise ValueError(f"{op}: expected input with {Cg * groups} channels, got {C} (input "
                         f"shape {tuple(x_shape)}); the weight {tuple(w_shape)} with "
                         f"groups={groups} takes {Cg * groups}")
    OH, OW = output_size(H, KH, SH, PH, DH), output_size(W, KW, SW, PW, DW)
    _check_fits(H, W, KH, KW, PH, PW, DH, DW, OH, OW, op)
    return ConvGeometry(N, C, H, W, OC, KH, KW, SH, SW, PH, PW, DH, DW, int(groups), OH, OW)


def pool_geometry(x_shape, kernel_size, stride, padding, dilation, ceil_mode, op):
    """The checked geometry of a KH x KW pool (stride None: the kernel size); each window
    must hold at least one input pixel, so padding is at most half the window."""
    _check_input(x_shape, op)
    KH, KW = pair(kernel_size, "kernel_size", op)
    SH, SW = pair(stride if stride is not None else (KH, KW), "stride", op)
    (PH, PW), (DH, DW) = pair(padding, "padding", op), pair(dilation, "dilation", op)
    if min(KH, KW, SH, SW, DH, DW) < 1 or min(PH, PW) < 0:
        raise ValueError(f"{op}: kernel_size, stride and dilation must be >= 1 and padding "
                         f">= 0, got kernel_size={(KH, KW)}, stride={(SH, SW)}, padding="
                         f"{(PH, PW)}, dilation={(DH, DW)}")
    if PH > (DH * (KH - 1) + 1) // 2 or PW > (DW * (KW - 1) + 1) // 2:
        raise ValueError(f"{op}: padding {(PH, PW)} must be at most half the window "
                         f"{(DH * (KH - 1) + 1, DW * (KW - 1) + 1)}, so that every window "
                         f"holds at least one input pixel")
    N, C, H, W = (int(d) for d in x_shape)
    if H < 1 or W < 1:
        raise ValueError(f"{op}: expected an input of at least 1x1 pixels, got shape "
                         f"{tuple(x_shape)}")
    OH = output_size(H, KH, SH, PH, DH, ceil_mode)
    OW = output_size(W, KW, SW, PW, DW, ceil_mode)
    _check_fits(H, W, KH, KW, PH, PW, DH, DW, OH, OW, op)
    return ConvGeometry(N, C, H, W, C, KH, KW, SH, SW, PH, PW, DH, DW, C, OH, OW)


def check_output_padding(output_padding, stride, dilation, op):
    """A transposed conv's output_padding picks one of the sizes that a strided conv maps
    to the same input size (a stride-2 conv maps 8 and 7 rows to 4): it must be smaller
    than the stride or the dilation."""
    output_padding = pair(output_padding, "output_padding", op)
    for a in range(2):
        if not 0 <= output_padding[a] < max(stride[a], dilation[a]):
            raise ValueError(f"{op}: output_padding {output_padding} must be >= 0 and "
                             f"smaller than the stride {stride} or the dilation {dilation} "
                             f"(it picks one of the sizes a strided conv maps to the same "
                             f"input size)")
    return output_padding


def conv_transpose_geometry(x_shape, w_shape, stride, padding, output_padding, dilation,
                            groups, op="conv_transpose2d"):
    """The checked geometry of a transposed conv of an (N, C_in, H, W) input with
    (C_in, C_out/groups, KH, KW) weights. It is returned as the geometry ``g`` of the conv
    it is the adjoint of: that conv reads the full, uncropped output map (N, C_out, HF, WF),
    HF = (H-1)*SH + DH*(KH-1) + 1, without padding, and gives back (N, C_in, H, W); and the
    crop (PH, PW, OH, OW) that padding and output_padding make of the full map."""
    _check_input(x_shape, op)
    if len(w_shape) != 4:
        raise ValueError(f"{op}: weight must be 4-D (C_in, C_out/groups, KH, KW), got shape "
                         f"{tuple(w_shape)}")
    N, C_in, H, W = (int(d) for d in x_shape)
    C_in_w, C_out_g, KH, KW = (int(d) for d in w_shape)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if C_in_w % groups:
        raise ValueError(f"{op}: groups={groups} must divide the weight's {C_in_w} input "
                         f"channels (weight {tuple(w_shape)})")
    if C_in != C_in_w:
        raise ValueError(f"{op}: expected input with {C_in_w} channels (weight "
                         f"{tuple(w_shape)}, laid out (C_in, C_out/groups, KH, KW)), got "
                         f"{C_in} channels (input shape {tuple(x_shape)})")
    (SH, SW), (PH, PW) = pair(stride, "stride", op), pair(padding, "padding", op)
    (DH, DW) = pair(dilation, "dilation", op)
    _check_steps((SH, SW), (PH, PW), (DH, DW), op)
    output_padding = check_output_padding(output_padding, (SH, SW), (DH, DW), op)
    OH, OW = (conv_transpose_output_size(n, k, s, p, o, d) for n, k, s, p, o, d in
              zip((H, W), (KH, KW), (SH, SW), (PH, PW), output_padding, (DH, DW)))
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: padding {(PH, PW)} leaves no output: (H - 1)*stride - "
                         f"2*padding + dilation*(K - 1) + output_padding + 1 = {(OH, OW)} "
                         f"for input {(H, W)}, kernel {(KH, KW)}")
    HF, WF = (conv_transpose_output_size(n, k, s, 0, 0, d) for n, k, s, d in
              zip((H, W), (KH, KW), (SH, SW), (DH, DW)))
    g = ConvGeometry(N, C_out_g * int(groups), HF, WF, C_in, KH, KW, SH, SW, 0, 0, DH, DW,
                     int(groups), H, W)
    return g, (PH, PW, OH, OW)
