"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998, "Gradient-based learning applied to
document recognition"), the network that started it all.

    input 1x32x32 -> C1 conv 5x5, 6 maps  -> 6x28x28
                  -> S2 2x2 subsampling   -> 6x14x14
                  -> C3 conv 5x5, 16 maps -> 16x10x10
                  -> S4 2x2 subsampling   -> 16x5x5
                  -> C5 conv 5x5, 120 maps -> 120x1x1
                  -> F6 full, 84 units
                  -> output, 10 classes

Kept from the paper: the layer sizes, tanh squashing, average subsampling, C5 as a
convolution (on a 5x5 map it is a fully connected layer, but on a larger input it slides).
Simplified, as every modern re-implementation does, and why the count is 61,706 and not
the paper's 60,000:
- S2/S4 are plain 2x2 averages; the paper gave each map a trainable coefficient and bias
  (12 + 32 parameters) before a sigmoid;
- C3 is dense: every one of its 16 maps sees all 6 S2 maps (2,416 parameters), where the
  paper's connection table wired each map to only 3, 4 or 6 of them (1,516) to break
  symmetry and save compute;
- tanh instead of the scaled 1.7159 * tanh(2x/3);
- the output is a linear layer read by softmax cross-entropy instead of 10 Euclidean RBF
  units with fixed ASCII-bitmap centres (840 parameters, no bias).

MNIST digits are 28x28: pad them by 2 pixels to 32x32, as the paper did, so that stroke
end-points can reach the centre of C3's receptive fields.
"""
from .. import functional as F
from .. import nn

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet-5 with the paper's layer names (c1, s2, c3, s4, c5, f6, output)."""

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, 6, kernel_size=5)
        self.s2 = nn.AvgPool2d(kernel_size=2, stride=2)
        self.c3 = nn.Conv2d(6, 16, kernel_size=5)
        self.s4 = nn.AvgPool2d(kernel_size=2, stride=2)
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x):
        x = self.s2(F.tanh(self.c1(x)))   # (N, C, 32, 32) -> (N, 6, 28, 28) -> (N, 6, 14, 14)
        x = self.s4(F.tanh(self.c3(x)))   # -> (N, 16, 10, 10) -> (N, 16, 5, 5)
        x = F.tanh(self.c5(x))            # -> (N, 120, 1, 1)
        x = F.flatten(x, 1)               # -> (N, 120)
        x = F.tanh(self.f6(x))            # -> (N, 84)
        return self.output(x)             # -> (N, num_classes)


def lenet5(num_classes=10, cifar=False, in_channels=None):
    """LeNet-5 on 1x32x32 images (61,706 parameters with 10 classes).

    ``cifar=True`` takes 3x32x32 colour images (CIFAR is already LeNet's 32x32);
    ``in_channels`` sets the input channels directly.
    """
    if in_channels is None:
        in_channels = 3 if cifar else 1
    return LeNet5(num_classes=num_classes, in_channels=in_channels)


BUILDERS = {"lenet5": lenet5}
