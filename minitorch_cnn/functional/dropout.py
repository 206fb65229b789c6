"""Dropout (Srivastava et al., 2014), in its "inverted" form as torch: during training
each entry is zeroed with probability p and the survivors are scaled by 1/(1-p), so
the expected output equals the input and evaluation needs no rescaling."""
import numpy as np

from .. import backend
from ..autograd import Function
from .dtypes import check_float

__all__ = ["dropout"]


class Dropout(Function):
    """y = x * m / (1 - p), m ~ Bernoulli(1 - p) per entry;  dL/dx = g * m / (1 - p).
    Saves the boolean mask m."""
    def forward(self, x, keep, scale):
        self.scale = scale
        self.save_for_backward(keep)
        return x * keep * scale

    def backward(self, g):
        return g * self.saved[0] * self.scale


def dropout(x, p=0.5, training=True, inplace=False):
    """Zero entries with probability ``p`` when ``training``; identity otherwise.

    The mask is drawn on the CPU from ``backend.get_rng()`` (seeded by ``manual_seed``)
    and moved to x's device, so a seed gives the same mask on every device.
    ``inplace`` is accepted for torch's signature; a new tensor is always returned.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    check_float("dropout", x)
    keep = backend.get_rng().random(x.shape, dtype=np.float32) >= p   # P(keep) = 1 - p
    keep = backend.to_device(keep, x.device)
    # p = 1 drops everything; the scale is then irrelevant (every entry is 0)
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    return Dropout.apply(x, keep=keep, scale=scale)
