"""The ResNet family, each network in its paper's own terms.

He et al. 2015, "Deep residual learning": a block learns a residual F(x) and adds it to
its input,  y = ReLU(F(x) + shortcut(x)).  The shortcut is the identity, or, where the
block changes the shape, option A (identity on a subsampled input, extra channels zero,
no parameters) or option B (a 1x1 projection conv + BN).
- ``resnet18/34/50/101/152``: torchvision's ImageNet layout (4 stages of 64/128/256/512
  planes), ``BasicBlock`` (two 3x3) or ``Bottleneck`` (1x1 reduce, 3x3, 1x1 expand by
  ``expansion = 4``). torchvision strides the 3x3 of a downsampling bottleneck
  (``stride_on="3x3"``); the paper strides the first 1x1 (``stride_on="1x1"``).
- ``resnet20 ... resnet1202`` (section 4.2, CIFAR), ``plain20 ... plain110``, the CIFAR
  pre-activation nets, WRNs and ResNeXt-29: models/resnet_cifar.py, on the blocks here.
- ``preact_*`` (He et al. 2016, "Identity mappings"): BN-ReLU before each conv,
  y = x + F(x) with nothing after the addition.
- ``wide_resnet50_2/101_2`` (Zagoruyko & Komodakis 2016): more channels, fewer layers.
- ``resnext*`` (Xie et al. 2017): the bottleneck's 3x3 split into ``cardinality`` groups.
- ``stochastic_depth=p_L`` (Huang et al. 2016): see ``ResidualBlock``.

Parameter names are torchvision's (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, fc),
so a torchvision state dict loads unchanged.

Fusion: every block names its activations as modules (relu1, relu2, ...) and has a
``fuse()``, which turns each BN -> ReLU pair into one ``nn.BatchNormReLU2d`` and the
block's tail BN -> + shortcut -> ReLU into one ``nn.BatchNormAddReLU2d`` (the same numbers
with fewer passes over memory; nn/fused.py). ``ResNet(..., fuse=True)``, the default of
every builder, applies it; ``fuse=False`` keeps the plain modules.
"""
from collections import OrderedDict

from .. import backend
from .. import nn
from ..nn import functional as F


def conv3x3(in_planes, out_planes, stride=1, groups=1):
    """3x3 conv, padding 1, no bias (the BN that follows has its own shift)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, groups=groups,
                     bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """Option A: identity on every ``stride``-th pixel, the new channels zero; no parameters.

    (N, C_in, H, W) -> (N, C_out, H/stride, W/stride)
    """

    def __init__(self, in_planes, out_planes, stride):
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"ZeroPadShortcut: cannot shrink {in_planes} channels to "
                             f"{out_planes} with zero padding")
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

    def forward(self, x):
        s = self.stride
        x = x[:, :, ::s, ::s]                                        # subsample H and W
        return F.pad(x, (0, 0, 0, 0, 0, self.out_planes - self.in_planes))  # zero channels

    def extra_repr(self):
        return f"{self.in_planes}->{self.out_planes}, stride={self.stride}"


class ResidualBlock(nn.Module):
    """What every residual block shares: stochastic depth (Huang et al. 2016).

    Block l survives with probability p_l (``survival_prob``, 1 unless stochastic depth is
    on). In training one draw per mini-batch decides: a dropped block does not compute its
    branch at all (the saving that makes training faster) and passes the shortcut on,
    H_l = ReLU(shortcut(H_{l-1})). At test time every block runs and its branch is scaled
    by its expected presence: H_l = ReLU(p_l F(H_{l-1}) + shortcut(H_{l-1})).
    """
    survival_prob = 1.0
    preact = False      # pre-activation blocks set True: the network then ends in BN-ReLU
    residual = True     # PlainBlock sets False: no shortcut at all
    pairs = ()          # the (BN, ReLU) module pairs that fuse() merges
    tail = None         # the BN that fuse() merges with the addition and the ReLU after it

    def branch_dropped(self):
        """One Bernoulli(p_l) draw per forward pass in training: True means skip F."""
        if not self.training or self.survival_prob >= 1.0:
            return False
        return backend.get_rng().random() >= self.survival_prob

    def add_branch(self, branch, shortcut):
        """shortcut + F, with F scaled by p_l at test time (the paper's expectation)."""
        if not self.training and self.survival_prob < 1.0:
            branch = branch * self.survival_prob
        return branch + shortcut

    def tail_fused(self):
        """Whether fuse() made the tail BN one op with the addition and the ReLU."""
        return isinstance(getattr(self, self.tail or "", None), nn.BatchNormAddReLU2d)

    def fuse(self):
        """Fuse each (BN, ReLU) pair, and the tail BN with the addition and ReLU after it
        (not under stochastic depth, whose test-time scaling sits between the two)."""
        nn.utils.fuse_modules(self, [list(p) for p in self.pairs
                                     if type(getattr(self, p[0])) is nn.BatchNorm2d])
        if self.tail and self.survival_prob >= 1.0 and not self.tail_fused():
            # in place in _modules, so that the state dict keeps torchvision's order
            self._modules[self.tail] = nn.BatchNormAddReLU2d.from_modules(self._modules[self.tail])


def _no_groups(name, groups, base_width):
    if groups != 1 or base_width != 64:
        raise ValueError(f"{name} only supports groups=1 and base_width=64, got "
                         f"groups={groups}, base_width={base_width}")


class BasicBlock(ResidualBlock):
    """Two 3x3 convs: y = ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x)).

    ``dropout`` (0 by default) sits between the two convs.
    """
    expansion = 1
    pairs, tail = (("bn1", "relu1"),), "bn2"

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 stride_on="3x3", dropout=0.0):
        super().__init__()
        _no_groups(type(self).__name__, groups, base_width)
        self.conv1 = conv3x3(inplanes, planes, stride)    # (N, C, H, W) -> (N, P, H/s, W/s)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.downsample = downsample
        self.stride = stride

    def branch(self, x):
        """F(x) up to the last conv: the tail BN is the caller's (it may be fused)."""
        out = self.relu1(self.bn1(self.conv1(x)))         # once fused: BatchNormReLU2d
        if self.dropout is not None:
            out = self.dropout(out)
        return self.conv2(out)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        if self.branch_dropped():
            return F.relu(identity)
        if self.tail_fused():                             # ReLU(BN(.) + identity), one op
            return self.bn2(self.branch(x), identity)
        return F.relu(self.add_branch(self.bn2(self.branch(x)), identity))


class PlainBlock(BasicBlock):
    """The same two 3x3 convs with no shortcut: y = ReLU(BN(conv(ReLU(BN(conv(x)))))).
    Stacked deep, these train worse than shallow ones (the degradation problem)."""
    residual = False
    pairs, tail = (("bn1", "relu1"), ("bn2", "relu2")), None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        return self.relu2(self.bn2(self.branch(x)))


class Bottleneck(ResidualBlock):
    """1x1 (reduce to ``width``), 3x3 (``groups`` of them for ResNeXt), 1x1 (expand to
    planes * expansion): y = ReLU(BN(conv1x1(...)) + shortcut(x)).

    width = planes * base_width / 64 * groups: 64 for ResNet-50's first stage, twice that in
    Wide ResNet-50-2 (base_width 128), 32 groups of 4 in ResNeXt-50 (32x4d).
    ``stride_on`` picks the conv that downsamples: torchvision's "3x3" or the paper's "1x1".
    """
    expansion = 4
    pairs, tail = (("bn1", "relu1"), ("bn2", "relu2")), "bn3"

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 stride_on="3x3", dropout=0.0):
        super().__init__()
        if stride_on not in ("3x3", "1x1"):
            raise ValueError(f"Bottleneck: stride_on must be '3x3' or '1x1', got {stride_on!r}")
        width = int(planes * (base_width / 64.0)) * groups
        s1, s3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        self.conv1 = conv1x1(inplanes, width, s1)               # (N, C, H, W) -> (N, width, ..)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(width, width, s3, groups)           # grouped for ResNeXt
        self.bn2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU()
        self.conv3 = conv1x1(width, planes * self.expansion)     # -> (N, 4 planes, H/s, W/s)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        if self.branch_dropped():
            return F.relu(identity)
        out = self.relu1(self.bn1(self.conv1(x)))      # once fused: BatchNormReLU2d
        out = self.relu2(self.bn2(self.conv2(out)))
        if self.dropout is not None:
            out = self.dropout(out)
        out = self.conv3(out)
        if self.tail_fused():                          # ReLU(BN(.) + identity), one op
            return self.bn3(out, identity)
        return F.relu(self.add_branch(self.bn3(out), identity))


class PreActBasicBlock(ResidualBlock):
    """Pre-activation: y = x + conv(ReLU(BN(conv(ReLU(BN(x)))))), nothing after the add,
    so the identity path runs clean from block to block (He et al. 2016).

    Where the shape changes, the projection shortcut takes the pre-activated input
    ReLU(BN(x)), as in the authors' code. ``preactivate=False`` drops the first BN-ReLU for
    a block whose input is already activated (the first block after an ImageNet stem).
    ``dropout`` between the convs gives Wide ResNet's block.
    """
    expansion = 1
    preact = True
    pairs = (("bn1", "relu1"), ("bn2", "relu2"))

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 stride_on="3x3", dropout=0.0, preactivate=True):
        super().__init__()
        _no_groups(type(self).__name__, groups, base_width)
        self.bn1 = nn.BatchNorm2d(inplanes) if preactivate else None
        self.relu1 = nn.ReLU()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        a = self.relu1(self.bn1(x)) if self.bn1 is not None else x
        identity = x if self.downsample is None else self.downsample(a)
        if self.branch_dropped():
            return identity
        out = self.conv1(a)
        out = self.relu2(self.bn2(out))                 # once fused: BatchNormReLU2d
        if self.dropout is not None:
            out = self.dropout(out)
        return self.add_branch(self.conv2(out), identity)


class PreActBottleneck(ResidualBlock):
    """Pre-activation bottleneck: y = x + conv1x1(ReLU(BN(conv3x3(ReLU(BN(conv1x1(
    ReLU(BN(x))))))))), expanding to planes * 4 (ResNet-164 and -1001 on CIFAR)."""
    expansion = 4
    preact = True
    pairs = (("bn1", "relu1"), ("bn2", "relu2"), ("bn3", "relu3"))

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 stride_on="3x3", dropout=0.0, preactivate=True):
        super().__init__()
        if stride_on not in ("3x3", "1x1"):
            raise ValueError(f"PreActBottleneck: stride_on must be '3x3' or '1x1', got "
                             f"{stride_on!r}")
        width = int(planes * (base_width / 64.0)) * groups
        s1, s3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        self.bn1 = nn.BatchNorm2d(inplanes) if preactivate else None
        self.relu1 = nn.ReLU()
        self.conv1 = conv1x1(inplanes, width, s1)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU()
        self.conv2 = conv3x3(width, width, s3, groups)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu3 = nn.ReLU()
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        a = self.relu1(self.bn1(x)) if self.bn1 is not None else x
        identity = x if self.downsample is None else self.downsample(a)
        if self.branch_dropped():
            return identity
        out = self.conv1(a)
        out = self.conv2(self.relu2(self.bn2(out)))    # once fused: BatchNormReLU2d
        out = self.relu3(self.bn3(out))
        if self.dropout is not None:
            out = self.dropout(out)
        return self.add_branch(self.conv3(out), identity)


class ResNet(nn.Module):
    """Stem, stages of blocks, global average pool, one linear layer.

    block, layers: the block class and how many per stage ([3, 4, 6, 3] is ResNet-50);
    planes: each stage's width before expansion (stage i > 1 halves H and W in its first
    block); stem: "imagenet" (7x7/2 conv + 3x3/2 max pool, 224 -> 56) or "cifar" (one 3x3
    conv, 32 stays 32); shortcut: "A" (zero padding) or "B" (projection) where the shape
    changes; groups, width_per_group: ResNeXt's cardinality and per-group width;
    stochastic_depth: p_L, the survival probability of the last block (Huang et al. use
    0.5); block l of L then survives with p_l = 1 - l/L (1 - p_L). fuse: fuse each BN with
    the ReLU (and the residual addition) after it (module docstring).
    """

    def __init__(self, block, layers, num_classes=1000, planes=(64, 128, 256, 512),
                 stem="imagenet", stem_width=None, shortcut="B", groups=1, width_per_group=64,
                 stride_on="3x3", dropout=0.0, stochastic_depth=None, fuse=True):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"ResNet: stem must be 'imagenet' or 'cifar', got {stem!r}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"ResNet: shortcut must be 'A' or 'B', got {shortcut!r}")
        if len(layers) != len(planes):
            raise ValueError(f"ResNet: {len(layers)} stages in layers={list(layers)} but "
                             f"{len(planes)} widths in planes={list(planes)}")
        if stochastic_depth is not None and not block.residual:
            raise ValueError("ResNet: stochastic depth drops residual branches; "
                             f"{block.__name__} has none")
        self.shortcut, self.stride_on, self.dropout = shortcut, stride_on, dropout
        self.groups, self.base_width = groups, width_per_group
        self.inplanes = stem_width or planes[0]
        self.num_stages = len(layers)

        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, self.inplanes, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = conv3x3(3, self.inplanes)
        # a pre-activation CIFAR net leaves the stem's BN-ReLU to its first block
        self.bn1 = nn.BatchNorm2d(self.inplanes) if stem == "imagenet" or not block.preact \
            else None
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if stem == "imagenet" else None
        for i, (n, p) in enumerate(zip(layers, planes)):
            first_is_activated = i == 0 and block.preact and self.bn1 is not None
            stage = self._make_layer(block, p, n, stride=1 if i == 0 else 2,
                                     first_is_activated=first_is_activated)
            setattr(self, f"layer{i + 1}", stage)
        # pre-activation blocks end un-normalised: one last BN-ReLU before pooling
        self.bn_final = nn.BatchNorm2d(self.inplanes) if block.preact else None
        self.relu_final = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)

        for m in self.modules():   # He et al.'s init for convs; BN starts as the identity
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if stochastic_depth is not None:
            self.set_stochastic_depth(stochastic_depth)
        if fuse:
            nn.utils.fuse_batchnorm_relu(self)                 # calls fuse() below and the blocks'

    def fuse(self):
        """The stem's and the pre-activation end's BN -> ReLU as one op each."""
        nn.utils.fuse_modules(self, [[bn, relu] for bn, relu in (("bn1", "relu"),
                                                                  ("bn_final", "relu_final"))
                                     if type(getattr(self, bn)) is nn.BatchNorm2d])

    def _shortcut(self, block, inplanes, outplanes, stride):
        if not block.residual or (stride == 1 and inplanes == outplanes):
            return None                                        # identity (or none at all)
        if self.shortcut == "A":
            return ZeroPadShortcut(inplanes, outplanes, stride)
        if block.preact:                                       # input is already BN-ReLU'd
            return conv1x1(inplanes, outplanes, stride)
        return nn.Sequential(conv1x1(inplanes, outplanes, stride), nn.BatchNorm2d(outplanes))

    def _make_layer(self, block, planes, blocks, stride, first_is_activated=False):
        outplanes = planes * block.expansion
        kw = dict(groups=self.groups, base_width=self.base_width, stride_on=self.stride_on,
                  dropout=self.dropout)
        first_kw = dict(kw, preactivate=False) if first_is_activated else kw
        layers = [block(self.inplanes, planes, stride,
                        self._shortcut(block, self.inplanes, outplanes, stride), **first_kw)]
        self.inplanes = outplanes
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, **kw))
        return nn.Sequential(*layers)

    def blocks(self):
        """Every residual block, from the input to the output."""
        return [b for i in range(self.num_stages) for b in getattr(self, f"layer{i + 1}")]

    def set_stochastic_depth(self, p_L):
        """Linear decay of the survival probability: p_l = 1 - l/L (1 - p_L), l = 1..L."""
        if not 0.0 < p_L <= 1.0:
            raise ValueError(f"ResNet: stochastic_depth is the last block's survival "
                             f"probability p_L in (0, 1], got {p_L}")
        blocks = self.blocks()
        if p_L < 1.0 and any(b.tail_fused() for b in blocks):
            raise ValueError("ResNet: stochastic depth scales each branch before the "
                             "addition that the fused blocks do in one op; build the model "
                             "with stochastic_depth=p_L (or fuse=False) instead")
        L = len(blocks)
        for l, b in enumerate(blocks, start=1):
            b.survival_prob = 1.0 - l / L * (1.0 - p_L)

    def forward(self, x):
        x = self.conv1(x)                      # (N, 3, H, W) -> (N, 64, H/2, W/2) on ImageNet
        if self.bn1 is not None:
            x = self.relu(self.bn1(x))
        if self.maxpool is not None:
            x = self.maxpool(x)                # -> (N, 64, H/4, W/4)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        if self.bn_final is not None:
            x = self.relu_final(self.bn_final(x))
        x = self.avgpool(x).flatten(1)         # (N, C, h, w) -> (N, C)
        return self.fc(x)


# ------------------------------------------------------------------- ImageNet (torchvision)
_IMAGENET = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
             50: (Bottleneck, [3, 4, 6, 3]), 101: (Bottleneck, [3, 4, 23, 3]),
             152: (Bottleneck, [3, 8, 36, 3])}


def _imagenet_resnet(depth, num_classes, cifar, preact=False, **kw):
    block, layers = _IMAGENET[depth]
    if preact:
        block = PreActBasicBlock if block is BasicBlock else PreActBottleneck
    return ResNet(block, layers, num_classes=num_classes,
                  stem="cifar" if cifar else "imagenet", **kw)


def resnet18(num_classes=1000, cifar=False, **kw):
    """ResNet-18 (11,689,512 parameters); ``cifar=True`` swaps in a 3x3 stem, no max pool."""
    return _imagenet_resnet(18, num_classes, cifar, **kw)


def resnet34(num_classes=1000, cifar=False, **kw):
    return _imagenet_resnet(34, num_classes, cifar, **kw)


def resnet50(num_classes=1000, cifar=False, **kw):
    """ResNet-50; ``stride_on="1x1"`` gives the paper's placement of the stride."""
    return _imagenet_resnet(50, num_classes, cifar, **kw)


def resnet101(num_classes=1000, cifar=False, **kw):
    return _imagenet_resnet(101, num_classes, cifar, **kw)


def resnet152(num_classes=1000, cifar=False, **kw):
    return _imagenet_resnet(152, num_classes, cifar, **kw)


def preact_resnet18(num_classes=1000, cifar=False, **kw):
    """ResNet-18 with pre-activation blocks (He et al. 2016)."""
    return _imagenet_resnet(18, num_classes, cifar, preact=True, **kw)


def preact_resnet34(num_classes=1000, cifar=False, **kw):
    return _imagenet_resnet(34, num_classes, cifar, preact=True, **kw)


def preact_resnet50(num_classes=1000, cifar=False, **kw):
    return _imagenet_resnet(50, num_classes, cifar, preact=True, **kw)


def preact_resnet101(num_classes=1000, cifar=False, **kw):
    return _imagenet_resnet(101, num_classes, cifar, preact=True, **kw)


def preact_resnet152(num_classes=1000, cifar=False, **kw):
    return _imagenet_resnet(152, num_classes, cifar, preact=True, **kw)


def wide_resnet50_2(num_classes=1000, cifar=False, **kw):
    """ResNet-50 with bottlenecks twice as wide (68,883,240 parameters)."""
    return _imagenet_resnet(50, num_classes, cifar, width_per_group=128, **kw)


def wide_resnet101_2(num_classes=1000, cifar=False, **kw):
    return _imagenet_resnet(101, num_classes, cifar, width_per_group=128, **kw)


def resnext50_32x4d(num_classes=1000, cifar=False, **kw):
    """ResNeXt-50: cardinality 32, 4 channels per group in the first stage."""
    return _imagenet_resnet(50, num_classes, cifar, groups=32, width_per_group=4, **kw)


def resnext101_32x8d(num_classes=1000, cifar=False, **kw):
    return _imagenet_resnet(101, num_classes, cifar, groups=32, width_per_group=8, **kw)


def resnext101_64x4d(num_classes=1000, cifar=False, **kw):
    return _imagenet_resnet(101, num_classes, cifar, groups=64, width_per_group=4, **kw)


BUILDERS = OrderedDict([
    ("resnet18", resnet18), ("resnet34", resnet34), ("resnet50", resnet50),
    ("resnet101", resnet101), ("resnet152", resnet152),
    ("preact_resnet18", preact_resnet18), ("preact_resnet34", preact_resnet34),
    ("preact_resnet50", preact_resnet50), ("preact_resnet101", preact_resnet101),
    ("preact_resnet152", preact_resnet152),
    ("wide_resnet50_2", wide_resnet50_2), ("wide_resnet101_2", wide_resnet101_2),
    ("resnext50_32x4d", resnext50_32x4d), ("resnext101_32x8d", resnext101_32x8d),
    ("resnext101_64x4d", resnext101_64x4d),
])
