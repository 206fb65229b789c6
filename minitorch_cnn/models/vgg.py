"""VGG (Simonyan & Zisserman, 2014, "Very deep convolutional networks for large-scale image
recognition"): depth is what matters, so use only 3x3 convolutions (stride 1, padding 1)
and 2x2 max pools, and stack them 11 to 19 layers deep.

Two stacked 3x3 convs see a 5x5 window and three see 7x7, with fewer weights than one
big filter (3 * 9C^2 = 27C^2 against 49C^2 for 7x7) and a ReLU between each.

``cfgs`` is the paper's Table 1, column by column: an int is a conv3 layer with that many
channels, ``(channels, 1)`` a conv1 layer (configuration C only: 1x1 convolutions add
non-linearity without changing the receptive field), ``"LRN"`` the local response
normalisation of A-LRN (which, the paper found, does not help), ``"M"`` a 2x2 max pool.

ImageNet networks end as torchvision's do: an adaptive average pool to 7x7, then
FC-4096, FC-4096, FC-num_classes with dropout. Their parameter names are torchvision's,
so its weights load unchanged. Parameter counts (1000 classes) and the paper's Table 2:

    A   vgg11      132,863,336   (133 M)      B  vgg13    133,047,848   (133 M)
    A-LRN vgg11_lrn 132,863,336  (133 M)      C  vgg16_c  133,638,952   (134 M)
    D   vgg16      138,357,544   (138 M)      E  vgg19    143,667,240   (144 M)

``cifar=True`` keeps the conv stack and ends in one small classifier: after the fifth
pool a 32x32 image is 512x1x1, read by a single Linear(512, num_classes).

With batch norm, each BatchNorm -> ReLU pair of the stack runs as one op
(``nn.BatchNormReLU2d`` in place of the BatchNorm, ``nn.Identity`` in place of the ReLU,
by ``nn.utils.fuse_batchnorm_relu``); ``fuse=False`` keeps the two modules. Either way
the parameter names, and the numbers, are the same.
"""
from .. import functional as F
from .. import nn
from ..nn import init

__all__ = ["VGG", "cfgs", "make_layers", "vgg11", "vgg11_bn", "vgg11_lrn", "vgg11_lrn_bn",
           "vgg13", "vgg13_bn", "vgg16_c", "vgg16_c_bn", "vgg16", "vgg16_bn", "vgg19",
           "vgg19_bn", "init_from_shallower"]

cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M",
          512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(cfg, batch_norm=False, in_channels=3):
    """The conv stack of one column of Table 1, each conv followed by [BatchNorm and] ReLU
    (``features.0`` conv, ``features.1`` BN or ReLU, ...: torchvision's indices)."""
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif v == "LRN":
            # "as in Krizhevsky et al." (k=2, n=5, alpha=1e-4, beta=0.75); PyTorch divides
            # alpha by n, so the paper's alpha is passed as n * alpha
            layers.append(nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0))
        else:
            channels, k = v if isinstance(v, tuple) else (v, 3)
            layers.append(nn.Conv2d(in_channels, channels, kernel_size=k, padding=k // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(channels))
            layers.append(nn.ReLU(inplace=True))
            in_channels = channels
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """features -> avgpool -> classifier, named as torchvision's VGG."""

    def __init__(self, features, num_classes=1000, cifar=False, dropout=0.5,
                 init_weights=True, fuse=True):
        super().__init__()
        self.features = features
        if cifar:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.classifier = nn.Linear(512, num_classes)
        else:
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, num_classes),
            )
        if init_weights:
            self._initialize_weights()
        if fuse:
            nn.utils.fuse_batchnorm_relu(self)

    def forward(self, x):
        x = self.features(x)       # (N, 3, 224, 224) -> (N, 512, 7, 7); 32x32 -> (N, 512, 1, 1)
        x = self.avgpool(x)        # -> (N, 512, 7, 7) (ImageNet) or (N, 512, 1, 1) (CIFAR)
        x = F.flatten(x, 1)        # -> (N, 25088) or (N, 512)
        return self.classifier(x)  # -> (N, num_classes)

    def _initialize_weights(self):
        """He et al. (2015) normal init for the convs (fan_out, as torchvision), N(0, 0.01)
        for the fully connected layers, zero biases. The paper itself trained A from
        N(0, 0.01) and initialised the deeper nets from it, a step He init makes
        unnecessary."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init.normal_(m.weight, 0.0, 0.01)
                init.zeros_(m.bias)


def _vgg(cfg, batch_norm, num_classes, cifar, dropout=0.5, init_weights=True, fuse=True):
    """A VGG of Table 1's column ``cfg``; ``init_weights=False`` keeps the layers' default
    initialisation (as torchvision's flag); ``fuse=False`` the unfused BatchNorm -> ReLU."""
    return VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), num_classes=num_classes,
               cifar=cifar, dropout=dropout, init_weights=init_weights, fuse=fuse)


def vgg11(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration A (11 weight layers)."""
    return _vgg("A", False, num_classes, cifar, **kwargs)


def vgg11_bn(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration A with BatchNorm after every conv."""
    return _vgg("A", True, num_classes, cifar, **kwargs)


def vgg11_lrn(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration A-LRN: A with LRN after the first conv."""
    return _vgg("A-LRN", False, num_classes, cifar, **kwargs)


def vgg11_lrn_bn(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration A-LRN with BatchNorm after every conv."""
    return _vgg("A-LRN", True, num_classes, cifar, **kwargs)


def vgg13(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration B (13 weight layers)."""
    return _vgg("B", False, num_classes, cifar, **kwargs)


def vgg13_bn(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration B with BatchNorm after every conv."""
    return _vgg("B", True, num_classes, cifar, **kwargs)


def vgg16_c(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration C (16 weight layers, the last conv of blocks 3-5 is 1x1)."""
    return _vgg("C", False, num_classes, cifar, **kwargs)


def vgg16_c_bn(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration C with BatchNorm after every conv."""
    return _vgg("C", True, num_classes, cifar, **kwargs)


def vgg16(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration D (16 weight layers, all 3x3): "VGG-16"."""
    return _vgg("D", False, num_classes, cifar, **kwargs)


def vgg16_bn(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration D with BatchNorm after every conv."""
    return _vgg("D", True, num_classes, cifar, **kwargs)


def vgg19(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration E (19 weight layers): "VGG-19"."""
    return _vgg("E", False, num_classes, cifar, **kwargs)


def vgg19_bn(num_classes=1000, cifar=False, **kwargs):
    """VGG configuration E with BatchNorm after every conv."""
    return _vgg("E", True, num_classes, cifar, **kwargs)


BUILDERS = {
    "vgg11": vgg11, "vgg11_bn": vgg11_bn, "vgg11_lrn": vgg11_lrn, "vgg11_lrn_bn": vgg11_lrn_bn,
    "vgg13": vgg13, "vgg13_bn": vgg13_bn, "vgg16_c": vgg16_c, "vgg16_c_bn": vgg16_c_bn,
    "vgg16": vgg16, "vgg16_bn": vgg16_bn, "vgg19": vgg19, "vgg19_bn": vgg19_bn,
}


def _convs_by_stage(features):
    """{(stage, index in stage): (conv, its BatchNorm or None)}: the paper's names, conv3_2
    being (3, 2). A stage ends at each max pool."""
    out, stage, index, last = {}, 1, 0, None
    for m in features:
        if isinstance(m, nn.MaxPool2d):
            stage, index = stage + 1, 0
        elif isinstance(m, nn.Conv2d):
            index += 1
            last = (stage, index)
            out[last] = [m, None]
        elif isinstance(m, nn.BatchNorm2d) and last is not None:
            out[last][1] = m
    return out


def init_from_shallower(deep_model, trained_A, n_conv=4):
    """Section 3.1 of the paper: "we initialised the first four convolutional layers and the
    last three fully-connected layers with the layers of net A (the intermediate layers were
    initialised randomly)".

    A's first four convolutions are conv1_1, conv2_1, conv3_1 and conv3_2 (Table 1); each is
    copied into the layer of the same name in ``deep_model`` (configuration B, C, D or E),
    where it has the same shape (D's third and fourth convolutions, conv1_2 and conv2_1, do
    not). BatchNorm layers come along when both nets have them, and so do all of the
    classifier's Linear layers (three on ImageNet, one with ``cifar=True``). Copies in place
    and returns the names of the parameters and buffers written, ``deep_model``'s own.
    """
    for name, m in (("deep_model", deep_model), ("trained_A", trained_A)):
        if not isinstance(m, VGG):
            raise TypeError(f"init_from_shallower: {name} must be a VGG, got "
                            f"{type(m).__name__}")
    names = {id(m): n for n, m in deep_model.named_modules()}
    deep, shallow = _convs_by_stage(deep_model.features), _convs_by_stage(trained_A.features)
    pairs = []                                   # (deep layer, A's layer)
    for key in list(shallow)[:n_conv]:           # conv1_1, conv2_1, conv3_1, conv3_2
        if key not in deep:
            raise ValueError(f"init_from_shallower: deep_model has no conv{key[0]}_{key[1]}")
        (dconv, dbn), (aconv, abn) = deep[key], shallow[key]
        pairs.append((dconv, aconv))
        if dbn is not None and abn is not None:
            pairs.append((dbn, abn))
    deep_fcs = [m for m in deep_model.classifier.modules() if isinstance(m, nn.Linear)]
    a_fcs = [m for m in trained_A.classifier.modules() if isinstance(m, nn.Linear)]
    if len(deep_fcs) != len(a_fcs):
        raise ValueError(f"init_from_shallower: the classifiers differ: trained_A has "
                         f"{len(a_fcs)} Linear layers, deep_model {len(deep_fcs)} (build "
                         f"both with the same cifar= and num_classes)")
    pairs += list(zip(deep_fcs, a_fcs))

    for dst, src in pairs:          # check every shape before writing anything
        mine = dst.state_dict()
        for key, value in src.state_dict().items():
            if tuple(mine[key].shape) != tuple(value.shape):
                raise ValueError(f"init_from_shallower: {names[id(dst)]}.{key} has shape "
                                 f"{tuple(mine[key].shape)} in deep_model but "
                                 f"{tuple(value.shape)} in trained_A")
    copied = []
    for dst, src in pairs:
        state = src.state_dict()
        dst.load_state_dict(state)
        copied += [f"{names[id(dst)]}.{k}" for k in state]
    return copied
