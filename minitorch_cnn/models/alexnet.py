"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) and ZFNet (Zeiler & Fergus, 2013).

AlexNet won ILSVRC-2012 with five conv layers and three fully connected ones, trained on
two GTX 580 GPUs with 3 GB each. The network was split in two towers, one per GPU, that
talk only at conv3 and the fully connected layers: conv2, conv4 and conv5 see only the
half of the previous layer's maps on their own GPU. A grouped convolution with
``groups=2`` computes exactly that (each half of the output channels reads its half of the
input channels), so ``alexnet(paper=True)`` is the two-tower network in one tower.

``alexnet()`` is torchvision's layout: one tower with 64/192/384/256/256 maps and no LRN
(the "one weird trick" variant of Krizhevsky, 2014), 61,100,840 parameters, whose
torchvision weights load unchanged.

ZFNet is AlexNet after Zeiler & Fergus looked at its first-layer filters with their
deconvnet: the 11x11 stride-4 filters aliased, so conv1 became 7x7 with stride 2 (and
conv2 got stride 2 to keep the sizes), and the towers were merged into one.

Each network is a table of layers, as in the papers' figures:
a conv layer is ``(out_channels, kernel_size, stride, padding, groups)``, ``"LRN"`` a local
response normalisation, ``"M"`` a 3x3 max pool with stride 2 ("overlapping pooling":
stride 2 < window 3, which the paper found to overfit slightly less).
"""
from .. import functional as F
from .. import nn
from ..nn import init

__all__ = ["AlexNet", "ZFNet", "cfgs", "alexnet", "alexnet_paper", "zfnet"]

cfgs = {
    # torchvision: 224 -> 55 -> 27 -> 27 -> 13 -> 13 -> 13 -> 13 -> 6
    "alexnet": [(64, 11, 4, 2, 1), "M", (192, 5, 1, 2, 1), "M",
                (384, 3, 1, 1, 1), (256, 3, 1, 1, 1), (256, 3, 1, 1, 1), "M"],
    # the 2012 paper (Figure 2): LRN after conv1 and conv2, the two GPUs as groups=2
    "alexnet-paper": [(96, 11, 4, 2, 1), "LRN", "M", (256, 5, 1, 2, 2), "LRN", "M",
                      (384, 3, 1, 1, 1), (384, 3, 1, 1, 2), (256, 3, 1, 1, 2), "M"],
    # Zeiler & Fergus (Figure 3): 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 13 -> 6;
    # their figure pools then normalises
    "zfnet": [(96, 7, 2, 1, 1), "M", "LRN", (256, 5, 2, 0, 1), "M", "LRN",
              (384, 3, 1, 1, 1), (384, 3, 1, 1, 1), (256, 3, 1, 1, 1), "M"],
    # 32x32 inputs: a stride-1 stem instead of one that would shrink a 32-pixel image to 8
    # pixels at once: 32 -> 32 -> 15 -> 15 -> 7 -> 7 -> 3
    "alexnet-cifar": [(64, 5, 1, 2, 1), "M", (192, 5, 1, 2, 1), "M",
                      (384, 3, 1, 1, 1), (256, 3, 1, 1, 1), (256, 3, 1, 1, 1), "M"],
    "alexnet-paper-cifar": [(96, 5, 1, 2, 1), "LRN", "M", (256, 5, 1, 2, 2), "LRN", "M",
                            (384, 3, 1, 1, 1), (384, 3, 1, 1, 2), (256, 3, 1, 1, 2), "M"],
    # 32 -> 32 -> 16 -> 8 -> 4 -> 4 -> 2
    "zfnet-cifar": [(96, 3, 1, 1, 1), "M", "LRN", (256, 5, 2, 2, 1), "M", "LRN",
                    (384, 3, 1, 1, 1), (384, 3, 1, 1, 1), (256, 3, 1, 1, 1), "M"],
}

# Side of the last feature map on the input size each table is drawn for (224 or 32); an
# adaptive average pool brings other input sizes to it, as torchvision does.
final_size = {"alexnet": 6, "alexnet-paper": 6, "zfnet": 6,
              "alexnet-cifar": 3, "alexnet-paper-cifar": 3, "zfnet-cifar": 2}


def local_response_norm():
    """The paper's LRN: b = a / (k + alpha * sum over n=5 neighbouring maps of a^2)^beta,
    k=2, alpha=1e-4, beta=0.75. PyTorch's LocalResponseNorm divides alpha by n, so the
    paper's alpha is passed as n * alpha = 5e-4."""
    n, alpha = 5, 1e-4
    return nn.LocalResponseNorm(n, alpha=n * alpha, beta=0.75, k=2.0)


def make_features(cfg, in_channels=3, ceil_mode=False):
    """The conv stack of one table: each conv is followed by a ReLU.

    ``ceil_mode=True`` rounds pooled sizes up, as Caffe did in 2013 (ZFNet's 110 -> 55 and
    26 -> 13 need it)."""
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=ceil_mode))
        elif v == "LRN":
            layers.append(local_response_norm())
        else:
            out_channels, k, s, p, groups = v
            layers += [nn.Conv2d(in_channels, out_channels, kernel_size=k, stride=s, padding=p,
                                 groups=groups),
                       nn.ReLU(inplace=True)]
            in_channels = out_channels
    return nn.Sequential(*layers), in_channels


class AlexNet(nn.Module):
    """features (the table) -> avgpool -> classifier (dropout, FC, ReLU, dropout, FC, ReLU,
    FC), laid out and named as torchvision's AlexNet (``features.0.weight``,
    ``classifier.6.bias``)."""

    def __init__(self, cfg=cfgs["alexnet"], final_size=6, hidden=4096, num_classes=1000,
                 dropout=0.5, ceil_mode=False):
        super().__init__()
        self.features, channels = make_features(cfg, ceil_mode=ceil_mode)
        self.avgpool = nn.AdaptiveAvgPool2d((final_size, final_size))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(channels * final_size * final_size, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        x = self.features(x)     # (N, 3, 224, 224) -> (N, 256, 6, 6)
        x = self.avgpool(x)      # -> (N, 256, 6, 6) whatever the input size
        x = F.flatten(x, 1)      # -> (N, 9216)
        return self.classifier(x)  # -> (N, num_classes)


class ZFNet(AlexNet):
    """Zeiler & Fergus's network: AlexNet's layout with a 7x7 stride-2 conv1, a stride-2
    conv2, one tower, and pool-then-normalise (see the module docstring)."""


def _init_as_paper(model):
    """Krizhevsky et al. 2012, section 5: every weight ~ N(0, 0.01); biases 1 in conv2,
    conv4, conv5 and the fully connected hidden layers ("accelerates the early stages of
    learning by providing the ReLUs with positive inputs"), 0 elsewhere."""
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    for m in convs + linears:
        init.normal_(m.weight, 0.0, 0.01)
    for i, m in enumerate(convs):
        init.constant_(m.bias, 1.0 if i in (1, 3, 4) else 0.0)
    for m in linears:
        init.constant_(m.bias, 0.0 if m is linears[-1] else 1.0)


def alexnet(num_classes=1000, paper=False, cifar=False, dropout=0.5):
    """AlexNet. Default: torchvision's single-tower layout (61,100,840 parameters), with
    PyTorch's default initialisation.

    ``paper=True``: the 2012 network (96/256/384/384/256 maps, LRN after conv1 and conv2,
    groups=2 on conv2/4/5 for the two GPUs; 60,965,224 parameters) with the paper's
    initialisation. ``cifar=True``: a stride-1 5x5 stem and a 1024-wide classifier for
    32x32 images.
    """
    name = "alexnet-paper" if paper else "alexnet"
    if cifar:
        name += "-cifar"
    model = AlexNet(cfgs[name], final_size[name], hidden=1024 if cifar else 4096,
                    num_classes=num_classes, dropout=dropout)
    if paper:
        _init_as_paper(model)
    return model


def alexnet_paper(num_classes=1000, cifar=False, dropout=0.5):
    """``alexnet(paper=True)``: the two-tower 2012 network with LRN."""
    return alexnet(num_classes=num_classes, paper=True, cifar=cifar, dropout=dropout)


def zfnet(num_classes=1000, cifar=False, dropout=0.5):
    """ZFNet (Zeiler & Fergus, 2013): 62,357,608 parameters with 1000 classes.
    ``cifar=True``: a 3x3 stride-1 stem and a 1024-wide classifier for 32x32 images."""
    name = "zfnet-cifar" if cifar else "zfnet"
    return ZFNet(cfgs[name], final_size[name], hidden=1024 if cifar else 4096,
                 num_classes=num_classes, dropout=dropout, ceil_mode=True)


BUILDERS = {"alexnet": alexnet, "alexnet_paper": alexnet_paper, "zfnet": zfnet}
