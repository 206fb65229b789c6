"""PyTorch ``.pth`` files read with NumPy alone (no torch needed): ``load_torch_file`` and
``load_torch_weights`` (both importable from ``minitorch_cnn.io`` as well).

``load_torch_weights(model, path)`` reads what ``torch.save(model.state_dict(), path)``
wrote. Since PyTorch 1.6 that is a zip archive:

    <name>/data.pkl      the pickled dict; each tensor is pickled as a call
                         torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
                         ...) and each storage as a "persistent id"
                         ('storage', torch.FloatStorage, key, location, numel)
    <name>/data/<key>    the raw bytes of storage <key>
    <name>/byteorder     'little' or 'big' (absent from old files, which are little)

The legacy format (``_use_new_zipfile_serialization=False``) is one stream of pickles:
a magic number, a protocol version, system info (with the byte order), the object, the
list of storage keys, then each storage as an 8-byte element count and its raw bytes.

Why a restricted unpickler: unpickling runs code. A pickle may name any importable global
(``os.system``) and call it with any arguments, so ``pickle.load`` on a downloaded file is
arbitrary code execution. ``_TorchUnpickler.find_class`` hands out only what a state dict
needs (OrderedDict, the storage types, and our own NumPy stand-ins for torch's tensor
rebuild functions) and refuses every other global before anything is called.
"""
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from . import backend
from .io import CheckpointError, _describe_head
from .tensor import Tensor

__all__ = ["load_torch_file", "load_torch_weights"]


# The storage classes a state dict names, and the NumPy dtype of their elements.
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16,    # bfloat16: the top half of a float32, widened on read
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL_VERSION = 1001


class _StorageType:
    """What the unpickler hands out for ``torch.FloatStorage`` and friends."""

    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(_STORAGE_DTYPES[name])


class _StorageRef:
    """A storage named in the pickle; its bytes are read afterwards."""

    def __init__(self, key, storage_type, numel):
        self.key, self.type, self.numel = key, storage_type, numel


class _TensorRef:
    """A tensor as the pickle describes it: a strided view into a storage."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor(storage, storage_offset, size, stride, *_requires_grad_hooks_metadata):
    """Stand-in for torch._utils._rebuild_tensor_v2: records the view, checks the types."""
    ok = (isinstance(storage, _StorageRef) and isinstance(storage_offset, int)
          and isinstance(size, tuple) and isinstance(stride, tuple)
          and all(isinstance(n, int) for n in size + stride))
    if not ok:
        raise _Refused("malformed tensor record in the pickle")
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    """Stand-in for torch._utils._rebuild_parameter(_with_state): a Parameter is its data."""
    return data


class _Refused(pickle.UnpicklingError):
    """A pickle that holds what a weights file never does (a global that could run code,
    a malformed tensor record): refused with its own message, not called damaged."""


class _TorchUnpickler(pickle.Unpickler):
    """An unpickler that can only build what a PyTorch state dict contains."""

    _ALLOWED = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    }

    def __init__(self, file, source, storages):
        super().__init__(file)
        self.source = source
        self.storages = storages      # key -> _StorageRef, shared by a file's pickles

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise _Refused(
            f"{self.source}: refusing to unpickle the global '{module}.{name}'. A weights file "
            f"needs only tensors, storages and OrderedDict; any other global could run "
            f"arbitrary code, so it is not loaded. If you trust this file, load it with torch "
            f"and pass the state dict instead.")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise _Refused(f"{self.source}: unsupported persistent id "
                           f"{str(pid)[:80]}")
        _, storage_type, key, _location, numel = pid[:5]
        if len(pid) == 6 and pid[5] is not None:
            raise _Refused(f"{self.source}: storage views (a legacy-format "
                           f"feature) are not supported")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = _StorageRef(key, storage_type, int(numel))
        return self.storages[key]


def _storage_array(raw, ref, byteorder, source):
    """The bytes of one storage as a 1-D NumPy array in native byte order (read-only:
    each tensor copies its part out of it)."""
    dtype = ref.type.dtype
    if len(raw) != ref.numel * dtype.itemsize:
        raise ValueError(f"{source}: storage {ref.key} has {len(raw)} bytes, expected "
                         f"{ref.numel} x {dtype.itemsize}")
    arr = np.frombuffer(raw, dtype=dtype.newbyteorder("<" if byteorder == "little" else ">"))
    if not arr.dtype.isnative:
        arr = arr.astype(dtype)         # swap the bytes into this machine's order
    if ref.type.name == "BFloat16Storage":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr


def _materialize(obj, storage_array, source, name=""):
    """Replace every _TensorRef in a nested dict/list/tuple by a NumPy array."""
    if isinstance(obj, _TensorRef):
        data = storage_array(obj.storage)
        size, stride, offset = obj.size, obj.stride, obj.offset
        if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0:
            raise ValueError(f"{source}: tensor {name!r} has a malformed size/stride")
        if 0 in size:
            return np.zeros(size, data.dtype)
        # as_strided does not check bounds: make sure the last element is inside
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= data.size:
            raise ValueError(f"{source}: tensor {name!r} reads past the end of its storage")
        view = np.lib.stride_tricks.as_strided(data[offset:], shape=size,
                                               strides=[s * data.itemsize for s in stride])
        return np.array(view)           # contiguous, owning its memory
    if isinstance(obj, dict):
        out = OrderedDict()
        for k, v in obj.items():
            out[k] = _materialize(v, storage_array, source, f"{name}.{k}" if name else str(k))
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v, storage_array, source, f"{name}[{i}]")
                         for i, v in enumerate(obj))
    return obj


def _load_zip(path):
    with zipfile.ZipFile(path) as zf:
        pickles = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{path}: a zip file but not one torch.save wrote "
                             f"(no '<name>/data.pkl')")
        prefix = pickles[0][:-len("data.pkl")]
        names = set(zf.namelist())
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = zf.read(prefix + "byteorder").decode().strip()
            if byteorder not in ("little", "big"):
                raise ValueError(f"{path}: unknown byte order {byteorder!r}")
        storages = {}
        with zf.open(pickles[0]) as f:
            obj = _TorchUnpickler(f, path, storages).load()
        cache = {}

        def storage_array(ref):
            if ref.key not in cache:
                member = f"{prefix}data/{ref.key}"
                if member not in names:
                    raise ValueError(f"{path}: storage {ref.key} is missing from the archive")
                cache[ref.key] = _storage_array(zf.read(member), ref, byteorder, path)
            return cache[ref.key]

        return _materialize(obj, storage_array, path)


def _load_legacy(path):
    storages = {}
    with open(path, "rb") as f:
        if _TorchUnpickler(f, path, storages).load() != _LEGACY_MAGIC_NUMBER:
            raise ValueError(f"{path}: not a PyTorch file (wrong magic number)")
        if _TorchUnpickler(f, path, storages).load() != _LEGACY_PROTOCOL_VERSION:
            raise ValueError(f"{path}: unsupported legacy PyTorch protocol version")
        sys_info = _TorchUnpickler(f, path, storages).load()
        byteorder = "little" if sys_info.get("little_endian", True) else "big"
        obj = _TorchUnpickler(f, path, storages).load()
        keys = _TorchUnpickler(f, path, storages).load()
        arrays = {}
        for key in keys:                         # each: int64 element count, then the bytes
            ref = storages.get(str(key))
            if ref is None:
                raise ValueError(f"{path}: storage {key} is listed but never used")
            (numel,) = struct.unpack("<q" if byteorder == "little" else ">q", f.read(8))
            if numel != ref.numel:
                raise ValueError(f"{path}: storage {key} holds {numel} elements, the pickle "
                                 f"says {ref.numel}")
            raw = f.read(numel * ref.type.dtype.itemsize)
            arrays[ref.key] = _storage_array(raw, ref, byteorder, path)
    return _materialize(obj, lambda ref: arrays[ref.key], path)


def load_torch_file(path):
    """Read a file written by ``torch.save`` (zip or legacy format) with NumPy alone:
    the saved object, with every tensor as a NumPy array. Only state dicts (and dicts,
    lists and numbers around them) can be read; any other pickled global is refused
    (``pickle.UnpicklingError``). An empty, cut-off or damaged file raises
    CheckpointError naming the file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder; expected a PyTorch .pth file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file (expected a PyTorch .pth file)")
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): not a PyTorch file. It was "
                              f"probably created but never written (an interrupted copy?)")
    with open(path, "rb") as f:
        head = f.read(16)
    damaged = (f"{path} is damaged (cut off or corrupt; {size:,} bytes): expected a complete "
               f"PyTorch file written by torch.save. Download or save it again")
    try:
        if head.startswith(b"PK"):
            if not zipfile.is_zipfile(path):
                raise CheckpointError(f"{damaged}; its zip directory is missing")
            return _load_zip(path)
        if tarfile.is_tarfile(path):
            raise ValueError(f"{path}: the tar format of PyTorch < 0.4 is not supported; load "
                             f"it with torch and save it again")
        if head[:1] != b"\x80":
            raise CheckpointError(f"{path}: not a PyTorch file (neither a zip archive nor a "
                                  f"pickle): found {_describe_head(head)}")
        return _load_legacy(path)
    except (CheckpointError, _Refused):
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error, struct.error, pickle.UnpicklingError,
            UnicodeDecodeError, OSError) as e:
        raise CheckpointError(f"{damaged} ({type(e).__name__}: {e})") from None


def _is_state_dict(obj):
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items())


def _find_state_dict(obj, source):
    """The state dict in what was saved: the object itself, or the "state_dict" / "model"
    entry of a training checkpoint."""
    if _is_state_dict(obj):
        return obj
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if _is_state_dict(obj.get(key)):
                return obj[key]
        raise ValueError(f"{source}: no state dict found: top-level keys are "
                         f"{list(obj)[:10]}; expected name -> tensor, or a 'state_dict' / "
                         f"'model' entry holding one")
    raise ValueError(f"{source}: no state dict found (the file holds a {type(obj).__name__})")


def _to_numpy(value):
    """A NumPy array from a torch tensor (without importing torch), a Tensor or an array."""
    if isinstance(value, Tensor):
        return backend.to_device(value.data, "cpu")
    if hasattr(value, "detach"):                     # a torch.Tensor
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":     # NumPy has no bfloat16
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def load_torch_weights(model, path_or_state_dict, strict=True):
    """Load a PyTorch state dict (a ``.pth`` path, or a dict of torch tensors / arrays)
    into ``model``, whose parameter names follow torchvision's.

    A model whose names differ from the file's defines ``adapt_torch_state_dict(state)``,
    which gets the name -> array dict and returns the one to load (GoogLeNet drops the
    auxiliary heads it was built without). With ``strict``, one error lists every
    missing, unexpected and mis-shaped key. Returns (missing, unexpected) as
    ``load_state_dict`` does.
    """
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        source = os.fspath(path_or_state_dict)
        state = _find_state_dict(load_torch_file(source), source)
    else:
        source = "state dict"
        state = OrderedDict((k, _to_numpy(v)) for k, v in path_or_state_dict.items())
    adapt = getattr(model, "adapt_torch_state_dict", None)
    if adapt is not None:
        state = adapt(state)
    try:
        return model.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        raise RuntimeError(f"load_torch_weights from {source}:\n{e}") from None
