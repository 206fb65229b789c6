"""Op by op: our conv2d, pooling and batch norm against torch.nn.functional, forward + backward.

For each case it times one training-style call, ``y = op(x, ...); y.backward(dy)``
(every input that has a gradient gets it: x, and weight and bias where there are
any), on both engines, and prints torch_time / our_time: above 1 we are faster.

The conv shapes are the issue's six, (N, C_in, H=W, C_out, kernel, stride, groups),
padding kernel // 2:
    (64, 64, 32, 64, 3, 1, 1)    (64, 128, 16, 128, 3, 1, 1)    (64, 256, 8, 256, 3, 1, 1)
    (64, 64, 32, 128, 3, 2, 1)   (64, 96, 16, 576, 1, 1, 1)     (64, 144, 16, 144, 3, 1, 144)
and the headline is their geometric-mean ratio. Pooling, batch norm and LRN follow.

Fair comparison: same process, same float32 inputs, same threads (our BLAS and Numba
pools and torch's intra-op pool all get ``--threads``), measurements alternated round
by round (ours-torch, then torch-ours) so that load from other processes falls on both,
warm-up rounds (Numba compilation, first-touch page faults) untimed; the median is
reported, and the interquartile range in the CSV. A pause (``--pause``, 0.2 s) comes
before every timed call: thread pools keep spinning for a while after their last job
(torch's OpenMP threads for milliseconds, OpenBLAS's up to ~0.1 s), and without the
pause each engine would start while the other one's threads still hold the cores.

Usage
    python benchmarks/bench_ops.py                      # everything, CPU, batch 64
    python benchmarks/bench_ops.py --only conv --repeat 15
    python benchmarks/bench_ops.py --kernels reference  # the plain NumPy tier ("before")
    python benchmarks/bench_ops.py --quick              # batch 8, 2 rounds: smoke run
The table is written to benchmarks/results/ops_<device>[_<kernels>][_quick].csv and .md.
"""
import argparse
import math
import os
import sys
import time


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=["conv", "pool", "norm"],
                   default=["conv", "pool", "norm"], help="which groups of ops to time")
    p.add_argument("--batch-size", type=int, default=None,
                   help="N of every case (default 64, 8 with --quick)")
    p.add_argument("--repeat", type=int, default=None,
                   help="timed rounds per case (default 9, 2 with --quick)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed rounds first (default 2, 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="a smoke run: small batch, few rounds")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads for both engines (default: every core)")
    p.add_argument("--kernels", choices=["fast", "reference"], default="fast")
    p.add_argument("--pause", type=float, default=0.2,
                   help="seconds of idle before each timed call (see above)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "results"))
    return p


args = build_parser().parse_args() if __name__ == "__main__" else None
if args is not None:
    # BLAS, OpenMP and Numba size their thread pools when they load: pin them first.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import pin_threads
    pin_threads(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minitorch_cnn as mt  # noqa: E402
import minitorch_cnn.nn.functional as F  # noqa: E402

from common import (device_sync, machine_description, run_alternating,  # noqa: E402
                    summarize)

CONV_SHAPES = [(64, 64, 32, 64, 3, 1, 1), (64, 128, 16, 128, 3, 1, 1),
               (64, 256, 8, 256, 3, 1, 1), (64, 64, 32, 128, 3, 2, 1),
               (64, 96, 16, 576, 1, 1, 1), (64, 144, 16, 144, 3, 1, 144)]


class Case:
    """One op on one shape: the same random float32 inputs for both engines, and a
    forward + backward step for each."""

    def __init__(self, group, name, shapes, ours, theirs, device, grad_mask=None):
        rng = np.random.default_rng(0)
        self.group, self.name = group, name
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        mask = grad_mask or [True] * len(arrays)
        self.ours_in = [mt.tensor(a, requires_grad=g, device=device)
                        for a, g in zip(arrays, mask)]
        tdev = "cuda" if device == "cuda" and torch.cuda.is_available() else "cpu"
        self.torch_in = [torch.tensor(a, requires_grad=g, device=tdev)
                         for a, g in zip(arrays, mask)]
        self.ours, self.theirs = ours, theirs
        y = theirs(*self.torch_in)
        dy = rng.standard_normal(tuple(y.shape)).astype(np.float32)
        self.dy_ours, self.dy_torch = mt.tensor(dy, device=device), torch.tensor(dy, device=tdev)

    def step_ours(self):
        for t in self.ours_in:
            t.grad = None
        self.ours(*self.ours_in).backward(self.dy_ours)

    def step_torch(self):
        for t in self.torch_in:
            t.grad = None
        self.theirs(*self.torch_in).backward(self.dy_torch)


def cases(a):
    N, dev = a.batch_size, a.device
    out = []
    if "conv" in a.only:
        for (_, C, H, OC, k, s, g) in CONV_SHAPES:
            name = f"conv2d {C}x{H}x{H} -> {OC}, {k}x{k}/{s}" + (f", groups {g}" if g > 1 else "")
            out.append(Case("conv", name, [(N, C, H, H), (OC, C // g, k, k), (OC,)],
                            lambda x, w, b, s=s, k=k, g=g: F.conv2d(x, w, b, s, k // 2, 1, g),
                            lambda x, w, b, s=s, k=k, g=g: torch.nn.functional.conv2d(
                                x, w, b, s, k // 2, 1, g), dev))
    if "pool" in a.only:
        for (C, H, k, s, p) in [(64, 32, 2, 2, 0), (64, 32, 3, 2, 1), (192, 16, 3, 1, 1)]:
            out.append(Case("pool", f"max_pool2d {C}x{H}x{H}, {k}x{k}/{s} pad {p}",
                            [(N, C, H, H)],
                            lambda x, k=k, s=s, p=p: F.max_pool2d(x, k, s, p),
                            lambda x, k=k, s=s, p=p: torch.nn.functional.max_pool2d(x, k, s, p),
                            dev))
        out.append(Case("pool", "avg_pool2d 128x16x16, 3x3/1 pad 1", [(N, 128, 16, 16)],
                        lambda x: F.avg_pool2d(x, 3, 1, 1),
                        lambda x: torch.nn.functional.avg_pool2d(x, 3, 1, 1), dev))
        out.append(Case("pool", "adaptive_avg_pool2d 512x8x8 -> 1x1", [(N, 512, 8, 8)],
                        lambda x: F.adaptive_avg_pool2d(x, 1),
                        lambda x: torch.nn.functional.adaptive_avg_pool2d(x, 1), dev))
    if "norm" in a.only:
        for (C, H) in [(64, 32), (256, 8)]:
            rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
            out.append(Case(
                "norm", f"batch_norm (train) {C}x{H}x{H}", [(N, C, H, H), (C,), (C,)],
                lambda x, w, b, rm=rm, rv=rv: F.batch_norm(
                    x, mt.tensor(rm, device=dev), mt.tensor(rv, device=dev), w, b, True),
                lambda x, w, b, rm=rm, rv=rv: torch.nn.functional.batch_norm(
                    x, torch.tensor(rm, device=x.device), torch.tensor(rv, device=x.device),
                    w, b, True), dev))
        out.append(Case("norm", "local_response_norm 96x16x16, size 5", [(N, 96, 16, 16)],
                        lambda x: F.local_response_norm(x, 5, 1e-4, 0.75, 2.0),
                        lambda x: torch.nn.functional.local_response_norm(x, 5, 1e-4, 0.75, 2.0),
                        dev))
    return out


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main(a):
    if a.batch_size is None:
        a.batch_size = 8 if a.quick else 64
    if a.repeat is None:
        a.repeat = 2 if a.quick else 9
    if a.warmup is None:
        a.warmup = 1 if a.quick else 2
    torch.set_num_threads(a.threads)
    mt.set_num_threads(a.threads)     # after the kernels chose their threading layer
    mt.set_kernels(a.kernels)
    print("\n".join(machine_description(a.threads, a.device)))
    print(f"kernels: {a.kernels}, batch {a.batch_size}, {a.repeat} rounds, medians\n")

    rows = []
    header = f"| {'op':<44} | ours ms | torch ms | torch/ours |"
    print(header + "\n|" + "-" * 46 + "|---------|----------|------------|", flush=True)
    for case in cases(a):
        times = run_alternating({"ours": case.step_ours, "torch": case.step_torch},
                                a.repeat, a.warmup, device_sync(a.device), pause=a.pause)
        ours, theirs = summarize(times["ours"]), summarize(times["torch"])
        row = {"group": case.group, "op": case.name, "ratio": theirs["median"] / ours["median"]}
        for side, st in (("ours", ours), ("torch", theirs)):
            for k in ("median", "q1", "q3", "min", "max"):
                row[f"{side}_ms_{k}"] = st[k] * 1e3
        rows.append(row)
        print(f"| {case.name:<44} | {row['ours_ms_median']:7.1f} | {row['torch_ms_median']:8.1f}"
              f" | {row['ratio']:10.2f} |", flush=True)

    lines = []
    for group in ("conv", "pool", "norm"):
        ratios = [r["ratio"] for r in rows if r["group"] == group]
        if ratios:
            lines.append(f"geometric mean torch/ours, {group}: {geomean(ratios):.2f}")
    lines.append(f"geometric mean torch/ours, all: {geomean([r['ratio'] for r in rows]):.2f}")
    print("\n" + "\n".join(lines))

    os.makedirs(a.out, exist_ok=True)
    stem = f"ops_{a.device}" + ("" if a.kernels == "fast" else f"_{a.kernels}") + \
        ("_quick" if a.quick else "")
    keys = list(rows[0])
    with open(os.path.join(a.out, stem + ".csv"), "w") as f:
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join(f"{r[k]:.4f}" if isinstance(r[k], float) else f'"{r[k]}"'
                             for k in keys) + "\n")
    with open(os.path.join(a.out, stem + ".md"), "w") as f:
        f.write(f"kernels {a.kernels}, batch {a.batch_size}, {a.threads} threads, "
                f"median of {a.repeat} alternating rounds\n\n")
        f.write("| op | ours ms | torch ms | torch/ours |\n|---|---:|---:|---:|\n")
        for r in rows:
            f.write(f"| {r['op']} | {r['ours_ms_median']:.1f} | {r['torch_ms_median']:.1f} | "
                    f"{r['ratio']:.2f} |\n")
        f.write("\n" + "\n".join(lines) + "\n")
    print(f"\nwritten: {os.path.join(a.out, stem)}.csv/.md")


if __name__ == "__main__":
    main(args)
