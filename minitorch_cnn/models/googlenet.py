"""GoogLeNet (Szegedy et al., 2014, "Going deeper with convolutions"), the Inception v1
network that won ILSVRC-2014.

An Inception module runs four branches side by side on the same input and concatenates
their maps along the channels:
    1x1 conv | 1x1 reduce -> 3x3 conv | 1x1 reduce -> 5x5 conv | 3x3 max pool -> 1x1 proj
The 1x1 "reduce" convs (NiN's idea) shrink the channels before the expensive 3x3 and 5x5
filters, which is how 22 layers fit in 1.5 G multiply-adds and ~7M parameters, a twelfth
of AlexNet's.

``inception_table`` is the paper's Table 1, one row per module:
(name, in channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).

Two versions:
- ``googlenet()``: torchvision's layout, whose weights load unchanged (6,624,904
  parameters without the auxiliary heads). Each conv is a ``BasicConv2d``: conv without
  bias -> BatchNorm(eps=0.001) -> ReLU (BN came a year after the paper; the weights were
  ported from TensorFlow, hence the eps and ``transform_input``). Its "5x5" branch uses a
  3x3 kernel, a slip kept for compatibility with those weights.
- ``googlenet(paper=True)``: the 2014 network: convs with bias and no BN, LRN after the
  first pool and after conv3 ("conv2/3x3" in the paper), true 5x5 branches, dropout 0.4
  before the classifier, and both auxiliary classifiers on (4a) and (4d).

The auxiliary classifiers inject gradient into the middle of the network during training
(and regularise it); the paper adds their losses with weight 0.3 and throws them away at
test time. In training mode a model with ``aux_logits`` returns
``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` (torchvision's order), and
``loss_with_aux`` computes  L = CE(logits) + 0.3 * (CE(aux1) + CE(aux2)).
"""
from collections import namedtuple

import numpy as np

from .. import functional as F
from .. import nn
from ..nn import init
from ..tensor import Tensor

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "BasicConv2d", "Inception", "InceptionAux",
           "inception_table", "loss_with_aux", "googlenet", "googlenet_paper"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

# (name, in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj): Table 1 of the paper.
# Each module outputs #1x1 + #3x3 + #5x5 + pool proj channels, the next row's "in".
inception_table = [
    ("inception3a", 192, 64, 96, 128, 16, 32, 32),        # 28x28 -> 256 channels
    ("inception3b", 256, 128, 128, 192, 32, 96, 64),      # 28x28 -> 480
    ("inception4a", 480, 192, 96, 208, 16, 48, 64),       # 14x14 -> 512
    ("inception4b", 512, 160, 112, 224, 24, 64, 64),      # 14x14 -> 512
    ("inception4c", 512, 128, 128, 256, 24, 64, 64),      # 14x14 -> 512
    ("inception4d", 512, 112, 144, 288, 32, 64, 64),      # 14x14 -> 528
    ("inception4e", 528, 256, 160, 320, 32, 128, 128),    # 14x14 -> 832
    ("inception5a", 832, 256, 160, 320, 32, 128, 128),    # 7x7 -> 832
    ("inception5b", 832, 384, 192, 384, 48, 128, 128),    # 7x7 -> 1024
]

# transform_input: torchvision's ported weights expect inputs scaled to [-1, 1], i.e.
# x' = (x_raw - 0.5) / 0.5; from an ImageNet-normalised x = (x_raw - mean) / std that is
# x' = x * std / 0.5 + (mean - 0.5) / 0.5, channel by channel.
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
_IMAGENET_STD = np.array([0.229, 0.224, 0.225])


class BasicConv2d(nn.Module):
    """conv -> BatchNorm(eps=0.001) -> ReLU (torchvision), or with ``batch_norm=False``
    conv with bias -> ReLU (the paper). ``fuse()`` makes the BatchNorm and the ReLU one op
    (nn.BatchNormReLU2d, with nn.Identity for the ReLU)."""

    def __init__(self, in_channels, out_channels, batch_norm=True, **conv_kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=not batch_norm, **conv_kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm else nn.Identity()
        self.relu = nn.ReLU()

    def fuse(self):
        if type(self.bn) is nn.BatchNorm2d:
            nn.utils.fuse_modules(self, ["bn", "relu"])

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four branches on the same input, concatenated along channels:
    (N, in, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 batch_norm=True, kernel5x5=5):
        super().__init__()
        bn = batch_norm
        self.branch1 = BasicConv2d(in_channels, ch1x1, bn, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, bn, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, bn, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, bn, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, bn, kernel_size=kernel5x5, padding=kernel5x5 // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, bn, kernel_size=1),
        )

    def forward(self, x):
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return F.cat(branches, 1)   # 4 x (N, C_i, H, W) -> (N, sum C_i, H, W)


class InceptionAux(nn.Module):
    """An auxiliary classifier on a 14x14 map: average pool to 4x4, 1x1 conv to 128 maps,
    FC-1024 + ReLU, dropout 0.7, FC-num_classes.

    The paper pools with a 5x5 window and stride 3 (14 -> 4); torchvision uses an adaptive
    pool to 4x4 (windows of 4 at 14x14), which also serves other input sizes."""

    def __init__(self, in_channels, num_classes, batch_norm=True, pool=None, dropout=0.7):
        super().__init__()
        self.pool = pool if pool is not None else nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, 128, batch_norm, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        x = self.pool(x)                # (N, 512, 14, 14) -> (N, 512, 4, 4)
        x = self.conv(x)                # -> (N, 128, 4, 4)
        x = F.flatten(x, 1)             # -> (N, 2048)
        x = F.relu(self.fc1(x))         # -> (N, 1024)
        x = self.dropout(x)
        return self.fc2(x)              # -> (N, num_classes)


class GoogLeNet(nn.Module):
    """The 22-layer network, named as torchvision's (``conv1.conv.weight``,
    ``inception3a.branch2.1.bn.running_mean``, ``aux1.fc2.bias``, ``fc.weight``).

    ``paper=True`` builds the 2014 network (module docstring); ``cifar=True`` a 3x3
    stride-1 stem without the first max pool, so a 32x32 image reaches (3a) at 16x16,
    (4a) at 8x8 and (5a) at 4x4.
    """

    def __init__(self, num_classes=1000, aux_logits=False, transform_input=False,
                 paper=False, cifar=False, dropout=None, dropout_aux=0.7, init_weights=True,
                 fuse=True):
        super().__init__()
        bn = not paper
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.paper = paper
        if dropout is None:
            dropout = 0.4 if paper else 0.2
        if cifar:
            self.conv1 = BasicConv2d(3, 64, bn, kernel_size=3, padding=1)
            self.maxpool1 = nn.Identity()
        else:
            self.conv1 = BasicConv2d(3, 64, bn, kernel_size=7, stride=2, padding=3)
            self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        # the paper normalises (LRN, as Caffe's replication: size 5, alpha 1e-4, beta 0.75)
        # after the first pool and after conv3; BN makes that unnecessary
        self.lrn1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75) if paper else nn.Identity()
        self.conv2 = BasicConv2d(64, 64, bn, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, bn, kernel_size=3, padding=1)
        self.lrn2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75) if paper else nn.Identity()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        rows = {name: row for name, *row in inception_table}

        def inception(name):
            return Inception(*rows[name], batch_norm=bn, kernel5x5=5 if paper else 3)

        self.inception3a = inception("inception3a")
        self.inception3b = inception("inception3b")
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = inception("inception4a")
        self.inception4b = inception("inception4b")
        self.inception4c = inception("inception4c")
        self.inception4d = inception("inception4d")
        self.inception4e = inception("inception4e")
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = inception("inception5a")
        self.inception5b = inception("inception5b")
        if aux_logits:
            # the paper's 5x5/3 pool needs the 14x14 map of a 224x224 input
            pool = nn.AvgPool2d(5, stride=3) if paper and not cifar else None
            self.aux1 = InceptionAux(512, num_classes, bn, pool, dropout_aux)   # on (4a)
            self.aux2 = InceptionAux(528, num_classes, bn, pool, dropout_aux)   # on (4d)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            self._initialize_weights()
        if fuse:                       # every BasicConv2d's BatchNorm -> ReLU as one op
            nn.utils.fuse_batchnorm_relu(self)

    def _initialize_weights(self):
        """torchvision: weights ~ N(0, 0.01) truncated to [-2, 2], BN scale 1, shift 0.
        Paper version (no BN, so the scale matters): Caffe's "xavier" filler used by the
        BVLC replication, U(-sqrt(3/fan_in), sqrt(3/fan_in)) (variance 1/fan_in), and
        biases 0.2; the paper itself does not give its initialisation."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if self.paper:
                    init.kaiming_uniform_(m.weight, nonlinearity="linear")
                    init.constant_(m.bias, 0.2)
                else:
                    init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                    if m.bias is not None:
                        init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)

    def _transform_input(self, x):
        shape = (1, 3, 1, 1)
        scale = (_IMAGENET_STD / 0.5).reshape(shape).astype(x.dtype)
        shift = ((_IMAGENET_MEAN - 0.5) / 0.5).reshape(shape).astype(x.dtype)
        xp = x.xp
        return x * Tensor(xp.asarray(scale)) + Tensor(xp.asarray(shift))

    def forward(self, x):
        if self.transform_input:
            x = self._transform_input(x)
        x = self.conv1(x)       # (N, 3, 224, 224) -> (N, 64, 112, 112)
        x = self.maxpool1(x)    # -> (N, 64, 56, 56)
        x = self.lrn1(x)
        x = self.conv2(x)       # -> (N, 64, 56, 56)
        x = self.conv3(x)       # -> (N, 192, 56, 56)
        x = self.lrn2(x)
        x = self.maxpool2(x)    # -> (N, 192, 28, 28)
        x = self.inception3a(x)  # -> (N, 256, 28, 28)
        x = self.inception3b(x)  # -> (N, 480, 28, 28)
        x = self.maxpool3(x)    # -> (N, 480, 14, 14)
        x = self.inception4a(x)  # -> (N, 512, 14, 14)
        aux1 = self.aux1(x) if self.aux_logits and self.training else None
        x = self.inception4b(x)  # -> (N, 512, 14, 14)
        x = self.inception4c(x)  # -> (N, 512, 14, 14)
        x = self.inception4d(x)  # -> (N, 528, 14, 14)
        aux2 = self.aux2(x) if self.aux_logits and self.training else None
        x = self.inception4e(x)  # -> (N, 832, 14, 14)
        x = self.maxpool4(x)    # -> (N, 832, 7, 7)
        x = self.inception5a(x)  # -> (N, 832, 7, 7)
        x = self.inception5b(x)  # -> (N, 1024, 7, 7)
        x = self.avgpool(x)     # -> (N, 1024, 1, 1): the paper's 7x7 average pool
        x = F.flatten(x, 1)     # -> (N, 1024)
        x = self.dropout(x)
        x = self.fc(x)          # -> (N, num_classes)
        if self.aux_logits and self.training:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x

    def adapt_torch_state_dict(self, state):
        """Called by ``io.load_torch_weights``: torchvision's released GoogLeNet weights
        carry the auxiliary heads; a model built without them drops those keys (as
        torchvision does when it loads them with ``aux_logits=False``)."""
        if self.aux_logits:
            return state
        return {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2."))}


def loss_with_aux(outputs, target, aux_weight=0.3):
    """The paper's training loss: CE(logits) + 0.3 * (CE(aux1) + CE(aux2)).

    ``outputs`` is what the model returned: ``GoogLeNetOutputs`` in training with
    auxiliary heads, or plain logits (then this is just the cross-entropy)."""
    if not isinstance(outputs, GoogLeNetOutputs):
        return F.cross_entropy(outputs, target)
    loss = F.cross_entropy(outputs.logits, target)
    aux = F.cross_entropy(outputs.aux_logits1, target) + F.cross_entropy(outputs.aux_logits2,
                                                                          target)
    return loss + aux_weight * aux


def googlenet(num_classes=1000, aux_logits=None, transform_input=False, paper=False,
              cifar=False, **kwargs):
    """GoogLeNet. Default: torchvision's layout without the auxiliary heads (6,624,904
    parameters; 13,004,888 with ``aux_logits=True``).

    ``paper=True``: the 2014 network, with both auxiliary classifiers unless
    ``aux_logits=False``. ``transform_input=True`` rescales ImageNet-normalised inputs to
    [-1, 1], as torchvision's pretrained weights expect. Other keywords (dropout,
    dropout_aux, init_weights, fuse) go to ``GoogLeNet``.
    """
    if aux_logits is None:
        aux_logits = paper
    return GoogLeNet(num_classes=num_classes, aux_logits=aux_logits,
                     transform_input=transform_input, paper=paper, cifar=cifar, **kwargs)


def googlenet_paper(num_classes=1000, aux_logits=True, cifar=False, **kwargs):
    """``googlenet(paper=True)``: the 2014 network with its two auxiliary classifiers
    (13,378,280 parameters; 6,998,552 without them, in the network kept for inference.
    The "params" column of the paper's Table 1 adds up to about 6.8M: its rounded per-row
    figures do not all match the rows' own filter counts)."""
    return googlenet(num_classes=num_classes, aux_logits=aux_logits, paper=True, cifar=cifar,
                     **kwargs)


BUILDERS = {"googlenet": googlenet, "googlenet_paper": googlenet_paper}
