"""Network in Network (Lin, Chen & Yan, 2013).

Two ideas that GoogLeNet, ResNet and every later network took up:
- the mlpconv layer: a conv followed by a small MLP applied at every pixel, which is just
  two 1x1 convolutions with ReLUs ("cccp" layers, cascaded cross-channel parametric
  pooling, in the authors' Caffe code). Each pixel's feature vector goes through a
  non-linear function instead of a single linear filter;
- global average pooling instead of fully connected layers: the last mlpconv outputs one
  map per class and their spatial means are the logits. No FC layer means no 38M weights
  to overfit (compare AlexNet), and each map reads as a class-confidence map.

``cfgs`` holds the two networks of the authors' Caffe models: each mlpconv block is
``((kernel, stride, padding), (conv channels, cccp channels, cccp channels))``, with
``None`` for "num_classes"; ``"M"`` is a 3x3 stride-2 max pool, ``"A"`` the same with
averaging, ``"D"`` dropout 0.5. Pools round up (``ceil_mode``) as Caffe's did.

- CIFAR-10 (the paper's section 4.2): three mlpconv blocks of 192 maps,
  966,986 parameters with 10 classes.
- ImageNet (the released model): AlexNet-sized conv kernels 96/256/384/1024, 7,595,176
  parameters with 1000 classes.
"""
from .. import functional as F
from .. import nn

__all__ = ["NiN", "cfgs", "mlpconv", "nin"]

cfgs = {
    # 32 -> 32 -> 16 -> 16 -> 8 -> 8
    "cifar": [((5, 1, 2), (192, 160, 96)), "M", "D",
              ((5, 1, 2), (192, 192, 192)), "A", "D",
              ((3, 1, 1), (192, 192, None))],
    # 224 -> 54 -> 27 -> 27 -> 13 -> 13 -> 6 -> 6
    "imagenet": [((11, 4, 0), (96, 96, 96)), "M",
                 ((5, 1, 2), (256, 256, 256)), "M",
                 ((3, 1, 1), (384, 384, 384)), "M", "D",
                 ((3, 1, 1), (1024, 1024, None))],
}


def mlpconv(in_channels, channels, kernel_size, stride, padding):
    """conv kxk -> ReLU -> conv 1x1 -> ReLU -> conv 1x1 -> ReLU: a 3-layer MLP slid over
    the image, whose first layer sees a kxk patch."""
    c0, c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(in_channels, c0, kernel_size, stride=stride, padding=padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(c0, c1, kernel_size=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c1, c2, kernel_size=1),
        nn.ReLU(inplace=True),
    )


class NiN(nn.Module):
    """features (mlpconv blocks, pools, dropout) -> global average pool = the logits."""

    def __init__(self, cfg=cfgs["imagenet"], num_classes=1000, in_channels=3, dropout=0.5):
        super().__init__()
        layers = []
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True))
            elif v == "A":
                layers.append(nn.AvgPool2d(kernel_size=3, stride=2, ceil_mode=True))
            elif v == "D":
                layers.append(nn.Dropout(p=dropout))
            else:
                (k, s, p), channels = v
                channels = tuple(num_classes if c is None else c for c in channels)
                layers.append(mlpconv(in_channels, channels, k, s, p))
                in_channels = channels[-1]
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        x = self.features(x)        # (N, 3, 32, 32) -> (N, num_classes, 8, 8)
        x = self.avgpool(x)         # -> (N, num_classes, 1, 1): one mean per class map
        return F.flatten(x, 1)      # -> (N, num_classes)


def nin(num_classes=1000, cifar=False, dropout=0.5):
    """Network in Network: the ImageNet model (7,595,176 parameters with 1000 classes) or,
    with ``cifar=True``, the paper's CIFAR-10 model (966,986 with 10 classes)."""
    return NiN(cfgs["cifar" if cifar else "imagenet"], num_classes=num_classes,
               dropout=dropout)


BUILDERS = {"nin": nin}
