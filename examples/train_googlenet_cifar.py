"""Train GoogLeNet (Inception v1, CIFAR stem) on CIFAR-10.

With --model googlenet the torchvision layout (BN, no auxiliary heads by default)."""
from cifar_common import parse, run

args = parse(__doc__.split("\n")[0], ["googlenet"], "googlenet", epochs=60, lr=0.05, weight_decay=5e-4)
run(args, milestones=None, model_kwargs={"cifar": True, "aux_logits": False})
