# %% [markdown]
# # Chapter 3 — AlexNet and ZFNet: large filters, LRN, two towers, and seeing inside
#
# **AlexNet** (Krizhevsky, Sutskever & Hinton 2012) won ImageNet 2012 with LeNet's
# recipe made large: five conv layers and three fully connected ones, 60 million
# parameters, ReLUs, dropout, **local response normalisation** (LRN), an 11x11 stride-4
# first layer, and the network split in **two towers**, one per 3 GB GPU. **ZFNet**
# (Zeiler & Fergus 2014) asked what such a network has learned: their **deconvnet**
# runs a unit's activation backwards to the pixels — unpooling with the max pool's
# *switches*, rectifying, and the conv's filters transposed — and what they saw made
# them shrink the first layer to 7x7 stride 2.
#
# This chapter counts the two networks, trains a small ZFNet-style net on 32x32 images,
# shows its first-layer filters, and projects what later units respond to with the
# deconvnet (built on the engine's `nn.MaxUnpool2d` and `nn.ConvTranspose2d`) beside
# gradient saliency (Simonyan et al. 2014).
#
# **Budget:** about 3 minutes on a 2-core CPU (measured: see the last cell).

# %%
import course
import numpy as np
import matplotlib.pyplot as plt

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import models, nn, optim, analysis
from minitorch_cnn.analysis import plots
from minitorch_cnn.analysis.published import IMAGENET
from minitorch_cnn.nn.init import skip_init

mt.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The two networks, counted
#
# `alexnet_paper` is the 2012 network as in its Figure 2 (96-256-384-384-256 maps, LRN
# after conv1 and conv2, the two towers as `groups=2`); `zfnet` is Zeiler & Fergus's
# Figure 3 (7x7 stride-2 conv1, one tower). The paper says "60 million parameters".

# %%
def params(name):
    return sum(p.numel() for p in skip_init(models.create, name).parameters())


for name, paper in (("alexnet_paper", "60 million (Sec. 1)"), ("zfnet", "-"),
                    ("alexnet", "61,100,840 (torchvision)")):
    pub = IMAGENET.get(name.replace("_paper", ""))
    top1 = f"{pub.top1:.1f}%" if pub else "-"
    print(f"{name:14} {params(name):12,d} parameters   paper: {paper:26}  "
          f"ImageNet top-1: {top1} ({pub.source if pub else ''})")
print("AlexNet paper, Table 2: top-1 / top-5 error 40.7% / 18.2% for one CNN on ILSVRC-2012 "
      "validation; ZFNet paper, Table 2: 38.4% / 16.5% for one net")

# %% [markdown]
# **Two towers.** Conv2, conv4 and conv5 of AlexNet see only the maps on their own GPU.
# A grouped convolution with `groups=2` computes exactly that, and halves the weights:

# %%
for groups in (1, 2):
    conv = skip_init(nn.Conv2d, 96, 256, 5, padding=2, groups=groups)
    print(f"conv2 96 -> 256, 5x5, groups={groups}: weight {tuple(conv.weight.shape)}, "
          f"{conv.weight.numel():,d} weights")

# %% [markdown]
# **Local response normalisation** divides each activation by the energy of its
# neighbours across $n = 5$ adjacent channels, $b_c = a_c / (k + \alpha \sum_{c'} a_{c'}^2)^\beta$
# with $k = 2, \alpha = 10^{-4}, \beta = 0.75$: a strongly active channel damps its
# neighbours ("lateral inhibition"). It cost AlexNet little and gave 1.4% top-1; VGG
# found no gain from it (chapter 4), and BatchNorm replaced it.

# %%
from minitorch_cnn.models.alexnet import local_response_norm

lrn = local_response_norm()
a = np.zeros((1, 9, 1, 1), np.float32)
a[0, :, 0, 0] = [1, 1, 1, 1, 60, 1, 1, 1, 1]          # one loud channel among quiet ones
b = lrn(mt.tensor(a)).numpy()[0, :, 0, 0]
print("a / b per channel:", np.round(a[0, :, 0, 0] / b, 3))
print("the loud channel and its 4 neighbours are divided by more than the far ones")

# %% [markdown]
# ## 2. A small ZFNet, trained on 32x32 images
#
# The real ZFNet has 62 million parameters and needs ImageNet. We keep its shape — a
# large 7x7 stride-2 first layer, max pool 3/2, LRN, a 5x5 layer, then 3x3 — at widths
# a CPU trains in a minute and a half, on CIFAR-10 if it is in the data folder, else on
# the built-in shapes.

# %%
x_train, y_train, x_test, y_test, data_name, classes = course.images(5000, 1000, size=32)
print(f"{data_name}: {len(x_train)} training and {len(x_test)} test images, 32x32 RGB; "
      f"classes {classes}")

mt.manual_seed(0)
features = nn.Sequential(
    nn.Conv2d(3, 32, 7, stride=2, padding=3), nn.ReLU(),     # conv1: 32 -> 16 (ZFNet: 7x7/2)
    nn.MaxPool2d(3, stride=2, padding=1), local_response_norm(),   # -> 8
    nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(),              # conv2: 8 -> 8
    nn.MaxPool2d(3, stride=2, padding=1), local_response_norm(),   # -> 4
    nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),             # conv3: 4 -> 4
)
net = nn.Sequential(features, nn.Flatten(), nn.Dropout(0.5), nn.Linear(128 * 4 * 4, 10))
print(analysis.summary(net, (3, 32, 32)))

# %%
STEPS, BATCH, LR = 1000, 64, 0.02
opt = optim.SGD(net.parameters(), lr=LR, momentum=0.9, weight_decay=5e-4)  # AlexNet's SGD
sched = optim.lr_scheduler.MultiStepLR(opt, [int(0.7 * STEPS)], gamma=0.1)
batches = course.batches(len(x_train), BATCH, rng)
history, losses, wrong = [], [], 0
net.train()
for step in range(1, STEPS + 1):
    idx = next(batches)
    xb = x_train[idx]
    flip = rng.random(BATCH) < 0.5                         # AlexNet's horizontal flips
    xb = np.where(flip[:, None, None, None], xb[..., ::-1], xb)
    out = net(mt.tensor(np.ascontiguousarray(xb)))
    loss = F.cross_entropy(out, mt.tensor(y_train[idx]))
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    losses.append(loss.item())
    wrong += int((out.detach().numpy().argmax(1) != y_train[idx]).sum())
    if step % 100 == 0:
        history.append({"step": step, "train_loss": float(np.mean(losses)),
                        "train_error_%": 100 * wrong / (100 * BATCH),
                        "test_error_%": 100 * course.error_rate(net, x_test, y_test)})
        losses, wrong = [], 0
        print(f"step {step}: loss {history[-1]['train_loss']:.3f}, test error "
              f"{history[-1]['test_error_%']:.1f}%")
display(plots.training_curves(history, title=f"small ZFNet on {data_name}: SGD lr {LR} "
                              f"(/10 at step {int(0.7 * STEPS)}), batch {BATCH}, flips"))

# %% [markdown]
# ## 3. What the first layer learned
#
# Krizhevsky et al.'s Fig. 3 and Zeiler & Fergus's Fig. 6 show first-layer filters as
# images: after 90 epochs of ImageNet, oriented edges, colour blobs and gratings. Ours,
# 32 filters of 7x7x3 (each stretched to its own range), after a thousand steps on a few
# thousand small images, are much rougher: mostly colour-opponent blotches (this colour
# against that one), a few with an edge-like split. Filters this early in training still
# carry much of their random start; the clean Gabor-like patterns of the papers take far
# more data and training.

# %%
display(plots.first_layer_filters(net, title=f"conv1 after training on {data_name}: "
                                  "32 filters 7x7, RGB"))

# %% [markdown]
# ## 4. What later units respond to: the deconvnet, beside gradient saliency
#
# Pick one channel of conv3. Find the test images that excite it most. Then:
#
# * **deconvnet** (Zeiler & Fergus, Sec. 2.1): keep only that channel's strongest
#   activation, zero the rest, and run it back through the layers in reverse — a
#   **max unpool** puts each value back where the pool took its maximum from (the
#   *switches* recorded on the way up), a **ReLU** keeps the reconstruction positive,
#   and a **transposed convolution** with the *same* filters (`nn.ConvTranspose2d`
#   holding the conv's weight: its (C_in, C_out, KH, KW) layout is the conv's
#   (OC, C, KH, KW) read the other way round) maps it to the layer below. LRN is
#   skipped, as in the paper.
# * **gradient saliency** (Simonyan, Vedaldi & Zisserman 2014): the gradient of the same
#   activation with respect to the pixels. The only difference from the deconvnet is the
#   ReLU: backprop passes the gradient where the *forward input* was positive, the
#   deconvnet where the *reconstruction* is.

# %%
def forward_to(layer, x):
    """Run features[0..layer] recording each max pool's switches and every input size."""
    switches, sizes, h = {}, {}, x
    for i, m in enumerate(features):
        sizes[i] = tuple(h.shape[-2:])
        if isinstance(m, nn.MaxPool2d):
            h, switches[i] = F.max_pool2d(h, m.kernel_size, m.stride, m.padding,
                                          return_indices=True)
        else:
            h = m(h)
        if i == layer:
            return h, switches, sizes


def deconv_project(layer, channel, x):
    """The deconvnet: channel's strongest activation (per image) back to pixel space."""
    net.eval()
    with mt.no_grad():
        h, switches, sizes = forward_to(layer, mt.tensor(x))
        a = h.numpy()
        keep = np.zeros_like(a)
        for n in range(len(a)):
            i, j = np.unravel_index(a[n, channel].argmax(), a.shape[2:])
            keep[n, channel, i, j] = a[n, channel, i, j]
        r = mt.tensor(keep)
        for i in reversed(range(layer + 1)):
            m = features[i]
            if isinstance(m, nn.ReLU):
                r = F.relu(r)                                  # rectify the reconstruction
            elif isinstance(m, nn.MaxPool2d):                   # unpool with the switches
                r = nn.MaxUnpool2d(m.kernel_size, m.stride, m.padding)(
                    r, switches[i], output_size=sizes[i])
            elif isinstance(m, nn.Conv2d):                      # the filters, transposed
                deconv = nn.ConvTranspose2d(m.out_channels, m.in_channels, m.kernel_size,
                                            m.stride, m.padding, bias=False)
                deconv.weight = m.weight
                r = deconv(r, output_size=sizes[i])
    return r.numpy()


def saliency(layer, channel, x):
    """|d a / d x| of channel's strongest activation (per image), max over RGB."""
    net.eval()
    xt = mt.tensor(x, requires_grad=True)
    h, _, _ = forward_to(layer, xt)
    a = h.detach().numpy()
    pick = np.zeros_like(a)
    for n in range(len(a)):
        i, j = np.unravel_index(a[n, channel].argmax(), a.shape[2:])
        pick[n, channel, i, j] = 1
    (h * mt.tensor(pick)).sum().backward()
    return np.abs(xt.grad.numpy()).max(axis=1)


LAYER = 9                                      # features[9] = conv3's ReLU output
with mt.no_grad():
    net.eval()
    acts = forward_to(LAYER, mt.tensor(x_test))[0].numpy().max(axis=(2, 3))   # (N, 128)
channels = [int(c) for c in np.argsort(-acts.mean(axis=0))[:4]]   # four of the liveliest
print("conv3 channels shown:", channels)


def show_rgb(img):
    img = img.transpose(1, 2, 0)
    return (img - img.min()) / (img.max() - img.min() + 1e-12)


TOP = 2
fig, axes = plt.subplots(len(channels), 3 * TOP, figsize=(12, 2.3 * len(channels)))
for row, c in enumerate(channels):
    best = np.argsort(-acts[:, c])[:TOP]
    proj = deconv_project(LAYER, c, x_test[best])
    sal = saliency(LAYER, c, x_test[best])
    for k, n in enumerate(best):
        cells = [(show_rgb(x_test[n]), None, f"image {n}\n{classes[y_test[n]]}"),
                 (show_rgb(proj[k]), None, "deconvnet"),
                 (sal[k] / (sal[k].max() + 1e-12), "inferno", "gradient")]
        for j, (img, cmap, title) in enumerate(cells):
            ax = axes[row, 3 * k + j]
            ax.imshow(img, cmap=cmap)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=8)
        axes[row, 0].set_ylabel(f"conv3\nchannel {c}", fontsize=9)
fig.suptitle("what conv3 units respond to: their top test images, the deconvnet projection "
             "(Zeiler & Fergus 2014) and gradient saliency (Simonyan et al. 2014)")
fig.tight_layout()
plt.show()

# %% [markdown]
# The deconvnet projections are *pictures* — strokes and edges in the image's own
# colours, at the place that drove the unit — because the rectification keeps only
# positive evidence and the switches put it back where it came from. The gradient is a
# *sensitivity map*: where a small change of a pixel would change the unit, often
# speckled. (A conv3 unit's receptive field is 51x51 pixels by `analysis.receptive_field`,
# printed below: larger than the 32x32 image, so both maps may spread over all of it.)
#
# The transposed convolution used above is the exact adjoint of the convolution: for
# any u and v, $\langle \mathrm{conv}(u), v\rangle = \langle u, \mathrm{conv}^T(v)\rangle$.
# Checked on conv2:

# %%
conv2 = features[4]
u = mt.randn(2, 32, 8, 8)
v = mt.randn(2, 64, 8, 8)
lhs = float((F.conv2d(u, conv2.weight, None, 1, 2) * v).sum().item())
rhs = float((u * F.conv_transpose2d(v, conv2.weight, None, 1, 2)).sum().item())
print(f"<conv(u), v> = {lhs:.4f}    <u, conv_transpose(v)> = {rhs:.4f}")
rf = analysis.receptive_field(features, (3, 32, 32)).last
print(f"receptive field of conv3 (after its ReLU): {rf.r[0]}x{rf.r[1]} pixels, "
      f"jump {rf.j[0]} pixels between neighbouring units")

# %%
course.report_time(budget_minutes=3)
