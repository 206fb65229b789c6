"""minitorch_cnn.io: .npz checkpoints (round trip, atomic writes) and PyTorch .pth files
read without torch (round trips against networks built here with torch's own layers,
refusal of unknown pickle globals, strict key checking)."""
import io as stdio
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as tnn

import minitorch_cnn as mt
from conftest import to_numpy
from minitorch_cnn import io, models, nn
from minitorch_cnn.nn.init import skip_init


# ------------------------------------------------------------------------------------------
# Reference networks written with torch.nn, laid out and named as torchvision's (which is
# not installed). They are the oracle: written here from torchvision's published layout,
# not derived from our model code.
# ------------------------------------------------------------------------------------------
class TorchLeNet5(tnn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.c1, self.s2 = tnn.Conv2d(1, 6, 5), tnn.AvgPool2d(2)
        self.c3, self.s4 = tnn.Conv2d(6, 16, 5), tnn.AvgPool2d(2)
        self.c5, self.f6 = tnn.Conv2d(16, 120, 5), tnn.Linear(120, 84)
        self.output = tnn.Linear(84, num_classes)

    def forward(self, x):
        x = self.s2(torch.tanh(self.c1(x)))
        x = self.s4(torch.tanh(self.c3(x)))
        x = torch.flatten(torch.tanh(self.c5(x)), 1)
        return self.output(torch.tanh(self.f6(x)))


class TorchAlexNet(tnn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(3, 64, 11, stride=4, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(384, 256, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2))
        self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
        self.classifier = tnn.Sequential(
            tnn.Dropout(), tnn.Linear(256 * 36, 4096), tnn.ReLU(),
            tnn.Dropout(), tnn.Linear(4096, 4096), tnn.ReLU(), tnn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


TORCHVISION_VGG = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


class TorchVGG(tnn.Module):
    def __init__(self, cfg, batch_norm, num_classes=1000):
        super().__init__()
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(tnn.MaxPool2d(2, 2))
            else:
                layers.append(tnn.Conv2d(c, v, 3, padding=1))
                layers += [tnn.BatchNorm2d(v), tnn.ReLU()] if batch_norm else [tnn.ReLU()]
                c = v
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
        self.classifier = tnn.Sequential(
            tnn.Linear(512 * 49, 4096), tnn.ReLU(), tnn.Dropout(),
            tnn.Linear(4096, 4096), tnn.ReLU(), tnn.Dropout(), tnn.Linear(4096, num_classes))


class TorchBasicConv2d(tnn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class TorchInception(tnn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        self.branch1 = TorchBasicConv2d(cin, c1, kernel_size=1)
        self.branch2 = tnn.Sequential(TorchBasicConv2d(cin, c3r, kernel_size=1),
                                      TorchBasicConv2d(c3r, c3, kernel_size=3, padding=1))
        self.branch3 = tnn.Sequential(TorchBasicConv2d(cin, c5r, kernel_size=1),
                                      TorchBasicConv2d(c5r, c5, kernel_size=3, padding=1))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                      TorchBasicConv2d(cin, pp, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TorchInceptionAux(tnn.Module):
    def __init__(self, cin, num_classes):
        super().__init__()
        self.conv = TorchBasicConv2d(cin, 128, kernel_size=1)
        self.fc1, self.fc2 = tnn.Linear(2048, 1024), tnn.Linear(1024, num_classes)
        self.dropout = tnn.Dropout(0.7)

    def forward(self, x):
        x = self.conv(torch.nn.functional.adaptive_avg_pool2d(x, (4, 4)))
        return self.fc2(self.dropout(torch.relu(self.fc1(torch.flatten(x, 1)))))


class TorchGoogLeNet(tnn.Module):
    def __init__(self, num_classes=1000, aux_logits=True, transform_input=False):
        super().__init__()
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.conv1 = TorchBasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = TorchBasicConv2d(64, 64, kernel_size=1)
        self.conv3 = TorchBasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = TorchInception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = TorchInception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = TorchInception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = TorchInception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = TorchInception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = TorchInception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = TorchInception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = tnn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = TorchInception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = TorchInception(832, 384, 192, 384, 48, 128, 128)
        if aux_logits:
            self.aux1 = TorchInceptionAux(512, num_classes)
            self.aux2 = TorchInceptionAux(528, num_classes)
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.dropout = tnn.Dropout(0.2)
        self.fc = tnn.Linear(1024, num_classes)

    def forward(self, x):          # eval mode only, as used here
        if self.transform_input:
            x = torch.cat([x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
                           x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
                           x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5], 1)
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def _randomise_bn_statistics(model):
    """Running statistics away from 0/1, so that eval-mode BN really is tested."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, tnn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
            m.num_batches_tracked.fill_(7)


def _logits_match(ours, theirs):
    theirs = theirs.detach().numpy()
    scale = max(1.0, float(np.abs(theirs).max()))
    np.testing.assert_allclose(to_numpy(ours), theirs, rtol=1e-3, atol=1e-4 * scale)


def _shapes(state):
    return [(k, tuple(v.shape)) for k, v in state.items()]


# ------------------------------------------------------------------------------ .npz
def test_npz_round_trip_restores_every_entry_and_the_outputs(tmp_path):
    model = models.create("lenet5")
    path = io.save(model, tmp_path / "lenet.npz")
    state = io.load(path)
    assert list(state) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert state[k].dtype == v.dtype and np.array_equal(state[k], v.data)
    other = models.create("lenet5")
    io.load_into(other, path)
    x = mt.randn(2, 1, 32, 32)
    model.eval(), other.eval()
    np.testing.assert_array_equal(model(x).data, other(x).data)


def test_npz_keeps_dtypes_and_buffers(tmp_path):
    state = OrderedDict([("w", np.arange(6, dtype=np.float64).reshape(2, 3)),
                         ("n", np.array(5, dtype=np.int64)),
                         ("t", mt.tensor([1.0, 2.0]))])
    back = io.load(io.save(state, tmp_path / "s.npz"))
    assert back["w"].dtype == np.float64 and np.array_equal(back["w"], state["w"])
    assert back["n"].shape == () and back["n"] == 5
    assert np.array_equal(back["t"], [1.0, 2.0])
    assert np.load(tmp_path / "s.npz")["w"].shape == (2, 3)     # a plain .npz


def test_npz_failed_write_leaves_old_file_and_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    io.save({"a": np.ones(3, np.float32)}, path)
    real_write = np.lib.format.write_array
    calls = []

    def write_then_fail(f, arr, **kw):       # the disk fills up after the first array
        calls.append(1)
        if len(calls) > 1:
            raise OSError("No space left on device")
        real_write(f, arr, **kw)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.raises(OSError, match="No space"):
        io.save({"a": np.zeros(1000, np.float32), "b": np.zeros(3, np.float32)}, path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]          # no temp file left behind
    assert np.array_equal(io.load(path)["a"], np.ones(3))        # the old checkpoint intact


def test_npz_refuses_non_numeric_entries(tmp_path):
    with pytest.raises(TypeError, match="'bad'.*numeric"):
        io.save({"bad": np.array(["x"], dtype=object)}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------- PyTorch, no torch
def test_lenet_from_torch_zip_and_legacy_formats(tmp_path):
    torch.manual_seed(0)
    ref = TorchLeNet5().eval()
    x = torch.randn(3, 1, 32, 32)
    for legacy in (False, True):
        path = tmp_path / f"lenet_{legacy}.pth"
        torch.save(ref.state_dict(), path, _use_new_zipfile_serialization=not legacy)
        ours = models.create("lenet5").eval()
        io.load_torch_weights(ours, path)
        _logits_match(ours(mt.tensor(x.numpy())), ref(x))


def test_alexnet_torchvision_layout_gives_torchs_logits(tmp_path):
    torch.manual_seed(0)
    ref = TorchAlexNet(num_classes=10).eval()
    path = tmp_path / "alexnet.pth"
    torch.save(ref.state_dict(), path)
    ours = skip_init(models.create, "alexnet", num_classes=10).eval()   # weights come from file
    io.load_torch_weights(ours, path)
    x = torch.randn(2, 3, 63, 63)                                       # smallest valid size
    _logits_match(ours(mt.tensor(x.numpy())), ref(x))


@pytest.mark.parametrize("transform_input", [False, True])
def test_googlenet_torchvision_layout_gives_torchs_logits(tmp_path, transform_input):
    torch.manual_seed(0)
    ref = TorchGoogLeNet(num_classes=10, transform_input=transform_input)
    _randomise_bn_statistics(ref)
    ref.eval()
    path = tmp_path / "googlenet.pth"
    torch.save(ref.state_dict(), path)
    x = torch.randn(2, 3, 32, 32)
    expected = ref(x)
    # with the auxiliary heads every key is used; without them, GoogLeNet's
    # adapt_torch_state_dict drops aux1.* and aux2.* (the released weights carry them)
    for aux in (True, False):
        ours = skip_init(models.create, "googlenet", num_classes=10, aux_logits=aux,
                         transform_input=transform_input).eval()
        io.load_torch_weights(ours, path)
        _logits_match(ours(mt.tensor(x.numpy())), expected)
        bn = ours.inception4e.branch2[1].bn
        assert int(bn.num_batches_tracked.data) == 7


@pytest.mark.parametrize("name", ["alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16",
                                  "vgg16_bn", "vgg19", "vgg19_bn", "googlenet", "googlenet_aux"])
def test_every_torchvision_named_builder_has_torchvisions_keys_and_shapes(name):
    """Every key, in torchvision's order, with its shape: so torchvision state dicts load
    unchanged (the torch reference is built on the meta device: no memory, no time)."""
    with torch.device("meta"):
        if name == "alexnet":
            ref = TorchAlexNet()
        elif name.startswith("vgg"):
            ref = TorchVGG(TORCHVISION_VGG[name.split("_")[0]], name.endswith("_bn"))
        else:
            ref = TorchGoogLeNet(aux_logits=name.endswith("_aux"))
    if name.startswith("googlenet"):
        ours = skip_init(models.create, "googlenet", aux_logits=name.endswith("_aux"))
    else:
        ours = skip_init(models.create, name)
    assert _shapes(ours.state_dict()) == _shapes(ref.state_dict())


def test_a_checkpoint_dict_or_torch_tensors_load_too(tmp_path):
    torch.manual_seed(0)
    ref = TorchLeNet5().eval()
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": ref.state_dict(), "lr": 0.1}, path)
    ours = models.create("lenet5").eval()
    io.load_torch_weights(ours, path)
    x = torch.randn(2, 1, 32, 32)
    _logits_match(ours(mt.tensor(x.numpy())), ref(x))
    again = models.create("lenet5").eval()
    io.load_torch_weights(again, ref.state_dict())        # torch tensors, no file
    _logits_match(again(mt.tensor(x.numpy())), ref(x))


def test_views_dtypes_and_byte_layout_of_torch_storages(tmp_path):
    state = OrderedDict([
        ("transposed", torch.arange(12.0).reshape(3, 4).t()),      # a strided view
        ("sliced", torch.arange(20, dtype=torch.float64)[5:15:2]),  # an offset + stride
        ("half", torch.tensor([1.5, -2.0], dtype=torch.float16)),
        ("bf16", torch.tensor([1.5, -2.0, 3.0], dtype=torch.bfloat16)),
        ("long", torch.tensor(7)),
        ("flags", torch.tensor([True, False])),
    ])
    path = tmp_path / "mixed.pth"
    torch.save(state, path)
    got = io.load_torch_file(path)
    for k, v in state.items():
        want = v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
        assert got[k].dtype == want.dtype and np.array_equal(got[k], want), k


# ------------------------------------------------------------------ hostile pickles
class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _torch_zip_with_pickle(path, payload):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/byteorder", "little")


def test_a_pickle_with_an_unknown_global_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"conv.weight": _RunsCommand(marker)}, protocol=2)
    zipped, legacy = tmp_path / "evil.pth", tmp_path / "evil_legacy.pth"
    _torch_zip_with_pickle(zipped, payload)
    legacy.write_bytes(pickle.dumps(_RunsCommand(marker), protocol=2))
    for path in (zipped, legacy):
        with pytest.raises(pickle.UnpicklingError, match=r"refusing .*'(posix|os)\.system'"):
            io.load_torch_weights(models.create("lenet5"), path)
    assert not marker.exists()


def test_other_dangerous_globals_are_refused(tmp_path):
    for module, name in [("builtins", "eval"), ("torch", "load"), ("numpy", "frombuffer")]:
        payload = f"c{module}\n{name}\n(S'1'\ntR.".encode()      # protocol 0: GLOBAL, call
        path = tmp_path / f"{name}.pth"
        _torch_zip_with_pickle(path, payload)
        with pytest.raises(pickle.UnpicklingError, match=f"'{module}.{name}'"):
            io.load_torch_file(path)


def test_a_tensor_reading_past_its_storage_is_refused(tmp_path):
    """Sizes and strides come from the file: a hostile one must not read outside memory."""
    class Storage:
        pass

    class BadTensor:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (storage, 0, (100,), (1,), False,
                                                     OrderedDict())

    storage = Storage()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 4) if obj is storage else None

    buf = stdio.BytesIO()
    Pickler(buf, protocol=2).dump({"w": BadTensor()})
    path = tmp_path / "oob.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/data/0", np.zeros(4, np.float32).tobytes())
    with pytest.raises(ValueError, match="'w' reads past the end of its storage"):
        io.load_torch_file(path)


def test_not_a_torch_file_says_so(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not a PyTorch file"):
        io.load_torch_file(path)


# ---------------------------------------------------------------- strict key checking
def test_missing_unexpected_and_misshaped_keys_are_all_listed(tmp_path):
    state = TorchLeNet5().state_dict()
    del state["c3.bias"]                                  # missing
    state["c9.weight"] = torch.zeros(2)                   # unexpected
    state["f6.weight"] = torch.zeros(84, 121)             # mis-shaped
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(RuntimeError) as err:
        io.load_torch_weights(models.create("lenet5"), path)
    msg = str(err.value)
    assert "broken.pth" in msg
    for needle in ("c3.bias", "c9.weight", "f6.weight", "(84, 121)", "(84, 120)"):
        assert needle in msg, needle


def test_non_strict_returns_missing_and_unexpected(tmp_path):
    state = TorchLeNet5().state_dict()
    del state["output.bias"]
    state["extra"] = torch.zeros(1)
    model = models.create("lenet5")
    missing, unexpected = io.load_torch_weights(model, state, strict=False)
    assert list(missing) == ["output.bias"] and list(unexpected) == ["extra"]
    np.testing.assert_array_equal(model.c1.weight.data, state["c1.weight"].numpy())


# --------------------------------------------------------------- the atomic writer
def test_atomic_write_fsyncs_then_renames_and_cleans_up_on_error(tmp_path, monkeypatch):
    path = tmp_path / "log.csv"
    path.write_text("old")
    calls = []
    real_fsync, real_commit = os.fsync, io._commit
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(io, "_commit", lambda t, p: (calls.append("rename"), real_commit(t, p)))
    with io.atomic_write(path, "w") as f:
        f.write("new")
        temp = [n for n in os.listdir(tmp_path) if n != "log.csv"]
        assert len(temp) == 1 and temp[0].startswith(".log.csv.") and temp[0].endswith(".tmp")
        assert path.read_text() == "old"                     # not visible before the end
    assert path.read_text() == "new" and calls[:2] == ["fsync", "rename"]
    with pytest.raises(KeyboardInterrupt):
        with io.atomic_write(path, "wb") as f:
            f.write(b"half")
            raise KeyboardInterrupt
    assert path.read_text() == "new" and sorted(os.listdir(tmp_path)) == ["log.csv"]


def test_clean_temp_files_removes_only_the_writers_temp_files(tmp_path):
    for name in [".checkpoint.npz.ab12cd_9.tmp", ".curves.png.x1y2z3w4.tmp", "keep.tmp",
                 ".hidden", "checkpoint.npz", ".metrics.csv.short.tmp"]:
        (tmp_path / name).write_text("x")
    assert io.clean_temp_files(tmp_path, names=["curves.png"]) == [".curves.png.x1y2z3w4.tmp"]
    assert io.clean_temp_files(tmp_path) == [".checkpoint.npz.ab12cd_9.tmp"]
    assert sorted(os.listdir(tmp_path)) == [".hidden", ".metrics.csv.short.tmp",
                                            "checkpoint.npz", "keep.tmp"]


# ------------------------------------------------------------ one checkpoint format
def test_nested_checkpoint_round_trip_with_readable_member_names(tmp_path):
    model = models.create("lenet5")
    state = {"model": dict(model.state_dict()), "epoch": 3, "history": [{"loss": 0.5}],
             "optimizer": {"state": {0: {"momentum_buffer": np.ones(2, np.float32)}},
                           "param_groups": [{"lr": 0.1, "params": [0]}]},
             "best": float("-inf"), "pair": (1, "a"), "none": None}
    path = io.save_checkpoint(state, tmp_path / "ckpt.npz")
    back = io.load_checkpoint(path)
    assert back["epoch"] == 3 and back["pair"] == (1, "a") and back["best"] == -np.inf
    assert list(back["optimizer"]["state"]) == [0] and back["none"] is None
    with np.load(path) as z:                        # a plain .npz, browsable by name
        assert "model/c1.weight" in z.files
        assert "optimizer/state/0/momentum_buffer" in z.files
    # io.load gives the model's state dict from a training checkpoint
    other = models.create("lenet5")
    io.load_into(other, path)
    for k, v in model.state_dict().items():
        assert np.array_equal(other.state_dict()[k].data, v.data)


def test_older_files_still_load(tmp_path):
    """A plain np.savez file and a trainer checkpoint from before the format marker."""
    np.savez(tmp_path / "plain.npz", w=np.arange(3.0))
    assert list(io.load(tmp_path / "plain.npz")) == ["w"]
    import json
    tree = {"__dict__": [["model", {"__dict__": [["w", {"__array__": "a0"}]]}],
                         ["epoch", 2]]}
    np.savez(tmp_path / "old.npz", __meta__=np.array(json.dumps(tree)), a0=np.ones(2))
    assert io.load_checkpoint(tmp_path / "old.npz")["epoch"] == 2
    assert np.array_equal(io.load(tmp_path / "old.npz")["w"], np.ones(2))
