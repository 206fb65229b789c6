"""minitorch_cnn: a deep-learning engine from scratch on NumPy/CuPy, with every classic CNN.

The top-level names are torch's (``import minitorch_cnn as torch`` runs the usual
tutorial code): dtypes, devices, the functions that make tensors (creation.py), the ops
of the torch namespace (ops.py), save/load (serialization.py), and the submodules nn,
optim, utils.data, cuda, backends, accelerator. docs/pytorch_api.md lists them all.
"""
from . import backend
from .backend import manual_seed, set_kernels, get_kernels, cuda_is_available
from .autograd import Function, no_grad, enable_grad, is_grad_enabled
from .tensor import Tensor, dtype, device, as_dtype
from .creation import *  # noqa: F401,F403
from .creation import get_default_dtype, set_default_dtype
from . import functional
from .ops import *  # noqa: F401,F403
from .gradcheck import gradcheck
from . import optim
from . import nn
from . import utils
from . import io
from . import cuda, backends, accelerator
from .serialization import save, load

# dtypes, with torch's names and aliases (t.dtype is one of these objects)
float32 = float = as_dtype("float32")
float64 = double = as_dtype("float64")
float16 = half = as_dtype("float16")
int64 = long = as_dtype("int64")
int32 = int = as_dtype("int32")
int16 = short = as_dtype("int16")
int8 = as_dtype("int8")
uint8 = as_dtype("uint8")
bool = as_dtype("bool")
complex64 = cfloat = as_dtype("complex64")
complex128 = cdouble = as_dtype("complex128")

__version__ = "0.1.0"
