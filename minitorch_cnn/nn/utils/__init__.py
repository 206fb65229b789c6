"""``torch.nn.utils``'s helpers: gradient clipping, and the fusion of a BatchNorm with the
ReLU (and residual addition) after it."""
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .fusion import fuse_batchnorm_relu, fuse_modules

__all__ = ["clip_grad_norm_", "clip_grad_value_", "fuse_modules", "fuse_batchnorm_relu"]
