"""Model by model: minitorch_cnn against PyTorch, the same network with the same weights.

For each network (VGG-16-BN, ResNet-56, ResNet-18, MobileNetV2, DenseNet-BC-100-12,
EfficientNet-B0, all in their CIFAR variants, 10 classes, 32x32 inputs) it measures

    training step   zero_grad, forward, cross-entropy, backward, SGD step (lr 0.01,
                    momentum 0.9, weight decay 5e-4), in train mode: ms per step
    inference       eval mode, no graph (``no_grad`` on both sides): images per second
    peak memory     of one training step, above the memory held before it (see below)

and prints torch_time / our_time (above 1: we are faster; 0.5: we take twice as long).

What makes the comparison fair
    Same network: ``torch_reference.py`` writes each one with torch.nn under torchvision's
    names; our freshly initialised state dict is copied in through NumPy, and before timing
    the eval-mode logits of both on the benchmark batch are compared (column "logit diff":
    max |ours - torch| / max |torch|).
    Same batch (N(0, 1) images, random labels, seed 0), same dtype (float32), same threads
    (our BLAS and Numba pools and torch's intra-op pool all get ``--threads``).
    Same process, alternating: round i runs ours then torch, round i+1 torch then ours, so
    load from other processes falls on both. Warm-up rounds (JIT compilation, first-touch
    page faults) are not timed. Reported: the median, and the spread as the interquartile
    range (q1-q3) in the table and q1, q3, min, max in the CSV.

Peak memory, measured the same way for both
    Each (model, engine) pair runs in a fresh child process that does one warm-up step,
    drops the gradients, then resets the kernel's resident-set high-water mark
    (/proc/self/clear_refs) and runs one more step; the figure is peak RSS minus RSS just
    before that step: activations kept for backward, gradients, scratch buffers. The weights
    and momentum buffers (identical on both sides) are in the baseline. glibc is told to
    return every freed block above 128 KiB to the OS (``mallopt``), so RSS follows the live
    data rather than the allocator's cache. Being read from the kernel, it counts every
    allocation: NumPy, torch's CPU allocator, BLAS and Numba buffers alike. For ours the CSV
    also has tracemalloc's peak of the same step (NumPy allocations only), as a cross-check.
    On the GPU: torch's ``max_memory_allocated`` against the bytes CuPy's pool hands out
    (a ``cupy.cuda.MemoryHook``), both above what was allocated before the step.

Usage
    python benchmarks/bench_models.py                        # all seven, CPU, batch 64
    python benchmarks/bench_models.py --quick                # batch 8, 2 rounds: smoke run
    python benchmarks/bench_models.py --models vgg16_bn resnet56 --repeat 5
    python benchmarks/bench_models.py --device cuda          # CuPy vs PyTorch CUDA, batch 128,
                                                             # one table TF32 off, one TF32 on
    python benchmarks/bench_models.py --profile --models vgg16_bn resnet56

On a machine shared with other jobs, prefer --threads 1: when another process holds a
core, a multi-threaded GEMM waits at every barrier for its descheduled thread (OpenBLAS'
GEMMs fell from ~60 to 0.5 GFLOP/s here with 2 threads on 2 busy cores, torch's too).

Writes ``models_<device>.csv``, ``.png`` (bar chart of the ratios) and ``.md`` (the table,
with the machine) to ``--out`` (benchmarks/results). ``--profile`` instead writes, per
model, a cProfile listing and a per-op table of our training step, and each conv layer's
time against PyTorch's, each timed inside its own step (``profile_<model>.txt``).
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # common, torch_reference

MODELS = {   # our builder name -> (its keyword arguments, the name in the table)
    "vgg16_bn": (dict(cifar=True), "VGG-16-BN"),
    "resnet20": (dict(), "ResNet-20"),
    "resnet56": (dict(), "ResNet-56"),
    "resnet18": (dict(cifar=True), "ResNet-18"),
    "mobilenet_v2": (dict(cifar=True), "MobileNetV2"),
    "densenet_bc_100_12": (dict(), "DenseNet-BC-100-12"),
    "efficientnet_b0": (dict(cifar=True), "EfficientNet-B0"),
}


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per batch (default 64 on cpu, 128 on cuda, 8 with --quick)")
    p.add_argument("--repeat", type=int, default=None,
                   help="timed rounds per measurement (default 5, 2 with --quick)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed rounds first (default 2, 1 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: small batch, few rounds")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--tf32", choices=["off", "on", "both"], default="both",
                   help="cuda only: TF32 matmuls/convs off, on, or one table each")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads for both engines (default: every core)")
    p.add_argument("--kernels", choices=["fast", "reference"], default="fast")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    p.add_argument("--profile", action="store_true",
                   help="profile our training step (cProfile, per-op times, conv layers "
                        "against PyTorch's) instead")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "results"))
    p.add_argument("--memory-child", choices=["ours", "torch"], help=argparse.SUPPRESS)
    return p


args = build_parser().parse_args() if __name__ == "__main__" else None
if args is not None:
    # Thread pools and CuPy's TF32 mode are fixed when NumPy / torch / CuPy load: set them
    # first. (A run with --tf32 both starts one child process per setting, see main.)
    from common import pin_threads, pin_malloc_to_mmap
    pin_threads(args.threads)
    os.environ["CUPY_TF32"] = "1" if args.tf32 == "on" else "0"
    if args.memory_child:
        pin_malloc_to_mmap()

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minitorch_cnn as mt  # noqa: E402
import minitorch_cnn.nn.functional as F  # noqa: E402
from minitorch_cnn import optim  # noqa: E402
from minitorch_cnn.models.registry import create  # noqa: E402

from common import (PeakRSS, device_sync, machine_description, run_alternating,  # noqa: E402
                    summarize)
from torch_reference import TORCH_BUILDERS, copy_weights  # noqa: E402

LR, MOMENTUM, WEIGHT_DECAY, NUM_CLASSES = 0.01, 0.9, 5e-4, 10


# --------------------------------------------------------------------- the two sides
class Pair:
    """Our model and its torch twin with the same weights, one batch, and a training step
    and an inference pass for each."""

    def __init__(self, name, batch_size, device="cpu", sides=("ours", "torch")):
        kwargs, self.title = MODELS[name]
        self.name, self.device = name, device
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch_size, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, NUM_CLASSES, batch_size)
        mt.manual_seed(0)
        torch.manual_seed(0)
        self.ours = create(name, num_classes=NUM_CLASSES, **kwargs).to(device)
        self.params = sum(p.data.size for p in self.ours.parameters())
        self.x_ours = mt.tensor(x, device=device)
        self.y_ours = mt.tensor(y, device=device)
        self.opt_ours = optim.SGD(self.ours.parameters(), lr=LR, momentum=MOMENTUM,
                                  weight_decay=WEIGHT_DECAY)
        if "torch" in sides:
            self.theirs = copy_weights(self.ours, TORCH_BUILDERS[name](NUM_CLASSES)).to(device)
            self.x_torch = torch.from_numpy(x).to(device)
            self.y_torch = torch.from_numpy(y).to(device)
            self.opt_torch = torch.optim.SGD(self.theirs.parameters(), lr=LR,
                                             momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        self.sides = sides

    def logit_difference(self):
        """max |ours - torch| over the eval-mode logits, relative to max |torch|."""
        self.ours.eval(), self.theirs.eval()
        with mt.no_grad():
            a = mt.backend.to_device(self.ours(self.x_ours).data, "cpu")
        with torch.no_grad():
            b = self.theirs(self.x_torch).cpu().numpy()
        return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))

    def train_ours(self):
        self.opt_ours.zero_grad()
        loss = F.cross_entropy(self.ours(self.x_ours), self.y_ours)
        loss.backward()
        self.opt_ours.step()

    def train_torch(self):
        self.opt_torch.zero_grad()
        loss = torch.nn.functional.cross_entropy(self.theirs(self.x_torch), self.y_torch)
        loss.backward()
        self.opt_torch.step()

    def infer_ours(self):
        with mt.no_grad():
            self.ours(self.x_ours)

    def infer_torch(self):
        with torch.no_grad():
            self.theirs(self.x_torch)

    def set_mode(self, train):
        for side in self.sides:
            (self.ours if side == "ours" else self.theirs).train(train)


# ------------------------------------------------------------------------ memory
def memory_child(a):
    """Runs in a child process: peak memory of one training step of one side."""
    name = a.models[0]
    pair = Pair(name, a.batch_size, "cpu", sides=(a.memory_child,))
    pair.set_mode(True)
    step = pair.train_ours if a.memory_child == "ours" else pair.train_torch
    step()                                                    # warm-up: JIT, optimizer state
    (pair.opt_ours if a.memory_child == "ours" else pair.opt_torch).zero_grad()
    with PeakRSS() as rss:
        step()
    out = {"rss": rss.peak}
    if a.memory_child == "ours":
        import tracemalloc
        pair.opt_ours.zero_grad()
        tracemalloc.start()
        step()
        out["tracemalloc"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print("MEMORY " + json.dumps(out))


def host_memory(name, a):
    """{"ours": bytes, "torch": bytes, "ours_tracemalloc": bytes} from two child runs."""
    result = {}
    for side in ("ours", "torch"):
        cmd = [sys.executable, os.path.abspath(__file__), "--models", name, "--batch-size",
               str(a.batch_size), "--threads", str(a.threads), "--kernels", a.kernels,
               "--memory-child", side]
        run = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in run.stdout.splitlines() if ln.startswith("MEMORY ")]
        if run.returncode != 0 or not lines:
            raise RuntimeError(f"memory run of {name} ({side}) failed:\n{run.stderr[-2000:]}")
        got = json.loads(lines[-1][len("MEMORY "):])
        result[side] = got["rss"]
        if "tracemalloc" in got:
            result["ours_tracemalloc"] = got["tracemalloc"]
    return result


def gpu_memory(pair):
    """Bytes allocated above the pre-step level during one training step, per side."""
    from minitorch_cnn.analysis.profile import device_memory_meter
    cp = mt.backend.xp_for("cuda")
    pair.opt_ours.zero_grad()
    hook = device_memory_meter()
    with hook:
        pair.train_ours()
        cp.cuda.Device().synchronize()
    pair.opt_torch.zero_grad()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    pair.train_torch()
    torch.cuda.synchronize()
    return {"ours": hook.peak, "torch": torch.cuda.max_memory_allocated() - base}


# ----------------------------------------------------------------------- one model
def bench_model(name, a):
    pair = Pair(name, a.batch_size, a.device)
    diff = pair.logit_difference()
    sync = device_sync(a.device)

    pair.set_mode(True)
    train = run_alternating({"ours": pair.train_ours, "torch": pair.train_torch},
                            a.repeat, a.warmup, sync)
    pair.set_mode(False)
    infer = run_alternating({"ours": pair.infer_ours, "torch": pair.infer_torch},
                            a.repeat, a.warmup, sync)

    row = {"model": pair.title, "builder": name, "params": pair.params, "device": a.device,
           "tf32": a.tf32 if a.device == "cuda" else "", "batch": a.batch_size,
           "threads": a.threads, "repeat": a.repeat, "max_dlogit": diff}
    for kind, times in (("train", train), ("infer", infer)):
        for side in ("ours", "torch"):
            s = summarize(times[side])
            for stat in ("median", "q1", "q3", "min", "max"):
                row[f"{kind}_{side}_ms_{stat}"] = 1e3 * s[stat]
        row[f"{kind}_ratio"] = row[f"{kind}_torch_ms_median"] / row[f"{kind}_ours_ms_median"]
    for side in ("ours", "torch"):
        row[f"infer_{side}_img_s"] = a.batch_size / (1e-3 * row[f"infer_{side}_ms_median"])

    if not a.no_memory:
        if a.device == "cuda":
            pair.set_mode(True)
            mem = gpu_memory(pair)
        else:
            del pair                               # give the memory back before the children
            mem = host_memory(name, a)
        row["mem_ours_mb"] = mem["ours"] / 2**20
        row["mem_torch_mb"] = mem["torch"] / 2**20
        row["mem_ratio"] = mem["ours"] / max(mem["torch"], 1)
        if "ours_tracemalloc" in mem:
            row["mem_ours_tracemalloc_mb"] = mem["ours_tracemalloc"] / 2**20
    return row


# ------------------------------------------------------------------------- output
def markdown_table(rows, a):
    has_mem = any("mem_ratio" in r for r in rows)
    head = ["model", "params", "train ms/step ours", "torch", "**torch/ours**",
            "infer img/s ours", "torch", "**torch/ours**"]
    if has_mem:
        head += ["step peak MB ours", "torch", "ours/torch"]
    head.append("logit diff")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def ms(r, kind, side):
        return (f"{r[f'{kind}_{side}_ms_median']:.0f} "
                f"({r[f'{kind}_{side}_ms_q1']:.0f}-{r[f'{kind}_{side}_ms_q3']:.0f})")

    for r in rows:
        cells = [r["model"], f"{r['params'] / 1e6:.2f}M", ms(r, "train", "ours"),
                 ms(r, "train", "torch"), f"**{r['train_ratio']:.2f}**",
                 f"{r['infer_ours_img_s']:.0f}", f"{r['infer_torch_img_s']:.0f}",
                 f"**{r['infer_ratio']:.2f}**"]
        if has_mem:
            cells += ([f"{r['mem_ours_mb']:.0f}", f"{r['mem_torch_mb']:.0f}",
                       f"{r['mem_ratio']:.2f}"] if "mem_ratio" in r else ["", "", ""])
        cells.append(f"{r['max_dlogit']:.0e}")
        lines.append("| " + " | ".join(cells) + " |")
    setting = (f"batch {a.batch_size}, 32x32 inputs, float32, median of {a.repeat} "
               f"alternating rounds after {a.warmup} warm-up (interquartile range in "
               f"parentheses), kernels={a.kernels}")
    if a.device == "cuda":
        setting += f", TF32 {'allowed' if a.tf32 == 'on' else 'off'} on both sides"
    machine = "; ".join(machine_description(a.threads, a.device))
    return "\n".join([f"{setting}.", f"Machine: {machine}.", ""] + lines)


def write_csv(rows, path):
    import csv
    fields = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def plot(rows, path, title):
    """Left: torch_time / our_time for training and inference (1 = parity, higher is
    better for us). Right: our peak step memory / torch's (lower is better for us)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["model"] for r in rows]
    at = np.arange(len(rows))
    has_mem = all("mem_ratio" in r for r in rows)
    fig, axes = plt.subplots(1, 2 if has_mem else 1, figsize=(13 if has_mem else 8, 4.5),
                             squeeze=False)
    ax = axes[0][0]
    for shift, kind, label in ((-0.2, "train", "training step"), (0.2, "infer", "inference")):
        bars = ax.bar(at + shift, [r[f"{kind}_ratio"] for r in rows], 0.4, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(at, names, rotation=25, ha="right")
    ax.set_ylabel("torch time / our time  (>1: ours faster)")
    ax.set_title("speed")
    ax.legend()
    if has_mem:
        ax = axes[0][1]
        bars = ax.bar(at, [r["mem_ratio"] for r in rows], 0.5, color="tab:green")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xticks(at, names, rotation=25, ha="right")
        ax.set_ylabel("our peak / torch peak  (<1: ours smaller)")
        ax.set_title("training-step peak memory")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------ profile
# Each op (a Function subclass) falls in one bucket, by the first keyword in its name.
CATEGORIES = [("conv", ("Conv",)), ("batchnorm", ("BatchNorm", "Norm")),
              ("pooling", ("Pool",)), ("linear/matmul", ("Linear", "MatMul")),
              ("loss", ("CrossEntropy", "NLL", "LogSoftmax", "Softmax")),
              ("activation", ("ReLU", "SiLU", "Sigmoid", "Tanh", "Hardswish", "Hardsigmoid",
                              "Dropout", "DropPath")),
              ("elementwise", ("Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log",
                               "Sqrt", "Abs", "Clip")),
              ("shape/copy", ("Pad", "Cat", "Reshape", "View", "Flatten", "GetItem", "Index",
                              "Transpose", "Permute", "Slice", "Stack", "Copy", "Expand"))]


def category(op_name):
    if op_name.startswith(("kernel ", "GEMM")):
        return op_name
    for cat, words in CATEGORIES:
        if any(w in op_name for w in words):
            return cat
    return "other"


class OpTimer:
    """Exclusive wall time of every op's forward and backward, by op class, and of the
    kernels and GEMMs inside them.

    While active (``with OpTimer() as t``), these are wrapped by timers, put back on exit:
    the ``forward``/``backward`` of every Function subclass; every dispatch function of
    ``minitorch_cnn.kernels`` (im2col, col2im, winograd_*, depthwise_*, pooling); and
    ``numpy.matmul``, which catches the GEMMs called as ``xp.matmul(...)`` (those written
    as ``a @ b`` stay in their op's own time). Each timed call is charged only for its own
    time: what nested timed calls took is subtracted, so DenseNet's Checkpoint op is not
    counted twice and a conv's own time excludes its im2col. A kernel or GEMM is filed
    under the phase (forward/backward) of the op that called it.
    """

    def __init__(self):
        from minitorch_cnn.autograd import Function
        from minitorch_cnn import kernels
        classes, todo = [], [Function]
        while todo:
            c = todo.pop()
            classes.append(c)
            todo.extend(c.__subclasses__())
        self.classes = classes
        self.kernel_module = kernels
        self.kernel_names = [n for n, f in vars(kernels).items()
                             if callable(f) and not n.startswith("_") and n != "tier"
                             and getattr(f, "__module__", None) == kernels.__name__]
        self.times, self.calls = {}, {}
        self.stack = []        # per open timed call: [time of nested timed calls, phase]

    def _timed(self, fn, label, phase):
        """``fn`` wrapped: its own time goes to (label or the op's class name, phase or the
        enclosing op's phase)."""
        import time

        def timed_call(*a, **kw):
            own_phase = phase or (self.stack[-1][1] if self.stack else "outside ops")
            self.stack.append([0.0, own_phase])
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                total = time.perf_counter() - t0
                nested = self.stack.pop()[0]
                if self.stack:
                    self.stack[-1][0] += total
                key = (label or type(a[0]).__name__, own_phase)
                self.times[key] = self.times.get(key, 0.0) + total - nested
                self.calls[key] = self.calls.get(key, 0) + 1
        return timed_call

    def __enter__(self):
        self.saved = []
        for c in self.classes:
            for phase in ("forward", "backward"):
                if phase in c.__dict__:
                    self.saved.append((c, phase, c.__dict__[phase]))
                    setattr(c, phase, self._timed(c.__dict__[phase], None, phase))
        for name in self.kernel_names:
            fn = getattr(self.kernel_module, name)
            self.saved.append((self.kernel_module, name, fn))
            setattr(self.kernel_module, name, self._timed(fn, f"kernel {name}", None))
        self.saved.append((np, "matmul", np.matmul))
        np.matmul = self._timed(np.matmul, "GEMM (xp.matmul)", None)
        return self

    def __exit__(self, *exc):
        for owner, name, fn in reversed(self.saved):
            setattr(owner, name, fn)


def conv_layers(pair, steps):
    """Per conv layer shape, ms per call of forward and of backward, ours and PyTorch's,
    each timed inside its own training steps: {(C, H, W, OC, KH, KW): {(side, phase):
    [total seconds, calls]}}. Ours: Conv2d.forward/backward wrapped with timers (the
    kernels and GEMMs inside included); PyTorch's: torch.profiler's total CPU time of
    aten::convolution and aten::convolution_backward, grouped by input shapes. Strides
    are not told apart (the shapes are the key)."""
    import time
    from torch.profiler import ProfilerActivity, profile

    from minitorch_cnn.functional import conv as conv_module

    table = {}

    def layer_key(x_shape, w_shape):                # (C, H, W, OC, KH, KW)
        return tuple(x_shape[1:]) + (w_shape[0],) + tuple(w_shape[2:])

    def add(key, side, phase, seconds, calls=1):
        entry = table.setdefault(key, {}).setdefault((side, phase), [0.0, 0])
        entry[0] += seconds
        entry[1] += calls

    forward, backward = conv_module.Conv2d.forward, conv_module.Conv2d.backward

    def timed_forward(self, x, w, *args, **kwargs):
        t0 = time.perf_counter()
        y = forward(self, x, w, *args, **kwargs)
        self.layer_key = layer_key(x.shape, w.shape)
        add(self.layer_key, "ours", "forward", time.perf_counter() - t0)
        return y

    def timed_backward(self, gy):
        t0 = time.perf_counter()
        grads = backward(self, gy)
        add(self.layer_key, "ours", "backward", time.perf_counter() - t0)
        return grads

    conv_module.Conv2d.forward, conv_module.Conv2d.backward = timed_forward, timed_backward
    try:
        for _ in range(steps):
            pair.train_ours()
    finally:
        conv_module.Conv2d.forward, conv_module.Conv2d.backward = forward, backward

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            pair.train_torch()
    for event in prof.key_averages(group_by_input_shape=True):
        if event.key not in ("aten::convolution", "aten::convolution_backward"):
            continue
        shapes = event.input_shapes        # forward: (x, w, ...); backward: (gy, x, w, ...)
        x, w = (shapes[0], shapes[1]) if event.key == "aten::convolution" else shapes[1:3]
        phase = "forward" if event.key == "aten::convolution" else "backward"
        add(layer_key(x, w), "torch", phase, event.cpu_time_total * 1e-6, event.count)
    return table


def conv_layers_report(table, steps):
    """The lines of conv_layers' table, the costliest layer shape first."""
    def ms(entry, side, phase):
        seconds, calls = entry.get((side, phase), (0.0, 0))
        return 1e3 * seconds / calls if calls else float("nan")

    out = ["", f"Conv layers, each engine timed inside {steps} of its own training steps",
           "(ours: the Conv2d op with its kernels and GEMMs; PyTorch: torch.profiler,",
           "aten::convolution and aten::convolution_backward), mean ms per call:",
           f"  {'input C x H x W -> OC, kernel':<32}{'calls':>6}{'ours fwd':>10}{'bwd':>8}"
           f"{'torch fwd':>11}{'bwd':>8}{'torch/ours':>12}"]
    totals = {"ours": 0.0, "torch": 0.0}

    def per_step(entry, side):
        return sum(entry.get((side, ph), (0.0, 0))[0] for ph in ("forward", "backward")) / steps

    for key, entry in sorted(table.items(), key=lambda kv: -per_step(kv[1], "ours")):
        C, H, W, OC, KH, KW = key
        calls = entry.get(("ours", "forward"), (0.0, 0))[1] // steps
        row = [ms(entry, s, ph) for s in ("ours", "torch") for ph in ("forward", "backward")]
        ratio = (row[2] + row[3]) / (row[0] + row[1])
        for side in totals:
            totals[side] += per_step(entry, side)
        out.append(f"  {f'{C}x{H}x{W} -> {OC}, {KH}x{KW}':<32}{calls:>6}{row[0]:>10.2f}"
                   f"{row[1]:>8.2f}{row[2]:>11.2f}{row[3]:>8.2f}{ratio:>12.2f}")
    out.append(f"  all convs, per step: ours {1e3 * totals['ours']:.0f} ms, "
               f"PyTorch {1e3 * totals['torch']:.0f} ms")
    return out


def profile_model(name, a, steps=2):
    """Text report of where our training step's time goes (see ``--profile``), and our
    conv layers against PyTorch's."""
    import cProfile
    import io
    import pstats
    import time

    pair = Pair(name, a.batch_size, "cpu")
    pair.set_mode(True)
    model, opt, x, y = pair.ours, pair.opt_ours, pair.x_ours, pair.y_ours
    for _ in range(a.warmup):
        pair.train_ours()
        pair.train_torch()

    phases = {"forward + loss": [], "backward": [], "optimizer step": [], "step": []}

    def step():
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            phases[k].append(v)

    def run(n, stat):
        for v in phases.values():
            v.clear()
        for _ in range(n):
            step()
        return {k: stat(v) for k, v in phases.items()}

    plain = run(a.repeat, lambda v: summarize(v)["median"])    # the reference step time
    with OpTimer() as ops:          # per-op exclusive times, summed: compare with means
        timed = run(steps, lambda v: sum(v) / len(v))
    prof = cProfile.Profile()
    prof.enable()
    run(steps, len)
    prof.disable()

    out = [f"{pair.title} training step, batch {a.batch_size}, {a.threads} threads, "
           f"kernels={a.kernels}", "", f"Phases (median of {a.repeat} plain steps):"]
    for k, v in plain.items():
        out.append(f"  {k:<16} {1e3 * v:9.1f} ms  {100 * v / plain['step']:5.1f}%")

    cats = {}
    for (op, phase), t in ops.times.items():
        key = (category(op), phase)
        cats[key] = cats.get(key, 0.0) + t / steps
    # the time outside every op: Module.__call__ and forward code, Function.apply (Tensor
    # wrapping, graph recording), the backward walk, gradient accumulation, zero_grad
    rest = timed["step"] - sum(cats.values()) - timed["optimizer step"]
    total = timed["step"]
    out += ["", f"Per category (exclusive time, mean of {steps} steps of {1e3 * total:.1f} ms "
            f"under the op timers, which add a little):"]
    rows = [(f"{cat} {phase}", t) for (cat, phase), t in cats.items()]
    rows += [("optimizer step (no ops)", timed["optimizer step"]),
             ("outside ops (engine, modules, Python)", rest)]
    for label, t in sorted(rows, key=lambda r: -r[1]):
        out.append(f"  {label:<54} {1e3 * t:9.1f} ms  {100 * t / total:5.1f}%")
    out += ["  (an op category is the op's own time, without the kernels and xp.matmul GEMMs",
            "   listed separately: for conv that leaves the GEMMs written as a @ b, layout",
            "   copies and filter transforms)"]

    out += ["", "Per op (exclusive, per step):",
            f"  {'op':<44}{'phase':<10}{'calls':>6}{'ms':>10}{'%':>7}"]
    for (op, phase), t in sorted(ops.times.items(), key=lambda kv: -kv[1]):
        t /= steps
        out.append(f"  {op:<44}{phase:<10}{ops.calls[(op, phase)] // steps:>6}"
                   f"{1e3 * t:>10.1f}{100 * t / total:>7.1f}")

    out += conv_layers_report(conv_layers(pair, a.repeat), a.repeat)

    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(35)
    out += ["", f"cProfile of {steps} steps, by own time (tottime), top 35:",
            buf.getvalue()]
    return "\n".join(out)


def profile_models(a):
    os.makedirs(a.out, exist_ok=True)
    mt.set_kernels(a.kernels)
    for name in a.models:
        text = profile_model(name, a)
        path = os.path.join(a.out, f"profile_{name}.txt")
        with open(path, "w") as f:
            f.write(text + "\n")
        print(text[:text.index("cProfile of")])
        print(f"written: {path}")


# --------------------------------------------------------------------------- main
def set_threads(a):
    torch.set_num_threads(a.threads)
    mt.set_num_threads(a.threads)     # after the kernels chose their threading layer


def run_table(a):
    set_threads(a)
    if a.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
    mt.set_kernels(a.kernels)
    rows = []
    for name in a.models:
        print(f"{MODELS[name][1]} ...", flush=True)
        row = bench_model(name, a)
        rows.append(row)
        print(f"  train {row['train_ours_ms_median']:.0f} ms (ours) vs "
              f"{row['train_torch_ms_median']:.0f} ms (torch): torch/ours = "
              f"{row['train_ratio']:.2f};  inference torch/ours = {row['infer_ratio']:.2f}"
              + (f";  memory ours/torch = {row['mem_ratio']:.2f}" if "mem_ratio" in row
                 else ""), flush=True)

    os.makedirs(a.out, exist_ok=True)
    stem = f"models_{a.device}" + (f"_tf32{a.tf32}" if a.device == "cuda" else "")
    if a.quick:
        stem += "_quick"
    write_csv(rows, os.path.join(a.out, stem + ".csv"))
    table = markdown_table(rows, a)
    title = (f"minitorch_cnn vs PyTorch {torch.__version__}, {a.device}, batch "
             f"{a.batch_size}" + (f", TF32 {a.tf32}" if a.device == "cuda" else ""))
    plot(rows, os.path.join(a.out, stem + ".png"), title)
    with open(os.path.join(a.out, stem + ".md"), "w") as f:
        f.write(table + "\n")
    print()
    print(table)
    print(f"\nwritten: {os.path.join(a.out, stem)}.csv/.png/.md")


def main(a):
    if a.batch_size is None:
        a.batch_size = 8 if a.quick else (128 if a.device == "cuda" else 64)
    if a.repeat is None:
        a.repeat = 2 if a.quick else 5
    if a.warmup is None:
        a.warmup = 1 if a.quick else 2
    if a.memory_child:
        return memory_child(a)
    if a.profile:
        set_threads(a)
        return profile_models(a)
    if a.device == "cuda" and a.tf32 == "both":
        # CuPy reads CUPY_TF32 once per process: one child process per setting
        for setting in ("off", "on"):
            argv = [x for x in sys.argv[1:]]
            subprocess.run([sys.executable, os.path.abspath(__file__), *argv,
                            "--tf32", setting], check=True)
        return
    run_table(a)


if __name__ == "__main__":
    main(args)
