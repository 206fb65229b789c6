"""The model benchmark compares like with like: each torch twin in
``benchmarks/torch_reference.py`` takes our state dict key for key and gives our logits and
gradients; the benchmark script runs end to end in --quick mode and writes its outputs;
its timing and memory helpers measure what they claim."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import minitorch_cnn as mt
from minitorch_cnn import nn
from minitorch_cnn.models.registry import create
from minitorch_cnn.nn import functional as F

BENCH = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
sys.path.insert(0, BENCH)
from common import PeakRSS, run_alternating, summarize  # noqa: E402
from torch_reference import TORCH_BUILDERS, StochasticDepth, copy_weights  # noqa: E402

CIFAR = {"vgg16_bn": True, "resnet20": False, "resnet56": False, "resnet18": True, "mobilenet_v2": True,
         "densenet_bc_100_12": False, "efficientnet_b0": True}


def build_pair(name):
    kwargs = dict(cifar=True) if CIFAR[name] else {}
    ours = create(name, num_classes=10, **kwargs)
    theirs = copy_weights(ours, TORCH_BUILDERS[name](10))
    return ours, theirs


def no_random_layers(ours, theirs):
    """Train mode (BatchNorm on batch statistics) without dropout or stochastic depth, the
    only layers whose random draws differ between the engines."""
    ours.train(), theirs.train()
    for m in ours.modules():
        if isinstance(m, (nn.Dropout, nn.StochasticDepth)):
            m.eval()
    for m in theirs.modules():
        if isinstance(m, (torch.nn.Dropout, StochasticDepth)):
            m.eval()


@pytest.mark.parametrize("name", list(TORCH_BUILDERS))
def test_torch_twin_gives_our_logits_and_gradients(name):
    ours, theirs = build_pair(name)
    own = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    twin = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert own == twin                                    # key for key, shape for shape

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    y = np.array([3, 7])

    ours.eval(), theirs.eval()
    with mt.no_grad():
        a = ours(mt.tensor(x)).data
    with torch.no_grad():
        b = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())

    # a training-mode forward and backward gives the same loss and weight gradients. In
    # float64: with batch statistics over 2 samples, float32 gradients of deep nets are
    # ill-conditioned (torch's own float32 and float64 gradients differ by up to 15%)
    ours.double(), theirs.double()
    no_random_layers(ours, theirs)
    x64 = x.astype(np.float64)
    loss = F.cross_entropy(ours(mt.tensor(x64)), mt.tensor(y))
    loss.backward()
    t_loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x64)),
                                               torch.from_numpy(y))
    t_loss.backward()
    np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=1e-10)
    # a gradient that is zero in exact arithmetic (the bias of a conv followed by BatchNorm)
    # is rounding noise on both sides: judge errors against the largest gradient
    grads = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    scale = max(np.abs(g).max() for g in grads.values())
    for key, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, grads[key], rtol=1e-6, atol=1e-9 * scale,
                                   err_msg=key)


def test_copy_weights_refuses_a_different_network():
    ours = create("resnet56", num_classes=10)
    with pytest.raises(RuntimeError, match="differs in its keys"):
        copy_weights(ours, TORCH_BUILDERS["vgg16_bn"](10))


def run_bench(*argv):
    cmd = [sys.executable, os.path.join(BENCH, "bench_models.py"), *argv]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def test_quick_run_writes_csv_png_and_table(tmp_path):
    out = run_bench("--quick", "--models", "resnet56", "--batch-size", "2", "--repeat", "2",
                    "--threads", "1", "--out", str(tmp_path))
    with open(tmp_path / "models_cpu_quick.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["model"] == "ResNet-56" and int(row["batch"]) == 2
    for kind in ("train", "infer"):
        ours, theirs = float(row[f"{kind}_ours_ms_median"]), float(row[f"{kind}_torch_ms_median"])
        assert ours > 0 and theirs > 0
        assert float(row[f"{kind}_ratio"]) == pytest.approx(theirs / ours)
        assert float(row[f"{kind}_ours_ms_min"]) <= ours <= float(row[f"{kind}_ours_ms_max"])
    assert float(row["max_dlogit"]) < 1e-3
    # activations of a ResNet-56 step at batch 2 take some MB; the RSS figure must see them
    assert 0.5 < float(row["mem_ours_mb"]) < 2000 and 0.5 < float(row["mem_torch_mb"]) < 2000
    assert (tmp_path / "models_cpu_quick.png").stat().st_size > 1000
    table = (tmp_path / "models_cpu_quick.md").read_text()
    assert "| ResNet-56 |" in table and "Machine: CPU:" in table
    assert "| ResNet-56 |" in out


def test_profile_names_the_ops(tmp_path):
    run_bench("--profile", "--quick", "--models", "resnet56", "--batch-size", "2",
              "--threads", "1", "--out", str(tmp_path))
    text = (tmp_path / "profile_resnet56.txt").read_text()
    assert "conv backward" in text and "batchnorm forward" in text
    assert "outside ops" in text and "cProfile" in text
    # each conv layer of ResNet-56, ours against torch's, with the ratio of their times
    rows = [l.split() for l in text.splitlines() if l.startswith("  16x32x32 -> 16, 3x3")]
    assert len(rows) == 1 and int(rows[0][4]) == 18          # 18 such layers in stage 1
    ours_ms, torch_ms = sum(map(float, rows[0][5:7])), sum(map(float, rows[0][7:9]))
    assert ours_ms > 0 and torch_ms > 0
    assert float(rows[0][9]) == pytest.approx(torch_ms / ours_ms, rel=0.05, abs=0.01)
    assert "all convs, per step" in text


# ------------------------------------------------------------------ the helpers
def test_summarize_gives_median_quartiles_and_extremes():
    s = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s["median"], s["q1"], s["q3"], s["min"], s["max"]) == (3.0, 2.0, 4.0, 1.0, 5.0)
    assert summarize([2.0])["q1"] == summarize([2.0])["q3"] == 2.0


def test_run_alternating_rotates_the_order_and_skips_warmup():
    calls = []
    times = run_alternating({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                            repeat=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert len(times["a"]) == len(times["b"]) == 3


def test_peak_rss_sees_a_temporary_array():
    # in a fresh process with malloc pinned to mmap, as the benchmark's memory runs are
    # (here, freed heap memory from earlier tests could be reused without the RSS growing)
    code = ("import numpy as np; from common import PeakRSS, pin_malloc_to_mmap\n"
            "assert pin_malloc_to_mmap()\n"
            "with PeakRSS() as idle: pass\n"
            "with PeakRSS() as rss:\n"
            "    a = np.ones(64 * 2**20 // 8); del a\n"   # 64 MiB, every page touched
            "print(idle.peak, rss.peak)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=BENCH, timeout=60)
    assert run.returncode == 0, run.stderr
    idle, peak = map(int, run.stdout.split())
    assert idle < 4 * 2**20
    assert 60 * 2**20 < peak < 80 * 2**20
