"""Data: datasets, the DataLoader and image transforms.

    from minitorch_cnn import data
    from minitorch_cnn.data import transforms as T

    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize(data.CIFAR10_MEAN, data.CIFAR10_STD)])
    train = data.CIFAR10(train=True, transform=tf)          # downloads once, then cached
    loader = data.DataLoader(train, batch_size=128, shuffle=True, seed=0, drop_last=True)
    for x, y in loader:                                     # (128, 3, 32, 32) float32, (128,) int64
        ...

dataset.py    Dataset, TensorDataset, ConcatDataset, Subset, random_split
sampler.py    Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler, ...
loader.py     DataLoader (batching, seeded shuffling, a prefetch thread), default_collate
workers.py    DataLoader's worker processes (num_workers > 0), get_worker_info
datasets.py   CIFAR10, MNIST (official files, verified), ShapesDataset (no download)
download.py   download with progress bar, checksums, atomic writes, unpacking, offline help
transforms.py crops, flips, resizing, VGG scale jittering, ten-crop / multi-scale testing,
              AlexNet's PCA lighting, normalisation
"""
from . import transforms
from .dataset import Dataset, TensorDataset, ConcatDataset, Subset, random_split
from .sampler import (Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
                      WeightedRandomSampler)
from .loader import DataLoader, default_collate, get_worker_info
from .datasets import (CIFAR10, MNIST, ShapesDataset, read_idx, CIFAR10_MEAN, CIFAR10_STD,
                       MNIST_MEAN, MNIST_STD)
from .download import (data_root, download_url, fetch, extract_archive, fetch_and_extract,
                       check_integrity, DownloadError, OfflineError, ChecksumError)

__all__ = ["transforms", "Dataset", "TensorDataset", "ConcatDataset", "Subset", "random_split",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "DataLoader", "default_collate", "get_worker_info", "CIFAR10", "MNIST", "ShapesDataset", "read_idx",
           "CIFAR10_MEAN", "CIFAR10_STD", "MNIST_MEAN", "MNIST_STD", "data_root",
           "download_url", "fetch", "extract_archive", "fetch_and_extract",
           "check_integrity", "DownloadError", "OfflineError", "ChecksumError"]
