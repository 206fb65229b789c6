"""Layers and networks in PyTorch's words (``import minitorch_cnn.nn as nn``)."""
from .module import Module, Parameter, Sequential, ModuleList, ModuleDict
from .layers import *  # noqa: F401,F403
from .conv import *    # noqa: F401,F403
from .conv_transpose import ConvTranspose2d, MaxUnpool2d
from .fused import BatchNormReLU2d, BatchNormAddReLU2d
from .drop_path import StochasticDepth
from .squeeze_excitation import SqueezeExcitation
from . import init
from . import functional
from . import utils
