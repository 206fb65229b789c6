"""What a block costs: ResNet's bottleneck vs its basic block, and MobileNet's
depthwise-separable conv vs a standard conv.

The claims:
  * He et al. 2016, "Deep Residual Learning for Image Recognition", Section 4.1
    ("Deeper Bottleneck Architectures") and Figure 5: a bottleneck block on a 256-channel
    map (1x1 to 64, 3x3 at 64, 1x1 back to 256) costs about as much as a basic block
    (two 3x3 convs) on a 64-channel map -- so the bottleneck buys a 4x wider output for
    the same price, and at the same width it is far cheaper than two 3x3 convs.
  * Howard et al. 2017, "MobileNets", Section 3.1, equation (5): a depthwise 3x3 conv
    (one filter per input channel) followed by a 1x1 pointwise conv costs, relative to a
    standard k x k conv from M to N channels,
        (k^2 M D_F^2 + M N D_F^2) / (k^2 M N D_F^2) = 1/N + 1/k^2,
    8 to 9 times fewer multiply-adds for k = 3.

What this script does: builds the blocks from the library (``models.resnet.BasicBlock``
and ``Bottleneck``; ``nn.Conv2d`` with ``groups=M`` for the depthwise conv), counts their
parameters and MACs with ``analysis.summary`` (1 multiply-add = 1 MAC; conv and linear
layers only), and compares the counted MAC ratio of each depthwise-separable pair with
1/N + 1/k^2. The ratio does not depend on the map size D_F, so --quick measures the
separable convs on a smaller map (the ResNet blocks stay at 56x56).

    python examples/demo_block_costs.py [--quick] [--out runs/demos]
"""
import argparse
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import minitorch_cnn as mt  # noqa: E402
from minitorch_cnn import analysis, nn  # noqa: E402
from minitorch_cnn.analysis.summary import format_count  # noqa: E402
from minitorch_cnn.models.resnet import BasicBlock, Bottleneck  # noqa: E402

# ----------------------------------------------------------------------------- config
p = argparse.ArgumentParser(description="Bottleneck vs basic block; separable vs standard conv")
p.add_argument("--quick", action="store_true", help="smaller maps and fewer separable convs")
p.add_argument("--out", default=os.path.join("runs", "demos"), help="folder for the PNG")
args = p.parse_args()

RESNET_MAP = 56                          # conv2_x of ResNet-50 at 224: 56x56
# name: (block, input channels, block's 'planes'), the paper's Fig. 5 pair, then the
# basic block at the bottleneck's width
BLOCKS = {
    "basic, 64-d (Fig. 5 left)": (BasicBlock, 64, 64),
    "bottleneck, 256-d (Fig. 5 right)": (Bottleneck, 256, 64),
    "basic, 256-d (same width)": (BasicBlock, 256, 256),
}
SEPARABLE_MAP = 7 if args.quick else 14
CHANNELS = [8, 32, 128, 512] if args.quick else [8, 16, 32, 64, 128, 256, 512, 1024]
KERNELS = [3, 5] if args.quick else [3, 5, 7]
mt.manual_seed(0)


def kernel(conv):
    k = conv.kernel_size
    return k if isinstance(k, int) else k[0]


def conv_weights(module):
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def separable(m, n, k):
    """Depthwise k x k (groups = M: one filter per channel) then pointwise 1x1, M -> N."""
    return nn.Sequential(nn.Conv2d(m, m, k, padding=k // 2, groups=m, bias=False),
                         nn.Conv2d(m, n, 1, bias=False))


# ------------------------------------------------------- 1. basic vs bottleneck block
print(f"ResNet blocks on a {RESNET_MAP}x{RESNET_MAP} map (He et al. 2016, Fig. 5), stride 1, "
      f"identity shortcut\n")
blocks = {}
for name, (cls, c_in, planes) in BLOCKS.items():
    block = cls(c_in, planes)
    s = analysis.summary(block, (c_in, RESNET_MAP, RESNET_MAP))
    layers = [f"{kernel(m)}x{kernel(m)}-{m.out_channels}"
              for m in block.modules() if isinstance(m, nn.Conv2d)]
    blocks[name] = dict(c_in=c_in, c_out=planes * cls.expansion, layers=", ".join(layers),
                        weights=conv_weights(block), params=s.total_params, macs=s.total_macs)
print(f"{'block':34} {'convs':22} {'in->out':>10} {'conv weights':>13} {'params+BN':>10} "
      f"{'MACs':>8}")
for name, b in blocks.items():
    print(f"{name:34} {b['layers']:22} {str(b['c_in']) + '->' + str(b['c_out']):>10} "
          f"{b['weights']:13,d} {b['params']:10,d} {format_count(b['macs']):>8}")
basic64, bottle, basic256 = blocks.values()
print(f"\nbottleneck on 256 channels vs basic block on 64: {bottle['macs'] / basic64['macs']:.2f}x "
      f"the MACs and {bottle['weights'] / basic64['weights']:.2f}x the weights, for a 4x wider "
      f"output (the paper: 'similar time complexity')")
print(f"at the same 256-channel width the basic block needs "
      f"{basic256['macs'] / bottle['macs']:.1f}x the MACs and "
      f"{basic256['weights'] / bottle['weights']:.1f}x the weights of the bottleneck")

# --------------------------------------------- 2. depthwise-separable vs standard conv
print(f"\ndepthwise-separable vs standard conv, M = N channels, {SEPARABLE_MAP}x{SEPARABLE_MAP} "
      f"map (Howard et al. 2017, eq. 5: ratio = 1/N + 1/k^2)\n")
print(f"{'k':>2} {'M = N':>6} {'standard MACs':>14} {'separable MACs':>15} "
      f"{'counted ratio':>14} {'1/N + 1/k^2':>12} {'saving':>7}")
ratios = {}
for k in KERNELS:
    for n in CHANNELS:
        size = (n, SEPARABLE_MAP, SEPARABLE_MAP)
        standard = analysis.summary(nn.Conv2d(n, n, k, padding=k // 2, bias=False),
                                    size).total_macs
        sep = analysis.summary(separable(n, n, k), size).total_macs
        formula = 1 / n + 1 / k ** 2
        ratios[(k, n)] = (sep / standard, formula)
        print(f"{k:2d} {n:6d} {format_count(standard):>14} {format_count(sep):>15} "
              f"{sep / standard:14.5f} {formula:12.5f} {standard / sep:6.1f}x")
worst = max(abs(c - f) for c, f in ratios.values())
print(f"\nlargest difference between counted ratio and formula: {worst:.2e}")

# ------------------------------------------------------------------------------- plot
fig, (ax_blk, ax_sep) = plt.subplots(1, 2, figsize=(14, 5.5), layout="constrained")
names = list(blocks)
xs = range(len(names))
w = 0.38
ax_blk.bar([x - w / 2 for x in xs], [blocks[n]["weights"] / 1e3 for n in names], w,
           label="conv weights (thousands)")
ax_blk.bar([x + w / 2 for x in xs], [blocks[n]["macs"] / 1e6 for n in names], w,
           label=f"MACs at {RESNET_MAP}x{RESNET_MAP} (millions)")
for x, n in zip(xs, names):
    ax_blk.annotate(f"{blocks[n]['weights'] / 1e3:.1f}K", (x - w / 2, blocks[n]["weights"] / 1e3),
                    ha="center", va="bottom", fontsize=8)
    ax_blk.annotate(f"{blocks[n]['macs'] / 1e6:.0f}M", (x + w / 2, blocks[n]["macs"] / 1e6),
                    ha="center", va="bottom", fontsize=8)
ax_blk.set_xticks(list(xs))
ax_blk.set_xticklabels([f"{n}\n{blocks[n]['layers']}" for n in names], fontsize=8)
ax_blk.set_yscale("log")
ax_blk.set_title("ResNet blocks: the bottleneck costs what a 4x narrower basic block costs")
ax_blk.legend(fontsize=8, loc="upper left")
ns = sorted({n for _, n in ratios})
dense = [2 ** (e / 8) for e in range(8 * 3, 8 * 10 + 1)]            # N from 8 to 1024
for k in KERNELS:
    line, = ax_sep.plot(dense, [1 / n + 1 / k ** 2 for n in dense],
                        label=f"1/N + 1/{k}^2 (k = {k})")
    ax_sep.scatter(ns, [ratios[(k, n)][0] for n in ns], color=line.get_color(), zorder=3,
                   marker="o", facecolors="none", s=60)
    ax_sep.axhline(1 / k ** 2, color=line.get_color(), ls=":", lw=1)
ax_sep.scatter([], [], marker="o", facecolors="none", edgecolors="k", label="counted MACs ratio")
ax_sep.set_xscale("log", base=2)
ax_sep.set_yscale("log")
ax_sep.set_xlabel("output channels N (= input channels M)")
ax_sep.set_ylabel("separable MACs / standard MACs")
ax_sep.set_title("depthwise-separable conv: cost ratio -> 1/k^2 (dotted) as N grows")
ax_sep.grid(alpha=0.3, which="both")
ax_sep.legend(fontsize=8)
os.makedirs(args.out, exist_ok=True)
path = os.path.join(args.out, "block_costs.png")
fig.savefig(path, dpi=100)
print(f"\nplot saved to {path}")
