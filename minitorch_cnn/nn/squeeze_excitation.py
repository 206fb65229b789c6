"""Squeeze-and-excitation (Hu et al., 2018): let each channel be reweighted by a gate
computed from a summary of all channels.

    s = sigmoid(W2 act(W1 avgpool(x) + b1) + b2)      squeeze: (N, C, H, W) -> (N, C, 1, 1)
    y = s * x                                          excite:  gate broadcast over H, W

W1 (C -> S) and W2 (S -> C) are 1x1 convs with bias, named ``fc1``/``fc2`` as in
torchvision's ``SqueezeExcitation``, so torchvision weights load unchanged.
"""
from .layers import ReLU, Sigmoid
from .module import Module
from .conv import AdaptiveAvgPool2d, Conv2d

__all__ = ["SqueezeExcitation"]


class SqueezeExcitation(Module):
    """Channel gate: ``x * sigmoid(fc2(act(fc1(avgpool(x)))))``.

    ``activation`` and ``scale_activation`` are module classes (ReLU and Sigmoid by
    default; EfficientNet uses SiLU for the first, MobileNetV3 Hardsigmoid for the second).
    """

    def __init__(self, input_channels, squeeze_channels, activation=ReLU,
                 scale_activation=Sigmoid):
        super().__init__()
        self.avgpool = AdaptiveAvgPool2d(1)
        self.fc1 = Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x):
        s = self.avgpool(x)                                   # (N, C, H, W) -> (N, C, 1, 1)
        s = self.fc2(self.activation(self.fc1(s)))            # -> (N, S, 1, 1) -> (N, C, 1, 1)
        return x * self.scale_activation(s)                   # gate broadcast over H, W
