"""The degradation problem: a deeper plain network trains worse than a shallower one,
and shortcut connections fix it.

The claim (He et al. 2016, "Deep Residual Learning for Image Recognition", Section 4.2
and Figure 6; also Section 1 and Figure 1): on CIFAR-10, plain networks of 20, 32, 44
and 56 layers have *higher training error* the deeper they are -- not overfitting, the
deeper net is worse on the training set itself -- while ResNets of the same depths and
parameters (the same layers plus identity shortcuts) get better with depth. The paper
argues that this is not caused by vanishing gradients, since every conv is followed by
BatchNorm, which keeps forward signals and backward gradients at healthy norms
(Section 4.1), but by plain deep stacks being hard to optimise.

What this script does:
  1. builds plain-20, plain-56, ResNet-20 and ResNet-56 with the zoo's builders (Section
     4.2: 3 stages of 2n 3x3 convs at 16/32/64 channels, BN after every conv, option-A
     shortcuts with no parameters, so the plain and residual nets of one depth have the
     same parameters);
  2. trains them side by side with ``train.Trainer`` on CIFAR-10 (or, when it cannot be
     had, the built-in ``data.ShapesDataset``) with the paper's recipe: SGD, momentum
     0.9, weight decay 1e-4, learning rate 0.1 divided by 10 at 50% and 75% of the run
     (the paper: at 32k and 48k of 64k iterations), 4-pixel-padded random crops and flips;
  3. measures the gradient of every weight layer on one fixed batch, at initialisation
     and after the first epoch (``analysis.plots.gradient_norms``), to show what the
     shortcuts change in the backward pass.
One plot: training (solid) and test (dashed) error per epoch, and the per-layer gradient
norms. What the gradients show (printed as a table): with BatchNorm they do not vanish
in the plain nets -- they grow towards the input, mildly in plain-20 and by three orders
of magnitude across plain-56 at initialisation, where the first conv gets about a
thousand times the gradient of the last ones (BatchNorm makes deep plain nets' gradients
explode backwards: Yang et al. 2019, "A Mean Field Theory of Batch Normalization"). No
single learning rate suits layers whose gradients differ a thousandfold: too large for
the first, too small for the last. The identity shortcuts give every layer a direct
path to the loss, and the residual nets' per-layer norms stay within a factor of about
5 (20 layers) to 15 (56 layers).

A real run (the default: 30 epochs of CIFAR-10) takes hours on a CPU; pass --device cuda
on a GPU, and --epochs 164 for the paper's 64k iterations of batch 128 (on 50k images).
--quick trains plain-20 against ResNet-20 for 4 epochs on 96 images shrunk to 16x16, and
measures plain-56 and ResNet-56's gradients at initialisation only: enough to see the
mechanics and the gradient norms, not the degradation itself, which takes a real run.

    python examples/demo_resnet_degradation.py [--quick] [--out runs/demos] [--epochs N]
"""
import argparse
import os
import sys
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minitorch_cnn as mt  # noqa: E402
from minitorch_cnn import data, models, optim  # noqa: E402
from minitorch_cnn import functional as F  # noqa: E402
from minitorch_cnn.analysis.plots import gradient_norms  # noqa: E402
from minitorch_cnn.data import transforms as T  # noqa: E402
from minitorch_cnn.train import Trainer  # noqa: E402

# ----------------------------------------------------------------------------- config
p = argparse.ArgumentParser(description="Plain vs residual nets of 20 and 56 layers")
p.add_argument("--quick", action="store_true", help="tiny run: plain20 vs resnet20, few epochs")
p.add_argument("--out", default=os.path.join("runs", "demos"), help="folder for the PNG")
p.add_argument("--epochs", type=int, default=None, help="default 30 (quick: 4)")
p.add_argument("--dataset", choices=["auto", "cifar10", "shapes"], default="auto",
               help="auto: CIFAR-10 if it can be had (quick: only if already downloaded)")
p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
p.add_argument("--subset", type=int, default=None, help="train on the first N images only")
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

QUICK = args.quick
TRAINED = ["plain20", "resnet20"] if QUICK else ["plain20", "plain56", "resnet20", "resnet56"]
PROFILED = ["plain20", "plain56", "resnet20", "resnet56"]   # gradients at init: all four
EPOCHS = args.epochs or (4 if QUICK else 30)
TRAIN_IMAGES = 96 if QUICK else args.subset           # None: the whole training set
TEST_IMAGES = 64 if QUICK else None                    # None: the whole test set
IMAGE = 16 if QUICK else 32                            # quick: images shrunk to 16x16 (4x cheaper)
BATCH = 32 if QUICK else 128
LR = 0.05 if QUICK else 0.1                            # Section 4.2: 0.1 for batch 128
MOMENTUM, WEIGHT_DECAY = 0.9, 1e-4
MILESTONES = sorted({EPOCHS // 2, (3 * EPOCHS) // 4} - {0})   # /10 at 50% and 75% of the run
PROBE = 16 if QUICK else 128                           # images of the gradient probe batch
OUT = os.path.join(args.out, "resnet_degradation")


# ------------------------------------------------------------------------------- data
def load_data():
    """(train set, test set, name): CIFAR-10 if it can be had, else the shapes."""
    norm = ([T.Resize(IMAGE)] if IMAGE != 32 else []) + [
        T.ToTensor(), T.Normalize(data.CIFAR10_MEAN, data.CIFAR10_STD)]
    augment = [] if QUICK else [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()]
    train_tf, test_tf = T.Compose(augment + norm), T.Compose(norm)
    if args.dataset in ("auto", "cifar10"):
        try:
            return (data.CIFAR10(train=True, transform=train_tf, download=not QUICK),
                    data.CIFAR10(train=False, transform=test_tf, download=not QUICK),
                    "CIFAR-10")
        except (OSError, RuntimeError) as e:
            if args.dataset == "cifar10":
                raise
            print(f"CIFAR-10 not available ({type(e).__name__}); using the built-in shapes",
                  file=sys.stderr)
    return (data.ShapesDataset(n=TRAIN_IMAGES or 10000, train=True, transform=train_tf),
            data.ShapesDataset(n=TEST_IMAGES or 2000, train=False, transform=test_tf),
            "shapes")


train_set, test_set, dataset_name = load_data()
if TRAIN_IMAGES:
    train_set = data.Subset(train_set, range(min(TRAIN_IMAGES, len(train_set))))
if TEST_IMAGES:
    test_set = data.Subset(test_set, range(min(TEST_IMAGES, len(test_set))))
train_loader = data.DataLoader(train_set, batch_size=BATCH, shuffle=True, drop_last=True,
                               seed=args.seed)
test_loader = data.DataLoader(test_set, batch_size=256)
probe_x, probe_y = next(iter(data.DataLoader(test_set, batch_size=PROBE)))
probe_x, probe_y = probe_x.to(args.device), probe_y.to(args.device)


def gradient_profile(model):
    """{weight name: ||dL/dW||} for every conv/linear layer, input side first, on the
    fixed probe batch (train mode, as in a training step; the gradients are cleared)."""
    model.train()
    model.zero_grad()
    F.cross_entropy(model(probe_x), probe_y).backward()
    norms = gradient_norms(model)
    model.zero_grad()
    return norms


def build(name):
    mt.manual_seed(args.seed)                      # same seed: same init for plain and res
    return models.create(name, num_classes=10).to(args.device)


# ------------------------------------------------------------------------------ train
print(f"{dataset_name}: {len(train_set)} training and {len(test_set)} test images of "
      f"{IMAGE}x{IMAGE}; "
      f"{EPOCHS} epochs of batch {BATCH}, lr {LR} (/10 at epochs {MILESTONES}), "
      f"momentum {MOMENTUM}, weight decay {WEIGHT_DECAY}, {args.device}\n")
histories, profiles, n_params = {}, {}, {}
for name in PROFILED:
    model = build(name)
    n_params[name] = sum(p.numel() for p in model.parameters())
    profiles[name] = {"init": gradient_profile(model)}
    if name not in TRAINED:
        continue
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    sched = optim.lr_scheduler.MultiStepLR(opt, MILESTONES, gamma=0.1)
    trainer = Trainer(model, opt, sched, device=args.device, out_dir=os.path.join(OUT, name),
                      progress=not QUICK, plot=False, overwrite=True)   # a rerun starts over
    t0 = time.time()
    print(f"--- {name} ({n_params[name]:,} parameters)")
    trainer.fit(train_loader, test_loader, epochs=1)
    profiles[name]["epoch 1"] = gradient_profile(model)
    histories[name] = trainer.fit(train_loader, test_loader, epochs=EPOCHS)
    print(f"    {time.time() - t0:.0f}s")

# ------------------------------------------------------------------------------ print
print(f"\ntraining error (test error) per epoch, %\n")
print(f"{'epoch':>5} " + " ".join(f"{n:>17}" for n in histories))
for e in range(EPOCHS):
    print(f"{e + 1:5d} " + " ".join(
        f"{100 * (1 - h[e]['train_acc']):8.1f} ({100 * (1 - h[e]['val_acc']):5.1f})"
        for h in histories.values()))
final = {n: 1 - h[-1]["train_acc"] for n, h in histories.items()}
for depth_pair in (("plain20", "plain56"), ("resnet20", "resnet56")):
    if all(n in final for n in depth_pair):
        a, b = depth_pair
        print(f"final training error {a} {100 * final[a]:.1f}% vs {b} {100 * final[b]:.1f}%: "
              f"the deeper one is {'worse' if final[b] > final[a] else 'better'}")
if "plain20" in final and "resnet20" in final:
    print(f"final training error plain20 {100 * final['plain20']:.1f}% vs resnet20 "
          f"{100 * final['resnet20']:.1f}%")


print(f"\nper-layer gradient norms ||dL/dW|| of the convs on a fixed batch of {PROBE}\n")
print(f"{'model':9} {'when':8} {'convs':>5} {'first conv':>10} {'last conv':>10} "
      f"{'first/last':>10} {'max/min':>8}")
for name, by_time in profiles.items():
    for when, norms in by_time.items():
        convs = [v for k, v in norms.items() if not k.startswith("fc.")]   # fc: not a conv
        print(f"{name:9} {when:8} {len(convs):5d} {convs[0]:10.3g} {convs[-1]:10.3g} "
              f"{convs[0] / convs[-1]:10.3g} {max(convs) / min(convs):8.3g}")

# ------------------------------------------------------------------------------- plot
colours = {"plain20": "tab:orange", "plain56": "tab:red", "resnet20": "tab:cyan",
           "resnet56": "tab:blue"}
fig, (ax_err, ax_grad) = plt.subplots(1, 2, figsize=(15, 5.5), layout="constrained")
for name, h in histories.items():
    epochs = [r["epoch"] for r in h]
    ax_err.plot(epochs, [100 * (1 - r["train_acc"]) for r in h], "-", marker="o", ms=3,
                color=colours[name], label=f"{name} train")
    ax_err.plot(epochs, [100 * (1 - r["val_acc"]) for r in h], "--", color=colours[name],
                alpha=0.7, label=f"{name} test")
ax_err.set_xlabel("epoch")
ax_err.xaxis.get_major_locator().set_params(integer=True)
ax_err.set_ylabel("error (%)")
ax_err.set_title(f"training (solid) and test (dashed) error, {dataset_name}"
                 + (" -- quick run" if QUICK else ""))
ax_err.grid(alpha=0.3)
ax_err.legend(fontsize=8)
for name, by_time in profiles.items():
    for when, norms in by_time.items():
        v = list(norms.values())
        depth = np.linspace(0, 1, len(v))              # relative depth: 20 and 56 layers align
        ax_grad.plot(depth, v, "-" if when == "init" else ":", color=colours[name],
                     marker="o" if when == "init" else None, ms=2,
                     label=f"{name}, {'at init' if when == 'init' else 'after ' + when}")
ax_grad.set_yscale("log")
ax_grad.set_xlabel("relative depth of the layer (0 = first conv, 1 = fc)")
ax_grad.set_ylabel("||dL/dW|| (log scale)")
ax_grad.set_title("per-layer gradient norms on one fixed batch")
ax_grad.grid(alpha=0.3, which="both")
ax_grad.legend(fontsize=7, ncol=2)
fig.suptitle("Degradation (He et al. 2016, Sec. 4.2, Fig. 6): deeper plain nets train worse; "
             "shortcuts fix it" + ("\nquick run: the mechanics and the gradients; the "
                                   "degradation itself needs the full run" if QUICK else ""))
os.makedirs(args.out, exist_ok=True)
path = os.path.join(args.out, "resnet_degradation.png")
fig.savefig(path, dpi=100)
print(f"\nplot saved to {path}")
