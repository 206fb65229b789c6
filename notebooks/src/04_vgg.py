# %% [markdown]
# # Chapter 4 — VGG: small filters, deep stacks (Simonyan & Zisserman 2015)
#
# VGG asked one question — what does depth alone buy? — and answered it with the
# plainest design there is: only 3x3 convolutions (stride 1, padding 1), 2x2 max pools,
# channels doubling after each pool (64 to 512), three fully connected layers, and
# columns A to E of 11 to 19 weight layers. This chapter shows why 3x3 stacks are
# cheap, counts the A-E table, finds where VGG-16's memory and parameters live, and
# shows the two training tricks of its Section 3.1: scale jittering, and initialising
# a deep net from a trained shallow one.
#
# The tables and figures come from `examples/demo_kernel_stacking.py` and
# `examples/demo_vgg_configs.py`, which this notebook imports (their command-line
# twins print the same numbers).
#
# **Budget:** about 1 minute on a 2-core CPU (measured: see the last cell).

# %%
import course
import numpy as np
import matplotlib.pyplot as plt

import minitorch_cnn as mt
from minitorch_cnn import models, nn
from minitorch_cnn.data import transforms as T
from minitorch_cnn.models.vgg import init_from_shallower
import demo_kernel_stacking as stacking
import demo_vgg_configs as vgg_configs

# %% [markdown]
# ## 1. Why 3x3: stacking (Sec. 2.3)
#
# Two 3x3 layers see a 5x5 patch of their input, three see 7x7, like one 5x5 or one
# 7x7 layer — with fewer weights: with C channels in and out, $3 \cdot 3^2 C^2 = 27C^2$
# for the stack against $49C^2$, and a ReLU after every layer. Below, the weights are
# counted on the built layers, the receptive field is computed layer by layer
# ($r' = r + (k-1)j$) and *measured*: the pixels whose gradient
# $\partial y_{centre} / \partial x$ is nonzero.

# %%
results = stacking.measure(channels=32, samples=16)
stacking.print_table(results, channels=32, samples=16)
display(stacking.plot(results))

# %% [markdown]
# The heat maps show something the paper's count does not: a stack's gradient
# footprint is peaked in the middle (many paths lead to the centre pixel, one to a
# corner), a single kernel's is flat — the "effective receptive field" of Luo et al.
# 2016 is smaller than the theoretical one, and narrower for stacks (sigma above).
#
# ## 2. The A-E table (Tables 1 and 2), counted
#
# Every column built with the zoo's builders (shapes only, no random weights) and
# counted. From 11 to 19 layers the parameters grow by only 11M: 3x3 convs are cheap,
# and almost all the weights sit in the three FC layers every column shares.

# %%
configs = vgg_configs.configs()

# %% [markdown]
# ## 3. Where VGG-16's memory and parameters live
#
# The CS231n notes' famous table, from the shapes `analysis.summary` measures: the
# memory (activations) is in the first convs at 224x224, the parameters in the first FC
# layer. The notes' total of "24M" values does not follow from their own rows.

# %%
table, s = vgg_configs.vgg16_memory()
vgg_configs.what_adds_up(table, s)

# %%
display(vgg_configs.plot(configs, table, s))

# %% [markdown]
# ## 4. Scale jittering (Sec. 3.1, "multi-scale training")
#
# Each training image is rescaled so its shorter side is a random S in [S_min, S_max]
# (the paper: [256, 512]) and a fixed-size crop (224) is cut from it, so one network
# learns objects over a range of sizes. On a 32x32 image with `T.ScaleJitter(32, 56, 32)`:

# %%
x_train, y_train, _, _, data_name, classes = course.images(200, 10, size=32)
img = (x_train[3].transpose(1, 2, 0) - x_train[3].min()) / np.ptp(x_train[3])   # HWC in [0, 1]
jitter = T.ScaleJitter(32, 56, 32, rng=np.random.default_rng(1))
fig, axes = plt.subplots(1, 6, figsize=(12, 2.6))
axes[0].imshow(img)
axes[0].set_title(f"original 32x32\n({classes[y_train[3]]})", fontsize=9)
rng = np.random.default_rng(2)
for ax in axes[1:]:
    big = jitter.rescale(img, rng)
    crop = T.RandomCrop(32)(big) if big.shape[0] > 32 else big
    ax.imshow(np.clip(crop, 0, 1))
    ax.set_title(f"S = {big.shape[0]}, 32x32 crop", fontsize=9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"scale jittering on {data_name}: rescale to a random S, then crop")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Initialising a deep net from a shallow one (Sec. 3.1)
#
# Before BatchNorm and good initialisations, VGG's deep columns would not train from
# random weights. The authors trained A first, then started B-E from it: "we
# initialised the first four convolutional layers and the last three fully-connected
# layers with the layers of net A (the intermediate layers were initialised randomly)".
# `models.vgg.init_from_shallower` does that; here for D (VGG-16) from A (VGG-11), on
# the CIFAR layout:

# %%
mt.manual_seed(0)
A = models.create("vgg11", num_classes=10, cifar=True)
D = models.create("vgg16", num_classes=10, cifar=True)
copied = init_from_shallower(D, A)
print(f"{len(copied)} tensors of D copied from A:", ", ".join(copied))
params_D = dict(D.named_parameters())
n_copied = sum(params_D[n].numel() for n in copied if n in params_D)
total = sum(p.numel() for p in D.parameters())
print(f"{n_copied:,d} of D's {total:,d} parameters start from A "
      f"({n_copied / total:.0%}); the rest are random")
first_A = next(m for m in A.features if isinstance(m, nn.Conv2d))     # conv1_1 of each net
first_D = next(m for m in D.features if isinstance(m, nn.Conv2d))
print("conv1_1 of D equals conv1_1 of A:",
      np.array_equal(first_A.weight.detach().numpy(), first_D.weight.detach().numpy()))

# %% [markdown]
# The authors later found that Glorot initialisation trains the deep columns directly,
# without this step (Sec. 3.1, last sentence); with BatchNorm (`vgg16_bn`) it is not
# needed either. The paper's results, for reference (Table 3, single scale, top-1 /
# top-5 validation error): A 29.6 / 10.4, D 27.0 / 8.8 (S = 256, jittered training
# 25.6 / 8.1), E 27.3 / 9.0 (jittered 25.5 / 8.0).

# %%
course.report_time(budget_minutes=1)
