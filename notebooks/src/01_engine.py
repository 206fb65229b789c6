# %% [markdown]
# # Chapter 1 — The engine: a tensor, autograd, and a convolution from scratch
#
# Every network of this course runs on `minitorch_cnn`, an engine small enough to read.
# This chapter opens it: a **tensor** (a NumPy array that remembers how it was made),
# **autograd** (the chain rule, run backwards over that memory), and the **convolution**,
# built by hand as im2col + one matrix product, then checked against `F.conv2d`. It ends
# with a reading guide to the source files and your first change to the engine: a new op.
#
# **Budget:** under 1 minute on a 2-core CPU (measured: see the last cell).

# %%
import course                      # this checkout's package first on the path; one thread
import numpy as np
import matplotlib.pyplot as plt

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import kernels
from minitorch_cnn.functional.geometry import conv_geometry

mt.manual_seed(0)

# %% [markdown]
# ## 1. A tensor
#
# A `Tensor` wraps an array (`.data`: NumPy on the CPU, CuPy on a GPU) and, if it asks for
# gradients, remembers the op that made it (`.grad_fn`). Operators behave as in PyTorch.

# %%
a = mt.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
b = mt.tensor([10.0, 20.0, 30.0])
c = a * b + 1                       # broadcasting: b is added to every row
print(c)
print("shape", c.shape, "dtype", c.dtype, "| the array inside:", type(c.data).__name__)
print("made by", c.grad_fn, "whose inputs were made by",
      [getattr(i, "grad_fn", None) for i in c.grad_fn.inputs])

# %% [markdown]
# ## 2. Autograd: the chain rule, backwards
#
# Take $L = \sum_{ij} \tanh(a_{ij} b_j)$. By hand, $\partial L / \partial a_{ij} =
# b_j \, (1 - \tanh^2(a_{ij} b_j))$. `L.backward()` walks the graph from `L` back to `a`,
# each op applying its own local derivative (its `backward`), and leaves the result in
# `a.grad`. The walk is iterative (no recursion), so a 1,000-layer net is no problem.

# %%
a = mt.tensor([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], requires_grad=True)
L = F.tanh(a * b).sum()
L.backward()
by_hand = b.numpy() * (1 - np.tanh(a.detach().numpy() * b.numpy()) ** 2)
print("autograd:\n", a.grad.numpy())
print("by hand:\n", by_hand)
print("largest difference:", np.abs(a.grad.numpy() - by_hand).max())

# %% [markdown]
# ## 3. A convolution from scratch: im2col, one GEMM, col2im
#
# A convolution slides each filter over the image and takes a dot product at every
# position. Written as loops that is six nested `for`s. **im2col** turns it into one
# matrix product: copy every window of the input into a *column* of a matrix, and the
# whole layer becomes
#
# $$Y_{(OC \times N\,OH\,OW)} = W_{(OC \times C\,KH\,KW)} \; \mathrm{cols}_{(C\,KH\,KW \times N\,OH\,OW)}$$
#
# — one GEMM, the operation BLAS libraries run near the machine's peak. Here is a
# 4x4 input with one channel and a 3x3 filter (stride 1, no padding): 2x2 = 4 windows,
# so `cols` is 9 x 4. Each window and its column have the same colour.

# %%
x = mt.arange(1, 17, dtype="float64").reshape(1, 1, 4, 4)     # (N, C, H, W) = (1, 1, 4, 4)
KH = KW = 3
# every size of the conv in one named tuple, checked once: one 3x3 filter, stride 1, no padding
g = conv_geometry(x.shape, (1, 1, KH, KW), stride=1, padding=0, dilation=1, groups=1)
print(g)
cols = kernels.reference.im2col(x.numpy(), g)       # (C*KH*KW, N*OH*OW)
print("cols:", cols.shape)
print(cols.astype(int))

colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
fig, (ax_in, ax_cols) = plt.subplots(1, 2, figsize=(10, 4.2), width_ratios=[1, 1.1])
img = x.numpy()[0, 0]
ax_in.imshow(np.zeros_like(img), cmap="Greys", vmin=0, vmax=1)
for (i, j), v in np.ndenumerate(img):
    ax_in.text(j, i, int(v), ha="center", va="center", fontsize=12)
for k, (oh, ow) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
    d = 0.06 * (k - 1.5)                       # nudge the four frames apart
    ax_in.add_patch(plt.Rectangle((ow - 0.5 + d, oh - 0.5 + d), 3, 3, fill=False,
                                  ec=colours[k], lw=2.5, label=f"window (oh={oh}, ow={ow})"))
ax_in.set_title("input x (4x4): the four 3x3 windows")
ax_in.set_xlabel("column iw (pixels)")
ax_in.set_ylabel("row ih (pixels)")
ax_in.set_xticks(range(4))
ax_in.set_yticks(range(4))
ax_in.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
ax_cols.imshow(np.zeros_like(cols), cmap="Greys", vmin=0, vmax=1, aspect="auto")
for (r, k), v in np.ndenumerate(cols):
    ax_cols.text(k, r, int(v), ha="center", va="center", color=colours[k], fontsize=11)
ax_cols.set_title("cols = im2col(x): one column per window")
ax_cols.set_xlabel("column = window (n, oh, ow)")
ax_cols.set_ylabel("row = tap (c, kh, kw)")
ax_cols.set_xticks(range(4))
ax_cols.set_yticks(range(9))
ax_cols.set_yticklabels([f"(0,{kh},{kw})" for kh in range(3) for kw in range(3)])
fig.suptitle("im2col: every KH x KW window of the input becomes a column")
fig.tight_layout()
plt.show()

# %% [markdown]
# Now the layer is a product. Two filters (OC = 2): a vertical-edge detector and a
# box blur. `W` is reshaped to (OC, C\*KH\*KW) = (2, 9); `W @ cols` is (2, 4), one row per
# output channel, one column per output pixel; a reshape gives the (N, OC, OH, OW) map.

# %%
w = mt.tensor(np.stack([[[[1, 0, -1]] * 3], [[[1 / 9] * 3] * 3]]))   # (OC, C, KH, KW) = (2, 1, 3, 3)
Y = w.numpy().reshape(2, -1) @ cols                                 # the GEMM: (2, 9) @ (9, 4)
y_by_hand = Y.reshape(2, 1, 2, 2).transpose(1, 0, 2, 3)             # (OC, N, OH, OW) -> (N, OC, OH, OW)
y_engine = F.conv2d(x, w)
print("by hand (im2col + GEMM):\n", y_by_hand)
print("F.conv2d:\n", y_engine.numpy())
print("equal:", np.allclose(y_by_hand, y_engine.numpy()))

# %% [markdown]
# **Backward is two more GEMMs and col2im.** Given $dY$: the filter gradient is
# $dW = dY \, \mathrm{cols}^T$, and the input gradient is $d\mathrm{cols} = W^T dY$, folded back
# onto the pixels by **col2im**, the adjoint of im2col: every column is *added* back
# where its window came from. A pixel read by several windows collects several
# contributions; col2im of a matrix of ones counts them, the picture below. (With
# stride 1 the centre pixels are read by every window, the corners by one.)

# %%
ones = np.ones_like(cols)
counts = kernels.reference.col2im(ones, g)[0, 0]
gy = np.ones((1, 2, 2, 2))                                             # dL/dy = 1 everywhere
dcols = w.numpy().reshape(2, -1).T @ gy.transpose(1, 0, 2, 3).reshape(2, -1)   # W^T @ dY
dx_by_hand = kernels.reference.col2im(dcols, g)
xt = mt.tensor(x.numpy(), requires_grad=True)
F.conv2d(xt, w).backward(mt.tensor(gy))
print("dx by hand == dx from autograd:", np.allclose(dx_by_hand, xt.grad.numpy()))

fig, ax = plt.subplots(figsize=(5.6, 4.2))
im = ax.imshow(counts, cmap="viridis")
for (i, j), v in np.ndenumerate(counts):
    ax.text(j, i, int(v), ha="center", va="center", color="w" if v < 3 else "k", fontsize=13)
ax.set_title("col2im(ones):\nhow many windows read each pixel")
ax.set_xlabel("column iw (pixels)")
ax.set_ylabel("row ih (pixels)")
ax.set_xticks(range(4))
ax.set_yticks(range(4))
fig.colorbar(im, ax=ax, label="number of 3x3 windows", ticks=[1, 2, 3, 4])
fig.tight_layout()
plt.show()

# %% [markdown]
# The same check on a real layer shape, against the engine's fast path: 3 -> 8 channels,
# 3x3, stride 2, padding 1, a batch of 4 images of 16x16, with the GEMM written out.

# %%
x = mt.randn(4, 3, 16, 16, dtype="float64")
w = mt.randn(8, 3, 3, 3, dtype="float64")
g = conv_geometry(x.shape, w.shape, stride=2, padding=1, dilation=1, groups=1)   # OH = OW = 8
cols = kernels.reference.im2col(x.numpy(), g)        # (27, 4*8*8)
y = (w.numpy().reshape(8, 27) @ cols).reshape(8, 4, 8, 8).transpose(1, 0, 2, 3)
print("cols", cols.shape, "-> y", y.shape, "| largest difference from F.conv2d:",
      np.abs(y - F.conv2d(x, w, stride=2, padding=1).numpy()).max())

# %% [markdown]
# ## 4. Reading guide: where each piece lives
#
# Follow one image from `model(x)` down to the loops and back, in this order (the
# repository README's reading guide is the same path):
#
# | file | what to read there |
# |---|---|
# | `minitorch_cnn/models/vgg.py` | `cfgs["D"]`: VGG-16 as the paper's table; `make_layers` turns it into modules |
# | `minitorch_cnn/nn/conv.py` | `nn.Conv2d`: holds `weight` (OC, C/groups, KH, KW) and `bias`, calls `F.conv2d`; `conv.plan(x)` names the algorithm it runs |
# | `minitorch_cnn/functional/conv.py` | the story: the `Conv2d` Function, forward (im2col, one GEMM, a reshape) and backward (two GEMMs, col2im) side by side: this chapter's section 3 |
# | `minitorch_cnn/functional/geometry.py` | the shape glossary, `ConvGeometry` (the `g` above), the output-size formula and every argument check, once |
# | `minitorch_cnn/kernels/reference.py` | `im2col`, `col2im` (the plain NumPy loops used above), pooling, Winograd explained |
# | `minitorch_cnn/autograd.py` | `Function.apply` (records the op), `backward` (the iterative walk, gradients summed) |
# | `minitorch_cnn/tensor.py` | `Tensor`: the array, `requires_grad`, `grad`, `grad_fn`; the operators |
# | `minitorch_cnn/nn/module.py` | `Module`, `Parameter`, `Sequential`, `state_dict`, hooks |
# | `minitorch_cnn/functional/conv_transpose.py` | the transposed convolution (the adjoint, used in chapter 3) |
# | `minitorch_cnn/optim/sgd.py` | one SGD step with momentum and weight decay |
#
# Beside the story, never inside it, **the fast path**: `minitorch_cnn/fast/__init__.py`
# (`choose_conv` picks one named unit per layer: blocked im2col, pointwise, depthwise or
# Winograd, in `fast/conv_*.py`; every knob in one `Tuning`), the Numba kernels in
# `kernels/cpu/` (one file per family) and the CuPy ones in `kernels/cuda.py`, and the
# fused BatchNorm+ReLU layers of `nn/fused.py` that the models apply with
# `nn.utils.fuse_modules`.
#
# `mt.set_kernels("reference")` makes the engine run exactly the story and the readable
# NumPy kernels; `"fast"` (the default) runs the fast path on Numba or CuPy. Every fast
# unit and kernel is tested equal to the reference, and every op's forward and backward
# equal to PyTorch's.

# %% [markdown]
# ## 5. Your first change to the engine: a new op
#
# Every op is a `Function` with a `forward` (arrays in, array out; save what backward
# needs) and a `backward` (dL/d(output) in, dL/d(input) out). Here is **Mish**
# (Misra 2019), $y = x \tanh(\mathrm{softplus}(x))$, which the engine does not have.
# With $s = \mathrm{softplus}(x) = \log(1 + e^x)$, $t = \tanh s$ and $s' = \sigma(x)$:
#
# $$\frac{dy}{dx} = t + x \,(1 - t^2)\, \sigma(x)$$

# %%
class Mish(mt.Function):
    """y = x * tanh(softplus(x));  dy/dx = t + x (1 - t^2) sigmoid(x),  t = tanh(softplus(x))."""

    def forward(self, x):
        t = np.tanh(np.logaddexp(0, x))           # softplus(x) = log(1 + e^x), without overflow
        self.save_for_backward(x, t)
        return x * t

    def backward(self, gy):
        x, t = self.saved
        sigmoid = 1 / (1 + np.exp(-x))
        return gy * (t + x * (1 - t * t) * sigmoid)


def mish(x):
    return Mish.apply(x)


x = mt.randn(3, 4, dtype="float64", requires_grad=True)
print("gradcheck (backward against central differences, float64):", mt.gradcheck(mish, (x,)))

# %% [markdown]
# `gradcheck` compares the backward with finite differences, $(f(x+\epsilon) -
# f(x-\epsilon)) / 2\epsilon$, entry by entry. It catches the classic mistake, here a
# forgotten factor in the chain rule:

# %%
class BrokenMish(Mish):
    def backward(self, gy):
        x, t = self.saved
        return gy * (t + x * (1 - t * t))           # the sigmoid(x) factor is missing


from minitorch_cnn.gradcheck import GradcheckError

try:
    mt.gradcheck(BrokenMish.apply, (x,))
except GradcheckError as e:
    print("gradcheck caught it:\n", str(e)[:300])

# %% [markdown]
# The new op now works anywhere in a network, on the same autograd as every other op:

# %%
xs = np.linspace(-4, 4, 200)
xt = mt.tensor(xs, requires_grad=True)
mish(xt).sum().backward()
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(xs, mish(mt.tensor(xs)).numpy(), label="Mish(x)")
ax.plot(xs, xt.grad.numpy(), "--", label="dMish/dx (from backward)")
ax.plot(xs, np.maximum(xs, 0), ":", color="gray", label="ReLU(x), for comparison")
ax.set_xlabel("x (input value)")
ax.set_ylabel("output value / derivative")
ax.set_title("Mish, the op added in this chapter, and its gradient")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()

# %%
course.report_time(budget_minutes=1)
