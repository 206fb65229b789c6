"""The training loop: epochs of SGD with progress bars, validation, metrics, checkpoints.

    trainer = Trainer(model, optimizer, scheduler=sched, out_dir="runs/vgg11")
    trainer.fit(train_loader, val_loader, epochs=30, resume=True)

Each epoch: one pass over ``train_loader`` (a tqdm bar shows loss, accuracy and
images/s), one pass over ``val_loader`` in eval mode, then the run folder is updated,
every file through ``io.atomic_write`` and always in this order:

    checkpoint.npz   model, optimizer, scheduler, epoch, history, RNG state
    metrics.csv      one row per finished epoch   } rewritten whole from the history
    metrics.json     the same rows                } held by the checkpoint, so they
    curves.png       loss and accuracy curves     } never run ahead of it

A kill at any moment therefore leaves a checkpoint of the last saved epoch and logs that
are the same or one epoch behind; the next start rewrites the logs from the checkpoint
and removes the temporary files of an interrupted save. ``resume=True`` continues with
the next epoch, so nothing is lost or repeated. A folder that already holds a run is
refused unless ``resume=True`` or ``Trainer(overwrite=True)``; the folder is checked for
writing before the first step. Ctrl-C stops cleanly: the part of an epoch in progress is
dropped (the checkpoint holds the last finished epoch) and nothing untrained is written.
"""
import csv
import io as _stdio
import json
import os
import time
import warnings

from . import backend, io
from . import functional as F
from .autograd import no_grad
from .optim.lr_scheduler import ReduceLROnPlateau

__all__ = ["Trainer", "RunFolderError", "accuracy", "CHECKPOINT", "LOG_FILES", "RUN_FILES"]

CHECKPOINT = "checkpoint.npz"
LOG_FILES = ("metrics.csv", "metrics.json", "curves.png")
RUN_FILES = (CHECKPOINT,) + LOG_FILES + ("model.npz",)     # what makes a folder "a run"
_RESTART = ("start over with --overwrite (Trainer(overwrite=True)), or choose another "
            "output folder with --out")
_HOW = "continue it with --resume (fit(resume=True)), " + _RESTART


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked: it holds another run, its checkpoint is
    damaged or of another run, or it cannot be written. The message says what to do."""


def accuracy(logits, target):
    """Fraction of rows whose arg-max equals the target class."""
    pred = logits.data.argmax(axis=1)
    return float((pred == target.data).mean())


class Trainer:
    """Train ``model`` with ``optimizer`` (and an optional LR ``scheduler``), writing the
    run into ``out_dir``.

    loss_fn(output, target) defaults to cross-entropy. If the model returns a tuple in
    training mode (GoogLeNet's auxiliary heads), the first entry is the main output and
    the others are added to the loss with weight ``aux_weight`` (0.3 in the paper).
    A ``ReduceLROnPlateau`` scheduler is stepped with the validation accuracy (the
    training accuracy without a validation set); any other once per epoch.

    overwrite: start over in a folder that holds another run (its files are removed
    first). title: the title of ``curves.png``. run_info: a dict that says what this run
    is (e.g. ``{"model": "vgg11_bn", "data": "cifar10"}``), stored in the checkpoint;
    resuming a checkpoint whose run_info differs is refused.
    """

    def __init__(self, model, optimizer, scheduler=None, loss_fn=None, device="cpu",
                 out_dir="runs/experiment", aux_weight=0.3, progress=True, plot=True,
                 overwrite=False, title=None, run_info=None):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.loss_fn = loss_fn or F.cross_entropy
        self.device = backend.normalize_device(device)
        self.out_dir = os.fspath(out_dir)
        self.aux_weight = aux_weight
        self.progress, self.plot = progress, plot
        self.overwrite, self.title = overwrite, title
        self.run_info = dict(run_info or {})
        self.epoch = 0           # epochs finished
        self.history = []        # one dict per finished epoch
        self.interrupted = False
        self._started = False    # the folder has been checked and taken by this trainer
        self._saved_epoch = self._logged_epoch = 0
        self._in_epoch = False   # an epoch is under way: the model holds part of it
        self._dirty = False      # interrupted mid-epoch: the model holds part of an epoch
        self._planned_epochs = None

    def _path(self, name):
        return os.path.join(self.out_dir, name)

    def outputs(self):
        """The run files that exist now in ``out_dir`` (names)."""
        return [f for f in RUN_FILES if os.path.isfile(self._path(f))]

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
        """Train until ``epochs`` epochs are finished (counting resumed ones).

        resume: True continues the run from ``out_dir/checkpoint.npz`` (starting at
        epoch 1 if there is none yet); a path continues from that checkpoint file.
        Returns the history, one dict per finished epoch; ``self.interrupted`` tells
        whether Ctrl-C stopped it."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"Trainer.fit: epochs must be a whole number >= 1, got {epochs!r}")
        if not self._started:
            self._start(resume, epochs)
        self._planned_epochs = epochs
        self._warn_if_schedule_too_short(epochs)
        self.interrupted = False
        if self.epoch >= epochs:
            print(f"{self.epoch} epochs already finished (asked for {epochs}): nothing to "
                  f"train", flush=True)
        try:
            while self.epoch < epochs:
                self._in_epoch = True          # from here the model holds part of an epoch
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
                self.history.append(row)
                self.epoch += 1
                self._in_epoch = False
                self._save()                   # the checkpoint first ...
                self._write_logs()             # ... then the logs that it backs
                print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row.items()), flush=True)
        except KeyboardInterrupt:
            self._on_interrupt()
        return self.history

    def _step_scheduler(self, row):
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(row.get("val_acc", row["train_acc"]))
        else:
            self.scheduler.step()

    def _warn_if_schedule_too_short(self, epochs):
        horizon = getattr(self.scheduler, "horizon", None)
        if horizon is not None and epochs > horizon:
            warnings.warn(f"{type(self.scheduler).__name__} is planned for {horizon} epochs but "
                          f"fit runs {epochs}: after epoch {horizon} the rate has reached its "
                          f"end (eta_min) and then climbs back up. Build the scheduler for "
                          f"{epochs} epochs (e.g. T_max={epochs})", RuntimeWarning, stacklevel=3)

    def _on_interrupt(self):
        """Ctrl-C: drop the part of an epoch in progress, make sure the last finished epoch
        is saved and logged, and say what is on disk."""
        self.interrupted = True
        ckpt = self._path(CHECKPOINT)
        if self._in_epoch:
            del self.history[self.epoch:]      # a row of the unfinished epoch, if any
            print(f"\ninterrupted during epoch {self.epoch + 1}: its partial training is "
                  f"dropped", flush=True)
        else:
            print("\ninterrupted", flush=True)
        if self._saved_epoch < self.epoch:     # Ctrl-C landed during the epoch's save
            self._save()
        if self._logged_epoch < self._saved_epoch:
            self._write_logs()
        if self._saved_epoch == 0:
            print(f"no epoch finished, so nothing was saved in {self.out_dir}", flush=True)
        else:
            print(f"checkpoint of epoch {self._saved_epoch} in {ckpt}; run again with "
                  f"--resume (fit(resume=True)) to continue from it", flush=True)
        # the model in memory may hold part of an epoch: a later fit must reload the
        # checkpoint (resume=True) or start over, as a new process would
        self._dirty = self._dirty or self._in_epoch
        self._started = self._in_epoch = False

    # -- the run folder ------------------------------------------------------
    def _start(self, resume, epochs):
        """Check and take the run folder before the first step: refuse a folder that holds
        another run, check that it can be written, remove temp files of killed saves,
        and resume, start over, or start fresh."""
        if resume and self.overwrite:
            raise ValueError("Trainer: resume and overwrite were both asked for; choose one "
                             "(--resume continues the run, --overwrite starts it over)")
        out = self.out_dir
        if os.path.exists(out) and not os.path.isdir(out):
            raise RunFolderError(f"the output folder {out} is a file, not a folder; choose "
                                 f"another output folder with --out (Trainer(out_dir=...))")
        existing = self.outputs() if os.path.isdir(out) else []
        if existing and not resume and not self.overwrite and (self.epoch == 0 or self._dirty):
            raise RunFolderError(f"{out} already holds a run ({', '.join(existing)}); {_HOW}")
        self._check_writable()
        removed = io.clean_temp_files(out)
        if removed:
            print(f"removed {len(removed)} temporary file(s) of an interrupted save in {out}: "
                  f"{', '.join(removed)}", flush=True)
        if resume:
            self._resume(resume, epochs)
        elif self.overwrite:
            for f in existing:
                os.remove(self._path(f))
            if existing:
                print(f"overwriting the run in {out}: removed {', '.join(existing)}",
                      flush=True)
            self.epoch, self.history = 0, []
        self._saved_epoch = self._logged_epoch = self.epoch
        self._started = True
        print(f"run folder {os.path.abspath(out)}: {CHECKPOINT} and "
              f"{', '.join(LOG_FILES if self.plot else LOG_FILES[:2])} are written after "
              f"each epoch", flush=True)

    def _check_writable(self):
        out = self.out_dir
        try:
            os.makedirs(out, exist_ok=True)
            probe = os.path.join(out, ".write-test")
            with io.atomic_write(probe, "wb") as f:
                f.write(b"ok")
            os.remove(probe)
        except OSError as e:
            raise RunFolderError(f"cannot write into the output folder {out} "
                                 f"({type(e).__name__}: {e.strerror or e}); fix its "
                                 f"permissions or choose another folder with --out "
                                 f"(Trainer(out_dir=...))") from None

    def _resume(self, resume, epochs):
        default = self._path(CHECKPOINT)
        path = default if resume is True else os.fspath(resume)
        if not os.path.isfile(path):
            if path != default:
                raise RunFolderError(f"cannot resume from {path}: no such file")
            if self._dirty:
                raise RunFolderError(
                    "the model in memory holds part of an interrupted first epoch and there "
                    "is no checkpoint to reload: build a fresh model and optimizer to start "
                    "over")
            stale = [f for f in LOG_FILES if os.path.isfile(self._path(f))]
            for f in stale:
                os.remove(self._path(f))
            print(f"no checkpoint in {self.out_dir} yet" +
                  (f" (the last run stopped before its first epoch was saved; its "
                   f"{', '.join(stale)} removed)" if stale else "") +
                  ": starting at epoch 1", flush=True)
            return
        try:
            self.load(path, epochs=epochs)
        except io.CheckpointError as e:
            raise RunFolderError(
                f"cannot resume: {e}.\nTo start over, run again with --overwrite "
                f"(Trainer(overwrite=True)); to resume from an earlier checkpoint file, "
                f"pass it: --resume PATH (fit(resume=PATH))") from None
        self._dirty = False
        print(f"resumed from {path} after epoch {self.epoch}", flush=True)
        self._trim_logs()

    def _trim_logs(self):
        """Make the logs say what the checkpoint says: rows beyond its epoch (from a run
        killed between its log and its checkpoint) go, missing ones are written."""
        path = self._path("metrics.csv")
        if os.path.isfile(path):
            try:
                with open(path, newline="", encoding="utf-8") as f:
                    logged = [r.get("epoch") for r in csv.DictReader(f)]
            except (OSError, UnicodeDecodeError, csv.Error):
                logged = []                    # unreadable: rewritten below all the same
            extra = logged[self.epoch:]
            if extra:
                print(f"metrics.csv held {len(extra)} row(s) beyond the checkpoint's epoch "
                      f"{self.epoch} (epochs {', '.join(map(str, extra))}): trimmed to it",
                      flush=True)
        self._write_logs()

    # -- writing ---------------------------------------------------------------
    def _save(self):
        io.save_checkpoint(self.state_dict(), self._path(CHECKPOINT))
        self._saved_epoch = self.epoch

    def _write_logs(self):
        """metrics.csv, metrics.json and curves.png, rewritten from the history (each
        atomically), or removed when the history is empty."""
        if not self.history:
            for f in LOG_FILES:
                if os.path.isfile(self._path(f)):
                    os.remove(self._path(f))
            self._logged_epoch = self.epoch
            return
        fields = list(dict.fromkeys(k for row in self.history for k in row))
        with io.atomic_write(self._path("metrics.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(self.history)
        with io.atomic_write(self._path("metrics.json"), "w") as f:
            json.dump(self.history, f, indent=1)
        if self.plot:
            self._plot()
        self._logged_epoch = self.epoch

    def _plot(self):
        from .analysis.plots import training_curves
        fig = training_curves(self.history, path=None, title=self._title())
        buf = _stdio.BytesIO()                 # render first: the file is then one write
        fig.savefig(buf, format="png", dpi=100)
        with io.atomic_write(self._path("curves.png"), "wb") as f:
            f.write(buf.getvalue())

    def _title(self):
        if self.title:
            return self.title
        if self.run_info:
            return ", ".join(f"{k} {v}" for k, v in self.run_info.items())
        return None

    # -- state -------------------------------------------------------------
    def state_dict(self):
        return {"model": dict(self.model.state_dict()),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                "epoch": self.epoch, "epochs": getattr(self, "_planned_epochs", None),
                "history": self.history, "rng": backend.get_rng_state(),
                "run_info": self.run_info}

    def save(self, path):
        io.save_checkpoint(self.state_dict(), path)

    def load(self, path, epochs=None):
        """Load a checkpoint written by this trainer: all of it or, on any error, nothing
        (model, optimizer, scheduler and RNG are left as they were).

        epochs: the length of the run that continues it. A scheduler built for another
        length than the checkpoint's keeps its own plan (``load_progress``) and the change
        is printed; one that cannot be re-planned is refused with what to do."""
        state = io.load_checkpoint(path)
        need = ("model", "optimizer", "epoch", "history")
        if not (isinstance(state, dict) and all(k in state for k in need)):
            found = list(state)[:6] if isinstance(state, dict) else type(state).__name__
            hint = (" (a model's weights, written by io.save: load them with "
                    "io.load_into(model, path))" if isinstance(state, dict) and
                    state and all(hasattr(v, "shape") for v in state.values()) else "")
            raise io.CheckpointError(f"{path} is not a training checkpoint{hint}: expected "
                                     f"the entries {', '.join(need)}, found {found}")
        self._check_same_run(path, state)
        saved_sched = state.get("scheduler")
        if (self.scheduler is None) != (saved_sched is None):
            have = type(self.scheduler).__name__ if self.scheduler else "no scheduler"
            raise RunFolderError(f"{path} was saved {'with' if saved_sched else 'without'} an "
                                 f"LR scheduler, this run has {have}; resume with the same "
                                 f"schedule, or {_RESTART}")
        # remember everything that loading changes, to put it back on an error
        params = [(t, t.data) for t in self.model.state_dict().values()]
        opt_state = (self.optimizer.state, [dict(g) for g in self.optimizer.param_groups])
        sched_state = self.scheduler.state_dict() if self.scheduler else None
        rng = backend.get_rng_state()
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None:
                self._load_scheduler(saved_sched, state.get("epochs"), epochs, path,
                                     int(state["epoch"]))
            backend.set_rng_state(state["rng"])
        except BaseException as e:
            for t, data in params:
                t.data = data
            self.optimizer.state = opt_state[0]
            for g, saved_g in zip(self.optimizer.param_groups, opt_state[1]):
                g.clear()
                g.update(saved_g)
            if sched_state is not None:
                self.scheduler.load_state_dict(sched_state)
            backend.set_rng_state(rng)
            if isinstance(e, RunFolderError) or not isinstance(e, (RuntimeError, ValueError,
                                                                   KeyError, TypeError)):
                raise
            raise RunFolderError(f"{path} does not fit this run's model, optimizer or "
                                 f"scheduler (a checkpoint of another model?); nothing was "
                                 f"loaded:\n{e}\nResume with the model it was saved from, "
                                 f"or {_RESTART}") from None
        self.epoch, self.history = int(state["epoch"]), list(state["history"])
        if epochs is not None:
            self._planned_epochs = epochs

    def _check_same_run(self, path, state):
        saved = state.get("run_info") or {}
        diff = [f"{k} {saved[k]!r} there, {v!r} here" for k, v in self.run_info.items()
                if k in saved and saved[k] != v]
        if diff:
            raise RunFolderError(f"{path} is a checkpoint of another run ({'; '.join(diff)}); "
                                 f"resume it with the same settings, or "
                                 f"{_RESTART}")

    def _load_scheduler(self, saved, saved_epochs, epochs, path, done):
        name = type(self.scheduler).__name__
        if getattr(self.scheduler, "plan", None) is None:
            if epochs is not None and saved_epochs is not None and epochs != saved_epochs:
                raise RunFolderError(
                    f"{path} was planned for {saved_epochs} epochs, this run asks for {epochs}, "
                    f"and {name} does not declare its plan (the hyper-parameters that shape "
                    f"it), so its schedule cannot be re-planned for the new length. Resume "
                    f"with --epochs {saved_epochs}, start over with --overwrite, or give "
                    f"{name} a `plan` attribute")
            self.scheduler.load_state_dict(saved)
            return
        changed = self.scheduler.load_progress(saved)
        if changed:
            what = "; ".join(f"{k} {a} -> {b}" for k, a, b in
                             ((k, *ab) for k, ab in changed.items()))
            length = (f" from {saved_epochs} to {epochs} epochs"
                      if saved_epochs and epochs and saved_epochs != epochs else "")
            lr = self.optimizer.param_groups[0]["lr"]
            print(f"{name} schedule re-planned{length} ({what}): epoch {done + 1} trains "
                  f"at lr {lr:.4g}", flush=True)
