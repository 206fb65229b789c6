"""CIFAR-10 and MNIST from their official files, and ShapesDataset, made on the spot.

Every dataset stores its images as one uint8 array ``data`` of shape (N, H, W, C) and
its labels as int64 ``targets`` of shape (N,); ``ds[i]`` is ``(transform(data[i]),
target_transform(targets[i]))``. Without a transform the DataLoader still turns the
uint8 HWC images into float32 (N, C, H, W) batches in [0, 1].

The CIFAR-10 batches are pickles, and unpickling can run any code a file names, so they
are never given to ``pickle.load``: each file's MD5 is checked against the published
one on every load, and ``_CifarUnpickler`` reads only what the format holds.
"""
import pickle
import struct
import warnings
from pathlib import Path

import numpy as np

from .dataset import Dataset, _check_index
from .download import (DownloadError, check_folder, data_root, fetch, fetch_and_extract,
                       extract_archive, file_digest)

__all__ = ["CIFAR10", "MNIST", "ShapesDataset", "read_idx", "CIFAR10_MEAN", "CIFAR10_STD",
           "MNIST_MEAN", "MNIST_STD"]

# per-channel mean and standard deviation of the training images, in [0, 1] units
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)


class CorruptDataError(DownloadError):
    """An unpacked file does not hold what its format promises."""


class UnsafePickleError(CorruptDataError):
    """A dataset pickle names a global that the format never holds (it could run code)."""


# ------------------------------------------------------------------ safe unpickling
# What a CIFAR-10 batch of the "python version" holds, as Python 2's cPickle wrote it in
# 2009: a dict of str keys -> str, list of ints, list of str, and one NumPy array. The
# array is pickled as a call _reconstruct(ndarray, (0,), 'b') followed by a state
# (version, shape, dtype, is_fortran, raw bytes), the dtype as a call dtype('u1', 0, 1)
# with a state (version, byte order, ...). Those three globals are all the format names.
class _NDArrayClass:
    """Stands for ``numpy.ndarray`` in a pickle: an argument of _reconstruct, nothing else."""


class _DTypeRecord:
    """What ``numpy.dtype(spec, align, copy)`` in a pickle becomes: the spec and the
    state, checked and turned into a real dtype after the pickle is read."""

    def __init__(self, spec, align=False, copy=True):
        self.spec, self.state = spec, None

    def __setstate__(self, state):
        self.state = state


class _ArrayRecord:
    """What ``_reconstruct(ndarray, (0,), 'b')`` in a pickle becomes; its state
    (version, shape, dtype, is_fortran, raw bytes) is kept, checked, and turned into a
    NumPy array afterwards by ``_to_array``, so NumPy never sees the file's state."""

    def __init__(self):
        self.state = None

    def __setstate__(self, state):
        self.state = state


def _reconstruct(subtype, shape, typecode):
    if subtype is not _NDArrayClass:
        raise pickle.UnpicklingError("_reconstruct called for something other than ndarray")
    return _ArrayRecord()


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler for the CIFAR format: numbers, strings, lists, dicts, and NumPy arrays
    as the 2009 files hold them (see above). Any other global is refused before it is
    called, so a planted file cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,     # as the files name it
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,    # as NumPy 2 writes it
        ("numpy", "ndarray"): _NDArrayClass,
        ("numpy", "dtype"): _DTypeRecord,
    }

    def __init__(self, file, source):
        super().__init__(file, encoding="latin1")   # Python 2 str -> str, byte for byte
        self.source = source

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        raise UnsafePickleError(
            f"{self.source}: refusing to unpickle the global '{module}.{name}'. A CIFAR-10 "
            f"batch holds only dicts, lists, numbers, strings and uint8 arrays; any other "
            f"global could run code, so nothing in this file was run or loaded. It is not "
            f"an official file: delete it and run again to unpack the verified archive")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not part of the CIFAR format")


def _to_dtype(record, source):
    spec = record.spec.decode("latin1") if isinstance(record.spec, bytes) else record.spec
    if not isinstance(spec, str) or len(spec) > 4:
        raise CorruptDataError(f"{source}: malformed dtype {spec!r} in the pickle")
    dtype = np.dtype(spec)
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise CorruptDataError(f"{source}: an array of dtype {dtype} in the pickle; the "
                               f"format holds only numeric arrays")
    state = record.state
    if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">") \
            and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(state[1])
    return dtype


def _to_array(record, source):
    """A NumPy array from the (version, shape, dtype, is_fortran, raw) state, checked."""
    state = record.state
    if isinstance(state, tuple) and len(state) == 5:
        state = state[1:]                           # drop the version number
    ok = (isinstance(state, tuple) and len(state) == 4 and isinstance(state[0], tuple)
          and all(isinstance(n, int) and n >= 0 for n in state[0])
          and isinstance(state[1], _DTypeRecord) and isinstance(state[3], (str, bytes)))
    if not ok:
        raise CorruptDataError(f"{source}: malformed array record in the pickle")
    shape, dtype_record, fortran, raw = state
    dtype = _to_dtype(dtype_record, source)
    raw = raw.encode("latin1") if isinstance(raw, str) else raw
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) != count * dtype.itemsize:
        raise CorruptDataError(f"{source}: an array of shape {shape} and dtype {dtype} needs "
                               f"{count * dtype.itemsize} bytes, the pickle holds {len(raw)}")
    arr = np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran else "C")
    return arr.astype(dtype.newbyteorder("="), order="C")      # owns its memory, native order


def _restore(obj, source):
    """Turn every array record into an array; refuse anything the format does not hold."""
    if isinstance(obj, _ArrayRecord):
        return _to_array(obj, source)
    if isinstance(obj, dict):
        return {_restore(k, source): _restore(v, source) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_restore(v, source) for v in obj)
    if obj is None or isinstance(obj, (str, bytes, int, float, bool)):
        return obj
    raise CorruptDataError(f"{source}: the pickle holds a {type(obj).__name__}, which the "
                           f"CIFAR format never does")


def safe_unpickle(path):
    """Read a CIFAR-format pickle with ``_CifarUnpickler`` (no code from the file runs)."""
    try:
        with open(path, "rb") as f:
            obj = _CifarUnpickler(f, path).load()
    except FileNotFoundError as e:
        raise CorruptDataError(f"{path} is missing") from e
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OverflowError, MemoryError) as e:
        raise CorruptDataError(f"{path} cannot be read ({type(e).__name__}: {e})") from e
    return _restore(obj, path)


class _ImageDataset(Dataset):
    """Shared by the datasets below: ``data`` (N, H, W, C) uint8, ``targets`` (N,) int64."""

    def __getitem__(self, index):
        i = _check_index(index, len(self), type(self).__name__)
        img, target = self.data[i], int(self.targets[i])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.targets)

    def __repr__(self):
        split = "train" if self.train else "test"
        return (f"{type(self).__name__}({split}, {len(self)} images of "
                f"{'x'.join(map(str, self.data.shape[1:]))}, {len(self.classes)} classes)")


def _load_with_one_retry(name, load, refresh):
    """``load()``; if the files on disk turn out damaged, ``refresh()`` (verify, refetch,
    unpack again) and ``load()`` once more."""
    try:
        return load()
    except CorruptDataError as e:
        warnings.warn(f"{name}: {e}; unpacking the verified archive again", RuntimeWarning,
                      stacklevel=3)
        refresh()
        return load()


# ------------------------------------------------------------------ CIFAR-10
class CIFAR10(_ImageDataset):
    """CIFAR-10 (Krizhevsky 2009): 60 000 32x32 colour images in 10 classes, 50 000 for
    training (``data_batch_1`` .. ``5``) and 10 000 for testing (``test_batch``).

    The archive is the "python version" from the official page; each batch file is a
    pickled dict with ``data``, a (10000, 3072) uint8 array whose rows hold the R, G and
    B planes of one image (1024 values each, row-major), and ``labels``, a list of ints
    in 0..9. ``batches.meta`` holds ``label_names``.

    root: folder of the data (default: ``data_root()``); the archive and the unpacked
    ``cifar-10-batches-py`` folder live there. download: fetch what is missing (else
    a missing file is an error with the manual steps). progress: show a tqdm bar
    while downloading. ``url``/``md5`` (the archive) and ``file_md5`` (each unpacked
    file, checked on every load; a file it does not list is not checked) are class
    attributes, so a subclass may point them at a mirror.
    """

    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    md5 = "c58f30108f718f92721af3b95e74349a"
    filename = "cifar-10-python.tar.gz"
    folder = "cifar-10-batches-py"
    train_files = [f"data_batch_{i}" for i in range(1, 6)]
    test_files = ["test_batch"]
    meta_file = "batches.meta"
    # the published MD5 of each unpacked file of cifar-10-batches-py
    file_md5 = {"data_batch_1": "c99cafc152244af753f735de768cd75f",
                "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
                "data_batch_4": "634d18415352ddfa80567beed471001a",
                "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
                "test_batch": "40351d587109b95175f43aff81a1287e",
                "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"}

    def __init__(self, root=None, train=True, download=True, transform=None,
                 target_transform=None, progress=True):
        self.root = Path(root).expanduser() if root is not None else data_root()
        check_folder(self.root, "CIFAR-10")
        self.train, self.transform, self.target_transform = train, transform, target_transform

        def refresh(force):
            fetch_and_extract(self.filename, [self.url], self.root, md5=self.md5,
                              download=download, progress=progress, what="CIFAR-10",
                              force=force)
        refresh(False)
        self.data, self.targets, self.classes = _load_with_one_retry(
            "CIFAR-10", self._read, lambda: refresh(True))

    def _unpickle(self, path):
        """One batch file: its MD5 checked, then read by the restricted unpickler."""
        want = self.file_md5.get(path.name)
        if want is not None and path.is_file():
            got = file_digest(path, "md5")
            if got != want:
                raise CorruptDataError(f"{path} has md5 {got}, expected {want}: it is not "
                                       f"the file that was unpacked (damaged or replaced)")
        d = safe_unpickle(path)
        if not isinstance(d, dict):
            raise CorruptDataError(f"{path} does not hold a CIFAR batch dict")
        # keys are str after latin1 decoding; accept bytes keys as well
        return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}

    def _read(self):
        folder = self.root / self.folder
        images, labels = [], []
        for name in self.train_files if self.train else self.test_files:
            d = self._unpickle(folder / name)
            try:
                x = np.asarray(d["data"], dtype=np.uint8)
                y = np.asarray(d["labels"], dtype=np.int64)
            except KeyError as e:
                raise CorruptDataError(f"{folder / name} has no {e} entry") from e
            if x.ndim != 2 or x.shape[1] != 3072 or len(x) != len(y):
                raise CorruptDataError(f"{folder / name}: expected (n, 3072) pixels and n "
                                       f"labels, got {x.shape} and {y.shape}")
            images.append(x)
            labels.append(y)
        meta = self._unpickle(folder / self.meta_file)
        classes = [c.decode() if isinstance(c, bytes) else str(c)
                   for c in meta.get("label_names", [])]
        y = np.concatenate(labels)
        if len(classes) != 10 or y.min(initial=0) < 0 or y.max(initial=0) > 9:
            raise CorruptDataError(f"{folder}: expected 10 classes and labels in 0..9")
        # (N, 3072) -> (N, 3, 32, 32) planes -> (N, 32, 32, 3) HWC
        x = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(x), y, classes


# ------------------------------------------------------------------ MNIST
_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path):
    """Read an IDX file (LeCun's format for MNIST) into a NumPy array.

    Layout: a 4-byte magic number [0, 0, type code, number of dimensions], one
    big-endian uint32 per dimension, then the values, big-endian, row-major.
    Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
    A file shorter or longer than its header promises raises CorruptDataError."""
    raw = Path(path).read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise CorruptDataError(f"{path} is not an IDX file (magic number {raw[:4].hex()})")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptDataError(f"{path}: the header is cut off")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise CorruptDataError(f"{path}: the header promises {dims} values ({expected} "
                               f"bytes), the file holds {len(raw) - header} bytes")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


class MNIST(_ImageDataset):
    """MNIST (LeCun et al. 1998): 28x28 grey handwritten digits, 60 000 for training and
    10 000 for testing, in four gzipped IDX files. ``data`` is (N, 28, 28, 1) uint8.

    The files are fetched from ``mirrors`` in order (class attribute: the original
    page is often unavailable, so public copies with identical files come first) and
    checked against the MD5s in ``resources``. Arguments as for ``CIFAR10``."""

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                 "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                 "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                 "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
    folder = "MNIST/raw"
    classes = [str(d) for d in range(10)]

    def __init__(self, root=None, train=True, download=True, transform=None,
                 target_transform=None, progress=True):
        self.root = Path(root).expanduser() if root is not None else data_root()
        check_folder(self.root, "MNIST")
        self.train, self.transform, self.target_transform = train, transform, target_transform
        prefix = "train" if train else "t10k"
        names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
        folder = self.root / self.folder

        def refresh(force):
            for name in names:
                raw = folder / name[:-3]
                if raw.exists() and not force:
                    continue
                others = [([m + n for m in self.mirrors], folder / n, self.resources[n], None)
                          for n in names if n != name]
                gz = fetch(name, [m + name for m in self.mirrors], folder,
                           md5=self.resources[name], download=download, progress=progress,
                           what="MNIST", others=others)
                extract_archive(gz, folder)

        def load():
            images = read_idx(folder / names[0][:-3])
            labels = read_idx(folder / names[1][:-3])
            if images.ndim != 3 or images.dtype != np.uint8 or labels.shape != images.shape[:1]:
                raise CorruptDataError(f"{folder}: expected (n, 28, 28) uint8 images and n "
                                       f"labels, got {images.shape} {images.dtype} and "
                                       f"{labels.shape}")
            return images[..., None], labels.astype(np.int64)     # (N, H, W) -> (N, H, W, 1)

        refresh(False)
        self.data, self.targets = _load_with_one_retry("MNIST", load, lambda: refresh(True))


# ------------------------------------------------------------------ Shapes
def _shape_masks(label, u, v):
    """Boolean masks (n, S, S) of shape class ``label`` in the shape's own coordinates
    (u, v): centred on it, rotated with it, divided by its radius."""
    rho = np.sqrt(u * u + v * v)
    phi = np.arctan2(v, u)
    box = np.maximum(np.abs(u), np.abs(v))
    if label == 0:                                            # circle
        return rho <= 1
    if label == 1:                                            # square
        return box <= 0.85
    if label == 2:                                            # triangle: 3 half-planes
        inside = np.ones(u.shape, bool)
        for k in range(3):                                    # edge normals 120 deg apart
            a = -np.pi / 2 + k * 2 * np.pi / 3
            inside &= u * np.cos(a) + v * np.sin(a) <= 0.55
        return inside
    if label == 3:                                            # cross (plus sign)
        return (np.minimum(np.abs(u), np.abs(v)) <= 0.3) & (box <= 1)
    if label == 4:                                            # ring
        return (rho <= 1) & (rho >= 0.55)
    if label == 5:                                            # stripes in a square
        return (box <= 0.9) & (np.cos(2 * np.pi * 1.4 * u) > 0)
    if label == 6:                                            # 4x4 checkerboard patch
        cells = np.floor((u + 0.9) * 2.2) + np.floor((v + 0.9) * 2.2)
        return (box <= 0.9) & (cells % 2 == 0)
    if label == 7:                                            # diamond
        return np.abs(u) + np.abs(v) <= 1.05
    if label == 8:                                            # five-pointed star
        return rho <= 0.4 + 0.65 * ((1 + np.cos(5 * phi)) / 2) ** 2
    if label == 9:                                            # ellipse, axes 1 and 0.5
        return u * u + (v / 0.5) ** 2 <= 1
    raise ValueError(label)


class ShapesDataset(_ImageDataset):
    """A built-in stand-in for CIFAR-10: 10 classes of procedurally drawn 32x32 RGB
    shapes that need no download.

    Classes: circle, square, triangle, cross, ring, stripes, checker, diamond, star,
    ellipse. Each image draws, from its own random numbers: the centre, the radius
    (7-12 px), a rotation (any angle for shapes that stay themselves under rotation,
    +-20 degrees for square/cross/checker/diamond so a square never turns into a
    diamond), a foreground and a background colour apart enough to be seen, a
    background texture (a sinusoidal grating of random frequency, direction and
    strength over a colour gradient), a small distractor blob and pixel noise.
    Classes are balanced (n/10 each, shuffled). Everything is vectorised NumPy
    (10 000 images take about two seconds on one core), and a given (n, train, seed) always yields
    the same images; train and test draw from different streams of the same seed.
    """

    classes = ["circle", "square", "triangle", "cross", "ring", "stripes", "checker",
               "diamond", "star", "ellipse"]
    size = 32
    _upright = (1, 3, 6, 7)            # classes whose rotation is kept small

    def __init__(self, n=10000, train=True, seed=0, transform=None, target_transform=None):
        if int(n) < 1:
            raise ValueError(f"ShapesDataset: n must be >= 1, got {n}")
        self.n, self.train, self.seed = int(n), train, int(seed)
        self.transform, self.target_transform = transform, target_transform
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0 if train else 1]))
        self.targets = rng.permutation(np.arange(self.n) % 10).astype(np.int64)
        self.data = np.empty((self.n, self.size, self.size, 3), np.uint8)
        for start in range(0, self.n, 2048):                  # bounded memory
            stop = min(start + 2048, self.n)
            self.data[start:stop] = self._draw(self.targets[start:stop], rng)

    def _draw(self, labels, rng):
        """(n, S, S, 3) uint8 images of the given labels."""
        n, S = len(labels), self.size
        f32 = np.float32
        yy, xx = np.mgrid[0:S, 0:S].astype(f32) + f32(0.5)   # pixel centres, (S, S)

        # geometry: centre, radius, rotation
        r = rng.uniform(7, 12, n).astype(f32)
        cx = rng.uniform(r, S - r).astype(f32)                # keep most of it in frame
        cy = rng.uniform(r, S - r).astype(f32)
        upright = np.isin(labels, self._upright)
        theta = np.where(upright, rng.uniform(-0.35, 0.35, n),
                         rng.uniform(-np.pi, np.pi, n)).astype(f32)

        # colours: resample foregrounds too close to their background (RGB distance)
        bg = rng.uniform(0, 1, (n, 3)).astype(f32)
        fg = rng.uniform(0, 1, (n, 3)).astype(f32)
        close = np.linalg.norm(fg - bg, axis=1) < 0.45
        while close.any():
            fg[close] = rng.uniform(0, 1, (close.sum(), 3))
            close = np.linalg.norm(fg - bg, axis=1) < 0.45

        # background: colour gradient plus a sinusoidal grating
        gdir = rng.uniform(-np.pi, np.pi, n).astype(f32)
        freq = rng.uniform(0.05, 0.35, n).astype(f32)         # cycles per pixel
        amp = rng.uniform(0, 0.12, n).astype(f32)
        phase = rng.uniform(0, 2 * np.pi, n).astype(f32)
        slope = rng.uniform(-0.25, 0.25, (n, 3)).astype(f32)
        c, s = np.cos(gdir)[:, None, None], np.sin(gdir)[:, None, None]
        along = (xx * c + yy * s) / S                          # (n, S, S) in about [-1.4, 1.4]
        grating = amp[:, None, None] * np.sin(2 * np.pi * freq[:, None, None] * along * S
                                              + phase[:, None, None])
        img = np.empty((n, S, S, 3), f32)                      # (n, S, S, 3), built in place
        img[:] = bg[:, None, None, :]
        img += slope[:, None, None, :] * along[..., None]
        img += grating[..., None]

        # the shape: pixel offsets rotated into its frame, divided by the radius
        dx, dy = xx - cx[:, None, None], yy - cy[:, None, None]
        ct, st = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
        u = (ct * dx + st * dy) / r[:, None, None]
        v = (-st * dx + ct * dy) / r[:, None, None]
        mask = np.zeros((n, S, S), bool)
        for k in range(10):
            idx = np.flatnonzero(labels == k)
            if idx.size:
                mask[idx] = _shape_masks(k, u[idx], v[idx])
        shade = 1 + 0.15 * (u * np.cos(phase)[:, None, None] + v * np.sin(phase)[:, None, None])
        np.copyto(img, fg[:, None, None, :] * shade[..., None], where=mask[..., None])

        # a distractor: a small blob of a third colour somewhere
        bx, by = rng.uniform(0, S, n).astype(f32), rng.uniform(0, S, n).astype(f32)
        br = rng.uniform(1, 2.5, n).astype(f32)
        blob = ((xx - bx[:, None, None]) ** 2 + (yy - by[:, None, None]) ** 2
                <= (br ** 2)[:, None, None])
        np.copyto(img, rng.uniform(0, 1, (n, 1, 1, 3)).astype(f32), where=blob[..., None])

        # sensor noise, scaled to 0..255 in the same multiply; + 0.5 so that the
        # truncating cast to uint8 rounds
        sigma = rng.uniform(0.02, 0.06, n).astype(f32)
        noise = rng.standard_normal((n, S, S, 3), dtype=f32)
        noise *= (255 * sigma)[:, None, None, None]
        img *= 255
        img += noise
        img += 0.5
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8)
