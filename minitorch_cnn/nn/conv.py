"""Convolution, pooling and normalisation layers, with PyTorch's names, arguments,
parameter and buffer names, shapes and default initialisation (a torch state_dict
loads unchanged). The computing is in ``functional``: each layer holds its weights
and settings, checks its input, and calls one op.
"""
import math

import numpy as np

from .. import fast
from .. import functional as F
from ..functional.dtypes import mismatch_message
from ..functional.geometry import check_groups, conv_args, conv_geometry, pair
from ..functional.norm import one_value_per_channel
from ..tensor import Tensor, empty
from . import init
from .module import Module, Parameter

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
           "BatchNorm1d", "BatchNorm2d", "LocalResponseNorm", "Dropout2d"]


class Conv2d(Module):
    """y = conv(x, weight) + bias over (N, C_in, H, W) inputs (see functional/conv.py).

    weight (out_channels, in_channels / groups, KH, KW), bias (out_channels,).
    Default initialisation as torch's: weight ~ kaiming_uniform(a=sqrt(5)), i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    fan_in = in_channels / groups * KH * KW. ``plan(x)`` tells which algorithm runs.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros"):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        name = self._name()
        check_groups(in_channels, out_channels, groups, name)
        conv_args(kernel_size, stride, padding, dilation, name)       # raises if invalid
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: only padding_mode='zeros' is implemented, "
                                      f"got {padding_mode!r}")
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride, self.dilation = pair(stride, "stride", name), pair(dilation, "dilation", name)
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding", name)
        self.groups, self.padding_mode = groups, padding_mode
        self.weight = Parameter(empty(out_channels, in_channels // groups, *self.kernel_size))
        if bias:
            self.bias = Parameter(empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _name(self):
        return f"Conv2d({self.in_channels}->{self.out_channels})"

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.dtype != self.weight.dtype:          # shapes: checked by the geometry
            raise TypeError(mismatch_message(self._name(), x.dtype, self.weight.dtype))
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, name=self._name())

    def plan(self, x):
        """The fast.Plan this layer runs for input ``x`` (a Tensor, or a shape on the CPU):
        ``str(conv.plan(x))`` is e.g. "winograd F(4x4)" or "im2col" (the story)."""
        shape = tuple(x.shape) if hasattr(x, "shape") else tuple(x)
        shape = (1,) + shape if len(shape) == 3 else shape
        g = conv_geometry(shape, self.weight.shape, self.stride, self.padding, self.dilation,
                          self.groups, self._name())
        return fast.choose_conv(g, getattr(x, "device", "cpu"))

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


# ------------------------------------------------------------------- pooling
class MaxPool2d(Module):
    """Max over windows (functional.max_pool2d); stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over windows (functional.avg_pool2d); stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Mean pooling to a fixed output size, whatever the input size (e.g. 1 for a global
    average pool before the classifier)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size."""

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


# ------------------------------------------------------------- normalisation
class _BatchNorm(Module):
    """Batch normalisation (functional.batch_norm) with learned weight (gamma, init 1)
    and bias (beta, init 0), and buffers running_mean (0), running_var (1) and
    num_batches_tracked (0), as torch names them. momentum=None averages all batches
    seen so far (factor 1 / num_batches_tracked). bias=False (keyword, as in torch 2.x)
    keeps the weight but drops the shift."""

    input_dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(empty(num_features))
            if bias:
                self.bias = Parameter(empty(num_features))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", empty(num_features))
            self.register_buffer("running_var", empty(num_features))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data = self.num_batches_tracked.xp.zeros((), np.int64)

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x):
        return F.batch_norm(*self.batch_norm_args(x))

    def batch_norm_args(self, x):
        """Check x against this layer, count the batch, and return the arguments of
        functional.batch_norm (input, running_mean, running_var, weight, bias, training,
        momentum, eps) for it; the fused layers of nn/fused.py call the fused ops with them."""
        name = f"{type(self).__name__}({self.num_features})"
        if x.ndim not in self.input_dims:
            raise ValueError(f"{name}: expected a {' or '.join(f'{d}-D' for d in self.input_dims)}"
                             f" input, got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected input with {self.num_features} channels, got "
                             f"{x.shape[1]} (input shape {tuple(x.shape)})")
        own = self.weight if self.weight is not None else self.running_mean
        if own is not None and x.dtype != own.dtype:
            raise TypeError(mismatch_message(name, x.dtype, own.dtype, "weight" if own is
                                             self.weight else "running statistics"))
        if self.training and x.shape[0] * math.prod(x.shape[2:]) <= 1:
            raise ValueError(one_value_per_channel(name, x.shape))      # before any update
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data = self.num_batches_tracked.data + 1
            if self.momentum is None:
                factor = 1.0 / int(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        return (x, self.running_mean if keep else None, self.running_var if keep else None,
                self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics per channel over N, H and W."""
    input_dims = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) features or (N, C, L) sequences: per channel over N (and L)."""
    input_dims = (2, 3)


class LocalResponseNorm(Module):
    """AlexNet's normalisation across neighbouring channels (functional.local_response_norm)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class Dropout2d(Module):
    """Zero whole channels with probability p in training, scale the rest by 1/(1-p)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout2d: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
