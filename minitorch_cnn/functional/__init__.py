"""Every op as a function on Tensors (``import minitorch_cnn.nn.functional as F``)."""
from .elementwise import *  # noqa: F401,F403
from .reduce import *       # noqa: F401,F403
from .shape import *        # noqa: F401,F403
from .linear import *       # noqa: F401,F403
from .activation import *   # noqa: F401,F403
from .dropout import *      # noqa: F401,F403
from .loss import *         # noqa: F401,F403
from .drop_path import *    # noqa: F401,F403
from .conv import *         # noqa: F401,F403
from .conv_transpose import *  # noqa: F401,F403
from .pool import *         # noqa: F401,F403
from .norm import *         # noqa: F401,F403
