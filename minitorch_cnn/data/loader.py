"""DataLoader: a dataset cut into shuffled mini-batches, prepared ahead of the training step.

    loader = DataLoader(train_set, batch_size=128, shuffle=True, seed=0, drop_last=True)
    for x, y in loader:          # x: (N, C, H, W) float32 Tensor, y: (N,) int64 Tensor
        ...

Batches are prepared ahead in one of two ways:
- ``num_workers=0`` (the default): a background thread reads, augments and collates
  batches b+1 .. b+prefetch while the model trains on batch b (NumPy releases the GIL in
  most array work, so the two overlap);
- ``num_workers=n``: n worker processes do it in parallel (workers.py), as torch's
  DataLoader does; worth it when reading and augmenting samples is Python-heavy.
Samples are collated into NumPy arrays by ``default_collate`` and only then wrapped as
Tensors, in the main process, on ``device``. ``pin_memory`` is accepted and does nothing:
page-locked memory speeds up torch's host-to-GPU copies, and on the CPU there is no copy
to speed up (on the GPU, ``device="cuda"`` places each batch there).

Reproducibility: epoch e's order and its random augmentations come from one seed per
epoch: ``(seed, e)`` when ``seed`` is given (so a resumed run calls ``set_epoch(e)`` and
gets the very same epoch), else a number drawn from ``generator`` or from
``backend.get_rng()`` at the start of the epoch. Batch b's random transforms draw from a
generator of its own, seeded from the epoch's seed and b (see
``transforms.augmentation_rng``), so the batches are the same with or without the thread,
and with any number of workers.
"""
import queue
import threading
import weakref

import numpy as np

from .. import backend
from ..tensor import Tensor
from .sampler import RandomSampler, SequentialSampler
from .transforms import augmentation_rng, to_tensor
from . import workers

__all__ = ["DataLoader", "default_collate", "get_worker_info"]

get_worker_info = workers.get_worker_info


def default_collate(samples):
    """Stack a list of samples into NumPy batch arrays, field by field.

    A sample is an array, a number, or a tuple/list/dict of those (collated per field).
    - uint8 arrays of 2 or 3 dims are images, (H, W) or (H, W, C): they become one
      float32 (N, C, H, W) array in [0, 1], as ``ToTensor`` would make them;
    - float arrays and Python floats: the default dtype (float32);
    - integer arrays, Python ints (labels): int64;
    - Tensors (TensorDataset's samples): stacked as they are;
    - anything else (strings, ...) is returned as a list.
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError(f"default_collate: samples have different numbers of fields "
                             f"({sorted({len(s) for s in samples})})")
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, Tensor):               # Tensors keep their dtype, as in torch
        return np.stack([backend.to_device(s.data, "cpu") for s in samples])
    if not isinstance(first, (np.ndarray, np.generic, int, float, bool)):
        return list(samples)
    arrays = [np.asarray(s) for s in samples]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"default_collate: cannot stack samples of different shapes "
                         f"{sorted(shapes)[:4]}; use a transform that makes them equal "
                         f"(e.g. RandomCrop/CenterCrop/Resize)")
    batch = np.stack(arrays)                                   # (N, ...)
    if batch.dtype == np.uint8 and batch.ndim in (3, 4):
        return to_tensor(batch if batch.ndim == 4 else batch[..., None])   # -> (N, C, H, W)
    if batch.dtype.kind == "f":
        return batch.astype(backend.get_default_dtype(), copy=False)
    if batch.dtype.kind in "iu":
        return batch.astype(np.int64, copy=False)
    return batch


def _to_tensors(batch, device):
    """NumPy arrays in a collated batch -> Tensors on ``device`` (structure kept)."""
    if isinstance(batch, np.ndarray):
        return Tensor(batch, device=device)
    if isinstance(batch, tuple):
        return tuple(_to_tensors(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_tensors(v, device) for k, v in batch.items()}
    return batch


class DataLoader:
    """Iterate over ``dataset`` in mini-batches of ``batch_size``, with torch's arguments.

    shuffle      a new random order each epoch (see the module docstring for seeding)
    sampler      an iterable of indices to visit instead (e.g. ``SubsetRandomSampler``)
    num_workers  worker processes preparing batches in parallel (0: a thread in this one)
    collate_fn   list of samples -> NumPy batch (``default_collate``)
    pin_memory   accepted; no effect here (see the module docstring)
    drop_last    drop the last, smaller batch (keeps BatchNorm statistics and the step
                 size even); ``len(loader)`` counts the batches either way
    timeout      seconds to wait for a batch from the workers (0: forever)
    worker_init_fn, multiprocessing_context, prefetch_factor (batches in flight per
                 worker, 2), persistent_workers (keep the processes between epochs)
    generator    a NumPy Generator (or ``minitorch_cnn.Generator``) for each epoch's seed
    and this project's own:
    seed         makes epoch e's order and augmentations depend only on (seed, e)
    prefetch     batches the background thread prepares ahead (num_workers=0); 0: none
    device       where the batch Tensors are placed ('cpu' or 'cuda'; default cpu)
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, *, sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None,
                 prefetch_factor=None, persistent_workers=False, seed=None, prefetch=2,
                 device=None):
        if batch_size is None or int(batch_size) < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if int(prefetch) < 0:
            raise ValueError(f"DataLoader: prefetch must be >= 0, got {prefetch}")
        if int(num_workers) < 0:
            raise ValueError(f"DataLoader: num_workers must be >= 0, got {num_workers}")
        if num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise ValueError("DataLoader: prefetch_factor and persistent_workers need "
                             "num_workers > 0")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give seed or generator, not both")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        self.dataset = dataset
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), drop_last
        self.seed, self.generator = seed, generator
        self.sampler = sampler if sampler is not None else (
            RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset))
        self._own_order = sampler is None
        self.collate_fn = collate_fn or default_collate
        self.prefetch = int(prefetch)
        self.num_workers, self.pin_memory, self.timeout = int(num_workers), pin_memory, timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)
        self.persistent_workers = persistent_workers
        self.device = backend.normalize_device(device)
        self.epoch = 0           # epochs started so far; the next ``iter`` uses this one
        self._pool = None        # the worker processes kept with persistent_workers

    def __len__(self):
        n, b = len(self.sampler), self.batch_size
        return n // b if self.drop_last else -(-n // b)      # floor or ceil of n / b

    def set_epoch(self, epoch):
        """Make the next ``iter(loader)`` run epoch ``epoch`` (to resume a seeded run)."""
        self.epoch = int(epoch)

    def state_dict(self):
        return {"epoch": self.epoch}

    def load_state_dict(self, state):
        self.set_epoch(state["epoch"])

    def _epoch_seed(self):
        """This epoch's SeedSequence, drawn in the main thread."""
        if self.seed is not None:
            return np.random.SeedSequence([int(self.seed), self.epoch])
        source = self.generator if self.generator is not None else backend.get_rng()
        return np.random.SeedSequence(int(source.integers(2 ** 63)))

    def __iter__(self):
        seq = self._epoch_seed()
        order_seq, augment_seq = seq.spawn(2)
        self.epoch += 1
        if self._own_order:
            n = len(self.dataset)
            indices = (np.random.default_rng(order_seq).permutation(n) if self.shuffle
                       else np.arange(n))
        else:
            indices = np.fromiter(iter(self.sampler), dtype=np.int64)
        batches = [indices[i:i + self.batch_size]
                   for i in range(0, len(self) * self.batch_size, self.batch_size)]
        device = self.device

        def to_tensors(batch):
            return _to_tensors(batch, device)

        if self.num_workers > 0:
            return self._worker_iterator(batches, augment_seq, to_tensors)
        dataset, collate = self.dataset, self.collate_fn
        entropy, key = augment_seq.entropy, tuple(augment_seq.spawn_key)

        def produce(b):        # one batch as NumPy arrays: read, augment, collate
            with augmentation_rng(workers.batch_generator(entropy, key, b)):
                return collate([dataset[int(i)] for i in batches[b]])

        if self.prefetch == 0:
            return (to_tensors(produce(b)) for b in range(len(batches)))
        return _PrefetchIterator(produce, len(batches), self.prefetch, to_tensors)

    def _worker_iterator(self, batches, augment_seq, to_tensors):
        pool = self._pool
        if pool is None or pool.closed:
            base_seed = int(augment_seq.generate_state(1, np.uint64)[0] % 2 ** 62)
            pool = workers.WorkerPool(self.dataset, self.collate_fn, self.num_workers,
                                      self.worker_init_fn, self.multiprocessing_context,
                                      base_seed)
            if self.persistent_workers:
                self._pool = pool
                weakref.finalize(self, pool.shutdown)
        return workers.WorkerIterator(pool, batches, self.epoch, augment_seq,
                                      self.prefetch_factor * self.num_workers, to_tensors,
                                      self.timeout, keep_pool=self.persistent_workers)

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, num_workers={self.num_workers}, "
                f"prefetch={self.prefetch})")


def _prefetch_worker(produce, n_batches, out, stop):
    """Thread body: put ("batch", b) for each batch, then ("end", None), or ("error", e).

    Every put waits in short slices so that ``stop`` (the consumer went away) ends
    the thread even when the queue is full."""
    def put(item):
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    b = 0
    try:
        for b in range(n_batches):
            if stop.is_set() or not put(("batch", produce(b))):
                return
        put(("end", None))
    except BaseException as e:                       # handed to the main thread
        if hasattr(e, "add_note"):
            e.add_note(f"(raised in the DataLoader's prefetch thread, batch {b})")
        put(("error", e))


class _PrefetchIterator:
    """One epoch: a worker thread fills a bounded queue; ``__next__`` takes from it.

    Errors in the worker are raised again here, with their original traceback. When the
    epoch ends, or the iterator is dropped mid-epoch (``break``, an exception in the
    training step), ``close`` stops the thread and joins it."""

    def __init__(self, produce, n_batches, depth, to_tensors):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._to_tensors = to_tensors
        self._n = n_batches
        self._thread = threading.Thread(
            target=_prefetch_worker, args=(produce, n_batches, self._queue, self._stop),
            name="DataLoader-prefetch", daemon=True)
        self._done = False
        self._thread.start()

    def __iter__(self):
        return self

    def __len__(self):
        return self._n

    def __next__(self):
        if self._done:
            raise StopIteration
        while True:
            try:
                kind, payload = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    self.close()
                    raise RuntimeError("DataLoader: the prefetch thread stopped without "
                                       "finishing the epoch") from None
        if kind == "batch":
            return self._to_tensors(payload)
        self.close()
        if kind == "error":
            raise payload
        raise StopIteration

    def close(self):
        """Stop the worker (it may be waiting to put a batch) and wait for it."""
        self._done = True
        self._stop.set()
        while self._thread.is_alive():
            try:                                      # make room so a blocked put returns
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)

    def __del__(self):
        if "_thread" in self.__dict__:                # __init__ got as far as the thread
            self.close()
