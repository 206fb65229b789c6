"""The benchmark's seven networks written again with ``torch.nn``, for PyTorch to run.

Each class builds the same network as our builder of the same name (``vgg16_bn``,
``resnet20``, ``resnet56``, ``resnet18``, ``mobilenet_v2``, ``densenet_bc_100_12``,
``efficientnet_b0``, all with ``cifar=True`` where the builder has it) and names every parameter and buffer as
torchvision does, so ``ours.state_dict()`` loads here key for key. Layers are written the way torchvision writes
them (ReLU(inplace=True) where it does), so PyTorch runs its own idiomatic code.

torchvision is not a dependency: only ``torch`` is imported. The architecture tables are
written out here rather than imported from ``minitorch_cnn``, so that the key-by-key and
logit-by-logit comparison in ``tests/test_bench_models.py`` checks two independent
descriptions of each network.

    TORCH_BUILDERS["resnet56"](num_classes=10)     # a torch.nn.Module
    copy_weights(ours, theirs)                      # our state dict -> torch, via NumPy
"""
import math

import numpy as np
import torch
from torch import nn
from torch.utils import checkpoint

__all__ = ["TORCH_BUILDERS", "copy_weights", "vgg16_bn", "resnet20", "resnet56", "resnet18",
           "mobilenet_v2", "densenet_bc_100_12", "efficientnet_b0"]


# ------------------------------------------------------------------------------ VGG
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
             512, 512, 512, "M"]                       # configuration D


class VGG(nn.Module):
    """VGG-16-BN for 32x32 inputs: conv3-BN-ReLU stack, 5 max pools (32 -> 1), one Linear."""

    def __init__(self, cfg=VGG16_CFG, num_classes=10):
        super().__init__()
        layers, c_in = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, v, 3, padding=1), nn.BatchNorm2d(v),
                           nn.ReLU(inplace=True)]
                c_in = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.avgpool(self.features(x))        # (N, 3, 32, 32) -> (N, 512, 1, 1)
        return self.classifier(torch.flatten(x, 1))


# --------------------------------------------------------------------------- ResNet
class ZeroPadShortcut(nn.Module):
    """Option A shortcut: every ``stride``-th pixel, extra channels zero (no parameters)."""

    def __init__(self, in_planes, out_planes, stride):
        super().__init__()
        self.extra, self.stride = out_planes - in_planes, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))   # pad the channel dim


class BasicBlock(nn.Module):
    """y = ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + shortcut(x)), torchvision's names."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """CIFAR-stem ResNet: conv3x3-BN-ReLU (no max pool), stages of BasicBlocks, pool, fc.

    shortcut "A": zero-padding shortcuts (ResNet-56); "B": 1x1 conv + BN (ResNet-18).
    """

    def __init__(self, layers, planes, shortcut, num_classes=10):
        super().__init__()
        self.inplanes = planes[0]
        self.conv1 = nn.Conv2d(3, planes[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.relu = nn.ReLU(inplace=True)
        for i, (n, p) in enumerate(zip(layers, planes)):
            stride = 1 if i == 0 else 2
            downsample = None
            if stride != 1 or self.inplanes != p:
                downsample = (ZeroPadShortcut(self.inplanes, p, stride) if shortcut == "A" else
                              nn.Sequential(nn.Conv2d(self.inplanes, p, 1, stride, bias=False),
                                            nn.BatchNorm2d(p)))
            blocks = [BasicBlock(self.inplanes, p, stride, downsample)]
            blocks += [BasicBlock(p, p) for _ in range(1, n)]
            self.inplanes = p
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---------------------------------------------------------------------- MobileNetV2
def make_divisible(v, divisor=8):
    """The nearest multiple of 8, never below 8 nor below 90% of ``v`` (torchvision's rule)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBNAct(nn.Sequential):
    """torchvision's Conv2dNormActivation: conv (no bias) - BN - activation (or none)."""

    def __init__(self, c_in, c_out, k=3, stride=1, groups=1, act=nn.ReLU6):
        layers = [nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(c_out)]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """expand 1x1 - ReLU6 - depthwise 3x3 - ReLU6 - linear 1x1 projection (+ x)."""

    def __init__(self, c_in, c_out, stride, t):
        super().__init__()
        hidden = int(round(c_in * t))
        self.use_res_connect = stride == 1 and c_in == c_out
        layers = [ConvBNAct(c_in, hidden, 1)] if t != 1 else []
        layers += [ConvBNAct(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2, CIFAR variant: stem stride 1 and the (t=6, c=24) stage stride 1."""
    # t, c, n, s  (CIFAR strides)
    SETTING = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
               (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, num_classes=10, dropout=0.2):
        super().__init__()
        c_in = 32
        features = [ConvBNAct(3, c_in, 3, 1)]
        for t, c, n, s in self.SETTING:
            for i in range(n):
                features.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                c_in = c
        features.append(ConvBNAct(c_in, 1280, 1))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))         # (N, 3, 32, 32) -> (N, 1280, 1, 1)
        return self.classifier(torch.flatten(x, 1))


# ------------------------------------------------------------------------- DenseNet
class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (to 4k) - BN-ReLU-conv3x3 (to k). With ``memory_efficient`` the
    concat-BN-ReLU-conv1x1 bottleneck is recomputed in backward (torch.utils.checkpoint),
    as torchvision does and as our ``utils.checkpoint`` does."""

    def __init__(self, c_in, k, bn_size, memory_efficient):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(c_in)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(c_in, bn_size * k, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * k)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * k, k, 3, padding=1, bias=False)
        self.memory_efficient = memory_efficient

    def bottleneck(self, *features):
        return self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))

    def forward(self, features):
        if (self.memory_efficient and torch.is_grad_enabled()
                and any(f.requires_grad for f in features)):
            b = checkpoint.checkpoint(self.bottleneck, *features, use_reentrant=False)
        else:
            b = self.bottleneck(*features)
        return self.conv2(self.relu2(self.norm2(b)))


class DenseBlock(nn.ModuleDict):
    def __init__(self, n, c_in, k, bn_size, memory_efficient):
        super().__init__()
        for i in range(n):
            self.add_module(f"denselayer{i + 1}",
                            DenseLayer(c_in + i * k, k, bn_size, memory_efficient))

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(c_in))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(c_in, c_out, 1, bias=False))
        self.add_module("pool", nn.AvgPool2d(2, 2))


class DenseNetBC(nn.Module):
    """DenseNet-BC for CIFAR: 3x3 stem to 2k channels (no BN/ReLU/pool), 3 dense blocks of
    (depth - 4) / 6 layers, transitions keeping half the channels, BN, ReLU, pool, Linear."""

    def __init__(self, depth=100, k=12, bn_size=4, num_classes=10, memory_efficient=True):
        super().__init__()
        n = (depth - 4) // 6
        c = 2 * k
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, c, 3, padding=1, bias=False))
        for i in range(3):
            self.features.add_module(f"denseblock{i + 1}",
                                     DenseBlock(n, c, k, bn_size, memory_efficient))
            c += n * k
            if i != 2:
                self.features.add_module(f"transition{i + 1}", Transition(c, c // 2))
                c //= 2
        self.features.add_module("norm4", nn.BatchNorm2d(c))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        x = nn.functional.relu(self.features(x), inplace=True)
        return self.classifier(torch.flatten(self.avgpool(x), 1))


# --------------------------------------------------------------------- EfficientNet
class SqueezeExcitation(nn.Module):
    """x * sigmoid(fc2(SiLU(fc1(avgpool(x))))), 1x1 convs named fc1/fc2."""

    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x):
        s = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return x * self.scale_activation(s)


class StochasticDepth(nn.Module):
    """Per-sample drop of a residual branch with probability p, survivors scaled by
    1/(1-p) (torchvision.ops.StochasticDepth, mode "row")."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        keep = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype).bernoulli_(survival)
        return x * keep.div_(survival)


class MBConv(nn.Module):
    """expand 1x1 - SiLU - depthwise kxk - SiLU - SE - project 1x1 (+ dropped-path x)."""

    def __init__(self, c_in, c_out, k, stride, t, sd_prob):
        super().__init__()
        self.use_res_connect = stride == 1 and c_in == c_out
        expanded = make_divisible(c_in * t)
        layers = []
        if expanded != c_in:
            layers.append(ConvBNAct(c_in, expanded, 1, act=nn.SiLU))
        layers += [ConvBNAct(expanded, expanded, k, stride, groups=expanded, act=nn.SiLU),
                   SqueezeExcitation(expanded, max(1, c_in // 4)),
                   ConvBNAct(expanded, c_out, 1, act=None)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(sd_prob)

    def forward(self, x):
        out = self.block(x)
        return self.stochastic_depth(out) + x if self.use_res_connect else out


class EfficientNetB0(nn.Module):
    """EfficientNet-B0, CIFAR variant (stem and stage 2 at stride 1, 32 -> 4)."""
    # t, k, s, c_in, c_out, n   (Table 1 of Tan & Le, CIFAR strides)
    STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 1, 16, 24, 2), (6, 5, 2, 24, 40, 2),
              (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
              (6, 3, 1, 192, 320, 1)]

    def __init__(self, num_classes=10, dropout=0.2, stochastic_depth_prob=0.2):
        super().__init__()
        layers = [ConvBNAct(3, 32, 3, 1, act=nn.SiLU)]
        total, b = sum(s[-1] for s in self.STAGES), 0
        for t, k, s, c_in, c_out, n in self.STAGES:
            blocks = []
            for i in range(n):
                blocks.append(MBConv(c_in if i == 0 else c_out, c_out, k, s if i == 0 else 1,
                                     t, stochastic_depth_prob * b / total))
                b += 1
            layers.append(nn.Sequential(*blocks))
        layers.append(ConvBNAct(320, 1280, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout, inplace=True),
                                        nn.Linear(1280, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))         # (N, 3, 32, 32) -> (N, 1280, 1, 1)
        return self.classifier(torch.flatten(x, 1))


# ------------------------------------------------------------------------- builders
def vgg16_bn(num_classes=10):
    return VGG(VGG16_CFG, num_classes)


def resnet20(num_classes=10):
    return ResNet([3, 3, 3], (16, 32, 64), "A", num_classes)


def resnet56(num_classes=10):
    return ResNet([9, 9, 9], (16, 32, 64), "A", num_classes)


def resnet18(num_classes=10):
    return ResNet([2, 2, 2, 2], (64, 128, 256, 512), "B", num_classes)


def mobilenet_v2(num_classes=10):
    return MobileNetV2(num_classes)


def densenet_bc_100_12(num_classes=10, memory_efficient=True):
    return DenseNetBC(100, 12, 4, num_classes, memory_efficient)


def efficientnet_b0(num_classes=10):
    return EfficientNetB0(num_classes)


TORCH_BUILDERS = {"vgg16_bn": vgg16_bn, "resnet20": resnet20, "resnet56": resnet56, "resnet18": resnet18,
                  "mobilenet_v2": mobilenet_v2, "densenet_bc_100_12": densenet_bc_100_12,
                  "efficientnet_b0": efficientnet_b0}


def copy_weights(ours, theirs):
    """Load our model's state dict into the torch model through NumPy (copies, float32).

    Raises if any key or shape differs: the two descriptions of the network must agree
    entry for entry.
    """
    state = {}
    for name, t in ours.state_dict().items():
        arr = t.data if hasattr(t, "data") else t
        arr = arr.get() if hasattr(arr, "get") else np.asarray(arr)   # CuPy -> NumPy
        state[name] = torch.from_numpy(np.array(arr, copy=True))
    missing, unexpected = theirs.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"copy_weights: the torch reference of {type(ours).__name__} "
                           f"differs in its keys: missing {missing[:5]} ({len(missing)}), "
                           f"unexpected {unexpected[:5]} ({len(unexpected)})")
    return theirs


def parameter_count(model):
    return sum(math.prod(p.shape) for p in model.parameters())
