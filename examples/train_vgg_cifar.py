"""Train VGG on CIFAR-10 the way Simonyan & Zisserman trained it on ImageNet, scaled down.

    python examples/train_vgg_cifar.py                       # VGG-11-BN, CIFAR-10, 30 epochs
    python examples/train_vgg_cifar.py --dataset shapes --epochs 3 --subset 2000   # quick look

What the paper did, and what this script does at 32x32:
- mini-batch SGD, momentum 0.9, weight decay 5e-4, dropout 0.5 in the classifier;
- the learning rate divided by 10 when validation accuracy stops improving
  (ReduceLROnPlateau on val accuracy; --schedule cosine for a fixed-length run);
- augmentation: random crops and horizontal flips; with --scale-jitter the paper's scale
  jittering (short side S drawn from [S_min, S_max], then a fixed-size crop);
- --init-from: the paper trained the shallow net A first and started the deeper ones from
  its first four conv layers and three FC layers (section 3.1).
Outputs (checkpoint, metrics.csv/json, curves.png, and model.npz at the end) go to --out,
by default runs/<model>_<data actually trained on>. Continue an interrupted run with
--resume; a folder that already holds a run is refused unless --resume or --overwrite.
"""
import argparse
import os
import sys
import time

import minitorch_cnn as mt
from minitorch_cnn import data, models, optim
from minitorch_cnn.data import transforms as T
from minitorch_cnn.train import RunFolderError, Trainer

# --------------------------------------------------------------------- config
p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--model", default="vgg11_bn",
               choices=["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn",
                        "vgg19", "vgg19_bn"])
p.add_argument("--epochs", type=int, default=30)
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--momentum", type=float, default=0.9)
p.add_argument("--weight-decay", type=float, default=5e-4)
p.add_argument("--schedule", choices=["plateau", "cosine"], default="cosine")
p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
p.add_argument("--dataset", choices=["cifar10", "shapes"], default="cifar10")
p.add_argument("--data-dir", default=None, help="default: $MINITORCH_CNN_DATA or "
                                               "~/.cache/minitorch_cnn")
p.add_argument("--subset", type=int, default=None, help="train on the first N images only")
p.add_argument("--scale-jitter", type=int, nargs=2, metavar=("S_MIN", "S_MAX"), default=None,
               help="the paper's scale jittering, e.g. 32 48 (then 32x32 crops)")
p.add_argument("--init-from", default=None,
               help="checkpoint of a trained vgg11 (A) to initialise a deeper VGG from")
p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
               help="continue the run in --out from its checkpoint.npz (or from the "
                    "checkpoint file given)")
p.add_argument("--overwrite", action="store_true",
               help="start over in an --out folder that already holds a run")
p.add_argument("--out", default=None,
               help="output folder (default runs/<model>_<data actually trained on>)")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--workers-prefetch", type=int, default=2, help="batches prepared ahead")
p.add_argument("--no-progress", action="store_true")
args = p.parse_args()
for name in ("epochs", "batch_size", "subset"):
    value = getattr(args, name)
    if value is not None and value < 1:
        p.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
if args.lr <= 0:
    p.error(f"--lr must be positive, got {args.lr}")
if args.resume and args.overwrite:
    p.error("--resume continues the run in --out and --overwrite starts it over: choose one")

mt.manual_seed(args.seed)

# ----------------------------------------------------------------------- data
MEAN, STD = data.CIFAR10_MEAN, data.CIFAR10_STD          # per-channel statistics
crop = (T.ScaleJitter(args.scale_jitter[0], args.scale_jitter[1], 32) if args.scale_jitter
        else T.RandomCrop(32, padding=4))
train_tf = T.Compose([crop, T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
test_tf = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])

dataset = args.dataset
if dataset == "cifar10":
    try:
        train_set = data.CIFAR10(args.data_dir, train=True, download=True, transform=train_tf)
        val_set = data.CIFAR10(args.data_dir, train=False, download=True, transform=test_tf)
    except (OSError, RuntimeError) as e:
        bar = "!" * 78
        print(f"{bar}\n!! CIFAR-10 could not be had: {e}\n!! Falling back to the built-in "
              f"'shapes' dataset (procedural 10-class 32x32 images).\n{bar}", file=sys.stderr)
        dataset = "shapes"
if dataset == "shapes":
    train_set = data.ShapesDataset(n=10000, train=True, transform=train_tf)
    val_set = data.ShapesDataset(n=2000, train=False, transform=test_tf)
if args.subset:
    train_set = data.Subset(train_set, range(min(args.subset, len(train_set))))
# named after the data it really trains on: a fallback run on the shapes never lands
# in a CIFAR-10 folder, where a later --resume would continue it
out_dir = args.out or os.path.join("runs", f"{args.model}_{dataset}")

train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                               drop_last=True, seed=args.seed, prefetch=args.workers_prefetch)
val_loader = data.DataLoader(val_set, batch_size=256, prefetch=args.workers_prefetch)

# ---------------------------------------------------------------------- model
model = models.create(args.model, num_classes=10, cifar=True)
if args.init_from:
    from minitorch_cnn.models.vgg import init_from_shallower
    try:
        state = mt.io.load(args.init_from)             # a trained vgg11 or vgg11_bn (A)
    except (OSError, ValueError) as e:
        sys.exit(f"error: --init-from: {e}")
    a_name = "vgg11_bn" if any(k.endswith("running_mean") for k in state) else "vgg11"
    shallow = models.create(a_name, num_classes=10, cifar=True)
    shallow.load_state_dict(state)
    copied = init_from_shallower(model, shallow)
    print(f"initialised {len(copied)} tensors of {args.model} from {a_name} "
          f"({args.init_from}): conv1_1, conv2_1, conv3_1, conv3_2 and the classifier")
model.to(args.device)
n_params = sum(p.numel() for p in model.parameters())
print(f"{args.model} (CIFAR) with {n_params:,} parameters on {args.device}; "
      f"{len(train_set)} training images of '{dataset}'")

optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                      weight_decay=args.weight_decay)
if args.schedule == "plateau":   # the paper: divide by 10 when val accuracy stalls
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.1,
                                                     patience=3)
else:
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

# ---------------------------------------------------------------------- train
trainer = Trainer(model, optimizer, scheduler, device=args.device, out_dir=out_dir,
                  progress=not args.no_progress, overwrite=args.overwrite,
                  title=f"{args.model} on {dataset}, lr {args.lr}",
                  run_info={"model": args.model, "data": dataset})
t0 = time.time()
try:
    history = trainer.fit(train_loader, val_loader, epochs=args.epochs, resume=args.resume)
except RunFolderError as e:          # a folder that holds another run, a damaged checkpoint...
    sys.exit(f"error: {e}")
if history and not trainer.interrupted:
    best = max(r["val_acc"] for r in history)
    print(f"done in {time.time() - t0:.0f}s: best validation accuracy {best:.2%} "
          f"(last {history[-1]['val_acc']:.2%})")
    mt.io.save(model, os.path.join(out_dir, "model.npz"))    # the trained weights alone
files = trainer.outputs()                                    # only what really exists
print(f"outputs in {os.path.abspath(out_dir)}: {', '.join(files)}" if files else
      f"nothing written in {os.path.abspath(out_dir)}")
