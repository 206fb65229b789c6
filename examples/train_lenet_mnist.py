"""Train LeNet-5 on MNIST (LeCun et al. 1998), the network where it all started.

    python examples/train_lenet_mnist.py                  # 10 epochs, about 99% test accuracy

The 28x28 digits are padded to 32x32 as in the paper, so that C1's 5x5 filters see the
strokes' ends; then C1-S2-C3-S4-C5-F6-output. SGD with momentum and a cosine schedule.
If MNIST cannot be downloaded, the script says how to fetch the four files by hand.
"""
import argparse
import time

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn import data, models, optim
from minitorch_cnn.data import transforms as T
from minitorch_cnn.train import Trainer

# examples/ is on sys.path when a script runs
from cifar_common import add_run_folder_args, check_args, fit, report_outputs

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
p.add_argument("--data-dir", default=None)
p.add_argument("--subset", type=int, default=None)
add_run_folder_args(p, default_out="runs/lenet5_mnist")
args = check_args(p, p.parse_args())

mt.manual_seed(0)
pad2 = T.Lambda(lambda img: np.pad(img, ((2, 2), (2, 2), (0, 0))))    # 28x28 -> 32x32
tf = T.Compose([pad2, T.ToTensor(), T.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
train_set = data.MNIST(args.data_dir, train=True, transform=tf)     # (1, 32, 32) after padding
val_set = data.MNIST(args.data_dir, train=False, transform=tf)
if args.subset:
    train_set = data.Subset(train_set, range(args.subset))
train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=0)
val_loader = data.DataLoader(val_set, batch_size=512)

model = models.create("lenet5", num_classes=10).to(args.device)
opt = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
t0 = time.time()
trainer = Trainer(model, opt, sched, device=args.device, out_dir=args.out,
                  overwrite=args.overwrite, title=f"lenet5 on MNIST, lr {args.lr}",
                  run_info={"model": "lenet5", "data": "mnist"})
hist = fit(trainer, train_loader, val_loader, args)
if hist and not trainer.interrupted:
    print(f"done in {time.time() - t0:.0f}s: test accuracy {hist[-1]['val_acc']:.2%}")
report_outputs(trainer)
