"""``torch.accelerator`` (PyTorch 2.6+), which recent tutorials use to pick a device::

    device = mt.accelerator.current_accelerator().type if mt.accelerator.is_available() \
        else "cpu"

The one accelerator minitorch_cnn knows is a CUDA GPU through CuPy.
"""
from . import cuda
from .tensor import device

__all__ = ["is_available", "current_accelerator", "device_count"]


def is_available():
    return cuda.is_available()


def current_accelerator():
    """``device('cuda')`` when a GPU is available, else None."""
    return device("cuda") if cuda.is_available() else None


def device_count():
    return cuda.device_count()
