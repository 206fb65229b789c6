"""ResNet-20/56 training steps (batch 64, 2 threads) with today's winograd unit and with
the fused kernels of winograd_fused.py (beside this file) in its place for convs of at
most 32 channels, and PyTorch's ResNet-56, alternating in one process: median of
``--repeat`` rounds.

    python benchmarks/experiments/small_channel_steps.py [--repeat 5]
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..")]
from common import pin_threads, run_alternating  # noqa: E402

pin_threads(2)
import bench_models  # noqa: E402  (its Pair: our model, torch's twin, one batch)
import numba  # noqa: E402
import torch  # noqa: E402

import numpy as np  # noqa: E402
import winograd_fused as wf  # noqa: E402
from minitorch_cnn.fast import conv_winograd  # noqa: E402
from minitorch_cnn.functional import conv as conv_op  # noqa: E402


class FusedUnit:
    """A stand-in for fast/conv_winograd.py: the fused kernels where both channel counts
    are at most 32 (where the layer table shows them winning), conv_winograd elsewhere."""

    @staticmethod
    def forward(x, w, b, g, plan):
        if max(g.C, g.OC) > 32:
            return conv_winograd.forward(x, w, b, g, plan)
        U = np.ascontiguousarray(conv_winograd._filters(w, plan.tile))
        bias = b if b is not None else np.zeros(g.OC, dtype=x.dtype)
        return wf.winograd_fused_conv2d(x, U, bias, g, plan.tile)

    @staticmethod
    def backward(x, w, gy, g, plan, need_x, need_w):
        if max(g.C, g.OC) > 32 or not (need_x and need_w):
            return conv_winograd.backward(x, w, gy, g, plan, need_x, need_w)
        m = plan.tile
        Ut = np.ascontiguousarray(conv_winograd._filters(w, m).transpose(0, 2, 1))
        gx, gU = wf.winograd_fused_conv2d_backward(x, gy, Ut, g, m, True, True,
                                                   numba.get_num_threads())
        return gx, conv_winograd._filter_grad(gU, m)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(2)
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    bench_models.MODELS.setdefault("resnet20", (dict(), "ResNet-20"))
    for name in ("resnet20", "resnet56"):
        sides = ("ours", "torch") if name in bench_models.TORCH_BUILDERS else ("ours",)
        pair = bench_models.Pair(name, 64, sides=sides)
        pair.set_mode(True)

        def with_unit(unit):
            def step():
                conv_op.FAST_UNITS["winograd"] = unit
                try:
                    pair.train_ours()
                finally:
                    conv_op.FAST_UNITS["winograd"] = conv_winograd
            return step
        fns = {"winograd": with_unit(conv_winograd), "winograd_fused": with_unit(FusedUnit)}
        if "torch" in sides:
            fns["torch"] = pair.train_torch
        times = run_alternating(fns, args.repeat, 2, pause=0.05)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        line = f"{name}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in med.items())
        line += f"; fused gain {med['winograd'] / med['winograd_fused']:.2f}x"
        if "torch" in med:
            line += (f"; torch/ours {med['torch'] / med['winograd']:.2f} -> "
                     f"{med['torch'] / med['winograd_fused']:.2f}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
