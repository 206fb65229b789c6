"""Kill the trainer at named moments of an epoch and of a save (SIGKILL, as a crash or
``kill -9`` would), and Ctrl-C it (SIGINT); after each, the run folder must be
consistent (the logs never ahead of the checkpoint, no untrained model.npz), and
``--resume`` must end with exactly the run an uninterrupted process makes: every epoch
in metrics.csv once, the same numbers, no temporary file left.

The run is a tiny script (below) driving ``Trainer`` as the examples do, on a 2-16-3
MLP and 256 points, 4 batches per epoch, 3 epochs: about a second per process. The
faults are injected from outside the library by the script's wrapper code, which
patches three functions before the run starts."""
import csv
import json
import os
import subprocess
import sys

import pytest

from minitorch_cnn import io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 3
BATCHES = 4                      # per epoch

TINY = r'''
import argparse, os, signal, sys
import numpy as np
import minitorch_cnn as mt
from minitorch_cnn import io, nn, optim
from minitorch_cnn.data import DataLoader, TensorDataset
from minitorch_cnn.train import RunFolderError, Trainer

# -- fault injection: KILL_AT="<point>#<n>" sends SIGKILL (INT_AT: SIGINT, a Ctrl-C) to
# this process the n-th time <point> is reached. Points: "batch" (after an optimizer
# step), "array" (an array written into an .npz), "write:<file>" (the temp file of
# <file> is complete but not renamed), "saved:<file>" (<file> has just taken its name).
spec = os.environ.get("KILL_AT") or os.environ.get("INT_AT") or ""
sig = signal.SIGKILL if os.environ.get("KILL_AT") else signal.SIGINT
point, _, nth = spec.partition("#")
seen = {}

def reached(name):
    seen[name] = seen.get(name, 0) + 1
    if name == point and seen[name] == int(nth or 1):
        os.kill(os.getpid(), sig)

real_step, real_commit = optim.SGD.step, io._commit
real_write_array = np.lib.format.write_array

def step(self, *a, **k):
    out = real_step(self, *a, **k)
    reached("batch")
    return out

def commit(tmp, path):
    reached("write:" + os.path.basename(path))
    real_commit(tmp, path)
    reached("saved:" + os.path.basename(path))

def write_array(*a, **k):
    real_write_array(*a, **k)
    reached("array")

optim.SGD.step, io._commit, np.lib.format.write_array = step, commit, write_array

# -- the run, as the examples make it
p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--resume", nargs="?", const=True, default=False)
p.add_argument("--overwrite", action="store_true")
args = p.parse_args()
mt.manual_seed(0)
rng = np.random.default_rng(0)
y = rng.integers(0, 3, 256)
x = (rng.normal(0, 0.6, (256, 2)) + np.array([[0, 2], [2, -1], [-2, -1]])[y]).astype(np.float32)
train = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=1, prefetch=0)
val = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=64, prefetch=0)
model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
trainer = Trainer(model, opt, sched, out_dir=args.out, progress=False,
                  overwrite=args.overwrite, title="tiny MLP on blobs",
                  run_info={"model": "mlp", "data": "blobs"})
try:
    hist = trainer.fit(train, val, epochs=args.epochs, resume=args.resume)
except RunFolderError as e:
    sys.exit(f"error: {e}")
if hist and not trainer.interrupted:
    io.save(model, os.path.join(args.out, "model.npz"))
print("outputs: " + ",".join(trainer.outputs()))
'''

TIMING = ("images_per_s", "epoch_time_s")


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny_train.py"
    path.write_text(TINY)
    return path


def run(script, out, *args, kill=None, sigint=None, epochs=EPOCHS):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("KILL_AT", None)
    env.pop("INT_AT", None)
    if kill:
        env["KILL_AT"] = kill
    if sigint:
        env["INT_AT"] = sigint
    return subprocess.run([sys.executable, str(script), "--out", str(out), "--epochs",
                           str(epochs), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def untimed(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


@pytest.fixture(scope="module")
def reference(script, tmp_path_factory):
    """metrics.json of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference") / "run"
    proc = run(script, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return untimed(json.loads((out / "metrics.json").read_text()))


def temp_files(out):
    return [f for f in os.listdir(out) if f.startswith(".") and f.endswith(".tmp")]


def state_of(out):
    """(checkpoint epoch, metrics.csv epochs, metrics.json epochs) of a run folder."""
    ckpt = out / "checkpoint.npz"
    saved = io.load_checkpoint(ckpt)["epoch"] if ckpt.exists() else 0
    csv_epochs = json_epochs = []
    if (out / "metrics.csv").exists():
        csv_epochs = [int(r["epoch"]) for r in csv.DictReader(open(out / "metrics.csv"))]
    if (out / "metrics.json").exists():
        json_epochs = [r["epoch"] for r in json.loads((out / "metrics.json").read_text())]
    return saved, csv_epochs, json_epochs


def assert_consistent(out):
    """Logs never ahead of the checkpoint; each epoch logged once, in order."""
    saved, csv_epochs, json_epochs = state_of(out)
    for logged in (csv_epochs, json_epochs):
        assert logged == list(range(1, len(logged) + 1)), logged
        assert len(logged) <= saved, (saved, logged)
    if saved == 0:
        assert not (out / "curves.png").exists()
    assert not (out / "model.npz").exists() or saved == EPOCHS


# point of the kill, the checkpoint's epoch just after it, whether a temp file is left
KILLS = {
    "mid-epoch 2": ("batch#6", 1, False),
    "first checkpoint, before its rename": ("write:checkpoint.npz#1", 0, True),
    "mid-write of checkpoint 2 (half its arrays)": ("array#14", 1, True),
    "checkpoint 2 complete, before its rename": ("write:checkpoint.npz#2", 1, True),
    "after checkpoint 2, before its logs": ("saved:checkpoint.npz#2", 2, False),
    "after epoch 1's metrics row": ("saved:metrics.csv#1", 1, False),
    "during curves.png of epoch 2": ("write:curves.png#2", 2, True),
    "after the last epoch, before model.npz": ("saved:curves.png#3", 3, False),
}


@pytest.mark.parametrize("moment", list(KILLS))
def test_a_kill_leaves_a_consistent_folder_and_resume_loses_and_repeats_nothing(
        script, reference, tmp_path, moment):
    point, saved_after, leaves_temp = KILLS[moment]
    out = tmp_path / "run"
    proc = run(script, out, kill=point)
    assert proc.returncode == -9, proc.stdout + proc.stderr      # it really was killed
    assert state_of(out)[0] == saved_after
    assert_consistent(out)
    assert bool(temp_files(out)) == leaves_temp

    proc = run(script, out, "--resume")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    if leaves_temp:
        assert "removed 1 temporary file(s) of an interrupted save" in log
    if saved_after:
        assert f"resumed from {out / 'checkpoint.npz'} after epoch {saved_after}" in log
    else:
        assert "no checkpoint" in log and "starting at epoch 1" in log
    assert temp_files(out) == []
    assert state_of(out) == (EPOCHS, [1, 2, 3], [1, 2, 3])          # once each, in order
    # the very numbers of the uninterrupted run: nothing lost, nothing repeated
    assert untimed(json.loads((out / "metrics.json").read_text())) == reference
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [float(r["train_loss"]) for r in rows] == [r["train_loss"] for r in reference]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "model.npz").exists()
    assert "outputs: checkpoint.npz,metrics.csv,metrics.json,curves.png,model.npz" in log


def test_ctrl_c_in_epoch_1_writes_nothing_and_lists_nothing(script, tmp_path):
    out = tmp_path / "run"
    proc = run(script, out, sigint="batch#2")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "interrupted during epoch 1" in log and "nothing was saved" in log
    assert "outputs: \n" in log                                    # lists no file
    assert os.listdir(out) == []                                   # no untrained model.npz


def test_ctrl_c_mid_epoch_2_keeps_epoch_1_and_resumes_exactly(script, reference, tmp_path):
    out = tmp_path / "run"
    proc = run(script, out, sigint="batch#6")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "interrupted during epoch 2: its partial training is dropped" in log
    assert "checkpoint of epoch 1" in log and "--resume" in log
    assert state_of(out) == (1, [1], [1]) and not (out / "model.npz").exists()
    assert "outputs: checkpoint.npz,metrics.csv,metrics.json,curves.png\n" in log
    proc = run(script, out, "--resume")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert untimed(json.loads((out / "metrics.json").read_text())) == reference


def test_a_second_run_into_a_used_folder_is_refused_and_changes_nothing(script, tmp_path):
    out = tmp_path / "run"
    assert run(script, out, kill="saved:checkpoint.npz#2").returncode == -9
    before = {f: ((out / f).read_bytes(), (out / f).stat().st_mtime_ns) for f in os.listdir(out)}
    proc = run(script, out)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in log
    assert f"error: {out} already holds a run (checkpoint.npz, metrics.csv" in log
    assert "--resume" in log and "--overwrite" in log and "--out" in log
    after = {f: ((out / f).read_bytes(), (out / f).stat().st_mtime_ns) for f in os.listdir(out)}
    assert after == before

    proc = run(script, out, "--overwrite", epochs=1)          # an explicit start over
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "overwriting the run in" in log and "removed checkpoint.npz" in log
    assert state_of(out) == (1, [1], [1]) and temp_files(out) == []

    proc = run(script, out, "--resume", "--overwrite")
    assert proc.returncode != 0 and "choose one" in proc.stdout + proc.stderr
