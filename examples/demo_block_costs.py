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
separable convs on a smaller map (the ResNet blocks stay at 56x56). With --time it also
times both convs on this engine (forward, one thread): counted and measured cost side by
side, as chapter 8 of the course does. Chapters 6 and 8 (notebooks/) import these
functions, so the figures live here only.

    python examples/demo_block_costs.py [--quick] [--time] [--out runs/demos]
"""
import argparse
import os
import time

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn import analysis, nn
from minitorch_cnn.analysis.summary import format_count
from minitorch_cnn.models.resnet import BasicBlock, Bottleneck

RESNET_MAP = 56                          # conv2_x of ResNet-50 at 224: 56x56
# name: (block, input channels, block's 'planes'), the paper's Fig. 5 pair, then the
# basic block at the bottleneck's width
BLOCKS = {
    "basic, 64-d (Fig. 5 left)": (BasicBlock, 64, 64),
    "bottleneck, 256-d (Fig. 5 right)": (Bottleneck, 256, 64),
    "basic, 256-d (same width)": (BasicBlock, 256, 256),
}
CHANNELS = [8, 16, 32, 64, 128, 256, 512, 1024]
KERNELS = [3, 5, 7]


def kernel(conv):
    k = conv.kernel_size
    return k if isinstance(k, int) else k[0]


def conv_weights(module):
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def separable(m, n, k):
    """Depthwise k x k (groups = M: one filter per channel) then pointwise 1x1, M -> N."""
    return nn.Sequential(nn.Conv2d(m, m, k, padding=k // 2, groups=m, bias=False),
                         nn.Conv2d(m, n, 1, bias=False))


def standard(m, n, k):
    return nn.Conv2d(m, n, k, padding=k // 2, bias=False)


# ------------------------------------------------------- 1. basic vs bottleneck block
def resnet_blocks(map_size=RESNET_MAP):
    """{block name: its convs, channels in/out, conv weights, parameters, MACs} for the
    three blocks of BLOCKS on a map_size x map_size map (stride 1, identity shortcut)."""
    mt.manual_seed(0)
    blocks = {}
    for name, (cls, c_in, planes) in BLOCKS.items():
        block = cls(c_in, planes)
        s = analysis.summary(block, (c_in, map_size, map_size))
        layers = [f"{kernel(m)}x{kernel(m)}-{m.out_channels}"
                  for m in block.modules() if isinstance(m, nn.Conv2d)]
        blocks[name] = dict(c_in=c_in, c_out=planes * cls.expansion, layers=", ".join(layers),
                            weights=conv_weights(block), params=s.total_params,
                            macs=s.total_macs)
    return blocks


def print_blocks(blocks, map_size=RESNET_MAP):
    print(f"ResNet blocks on a {map_size}x{map_size} map (He et al. 2016, Fig. 5), stride 1, "
          f"identity shortcut\n")
    print(f"{'block':34} {'convs':22} {'in->out':>10} {'conv weights':>13} {'params+BN':>10} "
          f"{'MACs':>8}")
    for name, b in blocks.items():
        print(f"{name:34} {b['layers']:22} {str(b['c_in']) + '->' + str(b['c_out']):>10} "
              f"{b['weights']:13,d} {b['params']:10,d} {format_count(b['macs']):>8}")
    basic64, bottle, basic256 = blocks.values()
    print(f"\nbottleneck on 256 channels vs basic block on 64: "
          f"{bottle['macs'] / basic64['macs']:.2f}x the MACs and "
          f"{bottle['weights'] / basic64['weights']:.2f}x the weights, for a 4x wider "
          f"output (the paper: 'similar time complexity')")
    print(f"at the same 256-channel width the basic block needs "
          f"{basic256['macs'] / bottle['macs']:.1f}x the MACs and "
          f"{basic256['weights'] / bottle['weights']:.1f}x the weights of the bottleneck")


def plot_blocks(blocks, axes, map_size=RESNET_MAP):
    """Two panels: conv weights (thousands) and MACs (millions), one bar per block,
    each on its own labelled linear axis."""
    names = list(blocks)
    labels = [f"{n.split(' (')[0]}\n{blocks[n]['layers']}" for n in names]
    colours = ["tab:blue", "tab:green", "tab:gray"]
    for ax, key, scale, unit, what in (
            (axes[0], "weights", 1e3, "K", "conv weights (thousands)"),
            (axes[1], "macs", 1e6, "M", f"multiply-adds at {map_size}x{map_size} (millions)")):
        vals = [blocks[n][key] / scale for n in names]
        bars = ax.bar(range(len(names)), vals, color=colours)
        for bar, v in zip(bars, vals):
            ax.annotate(f"{v:,.1f}{unit}" if v < 100 else f"{v:,.0f}{unit}",
                        (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom",
                        fontsize=8)
        ax.set_ylim(0, 1.15 * max(vals))
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel(what)
        ax.set_xlabel("block (its convs)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title("ResNet blocks: conv weights")
    axes[1].set_title("ResNet blocks: multiply-adds")


# --------------------------------------------- 2. depthwise-separable vs standard conv
def separable_ratios(channels=CHANNELS, kernels=KERNELS, map_size=14):
    """{(k, N): (counted MAC ratio separable/standard, 1/N + 1/k^2, standard MACs,
    separable MACs)} for M = N channels on a map_size x map_size map."""
    out = {}
    for k in kernels:
        for n in channels:
            size = (n, map_size, map_size)
            std = analysis.summary(standard(n, n, k), size).total_macs
            sep = analysis.summary(separable(n, n, k), size).total_macs
            out[(k, n)] = (sep / std, 1 / n + 1 / k ** 2, std, sep)
    return out


def print_ratios(ratios, map_size):
    print(f"\ndepthwise-separable vs standard conv, M = N channels, {map_size}x{map_size} "
          f"map (Howard et al. 2017, eq. 5: ratio = 1/N + 1/k^2)\n")
    print(f"{'k':>2} {'M = N':>6} {'standard MACs':>14} {'separable MACs':>15} "
          f"{'counted ratio':>14} {'1/N + 1/k^2':>12} {'saving':>7}")
    for (k, n), (counted, formula, std, sep) in ratios.items():
        print(f"{k:2d} {n:6d} {format_count(std):>14} {format_count(sep):>15} "
              f"{counted:14.5f} {formula:12.5f} {std / sep:6.1f}x")
    worst = max(abs(c - f) for c, f, _, _ in ratios.values())
    print(f"\nlargest difference between counted ratio and formula: {worst:.2e}")


def time_separable(channels=(32, 64, 128, 256), k=3, map_size=14, batch=16, repeat=7):
    """Forward time of the standard and the separable conv on this engine, median of
    ``repeat`` runs after one warm-up, in ms: {N: (standard ms, separable ms)}. (The
    engine runs the depthwise conv with its own kernel and the 1x1 as a GEMM.)"""
    out = {}
    for n in channels:
        x = mt.randn(batch, n, map_size, map_size)
        times = []
        for layer in (standard(n, n, k), separable(n, n, k)):
            runs = []
            with mt.no_grad():
                layer(x)                                   # warm-up (and Numba compile)
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    layer(x)
                    runs.append(time.perf_counter() - t0)
            times.append(1000 * float(np.median(runs)))
        out[n] = tuple(times)
    return out


def plot_ratios(ratios, ax, timed=None, k_timed=3):
    ns = sorted({n for _, n in ratios})
    ks = sorted({k for k, _ in ratios})
    dense = [2 ** (e / 8) for e in range(8 * 3, 8 * 10 + 1)]            # N from 8 to 1024
    for k in ks:
        line, = ax.plot(dense, [1 / n + 1 / k ** 2 for n in dense],
                        label=f"1/N + 1/{k}^2 (k = {k})")
        ax.scatter(ns, [ratios[(k, n)][0] for n in ns], color=line.get_color(), zorder=3,
                   marker="o", facecolors="none", s=60)
        ax.axhline(1 / k ** 2, color=line.get_color(), ls=":", lw=1)
    ax.scatter([], [], marker="o", facecolors="none", edgecolors="k",
               label="counted MACs ratio")
    if timed:
        tn = sorted(timed)
        ax.plot(tn, [timed[n][1] / timed[n][0] for n in tn], "kx--", ms=8,
                label=f"measured time ratio, k = {k_timed} (this engine)")
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")               # 0.1, 32: not 10^-1, 2^5
    ax.xaxis.set_major_formatter(plain)
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks([0.04, 0.06, 0.1, 0.2, 0.4, 1.0])
    ax.set_xlabel("output channels N (= input channels M)")
    ax.set_ylabel("separable cost / standard cost (ratio)")
    ax.set_title("depthwise-separable conv: cost ratio -> 1/k^2 (dotted) as N grows")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def main(argv=None):
    p = argparse.ArgumentParser(description="Bottleneck vs basic block; separable vs "
                                            "standard conv")
    p.add_argument("--quick", action="store_true", help="smaller maps, fewer separable convs")
    p.add_argument("--time", action="store_true", help="also time the convs on this engine")
    p.add_argument("--out", default=os.path.join("runs", "demos"), help="folder for the PNG")
    args = p.parse_args(argv)
    sep_map = 7 if args.quick else 14
    blocks = resnet_blocks()
    print_blocks(blocks)
    ratios = separable_ratios([8, 32, 128, 512] if args.quick else CHANNELS,
                              [3, 5] if args.quick else KERNELS, sep_map)
    print_ratios(ratios, sep_map)
    timed = None
    if args.time:
        timed = time_separable(map_size=sep_map)
        print(f"\nforward time on this engine, k = 3, {sep_map}x{sep_map}, batch 16 (median)")
        for n, (std, sep) in timed.items():
            print(f"N = {n:4d}: standard {std:7.2f} ms, separable {sep:7.2f} ms, ratio "
                  f"{sep / std:.3f} (counted {1 / n + 1 / 9:.3f})")

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(17, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3, width_ratios=[1, 1, 1.3])
    plot_blocks(blocks, axes[:2])
    plot_ratios(ratios, axes[2], timed)
    fig.suptitle("What a block costs: ResNet's bottleneck (He et al. 2016, Fig. 5) and "
                 "MobileNet's depthwise-separable conv (Howard et al. 2017, eq. 5)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "block_costs.png")
    fig.savefig(path, dpi=100)
    print(f"\nplot saved to {path}")


if __name__ == "__main__":
    main()
