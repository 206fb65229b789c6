"""Pooling: the max or the mean of each window, and the adaptive versions that fit
their windows to a requested output size.

The story, per channel, window (oh, ow) reading the taps (ih, iw) = (oh*SH - PH + kh*DH,
ow*SW - PW + kw*DW) that fall inside the input:

    max:      y = max of the taps, argmax = where it was   dL/dx: gy to that pixel only
    average:  y = sum of the taps / divisor                dL/dx: gy / divisor to each tap

(gradients add up where windows overlap). kernels/reference.py writes each as a loop
over the KH x KW taps, one strided slice of the padded input per tap; under
``set_kernels("reference")`` that is exactly what runs (``fast.choose_kernels``), and
under "fast" the Numba or CuPy kernels of the same names, tested against it.

Shape glossary and window geometry in functional/geometry.py: x (N, C, H, W) ->
y (N, C, OH, OW); the window is KH x KW, moved by SH, SW over the input padded by PH, PW
(dilation DH, DW for max pooling). ``pool_geometry`` checks the arguments once and the
kernels (kernels/reference.py to read, Numba or CuPy under "fast") take the geometry
whole. With ceil_mode the output size rounds up, so that a last, partial window covers
the rest of the input (torch drops it again if it would start in the bottom padding).

dtypes: float32 and float64; max_pool2d also takes integers, as torch. A window that holds
a NaN gives NaN, and its gradient goes to the NaN (kernels/reference.py has the rule).
"""
import numpy as np

from .. import fast
from ..autograd import Function
from ..backend import device_of, get_array_module
from ..tensor import Tensor
from .dtypes import check_float
from .geometry import pool_geometry, pool_output_size
from .shape import reshape

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
           "pool_output_size"]


def _batched(fn):
    """Let a pool take an unbatched (C, H, W) input, as torch's do."""
    def pool(x, *args, **kwargs):
        if x.ndim != 3:
            return fn(x, *args, **kwargs)
        out = fn(reshape(x, (1,) + tuple(x.shape)), *args, **kwargs)
        if isinstance(out, tuple):
            return tuple(reshape(o, o.shape[1:]) for o in out)
        return reshape(out, out.shape[1:])
    pool.__name__, pool.__doc__ = fn.__name__, fn.__doc__
    return pool


# ------------------------------------------------------------------------- max
class MaxPool2d(Function):
    """y = max over each window.  dL/dx: each window's gradient goes to the pixel that
    won it (argmax), summed where windows overlap and share a winner.

    Saves the argmax indices (int64, the size of y), not x: they are all backward needs.
    """

    def forward(self, x, g, indices=None):
        self.kernels = fast.choose_kernels(device_of(x))   # kernels/reference.py to read
        y, argmax = self.kernels.max_pool2d(x, g)
        self.save_for_backward(argmax)
        self.x_shape = x.shape
        if indices is not None:           # return_indices: hand the argmax out too
            indices.append(argmax)
        return y

    def backward(self, gy):
        argmax, = self.saved
        return self.kernels.max_pool2d_backward(get_array_module(gy).ascontiguousarray(gy),
                                                argmax, self.x_shape)


@_batched
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over KH x KW windows (torch.nn.functional.max_pool2d); stride defaults to the
    kernel size. With return_indices, also the flat index (ih*W + iw) of each max."""
    if input.dtype.kind not in "iu":
        check_float("max_pool2d", input)
    g = pool_geometry(input.shape, kernel_size, stride, padding, dilation, ceil_mode,
                      "max_pool2d")
    indices = [] if return_indices else None
    y = MaxPool2d.apply(input, g=g, indices=indices)
    return (y, Tensor(indices[0])) if return_indices else y


# --------------------------------------------------------------------- average
def _avg_divisor(g, count_include_pad, divisor_override):
    """What each window's sum is divided by, (OH, OW), by torch's rule: the window's size
    clipped to the padded input (count_include_pad), or to the input itself."""
    if divisor_override is not None:
        return np.full((g.OH, g.OW), float(divisor_override))

    def axis(size, K, S, P, O):
        start = np.arange(O) * S - P
        end = np.minimum(start + K, size + P)                 # the padded input's edge
        inside = np.minimum(end, size) - np.maximum(start, 0)
        return end - start, inside

    pool_h, in_h = axis(g.H, g.KH, g.SH, g.PH, g.OH)
    pool_w, in_w = axis(g.W, g.KW, g.SW, g.PW, g.OW)
    if count_include_pad:
        return np.outer(pool_h, pool_w).astype(np.float64)
    return np.outer(in_h, in_w).astype(np.float64)


class AvgPool2d(Function):
    """y = (sum of the window) / divisor;  dL/dx: every pixel of a window gets gy / divisor.
    Saves nothing but shapes: the backward does not need x."""

    def forward(self, x, g, divisor):
        self.g, self.divisor = g, get_array_module(x).asarray(divisor, dtype=x.dtype)
        self.kernels = fast.choose_kernels(device_of(x))
        return self.kernels.avg_pool2d(x, g, self.divisor)

    def backward(self, gy):
        return self.kernels.avg_pool2d_backward(get_array_module(gy).ascontiguousarray(gy),
                                                self.g, self.divisor)


@_batched
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over KH x KW windows (torch.nn.functional.avg_pool2d). Padding counts as zeros
    in the divisor if count_include_pad; divisor_override replaces the divisor."""
    check_float("avg_pool2d", input)
    g = pool_geometry(input.shape, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    if divisor_override is not None and divisor_override == 0:
        raise ValueError("avg_pool2d: divisor_override must not be zero")
    divisor = _avg_divisor(g, count_include_pad, divisor_override)
    return AvgPool2d.apply(input, g=g, divisor=divisor)


# -------------------------------------------------------------------- adaptive
def _output_size(op, x, output_size):
    """(OH, OW) from an int, a pair, or a pair with None (= keep that input size)."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), "
                         f"got shape {tuple(x.shape)}")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{op}: expected an input of at least 1x1 pixels, got shape "
                         f"{tuple(x.shape)}")
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    OH, OW = (x.shape[2 + i] if s is None else int(s) for i, s in enumerate(output_size))
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size}")
    return OH, OW


class AdaptiveAvgPool2d(Function):
    """Mean over torch's adaptive bins: output i pools [floor(i*H/OH), ceil((i+1)*H/OH)).
    Saves nothing but x's shape."""

    def forward(self, x, OH, OW):
        self.x_shape, self.kernels = x.shape, fast.choose_kernels(device_of(x))
        return self.kernels.adaptive_avg_pool2d(x, OH, OW)

    def backward(self, gy):
        return self.kernels.adaptive_avg_pool2d_backward(
            get_array_module(gy).ascontiguousarray(gy), self.x_shape)


class AdaptiveMaxPool2d(MaxPool2d):
    """Max over the adaptive bins; backward as MaxPool2d's (saves the argmax)."""

    def forward(self, x, OH, OW, indices=None):
        self.kernels = fast.choose_kernels(device_of(x))
        y, argmax = self.kernels.adaptive_max_pool2d(x, OH, OW)
        self.save_for_backward(argmax)
        self.x_shape = x.shape
        if indices is not None:
            indices.append(argmax)
        return y


@_batched
def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (torch.nn.functional.adaptive_avg_pool2d)."""
    check_float("adaptive_avg_pool2d", input)
    OH, OW = _output_size("adaptive_avg_pool2d", input, output_size)
    return AdaptiveAvgPool2d.apply(input, OH=OH, OW=OW)


@_batched
def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size (torch.nn.functional.adaptive_max_pool2d)."""
    check_float("adaptive_max_pool2d", input)
    OH, OW = _output_size("adaptive_max_pool2d", input, output_size)
    indices = [] if return_indices else None
    y = AdaptiveMaxPool2d.apply(input, OH=OH, OW=OW, indices=indices)
    return (y, Tensor(indices[0])) if return_indices else y
