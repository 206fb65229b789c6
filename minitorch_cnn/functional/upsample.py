"""Resizing feature maps: ``interpolate`` (torch.nn.functional.interpolate), nearest and
(bi)linear, by ``size`` or ``scale_factor``.

Both modes are separable, and linear in x: along each spatial axis an output position
reads a fixed mix of input positions. So each axis gets a matrix A of shape (out, in),
and for an image (N, C, H, W)

    y = A_h x A_w^T                 dL/dx = A_h^T (dL/dy) A_w

(two matrix products forward, two back). Row o of A holds where output o reads from:
  nearest   a single 1 at  i = min(floor(o * s), in - 1)
            ('nearest-exact': floor((o + 1/2) * s)), s = in / out or 1 / scale_factor
  linear    1 - lam at i0 and lam at i1 = min(i0 + 1, in - 1), for the source point
            c = o * (in - 1) / (out - 1)                     (align_corners=True)
            c = max((o + 1/2) * s - 1/2, 0)                  (align_corners=False)
            i0 = floor(c), lam = c - i0.
These are torch's formulas; the coordinates are computed in the input's dtype, as torch
computes them, so the same output positions read the same input positions.
"""
import math

import numpy as np

from .. import backend
from ..autograd import Function
from .dtypes import check_float

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]


def axis_matrix(n_in, n_out, mode, align_corners, scale, dtype):
    """The (n_out, n_in) matrix that resamples one axis (see the module docstring);
    ``scale`` is 1 / scale_factor when one was given, else None (then in / out)."""
    dtype = np.dtype(dtype)
    s = dtype.type(n_in / n_out if scale is None else scale)
    o = np.arange(n_out, dtype=dtype)
    A = np.zeros((n_out, n_in), dtype)
    rows = np.arange(n_out)
    if mode in ("nearest", "nearest-exact"):
        c = o * s if mode == "nearest" else (o + dtype.type(0.5)) * s
        A[rows, np.minimum(np.floor(c).astype(np.int64), n_in - 1)] = 1
        return A
    if align_corners:
        c = o * dtype.type((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out, dtype)
    else:
        c = np.maximum((o + dtype.type(0.5)) * s - dtype.type(0.5), 0)
    i0 = np.minimum(np.floor(c).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = c - i0
    np.add.at(A, (rows, i0), 1 - lam)
    np.add.at(A, (rows, i1), lam)
    return A


class Resample(Function):
    """y = x resampled along its last one or two axes by the matrices ``mats``:
    (N, C, L) -> (N, C, L'):  y = x A^T;   (N, C, H, W) -> (N, C, H', W'):  y = A_h x A_w^T.
    Backward applies the transposes: dL/dx = dL/dy A, or A_h^T dL/dy A_w.
    Saves the matrices (small: out x in per axis)."""
    def forward(self, x, mats):
        self.mats = mats
        y = x @ mats[-1].T                       # last axis: (.., W) -> (.., W')
        if len(mats) == 2:
            y = mats[0] @ y                      # H axis: (H', H) @ (.., H, W') -> (.., H', W')
        return y

    def backward(self, g):
        mats = self.mats
        if len(mats) == 2:
            g = mats[0].T @ g                    # (H, H') @ (.., H', W') -> (.., H, W')
        return g @ mats[-1]                      # (.., W') @ (W', W) -> (.., W)


_LINEAR = {3: "linear", 4: "bilinear"}


def _pair(v, n, what):
    """A number or a sequence of n numbers, as a tuple of n."""
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            raise ValueError(f"interpolate: {what} has {len(v)} entries for {n} spatial dims "
                             f"(input of {n + 2} dims)")
        return tuple(v)
    return (v,) * n


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, L) or (N, C, H, W) input to ``size``, or by ``scale_factor``
    (output size = floor(in * scale_factor)). Modes: 'nearest', 'nearest-exact',
    'linear' (3-D), 'bilinear' (4-D), with ``align_corners`` for the linear ones."""
    if mode not in ("nearest", "nearest-exact", "linear", "bilinear"):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not implemented; available: "
                                  f"'nearest', 'nearest-exact', 'linear' (3-D input), "
                                  f"'bilinear' (4-D input)")
    if input.ndim not in (3, 4):
        raise ValueError(f"interpolate: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got "
                         f"shape {tuple(input.shape)} (5-D, trilinear, is not implemented)")
    linear = mode in ("linear", "bilinear")
    if linear and _LINEAR[input.ndim] != mode:
        raise ValueError(f"interpolate: got {input.ndim}-D input, but {mode} mode needs "
                         f"{3 if mode == 'linear' else 4}-D input")
    if align_corners is not None and not linear:
        raise ValueError("interpolate: align_corners option can only be set with the "
                         "interpolating modes: linear | bilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    check_float("interpolate", input)
    n = input.ndim - 2
    sizes_in = tuple(input.shape[2:])
    if size is not None:
        sizes_out = tuple(int(s) for s in _pair(size, n, "size"))
        scales = (None,) * n
    else:
        factors = tuple(float(f) for f in _pair(scale_factor, n, "scale_factor"))
        if any(f <= 0 for f in factors):
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor}")
        sizes_out = tuple(int(math.floor(s * f)) for s, f in zip(sizes_in, factors))
        # torch's kernels take the factor as given (1 / factor per output step) unless
        # recompute_scale_factor asks to derive it from the sizes (in / out)
        scales = (None,) * n if recompute_scale_factor else tuple(1.0 / f for f in factors)
    if any(s <= 0 for s in sizes_out):
        raise ValueError(f"interpolate: output size {sizes_out} from input {tuple(input.shape)} "
                         f"has a zero or negative dim")
    mats = tuple(backend.to_device(axis_matrix(i, o, mode, bool(align_corners), s,
                                               input.data.dtype), input.device)
                 for i, o, s in zip(sizes_in, sizes_out, scales))
    return Resample.apply(input, mats=mats)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """The old name of ``interpolate``."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Bilinear with align_corners=True, as torch's deprecated function."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
