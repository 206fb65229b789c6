"""StochasticDepth: the drop-path op as a layer, with torchvision's semantics."""
from .. import functional as F
from .module import Module

__all__ = ["StochasticDepth"]


class StochasticDepth(Module):
    """Drop the input with probability ``p`` during training, per sample (mode="row") or
    for the whole batch (mode="batch"); survivors are scaled by 1/(1-p), so in eval mode
    it is the identity. Placed on a residual branch: y = x + StochasticDepth(f(x))."""

    def __init__(self, p, mode="row"):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"StochasticDepth: p must be a probability in [0, 1], got {p}")
        if mode not in ("row", "batch"):
            raise ValueError(f"StochasticDepth: mode must be 'row' or 'batch', got {mode!r}")
        self.p, self.mode = p, mode

    def forward(self, x):
        return F.drop_path(x, self.p, self.training, self.mode)

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"
