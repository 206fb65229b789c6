"""Datasets and the DataLoader: batching, collation to float32 NCHW / int64 Tensors,
seeded shuffling, drop_last, the prefetch thread (same batches as without it, errors
re-raised in the main thread, clean shutdown when abandoned), splits, ShapesDataset."""
import gc
import threading
import time

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import data
from minitorch_cnn.data import transforms as T


class Indexed(data.Dataset):
    """Sample i is (i as a tiny image, i): shows which indices a batch holds."""

    def __init__(self, n, fail_at=None, delay=0.0):
        self.n, self.fail_at, self.delay = n, fail_at, delay
        self.reads = 0

    def __getitem__(self, i):
        self.reads += 1
        if self.delay:
            time.sleep(self.delay)
        if i == self.fail_at:
            raise ValueError(f"sample {i} is broken")
        return np.full((2, 2, 1), i % 256, np.uint8), i

    def __len__(self):
        return self.n


def _labels(loader):
    return [y.numpy().tolist() for _, y in loader]


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "DataLoader-prefetch"]


# ------------------------------------------------------------------ batching
@pytest.mark.parametrize("prefetch", [0, 2])
def test_batches_cover_dataset_in_order(prefetch):
    loader = data.DataLoader(Indexed(10), batch_size=4, prefetch=prefetch)
    assert len(loader) == 3
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dl = data.DataLoader(Indexed(10), batch_size=4, drop_last=True, prefetch=prefetch)
    assert len(dl) == 2 and _labels(dl) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_collate_images_to_float32_nchw_and_labels_to_int64(device):
    ds = data.ShapesDataset(n=20, seed=1)
    x, y = next(iter(data.DataLoader(ds, batch_size=8, device=device)))
    assert isinstance(x, mt.Tensor) and x.shape == (8, 3, 32, 32) and x.dtype == np.float32
    assert y.shape == (8,) and y.dtype == np.int64 and x.device == device == y.device
    np.testing.assert_allclose(x.numpy(), ds.data[:8].transpose(0, 3, 1, 2) / 255, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), ds.targets[:8])
    tf = T.Compose([T.ToTensor(), T.Normalize(data.CIFAR10_MEAN, data.CIFAR10_STD)])
    ds.transform = tf                                       # already CHW float32: kept
    x2, _ = next(iter(data.DataLoader(ds, batch_size=8, device=device)))
    np.testing.assert_allclose(x2.numpy(), np.stack([tf(im) for im in ds.data[:8]]), rtol=1e-6)


def test_default_collate_structures_and_errors():
    b = data.default_collate([{"x": np.ones(3), "id": 1, "name": "a"},
                              {"x": np.zeros(3), "id": 2, "name": "b"}])
    assert b["x"].dtype == np.float32 and b["x"].shape == (2, 3)
    assert b["id"].dtype == np.int64 and b["name"] == ["a", "b"]
    grey = data.default_collate([np.zeros((5, 6), np.uint8)] * 3)   # (H, W) images
    assert grey.shape == (3, 1, 5, 6) and grey.dtype == np.float32
    with pytest.raises(ValueError, match="different shapes"):
        data.default_collate([np.zeros((3, 4)), np.zeros((3, 5))])


def test_tensor_dataset_and_errors():
    xs, ys = np.arange(12.0).reshape(6, 2), mt.tensor([0, 1, 2, 3, 4, 5])
    ds = data.TensorDataset(xs, ys)
    assert len(ds) == 6 and ds[-1][1] == 5
    x, y = next(iter(data.DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 2) and x.dtype == np.float32 and y.dtype == np.int64
    with pytest.raises(ValueError, match="same first dimension"):
        data.TensorDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(IndexError, match="out of range"):
        ds[6]
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(ds, batch_size=0)


# ------------------------------------------------------------------ shuffling
def test_shuffle_is_a_permutation_reproducible_under_seed():
    a = data.DataLoader(Indexed(50), batch_size=7, shuffle=True, seed=3)
    b = data.DataLoader(Indexed(50), batch_size=7, shuffle=True, seed=3)
    ea1, ea2 = _labels(a), _labels(a)
    assert ea1 == _labels(b) and ea2 == _labels(b)         # same seed: same epochs
    assert sorted(sum(ea1, [])) == list(range(50))         # every sample once
    assert ea1 != ea2                                      # a new order each epoch
    assert ea1 != [list(range(i, min(i + 7, 50))) for i in range(0, 50, 7)]
    a.set_epoch(1)                                         # resume: epoch 1 again
    assert _labels(a) == ea2
    assert _labels(data.DataLoader(Indexed(50), batch_size=7, shuffle=True, seed=4)) != ea1


def test_shuffle_without_seed_follows_manual_seed_and_generator():
    mt.manual_seed(11)
    a = _labels(data.DataLoader(Indexed(30), batch_size=30, shuffle=True))
    mt.manual_seed(11)
    assert _labels(data.DataLoader(Indexed(30), batch_size=30, shuffle=True)) == a
    g1 = data.DataLoader(Indexed(30), 30, shuffle=True, generator=np.random.default_rng(2))
    g2 = data.DataLoader(Indexed(30), 30, shuffle=True, generator=np.random.default_rng(2))
    assert _labels(g1) == _labels(g2)


def test_augmentation_same_with_and_without_prefetch_thread():
    """Random crops come from the loader's per-epoch generator: the batches are equal
    with or without the thread, and the training step drawing from the global
    generator in between does not change them."""
    ds = data.ShapesDataset(n=40, seed=2, transform=T.Compose(
        [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor()]))
    runs = []
    for prefetch in (0, 3):
        loader = data.DataLoader(ds, batch_size=8, shuffle=True, seed=9, prefetch=prefetch)
        xs = []
        for x, _ in loader:
            mt.backend.get_rng().random(100)               # e.g. dropout masks
            xs.append(x.numpy())
        runs.append(np.concatenate(xs))
    np.testing.assert_array_equal(runs[0], runs[1])


# ------------------------------------------------------------------ prefetch thread
@pytest.mark.parametrize("prefetch", [0, 2])
def test_errors_in_loading_reach_the_main_thread(prefetch):
    loader = data.DataLoader(Indexed(20, fail_at=9), batch_size=4, prefetch=prefetch)
    got = []
    with pytest.raises(ValueError, match="sample 9 is broken"):
        for _, y in loader:
            got.append(y.numpy().tolist())
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7]]             # the good batches came first
    gc.collect()
    assert not _prefetch_threads()


def test_abandoned_iterator_stops_its_thread_and_queue_is_bounded():
    ds = Indexed(400, delay=0.001)
    loader = data.DataLoader(ds, batch_size=4, prefetch=2)
    it = iter(loader)
    next(it)
    thread = it._thread
    time.sleep(0.2)                 # let the worker fill its queue and block
    # 1 batch taken, 2 queued, at most 1 being built: the worker stays ahead by <= 3
    assert ds.reads <= 4 * 4
    assert thread.is_alive()
    del it                          # dropped mid-epoch (e.g. ``break``)
    gc.collect()
    thread.join(timeout=2)
    assert not thread.is_alive() and ds.reads < 400
    for x, _ in loader:             # ``break`` out of a for loop
        break
    del x
    gc.collect()
    time.sleep(0.1)
    assert not _prefetch_threads()


# ------------------------------------------------------------------ splits
def test_subset_and_random_split():
    ds = Indexed(10)
    sub = data.Subset(ds, range(3, 7))
    assert len(sub) == 4 and sub[0][1] == 3 and sub[-1][1] == 6
    parts = data.random_split(ds, [6, 4], seed=0)
    ids = [sorted(p[i][1] for i in range(len(p))) for p in parts]
    assert [len(p) for p in parts] == [6, 4] and sorted(ids[0] + ids[1]) == list(range(10))
    again = data.random_split(ds, [6, 4], seed=0)
    assert [again[0][i][1] for i in range(6)] == [parts[0][i][1] for i in range(6)]
    assert [len(p) for p in data.random_split(ds, [0.75, 0.25], seed=0)] == [8, 2]
    with pytest.raises(ValueError, match="sum to"):
        data.random_split(ds, [5, 4])
    with pytest.raises(IndexError):
        data.Subset(ds, [0, 10])


# ------------------------------------------------------------------ ShapesDataset
def test_shapes_dataset_deterministic_balanced_and_varied():
    a = data.ShapesDataset(n=300, seed=7)
    b = data.ShapesDataset(n=300, seed=7)
    assert a.data.shape == (300, 32, 32, 3) and a.data.dtype == np.uint8
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert np.array_equal(np.bincount(a.targets, minlength=10), np.full(10, 30))
    assert not np.array_equal(a.data, data.ShapesDataset(n=300, seed=8).data)
    assert not np.array_equal(a.data, data.ShapesDataset(n=300, seed=7, train=False).data)
    assert len(a.classes) == 10 and len(set(a.classes)) == 10
    img, label = a[0]
    assert img.shape == (32, 32, 3) and label == a.targets[0]
    assert a.data.std() > 40                                 # not blank images
    # images of one class differ from each other (random pose, colour, noise)
    same = a.data[a.targets == 0].reshape(30, -1).astype(np.float32)
    assert np.abs(same[0] - same[1:]).mean() > 20


@pytest.mark.slow
def test_shapes_dataset_is_learnable_by_a_small_cnn():
    """A small PyTorch CNN gets well above chance (10%) in a few epochs (measured: about
    77% after 8 epochs on 4000 images, ~25 s on one core)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # 2 shared cores: more threads only contend
    torch.manual_seed(0)
    tr, te = data.ShapesDataset(4000, seed=0), data.ShapesDataset(1000, train=False, seed=0)

    def prep(ds):
        x = torch.tensor(ds.data).permute(0, 3, 1, 2).float() / 255
        return (x - 0.5) / 0.25, torch.tensor(ds.targets)
    (xtr, ytr), (xte, yte) = prep(tr), prep(te)
    tnn = torch.nn
    net = tnn.Sequential(
        tnn.Conv2d(3, 16, 3, padding=1), tnn.BatchNorm2d(16), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(16, 32, 3, padding=1), tnn.BatchNorm2d(32), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3, padding=1), tnn.BatchNorm2d(64), tnn.ReLU(),
        tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    try:
        for _ in range(8):
            net.train()
            perm = torch.randperm(len(ytr))
            for i in range(0, len(ytr), 64):
                idx = perm[i:i + 64]
                loss = tnn.functional.cross_entropy(net(xtr[idx]), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            acc = (net(xte).argmax(1) == yte).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    assert acc > 0.5, acc
