"""Start-up: ``import minitorch_cnn`` leaves Numba out, each family of kernels/cpu/ is
imported when one of its kernels first runs, and a first run that compiles says so."""
import os
import subprocess
import sys


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
    """With an empty Numba cache the Winograd kernels compile for seconds at their first
    call: the user is told once, on stderr, which family is compiling; a second run, which
    loads them from the cache, says nothing."""
    code = ("import minitorch_cnn as mt, minitorch_cnn.nn.functional as F\n"
            "x = mt.randn(2, 16, 6, 6, requires_grad=True)\n"
            "F.conv2d(x, mt.randn(16, 16, 3, 3), padding=1).sum().backward()\n")
    runs = [_run(code, NUMBA_CACHE_DIR=str(tmp_path)).stderr for _ in range(2)]
    assert runs[0].count("minitorch_cnn: compiling the winograd CPU kernels") == 1
    assert "compiling" not in runs[1]
