"""The VGG configurations A-E, their parameters, and where VGG-16 keeps its memory and
its parameters.

The claims:
  * Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
    Recognition", Table 1 (the configurations A, A-LRN, B, C, D, E: 11 to 19 weight
    layers) and Table 2 (their parameters: 133, 133, 133, 134, 138, 144 million). Going
    from 11 to 19 layers adds only 11M parameters: 3x3 convs are cheap in weights, and
    most of the weights sit in the three fully connected layers every column shares.
  * The CS231n notes (Karpathy et al., "Convolutional Neural Networks for Visual
    Recognition", section "Case studies: VGGNet in detail"): VGG-16's layer by layer table
    of activations ("memory") and weights, showing that the memory lives in the early
    conv layers and the parameters in the first FC layer (~103M of 138M), and ending in
    "TOTAL memory: 24M * 4 bytes ~= 93MB / image (only forward!)".

What this script does:
  1. builds every column with its builder (``nn.init.skip_init``: shapes without drawing
     138M random numbers), reads its layers and counts its parameters;
  2. runs VGG-16 once at 224x224 through ``analysis.summary`` and prints the CS231n table
     from the measured output shapes (input, conv, pool and FC outputs, biases left out
     of the weights as in the notes), with the MACs of each layer;
  3. adds the table's own rows up -- about 15.2M values, not 24M -- and sets next to
     them the other totals one could mean: every layer output including the ReLU and
     Dropout outputs (what a framework without in-place operations writes), and what
     this engine's graph really keeps for backward.

    python examples/demo_vgg_configs.py [--quick] [--out runs/demos]
"""
import argparse
import os
import textwrap
from math import prod


from minitorch_cnn import analysis, models, nn  # noqa: E402
from minitorch_cnn.analysis.summary import build_for_counting, format_count  # noqa: E402
from minitorch_cnn.nn.init import skip_init  # noqa: E402

# column of Table 1: (builder, the paper's Table 2 figure in millions)
CONFIGS = {"A": ("vgg11", 133), "A-LRN": ("vgg11_lrn", 133), "B": ("vgg13", 133),
           "C": ("vgg16_c", 134), "D": ("vgg16", 138), "E": ("vgg19", 144)}
INPUT = (3, 224, 224)
CS231N_TOTAL = 24e6          # "TOTAL memory: 24M * 4 bytes ~= 93MB / image"
BYTES = 4                    # float32


def kernel(conv):
    k = conv.kernel_size
    return k[0] if isinstance(k, (tuple, list)) else k


def describe(features):
    """The conv stack as the paper's table reads it, one stage per pooling:
    'conv3-64, LRN | conv3-128 | conv3-256 x2 | ...'."""
    stages, stage = [], []
    for m in features:
        if isinstance(m, nn.MaxPool2d):
            stages.append(stage)
            stage = []
        elif isinstance(m, nn.Conv2d):
            stage.append(f"conv{kernel(m)}-{m.out_channels}")
        elif isinstance(m, nn.LocalResponseNorm):
            stage.append("LRN")
    out = []
    for s in stages:
        groups = []                               # runs of equal layers: 'conv3-256 x2'
        for layer in s:
            if groups and groups[-1][0] == layer:
                groups[-1][1] += 1
            else:
                groups.append([layer, 1])
        out.append(", ".join(f"{l} x{n}" if n > 1 else l for l, n in groups))
    return " | ".join(out)


def count(module):
    return sum(p.numel() for p in module.parameters())


def configs():
    """Table 1 and 2: every column built (shapes only) and counted; prints the table
    and returns a list of dicts (letter, name, layers, paper, params, conv, fc, stack)."""
    print("VGG configurations (Simonyan & Zisserman 2015, Tables 1 and 2), 1000 classes\n")
    configs = []
    for letter, (name, paper) in CONFIGS.items():
        model = skip_init(models.create, name)
        weight_layers = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
        configs.append(dict(letter=letter, name=name, layers=weight_layers, paper=paper,
                            params=count(model), conv=count(model.features),
                            fc=count(model.classifier), stack=describe(model.features)))
    print(f"{'cfg':6} {'builder':10} {'weight layers':>13} {'parameters':>13} {'(M)':>5} "
          f"{'paper (M)':>9}  conv stack, one stage per max pool (+ FC-4096, FC-4096, FC-1000)")
    for c in configs:
        print(f"{c['letter']:6} {c['name']:10} {c['layers']:13d} {c['params']:13,d} "
              f"{round(c['params'] / 1e6):5d} {c['paper']:9d}  {c['stack']}")
    a, e = configs[0], configs[-1]
    print(f"\nfrom A to E: +{e['layers'] - a['layers']} layers, "
          f"+{(e['params'] - a['params']) / 1e6:.1f}M parameters; the FC layers hold "
          f"{a['fc'] / 1e6:.1f}M of every column's weights ({a['fc'] / a['params']:.0%} of A, "
          f"{e['fc'] / e['params']:.0%} of E)")
    return configs


def vgg16_memory():
    """VGG-16 at 224x224, layer by layer (the CS231n table): prints it and returns
    (table rows, the summary)."""
    vgg16 = build_for_counting("vgg16")             # constant weights: only shapes matter here
    s = analysis.summary(vgg16, INPUT)
    modules = dict(vgg16.named_modules())
    table = [dict(label="INPUT", shape=INPUT, values=prod(INPUT), weights=0, macs=0)]
    for r in s.rows:
        m = modules[r.name]
        if isinstance(m, nn.Conv2d):
            label = f"CONV{kernel(m)}-{m.out_channels}"
        elif isinstance(m, nn.MaxPool2d):
            label = "POOL2"
        elif isinstance(m, nn.Linear):
            label = f"FC-{m.out_features}"
        else:                   # ReLU, Dropout, the (here 7x7 -> 7x7) adaptive pool: not rows
            continue
        shape = r.output_shape[1:]                   # drop the batch axis
        table.append(dict(label=label, shape=shape, values=prod(shape), macs=r.macs,
                          weights=m.weight.numel() if isinstance(m, (nn.Conv2d, nn.Linear)) else 0))

    print(f"\nVGG-16 at {INPUT[1]}x{INPUT[2]}, one image (output shapes measured by "
          f"analysis.summary; weights without biases, as in the CS231n table)\n")
    print(f"{'layer':10} {'output (C, H, W)':>17} {'values':>11} {'MB':>6} {'weights':>12} "
          f"{'MACs':>8}")
    for t in table:
        print(f"{t['label']:10} {str(tuple(t['shape'])):>17} {t['values']:11,d} "
              f"{t['values'] * BYTES / 1e6:6.2f} {t['weights']:12,d} "
              f"{format_count(t['macs']) if t['macs'] else '-':>8}")
    rows_total = sum(t["values"] for t in table)
    weights_total = sum(t["weights"] for t in table)
    print(f"{'TOTAL':10} {'':>17} {rows_total:11,d} {rows_total * BYTES / 1e6:6.2f} "
          f"{weights_total:12,d} {format_count(s.total_macs):>8}")

    # where the memory and the parameters live
    convs = [t for t in table if t["label"].startswith("CONV")]
    fcs = [t for t in table if t["label"].startswith("FC")]
    early = convs[:4]                                       # the 224x224 and 112x112 convs
    print(f"\nmemory: the first {len(early)} convs (at 224 and 112) write "
          f"{sum(t['values'] for t in early) / 1e6:.1f}M of the {rows_total / 1e6:.1f}M values "
          f"({sum(t['values'] for t in early) / rows_total:.0%}); the three FC layers "
          f"{sum(t['values'] for t in fcs):,d} ({sum(t['values'] for t in fcs) / rows_total:.2%})")
    print(f"parameters: the first FC layer holds {fcs[0]['weights'] / 1e6:.1f}M of "
          f"{s.total_params / 1e6:.1f}M ({fcs[0]['weights'] / s.total_params:.0%}); all 13 convs "
          f"{sum(t['weights'] for t in convs) / 1e6:.1f}M "
          f"({sum(t['weights'] for t in convs) / s.total_params:.0%}), yet they do "
          f"{sum(t['macs'] for t in convs) / s.total_macs:.1%} of the "
          f"{format_count(s.total_macs)} MACs")
    return table, s


def what_adds_up(table, s):
    """The quoted 24M against what can be counted (printed)."""
    rows_total = sum(t["values"] for t in table)
    every_output = s.activation_bytes // BYTES + prod(INPUT)
    print('\n"TOTAL memory: 24M * 4 bytes ~= 93MB / image" (CS231n) against what can be counted:')
    for what, values, megabytes in (
            ("the rows of the table above, added up", rows_total, rows_total * BYTES / 1e6),
            ("the quoted total", CS231N_TOTAL, CS231N_TOTAL * BYTES / 1e6),
            ("every layer output incl. ReLU and Dropout, + input (summary)", every_output,
             every_output * BYTES / 1e6),
            ("what this engine keeps for backward (measured on the graph)", None,
             s.kept_bytes / 1e6)):
        count_text = f"{values / 1e6:6.2f}M values" if values is not None else ""
        print(f"  {what:62} {count_text:14} {megabytes:6.1f} MB")
    print(textwrap.fill(
        f"The rows add up to {rows_total / 1e6:.1f}M values, {CS231N_TOTAL / rows_total:.2f}x fewer "
        f"than the quoted 24M. The notes do not say how 24M was obtained, and none of the counts "
        f"above gives it: a framework that stores each ReLU output next to its conv output (no "
        f"in-place ops) writes {every_output / 1e6:.1f}M values, one that rectifies in place "
        f"writes the {rows_total / 1e6:.1f}M of the rows. The mismatch was raised on the notes' "
        f"repository in 2016 (cs231n/cs231n.github.io issue #88) and has no answer there. The "
        f"table's lesson holds either way: the memory is in the first convs, the parameters in "
        f"the first FC layer -- and training needs more than the forward outputs (the last line: "
        f"what the ops save for backward: conv inputs, ReLU outputs, the pools' argmax indices).",
        width=90))


def plot(configs, table, s, path=None):
    """Parameters of A-E (the paper's Table 2 figures as red diamonds), and VGG-16's
    memory and parameters per layer."""
    rows_total = sum(t["values"] for t in table)
    fcs = [t for t in table if t["label"].startswith("FC")]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(17, 5.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax_cfg, ax_mem, ax_par = fig.subplots(1, 3, width_ratios=[1.3, 1.6, 1.6])
    letters = [c["letter"] for c in configs]
    xs = range(len(configs))
    ax_cfg.bar(xs, [c["conv"] / 1e6 for c in configs], label="conv layers (counted)")
    ax_cfg.bar(xs, [c["fc"] / 1e6 for c in configs], bottom=[c["conv"] / 1e6 for c in configs],
               label="FC layers (counted)")
    # the paper's figures: large red diamonds, beside the bar's top (not hidden on it)
    ax_cfg.scatter([x + 0.28 for x in xs], [c["paper"] for c in configs], color="tab:red",
                   edgecolors="k", marker="D", s=70, zorder=3, label="paper, Table 2 (M)")
    for x, c in enumerate(configs):
        ax_cfg.annotate(f"{c['params'] / 1e6:.1f}M\n{c['layers']} layers",
                        (x, c["params"] / 1e6), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 12), textcoords="offset points")
    ax_cfg.set_xticks(list(xs))
    ax_cfg.set_xticklabels(letters)
    ax_cfg.set_xlabel("configuration (Table 1 column)")
    ax_cfg.set_ylim(0, 215)
    ax_cfg.set_ylabel("parameters (millions)")
    ax_cfg.set_title("VGG configurations A-E: counted vs paper")
    ax_cfg.legend(fontsize=8, loc="upper left", ncol=2)

    labels = [t["label"] for t in table]
    x = range(len(table))
    ax_mem.bar(x, [t["values"] / 1e6 for t in table], color="tab:green")
    ax_mem.set_ylabel("activation values per image (millions)")
    ax_mem.set_title(f"VGG-16: where the memory is (rows sum to {rows_total / 1e6:.1f}M values, "
                     f"not 24M)", fontsize=10)
    ax_par.bar(x, [t["weights"] / 1e6 for t in table], color="tab:red")
    ax_par.set_ylabel("weights (millions)")
    ax_par.set_title(f"VGG-16: where the parameters are (FC-4096 #1: "
                     f"{fcs[0]['weights'] / 1e6:.1f}M of {s.total_params / 1e6:.1f}M)", fontsize=10)
    for ax in (ax_mem, ax_par):
        ax.set_xlabel("layer output of VGG-16, input side first")
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, rotation=70, fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(description="VGG A-E parameters and VGG-16's memory table")
    p.add_argument("--quick", action="store_true", help="accepted for uniformity: the figures "
                   "are exact and fast enough either way")
    p.add_argument("--out", default=os.path.join("runs", "demos"), help="folder for the PNG")
    args = p.parse_args(argv)
    cfgs = configs()
    table, s = vgg16_memory()
    what_adds_up(table, s)
    path = os.path.join(args.out, "vgg_configs.png")
    plot(cfgs, table, s, path)
    print(f"\nplot saved to {path}")


if __name__ == "__main__":
    main()
