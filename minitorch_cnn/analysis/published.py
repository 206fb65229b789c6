"""Published ImageNet figures for the model zoo's builders, with their sources.

Each entry: top-1 accuracy (%) on the ImageNet-1K validation set (single 224x224 centre
crop unless noted), multiply-accumulates in G (torchvision calls them "GFLOPS"; one
multiply-add counts once) and the parameter count.

Sources
    torchvision: the model documentation pages of torchvision
    (https://pytorch.org/vision/stable/models.html, one page per builder, e.g.
    .../models/generated/torchvision.models.vgg16.html), weights ``IMAGENET1K_V1``:
    "acc@1", "GFLOPS" and "num_params". V1 weights are the ones trained with the simple
    recipe that reproduces each paper; the later V2 weights (new training recipe) are
    several points better and would blur the architecture comparison.
    Papers, for builders torchvision does not have:
      mobilenet_v1  Howard et al. 2017, "MobileNets", Table 8: 1.0 MobileNet-224,
                    70.6% top-1, 569 million mult-adds, 4.2 million parameters.
      zfnet         Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional
                    Networks", Table 2: one convnet as in their Fig. 3, 38.4% top-1
                    validation error (so 61.6% top-1). The paper gives no operation count;
                    MACs and parameters are measured with ``summary``.
      vgg11_lrn, vgg16_c
                    Simonyan & Zisserman 2015, "Very Deep Convolutional Networks", Table 3
                    (single test scale, trained and tested at S = 256): A-LRN 29.7% and C
                    28.1% top-1 error. MACs and parameters are measured with ``summary``.
    Not plotted: ``lenet5`` is an MNIST network (LeCun et al. 1998 report 0.95% test
    error for LeNet-5 without distortions, below); ``nin`` reports no ImageNet result in
    its paper (Lin et al. 2014 evaluate on CIFAR-10/100, SVHN and MNIST).
"""

__all__ = ["Published", "IMAGENET", "MNIST_TEST_ERROR"]


class Published:
    """One model's published figures; ``gmacs``/``params`` are None where the source
    gives none (they are then measured)."""

    __slots__ = ("top1", "gmacs", "params", "source")

    def __init__(self, top1, gmacs, params, source):
        self.top1, self.gmacs, self.params, self.source = top1, gmacs, params, source

    def __repr__(self):
        return (f"Published(top1={self.top1}, gmacs={self.gmacs}, params={self.params}, "
                f"source={self.source!r})")


_TV = "torchvision IMAGENET1K_V1"

IMAGENET = {
    # name: Published(top-1 %, GMACs, parameters, source)
    "alexnet": Published(56.522, 0.71, 61_100_840, _TV),
    "vgg11": Published(69.020, 7.61, 132_863_336, _TV),
    "vgg11_bn": Published(70.370, 7.61, 132_868_840, _TV),
    "vgg13": Published(69.928, 11.31, 133_047_848, _TV),
    "vgg13_bn": Published(71.586, 11.31, 133_053_736, _TV),
    "vgg16": Published(71.592, 15.47, 138_357_544, _TV),
    "vgg16_bn": Published(73.360, 15.47, 138_365_992, _TV),
    "vgg19": Published(72.376, 19.63, 143_667_240, _TV),
    "vgg19_bn": Published(74.218, 19.63, 143_678_248, _TV),
    "googlenet": Published(69.778, 1.50, 6_624_904, _TV),
    "resnet18": Published(69.758, 1.81, 11_689_512, _TV),
    "resnet34": Published(73.314, 3.66, 21_797_672, _TV),
    "resnet50": Published(76.130, 4.09, 25_557_032, _TV),
    "resnet101": Published(77.374, 7.80, 44_549_160, _TV),
    "resnet152": Published(78.312, 11.51, 60_192_808, _TV),
    "wide_resnet50_2": Published(78.468, 11.40, 68_883_240, _TV),
    "wide_resnet101_2": Published(78.848, 22.75, 126_886_696, _TV),
    "resnext50_32x4d": Published(77.618, 4.23, 25_028_904, _TV),
    "resnext101_32x8d": Published(79.312, 16.41, 88_791_336, _TV),
    "densenet121": Published(74.434, 2.83, 7_978_856, _TV),
    "densenet161": Published(77.138, 7.73, 28_681_000, _TV),
    "densenet169": Published(75.600, 3.36, 14_149_480, _TV),
    "densenet201": Published(76.896, 4.29, 20_013_928, _TV),
    "mobilenet_v2": Published(71.878, 0.30, 3_504_872, _TV),
    "efficientnet_b0": Published(77.692, 0.39, 5_288_548, _TV),
    "efficientnet_b1": Published(78.642, 0.69, 7_794_184, _TV),
    "efficientnet_b2": Published(80.608, 1.09, 9_109_994, _TV),
    "efficientnet_b3": Published(82.008, 1.83, 12_233_232, _TV),
    "efficientnet_b4": Published(83.384, 4.39, 19_341_616, _TV),
    "efficientnet_b5": Published(83.444, 10.27, 30_389_784, _TV),
    "efficientnet_b6": Published(84.008, 19.07, 43_040_704, _TV),
    "efficientnet_b7": Published(84.122, 37.75, 66_347_960, _TV),
    "mobilenet_v1": Published(70.6, 0.569, 4_200_000, "Howard et al. 2017, Table 8"),
    "zfnet": Published(61.6, None, None, "Zeiler & Fergus 2014, Table 2 (38.4% error)"),
    "vgg11_lrn": Published(70.3, None, None, "Simonyan & Zisserman 2015, Table 3 (A-LRN, "
                                             "29.7% error)"),
    "vgg16_c": Published(71.9, None, None, "Simonyan & Zisserman 2015, Table 3 (C, 28.1% "
                                           "error)"),
}

# LeNet-5 on MNIST (LeCun, Bottou, Bengio & Haffner 1998, Fig. 9): test error in %
MNIST_TEST_ERROR = {"lenet5": 0.95}
