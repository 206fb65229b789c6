"""Train AlexNet or ZFNet (CIFAR variants) on CIFAR-10.

The 2012 recipe: SGD, momentum 0.9, weight decay 5e-4, dropout 0.5, lr divided by 10
when the validation error stops improving (here at 50% and 75% of the run)."""
from cifar_common import parse, run

args = parse(__doc__.split("\n")[0], ["alexnet", "zfnet"], "alexnet", epochs=40, lr=0.01, weight_decay=5e-4)
run(args, milestones=[0.5, 0.75], model_kwargs={"cifar": True})
