"""torch.utils.data's names (issue 21): imported from minitorch_cnn.utils.data, compared
with torch where they are deterministic (TensorDataset items, Subset, ConcatDataset,
random_split lengths, len(loader)), and DataLoader's num_workers shown to run worker
processes in parallel (their pids, overlapping reads of a slow dataset), giving the same
batches as without workers, with errors, dead workers and abandoned epochs handled."""
import gc
import multiprocessing
import os
import time

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import minitorch_cnn as mt
from minitorch_cnn import data
from minitorch_cnn.data import transforms as T
from minitorch_cnn.utils.data import (ConcatDataset, DataLoader, Dataset, RandomSampler,
                                      SubsetRandomSampler, Subset, TensorDataset,
                                      get_worker_info, random_split)
from conftest import to_numpy


def test_the_torch_path_names_the_same_classes():
    assert mt.utils.data.DataLoader is data.DataLoader is DataLoader
    assert mt.utils.data.TensorDataset is data.TensorDataset
    assert mt.utils.data.Dataset is data.Dataset and mt.utils.data.Subset is data.Subset


def test_tensor_dataset_items_are_tensors_as_in_torch():
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    y = np.array([0, 1, 2, 0, 1, 2])
    ours = TensorDataset(mt.tensor(x), mt.tensor(y))
    theirs = tdata.TensorDataset(torch.tensor(x), torch.tensor(y))
    assert len(ours) == len(theirs)
    for i in (0, 3, -1):
        for a, b in zip(ours[i], theirs[i]):
            assert isinstance(a, mt.Tensor) and a.shape == tuple(b.shape)
            assert str(a.dtype) == str(b.dtype)
            np.testing.assert_array_equal(to_numpy(a), b.numpy())
    d64 = TensorDataset(mt.tensor(x, dtype=mt.float64), mt.tensor(y))
    xb, yb = next(iter(DataLoader(d64, batch_size=4)))
    assert xb.dtype is mt.float64 and yb.dtype is mt.int64      # a Tensor keeps its dtype
    assert isinstance(ours.tensors[0], mt.Tensor)


@pytest.mark.parametrize("n, batch, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True),
                                                 (2, 5, False), (2, 5, True)])
def test_len_of_loader_and_dataset_as_torch(n, batch, drop_last):
    ours = DataLoader(TensorDataset(mt.zeros(n, 2)), batch_size=batch, drop_last=drop_last)
    theirs = tdata.DataLoader(tdata.TensorDataset(torch.zeros(n, 2)), batch_size=batch,
                              drop_last=drop_last)
    assert len(ours) == len(theirs) and len(ours.dataset) == len(theirs.dataset) == n
    assert len(list(ours)) == len(list(theirs))
    assert [b[0].shape for b in ours] == [tuple(b[0].shape) for b in theirs]


def test_subset_concat_and_random_split_as_torch():
    base = TensorDataset(mt.arange(10))
    tbase = tdata.TensorDataset(torch.arange(10))
    for ours, theirs in [(Subset(base, [7, 2, 5]), tdata.Subset(tbase, [7, 2, 5])),
                         (ConcatDataset([base, Subset(base, [1, 2])]),
                          tdata.ConcatDataset([tbase, tdata.Subset(tbase, [1, 2])]))]:
        assert len(ours) == len(theirs)
        assert [ours[i][0].item() for i in range(len(ours))] == \
            [theirs[i][0].item() for i in range(len(theirs))]
    for lengths in ([3, 7], [0.3, 0.7], [0.25, 0.25, 0.5], [0.33, 0.33, 0.34]):
        ours = random_split(base, lengths, generator=mt.Generator().manual_seed(42))
        theirs = tdata.random_split(tbase, lengths, generator=torch.Generator().manual_seed(42))
        assert [len(p) for p in ours] == [len(p) for p in theirs]
        again = random_split(base, lengths, generator=mt.Generator().manual_seed(42))
        assert [[p[i][0].item() for i in range(len(p))] for p in ours] == \
            [[p[i][0].item() for i in range(len(p))] for p in again]
        got = sorted(p[i][0].item() for p in ours for i in range(len(p)))
        assert got == list(range(10))


def test_samplers_and_collate_fn():
    ds = TensorDataset(mt.arange(20))
    picked = [3, 5, 7, 11]
    loader = DataLoader(ds, batch_size=2, sampler=SubsetRandomSampler(picked))
    assert len(loader) == 2 and len(loader.sampler) == 4
    assert sorted(v for (b,) in loader for v in b.tolist()) == picked
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=SubsetRandomSampler(picked))
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        tdata.DataLoader(tdata.TensorDataset(torch.arange(3)), shuffle=True,
                         sampler=tdata.SubsetRandomSampler([0]))
    rs = RandomSampler(ds, generator=mt.Generator().manual_seed(1))
    assert sorted(rs) == list(range(20)) and len(rs) == 20
    batches = list(DataLoader(ds, batch_size=8, collate_fn=lambda s: [int(t[0]) for t in s]))
    assert batches == [list(range(8)), list(range(8, 16)), list(range(16, 20))]
    assert isinstance(DataLoader(ds, pin_memory=True).pin_memory, bool)


# ------------------------------------------------------------- worker processes
class SlowRecorder(Dataset):
    """Sample i sleeps, then returns (i, the worker's pid and id, when it started/ended)."""

    def __init__(self, n, delay=0.05):
        self.n, self.delay = n, delay
        self.t0 = time.time()          # times are kept small: floats collate to float32

    def __getitem__(self, i):
        start = time.time() - self.t0
        time.sleep(self.delay)
        info = get_worker_info()
        return (i, os.getpid(), -1 if info is None else info.id,
                start, time.time() - self.t0)

    def __len__(self):
        return self.n


def _rows(loader):
    rows = []
    for batch in loader:
        rows += list(zip(*(b.tolist() for b in batch)))
    return rows


def test_num_workers_reads_in_parallel_processes():
    loader = DataLoader(SlowRecorder(24), batch_size=2, num_workers=3, pin_memory=True,
                        drop_last=True, shuffle=True, seed=0)
    rows = _rows(loader)
    assert sorted(r[0] for r in rows) == list(range(24))       # every sample, once
    pids = {r[1] for r in rows}
    assert len(pids) == 3 and os.getpid() not in pids           # three other processes
    assert {r[2] for r in rows} == {0, 1, 2}                    # get_worker_info().id
    # reads by different workers overlap in time: they ran at once, not one after another
    overlaps = sum(1 for a in rows for b in rows
                   if a[1] != b[1] and a[3] < b[4] and b[3] < a[4])
    assert overlaps > 0
    assert get_worker_info() is None                            # in the main process
    gc.collect()
    assert not [p for p in multiprocessing.active_children()
                if p.name.startswith("DataLoader-worker")]       # shut down after the epoch


def test_workers_give_the_same_batches_as_without_them():
    ds = data.ShapesDataset(n=48, seed=2, transform=T.Compose(
        [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor()]))
    runs = []
    for workers in (0, 1, 3):
        loader = DataLoader(ds, batch_size=8, shuffle=True, seed=9, num_workers=workers)
        runs.append([(x.numpy(), y.numpy()) for x, y in loader])
    for other in runs[1:]:
        for (x0, y0), (x1, y1) in zip(runs[0], other):
            np.testing.assert_array_equal(x0, x1)
            np.testing.assert_array_equal(y0, y1)


class Broken(Dataset):
    def __init__(self, bad=5, die=None):
        self.bad, self.die = bad, die

    def __getitem__(self, i):
        if i == self.die:
            os._exit(3)                          # a worker killed by the system
        if i == self.bad:
            raise KeyError(f"sample {i} is broken")
        return np.float32(i)

    def __len__(self):
        return 12


def test_errors_in_workers_reach_the_main_process():
    loader = DataLoader(Broken(bad=5), batch_size=2, num_workers=2)
    got = []
    with pytest.raises(KeyError, match="sample 5 is broken") as info:
        for b in loader:
            got.append(b.tolist())
    assert got == [[0.0, 1.0], [2.0, 3.0]]
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "DataLoader worker process" in notes and "Traceback" in notes
    with pytest.raises(RuntimeError, match="exited unexpectedly.*exit code 3"):
        list(DataLoader(Broken(bad=None, die=7), batch_size=2, num_workers=2))


def test_worker_init_fn_timeout_and_abandoned_epochs():
    seen = multiprocessing.get_context("fork").Queue()
    loader = DataLoader(SlowRecorder(8, delay=0.0), batch_size=2, num_workers=2,
                        worker_init_fn=lambda wid: seen.put(wid))
    assert len(_rows(loader)) == 8
    assert sorted(seen.get(timeout=5) for _ in range(2)) == [0, 1]
    with pytest.raises(RuntimeError, match="timed out after 0.2 s"):
        list(DataLoader(SlowRecorder(4, delay=2.0), batch_size=1, num_workers=1, timeout=0.2))
    it = iter(DataLoader(SlowRecorder(40, delay=0.01), batch_size=2, num_workers=2))
    next(it)
    del it                                       # ``break`` out of an epoch
    gc.collect()
    deadline = time.time() + 5
    while time.time() < deadline and [p for p in multiprocessing.active_children()
                                      if p.name.startswith("DataLoader-worker")]:
        time.sleep(0.05)
    assert not [p for p in multiprocessing.active_children()
                if p.name.startswith("DataLoader-worker")]


def test_persistent_workers_keep_their_processes():
    loader = DataLoader(SlowRecorder(6, delay=0.0), batch_size=2, num_workers=2,
                        persistent_workers=True)
    first = {r[1] for r in _rows(loader)}
    for _ in loader:                             # an abandoned epoch in between
        break
    second = {r[1] for r in _rows(loader)}
    assert first == second and len(first) == 2
    del loader
    gc.collect()
    with pytest.raises(ValueError, match="need num_workers > 0"):
        DataLoader(SlowRecorder(2), persistent_workers=True)
