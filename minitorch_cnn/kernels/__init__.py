"""The hot loops behind the CNN ops, in three tiers with one set of names.

- ``reference.py``: plain NumPy (works on CuPy arrays too), the version to read;
- ``cpu/``: the same loops compiled by Numba, one file per family (im2col, depthwise,
  winograd, pool, norm, elementwise), each imported the first time one of its kernels
  runs: ``import minitorch_cnn`` does not import Numba;
- ``cuda.py``: CuPy ``ElementwiseKernel`` versions, for CuPy arrays.

``tier`` is the one place that picks among them: "reference" under
``backend.set_kernels("reference")``; under "fast", "cuda" for arrays on the GPU and
"numba" for arrays in host memory. A kernel the CUDA tier does not write out (the bins
of adaptive pooling, say) runs as its reference version, which is already whole-array
CuPy code there. The functions below only dispatch: the docstrings and the shape
glossary live in ``reference.py``.
"""
import importlib

import numpy as np

from .. import backend
from . import reference

# the file of kernels/cpu/ that holds each kernel
_CPU_FAMILY = {
    "im2col": "im2col", "col2im": "im2col",
    "depthwise_conv2d": "depthwise", "depthwise_conv2d_backward_input": "depthwise",
    "depthwise_conv2d_backward_weight": "depthwise",
    "winograd_input_transform": "winograd", "winograd_input_transform_backward": "winograd",
    "winograd_output_transform": "winograd", "winograd_output_transform_backward": "winograd",
    "max_pool2d": "pool", "max_pool2d_backward": "pool", "avg_pool2d": "pool",
    "avg_pool2d_backward": "pool", "adaptive_avg_pool2d": "pool",
    "adaptive_avg_pool2d_backward": "pool", "adaptive_max_pool2d": "pool",
    "batch_norm_statistics": "norm", "batch_norm_apply": "norm",
    "batch_norm_backward_reduce": "norm", "batch_norm_backward_input": "norm",
    "clamp": "elementwise", "band_backward": "elementwise", "silu": "elementwise",
    "silu_backward": "elementwise", "sgd_update": "elementwise",
}
_loaded = {}                 # (tier, name) -> function, filled as kernels are first used
# the fast tiers are compiled for these; any other dtype that reaches a kernel (the ops
# check first: integer max pooling, say) runs the reference version, not a Numba error
_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def tier(device):
    """Which tier runs on ``device`` ("cpu" or "cuda") under the kernel switch."""
    if backend.get_kernels() == "reference":
        return "reference"
    return "cuda" if device == "cuda" else "numba"


def _impl(a, name):
    """Kernel ``name`` of the tier that runs on array ``a``."""
    key = (tier(backend.device_of(a)) if a.dtype in _FAST_DTYPES else "reference", name)
    fn = _loaded.get(key)
    if fn is None:
        if key[0] == "numba":
            fn = getattr(importlib.import_module(f"{__name__}.cpu.{_CPU_FAMILY[name]}"), name)
        elif key[0] == "cuda":
            from . import cuda             # imports CuPy, which is there if ``a`` is a CuPy array
            fn = getattr(cuda, name, None) or getattr(reference, name)
        else:
            fn = getattr(reference, name)
        _loaded[key] = fn
    return fn


def im2col(x, g, out=None):
    return _impl(x, "im2col")(x, g, out)


def col2im(cols, g, out=None):
    return _impl(cols, "col2im")(cols, g, out)


def depthwise_conv2d(x, w, g, layout=None):
    return _impl(x, "depthwise_conv2d")(x, w, g, layout)


def depthwise_conv2d_backward_input(gy, w, g, layout=None):
    return _impl(gy, "depthwise_conv2d_backward_input")(gy, w, g, layout)


def depthwise_conv2d_backward_weight(x, gy, g, layout=None):
    return _impl(x, "depthwise_conv2d_backward_weight")(x, gy, g, layout)


def winograd_input_transform(x, g, m=2, out=None):
    return _impl(x, "winograd_input_transform")(x, g, m, out)


def winograd_output_transform(M, bias, g, m=2, out=None):
    return _impl(M, "winograd_output_transform")(M, bias, g, m, out)


def winograd_output_transform_backward(gy, m=2, out=None):
    return _impl(gy, "winograd_output_transform_backward")(gy, m, out)


def winograd_input_transform_backward(dV, g, m=2, out=None):
    return _impl(dV, "winograd_input_transform_backward")(dV, g, m, out)


def max_pool2d(x, g):
    return _impl(x, "max_pool2d")(x, g)


def max_pool2d_backward(gy, argmax, x_shape):
    return _impl(gy, "max_pool2d_backward")(gy, argmax, x_shape)


def avg_pool2d(x, g, divisor):
    return _impl(x, "avg_pool2d")(x, g, divisor)


def avg_pool2d_backward(gy, g, divisor):
    return _impl(gy, "avg_pool2d_backward")(gy, g, divisor)


def adaptive_avg_pool2d(x, OH, OW):
    return _impl(x, "adaptive_avg_pool2d")(x, OH, OW)


def adaptive_avg_pool2d_backward(gy, x_shape):
    return _impl(gy, "adaptive_avg_pool2d_backward")(gy, x_shape)


def adaptive_max_pool2d(x, OH, OW):
    return _impl(x, "adaptive_max_pool2d")(x, OH, OW)


def batch_norm_statistics(x):
    return _impl(x, "batch_norm_statistics")(x)


def batch_norm_apply(x, mean, inv_std, weight, bias, band=None, residual=None):
    return _impl(x, "batch_norm_apply")(x, mean, inv_std, weight, bias, band, residual)


def batch_norm_backward_reduce(gy, x, mean, inv_std, y=None, band=None):
    return _impl(gy, "batch_norm_backward_reduce")(gy, x, mean, inv_std, y, band)


def batch_norm_backward_input(gy, x, mean, inv_std, scale, mean_gy, mean_gy_xhat, y=None,
                              band=None):
    return _impl(gy, "batch_norm_backward_input")(gy, x, mean, inv_std, scale, mean_gy,
                                                  mean_gy_xhat, y, band)


def clamp(x, lo, hi):
    return _impl(x, "clamp")(x, lo, hi)


def band_backward(g, y, lo, hi):
    return _impl(g, "band_backward")(g, y, lo, hi)


def silu(x):
    return _impl(x, "silu")(x)


def silu_backward(g, x):
    return _impl(g, "silu_backward")(g, x)


def sgd_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    return _impl(p, "sgd_update")(p, g, buf, lr, momentum, dampening, weight_decay, nesterov,
                                  first)
