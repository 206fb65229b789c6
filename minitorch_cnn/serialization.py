"""``torch.save`` / ``torch.load``, without pickle.

    mt.save({"epoch": 5, "model": model.state_dict(), "optimizer": opt.state_dict()}, "ck.pt")
    ck = mt.load("ck.pt")                  # Tensors come back as Tensors
    model.load_state_dict(ck["model"]); opt.load_state_dict(ck["optimizer"])

``save`` writes the nested object (dicts with str or int keys, lists, tuples, numbers,
strings, None, Tensors and arrays: what state dicts and training checkpoints hold) in
io's one checkpoint format, atomically: a zip of ``.npy`` arrays and a JSON table of
contents (``io.save_checkpoint``). ``load`` reads it back, and also reads files written by
PyTorch's own ``torch.save`` (state dicts and checkpoints of them) through io's restricted
unpickler. No file is ever unpickled freely: a pickle can run any code when it is loaded,
so ``weights_only`` is always in effect (``weights_only=False`` is accepted and loads the
same). A whole model object cannot be saved: save its ``state_dict()``, as PyTorch
recommends.
"""
import os
import zipfile

import numpy as np

from . import backend, io
from .tensor import Tensor

__all__ = ["save", "load"]


def _path(f, op):
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"{op}: expected a file path (str or os.PathLike), got a "
                        f"{type(f).__name__}; file objects are not supported")
    return os.fspath(f)


def save(obj, f):
    """Write ``obj`` (a state dict, or a nested checkpoint dict) to the path ``f``."""
    path = _path(f, "save")
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        raise TypeError(f"save: a whole {type(obj).__name__} cannot be saved: torch.save(model) "
                        f"pickles the object with its code, and minitorch_cnn writes no pickles "
                        f"(loading one can run any code). Save its state_dict() instead "
                        f"(torch.save(model.state_dict(), path)) and load that into an object "
                        f"your code builds (model.load_state_dict(torch.load(path)))")
    try:
        io.save_checkpoint(obj, path)
    except TypeError as e:
        raise TypeError(str(e).replace("save_checkpoint:", "save:")) from None


def _placed(obj, device):
    """Every Tensor (and NumPy array) in a nested object as a Tensor on ``device``."""
    if isinstance(obj, (Tensor, np.ndarray)):
        t = obj if isinstance(obj, Tensor) else Tensor(obj)
        return t if device is None else t.to(device)
    if isinstance(obj, dict):
        return type(obj)((k, _placed(v, device)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_placed(v, device) for v in obj)
    return obj


def _is_torch_file(path):
    """A file written by PyTorch's torch.save (a zip with data.pkl, or a legacy pickle)."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head[:1] == b"\x80":
        return True
    if head == b"PK" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("data.pkl") for n in zf.namelist())
    return False


def load(f, map_location=None, weights_only=True, **kwargs):
    """What ``save`` wrote to ``f`` (or a PyTorch file of tensors and dicts), with Tensors
    placed on ``map_location`` ('cpu', 'cuda', a device; None: the CPU)."""
    path = _path(f, "load")
    if map_location is not None:
        if callable(map_location) or isinstance(map_location, dict):
            raise TypeError("load: map_location must be a device ('cpu', 'cuda' or a "
                            "device); functions and dicts are not supported")
        backend.normalize_device(map_location)          # a clear error for a bad device
    if os.path.isfile(path) and os.path.getsize(path) > 0 and _is_torch_file(path):
        # optimizer states keep their numbers as they were saved (arrays become Tensors)
        return _placed(io.load_torch_file(path), map_location)
    obj = io.load_checkpoint(path, tensors=True)
    return obj if map_location is None else _placed(obj, map_location)
