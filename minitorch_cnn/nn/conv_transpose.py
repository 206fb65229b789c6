"""The layers that run a convolution and a max pool backwards (functional/conv_transpose.py):
ConvTranspose2d (a learned upsampling, and ZFNet's deconvnet filter step) and MaxUnpool2d
(the deconvnet's unpooling with switches). Names, arguments, parameter shapes and
default initialisation as in torch, so a torch state_dict loads unchanged."""
import math

from .. import functional as F
from ..functional.geometry import check_groups, check_output_padding, pair
from ..tensor import empty
from . import init
from .module import Module, Parameter

__all__ = ["ConvTranspose2d", "MaxUnpool2d"]


class ConvTranspose2d(Module):
    """y = conv_transpose(x, weight) + bias: (N, C_in, H, W) -> (N, C_out, OH, OW),
    OH = (H - 1)*stride - 2*padding + dilation*(KH - 1) + output_padding + 1.

    weight (in_channels, out_channels / groups, KH, KW) -- the transpose of a Conv2d's
    (out, in / groups, KH, KW), as in torch -- and bias (out_channels,). Default
    initialisation as torch's: kaiming_uniform(a=sqrt(5)) on that weight, whose fan_in
    is then out_channels / groups * KH * KW, and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    ``forward(x, output_size=...)`` picks the output_padding that gives that size.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros"):
        super().__init__()
        name = f"ConvTranspose2d({in_channels}->{out_channels})"
        check_groups(in_channels, out_channels, groups, name)
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported (as in torch), "
                             f"got {padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride, self.padding = pair(stride, "stride", name), pair(padding, "padding", name)
        self.dilation = pair(dilation, "dilation", name)
        self.output_padding = check_output_padding(output_padding, self.stride, self.dilation,
                                                   name)
        self.groups, self.padding_mode = groups, padding_mode
        self.weight = Parameter(empty(in_channels, out_channels // groups, *self.kernel_size))
        if bias:
            self.bias = Parameter(empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.out_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _output_padding(self, x, output_size):
        """The output_padding that makes the output ``output_size`` (H, W), as torch."""
        if output_size is None or x.ndim not in (3, 4):     # (conv_transpose2d checks x)
            return self.output_padding
        size = tuple(int(s) for s in tuple(output_size)[-2:])
        out = []
        for a in range(2):
            smallest = F.conv_transpose_output_size(x.shape[-2 + a], self.kernel_size[a],
                                                    self.stride[a], self.padding[a], 0,
                                                    self.dilation[a])
            extra = size[a] - smallest
            if not 0 <= extra < max(self.stride[a], self.dilation[a]):
                largest = smallest + max(self.stride[a], self.dilation[a]) - 1
                raise ValueError(f"ConvTranspose2d({self.in_channels}->{self.out_channels}): "
                                 f"output_size {size} cannot be reached from input "
                                 f"{tuple(x.shape[-2:])}: axis {a} can be {smallest} to "
                                 f"{largest}")
            out.append(extra)
        return tuple(out)

    def forward(self, x, output_size=None):
        name = f"ConvTranspose2d({self.in_channels}->{self.out_channels})"
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation, name=name)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class MaxUnpool2d(Module):
    """Puts each value back where a MaxPool2d(return_indices=True) took it from, zeros
    elsewhere (functional.max_unpool2d): ``unpool(y, indices, output_size=None)``."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, x, indices, output_size=None):
        return F.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding,
                              output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
