# %% [markdown]
# # Chapter 6 — ResNet: the degradation problem, shown by training (He et al. 2016)
#
# By 2015 networks had gone from 8 layers (AlexNet) to 22 (GoogLeNet), and deeper
# seemed better. He, Zhang, Ren and Sun found the limit of that: **a deeper plain
# network can end at a higher *training* error than a shallower one.** Not
# overfitting — the deeper net is worse on the very data it is trained on — and not
# vanishing gradients: every conv is followed by BatchNorm. A deeper net could always
# copy the shallower one and set its extra layers to the identity, so the solution
# exists; plain SGD just does not find it. Their fix: let each block learn a
# *residual* $F(x)$ and add its input back, $y = F(x) + x$, so the identity is the
# easy default.
#
# This chapter **trains** plain nets and ResNets of three depths and shows the effect
# in numbers, then looks at why, and at what came after: bottlenecks,
# pre-activation, stochastic depth, width.
#
# **Budget:** about 5 minutes on a 2-core CPU, nearly all of it the training in
# section 2 (measured: see the last cell).

# %%
import course
import numpy as np
import matplotlib.pyplot as plt

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import models
from minitorch_cnn.analysis import plots
from minitorch_cnn.nn.init import skip_init
import demo_resnet_degradation as degradation     # examples/: this chapter's command-line twin

# %% [markdown]
# ## 1. The experiment, scaled to a CPU
#
# The paper trains plain nets and ResNets of 20-56 layers on CIFAR-10 for 64,000 steps
# (Section 4.2, Fig. 6). We keep its architecture and recipe and shrink the rest, so
# that the whole comparison trains in a few minutes:
#
# | | paper (Sec. 4.2) | here |
# |---|---|---|
# | data | CIFAR-10, 50k images 32x32x3, crops and flips | 1,500 digits 8x8x1 (scikit-learn), no augmentation |
# | widths of the 3 stages | 16, 32, 64 | 8, 16, 32 |
# | maps | 32, 16, 8 | 8, 4, 2 |
# | depths | 20, 32, 44, 56 (and 110) | 8, 20, 32 |
# | steps x batch | 64,000 x 128 | 400 x 64 (17 epochs) |
# | SGD | lr 0.1, /10 at 50% and 75%, momentum 0.9, wd 1e-4 | the same |
# | shortcuts | option A (zero-padded identity: no parameters) | the same |
#
# The code is `examples/demo_resnet_degradation.py`, which this notebook imports (run
# it from the command line for the same numbers). Option-A shortcuts add no weights, so
# a plain net and its ResNet are the *same* parameters wired two ways; the same seed
# gives both the same initial weights.

# %%
cfg = degradation.CONFIG
print({k: v for k, v in cfg.items()})
for depth in cfg["depths"]:
    plain, res = (degradation.build(kind, depth, cfg["width"]) for kind in degradation.KINDS)
    count = lambda m: sum(p.numel() for p in m.parameters())    # noqa: E731
    print(f"depth {depth:2d}: plain {count(plain):6,d} parameters, ResNet {count(res):6,d}")

# %% [markdown]
# ## 2. Training: three depths, two kinds, three seeds
#
# Each net's training error (on all 1,500 training digits, in eval mode) is measured
# every 20 steps. This cell is the chapter's budget: 18 trainings.

# %%
results = degradation.run(cfg)

# %%
print(degradation.table(results, cfg["seeds"]))
print()
print(degradation.paper_table())

# %%
display(degradation.plot(results, cfg))

# %% [markdown]
# **What the numbers say.** The plain nets degrade with depth: plain-8 fits the
# training digits completely, plain-20 nearly, plain-32 is left with a clearly higher
# training error after the same 400 steps, seed after seed (the table above). The
# ResNets of the *same* depths and weights reach zero training error at every depth.
# That is the paper's Fig. 6 in miniature: left, the plain nets, deeper is worse;
# right, the ResNets, deeper is not worse.
#
# Where ours differs from the paper: our ResNets all reach zero training error, so
# the data cannot show the paper's second half, "deeper ResNets are *better*"
# (ResNet-56 below ResNet-20); it shows "no worse". Our deep plain net is also much
# worse than the paper's, relative to the shallow one: 32 layers of width 8 on 8x8
# digits, with 400 steps, is a harder optimisation than 56 layers of width 16-64 with
# 64,000 steps. With a learning rate of 0.02 instead of 0.1 (tried while choosing
# this setting), plain-32 ends near 0.5% rather than ~10% — still the deepest plain net
# and still the worst, but the gap is small; the paper's lr 0.1 is kept.
#
# ## 3. Why: the gradients of a deep plain net
#
# BatchNorm keeps each layer's *forward* signal normalised, and the gradients do not
# vanish: the paper checks this (Sec. 4.1) and so can we. What differs is how evenly
# the gradient is spread over the layers. At initialisation, on one batch, the
# per-layer gradient norms of plain-32 range over more than an order of magnitude
# (the figure and the printed "largest / smallest"), those of ResNet-32 over a few
# times: the shortcut gives every block a direct path from the loss. No single
# learning rate suits layers whose gradients differ that much, one reading of why SGD
# makes slow progress on the deep plain net (the paper leaves the cause open; Yang et
# al. 2019, "A Mean Field Theory of Batch Normalization", show that a deep BN-plain
# net's gradients grow towards the input).

# %%
x, y = degradation.digits_8x8(256)
records = {}
for kind in degradation.KINDS:
    model = degradation.build(kind, 32, cfg["width"])
    model.train()
    F.cross_entropy(model(mt.tensor(x)), mt.tensor(y)).backward()
    records[f"{kind}-32 at initialisation"] = [plots.gradient_norms(model)]
for name, (rec,) in records.items():
    convs = [v for k, v in rec.items() if not k.startswith("fc.")]
    print(f"{name:28} first conv / last conv gradient norm: {convs[0] / convs[-1]:8.1f}   "
          f"largest / smallest: {max(convs) / min(convs):8.1f}")
fig = plots.gradient_flow(records, title="per-layer gradient norm ||dL/dW|| at "
                          "initialisation, one batch of 256 digits: plain-32 vs ResNet-32")
display(fig)

# %% [markdown]
# ## 4. After the degradation paper: bottlenecks, pre-activation, stochastic depth, width
#
# **Bottlenecks** (He et al. 2016, Sec. 4.1, Fig. 5). Past 50 layers the basic block
# (two 3x3 convs) gets expensive; the bottleneck block squeezes 256 channels to 64 with a
# 1x1 conv, does the 3x3 at 64, and expands back with a 1x1. It costs what a basic block
# on 64 channels costs, for a 4x wider output. Counted on the library's blocks:

# %%
import demo_block_costs as block_costs               # examples/: the shared code

blocks = block_costs.resnet_blocks()
block_costs.print_blocks(blocks)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
block_costs.plot_blocks(blocks, axes)
fig.suptitle("basic vs bottleneck block on a 56x56 map (He et al. 2016, Fig. 5)")
plt.show()

# %% [markdown]
# **Pre-activation** (He et al. 2016b, "Identity Mappings in Deep Residual Networks"):
# moving BN and ReLU *before* each conv makes the shortcut path a pure identity from
# the first block to the last, which let them train 1001 layers. **Stochastic depth**
# (Huang et al. 2016): during training, drop whole residual blocks at random, block
# $l$ of $L$ surviving with probability $p_l = 1 - \frac{l}{L}(1 - p_L)$, so the
# expected depth is shorter and training faster; at test time all blocks run.
# **Width** (Zagoruyko & Komodakis 2016): a 28-layer ResNet 10x wider beats the
# 1001-layer one. The zoo has each; the table puts its parameter counts beside the
# papers' CIFAR-10 test errors.

# %%
rows = [("resnet110", 110, "He et al. 2016, Table 6", "6.43"),
        ("preact_resnet164", 164, "He et al. 2016b, Table 3 (original ResNet-164: 5.93)", "5.46"),
        ("preact_resnet1001", 1001, "He et al. 2016b, abstract", "4.62"),
        ("wrn28_10", 28, "Zagoruyko & Komodakis 2016, Table 4", "4.17")]
print(f"{'builder':18} {'depth':>5} {'parameters':>12}  {'CIFAR-10 test error':>19}  source")
for name, depth, source, err in rows:
    model = skip_init(models.create, name)
    n = sum(p.numel() for p in model.parameters())
    print(f"{name:18} {depth:>5} {n:12,d}  {err + '%':>19}  {source}")

model = models.create("resnet110", stochastic_depth=0.5)
p = [b.survival_prob for b in model.blocks()]
print(f"\nResNet-110 with stochastic depth (p_L = 0.5): {len(p)} blocks, expected "
      f"{sum(p):.1f} alive per step ({sum(p) / len(p):.0%}); Huang et al. 2016, Table 1: "
      f"CIFAR-10 test error 6.41% (constant depth) -> 5.25% (stochastic depth)")
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(range(1, len(p) + 1), p, marker="o", ms=3)
ax.set_xlabel("residual block l (input side -> output side)")
ax.set_ylabel("survival probability p_l")
ax.set_ylim(0, 1.05)
ax.set_title("stochastic depth: linear decay from 1 to p_L = 0.5 (ResNet-110, 54 blocks)")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %%
course.report_time(budget_minutes=5)
