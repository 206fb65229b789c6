"""Engine utilities beside autograd, as in ``torch.utils``:
``minitorch_cnn.utils.checkpoint`` (gradient checkpointing) and
``minitorch_cnn.utils.data`` (DataLoader, Dataset, ... under torch's path)."""
from . import checkpoint
from . import data
