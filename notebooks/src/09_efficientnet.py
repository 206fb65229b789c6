# %% [markdown]
# # Chapter 9 — EfficientNet: compound scaling, B0-B7 from one formula (Tan & Le 2019)
#
# Every chapter so far grew a network along one dimension: deeper (VGG, ResNet), wider
# (Wide ResNet), or fed it larger images. EfficientNet grows all three together, by one
# rule. From a small baseline B0 (MobileNet V2's inverted bottlenecks with
# squeeze-and-excitation, found by architecture search), scale
#
# $$\text{depth } d = \alpha^\phi, \quad \text{width } w = \beta^\phi, \quad
#   \text{resolution } r = \gamma^\phi, \qquad \alpha = 1.2,\ \beta = 1.1,\ \gamma = 1.15$$
#
# with $\alpha \beta^2 \gamma^2 \approx 2$: a conv's cost is linear in depth and
# quadratic in width and in resolution, so each step of $\phi$ doubles the cost.
# B1-B7 are $\phi = 1 \dots 7$.
#
# The figures come from `examples/demo_compound_scaling.py`, which this notebook calls.
#
# **Budget:** about 1 minute on a 2-core CPU (measured: see the last cell).

# %%
import course
import math
import numpy as np
import matplotlib.pyplot as plt

import minitorch_cnn as mt
from minitorch_cnn import models
from minitorch_cnn.analysis.published import IMAGENET
from minitorch_cnn.models.efficientnet import (ALPHA, BETA, GAMMA, BASE_RESOLUTION,
                                               B_VARIANTS, compound_scaling)
import demo_compound_scaling

# %% [markdown]
# ## 1. The formula, and the published multipliers
#
# `compound_scaling(phi)` gives the three multipliers; B1-B7 as published (and as
# torchvision builds them) round them by hand:

# %%
print(f"alpha beta^2 gamma^2 = {ALPHA} * {BETA}^2 * {GAMMA}^2 = {ALPHA * BETA**2 * GAMMA**2:.3f}\n")
print(f"{'phi':>3} {'model':16} {'formula: depth':>14} {'width':>6} {'res':>5}   "
      f"{'published: depth':>16} {'width':>6} {'res':>5}")
for phi, (name, (w_pub, d_pub, _, r_pub)) in enumerate(B_VARIANTS.items()):
    d, w, r = compound_scaling(phi)
    print(f"{phi:3d} {name:16} {d:14.2f} {w:6.2f} {r:5d}   "
          f"{d_pub:16.1f} {w_pub:6.1f} {r_pub:5d}")

# %% [markdown]
# ## 2. B0-B7 counted, the rule built, and one dimension alone
#
# The demo builds each published model and the pure rule `efficientnet(phi)` (shapes
# only), counts parameters and multiply-adds at each model's resolution (from the layer
# shapes, checked against `analysis.summary`'s forward pass on B0), and puts the
# paper's Table 2 beside them. Then it spends the same budget on one dimension alone.

# %%
fig = demo_compound_scaling.main(["--quick", "--out", ""])

# %%
display(fig)

# %% [markdown]
# **What it shows.** The multiply-adds double with each step of $\phi$ whichever way
# they are spent (left), but the parameters do not (right): resolution adds none,
# width adds them quadratically. The paper's point (Sec. 3.2, Fig. 3) is that accuracy
# does not follow cost equally either: each single dimension saturates near 80% top-1,
# while the compound models keep climbing. The published accuracies:

# %%
PAPER_TOP1 = [77.1, 79.1, 80.1, 81.6, 82.9, 83.6, 84.0, 84.3]          # Table 2
fig, ax = plt.subplots(figsize=(7.5, 4.2))
gm = [IMAGENET[n].gmacs for n in B_VARIANTS]
ax.plot(gm, PAPER_TOP1, "o-", label="paper, Table 2 (their training)")
ax.plot(gm, [IMAGENET[n].top1 for n in B_VARIANTS], "s--",
        label="torchvision IMAGENET1K_V1 weights")
for phi, (g, a) in enumerate(zip(gm, PAPER_TOP1)):
    ax.annotate(f"B{phi}", (g, a), xytext=(-6, 7), textcoords="offset points", fontsize=8)
ax.set_xscale("log")
ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
ax.set_xlabel("GMACs per image at the model's own resolution (log scale)")
ax.set_ylabel("ImageNet top-1 accuracy (%)")
ax.set_title("EfficientNet B0-B7: accuracy against cost")
ax.grid(alpha=0.3, which="both")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Each doubling of cost buys less: +2.0 points from B0 to B1, +0.3 from B6 to B7. The
# complexity chart of the whole zoo (`examples/demo_complexity_chart.py`) puts this
# frontier beside every other network of the course:

# %%
from minitorch_cnn.analysis import plots
display(plots.complexity_chart(measure_missing=False,
                               title="ImageNet top-1 against cost, the course's networks "
                                     "(bubble area = parameters)"))

# %%
course.report_time(budget_minutes=1)
