#!/usr/bin/env bash
# The GPU check, in one script: on a fresh machine with an NVIDIA GPU and CuPy, PyTorch
# (CUDA), Numba, pytest and hypothesis already installed (no internet needed), it
#   1. installs this checkout (editable, without touching the installed packages),
#   2. runs the GPU tests            (pytest -m gpu)            -> $OUT/pytest_gpu.log
#   3. runs the op benchmark         (bench_ops.py --device cuda) -> $OUT/ops_cuda.{md,log}
#   4. runs a short model benchmark  (bench_models.py --device cuda --tf32 off)
#                                                              -> $OUT/models_cuda.{md,log}
# TF32 is off on both engines, so the two compute in float32. Everything lands in $OUT
# (default ./gpu_out), with $OUT/summary.txt saying what passed. Budget: under 8 minutes on
# one H100 (each step has its own time limit below). Without a GPU it stops at once with
# one line and exit status 2.
#
#   bash benchmarks/gpu_check.sh            # or: OUT=/some/folder bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-./gpu_out}"
PY="${PYTHON:-python3}"

# ------------------------------------------------------------------ is there a GPU?
if ! "$PY" - <<'EOF' 2>/dev/null
import sys
try:
    import cupy
    n = cupy.cuda.runtime.getDeviceCount()
except Exception as e:                      # no CuPy, no driver, no device
    sys.exit(1)
sys.exit(0 if n > 0 else 1)
EOF
then
    echo "gpu_check: no CUDA GPU visible to CuPy (needs an NVIDIA GPU, its driver and cupy); nothing run" >&2
    exit 2
fi

mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
status=0
step() {   # step NAME SECONDS COMMAND...: run with a time limit, log, record pass/fail
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    echo "== $name: $*" | tee -a "$SUMMARY"
    if timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; then
        echo "   ok ($((SECONDS - t0)) s)" | tee -a "$SUMMARY"
    else
        local rc=$?
        echo "   FAILED with status $rc after $((SECONDS - t0)) s (see $name.log)" | tee -a "$SUMMARY"
        status=1
    fi
}

{
    echo "host: $(hostname)  date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
    "$PY" -c "import sys, numpy, numba, cupy, torch; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__, 'torch.cuda', torch.cuda.is_available())"
} 2>&1 | tee -a "$SUMMARY"

# 1. install: the packages it needs are there already, and the machine may be offline
step install 120 "$PY" -m pip install -q --no-deps --no-build-isolation -e .
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"     # this checkout, whatever pip did

# 2. the GPU tests (every op and kernel tier on CuPy against the reference and torch)
step pytest_gpu 240 "$PY" -m pytest -q -m gpu -p no:cacheprovider

# 3. ops and 4. models against PyTorch CUDA, TF32 off on both sides
step ops_cuda 120 "$PY" benchmarks/bench_ops.py --device cuda --out "$OUT"
step models_cuda 150 "$PY" benchmarks/bench_models.py --device cuda --tf32 off --quick \
    --no-memory --out "$OUT"

echo "gpu_check: $([ $status = 0 ] && echo 'all steps passed' || echo 'some steps FAILED') (logs in $OUT)" | tee -a "$SUMMARY"
exit $status
