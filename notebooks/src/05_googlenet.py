# %% [markdown]
# # Chapter 5 — GoogLeNet: the Inception module and global average pooling (Szegedy et al. 2015)
#
# GoogLeNet (ILSVRC 2014's winner, 6.7% top-5 error) went to 22 layers with 12 times
# fewer parameters than AlexNet, through two economies:
#
# 1. the **Inception module**: 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool side by
#    side on the same input, concatenated — with **1x1 convolutions** in front of the
#    expensive 3x3 and 5x5 ones to cut the channels they see ("bottlenecks");
# 2. **global average pooling** at the end instead of AlexNet's and VGG's huge fully
#    connected layers (after Lin et al.'s Network in Network).
#
# The numbers come from `examples/demo_inception.py`, which this notebook calls.
#
# **Budget:** about 1 minute on a 2-core CPU (measured: see the last cell).

# %%
import course
import numpy as np
import matplotlib.pyplot as plt

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import models, nn, analysis
from minitorch_cnn.models.googlenet import Inception, inception_table
from minitorch_cnn.nn.init import skip_init
import demo_inception

# %% [markdown]
# ## 1. The module, naive and with bottlenecks
#
# The paper's Table 1 gives every module's filter numbers. Inception (3b) sits on a
# 28x28x256 map: 128 1x1 filters; 128 1x1 reducing to 192 3x3; 32 1x1 reducing to 96 5x5;
# a 3x3 max pool projected by 64 1x1 filters.

# %%
print(f"{'module':14} {'in':>4} {'#1x1':>5} {'#3x3 reduce':>11} {'#3x3':>5} {'#5x5 reduce':>11} "
      f"{'#5x5':>5} {'pool proj':>9}")
for row in inception_table:
    print(f"{row[0]:14} " + " ".join(f"{v:>{w}}" for v, w in zip(row[1:], (4, 5, 11, 5, 11, 5, 9))))

# %% [markdown]
# Without the reductions ("naive", the paper's Fig. 2a), the 5x5 branch alone reads all
# 256 channels at every one of 784 positions, and since the pool branch passes all 256
# input channels through, the output is always deeper than the input: stacked modules
# would blow up. The bottleneck module (Fig. 2b) is the one used. Counted on modules
# built from the library's layers (multiply-accumulates per branch, output depth by a
# forward pass), then the classifier heads:

# %%
fig = demo_inception.main(["--out", ""])

# %%
display(fig)

# %% [markdown]
# **Reading the figure.** The bottleneck module costs 2.8 times fewer multiply-adds
# than the naive one and stops the depth from growing (480 channels out, not 672). And
# the head: GoogLeNet's average pool + one linear layer has 1.0M parameters; VGG-16's
# three FC layers 123.6M, 89% of that network. The paper reports that replacing FC
# layers with average pooling *improved* top-1 accuracy by about 0.6% (Sec. 5).
#
# ## 2. The whole network, counted
#
# `googlenet` is torchvision's layout (BatchNorm in every conv, 3x3 in place of the 5x5
# branch, the auxiliary classifiers optional); `googlenet_paper` the 2014 network.

# %%
for name in ("googlenet", "googlenet_paper"):
    m = skip_init(models.create, name)
    print(f"{name:16} {sum(p.numel() for p in m.parameters()):11,d} parameters")
print("the paper (Sec. 5): 'about 12 times fewer parameters than' AlexNet (60M) -> about 5M "
      "without the auxiliary classifiers; ILSVRC 2014 top-5 error 6.67% (7 models, 144 crops)")

# %% [markdown]
# ## 3. Global average pooling, seen
#
# With average pooling the last conv layer has to produce, for each class, a map whose
# *mean* is that class's score — so the maps become class-localisation maps (Zhou et
# al. 2016's "class activation maps"). The classifier head is then a weighted sum of
# those means. On a small net (conv stack -> 10 channels -> global average pool) the
# shapes are:

# %%
mt.manual_seed(0)
tiny = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                     Inception(16, 8, 8, 16, 4, 8, 8, batch_norm=False, kernel5x5=5),
                     nn.Conv2d(40, 10, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
print(analysis.summary(tiny, (3, 32, 32)))

# %%
course.report_time(budget_minutes=1)
