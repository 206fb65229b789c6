"""Helpers the model benchmarks share: thread pinning, timing statistics, peak memory on
the host, and a description of the machine.

Nothing here imports NumPy or torch at module level: ``pin_threads`` must run before
either is imported, because BLAS, OpenMP and Numba size their thread pools on import.
"""
import ctypes
import os
import platform
import statistics
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS")


def pin_threads(n):
    """Give NumPy's BLAS, Numba and torch's OpenMP pool ``n`` threads each (call before
    importing numpy / torch; ``torch.set_num_threads(n)`` is still needed after)."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)


# ------------------------------------------------------------------------ timing
def timed(fn, sync=None):
    """Seconds taken by ``fn()``; ``sync`` (a GPU synchronize) runs before and after so
    that queued kernels are charged to the call that launched them."""
    if sync is not None:
        sync()
    t0 = time.perf_counter()
    fn()
    if sync is not None:
        sync()
    return time.perf_counter() - t0


def summarize(times):
    """Median, quartiles and extremes of a list of seconds (quartiles by linear
    interpolation; with fewer than 2 samples they equal the median)."""
    times = sorted(times)
    med = statistics.median(times)
    if len(times) >= 2:
        q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    else:
        q1 = q3 = med
    return {"median": med, "q1": q1, "q3": q3, "min": times[0], "max": times[-1],
            "n": len(times)}


def run_alternating(fns, repeat, warmup, sync=None, pause=0.0):
    """Time each callable of ``fns`` (name -> fn) ``repeat`` times, interleaved.

    Round i runs every fn once, in an order rotated by i (ours-torch, torch-ours, ...), so
    that a burst of load from another process, or caches warmed by the previous call,
    fall on both sides alike. ``warmup`` untimed rounds come first (JIT compilation,
    first-touch page faults, allocator warm-up). ``pause`` seconds of sleep come before
    each timed call, so that one engine's thread pool has gone idle before the other
    starts. Returns name -> list of seconds.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times = {name: [] for name in names}
    for i in range(repeat):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            if pause:
                time.sleep(pause)
            times[name].append(timed(fns[name], sync))
    return times


def device_sync(device):
    """None on the CPU; on the GPU a function that waits for both CuPy's and torch's
    queued kernels, so that a timing covers the work and not just its launch."""
    if device != "cuda":
        return None
    import cupy
    import torch

    def sync():
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()
    return sync


# ------------------------------------------------------------------- host memory
def _proc_status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line (not Linux?)")


def pin_malloc_to_mmap(threshold=128 * 1024):
    """Make glibc serve every allocation above ``threshold`` bytes with its own mmap and
    give it back to the OS on free (M_MMAP_THRESHOLD; setting it also switches off glibc's
    sliding threshold). Without this, freed arrays stay in the heap and the resident set
    size says more about the allocator's history than about the live data. Both NumPy and
    torch's CPU allocator get their memory from malloc, so both are measured alike.
    Returns False where it is not possible (not glibc)."""
    M_MMAP_THRESHOLD, M_TRIM_THRESHOLD = -3, -1
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1
    return ok and libc.mallopt(M_TRIM_THRESHOLD, threshold) == 1


class PeakRSS:
    """Peak resident memory of this process inside a ``with`` block, above the resident
    memory at its start, in bytes (Linux: /proc/self/clear_refs resets VmHWM, the
    high-water mark). The kernel samples RSS page by page, so this counts every byte
    touched: NumPy, torch, BLAS and Numba buffers alike."""

    def __enter__(self):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                      # reset the peak RSS to the current RSS
        self.start = _proc_status_kb("VmRSS") * 1024
        return self

    def __exit__(self, *exc):
        self.peak = _proc_status_kb("VmHWM") * 1024 - self.start


# ---------------------------------------------------------------- the machine
def cpu_model():
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_description(threads, device="cpu"):
    """One line per fact: CPU, cores, threads used, library versions (and the GPU)."""
    import numba
    import numpy as np
    import torch

    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    lines = [f"CPU: {cpu_model()}, {os.cpu_count()} logical cores visible, "
             f"{threads} threads used by both engines",
             f"Python {platform.python_version()}, NumPy {np.__version__} "
             f"({blas.get('name')} {blas.get('version')}), Numba {numba.__version__}, "
             f"PyTorch {torch.__version__}"]
    if device == "cuda":
        import cupy
        lines.append(f"GPU: {torch.cuda.get_device_name()}, CuPy {cupy.__version__}, "
                     f"CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}")
    return lines
