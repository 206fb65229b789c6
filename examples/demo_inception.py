"""GoogLeNet's two economies: 1x1 bottlenecks inside the Inception module, and global
average pooling instead of VGG's fully connected head.

The claims (Szegedy et al. 2015, "Going Deeper with Convolutions"):
  * Section 4 and Figure 2: the "naive" Inception module -- 1x1, 3x3 and 5x5 convs and a
    3x3 max pool side by side on the same input, concatenated -- is too expensive: 5x5
    convs on a wide input cost a lot, and since the pool branch passes every input
    channel through, the output is always deeper than the input, so stacked modules
    blow up. Figure 2(b) puts 1x1 convs in front of the 3x3 and 5x5 convs (to reduce the
    channels they see) and after the pool (to project it): the module that was used.
  * Section 5: the network ends in an average pool over the whole 7x7 map and a single
    linear layer (after Lin et al.'s Network in Network); the authors report that going
    from fully connected layers to average pooling improved top-1 accuracy by about
    0.6%, while dropout stayed necessary.
The module is measured on a 28x28x256 input: the input of inception (3b) in the paper's
Table 1, whose filter numbers (128 1x1, 128 -> 192 3x3, 32 -> 96 5x5, 64 pool proj) this
script takes from ``models.googlenet.inception_table``. The naive module gets the same
1x1/3x3/5x5 widths without the reductions. The CS231n lecture 9 slides (2017) use the
same example with every reduction set to 64 channels; that variant is counted as well.

What this script does: builds each module from nn layers (the bottleneck one is the
library's ``Inception`` in the paper's configuration: biases, no BatchNorm, true 5x5),
counts MACs per branch and parameters with ``analysis.summary`` and the output depth
with a forward pass; then builds GoogLeNet and VGG-16 and counts the parameters of their
classifier heads, next to the heads GoogLeNet would have with fully connected layers.

    python examples/demo_inception.py [--quick] [--out runs/demos]
"""
import argparse
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

import minitorch_cnn as mt  # noqa: E402
from minitorch_cnn import analysis, models, nn  # noqa: E402
from minitorch_cnn import functional as F  # noqa: E402
from minitorch_cnn.analysis.summary import format_count  # noqa: E402
from minitorch_cnn.models.googlenet import Inception, inception_table  # noqa: E402
from minitorch_cnn.nn.init import skip_init  # noqa: E402

def main(argv=None):
    """Print the figures of the claim and draw them; returns the matplotlib Figure
    (``--out ''`` saves no PNG). Chapter 5 of the course calls this."""
    # ----------------------------------------------------------------------------- config
    p = argparse.ArgumentParser(description="Naive vs bottleneck Inception; GAP vs FC head")
    p.add_argument("--quick", action="store_true", help="skip the second stacked naive module")
    p.add_argument("--out", default=os.path.join("runs", "demos"), help="folder for the PNG")
    args = p.parse_args(argv)

    ROW = dict((r[0], r[1:]) for r in inception_table)["inception3b"]
    C_IN, N1, N3R, N3, N5R, N5, NPOOL = ROW                 # 256, 128, 128, 192, 32, 96, 64
    SIZE = 28
    TEXTBOOK = {"naive": 854e6, "CS231n (64-channel reductions)": 358e6}   # "ops" on the slides


    class NaiveInception(nn.Module):
        """Figure 2(a): four branches on the same input, concatenated along the channels.
        (N, C, H, W) -> (N, n1 + n3 + n5 + C, H, W): the pool branch keeps all C channels."""

        def __init__(self, c, n1, n3, n5):
            super().__init__()
            self.branch1 = nn.Conv2d(c, n1, 1)
            self.branch2 = nn.Conv2d(c, n3, 3, padding=1)
            self.branch3 = nn.Conv2d(c, n5, 5, padding=2)
            self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)

        def forward(self, x):
            return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


    def measure(module, c_in):
        """(MACs per branch, total MACs, parameters, output depth) at c_in x 28 x 28."""
        s = analysis.summary(module, (c_in, SIZE, SIZE))
        branches = {}
        for r in s.rows:                          # 'branch2.0.conv' -> 'branch2'
            branch = r.name.split(".")[0]
            branches[branch] = branches.get(branch, 0) + r.macs
        with mt.no_grad():
            depth = module(mt.zeros((1, c_in, SIZE, SIZE))).shape[1]
        return branches, s.total_macs, s.total_params, depth


    def count_params(module):
        return sum(p.numel() for p in module.parameters())


    # ------------------------------------------------------------- 1. the Inception module
    mt.manual_seed(0)
    modules = {
        "naive": (NaiveInception(C_IN, N1, N3, N5), C_IN),
        "bottleneck (paper, 3b)": (Inception(C_IN, N1, N3R, N3, N5R, N5, NPOOL, batch_norm=False,
                                             kernel5x5=5), C_IN),
        "CS231n (64-channel reductions)": (Inception(C_IN, N1, 64, N3, 64, N5, 64,
                                                     batch_norm=False, kernel5x5=5), C_IN),
    }
    results = {name: measure(m, c) for name, (m, c) in modules.items()}
    naive_depth = results["naive"][3]
    if not args.quick:      # what the next naive module costs: its input is the 672-deep output
        modules["naive, stacked on the naive one"] = (NaiveInception(naive_depth, N1, N3, N5),
                                                      naive_depth)
        results["naive, stacked on the naive one"] = measure(*modules["naive, stacked on the "
                                                                      "naive one"])

    print(f"Inception modules on a {SIZE}x{SIZE}x{C_IN} input (GoogLeNet Table 1, inception 3b: "
          f"#1x1 {N1}, #3x3 reduce {N3R}, #3x3 {N3}, #5x5 reduce {N5R}, #5x5 {N5}, "
          f"pool proj {NPOOL})\n")
    branch_names = {"branch1": "1x1", "branch2": "3x3 path", "branch3": "5x5 path",
                    "branch4": "pool path"}
    print(f"{'module':34} " + " ".join(f"{v:>9}" for v in branch_names.values())
          + f" {'total MACs':>11} {'textbook':>9} {'params':>10} {'in->out depth':>14}")
    for name, (branches, total, params, depth) in results.items():
        textbook = f"{TEXTBOOK[name] / 1e6:.0f}M" if name in TEXTBOOK else "-"
        c_in = modules[name][1]
        print(f"{name:34} " + " ".join(f"{format_count(branches[b]):>9}" for b in branch_names)
              + f" {format_count(total):>11} {textbook:>9} {params:10,d} "
              f"{f'{c_in} -> {depth}':>14}")
    naive_total, bottle_total = results["naive"][1], results["bottleneck (paper, 3b)"][1]
    print(f"\nthe 1x1 reductions cut the module's MACs {naive_total / bottle_total:.1f}x "
          f"({format_count(naive_total)} -> {format_count(bottle_total)}) and its output depth "
          f"from {naive_depth} to {results['bottleneck (paper, 3b)'][3]} "
          f"(the pool projection stops the depth from growing)")
    cs = results["CS231n (64-channel reductions)"][1]
    print(f"the CS231n slides quote 358M operations for the 64-channel variant; the products "
          f"they list add up to {format_count(cs)}, as counted here")
    if not args.quick:
        stacked = results["naive, stacked on the naive one"]
        print(f"a second naive module on the {naive_depth}-deep output would cost "
              f"{format_count(stacked[1])} MACs and output {stacked[3]} channels")

    # ----------------------------------------------- 2. global average pooling vs FC head
    googlenet = skip_init(models.create, "googlenet")     # shapes only: no random weights
    vgg16 = skip_init(models.create, "vgg16")
    final = 7 * 7 * 1024                                    # GoogLeNet's last map: 7x7x1024
    VGG_HEAD_ON_GOOGLENET = "GoogLeNet with VGG's head on the 7x7 map"
    heads = {
        "GoogLeNet: avg pool 7x7 + FC-1000": (count_params(googlenet.fc),
                                              count_params(googlenet)),
        "VGG-16: FC-4096, FC-4096, FC-1000": (count_params(vgg16.classifier),
                                              count_params(vgg16)),
        "GoogLeNet with FC-1000 on the 7x7 map": (
            count_params(skip_init(nn.Linear, final, 1000)), None),
        VGG_HEAD_ON_GOOGLENET: (count_params(skip_init(
            lambda: nn.Sequential(nn.Linear(final, 4096), nn.Linear(4096, 4096),
                                  nn.Linear(4096, 1000)))), None),
    }
    print("\nclassifier heads (parameters, weights + biases; built and counted)\n")
    print(f"{'head':44} {'head params':>13} {'network params':>15} {'head share':>10}")
    for name, (head, total) in heads.items():
        share = f"{head / total:.0%}" if total else "-"
        print(f"{name:44} {head:13,d} {f'{total:,d}' if total else '-':>15} {share:>10}")
    g_head, g_total = heads["GoogLeNet: avg pool 7x7 + FC-1000"]
    print(f"\nwith average pooling GoogLeNet's head is {g_head / 1e6:.2f}M of its "
          f"{g_total / 1e6:.2f}M parameters; a VGG-style head on its 7x7x1024 map would alone be "
          f"{heads[VGG_HEAD_ON_GOOGLENET][0] / 1e6:.0f}M. "
          f"The paper: about +0.6% top-1 from the switch (Sec. 5).")

    # ------------------------------------------------------------------------------- plot
    fig = Figure(figsize=(16, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    (ax_macs, ax_depth, ax_heads) = fig.subplots(1, 3, width_ratios=[1.4, 1.0, 1.4])
    names = list(results)
    SHORT = {"naive": "naive", "bottleneck (paper, 3b)": "bottleneck\n(paper, 3b)",
             "CS231n (64-channel reductions)": "CS231n\n(64 reductions)",
             "naive, stacked on the naive one": "naive on\nthe naive"}
    short = [SHORT[n] for n in names]
    bottom = [0.0] * len(names)
    for b, label in branch_names.items():
        vals = [results[n][0].get(b, 0) / 1e6 for n in names]
        ax_macs.bar(short, vals, bottom=bottom, label=label)
        bottom = [u + v for u, v in zip(bottom, vals)]
    for i, n in enumerate(names):
        ax_macs.annotate(f"{results[n][1] / 1e6:.0f}M", (i, bottom[i]), ha="center", va="bottom")
    ax_macs.set_ylim(0, 1.12 * max(bottom))
    ax_macs.set_ylabel("multiply-accumulates (millions, counted)")
    ax_macs.set_title(f"MACs per branch on {SIZE}x{SIZE}x{C_IN}")
    ax_macs.legend(fontsize=8)
    ax_macs.set_xlabel("Inception module variant")
    ax_macs.tick_params(axis="x", labelsize=8)
    ax_depth.bar(short, [results[n][3] for n in names], color="tab:purple")
    ax_depth.axhline(C_IN, color="k", ls="--", lw=1, label=f"input depth {C_IN}")
    ax_depth.set_ylabel("output channels")
    ax_depth.set_title("output depth")
    ax_depth.legend(fontsize=8)
    ax_depth.set_xlabel("Inception module variant")
    ax_depth.tick_params(axis="x", labelsize=7)
    hnames = list(heads)
    ax_heads.barh([h.replace(": ", ":\n").replace(" with ", "\nwith ") for h in hnames],
                  [heads[h][0] / 1e6 for h in hnames], color=["tab:green", "tab:red", "0.6", "0.6"])
    ax_heads.set_xscale("log")
    ax_heads.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    for i, h in enumerate(hnames):
        ax_heads.annotate(f"{heads[h][0] / 1e6:.2f}M", (heads[h][0] / 1e6, i), va="center",
                          xytext=(4, 0), textcoords="offset points", fontsize=9)
    ax_heads.set_xlim(0.3, 2000)
    ax_heads.set_xlabel("classifier head parameters (millions, log scale)")
    ax_heads.set_title("global average pooling vs fully connected head")
    ax_heads.tick_params(axis="y", labelsize=8)
    ax_heads.invert_yaxis()
    fig.suptitle("GoogLeNet (Szegedy et al. 2015): 1x1 bottlenecks (Sec. 4, Fig. 2) and average "
                 "pooling (Sec. 5)")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "inception.png")
        fig.savefig(path, dpi=100)
        print(f"\nplot saved to {path}")
    return fig


if __name__ == "__main__":
    main()
