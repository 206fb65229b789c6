"""Files on disk: one atomic writer, our own ``.npz`` checkpoints, and PyTorch ``.pth``
files read with NumPy alone (no torch needed).

The atomic writer
    Every file a user keeps (weights, training checkpoints, metrics, plots) is written by
    ``atomic_write(path)``: the bytes go to a temporary file in the same folder, named
    ``.<name>.<8 random characters>.tmp`` so that it can be recognised, are flushed and
    ``fsync``-ed to the disk, and only then is the temporary file renamed over ``path``
    (``os.replace`` is atomic on POSIX and Windows). A crash, an error or a kill at any
    moment leaves the old file or the new one, never half of one; on an error the
    temporary file is removed, and ``clean_temp_files(folder)`` removes the ones a killed
    process could not (the trainer calls it when it starts).

Our checkpoints: one format for weights and for training state
    A ``.npz`` (NumPy's zip of ``.npy`` arrays). Each array is one member, named by where
    it sits: a model's ``conv1.weight``, or ``model/conv1.weight`` and
    ``optimizer/state/0/momentum_buffer`` in a training checkpoint, so ``np.load(path)``
    shows them by name. One more member, ``__meta__``, holds a JSON description of the
    whole tree (dicts with str or int keys, lists, tuples, numbers, strings, None, and
    references to the arrays), so nested state (model, optimizer, scheduler, epoch,
    history, RNG state) comes back with its types. No pickle is ever written or read.

        save(model_or_state, path)        a model's state dict (name -> array)
        load(path)                        that state dict back (from a training
                                          checkpoint: its "model" entry)
        load_into(model, path)            load(path) into a model
        save_checkpoint(state, path)      any nested state
        load_checkpoint(path)             that state back

    A file that is empty, cut off, damaged or of another kind raises ``CheckpointError``
    naming the file, what was expected and what was found.

PyTorch files
    ``load_torch_weights(model, path)`` and ``load_torch_file(path)`` read what
    ``torch.save`` wrote, with NumPy alone and a restricted unpickler: io_torch.py, whose
    two functions are importable from here too.
"""
import contextlib
import json
import os
import re
import struct
import tempfile
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from . import backend
from .tensor import Tensor

__all__ = ["atomic_write", "clean_temp_files", "CheckpointError", "save", "load",
           "load_into", "save_checkpoint", "load_checkpoint", "load_torch_file",
           "load_torch_weights"]


class CheckpointError(ValueError):
    """A file that cannot be read as a checkpoint: empty, cut off, damaged, or of another
    kind. The message names the file, what was expected and what was found."""


# ---------------------------------------------------------------- the atomic writer
TEMP_SUFFIX = ".tmp"
# .<name>.<8 characters from tempfile's alphabet>.tmp
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


def _fsync_folder(folder):
    """Make a rename inside ``folder`` durable (POSIX; a no-op where folders cannot be
    opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _commit(tmp, path):
    """The last step of an atomic write: the complete temporary file takes ``path``'s name."""
    os.replace(tmp, path)
    _fsync_folder(os.path.dirname(path))


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None, newline=None):
    """``with atomic_write(path, "w") as f: ...``: write ``path`` all at once or not at all.

    ``f`` is a temporary file next to ``path`` (``.<name>.XXXXXXXX.tmp``); when the block
    ends without an error it is flushed, fsync-ed, and renamed over ``path``. On any
    error (KeyboardInterrupt included) the temporary file is removed and ``path`` is left
    as it was. ``mode`` is "wb" (bytes) or "w" (text, with ``encoding``/``newline``)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=TEMP_SUFFIX)
    except OSError as e:
        raise type(e)(e.errno, f"cannot write {path}: no file can be created in {folder} "
                               f"({e.strerror})") from None
    try:
        kw = {} if mode == "wb" else {"encoding": encoding or "utf-8", "newline": newline}
        with os.fdopen(fd, mode, **kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())          # the bytes are on disk before the name points at them
        _commit(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def clean_temp_files(folder, names=None):
    """Remove the temporary files that ``atomic_write`` left in ``folder`` when its process
    was killed (``.<name>.XXXXXXXX.tmp``); only those for ``names`` if given. Returns
    the names removed. Call it when no other process is writing into ``folder``."""
    removed = []
    if not os.path.isdir(folder):
        return removed
    for entry in sorted(os.listdir(folder)):
        m = _TEMP_NAME.match(entry)
        if m and (names is None or m.group("name") in names):
            full = os.path.join(folder, entry)
            if os.path.isfile(full):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(full)
                removed.append(entry)
    return removed


# ------------------------------------------------------------ our .npz checkpoints
FORMAT = "minitorch_cnn"        # __meta__["format"]; __meta__["kind"]: "state_dict" | "checkpoint"
FORMAT_VERSION = 1
_META = "__meta__"


def _numpy_array(value, where):
    """A CPU NumPy array of numbers from a Tensor / NumPy / CuPy array."""
    if isinstance(value, Tensor):
        value = value.data
    arr = np.asarray(backend.to_device(value, "cpu"))
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"save: entry {where!r} must be a numeric array, got dtype {arr.dtype}")
    return arr


def _pack(obj, arrays, where):
    """Nested state -> a JSON-able tree; each array goes to ``arrays`` under a member name
    made from its place in the tree (``where``)."""
    if isinstance(obj, Tensor) or isinstance(obj, np.ndarray) or backend.is_cupy_array(obj):
        name, n = where or "array", 1
        while name in arrays or name == _META:        # keep member names unique
            name, n = f"{where}~{n}", n + 1
        arrays[name] = _numpy_array(obj, where)
        if isinstance(obj, Tensor):    # comes back as a Tensor from load_checkpoint(tensors=True)
            return {"__array__": name, "tensor": True}
        return {"__array__": name}
    if isinstance(obj, dict):      # keys may be ints (optimizer state): keep their type
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save_checkpoint: key {k!r} in {where or 'the state'!r} is a "
                                f"{type(k).__name__}; a checkpoint's dict keys are str or int")
            items.append([k, _pack(v, arrays, f"{where}/{k}" if where else str(k))])
        return {"__dict__": items}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_pack(v, arrays, f"{where}/{i}") for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"save_checkpoint: cannot store the {type(obj).__name__} at "
                    f"{where or 'the top'!r}; a checkpoint holds dicts, lists, tuples, numbers, "
                    f"strings, None and arrays")


def _unpack(tree, arrays, source, tensors=False):
    if isinstance(tree, dict):
        try:
            if "__array__" in tree:
                a = arrays[tree["__array__"]]
                if tensors and tree.get("tensor"):
                    return Tensor(a)
                return a
            if "__dict__" in tree:
                return {k: _unpack(v, arrays, source, tensors) for k, v in tree["__dict__"]}
            if "__list__" in tree:
                items = [_unpack(v, arrays, source, tensors) for v in tree["__list__"]]
                return tuple(items) if tree.get("tuple") else items
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{source} is damaged: its table of contents (__meta__) "
                                  f"names an entry that is not there ({e!r})") from None
        raise CheckpointError(f"{source} is damaged: unknown entry {str(tree)[:60]} in its "
                              f"table of contents (__meta__)")
    return tree


def _write_npz(path, arrays, meta):
    """``arrays`` (member name -> NumPy array) and the JSON ``meta`` as one .npz, atomically."""
    path = os.fspath(path)
    with atomic_write(path, "wb") as f:
        # the .npz layout (what np.savez writes): one "<name>.npy" member per array
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, arr in arrays.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
            with zf.open(_META + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.array(json.dumps(meta)),
                                          allow_pickle=False)
    return path


def _describe_head(head):
    """What the first bytes of a file that is not a zip archive suggest it is."""
    if head.startswith(b"\x93NUMPY"):
        return "a single .npy array (np.save), not a .npz archive"
    if head[:1] == b"\x80":
        return ("a Python pickle (a PyTorch .pth file? read it with "
                "io.load_torch_weights(model, path))")
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file"
    printable = head.decode("ascii", "replace")
    return f"a file that starts with {head[:16]!r}" + (
        " (text?)" if printable.isprintable() else "")


def _read_npz(path):
    """(meta or None, {member name: array}) of a .npz, every array read now; any damage
    raises CheckpointError naming the file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder; expected a .npz checkpoint file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file (expected a .npz checkpoint)")
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): not a checkpoint. It was "
                              f"probably created but never written (an interrupted copy?)")
    with open(path, "rb") as f:
        head = f.read(16)
    expected = "expected a .npz checkpoint (a zip archive of .npy arrays)"
    if not head.startswith(b"PK"):
        raise CheckpointError(f"{path} is not a checkpoint: {expected}, found "
                              f"{_describe_head(head)}")
    arrays, member = {}, None          # member: the .npy being read, for the messages
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if any(n.endswith("data.pkl") for n in names):
                raise CheckpointError(f"{path} is a PyTorch file (torch.save), not one of our "
                                      f".npz checkpoints: read it with "
                                      f"io.load_torch_weights(model, path)")
            for member in names:
                if not member.endswith(".npy"):
                    raise CheckpointError(f"{path} is not a checkpoint: {expected}, found a "
                                          f"zip archive with the member {member!r}")
                with zf.open(member) as f:
                    arrays[member[:-4]] = np.lib.format.read_array(f, allow_pickle=False)
    except CheckpointError:
        raise
    except ValueError as e:
        if "allow_pickle" in str(e) or "Object arrays" in str(e):
            raise CheckpointError(
                f"{path}: the array {member[:-4]!r} holds pickled Python objects. A checkpoint "
                f"holds only numeric arrays, and unpickling could run code, so it is not "
                f"loaded") from None
        raise CheckpointError(f"{path} is damaged (cut off or corrupt): the array {member[:-4]!r} "
                              f"cannot be read ({e})") from None
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, struct.error) as e:
        where = f" in the array {member[:-4]!r}" if member else ""
        raise CheckpointError(f"{path} is damaged (cut off or corrupt){where}: "
                              f"{type(e).__name__}: {e}. The file is {size:,} bytes") from None
    meta = None
    if _META in arrays:
        raw = arrays.pop(_META)
        try:
            meta = json.loads(str(raw))
        except ValueError as e:
            raise CheckpointError(f"{path} is damaged: its table of contents (__meta__) is "
                                  f"not valid JSON ({e})") from None
        if not isinstance(meta, dict):
            raise CheckpointError(f"{path} is damaged: its __meta__ entry is a "
                                  f"{type(meta).__name__}, not a table of contents")
    return meta, arrays


def _read_tree(path, tensors=False):
    """The nested state stored in ``path`` (any of our formats) and its kind; with
    ``tensors``, what was saved as a Tensor comes back as one (else as a NumPy array)."""
    meta, arrays = _read_npz(path)
    source = os.fspath(path)
    if meta is None:                 # a plain .npz (np.savez, or io.save before __meta__)
        return OrderedDict(arrays), "state_dict"
    if "format" not in meta:         # a training checkpoint from before the format marker
        return _unpack(meta, arrays, source, tensors), "checkpoint"
    if meta.get("format") != FORMAT or "tree" not in meta:
        raise CheckpointError(f"{source}: unknown format {meta.get('format')!r} in __meta__; "
                              f"expected {FORMAT!r}")
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{source} was written by a newer minitorch_cnn (format version "
                              f"{meta['version']}, this one reads up to {FORMAT_VERSION})")
    tree = _unpack(meta["tree"], arrays, source, tensors)
    if meta.get("kind") == "state_dict":
        tree = OrderedDict(tree)
    return tree, meta.get("kind", "checkpoint")


def save_checkpoint(state, path):
    """Write a nested ``state`` (dicts with str/int keys, lists, tuples, numbers, strings,
    None, Tensors and arrays) to ``path`` as one .npz, atomically. Returns ``path``."""
    arrays = {}
    tree = _pack(state, arrays, "")
    return _write_npz(path, arrays, {"format": FORMAT, "version": FORMAT_VERSION,
                                     "kind": "checkpoint", "tree": tree})


def load_checkpoint(path, tensors=False):
    """The nested state written by ``save_checkpoint`` (or the state dict written by
    ``save``), its arrays as NumPy arrays, or with ``tensors`` those saved as Tensors as
    Tensors. Raises CheckpointError if the file is empty, damaged or not ours."""
    return _read_tree(path, tensors)[0]


def _numpy_state(model_or_state):
    """name -> NumPy array, from a Module or a dict of Tensors / arrays (moved to the CPU)."""
    state = (model_or_state.state_dict() if hasattr(model_or_state, "state_dict")
             else model_or_state)
    out = OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"save: state-dict keys must be strings, got {name!r}")
        out[name] = _numpy_array(value, name)
    return out


def save(model_or_state, path):
    """Write a model's state dict (or a dict of name -> Tensor/array) to ``path`` as .npz,
    atomically: one member per entry, under its own name. Returns ``path``."""
    arrays = _numpy_state(model_or_state)
    tree = {"__dict__": [[name, {"__array__": name}] for name in arrays]}
    return _write_npz(path, arrays, {"format": FORMAT, "version": FORMAT_VERSION,
                                     "kind": "state_dict", "tree": tree})


def _is_array_dict(obj):
    return isinstance(obj, dict) and all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items())


def load(path):
    """The state dict in ``path``: an OrderedDict of name -> NumPy array. ``path`` is a
    file written by ``save`` (or ``np.savez``), or a training checkpoint (its "model")."""
    state, kind = _read_tree(path)
    if kind == "state_dict" and _is_array_dict(state):
        return OrderedDict(state)
    if isinstance(state, dict) and _is_array_dict(state.get("model")) and state["model"]:
        return OrderedDict(state["model"])
    keys = list(state)[:8] if isinstance(state, dict) else type(state).__name__
    raise CheckpointError(f"{os.fspath(path)} holds no state dict: expected name -> array, or "
                          f"a training checkpoint with a 'model' entry; found {keys}")


def load_into(model, path, strict=True):
    """``model.load_state_dict(load(path), strict)``; returns (missing, unexpected)."""
    return model.load_state_dict(load(path), strict=strict)


# the PyTorch reader, in io_torch.py (it uses CheckpointError and _describe_head above)
from .io_torch import load_torch_file, load_torch_weights  # noqa: E402
