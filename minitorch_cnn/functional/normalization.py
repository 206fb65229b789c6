"""Normalisation over the features of each sample: layer_norm and group_norm.

Both standardise x over some axes of one sample, then scale and shift each feature or
channel (as batch_norm does over the batch, but with no running statistics, so training
and evaluation compute the same thing):

    x_hat = (x - mean) / sqrt(var + eps),    y = weight * x_hat + bias

LayerNorm (Ba et al., 2016) takes the mean and (biased) variance over the last dims
(``normalized_shape``); GroupNorm (Wu & He, 2018) over each group of channels of one
sample, with its spatial positions. One Function, ``Standardize``, does the x_hat part of
both; the affine part is ordinary ops.
"""
import math

from ..autograd import Function
from ..backend import get_array_module
from .dtypes import check_same_dtype
from .shape import reshape

__all__ = ["layer_norm", "group_norm"]


class Standardize(Function):
    """x_hat = (x - mean) / sqrt(var + eps), mean and biased var over the last ``k`` axes.
    With r = 1 / sqrt(var + eps) and means over those axes:

        dL/dx = r (g - mean(g) - x_hat mean(g x_hat))

    (the mean and the variance depend on every x, hence the two correction terms).
    Saves x_hat and r."""
    def forward(self, x, k, eps):
        self.axes = tuple(range(x.ndim - k, x.ndim))
        mean = x.mean(axis=self.axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=self.axes, keepdims=True)
        r = 1 / get_array_module(x).sqrt(var + eps)
        x_hat = centered * r
        self.save_for_backward(x_hat, r)
        return x_hat

    def backward(self, g):
        x_hat, r = self.saved
        mean_g = g.mean(axis=self.axes, keepdims=True)
        mean_gx = (g * x_hat).mean(axis=self.axes, keepdims=True)
        return r * (g - mean_g - x_hat * mean_gx)


def _affine(y, weight, bias):
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Standardise over the last dims, which must be ``normalized_shape``; ``weight`` and
    ``bias`` have that shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise ValueError(f"layer_norm: expected input with shape (*, {', '.join(map(str, shape))})"
                         f" (normalized_shape={list(shape)} at the end), got {tuple(input.shape)}")
    check_same_dtype("layer_norm", input, weight=weight, bias=bias)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise ValueError(f"layer_norm: {name} of shape {tuple(p.shape)}, expected {shape}")
    return _affine(Standardize.apply(input, k=k, eps=eps), weight, bias)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Standardise each group of C / num_groups channels of each sample (with all its
    positions); ``weight`` and ``bias`` have one entry per channel (C,)."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected input (N, C, *), got shape {tuple(input.shape)}")
    N, C = input.shape[:2]
    if num_groups <= 0 or C % num_groups:
        raise ValueError(f"group_norm: {C} channels cannot be split into {num_groups} groups "
                         f"(num_groups must divide the number of channels)")
    check_same_dtype("group_norm", input, weight=weight, bias=bias)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != (C,):
            raise ValueError(f"group_norm: {name} of shape {tuple(p.shape)}, expected ({C},)")
    rest = math.prod(input.shape[2:])
    x = reshape(input, (N, num_groups, C // num_groups * rest))     # a group is one row
    y = reshape(Standardize.apply(x, k=1, eps=eps), input.shape)
    per_channel = (C,) + (1,) * (input.ndim - 2)                     # (C, 1, 1): broadcast
    return _affine(y, None if weight is None else reshape(weight, per_channel),
                   None if bias is None else reshape(bias, per_channel))
