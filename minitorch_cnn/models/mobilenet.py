"""MobileNet V1 and V2: convolutions split into a depthwise and a pointwise part.

A standard KxK convolution from C_in to C_out channels on an H x W map costs
    H*W * K*K * C_in * C_out                         multiply-adds.
MobileNet V1 (Howard et al., 2017) factors it into a depthwise KxK conv (one filter per
channel, ``groups = C_in``) followed by a pointwise 1x1 conv that mixes channels:
    H*W * K*K * C_in  +  H*W * C_in * C_out          multiply-adds,
a saving of 1/C_out + 1/K^2, about 8-9x for K = 3.

MobileNet V2 (Sandler et al., 2018) wraps the depthwise conv in an *inverted residual*:
a 1x1 conv expands the thin input t times, the depthwise 3x3 works in that wide space,
and a 1x1 *linear* projection (no activation: ReLU would destroy information in a
low-dimensional space) brings it back to a thin output, with a skip connection between
the thin ends when their shapes agree.

Both take ``width_mult`` (the paper's alpha), which thins every layer; channel counts are
rounded to multiples of 8 by ``_make_divisible``. Parameter names follow torchvision's
``mobilenet_v2`` exactly (``features.1.conv.0.0.weight``, ``classifier.1.weight``), so its
state dicts load unchanged. torchvision has no V1; ours names its parts
``features.<i>.depthwise`` / ``features.<i>.pointwise``.

Every BatchNorm -> ReLU/ReLU6 pair runs as one op (``nn.BatchNormReLU2d``, by
``nn.utils.fuse_batchnorm_relu``; the parameter names stay); ``fuse=False`` keeps the
plain modules.

``cifar=True`` adapts the ImageNet stems to 32x32 inputs by downsampling less early:
the first conv has stride 1 (instead of 2) in both models, and V2's second stage
(t=6, c=24) also keeps stride 1. V1 then shrinks 32 -> 2 (total stride 16) and V2
32 -> 4 (total stride 8), instead of 224 -> 7 (total stride 32). Parameters are unchanged.
"""
from .. import nn


def _make_divisible(v, divisor=8, min_value=None):
    """Round a channel count ``v`` to the nearest multiple of ``divisor``, never going
    below ``min_value`` (default: ``divisor``) nor below 90% of ``v``.

    Multiples of 8 keep the GEMM and vector widths of the hardware busy; the 90% floor
    keeps rounding from shrinking a layer by more than one step: 0.75 * 40 = 30 -> 32.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Conv2dNormActivation(nn.Sequential):
    """conv (no bias: the BatchNorm shift plays its role) -> BatchNorm -> activation,
    as torchvision's block of the same name: a Sequential, so its parameters are
    named ``0.weight`` (conv), ``1.weight``/``1.bias``/``1.running_mean`` (BN).

    Padding (K - 1) // 2 keeps H x W at stride 1 and halves it at stride 2.
    ``groups=in_channels`` makes the conv depthwise. ``activation_layer=None`` leaves
    the output linear (the projection convs of V2 and EfficientNet); ``norm_layer``
    (default ``nn.BatchNorm2d``) takes the channel count, e.g.
    ``partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)``.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, groups=1,
                 norm_layer=None, activation_layer=nn.ReLU):
        norm_layer = norm_layer or nn.BatchNorm2d
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                            padding=(kernel_size - 1) // 2, groups=groups, bias=False),
                  norm_layer(out_channels)]
        if activation_layer is not None:
            layers.append(activation_layer())
        super().__init__(*layers)
        self.out_channels = out_channels


def _init_weights(model, linear_std=0.01):
    """torchvision's MobileNet init: He-normal (fan_out) convs, BN gamma=1 beta=0,
    classifier weights N(0, linear_std^2) and zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------- MobileNet V1

class DepthwiseSeparable(nn.Module):
    """One row of the V1 table: depthwise 3x3 (stride s) -> BN -> ReLU, then
    pointwise 1x1 -> BN -> ReLU.   (N, C_in, H, W) -> (N, C_out, H/s, W/s)"""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.depthwise = Conv2dNormActivation(in_channels, in_channels, 3, stride,
                                              groups=in_channels)
        self.pointwise = Conv2dNormActivation(in_channels, out_channels, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


# Table 1 of the V1 paper after the 3x3/2 stem conv to 32 channels: (out_channels, stride)
# of each depthwise-separable layer. The last row has stride 1 (the table's "s2" there
# is a typo: the map is already 7x7, as its own output size says).
V1_CFG = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
          (1024, 2), (1024, 1)]


class MobileNetV1(nn.Module):
    """stem conv 3x3/2 (32 ch) -> 13 depthwise-separable layers -> global average pool ->
    Linear(1024 alpha, num_classes). At 224x224: 4.2M parameters and 569M multiply-adds
    for alpha = 1 (Table 4 of the paper)."""

    def __init__(self, num_classes=1000, width_mult=1.0, cifar=False, fuse=True):
        super().__init__()
        c_in = _make_divisible(32 * width_mult)
        layers = [Conv2dNormActivation(3, c_in, 3, stride=1 if cifar else 2)]
        for c, s in V1_CFG:
            c_out = _make_divisible(c * width_mult)
            layers.append(DepthwiseSeparable(c_in, c_out, s))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)
        self.default_resolution = 32 if cifar else 224
        _init_weights(self)
        if fuse:
            nn.utils.fuse_batchnorm_relu(self)

    def forward(self, x):
        x = self.features(x)                  # (N, 3, H, W) -> (N, 1024 alpha, H/32, W/32)
        x = self.avgpool(x).flatten(1)        # -> (N, 1024 alpha)
        return self.classifier(x)             # -> (N, num_classes)


def mobilenet_v1(num_classes=1000, width_mult=1.0, cifar=False, fuse=True):
    """MobileNet V1 with width multiplier ``width_mult`` (1.0 -> 4.2M parameters)."""
    return MobileNetV1(num_classes, width_mult, cifar, fuse)


def mobilenet_v1_075(num_classes=1000, cifar=False, fuse=True):
    """MobileNet V1 0.75 (the paper's 0.75 MobileNet-224: 2.6M parameters)."""
    return MobileNetV1(num_classes, 0.75, cifar, fuse)


def mobilenet_v1_050(num_classes=1000, cifar=False, fuse=True):
    """MobileNet V1 0.5 (the paper's 0.5 MobileNet-224: 1.3M parameters)."""
    return MobileNetV1(num_classes, 0.5, cifar, fuse)


def mobilenet_v1_025(num_classes=1000, cifar=False, fuse=True):
    """MobileNet V1 0.25 (the paper's 0.25 MobileNet-224: 0.5M parameters)."""
    return MobileNetV1(num_classes, 0.25, cifar, fuse)


# ----------------------------------------------------------------------- MobileNet V2

class InvertedResidual(nn.Module):
    """expand 1x1 (x t) -> ReLU6 -> depthwise 3x3 (stride s) -> ReLU6 -> project 1x1 (linear),
    plus the input when stride is 1 and the channel counts agree.

    (N, C_in, H, W) -> (N, t C_in, H, W) -> (N, t C_in, H/s, W/s) -> (N, C_out, H/s, W/s)
    With t = 1 there is nothing to expand and the block starts at the depthwise conv.
    """

    def __init__(self, in_channels, out_channels, stride, expand_ratio):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride}")
        hidden = int(round(in_channels * expand_ratio))
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(in_channels, hidden, 1,
                                               activation_layer=nn.ReLU6))
        layers += [
            Conv2dNormActivation(hidden, hidden, 3, stride, groups=hidden,
                                 activation_layer=nn.ReLU6),
            nn.Conv2d(hidden, out_channels, 1, bias=False),     # linear bottleneck
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_channels

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


# Table 2 of the V2 paper: each row is a stage of n blocks with expansion factor t and
# c output channels; the first block of the stage has stride s, the others stride 1.
V2_SETTING = [
    # t,   c, n, s
    [1,  16, 1, 1],
    [6,  24, 2, 2],
    [6,  32, 3, 2],
    [6,  64, 4, 2],
    [6,  96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]


class MobileNetV2(nn.Module):
    """stem conv 3x3/2 (32 ch) -> 17 inverted residual blocks -> 1x1 conv to 1280 ->
    global average pool -> Dropout(0.2) -> Linear. 3,504,872 parameters at width 1.0."""

    def __init__(self, num_classes=1000, width_mult=1.0, cifar=False, dropout=0.2, fuse=True):
        super().__init__()
        setting = [list(row) for row in V2_SETTING]
        if cifar:
            setting[1][3] = 1                 # stage 2 keeps 32x32 -> 16x16 for CIFAR
        c_in = _make_divisible(32 * width_mult)
        last_channel = _make_divisible(1280 * max(1.0, width_mult))   # never thinner than 1280
        features = [Conv2dNormActivation(3, c_in, 3, stride=1 if cifar else 2,
                                         activation_layer=nn.ReLU6)]
        for t, c, n, s in setting:
            c_out = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t))
                c_in = c_out
        features.append(Conv2dNormActivation(c_in, last_channel, 1, activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channel, num_classes))
        self.last_channel = last_channel
        self.default_resolution = 32 if cifar else 224
        _init_weights(self)
        if fuse:
            nn.utils.fuse_batchnorm_relu(self)

    def forward(self, x):
        x = self.features(x)                  # (N, 3, H, W) -> (N, 1280, H/32, W/32)
        x = self.avgpool(x).flatten(1)        # -> (N, 1280)
        return self.classifier(x)             # -> (N, num_classes)


def mobilenet_v2(num_classes=1000, width_mult=1.0, cifar=False, dropout=0.2, fuse=True):
    """MobileNet V2 in torchvision's layout (3,504,872 parameters at width 1.0)."""
    return MobileNetV2(num_classes, width_mult, cifar, dropout, fuse)


BUILDERS = {
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v1_075": mobilenet_v1_075,
    "mobilenet_v1_050": mobilenet_v1_050,
    "mobilenet_v1_025": mobilenet_v1_025,
    "mobilenet_v2": mobilenet_v2,
}
