"""Every op as a function on Tensors (``import minitorch_cnn.nn.functional as F``)."""
from .elementwise import *  # noqa: F401,F403
from .reduce import *       # noqa: F401,F403
from .shape import *        # noqa: F401,F403
from .linear import *       # noqa: F401,F403
from .activation import *   # noqa: F401,F403
