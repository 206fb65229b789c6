"""MobileNetV2 (CIFAR stem, 32x32 inputs) training-step speed: minitorch_cnn vs PyTorch CPU.

One step = forward, cross entropy, backward, SGD update (momentum 0.9), on a batch of
random images. Both networks have torchvision's MobileNetV2 layout with ``cifar=True``
strides and the same weights (ours are copied into torch). They run in this one process
with the same number of threads, steps alternating ours / torch so that both see the same
machine load; we report medians and the ratio torch time / our time (1.0 = as fast as
PyTorch, 0.25 = four times slower).

    python benchmarks/bench_mobilenet.py --batch 32 --steps 10 --threads 2

On the shared 2-core development machine (2 threads) we measured torch/ours = 0.64-0.78
at batch 32 (ours about 1.2 s per step, torch 0.8-0.95 s) and 0.58 at batch 64.
"""
import argparse
import os
import statistics
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--steps", type=int, default=10, help="timed steps per framework")
parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (JIT, caches)")
parser.add_argument("--width", type=float, default=1.0, help="MobileNetV2 width multiplier")
parser.add_argument("--threads", type=int, default=os.cpu_count())
parser.add_argument("--kernels", choices=["fast", "reference"], default="fast")
args = parser.parse_args()

# Thread counts must be fixed before NumPy's BLAS, Numba and torch start their pools.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = str(args.threads)
# Idle OpenMP threads otherwise spin for a while after each parallel region: torch's
# would keep the cores busy during our step that follows (measured here: our step took
# 2.3x as long). Passive waiting lets the two frameworks take turns fairly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import minitorch_cnn as mt  # noqa: E402
import minitorch_cnn.nn.functional as F  # noqa: E402
from minitorch_cnn import optim  # noqa: E402
from minitorch_cnn.models.mobilenet import V2_SETTING, _make_divisible, mobilenet_v2  # noqa: E402

torch.set_num_threads(args.threads)


# ---------------------------------------------- the same network in torch.nn (torchvision names)
def conv_bn_relu6(cin, cout, k=3, stride=1, groups=1, act=True):
    layers = [torch.nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
              torch.nn.BatchNorm2d(cout)]
    return torch.nn.Sequential(*layers, torch.nn.ReLU6()) if act else torch.nn.Sequential(*layers)


class TorchInvertedResidual(torch.nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = int(round(cin * t))
        self.use_res = stride == 1 and cin == cout
        layers = [conv_bn_relu6(cin, hidden, 1)] if t != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   torch.nn.Conv2d(hidden, cout, 1, bias=False), torch.nn.BatchNorm2d(cout)]
        self.conv = torch.nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class TorchMobileNetV2Cifar(torch.nn.Module):
    def __init__(self, num_classes, width_mult):
        super().__init__()
        c_in = _make_divisible(32 * width_mult)
        last = _make_divisible(1280 * max(1.0, width_mult))
        layers = [conv_bn_relu6(3, c_in, 3, stride=1)]                   # CIFAR stem: stride 1
        for i, (t, c, n, s) in enumerate(V2_SETTING):
            s = 1 if i == 1 else s                                        # CIFAR: stage 2 stride 1
            c_out = _make_divisible(c * width_mult)
            for j in range(n):
                layers.append(TorchInvertedResidual(c_in, c_out, s if j == 0 else 1, t))
                c_in = c_out
        layers.append(conv_bn_relu6(c_in, last, 1))
        self.features = torch.nn.Sequential(*layers)
        self.classifier = torch.nn.Sequential(torch.nn.Dropout(0.2),
                                              torch.nn.Linear(last, num_classes))

    def forward(self, x):
        x = torch.nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(x)


def main():
    mt.set_kernels(args.kernels)
    mt.manual_seed(0)
    ours = mobilenet_v2(num_classes=10, width_mult=args.width, cifar=True)
    theirs = TorchMobileNetV2Cifar(10, args.width)
    state = {k: torch.from_numpy(np.array(v.data)) for k, v in ours.state_dict().items()}
    missing, unexpected = theirs.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), \
        (missing, unexpected)
    ours.train(), theirs.train()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, args.batch)
    x_ours, y_ours = mt.tensor(x), mt.tensor(y)
    x_torch, y_torch = torch.from_numpy(x), torch.from_numpy(y)
    opt_ours = optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    opt_torch = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)

    def step_ours():
        opt_ours.zero_grad()
        loss = F.cross_entropy(ours(x_ours), y_ours)
        loss.backward()
        opt_ours.step()
        return loss.item()

    def step_torch():
        opt_torch.zero_grad()
        loss = torch.nn.functional.cross_entropy(theirs(x_torch), y_torch)
        loss.backward()
        opt_torch.step()
        return loss.item()

    for _ in range(args.warmup):
        step_ours(), step_torch()
    t_ours, t_torch = [], []
    for _ in range(args.steps):            # alternate, so both see the same machine load
        t0 = time.perf_counter()
        step_ours()
        t1 = time.perf_counter()
        step_torch()
        t2 = time.perf_counter()
        t_ours.append(t1 - t0)
        t_torch.append(t2 - t1)

    m_ours, m_torch = statistics.median(t_ours), statistics.median(t_torch)
    print(f"MobileNetV2 (width {args.width}, CIFAR stem) training step, batch {args.batch} "
          f"at 32x32, {args.threads} threads, kernels={args.kernels}, median of {args.steps}")
    print(f"  minitorch_cnn  {1e3 * m_ours:9.1f} ms/step   {args.batch / m_ours:8.1f} img/s")
    print(f"  torch          {1e3 * m_torch:9.1f} ms/step   {args.batch / m_torch:8.1f} img/s")
    print(f"  ratio torch/ours = {m_torch / m_ours:.3f}   (ours is {m_ours / m_torch:.1f}x "
          f"the time of torch)")


if __name__ == "__main__":
    main()
