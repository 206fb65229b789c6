"""Build and execute the course's notebooks, each in a fresh kernel, and write their
outputs back (text and PNG figures), so that they read on a repository page unrun.

    python notebooks/run_all.py                  # all of them, outputs written back
    python notebooks/run_all.py 06_resnet        # one (or several) by name
    python notebooks/run_all.py --check          # execute, write nothing (what the tests do)
    python notebooks/run_all.py --figures DIR    # also save every figure as a PNG in DIR

The kernel starts in notebooks/ with the repository first on PYTHONPATH, so a notebook
imports the minitorch_cnn of this checkout (each notebook's first cell checks it). Each
notebook's wall time is printed at the end; a notebook that raises stops the run with
the failing cell's traceback and exit status 1, and its .ipynb is left as it was.
"""
import argparse
import base64
import os
import re
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CELL_TIMEOUT = 900          # seconds for one cell: far above any cell's budget


def execute(name, timeout=CELL_TIMEOUT):
    """Build notebook ``name`` from its source and run it in a fresh kernel; returns
    (the executed notebook, wall seconds). Raises CellExecutionError on the first error."""
    nb = build.build(name)
    env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": HERE}})
    t0 = time.perf_counter()
    client.execute(env=env)
    return nb, time.perf_counter() - t0


def save_figures(nb, name, folder):
    """Every PNG output of ``nb`` as folder/<name>_<cell>_<k>.png; returns the paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, cell in enumerate(nb.cells):
        for k, out in enumerate(cell.get("outputs", [])):
            png = out.get("data", {}).get("image/png")
            if png:
                path = os.path.join(folder, f"{name}_{i:03d}_{k}.png")
                with open(path, "wb") as f:
                    f.write(base64.b64decode(png))
                paths.append(path)
    return paths


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help="notebooks to run (default: all), e.g. 06_resnet")
    p.add_argument("--check", action="store_true", help="execute only; write nothing back")
    p.add_argument("--figures", metavar="DIR", help="also save every figure as a PNG here")
    args = p.parse_args(argv)
    names = args.names or list(build.sources())
    unknown = [n for n in names if n not in build.sources()]
    if unknown:
        p.error(f"unknown notebook(s) {unknown}; choose from {list(build.sources())}")
    times = {}
    for name in names:
        print(f"running {name} ...", flush=True)
        try:
            nb, seconds = execute(name)
        except CellExecutionError as e:
            plain = re.sub(r"\x1b\[[0-9;]*m", "", str(e))          # no terminal colours
            print(f"\n{name} FAILED (its .ipynb is left as it was):\n{plain}", file=sys.stderr)
            return 1
        times[name] = seconds
        if not args.check:
            build.write(nb, os.path.join(HERE, name + ".ipynb"))
        if args.figures:
            save_figures(nb, name, args.figures)
        print(f"  {name}: {seconds:.0f} s", flush=True)
    print("\nwall time per notebook (fresh kernel each):")
    for name, s in times.items():
        print(f"  {name:24} {s:7.1f} s")
    print(f"  {'total':24} {sum(times.values()):7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
