"""The ResNets of the CIFAR experiments, each in its paper's own terms, built from the
blocks and the ResNet of models/resnet.py (read that first).

- ``resnet20 ... resnet1202`` (He et al. 2015, section 4.2): 3 stages of n BasicBlocks at
  16/32/64 planes, depth 6n+2, option-A shortcuts; ``plain20 ... plain110``: the same
  without shortcuts, the pair that shows the degradation problem.
- ``preact_resnet110/164/1001`` (He et al. 2016, "Identity mappings").
- ``wrn(depth, widen_factor, dropout)`` (Zagoruyko & Komodakis 2016): wide pre-activation
  BasicBlocks, fewer layers.
- ``resnext29_8x64d/16x64d`` (Xie et al. 2017).
Every builder fuses BN -> ReLU as models/resnet.py describes (``fuse=False``: plain).
"""
from collections import OrderedDict

from .resnet import (BasicBlock, Bottleneck, PlainBlock, PreActBasicBlock, PreActBottleneck,
                     ResNet)


def resnet_cifar(depth, num_classes=10, shortcut="A", plain=False, **kw):
    """The CIFAR ResNet of He et al. 2015, section 4.2: depth 6n+2, a 3x3 conv to 16
    channels, 3 stages of n BasicBlocks at 16, 32, 64 channels (32x32, 16x16, 8x8), global
    pool, fc. ``plain=True`` removes the shortcuts."""
    if (depth - 2) % 6:
        raise ValueError(f"resnet_cifar: depth must be 6n+2 (20, 32, 44, 56, 110, ...), "
                         f"got {depth}")
    n = (depth - 2) // 6
    return ResNet(PlainBlock if plain else BasicBlock, [n, n, n], num_classes=num_classes,
                  planes=(16, 32, 64), stem="cifar", shortcut=shortcut, **kw)


def resnet20(num_classes=10, **kw):
    """0.27M parameters."""
    return resnet_cifar(20, num_classes, **kw)


def resnet32(num_classes=10, **kw):
    return resnet_cifar(32, num_classes, **kw)


def resnet44(num_classes=10, **kw):
    return resnet_cifar(44, num_classes, **kw)


def resnet56(num_classes=10, **kw):
    return resnet_cifar(56, num_classes, **kw)


def resnet110(num_classes=10, **kw):
    """1.7M parameters; ``resnet110(stochastic_depth=0.5)`` is Huang et al.'s network."""
    return resnet_cifar(110, num_classes, **kw)


def resnet1202(num_classes=10, **kw):
    return resnet_cifar(1202, num_classes, **kw)


def plain20(num_classes=10, **kw):
    return resnet_cifar(20, num_classes, plain=True, **kw)


def plain32(num_classes=10, **kw):
    return resnet_cifar(32, num_classes, plain=True, **kw)


def plain44(num_classes=10, **kw):
    return resnet_cifar(44, num_classes, plain=True, **kw)


def plain56(num_classes=10, **kw):
    return resnet_cifar(56, num_classes, plain=True, **kw)


def plain110(num_classes=10, **kw):
    return resnet_cifar(110, num_classes, plain=True, **kw)


def preact_resnet_cifar(depth, num_classes=10, bottleneck=None, shortcut="B", **kw):
    """Pre-activation ResNets on CIFAR (He et al. 2016): BasicBlocks (depth 6n+2, 16/32/64
    channels) or Bottlenecks (depth 9n+2, 64/128/256 out) with projection shortcuts."""
    if bottleneck is None:
        bottleneck = depth >= 164
    per_block = 9 if bottleneck else 6
    if (depth - 2) % per_block:
        raise ValueError(f"preact_resnet_cifar: depth must be {per_block}n+2 with "
                         f"{'bottleneck' if bottleneck else 'basic'} blocks, got {depth}")
    n = (depth - 2) // per_block
    block = PreActBottleneck if bottleneck else PreActBasicBlock
    return ResNet(block, [n, n, n], num_classes=num_classes, planes=(16, 32, 64),
                  stem="cifar", shortcut=shortcut, **kw)


def preact_resnet110(num_classes=10, **kw):
    return preact_resnet_cifar(110, num_classes, bottleneck=False, **kw)


def preact_resnet164(num_classes=10, **kw):
    """Bottleneck pre-activation ResNet-164 (1.7M parameters)."""
    return preact_resnet_cifar(164, num_classes, bottleneck=True, **kw)


def preact_resnet1001(num_classes=10, **kw):
    """Bottleneck pre-activation ResNet-1001 (10.2M parameters)."""
    return preact_resnet_cifar(1001, num_classes, bottleneck=True, **kw)


def wrn(depth, widen_factor, dropout=0.0, num_classes=10, **kw):
    """WRN-d-k (Zagoruyko & Komodakis 2016): pre-activation BasicBlocks with dropout
    between the convs, n = (d-4)/6 per stage at 16k, 32k, 64k channels after a 16-channel
    3x3 stem; 1x1 projections where the width changes."""
    if (depth - 4) % 6:
        raise ValueError(f"wrn: depth must be 6n+4 (16, 22, 28, 40, ...), got {depth}")
    n = (depth - 4) // 6
    k = widen_factor
    return ResNet(PreActBasicBlock, [n, n, n], num_classes=num_classes,
                  planes=(16 * k, 32 * k, 64 * k), stem="cifar", stem_width=16,
                  dropout=dropout, **kw)


def wrn28_10(num_classes=10, dropout=0.0, **kw):
    """WRN-28-10: 36.5M parameters (the paper trains it with dropout 0.3 as well)."""
    return wrn(28, 10, dropout, num_classes, **kw)


def wrn40_4(num_classes=10, dropout=0.0, **kw):
    return wrn(40, 4, dropout, num_classes, **kw)


def wrn16_8(num_classes=10, dropout=0.0, **kw):
    return wrn(16, 8, dropout, num_classes, **kw)


def resnext29(cardinality, bottleneck_width=64, num_classes=10, **kw):
    """ResNeXt-29 for CIFAR (Xie et al. 2017): a 64-channel 3x3 stem, 3 stages of 3
    bottlenecks whose grouped 3x3 has ``cardinality`` groups of ``bottleneck_width``
    channels (doubling per stage), outputs 256, 512, 1024."""
    return ResNet(Bottleneck, [3, 3, 3], num_classes=num_classes, planes=(64, 128, 256),
                  stem="cifar", groups=cardinality, width_per_group=bottleneck_width, **kw)


def resnext29_8x64d(num_classes=10, **kw):
    """34.4M parameters."""
    return resnext29(8, 64, num_classes, **kw)


def resnext29_16x64d(num_classes=10, **kw):
    """68.1M parameters."""
    return resnext29(16, 64, num_classes, **kw)


BUILDERS = OrderedDict([
    ("resnet20", resnet20), ("resnet32", resnet32), ("resnet44", resnet44),
    ("resnet56", resnet56), ("resnet110", resnet110), ("resnet1202", resnet1202),
    ("plain20", plain20), ("plain32", plain32), ("plain44", plain44), ("plain56", plain56),
    ("plain110", plain110),
    ("preact_resnet110", preact_resnet110), ("preact_resnet164", preact_resnet164),
    ("preact_resnet1001", preact_resnet1001),
    ("wrn28_10", wrn28_10), ("wrn40_4", wrn40_4), ("wrn16_8", wrn16_8),
    ("resnext29_8x64d", resnext29_8x64d), ("resnext29_16x64d", resnext29_16x64d),
])
