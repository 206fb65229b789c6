"""Datasets: anything with ``len(ds)`` and ``ds[i] -> sample``, as in PyTorch.

A sample is usually a tuple ``(image, label)``; the DataLoader stacks samples into
batches. ``Subset`` and ``random_split`` carve a dataset into pieces (e.g. a
validation split) without copying it.
"""
import numbers

import numpy as np

from .. import backend
from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "ConcatDataset", "Subset", "random_split"]


class Dataset:
    """Base class: subclasses define ``__getitem__(i)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


def _check_index(index, n, name):
    """Python-style index into a length-n dataset (negatives count from the end)."""
    if not isinstance(index, numbers.Integral):
        raise TypeError(f"{name}: index must be an integer, got {type(index).__name__}")
    if not -n <= index < n:
        raise IndexError(f"{name}: index {index} out of range for {n} samples")
    return int(index) % n


class TensorDataset(Dataset):
    """Samples are the i-th rows of equally long tensors (or arrays), as Tensors:
    ``TensorDataset(images, labels)[i] == (images[i], labels[i])``.

    Tensors are kept as they are (their dtype too); NumPy arrays (and lists) as
    ``default_collate`` reads them: floats in the default dtype (float32), integers as
    int64."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        # kept as NumPy arrays on the CPU; each sample becomes Tensors when it is read
        self.arrays = tuple(backend.to_device(t.data, "cpu") if isinstance(t, Tensor)
                            else _numpy_column(t) for t in tensors)
        sizes = [len(a) if a.ndim else 0 for a in self.arrays]
        if len(set(sizes)) != 1 or any(a.ndim == 0 for a in self.arrays):
            raise ValueError(f"TensorDataset: all tensors need the same first dimension, "
                             f"got sizes {[tuple(a.shape) for a in self.arrays]}")
        self.tensors = tuple(Tensor(a) for a in self.arrays)

    def __getitem__(self, index):
        i = _check_index(index, len(self), "TensorDataset")
        return tuple(Tensor(a[i]) for a in self.arrays)

    def __len__(self):
        return len(self.arrays[0])


def _numpy_column(a):
    a = np.asarray(backend.to_device(a, "cpu"))
    if a.dtype.kind == "f":
        return a.astype(backend.get_default_dtype(), copy=False)
    return a.astype(np.int64, copy=False) if a.dtype.kind in "iu" else a


class ConcatDataset(Dataset):
    """Datasets one after the other: index i runs through the first, then the second..."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __getitem__(self, index):
        i = _check_index(index, len(self), "ConcatDataset")
        k = int(np.searchsorted(self.cumulative_sizes, i, side="right"))
        return self.datasets[k][i - (self.cumulative_sizes[k - 1] if k else 0)]

    def __len__(self):
        return self.cumulative_sizes[-1]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [-{n}, {n}), got range "
                             f"[{self.indices.min()}, {self.indices.max()}]")

    def __getitem__(self, index):
        return self.dataset[int(self.indices[_check_index(index, len(self), "Subset")])]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, seed=None, generator=None):
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given lengths.

    ``lengths`` are counts that sum to ``len(dataset)``, or fractions that sum to 1
    (rounded down, the remainder handed out one by one from the first split on).
    The permutation comes from ``generator`` (a NumPy Generator, or
    ``minitorch_cnn.Generator().manual_seed(42)`` as torch's examples write it), else from
    ``default_rng(seed)``, else from ``backend.get_rng()``."""
    n = len(dataset)
    lengths = list(lengths)
    if all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1) < 1e-6:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} must be non-negative and sum to "
                         f"the dataset's {n} samples (or be fractions summing to 1)")
    if generator is None:
        generator = np.random.default_rng(seed) if seed is not None else backend.get_rng()
    perm = generator.permutation(n)
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
