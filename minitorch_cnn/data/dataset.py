"""Datasets: anything with ``len(ds)`` and ``ds[i] -> sample``, as in PyTorch.

A sample is usually a tuple ``(image, label)``; the DataLoader stacks samples into
batches. ``Subset`` and ``random_split`` carve a dataset into pieces (e.g. a
validation split) without copying it.
"""
import numbers

import numpy as np

from .. import backend

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split"]


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
    """Samples are the i-th rows of equally long arrays (or Tensors):
    ``TensorDataset(images, labels)[i] == (images[i], labels[i])``."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        # a Tensor is kept as its NumPy array: samples stay NumPy until collated
        self.arrays = tuple(np.asarray(backend.to_device(getattr(a, "data", a), "cpu"))
                            for a in arrays)
        sizes = [len(a) for a in self.arrays]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: all arrays need the same first dimension, "
                             f"got sizes {sizes}")

    def __getitem__(self, index):
        i = _check_index(index, len(self), "TensorDataset")
        return tuple(a[i] for a in self.arrays)

    def __len__(self):
        return len(self.arrays[0])


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
    The permutation comes from ``generator``, else from ``default_rng(seed)``, else
    from ``backend.get_rng()``."""
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
