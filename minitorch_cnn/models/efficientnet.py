"""EfficientNet B0-B7 (Tan & Le, 2019): one small network, scaled up by one rule.

B0 is a MobileNetV2-like stack of MBConv blocks (inverted residuals with
squeeze-and-excitation and SiLU) found by architecture search; ``B0_STAGES`` is its
Table 1. Bigger models come from *compound scaling*: for a budget of about 2^phi times
the FLOPs, grow

    depth      d = alpha^phi   (repeats of each stage, rounded up:  ceil(n d))
    width      w = beta^phi    (channels, rounded to multiples of 8: _make_divisible(c w))
    resolution r = gamma^phi   (input side 224 r)

with alpha = 1.2, beta = 1.1, gamma = 1.15 found by a grid search on B0 under the
constraint alpha * beta^2 * gamma^2 ~= 2. A conv's FLOPs grow linearly with depth and
quadratically with width (C_in and C_out both grow) and resolution (H and W both grow),
so FLOPs grow as (alpha beta^2 gamma^2)^phi = 1.92^phi ~= 2^phi. Rounding moves the
real models off that line: ``efficientnet(phi)`` costs 2.6x, 4.7x, 8.4x, 16x, 29x, 52x
and 103x the multiply-adds of B0 for phi = 1..7 (the table printed by the tests).

The published B1-B7 (``B_VARIANTS``, the settings torchvision uses) pick their
multipliers by hand near the rule's: B2 has the rule's phi = 1 (w = 1.1, d = 1.2) and B7
has w = 2.0, d = 3.1 where phi = 7 gives 1.95 and 3.58. ``efficientnet(phi)`` builds a
model from the rule itself, for any phi.

Parameter names follow torchvision (``features.1.0.block.0.0.weight``, SE as
``block.1.fc1``/``fc2``, ``classifier.1.weight``), so its state dicts load unchanged.

``cifar=True`` adapts the stem to 32x32 inputs by downsampling less early: the first
conv has stride 1 (not 2) and stage 2 (16 -> 24 channels) has stride 1 (not 2), so the
map shrinks 32 -> 4 (total stride 8) instead of 224 -> 7 (total stride 32).
Parameters are unchanged.
"""
import math
from collections import namedtuple
from functools import partial

from .. import nn
from .mobilenet import Conv2dNormActivation, _make_divisible

# Compound scaling coefficients (Section 3.3 of the paper).
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
BASE_RESOLUTION = 224

# One row of Table 1: a stage of ``repeats`` MBConv blocks; only the first block has
# ``stride`` and maps in_channels -> out_channels, the others keep out_channels.
Stage = namedtuple("Stage", "expand_ratio kernel stride in_channels out_channels repeats")

B0_STAGES = [
    #     t, k, s,  in, out, n        resolution at the stage's input (224 image)
    Stage(1, 3, 1,  32,  16, 1),    # 112
    Stage(6, 3, 2,  16,  24, 2),    # 112
    Stage(6, 5, 2,  24,  40, 2),    # 56
    Stage(6, 3, 2,  40,  80, 3),    # 28
    Stage(6, 5, 1,  80, 112, 3),    # 14
    Stage(6, 5, 2, 112, 192, 4),    # 14
    Stage(6, 3, 1, 192, 320, 1),    # 7
]

# The published models, as torchvision builds them: (width_mult, depth_mult, dropout,
# native resolution). B2's native resolution is 260 in the paper; torchvision's port of
# its weights is evaluated on 288x288 crops.
B_VARIANTS = {
    "efficientnet_b0": (1.0, 1.0, 0.2, 224),
    "efficientnet_b1": (1.0, 1.1, 0.2, 240),
    "efficientnet_b2": (1.1, 1.2, 0.3, 260),
    "efficientnet_b3": (1.2, 1.4, 0.3, 300),
    "efficientnet_b4": (1.4, 1.8, 0.4, 380),
    "efficientnet_b5": (1.6, 2.2, 0.4, 456),
    "efficientnet_b6": (1.8, 2.6, 0.5, 528),
    "efficientnet_b7": (2.0, 3.1, 0.5, 600),
}


def compound_scaling(phi, alpha=ALPHA, beta=BETA, gamma=GAMMA):
    """The rule's multipliers for coefficient ``phi``:
    (depth d = alpha^phi, width w = beta^phi, resolution 224 gamma^phi in pixels)."""
    return alpha ** phi, beta ** phi, int(round(BASE_RESOLUTION * gamma ** phi))


def scale_stages(stages, width_mult, depth_mult):
    """Widen every stage's channels by ``width_mult`` (rounded to multiples of 8) and
    deepen it by ``depth_mult`` (repeats rounded up)."""
    return [s._replace(in_channels=_make_divisible(s.in_channels * width_mult),
                       out_channels=_make_divisible(s.out_channels * width_mult),
                       repeats=int(math.ceil(s.repeats * depth_mult)))
            for s in stages]


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-and-excitation:

        expand 1x1 (x t) -> BN -> SiLU          (N, C_in, H, W) -> (N, t C_in, H, W)
        depthwise KxK/s  -> BN -> SiLU          -> (N, t C_in, H/s, W/s)
        SE (squeeze to C_in / 4 channels)       gates the t C_in channels
        project 1x1      -> BN (linear)         -> (N, C_out, H/s, W/s)

    plus the input, when stride is 1 and C_in == C_out. On that skip path the block's
    output is dropped for whole samples with probability ``stochastic_depth_prob`` in
    training (stochastic depth, "drop-connect" in the reference code).
    """

    def __init__(self, in_channels, out_channels, kernel, stride, expand_ratio,
                 stochastic_depth_prob, norm_layer):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"MBConv: stride must be 1 or 2, got {stride}")
        self.use_res_connect = stride == 1 and in_channels == out_channels
        expanded = _make_divisible(in_channels * expand_ratio)
        squeeze = max(1, in_channels // 4)      # SE ratio 0.25 of the block's *input*
        layers = []
        if expanded != in_channels:
            layers.append(Conv2dNormActivation(in_channels, expanded, 1, norm_layer=norm_layer,
                                               activation_layer=nn.SiLU))
        layers += [
            Conv2dNormActivation(expanded, expanded, kernel, stride, groups=expanded,
                                 norm_layer=norm_layer, activation_layer=nn.SiLU),
            nn.SqueezeExcitation(expanded, squeeze, activation=nn.SiLU),
            Conv2dNormActivation(expanded, out_channels, 1, norm_layer=norm_layer,
                                 activation_layer=None),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = nn.StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = out_channels

    def forward(self, x):
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out


class EfficientNet(nn.Module):
    """stem conv 3x3/2 -> the MBConv stages -> 1x1 conv to 4x the last stage's channels ->
    global average pool -> Dropout -> Linear.

    ``stages``: the (already scaled) stage table. Stochastic depth rises linearly with
    the block index b over all B blocks: p_b = stochastic_depth_prob * b / B.
    """

    def __init__(self, stages, dropout, stochastic_depth_prob=0.2, num_classes=1000,
                 norm_layer=None, cifar=False):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        if cifar:   # no downsampling in the stem nor in stage 2 (see the module docstring)
            stages = [s._replace(stride=1) if i == 1 else s for i, s in enumerate(stages)]
        self.stages = stages
        layers = [Conv2dNormActivation(3, stages[0].in_channels, 3, stride=1 if cifar else 2,
                                       norm_layer=norm_layer, activation_layer=nn.SiLU)]
        total_blocks = sum(s.repeats for s in stages)
        b = 0
        for s in stages:
            blocks = []
            for i in range(s.repeats):
                c_in, stride = (s.in_channels, s.stride) if i == 0 else (s.out_channels, 1)
                blocks.append(MBConv(c_in, s.out_channels, s.kernel, stride, s.expand_ratio,
                                     stochastic_depth_prob * b / total_blocks, norm_layer))
                b += 1
            layers.append(nn.Sequential(*blocks))
        last_channel = 4 * stages[-1].out_channels
        layers.append(Conv2dNormActivation(stages[-1].out_channels, last_channel, 1,
                                           norm_layer=norm_layer, activation_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channel, num_classes))
        self._init_weights()

    def _init_weights(self):
        """torchvision's init: He-normal (fan_out) convs, BN gamma=1 beta=0,
        classifier W ~ U(-1/sqrt(num_classes), 1/sqrt(num_classes)), zero biases."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)                  # (N, 3, H, W) -> (N, 4 C_last, H/32, W/32)
        x = self.avgpool(x).flatten(1)        # -> (N, 4 C_last)
        return self.classifier(x)             # -> (N, num_classes)


def _efficientnet(width_mult, depth_mult, dropout, resolution, norm_layer=None,
                  num_classes=1000, cifar=False, stochastic_depth_prob=0.2):
    model = EfficientNet(scale_stages(B0_STAGES, width_mult, depth_mult), dropout,
                         stochastic_depth_prob, num_classes, norm_layer, cifar)
    model.width_mult, model.depth_mult = width_mult, depth_mult
    model.default_resolution = 32 if cifar else resolution
    return model


# B5-B7 keep the BatchNorm settings of the TensorFlow weights torchvision ported
# (eps 1e-3, momentum 0.01); B0-B4 use PyTorch's defaults (1e-5, 0.1), as torchvision does.
TF_BATCHNORM = ("efficientnet_b5", "efficientnet_b6", "efficientnet_b7")


def _published(name, num_classes, cifar, dropout, stochastic_depth_prob):
    """One of the published models of ``B_VARIANTS`` (dropout None: the table's)."""
    width_mult, depth_mult, table_dropout, resolution = B_VARIANTS[name]
    norm_layer = (partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)
                  if name in TF_BATCHNORM else nn.BatchNorm2d)
    return _efficientnet(width_mult, depth_mult, table_dropout if dropout is None else dropout,
                         resolution, norm_layer, num_classes, cifar, stochastic_depth_prob)


def efficientnet_b0(num_classes=1000, cifar=False, dropout=None, stochastic_depth_prob=0.2):
    """EfficientNet-B0: width 1.0, depth 1.0, dropout 0.2, 224x224 (5,288,548 parameters)."""
    return _published("efficientnet_b0", num_classes, cifar, dropout, stochastic_depth_prob)


def efficientnet_b1(num_classes=1000, cifar=False, dropout=None, stochastic_depth_prob=0.2):
    """EfficientNet-B1: width 1.0, depth 1.1, dropout 0.2, 240x240 (7,794,184 parameters)."""
    return _published("efficientnet_b1", num_classes, cifar, dropout, stochastic_depth_prob)


def efficientnet_b2(num_classes=1000, cifar=False, dropout=None, stochastic_depth_prob=0.2):
    """EfficientNet-B2: width 1.1, depth 1.2, dropout 0.3, 260x260 (9,109,994 parameters)."""
    return _published("efficientnet_b2", num_classes, cifar, dropout, stochastic_depth_prob)


def efficientnet_b3(num_classes=1000, cifar=False, dropout=None, stochastic_depth_prob=0.2):
    """EfficientNet-B3: width 1.2, depth 1.4, dropout 0.3, 300x300 (12,233,232 parameters)."""
    return _published("efficientnet_b3", num_classes, cifar, dropout, stochastic_depth_prob)


def efficientnet_b4(num_classes=1000, cifar=False, dropout=None, stochastic_depth_prob=0.2):
    """EfficientNet-B4: width 1.4, depth 1.8, dropout 0.4, 380x380 (19,341,616 parameters)."""
    return _published("efficientnet_b4", num_classes, cifar, dropout, stochastic_depth_prob)


def efficientnet_b5(num_classes=1000, cifar=False, dropout=None, stochastic_depth_prob=0.2):
    """EfficientNet-B5: width 1.6, depth 2.2, dropout 0.4, 456x456 (30,389,784 parameters)."""
    return _published("efficientnet_b5", num_classes, cifar, dropout, stochastic_depth_prob)


def efficientnet_b6(num_classes=1000, cifar=False, dropout=None, stochastic_depth_prob=0.2):
    """EfficientNet-B6: width 1.8, depth 2.6, dropout 0.5, 528x528 (43,040,704 parameters)."""
    return _published("efficientnet_b6", num_classes, cifar, dropout, stochastic_depth_prob)


def efficientnet_b7(num_classes=1000, cifar=False, dropout=None, stochastic_depth_prob=0.2):
    """EfficientNet-B7: width 2.0, depth 3.1, dropout 0.5, 600x600 (66,347,960 parameters)."""
    return _published("efficientnet_b7", num_classes, cifar, dropout, stochastic_depth_prob)


def efficientnet(phi=0, num_classes=1000, cifar=False, dropout=None, stochastic_depth_prob=0.2):
    """EfficientNet from the compound scaling rule at coefficient ``phi`` (any real >= 0):
    depth 1.2^phi, width 1.1^phi, resolution 224 * 1.15^phi.

    Dropout defaults to the published models' pattern, 0.2 raised by 0.1 every two
    steps of phi (B0, B1: 0.2; B2, B3: 0.3; ...); BatchNorm keeps PyTorch's defaults.
    """
    if phi < 0:
        raise ValueError(f"efficientnet: phi must be >= 0, got {phi}")
    depth_mult, width_mult, resolution = compound_scaling(phi)
    if dropout is None:
        dropout = 0.2 + 0.1 * math.floor(phi / 2)
    model = _efficientnet(width_mult, depth_mult, dropout, resolution, None, num_classes, cifar,
                          stochastic_depth_prob)
    model.phi = phi
    return model


BUILDERS = {
    "efficientnet_b0": efficientnet_b0,
    "efficientnet_b1": efficientnet_b1,
    "efficientnet_b2": efficientnet_b2,
    "efficientnet_b3": efficientnet_b3,
    "efficientnet_b4": efficientnet_b4,
    "efficientnet_b5": efficientnet_b5,
    "efficientnet_b6": efficientnet_b6,
    "efficientnet_b7": efficientnet_b7,
    "efficientnet": efficientnet,
}
