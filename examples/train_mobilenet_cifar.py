"""Train MobileNet V1 or V2 (CIFAR stem) on CIFAR-10.

Depthwise-separable convolutions: a 3x3 depthwise conv (one filter per channel) then a 1x1
pointwise conv, about 1/N + 1/9 of a standard 3x3 conv's multiply-adds. Cosine schedule."""
from cifar_common import parse, run

args = parse(__doc__.split("\n")[0], ["mobilenet_v2", "mobilenet_v1"], "mobilenet_v2", epochs=60, lr=0.05, weight_decay=4e-5)
run(args, milestones=None, model_kwargs={"cifar": True})
