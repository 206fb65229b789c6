"""Train a CIFAR ResNet (He et al. 2015, section 4.2) or its plain twin on CIFAR-10.

The paper: SGD, momentum 0.9, weight decay 1e-4, batch 128, lr 0.1 divided by 10 at 32k
and 48k of 64k iterations (50% and 75% of the run), 4-pixel-padded 32x32 crops and flips:
ResNet-20/56/110 reach 8.75/6.97/6.43% test error. Try --model plain56 against resnet56
to see the degradation problem (or run examples/demo_resnet_degradation.py)."""
from cifar_common import parse, run

args = parse(__doc__.split("\n")[0], ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "plain20", "plain32", "plain44", "plain56", "plain110", "preact_resnet110", "preact_resnet164", "wrn16_8", "wrn28_10", "wrn40_4", "resnext29_8x64d"], "resnet20", epochs=164, lr=0.1, weight_decay=1e-4)
run(args, milestones=[0.5, 0.75], model_kwargs=None)
