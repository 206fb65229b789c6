"""Bad inputs and faults at the edges of the library: files (checkpoints, .pth, dataset
pickles), the trainer's run folder, optimizers and schedulers, the command line.

Each case asserts the error's type, the words a user needs (what was expected, what
came, what to do), and that nothing was written or changed where the error was raised:
no file created or altered, no model parameter, optimizer or scheduler state touched."""
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

import minitorch_cnn as mt
from minitorch_cnn import io, models, nn, optim
from minitorch_cnn.data import DataLoader, TensorDataset
from minitorch_cnn.data.datasets import CorruptDataError, UnsafePickleError, safe_unpickle
from minitorch_cnn.train import RunFolderError, Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------ helpers
def snapshot(folder):
    """Every file under ``folder`` with its bytes and modification time."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = (fh.read(), os.stat(p).st_mtime_ns)
    return out


def params_of(model):
    return {k: v.data.copy() for k, v in model.state_dict().items()}


def same_params(model, before):
    return all(np.array_equal(model.state_dict()[k].data, v) for k, v in before.items())


class _RunsCommand:
    """Unpickling this runs ``touch marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _lenet_file(tmp_path):
    path = tmp_path / "lenet.npz"
    io.save(models.create("lenet5"), path)
    return path, path.read_bytes()


def _blobs(n=80):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = (rng.normal(0, 0.6, (n, 2)) + np.array([[0, 2], [2, -1], [-2, -1]])[y])
    return DataLoader(TensorDataset(x.astype(np.float32), y), batch_size=40, shuffle=True,
                      seed=1, prefetch=0)


class _Counting(nn.Module):
    """A tiny model that counts its forward passes (0: no training step was taken)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.fc(x)


def _trainer(out, sched="cosine", epochs=2, **kw):
    mt.manual_seed(0)
    model = _Counting()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    s = (optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs) if sched == "cosine"
         else None)
    return Trainer(model, opt, s, out_dir=str(out), progress=False, plot=False, **kw)


def _a_run(out, epochs=1):
    _trainer(out, epochs=epochs).fit(_blobs(), epochs=epochs)
    return snapshot(out)


# ------------------------------------------------------------------ io: .npz checkpoints
def test_empty_npz(tmp_path):
    path = tmp_path / "ckpt.npz"
    path.write_bytes(b"")
    model = models.create("lenet5")
    before = params_of(model)
    with pytest.raises(io.CheckpointError) as e:
        io.load_into(model, path)
    assert str(path) in str(e.value) and "empty (0 bytes)" in str(e.value)
    assert "not a checkpoint" in str(e.value)
    assert same_params(model, before)


def test_truncated_npz(tmp_path):
    path, blob = _lenet_file(tmp_path)
    path_cut = tmp_path / "cut.npz"
    path_cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(io.CheckpointError, match=r"cut\.npz is damaged \(cut off or corrupt\)"):
        io.load(path_cut)


def test_bit_flipped_npz(tmp_path):
    path, blob = _lenet_file(tmp_path)
    bad = bytearray(blob)
    bad[len(bad) // 3] ^= 0xFF                     # inside an array's bytes: a CRC error
    path.write_bytes(bytes(bad))
    with pytest.raises(io.CheckpointError) as e:
        io.load(path)
    assert "damaged" in str(e.value) and "lenet.npz" in str(e.value)


def test_a_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("hello, this is text")
    with pytest.raises(io.CheckpointError) as e:
        io.load(path)
    msg = str(e.value)
    assert "not a checkpoint" in msg and "expected a .npz checkpoint" in msg
    assert "b'hello, this is t'" in msg


def test_a_torch_file_given_to_io_load_says_what_to_use(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(io.CheckpointError, match="is a PyTorch file.*load_torch_weights"):
        io.load(path)


def test_a_single_npy_is_not_an_npz(tmp_path):
    path = tmp_path / "w.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(io.CheckpointError, match=r"a single \.npy array \(np\.save\)"):
        io.load(path)


def test_an_npz_with_pickled_objects_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([_RunsCommand(marker)], dtype=object))
    with pytest.raises(io.CheckpointError) as e:
        io.load(path)
    msg = str(e.value)
    assert "pickled Python objects" in msg and "could run code" in msg and "'w'" in msg
    assert "allow_pickle=True" not in msg and not marker.exists()


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.npz: no such file \(expected a \.npz"):
        io.load(tmp_path / "nope.npz")


def test_a_damaged_table_of_contents(tmp_path):
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("__meta__.npy", "w") as m:
            np.lib.format.write_array(m, np.array("{not json"))
    with pytest.raises(io.CheckpointError, match="table of contents.*not valid JSON"):
        io.load_checkpoint(path)


def test_save_checkpoint_of_an_unstorable_object_leaves_the_old_file(tmp_path):
    path = tmp_path / "c.npz"
    io.save_checkpoint({"epoch": 1}, path)
    before = snapshot(tmp_path)
    with pytest.raises(TypeError, match=r"cannot store the object at 'optimizer/extra'"):
        io.save_checkpoint({"epoch": 2, "optimizer": {"extra": object()}}, path)
    assert snapshot(tmp_path) == before


def test_save_into_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        io.save(models.create("lenet5"), tmp_path / "no" / "such" / "w.npz")
    assert "cannot write" in str(e.value) and str(tmp_path / "no" / "such") in str(e.value)
    assert os.listdir(tmp_path) == []


def test_an_error_inside_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch\n1\n")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="boom"):
        with io.atomic_write(path, "w") as f:
            f.write("epoch\n")
            raise ValueError("boom")
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------ io: .pth files
def test_empty_pth(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"")
    model = models.create("lenet5")
    before = params_of(model)
    with pytest.raises(io.CheckpointError, match=r"w\.pth is empty \(0 bytes\): not a PyTorch"):
        io.load_torch_weights(model, path)
    assert same_params(model, before)


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_pth(tmp_path, legacy):
    path = tmp_path / "w.pth"
    torch.save({"c1.weight": torch.zeros(6, 1, 5, 5)}, path,
               _use_new_zipfile_serialization=not legacy)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    model = models.create("lenet5")
    before = params_of(model)
    with pytest.raises((io.CheckpointError, ValueError)) as e:
        io.load_torch_weights(model, path)
    msg = str(e.value)
    assert "w.pth" in msg and ("damaged" in msg or "bytes, expected" in msg)
    assert "weights_only" not in msg and "allow_pickle" not in msg      # no unsafe advice
    assert same_params(model, before)


# ------------------------------------------------------------------ data: CIFAR pickles
def test_a_planted_pickle_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": _RunsCommand(marker)}, protocol=2))
    with pytest.raises(UnsafePickleError) as e:
        safe_unpickle(path)
    assert "refusing to unpickle the global" in str(e.value) and "system" in str(e.value)
    assert not marker.exists()


def test_a_cut_off_batch_pickle(tmp_path):
    path = tmp_path / "data_batch_2"
    path.write_bytes(pickle.dumps({"labels": list(range(100))}, protocol=2)[:50])
    with pytest.raises(CorruptDataError, match="data_batch_2 cannot be read"):
        safe_unpickle(path)


def test_an_object_array_in_a_batch_pickle(tmp_path):
    """An array record whose dtype is 'O' is refused before NumPy sees its state."""
    path = tmp_path / "test_batch"
    path.write_bytes(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b"
                     b"\x87R(K\x01K\x01\x85cnumpy\ndtype\nU\x01OK\x00K\x01\x87R"
                     b"\x89U\x08\x00\x00\x00\x00\x00\x00\x00\x00tb.")
    with pytest.raises(CorruptDataError, match="dtype object.*only numeric arrays"):
        safe_unpickle(path)


def test_a_data_folder_that_is_a_file(tmp_path):
    afile = tmp_path / "cifar"
    afile.write_text("x")
    with pytest.raises(NotADirectoryError, match=r"cifar, is a file, not a folder: give a folder"):
        mt.data.CIFAR10(root=afile, download=False)
    assert afile.read_text() == "x" and os.listdir(tmp_path) == ["cifar"]


# ------------------------------------------------------------------ the trainer's folder
def test_a_folder_that_holds_a_run_is_refused(tmp_path):
    before = _a_run(tmp_path)
    trainer = _trainer(tmp_path)
    with pytest.raises(RunFolderError) as e:
        trainer.fit(_blobs(), epochs=2)
    msg = str(e.value)
    assert f"{tmp_path} already holds a run (checkpoint.npz, metrics.csv, metrics.json)" in msg
    assert "--resume" in msg and "--overwrite" in msg and "--out" in msg
    assert snapshot(tmp_path) == before and trainer.model.calls == 0


def test_an_output_folder_that_is_a_file(tmp_path):
    afile = tmp_path / "run"
    afile.write_text("x")
    trainer = _trainer(afile)
    with pytest.raises(RunFolderError, match="run is a file, not a folder.*--out"):
        trainer.fit(_blobs())
    assert trainer.model.calls == 0 and afile.read_text() == "x"


def test_an_output_folder_that_cannot_be_created(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    trainer = _trainer(afile / "run")
    with pytest.raises(RunFolderError, match="cannot write into the output folder"):
        trainer.fit(_blobs())
    assert trainer.model.calls == 0 and os.listdir(tmp_path) == ["file"]


def test_an_unwritable_output_folder_is_found_before_the_first_step(tmp_path, monkeypatch):
    import tempfile

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    trainer = _trainer(tmp_path / "run")
    with pytest.raises(RunFolderError) as e:
        trainer.fit(_blobs())
    msg = str(e.value)
    assert "cannot write into the output folder" in msg and "Permission denied" in msg
    assert "--out" in msg and trainer.model.calls == 0


def test_resume_from_a_damaged_checkpoint_says_how_to_go_on(tmp_path):
    _a_run(tmp_path)
    ckpt = tmp_path / "checkpoint.npz"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    before = snapshot(tmp_path)
    trainer = _trainer(tmp_path)
    params = params_of(trainer.model)
    with pytest.raises(RunFolderError) as e:
        trainer.fit(_blobs(), epochs=2, resume=True)
    msg = str(e.value)
    assert "cannot resume" in msg and "checkpoint.npz is damaged" in msg
    assert "--overwrite" in msg and "--resume PATH" in msg
    assert snapshot(tmp_path) == before and same_params(trainer.model, params)
    assert trainer.optimizer.state == {} and trainer.model.calls == 0


def test_resume_from_a_model_file_is_not_a_training_checkpoint(tmp_path):
    io.save(models.create("lenet5"), tmp_path / "model.npz")
    trainer = _trainer(tmp_path)
    with pytest.raises(RunFolderError) as e:
        trainer.fit(_blobs(), resume=str(tmp_path / "model.npz"))
    msg = str(e.value)
    assert "not a training checkpoint" in msg and "io.load_into" in msg
    assert "expected the entries model, optimizer, epoch, history" in msg


def test_resume_from_a_missing_file(tmp_path):
    with pytest.raises(RunFolderError, match=r"cannot resume from .*old\.npz: no such file"):
        _trainer(tmp_path).fit(_blobs(), resume=str(tmp_path / "old.npz"))
    assert os.listdir(tmp_path) == []


def test_resume_a_checkpoint_of_another_model_changes_nothing(tmp_path):
    _a_run(tmp_path)
    mt.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    params = params_of(model)
    before = snapshot(tmp_path)
    with pytest.raises(RunFolderError) as e:
        Trainer(model, opt, sched, out_dir=str(tmp_path), progress=False,
                plot=False).fit(_blobs(), epochs=2, resume=True)
    msg = str(e.value)
    assert "does not fit this run's model" in msg and "nothing was loaded" in msg
    assert "missing keys: 0.weight" in msg and "unexpected keys: fc.weight" in msg
    assert "--overwrite" in msg
    assert same_params(model, params) and opt.state == {} and snapshot(tmp_path) == before


def test_resume_a_checkpoint_of_another_run(tmp_path):
    mt.manual_seed(0)
    _trainer(tmp_path, run_info={"model": "mlp", "data": "shapes"}).fit(_blobs())
    trainer = _trainer(tmp_path, run_info={"model": "mlp", "data": "cifar10"})
    params = params_of(trainer.model)
    with pytest.raises(RunFolderError) as e:
        trainer.fit(_blobs(), epochs=2, resume=True)
    msg = str(e.value)
    assert "checkpoint of another run (data 'shapes' there, 'cifar10' here)" in msg
    assert "--overwrite" in msg and same_params(trainer.model, params)


def test_an_optimizer_that_fails_to_load_puts_the_model_back(tmp_path):
    """The model loads first; when the optimizer then refuses, the model is restored."""
    _a_run(tmp_path)
    trainer = _trainer(tmp_path)
    trainer.optimizer = optim.SGD(trainer.model.parameters(), lr=0.1, momentum=0.9)
    trainer.optimizer.add_param_group({"params": [nn.Parameter(mt.zeros(1))]})
    trainer.scheduler = None
    params = params_of(trainer.model)
    with pytest.raises(RunFolderError, match="saved with an LR scheduler, this run has no"):
        trainer.fit(_blobs(), epochs=2, resume=True)
    trainer.scheduler = optim.lr_scheduler.CosineAnnealingLR(trainer.optimizer, T_max=2)
    with pytest.raises(RunFolderError, match="1 parameter groups, this optimizer has 2"):
        trainer.fit(_blobs(), epochs=2, resume=True)
    assert same_params(trainer.model, params) and trainer.epoch == 0


def test_resume_and_overwrite_together(tmp_path):
    with pytest.raises(ValueError, match="resume and overwrite were both asked for; choose one"):
        _trainer(tmp_path, overwrite=True).fit(_blobs(), resume=True)
    assert not tmp_path.joinpath("checkpoint.npz").exists()


@pytest.mark.parametrize("epochs", [0, -1, 2.5, True])
def test_fit_epochs_must_be_a_whole_number(tmp_path, epochs):
    trainer = _trainer(tmp_path / "run")
    with pytest.raises(ValueError, match="epochs must be a whole number >= 1"):
        trainer.fit(_blobs(), epochs=epochs)
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ optimizers, schedulers
def _opt():
    mt.manual_seed(0)
    p = nn.Parameter(mt.randn(3, 2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = mt.ones(3, 2)
    opt.step()
    return p, opt


def test_optimizer_state_of_another_shape_changes_nothing():
    p, opt = _opt()
    saved = opt.state_dict()
    saved["state"][0]["momentum_buffer"] = np.zeros((4, 2), np.float32)
    saved["param_groups"][0]["lr"] = 0.5
    buf = opt.state[p]["momentum_buffer"].copy()
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(4, 2\), "
                                         r"the parameter has \(3, 2\)"):
        opt.load_state_dict(saved)
    assert opt.param_groups[0]["lr"] == 0.1 and np.array_equal(opt.state[p]["momentum_buffer"],
                                                                buf)


def test_optimizer_state_dict_that_is_not_one():
    _, opt = _opt()
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'.*"
                                         r"\['weight'\]"):
        opt.load_state_dict({"weight": np.zeros(3)})
    with pytest.raises(ValueError, match="state for parameter 5"):
        opt.load_state_dict({"state": {5: {}}, "param_groups": opt.state_dict()["param_groups"]})


def test_scheduler_state_of_another_kind_changes_nothing():
    _, opt = _opt()
    step = optim.lr_scheduler.StepLR(opt, step_size=3)
    cos = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
    before = step.state_dict()
    with pytest.raises(ValueError, match=r"not one of a StepLR \(missing \['gamma', 'step_size'\]"
                                         r", unexpected \['T_max', 'eta_min'\]\)"):
        step.load_state_dict(cos.state_dict())
    assert step.state_dict() == before and not hasattr(step, "T_max")


def test_a_sequential_schedule_with_another_number_of_phases():
    _, opt = _opt()
    lr = optim.lr_scheduler

    def seq(n):
        return lr.SequentialLR(opt, [lr.LinearLR(opt, total_iters=2) for _ in range(n)],
                               milestones=[2 * i for i in range(1, n)])
    two, three = seq(2), seq(3)
    before = two.state_dict()
    with pytest.raises(ValueError):
        two.load_state_dict(three.state_dict())
    assert two.state_dict() == before


def test_a_scheduler_without_a_plan_cannot_be_replanned():
    _, opt = _opt()

    class Halving(optim.lr_scheduler.LRScheduler):
        def get_lr(self):
            return [b * 0.5 ** self.last_epoch for b in self.base_lrs]
    s = Halving(opt)
    with pytest.raises(TypeError, match="Halving does not declare its plan"):
        s.load_progress(s.state_dict())


# ------------------------------------------------------------------ model names, CLI
def test_unknown_model_name_names_the_closest():
    with pytest.raises(ValueError) as e:
        models.create("resnet181")
    msg = str(e.value)
    assert "unknown model 'resnet181': did you mean resnet18" in msg
    assert "python -m minitorch_cnn models" in msg
    with pytest.raises(ValueError, match="must be a string such as 'resnet18', got int 18"):
        models.create(18)


@pytest.mark.parametrize("argv", [["summary", "resnet5"], ["compare", "vgg16", "resnt18"],
                                  ["receptive-field", "alexnett"]])
def test_cli_unknown_model_is_one_line_and_exit_2(argv):
    proc = subprocess.run([sys.executable, "-m", "minitorch_cnn", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith(f"python -m minitorch_cnn {argv[0]}: error: unknown model")
    assert "did you mean" in lines[0]


def test_example_refuses_resume_with_overwrite(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_resnet_cifar.py"),
                           "--resume", "--overwrite", "--out", str(tmp_path / "run")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "choose one" in proc.stderr
    assert not (tmp_path / "run").exists()
