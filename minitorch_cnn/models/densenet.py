"""DenseNet (Huang et al. 2017, "Densely connected convolutional networks").

Inside a dense block, layer l sees the concatenation of every earlier output:

    x_l = H_l([x_0, x_1, ..., x_{l-1}]),   H_l = conv3x3(ReLU(BN(conv1x1(ReLU(BN(.))))))

and adds ``growth_rate`` (k) channels; the 1x1 "bottleneck" first squeezes the
concatenation to ``bn_size`` * k channels (the B of DenseNet-BC). Between blocks a
transition (BN-ReLU-1x1 conv-2x2 avg pool) halves H and W and keeps a fraction
``compression`` (the C of -BC, 0.5) of the channels.

Memory. Done naively, layer l keeps its concatenation (for BN's backward), the BN output
and the ReLU mask (for conv1x1's backward): copies of size O(l k) at every layer, O(L^2 k)
for a block. With ``memory_efficient=True`` (the default) the bottleneck
concat-BN-ReLU-conv1x1 runs under ``utils.checkpoint.checkpoint``: the forward keeps only
references to the block's feature maps (which the block holds anyway) and the bottleneck's
bn_size*k-channel output; the backward recomputes the concatenation and the BN-ReLU for one
layer at a time (Pleiss et al. 2017 do the same with shared buffers), and checkpoint puts
norm1's running statistics back after the recomputation. Memory per block falls to O(L k);
the price is running the bottleneck twice.

Fusion: each BN -> ReLU pair (norm1/relu1 and norm2/relu2 in a dense layer, the stem's
norm0/relu0, a transition's norm/relu) becomes one ``nn.BatchNormReLU2d`` (one pass over
memory each way instead of two; nn/fused.py), the ReLU's place an ``nn.Identity``: the
names and the state dict stay torchvision's. The builders fuse by default; ``fuse=False``
keeps the plain modules. (The last BN's ReLU is a function in ``forward``, as torchvision
has it, and stays apart.)

``densenet121/161/169/201`` follow torchvision's layout and parameter names
(features.conv0, features.denseblock1.denselayer1.norm1, ..., features.norm5, classifier);
``densenet_bc(depth, growth_rate)`` is the paper's CIFAR network.
"""
from collections import OrderedDict

from .. import nn
from ..nn import functional as F
from ..utils.checkpoint import checkpoint


class _DenseLayer(nn.Module):
    """H_l: BN-ReLU-conv1x1 (to bn_size*k) - BN-ReLU-conv3x3 (to k), optional dropout."""

    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate,
                 memory_efficient=True):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.memory_efficient = memory_efficient

    def fuse(self):
        """norm1 + relu1 and norm2 + relu2 -> nn.BatchNormReLU2d (nn/utils/fusion.py); the
        forward below runs either way, a fused pair's ReLU being an nn.Identity."""
        nn.utils.fuse_modules(self, [["norm1", "relu1"], ["norm2", "relu2"]])

    def bottleneck(self, *features):
        x = F.cat(list(features), 1)                    # l tensors -> (N, C_0 + (l-1) k, H, W)
        return self.conv1(self.relu1(self.norm1(x)))    # -> (N, bn_size * k, H, W)

    def forward(self, features):
        """features: the list [x_0, ..., x_{l-1}]; returns x_l, (N, k, H, W)."""
        if self.memory_efficient:     # keep only the features; recompute in backward
            b = checkpoint(self.bottleneck, *features)
        else:
            b = self.bottleneck(*features)
        new = self.conv2(self.relu2(self.norm2(b)))
        if self.drop_rate > 0:
            new = F.dropout(new, self.drop_rate, self.training)
        return new


class _DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; the output concatenates the input and every new map:
    (N, C_0, H, W) -> (N, C_0 + num_layers * k, H, W)."""

    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate,
                 memory_efficient=True):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            _DenseLayer(num_input_features + i * growth_rate, growth_rate,
                                        bn_size, drop_rate, memory_efficient))

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return F.cat(features, 1)


class _Transition(nn.Sequential):
    """BN-ReLU-conv1x1-avgpool2x2: (N, C, H, W) -> (N, C_out, H/2, W/2)."""

    def __init__(self, num_input_features, num_output_features):
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(num_input_features)),
            ("relu", nn.ReLU()),
            ("conv", nn.Conv2d(num_input_features, num_output_features, 1, bias=False)),
            ("pool", nn.AvgPool2d(2, stride=2)),
        ]))


class DenseNet(nn.Module):
    """Stem, dense blocks joined by transitions, BN-ReLU, global average pool, classifier.

    growth_rate: k; block_config: layers per block; num_init_features: the stem's width;
    bn_size: bottleneck width in units of k; compression: the fraction of channels a
    transition keeps; cifar: a 3x3 stride-1 stem conv with no BN, ReLU or pool (as the
    paper's CIFAR networks) instead of ImageNet's 7x7/2 conv + BN-ReLU + 3x3/2 max pool;
    fuse: fuse each BN with the ReLU after it (module docstring).
    """

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                 bn_size=4, drop_rate=0.0, num_classes=1000, compression=0.5, cifar=False,
                 memory_efficient=True, fuse=True):
        super().__init__()
        if not 0.0 < compression <= 1.0:
            raise ValueError(f"DenseNet: compression must be in (0, 1], got {compression}")
        if cifar:
            stem = [("conv0", nn.Conv2d(3, num_init_features, 3, padding=1, bias=False))]
        else:
            stem = [("conv0", nn.Conv2d(3, num_init_features, 7, stride=2, padding=3,
                                        bias=False)),                  # 224 -> 112
                    ("norm0", nn.BatchNorm2d(num_init_features)),
                    ("relu0", nn.ReLU()),
                    ("pool0", nn.MaxPool2d(3, stride=2, padding=1))]   # 112 -> 56
        self.features = nn.Sequential(OrderedDict(stem))

        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}",
                                     _DenseBlock(num_layers, num_features, bn_size,
                                                 growth_rate, drop_rate, memory_efficient))
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                out_features = int(num_features * compression)
                self.features.add_module(f"transition{i + 1}",
                                         _Transition(num_features, out_features))
                num_features = out_features
        self.features.add_module(f"norm{len(block_config) + 1}", nn.BatchNorm2d(num_features))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(num_features, num_classes)

        for m in self.modules():      # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        if fuse:
            nn.utils.fuse_batchnorm_relu(self)   # the stem, the transitions, the layers' fuse()

    def forward(self, x):
        x = F.relu(self.features(x))           # (N, 3, H, W) -> (N, C, h, w)
        x = self.avgpool(x).flatten(1)         # -> (N, C)
        return self.classifier(x)


def _densenet(growth_rate, block_config, num_init_features, num_classes, cifar, **kw):
    return DenseNet(growth_rate, block_config, num_init_features, num_classes=num_classes,
                    cifar=cifar, **kw)


def densenet121(num_classes=1000, cifar=False, **kw):
    """k = 32, blocks (6, 12, 24, 16): 7,978,856 parameters."""
    return _densenet(32, (6, 12, 24, 16), 64, num_classes, cifar, **kw)


def densenet161(num_classes=1000, cifar=False, **kw):
    """k = 48, blocks (6, 12, 36, 24), a 96-channel stem: 28,681,000 parameters."""
    return _densenet(48, (6, 12, 36, 24), 96, num_classes, cifar, **kw)


def densenet169(num_classes=1000, cifar=False, **kw):
    return _densenet(32, (6, 12, 32, 32), 64, num_classes, cifar, **kw)


def densenet201(num_classes=1000, cifar=False, **kw):
    return _densenet(32, (6, 12, 48, 32), 64, num_classes, cifar, **kw)


def densenet_bc(depth, growth_rate, num_classes=10, **kw):
    """DenseNet-BC for CIFAR: 3 blocks of n = (depth-4)/6 bottleneck layers, a 2k-channel
    3x3 stem, compression 0.5. (depth counts the 2 convs per layer, the stem, the 2
    transitions and the classifier: 6n + 4.)"""
    if (depth - 4) % 6:
        raise ValueError(f"densenet_bc: depth must be 6n+4 (40, 100, 190, 250, ...), "
                         f"got {depth}")
    n = (depth - 4) // 6
    return DenseNet(growth_rate, (n, n, n), 2 * growth_rate, num_classes=num_classes,
                    cifar=True, **kw)


def densenet_bc_100_12(num_classes=10, **kw):
    """DenseNet-BC (L=100, k=12): 0.8M parameters."""
    return densenet_bc(100, 12, num_classes, **kw)


BUILDERS = OrderedDict([
    ("densenet121", densenet121), ("densenet161", densenet161),
    ("densenet169", densenet169), ("densenet201", densenet201),
    ("densenet_bc_100_12", densenet_bc_100_12),
])
