"""benchmarks/gpu_check.sh: on a machine without a GPU it must stop at once, cleanly, with
one line that says why (it runs for real where a GPU is lent: see benchmarks/README.md)."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.sh")


def _gpu_visible():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.skipif(_gpu_visible(), reason="a GPU is here: the script would really run")
def test_gpu_check_fails_cleanly_without_a_gpu(tmp_path):
    out = tmp_path / "gpu_out"
    run = subprocess.run(["bash", SCRIPT], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, OUT=str(out)))
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU" in lines[0] and "nothing run" in lines[0]
    assert not out.exists()                      # nothing written
