"""Train FractalNet (Larsson et al. 2016) on CIFAR-10.

Four columns, five blocks, joined by elementwise means; local and global drop-path
regularise it. The paper: 400 epochs, lr 0.02 halved at each "half the remaining" epoch."""
from cifar_common import parse, run

args = parse(__doc__.split("\n")[0], ["fractalnet"], "fractalnet", epochs=60, lr=0.02, weight_decay=1e-4)
run(args, milestones=[0.5, 0.75, 0.875], model_kwargs=None)
