"""The training loop and the main job: checkpoints, resume, and real learning."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import nn, optim
from minitorch_cnn.data import DataLoader, TensorDataset
from minitorch_cnn.io import load_checkpoint, save_checkpoint
from minitorch_cnn.train import RunFolderError, Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "train_vgg_cifar.py")


def test_checkpoint_round_trip_keeps_types(tmp_path):
    state = {"model": {"w": np.arange(6.0).reshape(2, 3)}, "step": 3,
             "optimizer": {"state": {0: {"momentum_buffer": np.ones(2, np.float32)}},
                           "param_groups": [{"lr": 0.1, "params": [0]}]},
             "pair": (1, 2), "none": None}
    path = tmp_path / "c.npz"
    save_checkpoint(state, path)
    back = load_checkpoint(path)
    assert back["step"] == 3 and back["pair"] == (1, 2) and back["none"] is None
    assert list(back["optimizer"]["state"]) == [0]            # int keys stay ints
    np.testing.assert_array_equal(back["model"]["w"], state["model"]["w"])
    assert back["optimizer"]["state"][0]["momentum_buffer"].dtype == np.float32


def test_checkpoint_write_is_atomic(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint({"a": np.zeros(3)}, path)

    class Boom:
        pass
    with pytest.raises(TypeError):
        save_checkpoint({"a": np.ones(3), "bad": Boom()}, path)
    assert load_checkpoint(path)["a"].sum() == 0                # the old file is intact
    assert [f for f in os.listdir(tmp_path)] == ["c.npz"]       # no temp file left behind


def _blobs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 0.6, (n, 2)) + np.array([[0, 2], [2, -1], [-2, -1]])[y]
    return x.astype(np.float32), y.astype(np.int64)


def _trainer(tmp_path, epochs_seen=None):
    mt.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, 2, 0.5)
    return Trainer(model, opt, sched, out_dir=str(tmp_path), progress=False, plot=False)


def test_trainer_resume_continues_exactly(tmp_path):
    x, y = _blobs()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=1, prefetch=0)
    val = DataLoader(TensorDataset(x[:100], y[:100]), batch_size=50, prefetch=0)

    straight = _trainer(tmp_path / "a").fit(loader, val, epochs=4)
    first = _trainer(tmp_path / "b")
    first.fit(loader, val, epochs=2)
    resumed = _trainer(tmp_path / "b")          # a fresh process would build a fresh trainer
    hist = resumed.fit(loader, val, epochs=4, resume=True)
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4]
    for a, b in zip(straight, hist):            # same numbers as an uninterrupted run
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["lr"] == b["lr"]
    with open(tmp_path / "b" / "metrics.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]
    assert hist[-1]["val_acc"] > 0.9


def _run_script(args, out, env_extra=None, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
    return subprocess.Popen([sys.executable, SCRIPT, "--dataset", "shapes", "--no-progress",
                             "--out", str(out)] + args, cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


# VGG-A with BN on 2,048 shapes images: 3 epochs reach 22-28% validation accuracy (the
# same network in torch reaches the same), 2 to 3 times chance. ~2 minutes on 2 cores.
QUICK = ["--model", "vgg11_bn", "--subset", "2048", "--batch-size", "64", "--lr", "0.01"]


def test_main_job_learns_and_resumes_after_a_kill(tmp_path):
    out = tmp_path / "run"
    proc = _run_script(QUICK + ["--epochs", "3"], out)
    metrics = out / "metrics.csv"
    deadline = time.time() + 600
    while time.time() < deadline:                  # wait for epoch 1's logs, then kill -9
        if metrics.exists() and len(metrics.read_text().strip().splitlines()) >= 2 \
                and (out / "metrics.json").exists():
            break
        if proc.poll() is not None:
            pytest.fail("the script ended early:\n" + proc.stdout.read())
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads((out / "metrics.json").read_text())
    assert len(done) == 1

    proc = _run_script(QUICK + ["--epochs", "3", "--resume"], out)
    log, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, log
    assert "resumed from" in log
    rows = list(csv.DictReader(open(metrics)))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]      # nothing lost or repeated
    assert rows[0]["train_loss"] == str(done[0]["train_loss"]) or \
        float(rows[0]["train_loss"]) == pytest.approx(done[0]["train_loss"])
    best = max(float(r["val_acc"]) for r in rows)
    assert best > 0.2, log                                    # chance is 0.1
    assert (out / "curves.png").stat().st_size > 10_000
    assert (out / "model.npz").exists()


def test_trainer_saves_its_curves(tmp_path):
    x, y = _blobs(120)
    loader = DataLoader(TensorDataset(x, y), batch_size=40, prefetch=0)
    mt.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), out_dir=str(tmp_path),
                      progress=False, plot=True)
    trainer.fit(loader, loader, epochs=2)
    assert (tmp_path / "curves.png").stat().st_size > 10_000


# ------------------------------------------------------------ schedules on resume
def _loaders(n=120):
    x, y = _blobs(n)
    return DataLoader(TensorDataset(x, y), batch_size=40, shuffle=True, seed=1, prefetch=0)


def _cosine_trainer(out, epochs, **kw):
    mt.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    return Trainer(model, opt, sched, out_dir=str(out), progress=False, plot=False, **kw)


def test_resume_with_more_epochs_replans_the_cosine_and_says_so(tmp_path, capsys):
    loader = _loaders()
    _cosine_trainer(tmp_path, 2).fit(loader, epochs=2)
    capsys.readouterr()
    hist = _cosine_trainer(tmp_path, 4).fit(loader, epochs=4, resume=True)
    log = capsys.readouterr().out
    assert "CosineAnnealingLR schedule re-planned from 2 to 4 epochs (T_max 2 -> 4)" in log
    assert "epoch 3 trains at lr 0.05" in log
    # epochs 3 and 4 at the 4-epoch cosine's rates, never at the old plan's lr = 0
    assert [r["lr"] for r in hist] == pytest.approx([0.1, 0.05, 0.05, 0.1 * (1 - 2 ** -0.5) / 2])
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4]


def test_resume_with_the_same_length_is_the_uninterrupted_run(tmp_path, capsys):
    loader = _loaders()
    straight = _cosine_trainer(tmp_path / "a", 3).fit(loader, epochs=3)
    _cosine_trainer(tmp_path / "b", 3).fit(loader, epochs=1)
    capsys.readouterr()
    hist = _cosine_trainer(tmp_path / "b", 3).fit(loader, epochs=3, resume=True)
    assert "re-planned" not in capsys.readouterr().out
    assert [r["lr"] for r in hist] == [r["lr"] for r in straight]
    assert [r["train_loss"] for r in hist] == [r["train_loss"] for r in straight]


def test_multistep_milestones_replanned_for_a_longer_run(tmp_path, capsys):
    loader = _loaders()

    def trainer(epochs):
        mt.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 3))
        opt = optim.SGD(model.parameters(), lr=0.1)
        sched = optim.lr_scheduler.MultiStepLR(opt, [epochs // 2], gamma=0.1)
        return Trainer(model, opt, sched, out_dir=str(tmp_path), progress=False, plot=False)
    trainer(2).fit(loader, epochs=1)
    hist = trainer(6).fit(loader, epochs=3, resume=True)
    assert ("MultiStepLR schedule re-planned from 1 to 3 epochs (milestones [1] -> [3])"
            in capsys.readouterr().out)
    assert [r["lr"] for r in hist] == pytest.approx([0.1, 0.1, 0.1])


class _Halving(optim.lr_scheduler.LRScheduler):
    """A user's scheduler that does not declare its plan."""

    def __init__(self, optimizer, until):
        self.until = until
        super().__init__(optimizer)

    def get_lr(self):
        return [b * 0.5 ** min(self.last_epoch, self.until) for b in self.base_lrs]


def test_a_scheduler_without_a_plan_is_refused_for_another_length(tmp_path):
    loader = _loaders()

    def trainer():
        mt.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 3))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return Trainer(model, opt, _Halving(opt, 3), out_dir=str(tmp_path), progress=False,
                       plot=False)
    trainer().fit(loader, epochs=2)
    again = trainer()
    before = [p.data.copy() for p in again.model.parameters()]
    with pytest.raises(RunFolderError) as e:
        again.fit(loader, epochs=5, resume=True)
    msg = str(e.value)
    for words in ["planned for 2 epochs", "asks for 5", "_Halving does not declare its plan",
                  "--epochs 2", "--overwrite", "`plan`"]:
        assert words in msg, words
    assert all(np.array_equal(a, p.data) for a, p in zip(before, again.model.parameters()))
    assert again.optimizer.state == {} and again.epoch == 0
    assert trainer().fit(loader, epochs=2, resume=True)[-1]["epoch"] == 2   # same length: fine


def test_plateau_scheduler_is_found_by_type_not_by_name(tmp_path):
    class MyPlateau(optim.lr_scheduler.ReduceLROnPlateau):
        pass
    mt.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3))
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = MyPlateau(opt, mode="max", patience=0, factor=0.5, threshold=10.0)
    hist = Trainer(model, opt, sched, out_dir=str(tmp_path), progress=False,
                   plot=False).fit(_loaders(), epochs=2)
    # stepped with the (training) accuracy: epoch 1 sets the best, epoch 2 is no 11-fold
    # improvement on it, so the rate is halved once
    assert sched.last_epoch == 2 and sched.best == hist[0]["train_acc"]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def test_a_cosine_shorter_than_the_run_is_a_warning(tmp_path):
    with pytest.warns(RuntimeWarning, match="planned for 2 epochs but fit runs 3.*T_max=3"):
        _cosine_trainer(tmp_path, 2).fit(_loaders(), epochs=3)


# ------------------------------------------------------------ the run folder
def test_logs_ahead_of_the_checkpoint_are_trimmed_on_resume(tmp_path, capsys):
    loader = _loaders()
    _cosine_trainer(tmp_path, 3).fit(loader, epochs=1)
    with open(tmp_path / "metrics.csv", "a") as f:      # a row the checkpoint never got
        f.write("2,9.9,0.1,0.1,1.0,1.0\n")
    capsys.readouterr()
    hist = _cosine_trainer(tmp_path, 3).fit(loader, epochs=3, resume=True)
    log = capsys.readouterr().out
    assert "metrics.csv held 1 row(s) beyond the checkpoint's epoch 1 (epochs 2): trimmed" in log
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[1]["train_loss"]) == hist[1]["train_loss"] != 9.9


def test_logs_without_a_checkpoint_are_removed_on_resume(tmp_path, capsys):
    (tmp_path / "metrics.csv").write_text("epoch,train_loss\n1,0.5\n")
    (tmp_path / "metrics.json").write_text('[{"epoch": 1, "train_loss": 0.5}]')
    hist = _cosine_trainer(tmp_path, 2).fit(_loaders(), epochs=2, resume=True)
    log = capsys.readouterr().out
    assert "no checkpoint in" in log and "metrics.csv, metrics.json removed" in log
    assert "starting at epoch 1" in log and [r["epoch"] for r in hist] == [1, 2]
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]


def test_resume_from_an_earlier_checkpoint_file(tmp_path, capsys):
    loader = _loaders()
    _cosine_trainer(tmp_path, 3).fit(loader, epochs=1)
    (tmp_path / "epoch1.npz").write_bytes((tmp_path / "checkpoint.npz").read_bytes())
    _cosine_trainer(tmp_path, 3).fit(loader, epochs=2, resume=True)
    capsys.readouterr()
    hist = _cosine_trainer(tmp_path, 3).fit(loader, epochs=3, resume=str(tmp_path / "epoch1.npz"))
    assert f"resumed from {tmp_path / 'epoch1.npz'} after epoch 1" in capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and len(hist) == 3


def test_the_same_trainer_fits_on_into_its_own_folder(tmp_path):
    """As demo_resnet_degradation does: fit 1 epoch, look, fit on to 3."""
    trainer = _cosine_trainer(tmp_path, 3)
    trainer.fit(_loaders(), epochs=1)
    hist = trainer.fit(_loaders(), epochs=3)
    assert [r["epoch"] for r in hist] == [1, 2, 3]


def test_curves_have_the_run_title(tmp_path, monkeypatch):
    from minitorch_cnn.analysis import plots
    titles = []
    real = plots.training_curves

    def spy(history, path=None, title=None):
        assert path is None                  # the trainer saves it through io.atomic_write
        titles.append(title)
        return real(history, path, title)
    monkeypatch.setattr(plots, "training_curves", spy)
    mt.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3))
    Trainer(model, optim.SGD(model.parameters(), lr=0.1), out_dir=str(tmp_path),
            progress=False, run_info={"model": "mlp", "data": "blobs"}).fit(_loaders(), epochs=1)
    assert titles == ["model mlp, data blobs"]
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def _example(args, cwd, wrapper=""):
    """Run examples/train_vgg_cifar.py in a subprocess, ``wrapper`` code first."""
    code = (f"import runpy, sys\n{wrapper}\nsys.argv = {[SCRIPT] + args!r}\n"
            f"runpy.run_path({SCRIPT!r}, run_name='__main__')\n")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=600)


def test_example_ctrl_c_in_epoch_1_writes_no_model_and_lists_nothing(tmp_path):
    # Ctrl-C as the first batch of epoch 1 is fetched (before any kernel is compiled)
    ctrl_c = ("from minitorch_cnn.data import DataLoader\n"
              "def batches(self):\n    raise KeyboardInterrupt\n"
              "DataLoader.__iter__ = batches\n")
    out = tmp_path / "run"
    proc = _example(["--dataset", "shapes", "--subset", "64", "--batch-size", "32",
                     "--epochs", "1", "--no-progress", "--out", str(out)], ROOT, ctrl_c)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "interrupted during epoch 1" in log and "nothing was saved" in log
    assert f"nothing written in {out}" in log and "model.npz" not in log
    assert os.listdir(out) == []


def test_example_fallback_names_its_folder_after_the_data_it_trains_on(tmp_path):
    """--data-dir a file: the banner says so, the run falls back to the shapes and its
    folder is runs/vgg11_bn_shapes, which already holds a run here: refused, unchanged."""
    afile = tmp_path / "data.txt"
    afile.write_text("not a folder")
    used = tmp_path / "runs" / "vgg11_bn_shapes"
    used.mkdir(parents=True)
    (used / "metrics.csv").write_text("epoch\n1\n")
    proc = _example(["--dataset", "cifar10", "--data-dir", str(afile), "--subset", "64",
                     "--epochs", "1", "--no-progress"], tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in log, log
    assert f"{afile}, is a file, not a folder" in log and "put the archive" not in log
    assert "Falling back to the built-in 'shapes'" in log
    assert f"error: {os.path.join('runs', 'vgg11_bn_shapes')} already holds a run" in log
    assert "--resume" in log and "--overwrite" in log
    assert not (tmp_path / "runs" / "vgg11_bn_cifar10").exists()
    assert os.listdir(used) == ["metrics.csv"] and (used / "metrics.csv").read_text() == "epoch\n1\n"
