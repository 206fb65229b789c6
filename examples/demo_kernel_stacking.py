"""Kernel stacking: two 3x3 convs see what one 5x5 sees, three see what one 7x7 sees,
with fewer weights.

The claim (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", Section 2.3): a stack of two 3x3 conv layers without pooling between
them has a 5x5 receptive field, three have a 7x7 one. With C channels in and out, three
3x3 layers hold 3 (3^2 C^2) = 27 C^2 weights where one 7x7 layer holds 7^2 C^2 = 49 C^2
(81% more), and two 3x3 layers hold 18 C^2 against 25 C^2 for a 5x5 (28% fewer). The
stack also puts a ReLU after each layer: more non-linearity for fewer weights.

What this script does, for each of the four stacks (no biases, as in the paper's count):
  * counts the weights of the built layers, divided by C^2: weights per channel pair;
  * counts the multiply-accumulates with analysis.summary (per output pixel and channel
    pair they equal the weights: every weight is used once per output pixel);
  * computes the receptive field with analysis.receptive_field (r' = r + (k - 1) j);
  * measures it: the input pixels on which the centre output unit depends, i.e. where
    the gradient d y_centre / d x is nonzero, averaged over random inputs
    (analysis.effective_receptive_field), and the width of that footprint.
The heat maps show one more thing (Luo et al. 2016, "Understanding the Effective
Receptive Field"): a stack's gradient footprint fills its field unevenly, peaked in the
middle (many paths lead to the centre pixel, one to a corner), while a single kernel's is
flat. Its spread is reported as sigma, the standard deviation in pixels.

Chapter 4 of the course (notebooks/04_vgg.ipynb) imports these functions: the figures
live here only.

    python examples/demo_kernel_stacking.py [--quick] [--out runs/demos]
"""
import argparse
import os

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn import analysis, nn

SIZE = 33                                # input side: odd, so one unit is exactly central
# name: (kernel size, layers, the paper's weights per channel pair)
STACKS = {
    "two 3x3": (3, 2, 2 * 3 ** 2),
    "one 5x5": (5, 1, 5 ** 2),
    "three 3x3": (3, 3, 3 * 3 ** 2),
    "one 7x7": (7, 1, 7 ** 2),
}


def conv_stack(k, n, c):
    """n layers of conv k x k (stride 1, 'same' padding, no bias) + ReLU, C -> C."""
    layers = []
    for _ in range(n):
        layers += [nn.Conv2d(c, c, k, padding=k // 2, bias=False), nn.ReLU()]
    return nn.Sequential(*layers)


def footprint_width(heatmap):
    """Rows and columns spanned by the nonzero pixels of a gradient map."""
    rows = np.flatnonzero((heatmap > 0).any(axis=1))
    cols = np.flatnonzero((heatmap > 0).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def measure(channels=64, samples=32, size=SIZE):
    """For each stack of STACKS: weights per channel pair (counted and the paper's), MACs
    per output pixel and channel pair, the receptive field computed and measured, the
    gradient pixels outside it, the footprint's sigma and the EffectiveRF itself."""
    mt.manual_seed(0)
    results = {}
    for name, (k, n, paper) in STACKS.items():
        model = conv_stack(k, n, channels)
        weights = sum(p.numel() for p in model.parameters())
        macs = analysis.summary(model, (channels, size, size)).total_macs
        computed = analysis.receptive_field(model, (channels, size, size)).last.r
        erf = analysis.effective_receptive_field(model, (channels, size, size), samples=samples)
        outside = int(((erf.heatmap > 0) & ~erf.inside_mask()).sum())
        results[name] = dict(
            paper=paper, per_pair=weights / channels ** 2,
            macs_per_pixel_pair=macs / (size * size * channels ** 2),
            r_computed=computed[0], r_measured=footprint_width(erf.heatmap)[0],
            outside=outside, sigma=erf.sigma[0], erf=erf)
    return results


def print_table(results, channels, samples, size=SIZE):
    print(f"Kernel stacking, C = {channels} channels in and out, {size}x{size} input, "
          f"gradients averaged over {samples} random inputs\n")
    header = ("stack", "weights/C^2", "paper", "MACs/(pixel*C^2)", "r computed", "r measured",
              "nonzero outside r", "sigma (px)")
    rows = [(name, f"{r['per_pair']:g}", str(r["paper"]), f"{r['macs_per_pixel_pair']:g}",
             f"{r['r_computed']}x{r['r_computed']}", f"{r['r_measured']}x{r['r_measured']}",
             str(r["outside"]), f"{r['sigma']:.2f}") for name, r in results.items()]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    for row in [header] + rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))
    for small, big in (("two 3x3", "one 5x5"), ("three 3x3", "one 7x7")):
        a, b = results[small]["per_pair"], results[big]["per_pair"]
        print(f"\n{small} vs {big}: {a:g} C^2 vs {b:g} C^2 weights: {100 * (a / b - 1):+.0f}% "
              f"({big} needs {100 * (b / a - 1):.0f}% more); same receptive field "
              f"{results[small]['r_computed']} = {results[big]['r_computed']} (computed), "
              f"{results[small]['r_measured']} = {results[big]['r_measured']} (measured)")


def plot(results, path=None, size=SIZE):
    """Top: the gradient footprint of each stack (with a colour bar: |d y / d x| relative
    to its maximum); bottom: weights per channel pair, and the footprints' profiles."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    fig = Figure(figsize=(14, 7.8), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 4)
    half = size // 2
    crop = slice(half - 5, half + 6)                       # 11x11 window around the centre
    heat_axes = []
    for i, (name, r) in enumerate(results.items()):
        ax = fig.add_subplot(grid[0, i])
        heat_axes.append(ax)
        heat = r["erf"].heatmap[crop, crop]
        shown = np.ma.masked_equal(heat / heat.max(), 0.0)  # exact zeros drawn as background
        ax.set_facecolor("0.85")
        im = ax.imshow(shown, cmap="inferno", vmin=0, vmax=1, extent=(-5.5, 5.5, 5.5, -5.5))
        rc = r["r_computed"] / 2
        ax.add_patch(Rectangle((-rc, -rc), 2 * rc, 2 * rc, fill=False, ec="cyan", lw=1.5))
        ax.set_title(f"{name}: r = {r['r_computed']} computed, {r['r_measured']} measured\n"
                     f"{r['per_pair']:g} weights per channel pair", fontsize=9)
        ax.set_xticks(range(-5, 6, 5))
        ax.set_yticks(range(-5, 6, 5))
        ax.set_xlabel("input column - centre (px)", fontsize=8)
        if i == 0:
            ax.set_ylabel("input row - centre (px)", fontsize=8)
    fig.colorbar(im, ax=heat_axes, shrink=0.85, pad=0.01,
                 label="|d y_centre / d x| / its max\n(grey: exactly 0)")
    ax = fig.add_subplot(grid[1, :2])
    names = list(results)
    counted = [results[n]["per_pair"] for n in names]
    bars = ax.bar(names, counted, color=["tab:blue", "tab:orange"] * 2)
    for bar, n in zip(bars, names):
        ax.annotate(f"{results[n]['per_pair']:g} (paper {results[n]['paper']})",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                    va="bottom", fontsize=9)
    ax.set_ylim(0, 1.15 * max(counted))
    ax.set_ylabel("weights per channel pair (counted)")
    ax.set_title("the stacks need fewer weights for the same field")
    ax = fig.add_subplot(grid[1, 2:])
    for name, r in results.items():
        profile = r["erf"].heatmap.sum(axis=0)          # summed over rows: one value per column
        ax.plot(np.arange(size) - half, profile / profile.max(), marker="o", ms=3,
                label=f"{name} (sigma {r['sigma']:.2f} px)")
    ax.set_xlim(-6, 6)
    ax.set_xlabel("input column relative to the centre unit (px)")
    ax.set_ylabel("|d y_centre / d x| summed over rows\n(max = 1)")
    ax.set_title("gradient footprint: peaked for stacks, flat for one kernel")
    ax.legend(fontsize=8)
    fig.suptitle("Kernel stacking (Simonyan & Zisserman 2015, Sec. 2.3): heat = "
                 "|d y_centre / dx|, cyan box = computed receptive field")
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(description="Two 3x3 convs vs one 5x5, three 3x3 vs one 7x7")
    p.add_argument("--quick", action="store_true", help="fewer channels and random inputs")
    p.add_argument("--out", default=os.path.join("runs", "demos"), help="folder for the PNG")
    args = p.parse_args(argv)
    channels, samples = (16, 8) if args.quick else (64, 32)
    results = measure(channels, samples)
    print_table(results, channels, samples)
    path = os.path.join(args.out, "kernel_stacking.png")
    plot(results, path)
    print(f"\nplot saved to {path}")


if __name__ == "__main__":
    main()
