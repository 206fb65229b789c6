"""Fused layers: a BatchNorm and what follows it, run as one op.

A BatchNorm followed by a ReLU reads and writes every activation twice in forward and
twice again in backward; one op that clamps as it normalises does each once, and keeps
no intermediate array (functional/norm.py). The fusion is explicit: these are modules of
their own, which a model puts in place of the pair (``nn.utils.fuse_modules``, or the
model builders through ``nn.utils.fuse_batchnorm_relu``), so ``print(model)``, the
summary, hooks and the profiler all see the program that trains.

Both are BatchNorm2d subclasses with the same parameters and buffers (``weight``,
``bias``, ``running_mean``, ``running_var``, ``num_batches_tracked``): state dicts and
torchvision weights load into a fused model unchanged.
"""
import math

from .. import functional as F
from .conv import BatchNorm2d

__all__ = ["BatchNormReLU2d", "BatchNormAddReLU2d"]


def _take_state(fused, bn):
    """Make ``fused`` hold ``bn``'s settings, parameters and buffers: the same Parameter
    objects (an optimizer built on the unfused model keeps working), in containers of
    its own. Hooks registered on ``bn`` stay behind: they watched a different output."""
    for k, v in bn.__dict__.items():
        if "hook" not in k:
            fused.__dict__[k] = v.copy() if isinstance(v, (dict, set)) else v
    return fused


class BatchNormReLU2d(BatchNorm2d):
    """min(max(BatchNorm2d(x), 0), max_value) as one op (functional.batch_norm_relu):
    BatchNorm then ReLU (max_value inf) or ReLU6 (max_value 6)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, *, bias=True, max_value=math.inf):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias)
        self.max_value = float(max_value)

    @classmethod
    def from_modules(cls, bn, max_value=math.inf):
        """The fused layer that replaces ``bn`` and the ReLU (or ReLU6) after it."""
        fused = _take_state(cls.__new__(cls), bn)
        fused.max_value = float(max_value)
        return fused

    def forward(self, x):
        return F.batch_norm_relu(*self.batch_norm_args(x), max_value=self.max_value)

    def extra_repr(self):
        return super().extra_repr() + ("" if self.max_value == math.inf else
                                       f", max_value={self.max_value:g}")


class BatchNormAddReLU2d(BatchNorm2d):
    """forward(x, residual) = relu(BatchNorm2d(x) + residual) as one op
    (functional.batch_norm_add_relu): the tail of a residual block."""

    @classmethod
    def from_modules(cls, bn):
        """The fused layer that replaces ``bn``, the addition after it and the ReLU."""
        return _take_state(cls.__new__(cls), bn)

    def forward(self, x, residual):
        x, *args = self.batch_norm_args(x)
        return F.batch_norm_add_relu(x, residual, *args)
