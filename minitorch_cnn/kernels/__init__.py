"""The hot loops behind the CNN ops, in three tiers with one set of names.

- ``reference.py``: plain NumPy (works on CuPy arrays too), the version to read;
- ``cpu.py``: the same loops compiled by Numba, for NumPy arrays;
- ``cuda.py``: CuPy ``ElementwiseKernel`` versions, for CuPy arrays.

``backend.set_kernels("reference" | "fast")`` picks the tier; "fast" means Numba for
arrays in host memory and CuPy for arrays on the GPU. A kernel the CUDA tier does not
write out (the bins of adaptive pooling, say) runs as its reference version, which
is already whole-array CuPy code there. The functions below only dispatch: the
docstrings and the shape glossary live in ``reference.py``.
"""
import numpy as np

from .. import backend
from . import reference, cpu


_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _tier(a, name):
    """The module whose ``name`` runs on array ``a`` under the current kernel switch.
    The fast tiers are compiled for float32 and float64; any other dtype that reaches
    a kernel (the ops check first) runs the reference version rather than fail inside
    Numba."""
    if backend.get_kernels() == "reference" or a.dtype not in _FAST_DTYPES:
        return reference
    if backend.is_cupy_array(a):
        from . import cuda             # imports CuPy, which is there if ``a`` is a CuPy array
        return cuda if hasattr(cuda, name) else reference
    return cpu


def im2col(x, KH, KW, SH, SW, PH, PW, DH, DW, out=None):
    return _tier(x, "im2col").im2col(x, KH, KW, SH, SW, PH, PW, DH, DW, out)


def col2im(cols, x_shape, KH, KW, SH, SW, PH, PW, DH, DW, out=None):
    return _tier(cols, "col2im").col2im(cols, x_shape, KH, KW, SH, SW, PH, PW, DH, DW, out)


def depthwise_conv2d(x, w, SH, SW, PH, PW, DH, DW):
    return _tier(x, "depthwise_conv2d").depthwise_conv2d(x, w, SH, SW, PH, PW, DH, DW)


def depthwise_conv2d_backward_input(gy, w, x_shape, SH, SW, PH, PW, DH, DW):
    return _tier(gy, "depthwise_conv2d_backward_input").depthwise_conv2d_backward_input(
        gy, w, x_shape, SH, SW, PH, PW, DH, DW)


def depthwise_conv2d_backward_weight(x, gy, KH, KW, SH, SW, PH, PW, DH, DW):
    return _tier(x, "depthwise_conv2d_backward_weight").depthwise_conv2d_backward_weight(
        x, gy, KH, KW, SH, SW, PH, PW, DH, DW)


def max_pool2d(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    return _tier(x, "max_pool2d").max_pool2d(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)


def max_pool2d_backward(gy, argmax, x_shape):
    return _tier(gy, "max_pool2d_backward").max_pool2d_backward(gy, argmax, x_shape)


def avg_pool2d(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    return _tier(x, "avg_pool2d").avg_pool2d(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor)


def avg_pool2d_backward(gy, x_shape, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    return _tier(gy, "avg_pool2d_backward").avg_pool2d_backward(
        gy, x_shape, KH, KW, SH, SW, PH, PW, OH, OW, divisor)


def adaptive_avg_pool2d(x, OH, OW):
    return _tier(x, "adaptive_avg_pool2d").adaptive_avg_pool2d(x, OH, OW)


def adaptive_avg_pool2d_backward(gy, x_shape):
    return _tier(gy, "adaptive_avg_pool2d_backward").adaptive_avg_pool2d_backward(gy, x_shape)


def adaptive_max_pool2d(x, OH, OW):
    return _tier(x, "adaptive_max_pool2d").adaptive_max_pool2d(x, OH, OW)


def batch_norm_statistics(x):
    return _tier(x, "batch_norm_statistics").batch_norm_statistics(x)


def batch_norm_apply(x, mean, inv_std, weight, bias, band=None):
    return _tier(x, "batch_norm_apply").batch_norm_apply(x, mean, inv_std, weight, bias, band)


def batch_norm_backward_reduce(gy, x, mean, inv_std, y=None, band=None):
    return _tier(gy, "batch_norm_backward_reduce").batch_norm_backward_reduce(
        gy, x, mean, inv_std, y, band)


def batch_norm_backward_input(gy, x, mean, inv_std, scale, mean_gy, mean_gy_xhat, y=None,
                              band=None):
    return _tier(gy, "batch_norm_backward_input").batch_norm_backward_input(
        gy, x, mean, inv_std, scale, mean_gy, mean_gy_xhat, y, band)


def clamp(x, lo, hi):
    return _tier(x, "clamp").clamp(x, lo, hi)


def band_backward(g, y, lo, hi):
    return _tier(g, "band_backward").band_backward(g, y, lo, hi)


def silu(x):
    return _tier(x, "silu").silu(x)


def silu_backward(g, x):
    return _tier(g, "silu_backward").silu_backward(g, x)


def sgd_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    return _tier(p, "sgd_update").sgd_update(p, g, buf, lr, momentum, dampening, weight_decay,
                                             nesterov, first)


def winograd_input_transform(x, PH, PW, OH, OW, out=None, m=2):
    return _tier(x, "winograd_input_transform").winograd_input_transform(
        x, PH, PW, OH, OW, out, m)


def winograd_output_transform(M, bias, N, OH, OW, out=None, m=2):
    return _tier(M, "winograd_output_transform").winograd_output_transform(
        M, bias, N, OH, OW, out, m)


def winograd_output_transform_backward(gy, out=None, m=2):
    return _tier(gy, "winograd_output_transform_backward").winograd_output_transform_backward(
        gy, out, m)


def winograd_input_transform_backward(dV, x_shape, PH, PW, OH, OW, out=None, m=2):
    return _tier(dV, "winograd_input_transform_backward").winograd_input_transform_backward(
        dV, x_shape, PH, PW, OH, OW, out, m)
