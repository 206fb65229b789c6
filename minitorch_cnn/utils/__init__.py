"""Engine utilities beside autograd, as in ``torch.utils``:
``minitorch_cnn.utils.checkpoint`` (gradient checkpointing)."""
from . import checkpoint
