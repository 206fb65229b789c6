"""The degradation problem, shown by training: a deeper plain network ends at a higher
*training* error than a shallower one, and the same networks with shortcut
connections do not.

The claim (He, Zhang, Ren & Sun 2016, "Deep Residual Learning for Image Recognition",
Section 4.2 and Figure 6; Section 1 and Figure 1): on CIFAR-10, plain networks of 20,
32, 44 and 56 layers have higher training error the deeper they are -- not
overfitting: the deeper net is worse on the training set itself -- while ResNets with
the same layers plus identity shortcuts get better with depth. The paper argues this
is an optimisation difficulty, not vanishing gradients: every conv is followed by
BatchNorm, which keeps the signals' norms healthy (Section 4.1).

This script and chapter 6 of the course (notebooks/06_resnet.ipynb) share this code:
the notebook imports it, so the claim and its numbers live here only.

The experiment, scaled to a few minutes on a 2-core CPU:
  * data: the 1,797 handwritten digits of scikit-learn (UCI optdigits, 8x8, one
    channel), 1,500 of them as the training set whose error is measured;
  * networks: the paper's CIFAR architecture (Section 4.2: a 3x3 conv, three stages of
    2n 3x3 convs with BN and ReLU, stride 2 between stages, global average pooling, a
    linear layer; depth 6n + 2; option-A shortcuts, which add no parameters, so a plain
    net and its ResNet have the same weights) at widths 8/16/32 instead of 16/32/64, on
    8x8 maps (8, 4, 2) instead of 32, 16, 8; depths 8, 20 and 32 (the paper: 20, 32,
    44, 56, and 110);
  * training: the paper's recipe -- SGD, momentum 0.9, weight decay 1e-4, learning rate
    0.1 divided by 10 at 50% and 75% of the run, He initialisation, BN after every
    conv -- but for 400 steps of batch 64 (17 epochs of the 1,500 digits) instead of 64k
    steps of batch 128, and without the paper's crops and flips;
  * measured: the training error of the whole training set (eval mode) every 20 steps,
    for several seeds; the plain and the residual net of one depth and seed start from
    the same random weights.
The deeper plain nets end clearly higher; the residual nets of all three depths end at
(or within a few digits of) zero. Chapter 6's committed output and notebooks/README.md
give the numbers per seed.

    python examples/demo_resnet_degradation.py [--quick] [--seeds 0 1 2] [--out runs/demos]

--quick trains depths 8 and 32 for one seed (about a minute). For the paper-scale run
(CIFAR-10, hours on a CPU) use examples/train_resnet_cifar.py with --model plain20,
plain56, resnet20, resnet56.
"""
import argparse
import os
import time

# Small networks: one thread runs them several times faster than two that wait on each
# other (a plain-20 step at 8x8: 60 ms on one thread, 200-900 ms on two on a busy machine).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import minitorch_cnn as mt  # noqa: E402
from minitorch_cnn import functional as F  # noqa: E402
from minitorch_cnn import nn, optim  # noqa: E402
from minitorch_cnn.models.resnet import BasicBlock, PlainBlock, ResNet  # noqa: E402

# ----------------------------------------------------------------------------- config
CONFIG = dict(depths=(8, 20, 32), seeds=(0, 1, 2), width=8, train_images=1500,
              steps=400, batch=64, lr=0.1, momentum=0.9, weight_decay=1e-4,
              milestones=(0.5, 0.75), eval_every=20)
QUICK = dict(CONFIG, depths=(8, 32), seeds=(0,), eval_every=100)   # same nets, fewer evals

# He et al. 2016: Table 6, CIFAR-10 test error (%) of the ResNets (the plain nets' are in
# Fig. 6 only, as curves); Table 2, ImageNet top-1 validation error (%, 10-crop) of the
# plain and residual nets of 18 and 34 layers, the paper's headline pair.
PAPER_CIFAR_RESNET_TEST_ERROR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}
PAPER_IMAGENET_TOP1_ERROR = {("plain", 18): 27.94, ("plain", 34): 28.54,
                             ("resnet", 18): 27.88, ("resnet", 34): 25.03}
KINDS = ("plain", "resnet")


# ------------------------------------------------------------------------------- data
def digits_8x8(n_train=1500, seed=0):
    """scikit-learn's 8x8 digits, (N, 1, 8, 8) float32 normalised to mean 0 and std 1,
    and their labels; a seeded shuffle, the first ``n_train`` kept."""
    from sklearn.datasets import load_digits
    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))[:n_train]
    x = (d.images[order] / 16.0).astype(np.float32)[:, None]
    x = (x - x.mean()) / x.std()
    return x.astype(np.float32), d.target[order].astype(np.int64)


# ----------------------------------------------------------------------------- models
def build(kind, depth, width=8, in_channels=1, seed=0):
    """The paper's CIFAR network (depth 6n + 2) at ``width``/2w/4w channels: "plain"
    (PlainBlock, no shortcuts) or "resnet" (BasicBlock, option-A identity shortcuts).
    The same seed gives a plain net and a ResNet the same initial weights."""
    if (depth - 2) % 6:
        raise ValueError(f"build: depth must be 6n + 2 (8, 14, 20, 26, 32, ...), got {depth}")
    if kind not in KINDS:
        raise ValueError(f"build: kind must be one of {KINDS}, got {kind!r}")
    n = (depth - 2) // 6
    mt.manual_seed(seed)
    model = ResNet(PlainBlock if kind == "plain" else BasicBlock, [n, n, n], num_classes=10,
                   planes=(width, 2 * width, 4 * width), stem="cifar", shortcut="A")
    model.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)   # one grey channel
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def error_rate(model, x, y, batch=500):
    """Fraction of (x, y) misclassified, in eval mode (BN's running statistics)."""
    model.eval()
    wrong = 0
    with mt.no_grad():
        for i in range(0, len(x), batch):
            wrong += int((model(mt.tensor(x[i:i + batch])).numpy().argmax(1)
                          != y[i:i + batch]).sum())
    model.train()
    return wrong / len(x)


def train(kind, depth, seed, x, y, cfg=CONFIG):
    """Train one net with the config's recipe; returns its history: the steps at which
    the whole training set was evaluated, the training error there (%), the final
    training error (%), the seconds taken."""
    model = build(kind, depth, cfg["width"], x.shape[1], seed)
    opt = optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                    weight_decay=cfg["weight_decay"])
    steps = cfg["steps"]
    milestones = [int(m * steps) for m in cfg["milestones"]]
    sched = optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)   # stepped per step
    rng = np.random.default_rng(seed)
    order, hist = np.empty(0, np.int64), {"step": [0], "train_error": [100 * error_rate(model, x, y)]}
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        if len(order) < cfg["batch"]:                           # a new epoch: reshuffle
            order = np.concatenate([order, rng.permutation(len(x))])
        idx, order = order[:cfg["batch"]], order[cfg["batch"]:]
        loss = F.cross_entropy(model(mt.tensor(x[idx])), mt.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % cfg["eval_every"] == 0 or step == steps:
            hist["step"].append(step)
            hist["train_error"].append(100 * error_rate(model, x, y))
    hist["final"] = hist["train_error"][-1]
    hist["seconds"] = time.perf_counter() - t0
    return hist


def run(cfg=CONFIG, log=print):
    """Train every (kind, depth, seed) of the config on the digits; returns
    {(kind, depth): [history per seed]} and the number of training images."""
    x, y = digits_8x8(cfg["train_images"])
    results = {}
    for seed in cfg["seeds"]:
        for depth in cfg["depths"]:
            for kind in KINDS:
                h = train(kind, depth, seed, x, y, cfg)
                results.setdefault((kind, depth), []).append(h)
                if log:
                    log(f"seed {seed}  {kind}-{depth:<3d} final training error "
                        f"{h['final']:5.2f}%  ({h['seconds']:.0f} s)")
    return results


# ----------------------------------------------------------------------------- report
def final_errors(results):
    """{(kind, depth): [final training error % per seed]}."""
    return {key: [h["final"] for h in hs] for key, hs in results.items()}


def claim(results):
    """The two halves of the claim, per seed and on the mean over seeds:
    plain: the deepest net's final training error exceeds the shallowest one's;
    resnet: the deepest net's is no higher than the shallowest one's."""
    final = final_errors(results)
    depths = sorted({d for _, d in final})
    lo, hi = depths[0], depths[-1]
    out = {}
    for kind, holds in (("plain", lambda deep, shallow: deep > shallow),
                        ("resnet", lambda deep, shallow: deep <= shallow)):
        per_seed = [holds(d, s) for d, s in zip(final[(kind, hi)], final[(kind, lo)])]
        out[kind] = dict(shallow=lo, deep=hi, per_seed=per_seed,
                         mean_shallow=float(np.mean(final[(kind, lo)])),
                         mean_deep=float(np.mean(final[(kind, hi)])))
    return out


def table(results, seeds):
    """The final training errors as text: one row per net, one column per seed."""
    final = final_errors(results)
    lines = [f"{'net':10} " + " ".join(f"{'seed ' + str(s):>8}" for s in seeds)
             + f" {'mean':>8}   final training error, % of the training digits"]
    for kind in KINDS:
        for depth in sorted({d for k, d in final if k == kind}):
            v = final[(kind, depth)]
            lines.append(f"{kind + '-' + str(depth):10} " + " ".join(f"{e:8.2f}" for e in v)
                         + f" {np.mean(v):8.2f}")
    c = claim(results)
    p, r = c["plain"], c["resnet"]
    lines.append(f"\nplain-{p['deep']} ends higher than plain-{p['shallow']}: "
                 f"{sum(p['per_seed'])} of {len(p['per_seed'])} seeds "
                 f"(means {p['mean_deep']:.2f}% vs {p['mean_shallow']:.2f}%)")
    lines.append(f"resnet-{r['deep']} ends no higher than resnet-{r['shallow']}: "
                 f"{sum(r['per_seed'])} of {len(r['per_seed'])} seeds "
                 f"(means {r['mean_deep']:.2f}% vs {r['mean_shallow']:.2f}%)")
    return "\n".join(lines)


def paper_table():
    """The paper's figures that sit beside ours, as text."""
    lines = ["He et al. 2016, Table 2 (ImageNet, top-1 validation error %, 10-crop):",
             f"  plain-18 {PAPER_IMAGENET_TOP1_ERROR[('plain', 18)]:.2f}   plain-34 "
             f"{PAPER_IMAGENET_TOP1_ERROR[('plain', 34)]:.2f}   (deeper: worse)",
             f"  ResNet-18 {PAPER_IMAGENET_TOP1_ERROR[('resnet', 18)]:.2f}  ResNet-34 "
             f"{PAPER_IMAGENET_TOP1_ERROR[('resnet', 34)]:.2f}   (deeper: better)",
             "He et al. 2016, Table 6 (CIFAR-10, test error % of the ResNets): "
             + ", ".join(f"ResNet-{d} {e:.2f}" for d, e in PAPER_CIFAR_RESNET_TEST_ERROR.items()),
             "He et al. 2016, Fig. 6 (CIFAR-10 training error, curves): plain-20 < plain-32 < "
             "plain-44 < plain-56 throughout training; ResNet-56 < ResNet-20 at the end"]
    return "\n".join(lines)


def plot(results, cfg=CONFIG, path=None, title=None):
    """Fig. 6 of the paper, on our scale: training error against steps, plain nets left
    and ResNets right (one colour per depth, the mean over seeds as a line, each seed
    thin), and the final training error against depth for both kinds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter
    percent = FuncFormatter(lambda v, _: f"{v:g}")          # 0, 1, 10, 100 (not 10^1)
    fig = Figure(figsize=(15, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3, width_ratios=[1, 1, 0.8])
    depths = sorted({d for _, d in results})
    colours = dict(zip(depths, ["tab:green", "tab:orange", "tab:red", "tab:purple",
                                "tab:brown"]))
    top = max(max(h["train_error"][1:]) for hs in results.values() for h in hs)
    for ax, kind in zip(axes[:2], KINDS):
        for depth in depths:
            hs = results[(kind, depth)]
            steps = hs[0]["step"]
            errs = np.array([h["train_error"] for h in hs])
            for e in errs:
                ax.plot(steps, e, color=colours[depth], lw=0.6, alpha=0.45)
            ax.plot(steps, errs.mean(axis=0), color=colours[depth], lw=2,
                    label=f"{kind}-{depth}: {errs[:, -1].mean():.2f}% at the end")
        for m in cfg["milestones"]:
            ax.axvline(m * cfg["steps"], color="0.6", ls=":", lw=1)
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(0, max(100, top) * 1.3)
        ax.yaxis.set_major_formatter(percent)
        ax.set_xlabel("training step (batch of 64 digits); dotted: learning rate / 10")
        ax.set_ylabel("training error (% of the training digits)")
        n = len(results[(kind, depths[0])])
        ax.set_title(f"{'plain nets' if kind == 'plain' else 'ResNets'}: "
                     + (f"mean of {n} seeds (thin: each seed)" if n > 1 else "one seed"))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9, loc="upper right")
    ax = axes[2]
    final = final_errors(results)
    for kind, colour, marker in (("plain", "tab:red", "o"), ("resnet", "tab:blue", "s")):
        means = [np.mean(final[(kind, d)]) for d in depths]
        ax.plot(depths, means, marker=marker, color=colour, lw=2,
                label=f"{'plain' if kind == 'plain' else 'ResNet'} (mean)")
        for d, m in zip(depths, means):
            ax.scatter([d] * len(final[(kind, d)]), final[(kind, d)], color=colour,
                       marker=marker, s=14, alpha=0.5)
            ax.annotate(f"{m:.2f}%", (d, m), xytext=(6, 6 if kind == "plain" else -12),
                        textcoords="offset points", fontsize=8, color=colour)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(0, max(100, top) * 1.3)
    ax.yaxis.set_major_formatter(percent)
    ax.set_xlim(depths[0] - 3, depths[-1] + 6)
    ax.set_xticks(depths)
    ax.set_xlabel("depth (weight layers)")
    ax.set_ylabel("final training error (%)")
    ax.set_title("final training error vs depth")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    fig.suptitle(title or "Degradation (He et al. 2016, Fig. 6) on 8x8 digits: deeper plain "
                 "nets train worse, the same depths with shortcuts do not")
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


# ----------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description="Plain vs residual nets of growing depth, trained")
    p.add_argument("--quick", action="store_true", help="depths 8 and 32, one seed")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2; quick: 0)")
    p.add_argument("--depths", type=int, nargs="+", help="depths 6n+2 (default 8 20 32)")
    p.add_argument("--steps", type=int, help=f"SGD steps per net (default {CONFIG['steps']})")
    p.add_argument("--out", default=os.path.join("runs", "demos"), help="folder for the PNG")
    args = p.parse_args(argv)
    cfg = dict(QUICK if args.quick else CONFIG)
    for key in ("seeds", "depths", "steps"):
        if getattr(args, key):
            cfg[key] = tuple(getattr(args, key)) if key != "steps" else getattr(args, key)
    print(f"{cfg['train_images']} training digits of 8x8; widths {cfg['width']}/"
          f"{2 * cfg['width']}/{4 * cfg['width']}; {cfg['steps']} steps of batch {cfg['batch']}, "
          f"lr {cfg['lr']} (/10 at {', '.join(f'{m:.0%}' for m in cfg['milestones'])}), "
          f"momentum {cfg['momentum']}, weight decay {cfg['weight_decay']}; depths "
          f"{list(cfg['depths'])}, seeds {list(cfg['seeds'])}\n")
    results = run(cfg)
    print("\n" + table(results, cfg["seeds"]))
    print("\n" + paper_table())
    path = os.path.join(args.out, "resnet_degradation.png")
    plot(results, cfg, path)
    print(f"\nplot saved to {path}")


if __name__ == "__main__":
    main()
