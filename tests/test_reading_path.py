"""Start-up: ``import minitorch_cnn`` leaves Numba out, each family of kernels/cpu/ is
imported when one of its kernels first runs, and a first run that compiles says so."""
import os
import subprocess
import sys

import pytest


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=dict(os.environ, **env))


def test_numba_is_imported_only_when_a_fast_cpu_kernel_runs():
    """``import minitorch_cnn`` and reference-mode work leave Numba out; the first fast
    kernel imports its own family of kernels/cpu/ only."""
    code = ("import sys, numpy as np, minitorch_cnn as mt\n"
            "print('numba' in sys.modules)\n"
            "with mt.backend.use_kernels('reference'):\n"
            "    mt.nn.Conv2d(3, 4, 3)(mt.randn(1, 3, 5, 5)).sum().backward()\n"
            "print('numba' in sys.modules)\n"
            "mt.kernels.clamp(np.ones(3, np.float32), 0.0, 1.0)\n"
            "print('numba' in sys.modules, sorted(m.rsplit('.', 1)[1] for m in sys.modules\n"
            "      if m.startswith('minitorch_cnn.kernels.cpu.')))\n")
    out = _run(code).stdout.split("\n")
    assert out[:3] == ["False", "False", "True ['_numba', 'elementwise']"]


def test_first_compile_says_so(tmp_path):
    """With an empty Numba cache a kernel compiles at its first call (for seconds: the
    message waits one, here none, so that the test does not hang on the machine's speed):
    the user is told once, on stderr, which family is compiling; a second run, which
    loads the kernels from the cache, says nothing."""
    code = ("import numpy as np, minitorch_cnn as mt\n"
            "from minitorch_cnn.kernels.cpu import _numba\n"
            "_numba._NOTICE_AFTER = 0.0\n"
            "mt.kernels.clamp(np.ones(3), 0.0, 1.0)\n"
            "mt.kernels.band_backward(np.ones(3), np.ones(3), 0.0, 1.0)\n")
    runs = [_run(code, NUMBA_CACHE_DIR=str(tmp_path)).stderr for _ in range(2)]
    assert runs[0].count("minitorch_cnn: compiling the elementwise CPU kernels") == 1
    assert "compiling" not in runs[1]


# ------------------------------------------------------------ the reading path
# The files of the conv story, in the order a learner reads them, then the fast path
# beside it. Each must stay readable in one go.
READING_GUIDE = ["models/vgg.py", "nn/conv.py", "functional/conv.py", "functional/geometry.py",
                 "kernels/reference.py", "autograd.py", "nn/module.py", "fast/__init__.py"]
FAST_PATH = ["fast/conv_im2col.py", "fast/conv_pointwise.py", "fast/conv_depthwise.py",
             "fast/conv_winograd.py", "kernels/__init__.py", "kernels/cuda.py",
             "kernels/cpu/__init__.py", "kernels/cpu/_numba.py", "kernels/cpu/im2col.py",
             "kernels/cpu/depthwise.py", "kernels/cpu/winograd.py", "kernels/cpu/pool.py",
             "kernels/cpu/norm.py", "kernels/cpu/elementwise.py", "nn/fused.py",
             "nn/utils/fusion.py", "functional/pool.py", "functional/norm.py",
             "functional/conv_transpose.py", "utils/checkpoint.py", "io.py", "io_torch.py",
             "train.py", "models/resnet.py", "models/densenet.py", "analysis/profile.py"]
# the engine every op goes through: autograd's Function.apply and backward walk, Tensor,
# Module.__call__; the rest of a trace is the conv story itself
ENGINE = {"autograd.py", "tensor.py", "nn/module.py"}
# Bounds, and why: the story of one conv, forward and backward, in reference mode ran 263
# distinct lines (165 of them the conv's own, 118 in functional/conv.py alone) over 8
# files before the story and the fast path were pulled apart; now 222 (120 the conv's
# own, 32 in functional/conv.py) over 11: the geometry and its checks have a file of
# their own, and so do the dtype rules (functional/dtypes.py, 6 lines run). About a
# hundred lines of conv (geometry, im2col, the GEMMs, col2im) plus a hundred of the
# engine is what a learner can follow in one sitting; the bounds leave a little room,
# so that anything the story gains has to be argued for.
MAX_LINES, MAX_CONV_LINES, MAX_FILES, MAX_FILE_LENGTH = 235, 130, 11, 600


def _trace(layer, x_shape, grad_shape):
    """(file, line) pairs run by ``layer`` forward + backward under the reference kernels
    (y.backward(grad): no reduction op in the trace), in the order first run."""
    import minitorch_cnn as mt
    pkg = os.path.dirname(mt.__file__)
    grad = mt.randn(*grad_shape)
    lines = {}

    def tracer(frame, event, arg):
        f = frame.f_code.co_filename
        if not f.startswith(pkg):
            return None
        if event == "line":
            lines.setdefault((os.path.relpath(f, pkg).replace(os.sep, "/"), frame.f_lineno))
        return tracer

    with mt.backend.use_kernels("reference"):
        layer(mt.randn(*x_shape, requires_grad=True)).backward(grad)     # warm imports
        x = mt.randn(*x_shape, requires_grad=True)
        sys.settrace(tracer)
        try:
            layer(x).backward(grad)
        finally:
            sys.settrace(None)
    assert x.grad is not None
    return list(lines)


def _trace_one_conv():
    import minitorch_cnn as mt
    conv = mt.nn.Conv2d(3, 4, 3, padding=1)
    lines = _trace(conv, (2, 3, 8, 8), (2, 4, 8, 8))
    assert conv.weight.grad is not None
    return lines


def test_the_conv_story_stays_short():
    lines = _trace_one_conv()
    files = {f for f, _ in lines}
    own = [(f, n) for f, n in lines if f not in ENGINE]
    assert len(lines) <= MAX_LINES and len(own) <= MAX_CONV_LINES, (len(lines), len(own))
    assert len(files) <= MAX_FILES, sorted(files)
    # the story is what runs: its GEMMs in functional/conv.py, its loops in reference.py,
    # and nothing of the fast path but the one choice that sends it to the story
    assert {"functional/conv.py", "kernels/reference.py", "functional/geometry.py"} <= files
    assert not {f for f in files if f.startswith(("fast/conv_", "kernels/cpu"))}


# The same for pooling and batch norm, whose stories are functional/pool.py and
# functional/norm.py over kernels/reference.py: in reference mode a max pool ran 79 lines
# of its own (167 with the engine, over 9 files, before the redesign) and a batch norm
# 90 (179 over 8 before: the geometry's and the dtype rules' files are new, the kernel
# dispatch left the path). The bounds leave about 10% of room, as above.
@pytest.mark.parametrize("which, story, max_own, max_files", [
    ("max_pool2d", "functional/pool.py", 90, 11), ("batch_norm", "functional/norm.py", 100, 10)])
def test_the_pool_and_norm_stories_stay_short(which, story, max_own, max_files):
    import minitorch_cnn as mt
    if which == "max_pool2d":
        lines = _trace(mt.nn.MaxPool2d(2), (2, 3, 8, 8), (2, 3, 4, 4))
    else:
        lines = _trace(mt.nn.BatchNorm2d(3), (2, 3, 8, 8), (2, 3, 8, 8))
    files = {f for f, _ in lines}
    own = [(f, n) for f, n in lines if f not in ENGINE]
    assert len(own) <= max_own, (len(own), sorted(files))
    assert len(files) <= max_files, sorted(files)
    assert {story, "kernels/reference.py"} <= files
    assert not {f for f in files if f.startswith(("fast/conv_", "kernels/cpu"))}


def test_every_file_a_learner_is_sent_to_is_short():
    import minitorch_cnn as mt
    pkg = os.path.dirname(mt.__file__)
    for name in READING_GUIDE + FAST_PATH:
        with open(os.path.join(pkg, name)) as f:
            n = sum(1 for _ in f)
        assert n <= MAX_FILE_LENGTH, f"{name} has {n} lines"
