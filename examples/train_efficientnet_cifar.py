"""Train EfficientNet-B0 (CIFAR stem) on CIFAR-10.

MBConv blocks with squeeze-and-excitation and SiLU, drop-connect rising to 0.2. The paper
trained with RMSProp (TF epsilon placement) at 224+; here SGD and a cosine schedule."""
from cifar_common import parse, run

args = parse(__doc__.split("\n")[0], ["efficientnet_b0", "efficientnet_b1"], "efficientnet_b0", epochs=60, lr=0.05, weight_decay=5e-5)
run(args, milestones=None, model_kwargs={"cifar": True})
