"""``torch.utils.data``, spelled that way: ``from minitorch_cnn.utils.data import
DataLoader, TensorDataset, random_split``. The classes live in ``minitorch_cnn.data``
(which also has the datasets and transforms); this module names them where a PyTorch
user looks for them."""
from ..data.dataset import Dataset, TensorDataset, ConcatDataset, Subset, random_split
from ..data.sampler import (Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
                            WeightedRandomSampler)
from ..data.loader import DataLoader, default_collate, get_worker_info

__all__ = ["Dataset", "TensorDataset", "ConcatDataset", "Subset", "random_split", "Sampler",
           "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "DataLoader", "default_collate", "get_worker_info"]
