# %% [markdown]
# # Chapter 7 — DenseNet and FractalNet: other ways to go deep
#
# ResNet adds a block's input to its output. Two answers of 2016-17 keep the idea of
# short paths and drop the addition:
#
# * **DenseNet** (Huang, Liu, van der Maaten & Weinberger 2017) *concatenates*: inside a
#   dense block, layer $l$ sees every earlier output, $x_l = H_l([x_0, x_1, \dots,
#   x_{l-1}])$, and adds only $k$ (the *growth rate*) new channels. Features are reused,
#   not recomputed, so the layers can be very narrow.
# * **FractalNet** (Larsson, Maire & Shakhnarovich 2017) has no shortcuts at all: a
#   block is built by a recursive rule, $f_{C+1}(z) = \mathrm{join}(f_C(f_C(z)),
#   \mathrm{conv}(z))$, whose columns of depth 1, 2, 4, 8 ... are averaged where they meet.
#   The short columns give the deep one the short gradient paths a ResNet gets from its
#   identity.
#
# This chapter counts both, trains a small dense block and looks at which earlier
# layers each layer actually uses (the paper's Fig. 5), and unrolls a fractal block.
#
# **Budget:** about 2 minutes on a 2-core CPU (measured: see the last cell).

# %%
import course
import numpy as np
import matplotlib.pyplot as plt

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import models, nn, optim
from minitorch_cnn.analysis import plots
from minitorch_cnn.analysis.published import IMAGENET
from minitorch_cnn.nn.init import skip_init

mt.manual_seed(0)
rng = np.random.default_rng(0)


def count(m):
    return sum(p.numel() for p in m.parameters())

# %% [markdown]
# ## 1. DenseNet, counted
#
# Channels grow linearly inside a block: after $l$ layers, $k_0 + l\,k$. DenseNet-BC
# puts a 1x1 "bottleneck" (to $4k$ channels) before each 3x3 and halves the channels in
# each transition ("compression" 0.5). The paper's CIFAR network, L = 100 and k = 12, has
# 0.8M parameters (Table 2):

# %%
for name, paper in (("densenet_bc_100_12", "0.8M, CIFAR-10+ test error 4.51% (Table 2)"),
                    ("resnet110", "1.7M, CIFAR-10 6.43% (He et al., Table 6)"),
                    ("densenet121", f"torchvision: 7,978,856; ImageNet top-1 "
                                    f"{IMAGENET['densenet121'].top1:.1f}%"),
                    ("resnet50", f"torchvision: 25,557,032; ImageNet top-1 "
                                 f"{IMAGENET['resnet50'].top1:.1f}%")):
    print(f"{name:20} {count(skip_init(models.create, name)):12,d} parameters   paper: {paper}")

k, k0, layers = 12, 24, 16                 # DenseNet-BC-100's first block: 16 layers, k = 12
channels = [k0 + l * k for l in range(layers + 1)]
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.step(range(layers + 1), channels, where="post", label=f"DenseNet-BC-100 block 1 (k = {k})")
ax.plot([0, layers], [k0, k0], "--", color="gray", label="a plain / residual stage keeps its width")
ax.set_xlabel("layers inside the dense block")
ax.set_ylabel("channels entering the next layer")
ax.set_title("a dense block's input grows by k channels per layer")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Which earlier layers does a layer use? (Fig. 5 of the paper)
#
# We build one dense block from the engine's layers — each layer BN-ReLU-conv3x3 adding
# k = 8 channels to the concatenation — train a small classifier on it, then look at
# each layer's filter weights grouped by the layer that produced the input channels:
# the mean |w| on the channels of source $s$ says how much target $l$ relies on $s$.

# %%
class DenseLayer(nn.Module):
    def __init__(self, c_in, k):
        super().__init__()
        self.bn, self.conv = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, k, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(F.relu(self.bn(x)))


class TinyDenseNet(nn.Module):
    def __init__(self, k0=16, k=8, n=6, num_classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, k0, 3, padding=1, bias=False)
        self.layers = nn.ModuleList([DenseLayer(k0 + i * k, k) for i in range(n)])
        self.bn = nn.BatchNorm2d(k0 + n * k)
        self.fc = nn.Linear(k0 + n * k, num_classes)

    def forward(self, x):
        features = [self.stem(x)]                   # x_0
        for layer in self.layers:                   # x_l = H_l([x_0, ..., x_{l-1}])
            features.append(layer(F.cat(features, 1)))
        x = F.relu(self.bn(F.cat(features, 1)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))   # global average pool


x_train, y_train, x_test, y_test, data_name, classes = course.images(3000, 500, size=16)
net = TinyDenseNet()
opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
STEPS = 300
sched = optim.lr_scheduler.MultiStepLR(opt, [STEPS // 2, 3 * STEPS // 4], gamma=0.1)
batches = course.batches(len(x_train), 64, rng)
for step in range(1, STEPS + 1):
    idx = next(batches)
    loss = F.cross_entropy(net(mt.tensor(x_train[idx])), mt.tensor(y_train[idx]))
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    if step % 100 == 0:
        print(f"step {step}: loss {loss.item():.3f}")
print(f"{data_name} at 16x16: test error {100 * course.error_rate(net, x_test, y_test):.1f}% "
      f"after {STEPS} steps ({count(net):,d} parameters)")

# %%
k0, k, n = 16, 8, len(net.layers)
sources = ["stem"] + [f"layer {i + 1}" for i in range(n)]
heat = np.full((n + 1, n + 1), np.nan)          # rows: target layer (and the classifier)
for t, layer in enumerate(net.layers):
    w = np.abs(layer.conv.weight.detach().numpy()).mean(axis=(0, 2, 3))   # per input channel
    bounds = [0, k0] + [k0 + (i + 1) * k for i in range(t)]
    heat[t, :t + 1] = [w[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])]
w = np.abs(net.fc.weight.detach().numpy()).mean(axis=0)
bounds = [0, k0] + [k0 + (i + 1) * k for i in range(n)]
heat[n, :] = [w[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])]
heat /= np.nanmax(heat, axis=1, keepdims=True)              # each target's strongest source = 1
fig, ax = plt.subplots(figsize=(6.4, 5))
im = ax.imshow(heat, cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(range(n + 1))
ax.set_xticklabels(sources, rotation=45, ha="right")
ax.set_yticks(range(n + 1))
ax.set_yticklabels([f"layer {i + 1}" for i in range(n)] + ["classifier"])
ax.set_xlabel("source: the layer whose output channels are read")
ax.set_ylabel("target: the layer reading them")
ax.set_title("mean |weight| from source to target\n(each row scaled to its max; blank: not connected)")
fig.colorbar(im, ax=ax, label="relative mean |w| (row max = 1)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Every row spreads its weight over many sources: layers do read features computed
# several layers earlier, not only their neighbour's — the feature reuse the paper's
# Fig. 5 shows on DenseNet-40. (Small nets trained briefly give a noisier picture than
# the paper's; the pattern to look for is that no row is zero outside its diagonal.)
#
# ## 3. FractalNet: the expansion rule, unrolled
#
# `models.fractalnet` builds the rule literally. A block of C columns has columns of
# 1, 2, 4, ..., $2^{C-1}$ convs, $2^C - 1$ convs in all; five blocks of four columns are
# 40 convs deep along the deepest path, yet the shallowest path through the network is
# five convs long.

# %%
for C in (1, 2, 3, 4):
    block = models.fractalnet.FractalBlock(C, 16, 16)
    convs = sum(isinstance(m, nn.Conv2d) for m in block.modules())
    print(f"C = {C}: {convs:2d} convs, columns of depth {[2 ** c for c in range(C)]}")
fn = skip_init(models.create, "fractalnet")
print(f"\nfractalnet (5 blocks, 4 columns): {count(fn):,d} parameters, "
      f"{sum(isinstance(m, nn.Conv2d) for m in fn.modules())} convs")

C = 4
fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
for c in range(C):                                   # column c: 2^c convs, drawn top to bottom
    depth = 2 ** c
    ys = (np.arange(depth) + 0.5) * (2 ** (C - 1) / depth)
    ax.scatter([c] * depth, ys, s=220, marker="s", color=f"C{c}", label=f"column {c + 1}: {depth} conv")
    ax.plot([c, c], [0, 2 ** (C - 1)], color=f"C{c}", lw=1)
for j in range(1, 2 ** (C - 1) + 1):                  # joins: where the columns meet
    meeting = [c for c in range(C) if j % (2 ** (C - 1 - c)) == 0]
    if len(meeting) > 1:
        ax.plot([min(meeting) - 0.3, max(meeting) + 0.3], [j, j], "k-", lw=2)
ax.plot([], [], "k-", lw=2, label="join (elementwise mean)")
ax.set_ylim(2 ** (C - 1) + 0.5, -0.5)
ax.set_xticks(range(C))
ax.set_xticklabels([f"column {c + 1}" for c in range(C)])
ax.set_xlabel("column of the block")
ax.set_ylabel("depth in the block\n(convs along the deepest column)")
ax.set_title("a fractal block, C = 4 columns (after Larsson et al. 2017, Fig. 1)")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
plt.show()

# %% [markdown]
# **Drop-path** makes the columns work on their own: in training each join drops its
# inputs at random (15% each, keeping one), and half the mini-batches run one single
# column through the whole network. The paper shows that the deepest column, extracted
# alone, is then nearly as good as the whole net (`model(x, column=c)` runs one column).

# %%
course.report_time(budget_minutes=2)
