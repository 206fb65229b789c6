"""EfficientNet's compound scaling: grow depth, width and resolution together, and the
cost doubles with each step of phi.

The claim (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks", Section 3.3, equation 3): scale a baseline network by
    depth d = alpha^phi,  width w = beta^phi,  resolution r = gamma^phi,
    alpha = 1.2, beta = 1.1, gamma = 1.15,  with alpha * beta^2 * gamma^2 ~= 2.
A conv's FLOPs grow linearly with depth and quadratically with width (both C_in and
C_out grow) and with resolution (both H and W grow), so the network's FLOPs grow by
(alpha beta^2 gamma^2)^phi ~= 2^phi. Table 2 of the paper lists B0-B7 with 0.39B to 37B
FLOPS (multiply-adds, in fact); Section 3.2 and Figure 3 show that scaling any single
dimension also raises accuracy but saturates near 80% top-1, which is why all three
are grown together.

What this script does:
  1. builds B0-B7 with their published multipliers (``models.efficientnet.B_VARIANTS``,
     as torchvision and the paper's code round them) and counts parameters and MACs at
     each model's own resolution;
  2. builds the pure rule, ``efficientnet(phi)`` for phi = 0..7, and compares its MACs
     with B0 * 2^phi and with B0 * (alpha beta^2 gamma^2)^phi;
  3. scales B0 along one dimension only, to the compound model's budget at each phi
     (depth x 1.92^phi, or width x 1.92^(phi/2), or resolution x 1.92^(phi/2)), and
     counts what each costs in MACs and parameters.
Counting: a forward pass of B7 at 600x600 (37 GMACs) through ``analysis.summary`` takes
minutes on a CPU, so the MACs are counted from the layer shapes by ``macs_of`` below
(EfficientNet is a chain: every conv's output size follows from its input size, kernel,
stride and padding), and checked against ``analysis.summary``'s forward pass on B0 (and,
without --quick, on more models).

    python examples/demo_compound_scaling.py [--quick] [--out runs/demos]
"""
import argparse
import math
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from minitorch_cnn import analysis, models, nn  # noqa: E402
from minitorch_cnn.analysis.summary import build_for_counting, format_count  # noqa: E402
from minitorch_cnn.functional import conv_output_size  # noqa: E402
from minitorch_cnn.models.efficientnet import (  # noqa: E402
    ALPHA, B0_STAGES, B_VARIANTS, BASE_RESOLUTION, BETA, GAMMA, EfficientNet, scale_stages)
from minitorch_cnn.nn.init import skip_init  # noqa: E402

def main(argv=None):
    """Print the figures of the claim and draw them; returns the matplotlib Figure
    (``--out ''`` saves no PNG). Chapter 9 of the course calls this."""
    # ----------------------------------------------------------------------------- config
    p = argparse.ArgumentParser(description="EfficientNet B0-B7 and single-dimension scaling")
    p.add_argument("--quick", action="store_true",
                   help="single-dimension scaling up to phi = 4 only; one summary check")
    p.add_argument("--out", default=os.path.join("runs", "demos"), help="folder for the PNG")
    args = p.parse_args(argv)

    PHIS = range(8)
    SINGLE_PHIS = range(5) if args.quick else range(8)      # deep single-dimension models are big
    CHECK = ["efficientnet_b0"] if args.quick else ["efficientnet_b0", "efficientnet_b1",
                                                     "efficientnet_b2", "efficientnet_b3"]
    # Table 2 of the paper: FLOPS (multiply-adds) in billions and parameters in millions
    PAPER = {"efficientnet_b0": (0.39, 5.3), "efficientnet_b1": (0.70, 7.8),
             "efficientnet_b2": (1.0, 9.2), "efficientnet_b3": (1.8, 12),
             "efficientnet_b4": (4.2, 19), "efficientnet_b5": (9.9, 30),
             "efficientnet_b6": (19, 43), "efficientnet_b7": (37, 66)}
    GROWTH = ALPHA * BETA ** 2 * GAMMA ** 2               # FLOPs factor per step of phi: 1.92


    def _pair(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


    def macs_of(model, resolution):
        """Multiply-accumulates of one image at resolution x resolution, from the shapes of
        the layers alone (the convention of analysis.summary: conv and linear layers, one
        multiply-add = 1 MAC). The modules are visited in the order the chain runs them;
        the squeeze-and-excitation convs act on the 1x1 map of their global pool.
            conv:   C_out * OH * OW * (C_in / groups) * KH * KW
            linear: in_features * out_features
        """
        se_convs = {id(c) for se in model.modules() if isinstance(se, nn.SqueezeExcitation)
                    for c in (se.fc1, se.fc2)}
        h = w = resolution
        total = 0
        for m in model.modules():
            if isinstance(m, nn.Conv2d) and id(m) in se_convs:
                total += m.out_channels * m.in_channels              # on a 1x1 map
            elif isinstance(m, nn.Conv2d):
                (kh, kw), (sh, sw), (ph, pw) = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding)
                h, w = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
                total += m.out_channels * h * w * (m.in_channels // m.groups) * kh * kw
            elif isinstance(m, nn.Linear):
                total += m.in_features * m.out_features
        return total


    def params_of(model):
        return sum(p.numel() for p in model.parameters())


    def scaled(width, depth):
        """B0's stage table widened by ``width`` and deepened by ``depth``, shapes only."""
        return skip_init(EfficientNet, scale_stages(B0_STAGES, width, depth), dropout=0.2)


    # ------------------------------------------------------ 0. the counter against summary
    print("MACs counted from layer shapes (macs_of) vs analysis.summary's forward pass:")
    for name in CHECK:
        model = build_for_counting(name)
        res = B_VARIANTS[name][3]
        by_shapes, by_forward = macs_of(model, res), analysis.summary(model, (3, res, res)).total_macs
        print(f"  {name} at {res}: {by_shapes:,d} vs {by_forward:,d} "
              f"({'equal' if by_shapes == by_forward else 'DIFFERENT'})")
        if by_shapes != by_forward:
            raise SystemExit("macs_of disagrees with analysis.summary: fix macs_of first")

    # ------------------------------------------------------------ 1. B0-B7 as published
    print(f"\nEfficientNet B0-B7 (published multipliers; MACs at each model's resolution)\n")
    print(f"{'model':16} {'width':>5} {'depth':>5} {'res':>4} {'params':>12} {'paper':>6} "
          f"{'MACs':>8} {'paper':>6} {'x B0':>6} {'log2(x B0)':>10}")
    published = {}
    for name, (width, depth, _, res) in B_VARIANTS.items():
        model = skip_init(models.create, name)
        published[name] = dict(width=width, depth=depth, res=res, params=params_of(model),
                               macs=macs_of(model, res))
    b0 = published["efficientnet_b0"]["macs"]
    for name, r in published.items():
        paper_macs, paper_params = PAPER[name]
        print(f"{name:16} {r['width']:5.1f} {r['depth']:5.1f} {r['res']:4d} {r['params']:12,d} "
              f"{paper_params:5g}M {format_count(r['macs']):>8} {paper_macs:5g}B "
              f"{r['macs'] / b0:6.1f} {math.log2(r['macs'] / b0):10.2f}")

    # -------------------------------------------------------------- 2. the rule itself
    print(f"\nthe rule efficientnet(phi): d = {ALPHA}^phi, w = {BETA}^phi, r = {BASE_RESOLUTION} * "
          f"{GAMMA}^phi; alpha beta^2 gamma^2 = {GROWTH:.3f}\n")
    print(f"{'phi':>3} {'depth':>6} {'width':>6} {'res':>4} {'params':>12} {'MACs':>8} "
          f"{'x B0':>7} {'2^phi':>6} {'1.92^phi':>8}")
    rule = {}
    for phi in PHIS:
        model = skip_init(models.create, "efficientnet", phi=phi)
        res = round(BASE_RESOLUTION * GAMMA ** phi)
        rule[phi] = dict(params=params_of(model), macs=macs_of(model, res), res=res)
        print(f"{phi:3d} {ALPHA ** phi:6.2f} {BETA ** phi:6.2f} {res:4d} {rule[phi]['params']:12,d} "
              f"{format_count(rule[phi]['macs']):>8} {rule[phi]['macs'] / rule[0]['macs']:7.1f} "
              f"{2 ** phi:6d} {GROWTH ** phi:8.1f}")

    top = max(PHIS)
    per_step = (rule[top]["macs"] / rule[0]["macs"]) ** (1 / top)
    print(f"\nMACs grow x{per_step:.2f} per step of phi on average (the paper: ~2; the coefficients: "
          f"{GROWTH:.2f}); the first step overshoots because repeats are rounded up (a stage of "
          f"1 block becomes 2 at depth 1.2) and channels to multiples of 8")

    # ------------------------------------------------ 3. one dimension at a time, same budget
    print(f"\none dimension alone, to the compound model's budget (B0 x {GROWTH:.2f}^phi)\n")
    print(f"{'phi':>3} {'budget':>8} | {'depth x':>7} {'MACs':>8} {'params':>7} | {'width x':>7} "
          f"{'MACs':>8} {'params':>7} | {'res':>4} {'MACs':>8} {'params':>7}")
    single = {"depth": {}, "width": {}, "resolution": {}}
    for phi in SINGLE_PHIS:
        f = GROWTH ** phi                                   # FLOPs factor to reach
        deep, wide = scaled(1.0, f), scaled(math.sqrt(f), 1.0)
        res = round(BASE_RESOLUTION * math.sqrt(f))
        single["depth"][phi] = dict(mult=f, macs=macs_of(deep, BASE_RESOLUTION), params=params_of(deep))
        single["width"][phi] = dict(mult=math.sqrt(f), macs=macs_of(wide, BASE_RESOLUTION),
                                    params=params_of(wide))
        single["resolution"][phi] = dict(mult=res, macs=macs_of(scaled(1.0, 1.0), res),
                                         params=published["efficientnet_b0"]["params"])
        d, w, r = (single[k][phi] for k in ("depth", "width", "resolution"))
        print(f"{phi:3d} {format_count(rule[0]['macs'] * f):>8} | {d['mult']:7.2f} "
              f"{format_count(d['macs']):>8} {d['params'] / 1e6:6.1f}M | {w['mult']:7.2f} "
              f"{format_count(w['macs']):>8} {w['params'] / 1e6:6.1f}M | {r['mult']:4d} "
              f"{format_count(r['macs']):>8} {r['params'] / 1e6:6.1f}M")
    last = max(SINGLE_PHIS)
    print(f"\nat phi = {last} the same ~{format_count(rule[0]['macs'] * GROWTH ** last)} MACs buy "
          f"{sum(math.ceil(s.repeats * GROWTH ** last) for s in B0_STAGES)} MBConv blocks "
          f"(depth alone), or {math.sqrt(GROWTH ** last):.1f}x the channels (width alone, "
          f"{single['width'][last]['params'] / 1e6:.0f}M parameters), or "
          f"{single['resolution'][last]['mult']}x{single['resolution'][last]['mult']} images "
          f"with B0's {published['efficientnet_b0']['params'] / 1e6:.1f}M parameters (resolution "
          f"alone); compound scaling spreads the growth over all three")

    # ------------------------------------------------------------------------------- plot
    fig = Figure(figsize=(14, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    (ax_macs, ax_par) = fig.subplots(1, 2)
    phis = list(PHIS)
    ax_macs.plot(phis, [b0 * 2 ** phi / 1e9 for phi in phis], "k--", lw=1, label="B0 x 2^phi")
    ax_macs.plot(phis, [PAPER[n][0] for n in published], "x", color="k", label="paper, Table 2")
    for ax, key, scale in ((ax_macs, "macs", 1e9), (ax_par, "params", 1e6)):
        ax.plot(phis, [rule[phi][key] / scale for phi in phis], "o-", color="tab:blue",
                label="rule: efficientnet(phi)")
        ax.plot(phis, [published[n][key] / scale for n in published], "s", ms=8, mfc="none",
                color="tab:orange", label="B0-B7 as published (counted)")
        for kind, marker, colour in (("depth", "^", "tab:green"), ("width", "v", "tab:red"),
                                     ("resolution", "d", "tab:purple")):
            sp = list(SINGLE_PHIS)
            ax.plot(sp, [single[kind][phi][key] / scale for phi in sp], marker, ls=":",
                    color=colour, label=f"{kind} alone")
    ax_macs.set_yscale("log", base=2)
    ax_macs.set_ylabel("GMACs per image (log2 scale)")
    ax_macs.set_title("cost doubles per step of phi, whichever dimension grows")
    ax_par.set_yscale("log")
    ax_par.set_yticks([5, 10, 20, 40, 80])
    ax_par.set_ylabel("parameters (millions, log scale)")
    ax_par.set_title("...the parameters do not: resolution adds none, depth and width many")
    for ax in (ax_macs, ax_par):
        ax.set_xlabel("phi (B0 ... B7)")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))   # 0.5, 2, 40
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("EfficientNet compound scaling (Tan & Le 2019, Sec. 3.3): d = 1.2^phi, "
                 "w = 1.1^phi, r = 1.15^phi")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "compound_scaling.png")
        fig.savefig(path, dpi=100)
        print(f"\nplot saved to {path}")
    return fig


if __name__ == "__main__":
    main()
