"""Worker processes for ``DataLoader(num_workers=n)``: n processes read, augment and
collate batches in parallel while the main process trains.

Each worker has its own task queue and all share one result queue:

    main:    task (epoch, b, indices, augmentation seed) -> worker b % n
    worker:  batch b = collate([dataset[i] for i in indices]), its random transforms
             drawing from batch b's own generator -> (epoch, b, "batch", arrays)
    main:    takes results as they come, hands them out in order 0, 1, 2, ...,
             and keeps prefetch_factor * n tasks in flight

Because batch b's augmentations come from a generator seeded by (epoch seed, b), a
seeded loader gives the same batches with 0, 1 or 8 workers. Batches travel as NumPy
arrays (pickled through a pipe) and become Tensors in the main process.

The processes are started with 'fork' where the system has it (Linux: the dataset is
inherited, nothing is pickled), else 'spawn' (the dataset, collate_fn and worker_init_fn
must be picklable, and the script needs ``if __name__ == "__main__":``). An error in a
worker is raised again in the main process with the worker's traceback; a worker that
dies (killed, out of memory) is reported with its exit code instead of a hang.
"""
import importlib
import multiprocessing
import os
import queue
import random
import signal
import time
import traceback
from collections import namedtuple

import numpy as np

from .. import backend
from .transforms import augmentation_rng

__all__ = ["WorkerInfo", "get_worker_info"]

WorkerInfo = namedtuple("WorkerInfo", ["id", "num_workers", "seed", "dataset"])
_worker_info = None          # set inside a worker process


def get_worker_info():
    """Inside a DataLoader worker: ``WorkerInfo(id, num_workers, seed, dataset)``; in the
    main process: None (as torch.utils.data.get_worker_info)."""
    return _worker_info


def batch_generator(entropy, spawn_key, b):
    """Batch b's augmentation generator, from the epoch's seed sequence."""
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=spawn_key + (b,)))


def _worker_loop(dataset, collate, tasks, results, worker_id, num_workers, seed, init_fn,
                 parent):
    """A worker's life: seed, init, then take tasks until None (or the parent is gone)."""
    global _worker_info
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # Ctrl-C is the main process's
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    backend.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    random.seed(seed)
    try:
        if init_fn is not None:
            init_fn(worker_id)
    except Exception as e:
        results.put((None, None, "error", _describe(e, worker_id, "worker_init_fn")))
        return
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:                  # the main process died: stop
                return
            continue
        if task is None:
            return
        epoch, b, indices, entropy, spawn_key = task
        try:
            with augmentation_rng(batch_generator(entropy, spawn_key, b)):
                batch = collate([dataset[int(i)] for i in indices])
            results.put((epoch, b, "batch", batch))
        except Exception as e:
            results.put((epoch, b, "error", _describe(e, worker_id, f"batch {b}")))


def _describe(e, worker_id, where):
    """An exception as plain data (its class may not be picklable): where its class
    lives, its message, and the worker's traceback."""
    cls = type(e)
    return (cls.__module__, cls.__qualname__, str(e),
            f"(raised in DataLoader worker process {worker_id}, {where}; the worker's "
            f"traceback:)\n{traceback.format_exc()}")


def _rebuild(info):
    """The worker's exception, raised again here: same class when it can be found."""
    module, qualname, message, where = info
    try:
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        err = cls(message)
    except Exception:
        err = RuntimeError(f"{module}.{qualname}: {message}")
    if hasattr(err, "add_note"):
        err.add_note(where)
    else:                                              # Python < 3.11
        err = type(err)(f"{message}\n{where}") if type(err) is not RuntimeError else err
    return err


def _context(name):
    if isinstance(name, str) or name is None:
        methods = multiprocessing.get_all_start_methods()
        return multiprocessing.get_context(name or ("fork" if "fork" in methods else None))
    return name                                        # a multiprocessing context already


class WorkerPool:
    """``num_workers`` processes with their task queues and one result queue."""

    def __init__(self, dataset, collate, num_workers, worker_init_fn, context, base_seed):
        ctx = _context(context)
        self.num_workers = num_workers
        self.tasks = [ctx.Queue() for _ in range(num_workers)]
        self.results = ctx.Queue()
        self.workers = [ctx.Process(target=_worker_loop, daemon=True,
                                    name=f"DataLoader-worker-{i}",
                                    args=(dataset, collate, self.tasks[i], self.results, i,
                                          num_workers, base_seed + i, worker_init_fn,
                                          os.getpid()))
                        for i in range(num_workers)]
        for w in self.workers:
            w.start()
        self.closed = False

    def send(self, worker, task):
        self.tasks[worker].put(task)

    def get(self, timeout):
        """The next result; a dead worker or an expired ``timeout`` (0: none) raises."""
        start = time.monotonic()
        while True:
            try:
                return self.results.get(timeout=0.1)
            except queue.Empty:
                dead = [w for w in self.workers if not w.is_alive()]
                if dead:
                    self.shutdown()
                    codes = ", ".join(f"pid {w.pid}: exit code {w.exitcode}" for w in dead)
                    raise RuntimeError(f"DataLoader worker(s) exited unexpectedly ({codes}); "
                                       f"a worker killed by the system (out of memory?) or "
                                       f"crashed. Try num_workers=0 to see the error here")
                if timeout and time.monotonic() - start > timeout:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader timed out after {timeout} s waiting for "
                                       f"a batch from its workers")

    def shutdown(self):
        """Ask every worker to stop, wait a moment, then terminate what is left."""
        if self.closed:
            return
        self.closed = True
        for q in self.tasks:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 2.0
        for w in self.workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.is_alive():
                w.terminate()
                w.join(timeout=1.0)
        for q in self.tasks + [self.results]:
            q.cancel_join_thread()                     # never block on unread results
            q.close()


class WorkerIterator:
    """One epoch through a pool: sends tasks ahead, returns batches in order."""

    def __init__(self, pool, batches, epoch, seq, depth, to_tensors, timeout, keep_pool):
        self.pool, self.batches, self.epoch = pool, batches, epoch
        self.entropy, self.spawn_key = seq.entropy, tuple(seq.spawn_key)
        self.to_tensors, self.timeout, self.keep_pool = to_tensors, timeout, keep_pool
        self.sent = self.next = 0
        self.ready = {}
        self.done = False
        for _ in range(min(depth, len(batches))):
            self._send()

    def _send(self):
        b = self.sent
        self.pool.send(b % self.pool.num_workers,
                       (self.epoch, b, self.batches[b], self.entropy, self.spawn_key))
        self.sent += 1

    def __iter__(self):
        return self

    def __len__(self):
        return len(self.batches)

    def __next__(self):
        if self.done or self.next >= len(self.batches):
            self.close()
            raise StopIteration
        while self.next not in self.ready:
            epoch, b, kind, payload = self.pool.get(self.timeout)
            if kind == "error" and epoch is None:         # worker_init_fn failed
                self.close()
                raise _rebuild(payload)
            if epoch == self.epoch:                       # (else: left from an abandoned epoch)
                self.ready[b] = (kind, payload)
        kind, payload = self.ready.pop(self.next)
        self.next += 1
        if self.sent < len(self.batches):
            self._send()
        if kind == "error":
            self.close()
            raise _rebuild(payload)
        return self.to_tensors(payload)

    def close(self):
        if not self.done:
            self.done = True
            if not self.keep_pool:
                self.pool.shutdown()

    def __del__(self):
        if "done" in self.__dict__:
            self.close()
