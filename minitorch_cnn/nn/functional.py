"""``import minitorch_cnn.nn.functional as F``: PyTorch's spelling of minitorch_cnn.functional."""
from ..functional import *  # noqa: F401,F403
