"""The training loop: epochs of SGD with progress bars, validation, metrics, checkpoints.

    trainer = Trainer(model, optimizer, scheduler=sched, out_dir="runs/vgg11")
    trainer.fit(train_loader, val_loader, epochs=30, resume=True)

Each epoch: one pass over ``train_loader`` (a tqdm bar shows loss, accuracy and
images/s), one pass over ``val_loader`` in eval mode, one row appended to
``metrics.csv`` and ``metrics.json``, a checkpoint written atomically
(``checkpoint.npz``: model, optimizer, scheduler, epoch, RNG state, metrics), and the
curves redrawn into ``curves.png``. ``resume=True`` loads that checkpoint and
continues with the next epoch, so nothing is lost or repeated. Ctrl-C saves a
checkpoint of the last finished epoch and stops cleanly.
"""
import csv
import json
import os
import tempfile
import time

import numpy as np

from . import backend
from . import functional as F
from .autograd import no_grad
from .tensor import Tensor

CHECKPOINT = "checkpoint.npz"


# ------------------------------------------------------------ checkpoints
def _pack(obj, arrays):
    """Nested dicts/lists/arrays -> a JSON-able tree; arrays go to ``arrays`` by key."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, np.ndarray) or backend.is_cupy_array(obj):
        key = f"a{len(arrays)}"
        arrays[key] = backend.to_device(obj, "cpu")
        return {"__array__": key}
    if isinstance(obj, dict):   # keys may be ints (optimizer state): keep their type
        return {"__dict__": [[k, _pack(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_pack(v, arrays) for v in obj], "tuple": isinstance(obj, tuple)}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _unpack(tree, arrays):
    if isinstance(tree, dict):
        if "__array__" in tree:
            return arrays[tree["__array__"]]
        if "__dict__" in tree:
            return {k: _unpack(v, arrays) for k, v in tree["__dict__"]}
        if "__list__" in tree:
            items = [_unpack(v, arrays) for v in tree["__list__"]]
            return tuple(items) if tree["tuple"] else items
    return tree


def save_checkpoint(path, state):
    """Write a nested state (dicts, lists, arrays, numbers) to ``path`` as one .npz,
    atomically: a temp file in the same folder, then a rename."""
    arrays = {}
    meta = json.dumps(_pack(state, arrays))
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __meta__=np.array(meta), **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
        return _unpack(json.loads(str(z["__meta__"])), arrays)


# ---------------------------------------------------------------- trainer
def accuracy(logits, target):
    """Fraction of rows whose arg-max equals the target class."""
    pred = logits.data.argmax(axis=1)
    return float((pred == target.data).mean())


class Trainer:
    """Train ``model`` with ``optimizer`` (and an optional LR ``scheduler``).

    loss_fn(output, target) defaults to cross-entropy. If the model returns a tuple in
    training mode (GoogLeNet's auxiliary heads), the first entry is the main output and
    the others are added to the loss with weight ``aux_weight`` (0.3 in the paper).
    A ``ReduceLROnPlateau`` scheduler is stepped with the validation accuracy.
    """

    def __init__(self, model, optimizer, scheduler=None, loss_fn=None, device="cpu",
                 out_dir="runs/experiment", aux_weight=0.3, progress=True, plot=True):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.loss_fn = loss_fn or F.cross_entropy
        self.device = backend.normalize_device(device)
        self.out_dir = out_dir
        self.aux_weight = aux_weight
        self.progress, self.plot = progress, plot
        self.epoch = 0           # epochs finished
        self.history = []        # one dict per finished epoch
        os.makedirs(out_dir, exist_ok=True)

    # -- one pass ----------------------------------------------------------
    def _loss(self, out, y):
        if isinstance(out, tuple):
            main, *aux = out
            loss = self.loss_fn(main, y)
            for a in aux:
                loss = loss + self.aux_weight * self.loss_fn(a, y)
            return main, loss
        return out, self.loss_fn(out, y)

    def _run_epoch(self, loader, train):
        from tqdm.auto import tqdm
        self.model.train(train)
        total_loss, correct, seen, t0 = 0.0, 0.0, 0, time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1} {'train' if train else 'val'}",
                   leave=False, disable=not self.progress, dynamic_ncols=True)
        for x, y in bar:
            x, y = x.to(self.device), y.to(self.device)
            if train:
                out, loss = self._loss(self.model(x), y)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
            else:
                with no_grad():
                    out, loss = self._loss(self.model(x), y)
            n = y.shape[0]
            total_loss += loss.item() * n
            correct += accuracy(out, y) * n
            seen += n
            rate = seen / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}",
                            img_s=f"{rate:.0f}")
        bar.close()
        if seen == 0:
            raise ValueError("Trainer: the data loader yielded no batch")
        return total_loss / seen, correct / seen, seen / (time.perf_counter() - t0)

    # -- the loop ----------------------------------------------------------
    def fit(self, train_loader, val_loader=None, epochs=1, resume=False):
        """Train until ``epochs`` epochs are finished (counting resumed ones)."""
        ckpt = os.path.join(self.out_dir, CHECKPOINT)
        if resume and os.path.exists(ckpt):
            self.load(ckpt)
            print(f"resumed from {ckpt} after epoch {self.epoch}")
        try:
            while self.epoch < epochs:
                t0 = time.perf_counter()
                if hasattr(train_loader, "set_epoch"):   # epoch e's order depends on e only
                    train_loader.set_epoch(self.epoch)
                tr_loss, tr_acc, rate = self._run_epoch(train_loader, train=True)
                row = {"epoch": self.epoch + 1, "train_loss": tr_loss, "train_acc": tr_acc,
                       "lr": self.optimizer.param_groups[0]["lr"], "images_per_s": rate}
                if val_loader is not None:
                    row["val_loss"], row["val_acc"], _ = self._run_epoch(val_loader, False)
                row["epoch_time_s"] = time.perf_counter() - t0
                self._step_scheduler(row)
                self.epoch += 1
                self.history.append(row)
                self._log(row)
                self.save(ckpt)
                if self.plot:
                    self._plot()
        except KeyboardInterrupt:
            self.save(ckpt)
            print(f"\ninterrupted: checkpoint of epoch {self.epoch} saved to {ckpt}; "
                  f"run again with resume to continue")
        return self.history

    def _step_scheduler(self, row):
        if self.scheduler is None:
            return
        if type(self.scheduler).__name__ == "ReduceLROnPlateau":
            self.scheduler.step(row.get("val_acc", row["train_acc"]))
        else:
            self.scheduler.step()

    def _log(self, row):
        path = os.path.join(self.out_dir, "metrics.csv")
        new = not os.path.exists(path)
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        tmp = os.path.join(self.out_dir, "metrics.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.history, f, indent=1)
        os.replace(tmp, os.path.join(self.out_dir, "metrics.json"))
        msg = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in row.items())
        print(msg, flush=True)

    def _plot(self):
        from .analysis.plots import training_curves
        import matplotlib.pyplot as plt
        fig = training_curves(self.history, os.path.join(self.out_dir, "curves.png"))
        plt.close(fig)

    # -- state -------------------------------------------------------------
    def state_dict(self):
        return {"model": dict(self.model.state_dict()),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                "epoch": self.epoch, "history": self.history,
                "rng": backend.get_rng_state()}

    def save(self, path):
        save_checkpoint(path, self.state_dict())

    def load(self, path):
        state = load_checkpoint(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.history = state["epoch"], state["history"]
        backend.set_rng_state(state["rng"])
        # metrics.csv may hold rows of epochs after the checkpoint (killed mid-write): trim
        path = os.path.join(self.out_dir, "metrics.csv")
        if os.path.exists(path):
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))[: self.epoch]
            if rows:
                with open(path, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(rows[0]))
                    w.writeheader()
                    w.writerows(rows)
