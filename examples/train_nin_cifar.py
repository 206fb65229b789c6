"""Train Network in Network (Lin et al. 2013) on CIFAR-10.

Three mlpconv blocks (a conv followed by two 1x1 convs) and global average pooling in
place of fully connected layers."""
from cifar_common import parse, run

args = parse(__doc__.split("\n")[0], ["nin"], "nin", epochs=60, lr=0.05, weight_decay=5e-4)
run(args, milestones=[0.5, 0.75], model_kwargs={"cifar": True})
