"""Ops that move entries around without changing them: reshape, permute, slicing,
concatenation, padding, device/dtype copies. Backward moves the gradient back."""
import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import get_array_module

__all__ = ["reshape", "to_copy"]


class Reshape(Function):
    """y = x viewed with a new shape; dL/dx = dL/dy viewed with x's shape."""
    def forward(self, x, shape):
        self.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot view a tensor of shape {tuple(x.shape)} "
                             f"({x.size} elements) as {tuple(shape)}") from None

    def backward(self, g):
        return g.reshape(self.in_shape), None


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(x, shape)


class ToCopy(Function):
    """y = x on another device and/or dtype; the gradient goes back the same way."""
    def forward(self, x, dtype, device):
        self.in_dtype, self.in_device = x.dtype, backend.device_of(x)
        y = backend.to_device(x, device) if device is not None else x
        if dtype is not None:
            y = y.astype(dtype, copy=False)
        return y

    def backward(self, g):
        return backend.to_device(g, self.in_device).astype(self.in_dtype, copy=False), None, None


def to_copy(x, dtype=None, device=None):
    if device is not None:
        device = backend.normalize_device(device)
    if dtype is not None:
        dtype = np.dtype(dtype)
    if (device is None or device == x.device) and (dtype is None or dtype == x.dtype):
        return x
    return ToCopy.apply(x, dtype, device)
