"""Activation modules beyond the ones in layers.py: GELU."""
from .. import functional as F
from .module import Module

__all__ = ["GELU"]


class GELU(Module):
    """y = x Phi(x) (Phi: the standard normal CDF), exact or with ``approximate='tanh'``."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self):
        return "" if self.approximate == "none" else f"approximate={self.approximate!r}"
