"""Train DenseNet-BC (k=12, L=100) on CIFAR-10 as Huang et al. 2017 did.

The paper: 300 epochs, batch 64, lr 0.1 divided by 10 at 50% and 75% of the run, weight
decay 1e-4, Nesterov momentum 0.9: 4.51% test error with standard augmentation."""
from cifar_common import parse, run

args = parse(__doc__.split("\n")[0], ["densenet_bc_100_12"], "densenet_bc_100_12", epochs=300, lr=0.1, weight_decay=1e-4, batch_size=64, nesterov=True)
run(args, milestones=[0.5, 0.75], model_kwargs=None)
