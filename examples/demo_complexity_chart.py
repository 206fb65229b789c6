"""Accuracy against cost for every ImageNet network of the model zoo: the complexity
chart of Canziani et al.

The claim (Canziani, Paszke & Culurciello 2017, "An Analysis of Deep Neural Network
Models for Practical Applications", Figure 2): plotted as top-1 accuracy against
operations, with the parameter count as bubble size, the networks do not line up --
accuracy is not bought by operations alone. VGG spends 15-20 GMACs and 138-144M
parameters for about 70% top-1, while later designs (ResNet, DenseNet, MobileNet,
EfficientNet) reach as much or more with a fraction of either; the best accuracy for a
budget lies on an upper-left frontier, and that frontier is made of the later designs.

What this script does: for every builder with published ImageNet figures
(``analysis.published.IMAGENET``: torchvision's model pages, or the paper where
torchvision has no such model) it builds the network with the zoo's builder (shapes
only, ``skip_init``) and counts its parameters, which must equal the published count;
it takes the published top-1 and GMACs as cited data; without --quick it also measures
every network's MACs with ``analysis.summary`` (a forward pass at the resolution the
published figure is for: 224, and each EfficientNet's own) -- and those of the three
networks whose sources give no MAC count (zfnet, vgg11_lrn, vgg16_c), which --quick
leaves out of the chart. It then finds the frontier (no other network is both cheaper
and more accurate) and draws the chart with ``analysis.plots.complexity_chart``.

    python examples/demo_complexity_chart.py [--quick] [--out runs/demos]
"""
import argparse
import os

from minitorch_cnn import analysis, models
from minitorch_cnn.analysis import plots
from minitorch_cnn.analysis.summary import build_for_counting
from minitorch_cnn.nn.init import skip_init

# ----------------------------------------------------------------------------- config
p = argparse.ArgumentParser(description="Top-1 vs GMACs of every ImageNet builder")
p.add_argument("--quick", action="store_true",
               help="no forward passes: published GMACs only, unpublished ones left out")
p.add_argument("--out", default=os.path.join("runs", "demos"), help="folder for the PNG")
args = p.parse_args()

# torchvision evaluates (and counts) the EfficientNets at their own crop size
RESOLUTION = {"efficientnet_b1": 240, "efficientnet_b2": 288, "efficientnet_b3": 300,
              "efficientnet_b4": 380, "efficientnet_b5": 456, "efficientnet_b6": 528,
              "efficientnet_b7": 600}


def params_of(model):
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------ gather the figures
names = [n for n in models.list_models() if n in analysis.IMAGENET]
rows, left_out = [], []
for name in names:
    pub = analysis.IMAGENET[name]
    counted = params_of(skip_init(models.create, name))
    measured = None
    if not args.quick:
        res = RESOLUTION.get(name, 224)
        measured = analysis.summary(build_for_counting(name), (3, res, res)).total_macs / 1e9
    if pub.gmacs is None and measured is None:
        left_out.append(name)
        continue
    rows.append(dict(name=name, top1=pub.top1, gmacs=pub.gmacs if pub.gmacs else measured,
                     params=counted, source=pub.source, measured=pub.gmacs is None,
                     published_params=pub.params, measured_gmacs=measured))



def frontier_of(rows):
    """The networks that no other network beats on both accuracy and cost."""
    return [r for r in rows if not any(o["top1"] >= r["top1"] and o["gmacs"] <= r["gmacs"]
                                       and (o["top1"], o["gmacs"]) != (r["top1"], r["gmacs"])
                                       for o in rows)]


frontier = frontier_of(rows)
before_efficientnet = frontier_of([r for r in rows if not r["name"].startswith("efficientnet")])

# ------------------------------------------------------------------------------ print
print(f"{len(rows)} ImageNet networks of the zoo, sorted by cost (top-1 and GMACs as "
      f"published; parameters counted on our builders)\n")
print(f"{'model':18} {'top-1 %':>7} {'GMACs':>7} {'measured':>8} {'params counted':>15} "
      f"{'published':>12} {'match':>6} {'frontier':>8}  source")
for r in sorted(rows, key=lambda r: r["gmacs"]):
    pub = r["published_params"]
    # exact, or the relative difference (a source may round: MobileNet's "4.2 million")
    match = "-" if pub is None else ("exact" if pub == r["params"] else
                                     f"{r['params'] / pub - 1:+.1%}")
    meas = f"{r['measured_gmacs']:.2f}" if r["measured_gmacs"] is not None else "-"
    print(f"{r['name']:18} {r['top1']:7.2f} {r['gmacs']:7.2f} {meas:>8} {r['params']:15,d} "
          f"{f'{pub:,d}' if pub else '-':>12} {match:>6} {'*' if r in frontier else '':>8}  "
          f"{r['source']}")
if left_out:
    print(f"\nleft out (their sources publish no MAC count; measured without --quick): "
          f"{', '.join(left_out)}")
with_pub = [r for r in rows if r["published_params"]]
differ = [r["name"] for r in with_pub if r["published_params"] != r["params"]]
print(f"\nparameter counts equal to the published ones: {len(with_pub) - len(differ)} of "
      f"{len(with_pub)}" + (f" (not equal: {', '.join(differ)})" if differ else ""))
for label, f in (("frontier", frontier),
                 ("frontier without the EfficientNets", before_efficientnet)):
    print(f"{label}, cheapest first: "
          f"{', '.join(r['name'] for r in sorted(f, key=lambda r: r['gmacs']))}")
vgg = [r for r in rows if r["name"].startswith("vgg")]
if vgg:
    print(f"VGG: {min(r['gmacs'] for r in vgg):.1f}-{max(r['gmacs'] for r in vgg):.1f} GMACs for "
          f"{min(r['top1'] for r in vgg):.1f}-{max(r['top1'] for r in vgg):.1f}% top-1; on the "
          f"frontier: {', '.join(r['name'] for r in vgg if r in frontier) or 'none'}")

# ------------------------------------------------------------------------------- plot
os.makedirs(args.out, exist_ok=True)
path = os.path.join(args.out, "complexity_chart.png")
fig = plots.complexity_chart(path, rows=rows, title="ImageNet top-1 vs cost, bubble area = "
                             "parameters (after Canziani et al. 2017, Fig. 2)")
ax = fig.axes[0]
ax.set_xlabel("GMACs per image (1 multiply-add = 1 MAC) at the published evaluation size: "
              "224x224, the EfficientNets at their own")
line = sorted(frontier, key=lambda r: r["gmacs"])
ax.plot([r["gmacs"] for r in line], [r["top1"] for r in line], "k--", lw=1, alpha=0.6)
fig.savefig(path, dpi=100)
print(f"\nplot saved to {path}")
