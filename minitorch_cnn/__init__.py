"""minitorch_cnn: a deep-learning engine from scratch on NumPy/CuPy, with every classic CNN."""
from . import backend
from .backend import (manual_seed, get_default_dtype, set_default_dtype, set_kernels,
                      get_kernels, cuda_is_available)
from .autograd import Function, no_grad, enable_grad, is_grad_enabled, set_grad_enabled
from .tensor import (Tensor, tensor, from_numpy, zeros, ones, full, empty, zeros_like,
                     ones_like, randn, rand, randint, arange, is_tensor)
from . import functional
from .gradcheck import gradcheck
from . import optim
from . import nn
from . import utils
from . import io

float32 = "float32"
float64 = "float64"
int64 = "int64"

__version__ = "0.1.0"
