"""Small-channel 3x3 convs (the CIFAR ResNets' layers): today's fast path against two
candidates and PyTorch, layer by layer (issue 23, "Speed round 3").

    python benchmarks/experiments/small_channel_conv.py [--repeat 9] [--batch 64]
    SMALL_CONV_THREADS=1 python benchmarks/experiments/small_channel_conv.py   # 1 thread

For each ResNet-20/56 layer shape (16ch@32x32, 32ch@16x16, 64ch@8x8, 3x3, stride 1,
padding 1, batch 64, float32), in one process, 2 threads for torch and for Numba,
the candidates interleaved round by round (the machine is shared), median of
``--repeat`` rounds after a warm-up:

    winograd        today's unit (fast/conv_winograd.py): each transform over a block of
                    samples, an (a*a, tiles, C) array in memory between the steps, BLAS
                    for the a*a products
    winograd_fused  winograd_fused.py beside this file: transform, products and inverse
                    transform per sample inside one prange loop, in cache; the products
                    by BLAS sgemm called from Numba (SciPy's), or ("fused-loops") by
                    Numba loops along the output channels
    direct          a direct convolution, channels last, the output channels as the
                    vector (forward only: a first look; the layout turns included)
    torch           torch.nn.functional.conv2d (and its autograd backward)

fwd = forward only; f+b = forward and backward (dx and dw). Times in ms; the ratio
columns are torch/ours (above 1: ours is faster).
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..")]
from common import pin_threads, run_alternating  # noqa: E402

THREADS = int(os.environ.get("SMALL_CONV_THREADS", "2"))
pin_threads(THREADS)        # BLAS, OpenMP and Numba pools sized before numpy/torch load

import numpy as np  # noqa: E402
import torch  # noqa: E402
import numba  # noqa: E402
from numba import njit, prange  # noqa: E402

from minitorch_cnn import fast  # noqa: E402
from minitorch_cnn.fast import conv_winograd  # noqa: E402
from minitorch_cnn.functional.geometry import conv_geometry  # noqa: E402
import winograd_fused as wf  # noqa: E402  (beside this file)

SHAPES = [(16, 32), (32, 16), (64, 8)]            # (channels, map side) of ResNet-20/56


@njit(parallel=True, fastmath=True, cache=True)
def _direct_forward(xp, w, y):
    """y[n, oh, ow, :] = sum_{kh, kw, c} xp[n, oh+kh, ow+kw, c] * w[kh, kw, c, :]:
    xp (N, H+2, W+2, C) padded, channels last; w (3, 3, C, OC); y (N, OH, OW, OC)."""
    N, OH, OW, OC = y.shape
    C = xp.shape[3]
    for n in prange(N):
        for oh in range(OH):
            acc = np.zeros((OW, OC), dtype=y.dtype)       # one output row, in L1
            for kh in range(3):
                for kw in range(3):
                    for ow in range(OW):
                        xrow, out = xp[n, oh + kh, ow + kw], acc[ow]
                        for c in range(C):
                            v, wr = xrow[c], w[kh, kw, c]
                            for o in range(OC):
                                out[o] += v * wr[o]
            y[n, oh] = acc


def direct_forward(x, w_cl):
    """NCHW in, NCHW out, as the net needs: pad and turn channels last, convolve, turn back."""
    N, C, H, W = x.shape
    xp = np.zeros((N, H + 2, W + 2, C), dtype=x.dtype)
    xp[:, 1:-1, 1:-1] = x.transpose(0, 2, 3, 1)
    y = np.empty((N, H, W, w_cl.shape[3]), dtype=x.dtype)
    _direct_forward(xp, w_cl, y)
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def fused_forward(x, w, b, g, m, blas=True):
    U = np.ascontiguousarray(conv_winograd._filters(w, m))
    return wf.winograd_fused_conv2d(x, U, b, g, m, blas)


def fused_backward(x, w, gy, g, m, blas=True):
    Ut = np.ascontiguousarray(conv_winograd._filters(w, m).transpose(0, 2, 1))
    gx, gU = wf.winograd_fused_conv2d_backward(x, gy, Ut, g, m, True, True,
                                               numba.get_num_threads(), blas)
    return gx, conv_winograd._filter_grad(gU, m)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=9)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--pause", type=float, default=0.02, help="seconds before each call")
    args = p.parse_args()
    torch.set_num_threads(THREADS)
    numba.set_num_threads(min(THREADS, numba.config.NUMBA_NUM_THREADS))
    rng = np.random.default_rng(0)
    rows = []
    for C, S in SHAPES:
        x = rng.standard_normal((args.batch, C, S, S)).astype(np.float32)
        w = (rng.standard_normal((C, C, 3, 3)) * 0.1).astype(np.float32)
        b = np.zeros(C, np.float32)
        gy = rng.standard_normal(x.shape).astype(np.float32)
        g = conv_geometry(x.shape, w.shape, (1, 1), (1, 1), (1, 1), 1)
        plan = fast.choose_conv(g)
        m = plan.tile if plan.algorithm == "winograd" else fast.winograd_tile(S, S)
        wplan = fast.Plan("winograd", "numba", None, m)
        w_cl = np.ascontiguousarray(w.transpose(2, 3, 1, 0))
        xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
        bt, gyt = torch.from_numpy(b).requires_grad_(), torch.from_numpy(gy)

        def torch_fwd():
            with torch.no_grad():
                torch.nn.functional.conv2d(xt, wt, bt, padding=1)

        def torch_fb():
            xt.grad = wt.grad = bt.grad = None
            torch.nn.functional.conv2d(xt, wt, bt, padding=1).backward(gyt)

        cases = {
            "winograd fwd": lambda: conv_winograd.forward(x, w, b, g, wplan),
            "winograd f+b": lambda: (conv_winograd.forward(x, w, b, g, wplan),
                                     conv_winograd.backward(x, w, gy, g, wplan, True, True)),
            "fused fwd": lambda: fused_forward(x, w, b, g, m),
            "fused f+b": lambda: (fused_forward(x, w, b, g, m), fused_backward(x, w, gy, g, m)),
            "fused-loops f+b": lambda: (fused_forward(x, w, b, g, m, False),
                                        fused_backward(x, w, gy, g, m, False)),
            "direct fwd": lambda: direct_forward(x, w_cl),
            "torch fwd": torch_fwd,
            "torch f+b": torch_fb,
        }
        # the same numbers first
        ref = torch.nn.functional.conv2d(xt, wt, bt, padding=1).detach().numpy()
        for name, f in (("fused", lambda: fused_forward(x, w, b, g, m)),
                        ("direct", lambda: direct_forward(x, w_cl))):
            err = np.abs(f() - ref).max() / np.abs(ref).max()
            assert err < 1e-4, (name, C, S, err)
        # interleaved rounds, the order rotated each round, after 2 warm-up rounds; a short
        # pause before each call lets the previous engine's thread pool fall asleep
        times = run_alternating(cases, args.repeat, 2, pause=args.pause)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        rows.append((f"{C}ch@{S}x{S} F({m}x{m})", med))
    print(f"batch {args.batch}, float32, torch {torch.__version__} and Numba "
          f"{numba.__version__} on {THREADS} thread(s), median of "
          f"{args.repeat} interleaved rounds (ms; ratio = torch/ours)\n")
    head = ("layer", "winograd fwd", "fused fwd", "direct fwd", "torch fwd",
            "winograd f+b", "fused f+b", "fused-loops f+b", "torch f+b")
    print("| " + " | ".join(head) + " | t/wino f+b | t/fused f+b | fused gain f+b |")
    print("|" + "---|" * (len(head) + 3))
    for name, med in rows:
        cells = [name] + [f"{med[k]:.1f}" for k in head[1:]]
        cells += [f"{med['torch f+b'] / med['winograd f+b']:.2f}",
                  f"{med['torch f+b'] / med['fused f+b']:.2f}",
                  f"{med['winograd f+b'] / med['fused f+b']:.2f}x"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
