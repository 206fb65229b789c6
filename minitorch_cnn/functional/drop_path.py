"""Drop-path (stochastic depth): drop a whole residual branch, per sample or per batch.

Huang et al. 2016 ("Deep networks with stochastic depth") train a ResNet whose residual
branches are randomly switched off, so that the network is shallow on average while it
learns and deep when it is used. Applied to a branch's output x, the op is

    y = x * m / (1 - p),    m ~ Bernoulli(1 - p)

with one draw m per sample (mode="row": m has shape (N, 1, ..., 1)) or one draw for the
whole mini-batch (mode="batch"). Dividing the survivors by the survival rate 1 - p keeps
E[y] = x, so at test time the op is the identity (torchvision's ``stochastic_depth``,
timm's ``drop_path``; EfficientNet uses it per sample).

The ResNet of the paper instead skips a dropped branch before computing it and scales by
the survival rate at test time: see ``models/resnet.py``.
"""
import numpy as np

from .. import backend
from ..autograd import Function
from .dtypes import check_float

__all__ = ["drop_path", "stochastic_depth"]


class DropPath(Function):
    """y = x * s;  dL/dx = dL/dy * s, with s in {0, 1/(1-p)} broadcast over each sample.

    Saves only ``s``: (N, 1, ..., 1) in row mode, one number in batch mode.
    """
    def forward(self, x, scale):
        self.save_for_backward(scale)
        return x * scale

    def backward(self, g):
        return g * self.saved[0], None


def drop_path(x, p, training=True, mode="row"):
    """Zero the whole of ``x`` with probability ``p`` per sample ("row") or for the batch
    ("batch"), scaling the kept ones by 1/(1-p); the identity when not training or p == 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"drop_path: p must be a probability in [0, 1], got {p}")
    if mode not in ("row", "batch"):
        raise ValueError(f"drop_path: mode must be 'row' or 'batch', got {mode!r}")
    if not training or p == 0.0:
        return x
    check_float("drop_path", x)
    survival = 1.0 - p
    shape = (x.shape[0],) + (1,) * (x.ndim - 1) if mode == "row" else (1,) * x.ndim
    keep = backend.get_rng().random(shape) < survival            # drawn on the CPU, seeded
    scale = keep / survival if survival > 0 else np.zeros(shape)  # p == 1 drops everything
    return DropPath.apply(x, backend.to_device(scale.astype(x.dtype), x.device))


def stochastic_depth(input, p, mode, training=True):
    """torchvision's spelling: ``stochastic_depth(input, p, mode, training)``."""
    return drop_path(input, p, training, mode)
