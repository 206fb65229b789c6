# %% [markdown]
# # Chapter 8 — MobileNet V1 and V2: depthwise-separable convolutions (Howard et al. 2017; Sandler et al. 2018)
#
# A standard $k \times k$ convolution from $M$ to $N$ channels on a $D_F \times D_F$ map
# does two jobs at once: it filters space and mixes channels, for
# $k^2 M N D_F^2$ multiply-adds. MobileNet splits the jobs: a **depthwise** $k \times k$
# conv filters each channel on its own ($k^2 M D_F^2$), then a **pointwise** 1x1 conv
# mixes the channels ($M N D_F^2$). Relative to the standard conv the cost is
#
# $$\frac{k^2 M D_F^2 + M N D_F^2}{k^2 M N D_F^2} = \frac{1}{N} + \frac{1}{k^2}$$
#
# — 8 to 9 times fewer multiply-adds for $k = 3$ (the paper's eq. 5). This chapter counts
# that ratio, **measures** it with this engine's kernels, counts MobileNet V1 at its four
# widths against the paper's Table 6, and shows V2's reason for *linear* bottlenecks.
#
# **Budget:** about 1 minute on a 2-core CPU (measured: see the last cell).

# %%
import course
import numpy as np
import matplotlib.pyplot as plt

import minitorch_cnn as mt
from minitorch_cnn import models, nn, analysis
from minitorch_cnn.analysis.published import IMAGENET
import demo_block_costs as block_costs       # examples/: the shared code

# %% [markdown]
# ## 1. The ratio, counted and measured
#
# Counted: `analysis.summary` adds up the multiply-adds of the built layers
# (`nn.Conv2d(M, M, k, groups=M)` then `nn.Conv2d(M, N, 1)` against `nn.Conv2d(M, N, k)`).
# Measured: the forward time of both on this engine, one thread, median of 7 runs, on a
# batch of 16 maps of 14x14 (MobileNet's 4th stage).

# %%
ratios = block_costs.separable_ratios(channels=[8, 16, 32, 64, 128, 256, 512, 1024],
                                      kernels=[3, 5], map_size=14)
block_costs.print_ratios(ratios, map_size=14)

# %%
timed = block_costs.time_separable(channels=(32, 64, 128, 256, 512), k=3, map_size=14,
                                   batch=16, repeat=7)
print(f"{'N = M':>6} {'standard ms':>12} {'separable ms':>13} {'measured ratio':>15} "
      f"{'counted 1/N + 1/9':>18}")
for n, (std, sep) in timed.items():
    print(f"{n:6d} {std:12.2f} {sep:13.2f} {sep / std:15.3f} {1 / n + 1 / 9:18.3f}")

# %%
fig, ax = plt.subplots(figsize=(8.5, 5))
block_costs.plot_ratios(ratios, ax, timed)
ax.set_title("depthwise-separable / standard conv: counted (circles, lines) and timed (x)")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Counted vs measured.** The count follows the formula exactly. The measured ratio is
# higher: the depthwise conv does only $k^2$ multiply-adds per output and reads its
# input once for them, so it is bound by memory traffic, not arithmetic, while the
# standard conv's GEMM runs near the CPU's peak. As N grows the pointwise GEMM dominates
# and the measured ratio closes in on the counted one (the engine's depthwise conv is a
# dedicated unit of the fast path, `fast/conv_depthwise.py`; chapter 1's reading guide
# shows where).
# MobileNet's paper builds on the same fact: 95% of its multiply-adds are in the 1x1
# convs (Table 2), which run as plain GEMMs.
#
# ## 2. MobileNet V1 and its width multiplier (Table 6)
#
# A width multiplier $\alpha$ thins every layer; cost falls as $\alpha^2$. Counted at
# 224x224 on the zoo's builders, beside the paper:

# %%
PAPER_V1 = {"mobilenet_v1": (1.0, 70.6, 569, 4.2), "mobilenet_v1_075": (0.75, 68.4, 325, 2.6),
            "mobilenet_v1_050": (0.5, 63.7, 149, 1.3), "mobilenet_v1_025": (0.25, 50.6, 41, 0.5)}
print(f"{'builder':18} {'alpha':>5} {'MACs (M)':>9} {'paper':>6} {'params (M)':>11} {'paper':>6} "
      f"{'paper top-1':>11}")
for name, (alpha, top1, macs, params) in PAPER_V1.items():
    s = analysis.summary(models.create(name), (3, 224, 224))
    print(f"{name:18} {alpha:5.2f} {s.total_macs / 1e6:9.0f} {macs:6d} {s.total_params / 1e6:11.2f} "
          f"{params:6.1f} {top1:10.1f}%")
v2 = analysis.summary(models.create("mobilenet_v2"), (3, 224, 224))
print(f"\nmobilenet_v2: {v2.total_macs / 1e6:.0f}M MACs, {v2.total_params:,d} parameters; "
      f"torchvision: {IMAGENET['mobilenet_v2'].gmacs * 1000:.0f}M, "
      f"{IMAGENET['mobilenet_v2'].params:,d}, top-1 {IMAGENET['mobilenet_v2'].top1:.1f}%")

# %% [markdown]
# ## 3. MobileNet V2: why the bottleneck is linear (Sandler et al. 2018, Fig. 1)
#
# V2's block expands a thin input with a 1x1 conv (6x), filters it depthwise, and
# projects it back to a thin output with a 1x1 conv **without a ReLU**. The paper's
# argument: a ReLU on a low-dimensional representation destroys information; in a
# high-dimensional one it does not. Its Fig. 1 shows it on a 2-D spiral, embedded into
# $n$ dimensions by a random matrix $T$, passed through ReLU, and brought back by
# $T^{-1}$ (the pseudo-inverse). Recomputed here:

# %%
rng = np.random.default_rng(0)
t = np.linspace(0, 4 * np.pi, 600)
spiral = np.stack([t * np.cos(t), t * np.sin(t)]) / (4 * np.pi)         # (2, 600)
fig, axes = plt.subplots(1, 5, figsize=(14, 3.2))
axes[0].scatter(*spiral, c=t, s=4, cmap="viridis")
axes[0].set_title("input: a 2-D spiral")
for ax, n in zip(axes[1:], (2, 3, 15, 30)):
    T_ = rng.standard_normal((n, 2))
    back = np.linalg.pinv(T_) @ np.maximum(T_ @ spiral, 0)            # T^-1 ReLU(T x)
    ax.scatter(*back, c=t, s=4, cmap="viridis")
    ax.set_title(f"ReLU in n = {n} dimensions")
for ax in axes:
    ax.set_xlabel("coordinate 1")
    ax.set_aspect("equal", adjustable="datalim")
axes[0].set_ylabel("coordinate 2")
fig.suptitle("T^-1 ReLU(T x): low n collapses the manifold, high n keeps it (colour: "
             "position along the spiral)")
fig.tight_layout()
plt.show()

# %%
course.report_time(budget_minutes=1)
