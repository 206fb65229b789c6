"""Layers and networks in PyTorch's words (``import minitorch_cnn.nn as nn``)."""
from .module import Module, Parameter, Sequential, ModuleList, ModuleDict
from .layers import *  # noqa: F401,F403
from .conv import *    # noqa: F401,F403
from .conv_transpose import ConvTranspose2d, MaxUnpool2d
from .fused import BatchNormReLU2d, BatchNormAddReLU2d
from .drop_path import StochasticDepth
from .squeeze_excitation import SqueezeExcitation
from .activation import GELU
from .normalization import LayerNorm, GroupNorm
from .upsample import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d
from .loss import (CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, HuberLoss,
                   BCELoss, BCEWithLogitsLoss)
from . import init
from . import functional
from . import utils
