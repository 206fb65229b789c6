"""What every notebook of the course shares: this checkout's package on the path, one
thread, a clock for the budget, and the small data sets the chapters train on.

``import course`` is each notebook's first line (the kernel starts in notebooks/):

- the repository (one folder up) and its examples/ go first on ``sys.path``, so the
  notebook runs *this* checkout's minitorch_cnn, and the demo scripts, whose code the
  chapters share with their command-line twins, can be imported;
- NumPy, BLAS and Numba get one thread. The course's networks are small, and on them
  threads cost more than they give (a plain-20 step at 8x8: 200-900 ms with two busy
  threads against 60 ms with one, measured here); the budgets were measured so.
"""
import os
import sys
import time
import warnings

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")          # before NumPy and Numba are first imported

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _p in (os.path.join(ROOT, "examples"), ROOT):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402

# tqdm (the trainer's progress bars) warns that ipywidgets is missing; its text bars work
warnings.filterwarnings("ignore", message="IProgress not found")

import minitorch_cnn as mt  # noqa: E402

if not os.path.abspath(mt.__file__).startswith(ROOT + os.sep):
    raise ImportError(f"course: imported minitorch_cnn from {mt.__file__}, not from this "
                      f"checkout ({ROOT}); start the notebook from {HERE}")

START = time.perf_counter()
START_CPU = time.process_time()

try:                      # in a notebook: draw figures inline, also the plain Figure objects
    from IPython import get_ipython    # that minitorch_cnn.analysis.plots and the demos return
    if get_ipython() is not None:
        get_ipython().run_line_magic("matplotlib", "inline")
except ImportError:
    pass


def elapsed():
    """Seconds since ``import course``: the notebook's own run time so far."""
    return time.perf_counter() - START


def report_time(budget_minutes):
    """The last cell's line: how long the notebook took against its stated budget. The
    CPU time is what the run costs on an idle machine (one thread); the wall time also
    counts the waiting when other programs share the CPU."""
    s, cpu = elapsed(), time.process_time() - START_CPU
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"this notebook ran in {s:.0f} s wall ({s / 60:.1f} min) and {cpu:.0f} s of CPU "
          f"({cpu / 60:.1f} min), 1 thread, on {os.cpu_count()} cores with a load average "
          f"of {load:.1f}; its stated budget is {budget_minutes} min")


# --------------------------------------------------------------------------- data
def _bilinear_matrix(n_out, n_in):
    """(n_out, n_in) matrix of bilinear interpolation along one axis (pixel centres
    aligned, as image resizers do): x_out = M @ x_in."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    M = np.zeros((n_out, n_in))
    M[np.arange(n_out), lo] += 1 - frac
    M[np.arange(n_out), hi] += frac
    return M


def digits(size=32, digit=24, seed=0, test_fraction=0.25):
    """scikit-learn's handwritten digits (UCI "optdigits": 1,797 images of 8x8, 16 grey
    levels, written by 43 people) as LeNet-5 inputs: each image enlarged to ``digit`` x
    ``digit`` by bilinear interpolation and centred on a ``size`` x ``size`` zero canvas,
    as LeCun et al. centred MNIST's 20x20 digits in 28x28 and padded to 32x32. Values
    in [0, 1]. Returns (x_train, y_train, x_test, y_test): (N, 1, size, size) float32,
    int64 labels; a seeded split, test_fraction of every class held out."""
    from sklearn.datasets import load_digits
    d = load_digits()
    M = _bilinear_matrix(digit, 8)
    big = np.einsum("ij,njk,lk->nil", M, d.images / 16.0, M)          # (N, digit, digit)
    pad = (size - digit) // 2
    x = np.zeros((len(big), 1, size, size), np.float32)
    x[:, 0, pad:pad + digit, pad:pad + digit] = np.clip(big, 0, 1)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in range(10):                                      # stratified: same share per class
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[:round(test_fraction * len(idx))]] = True
    return x[~test], y[~test], x[test], y[test]


def mnist_if_present():
    """MNIST (train, test) from the data folder if it is already there, else None:
    the notebooks never download (they must run offline)."""
    from minitorch_cnn import data
    try:
        return (data.MNIST(train=True, download=False), data.MNIST(train=False, download=False))
    except Exception:                                     # not there (or damaged): the caller falls back
        return None


def cifar10_if_present():
    """CIFAR-10 (train, test) from the data folder if it is already there, else None."""
    from minitorch_cnn import data
    try:
        return (data.CIFAR10(train=True, download=False),
                data.CIFAR10(train=False, download=False))
    except Exception:
        return None


def images(n_train, n_test, size=32, seed=0):
    """A small colour image set: CIFAR-10 if it is in the data folder, else the built-in
    ShapesDataset (10 procedurally drawn shape classes, no download). Images shrunk to
    ``size`` by averaging blocks of pixels, normalised per channel with the training
    set's mean and std. Returns (x_train, y_train, x_test, y_test, name, classes)."""
    from minitorch_cnn import data
    found = cifar10_if_present()
    if found is not None:
        train, test = found
        name, classes = "CIFAR-10", list(train.classes)
        rng = np.random.default_rng(seed)
        tr = rng.choice(len(train), n_train, replace=False)
        te = rng.choice(len(test), n_test, replace=False)
        xtr, ytr = train.data[tr], np.asarray(train.targets)[tr]
        xte, yte = test.data[te], np.asarray(test.targets)[te]
    else:
        train = data.ShapesDataset(n=n_train, train=True, seed=seed)
        test = data.ShapesDataset(n=n_test, train=False, seed=seed)
        name, classes = "ShapesDataset (built-in)", list(train.classes)
        xtr, ytr, xte, yte = train.data, train.targets, test.data, test.targets

    def prep(x):                                            # (N, 32, 32, 3) uint8 -> NCHW
        x = x.astype(np.float32) / 255
        f = x.shape[1] // size
        if f > 1:
            x = x.reshape(len(x), size, f, size, f, 3).mean(axis=(2, 4))
        return x.transpose(0, 3, 1, 2)

    xtr, xte = prep(xtr), prep(xte)
    mean = xtr.mean(axis=(0, 2, 3), keepdims=True)
    std = xtr.std(axis=(0, 2, 3), keepdims=True)
    return ((xtr - mean) / std, np.asarray(ytr, np.int64), (xte - mean) / std,
            np.asarray(yte, np.int64), name, classes)


def batches(n, batch_size, rng):
    """Endless shuffled mini-batch indices: every image once per epoch."""
    while True:
        order = rng.permutation(n)
        for i in range(0, n - batch_size + 1, batch_size):
            yield order[i:i + batch_size]


def error_rate(model, x, y, batch_size=500):
    """Fraction of ``x`` misclassified, in eval mode, without a graph."""
    was_training = model.training
    model.eval()
    wrong = 0
    with mt.no_grad():
        for i in range(0, len(x), batch_size):
            out = model(mt.tensor(x[i:i + batch_size]))
            wrong += int((out.numpy().argmax(1) != y[i:i + batch_size]).sum())
    model.train(was_training)
    return wrong / len(x)
