"""DataLoader: a dataset cut into shuffled mini-batches, prepared ahead in a thread.

    loader = DataLoader(train_set, batch_size=128, shuffle=True, seed=0, drop_last=True)
    for x, y in loader:          # x: (N, C, H, W) float32 Tensor, y: (N,) int64 Tensor
        ...

While the model trains on batch b, a background thread already reads, augments and
collates batches b+1 .. b+prefetch (NumPy releases the GIL in most array work, so the
two overlap). Samples are collated into NumPy arrays by ``default_collate`` and only
then wrapped as Tensors, in the main thread, on ``device``.

Reproducibility: epoch e's order and its random augmentations come from two
generators spawned from one seed per epoch: ``(seed, e)`` when ``seed`` is given (so a
resumed run calls ``set_epoch(e)`` and gets the very same epoch), else a number drawn
from ``generator`` or from ``backend.get_rng()`` at the start of the epoch. Random
transforms inside the dataset draw from the epoch's augmentation generator (see
``transforms.augmentation_rng``), so the batches are the same with or without the
prefetch thread.
"""
import queue
import threading

import numpy as np

from .. import backend
from ..tensor import Tensor
from .transforms import augmentation_rng, to_tensor

__all__ = ["DataLoader", "default_collate"]


def default_collate(samples):
    """Stack a list of samples into NumPy batch arrays, field by field.

    A sample is an array, a number, or a tuple/list/dict of those (collated per field).
    - uint8 arrays of 2 or 3 dims are images, (H, W) or (H, W, C): they become one
      float32 (N, C, H, W) array in [0, 1], as ``ToTensor`` would make them;
    - float arrays and Python floats: the default dtype (float32);
    - integer arrays, Python ints (labels): int64;
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
    if isinstance(first, Tensor):
        samples = [backend.to_device(s.data, "cpu") for s in samples]
    elif not isinstance(first, (np.ndarray, np.generic, int, float, bool)):
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
    """Iterate over ``dataset`` in mini-batches of ``batch_size``.

    shuffle     a new random order each epoch (see the module docstring for seeding)
    seed        makes epoch e's order and augmentations depend only on (seed, e)
    generator   a NumPy Generator to draw each epoch's seed from instead
    drop_last   drop the last, smaller batch (keeps BatchNorm statistics and the step
                size even); ``len(loader)`` counts the batches either way
    collate_fn  list of samples -> NumPy batch (``default_collate``)
    prefetch    how many batches a background thread prepares ahead; 0 = no thread
    device      where the batch Tensors are placed ('cpu' or 'cuda'; default cpu)
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 generator=None, collate_fn=None, prefetch=2, device=None):
        if int(batch_size) < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if int(prefetch) < 0:
            raise ValueError(f"DataLoader: prefetch must be >= 0, got {prefetch}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give seed or generator, not both")
        self.dataset = dataset
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.seed, self.generator = seed, generator
        self.collate_fn = collate_fn or default_collate
        self.prefetch = int(prefetch)
        self.device = backend.normalize_device(device)
        self.epoch = 0           # epochs started so far; the next ``iter`` uses this one

    def __len__(self):
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)      # floor or ceil of n / b

    def set_epoch(self, epoch):
        """Make the next ``iter(loader)`` run epoch ``epoch`` (to resume a seeded run)."""
        self.epoch = int(epoch)

    def state_dict(self):
        return {"epoch": self.epoch}

    def load_state_dict(self, state):
        self.set_epoch(state["epoch"])

    def _epoch_generators(self):
        """(order, augmentation) generators for this epoch, drawn in the main thread."""
        if self.seed is not None:
            seq = np.random.SeedSequence([int(self.seed), self.epoch])
        else:
            source = self.generator if self.generator is not None else backend.get_rng()
            seq = np.random.SeedSequence(int(source.integers(2 ** 63)))
        order, augment = seq.spawn(2)
        return np.random.default_rng(order), np.random.default_rng(augment)

    def __iter__(self):
        order_rng, aug_rng = self._epoch_generators()
        self.epoch += 1
        n = len(self.dataset)
        indices = order_rng.permutation(n) if self.shuffle else np.arange(n)
        batches = [indices[i:i + self.batch_size] for i in range(0, len(self) * self.batch_size,
                                                                 self.batch_size)]
        dataset, collate = self.dataset, self.collate_fn

        def produce(b):        # one batch as NumPy arrays: read, augment, collate
            with augmentation_rng(aug_rng):
                return collate([dataset[int(i)] for i in batches[b]])

        if self.prefetch == 0:
            return (_to_tensors(produce(b), self.device) for b in range(len(batches)))
        return _PrefetchIterator(produce, len(batches), self.prefetch, self.device)

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, prefetch={self.prefetch})")


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

    def __init__(self, produce, n_batches, depth, device):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._device = device
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
            return _to_tensors(payload, self._device)
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
