"""Build the course's notebooks from their sources: ``src/NN_name.py`` -> ``NN_name.ipynb``.

The sources are plain Python in the "percent" format that Jupytext and VS Code read:
a line ``# %%`` starts a code cell, ``# %% [markdown]`` a text cell whose lines are
comments (``# `` is stripped). They are what a reviewer reads and what a diff shows;
the .ipynb files are built from them, then executed (``run_all.py``) so that they carry
their outputs.

    python notebooks/build.py            # every notebook, outputs dropped
    python notebooks/run_all.py          # build and execute every notebook (the usual way)
"""
import os
import sys

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def sources():
    """{name: path of its source}, in chapter order ('01_engine': .../src/01_engine.py)."""
    return {f[:-3]: os.path.join(SRC, f) for f in sorted(os.listdir(SRC))
            if f.endswith(".py") and f[:2].isdigit()}


def _markdown(lines):
    out = []
    for line in lines:
        if line.startswith("# "):
            out.append(line[2:])
        elif line.rstrip() in ("#", ""):            # "#" inside a cell; "" between cells
            out.append("")
        else:
            raise ValueError(f"markdown cell line must start with '# ': {line!r}")
    return "\n".join(out).strip("\n")


def parse(text, where="<source>"):
    """The cells of a percent-format source: a list of ("markdown" | "code", text)."""
    cells, kind, lines = [], None, []

    def close():
        if kind is None:
            if "".join(lines).strip():
                raise ValueError(f"{where}: text before the first '# %%' line")
            return
        body = _markdown(lines) if kind == "markdown" else "\n".join(lines).strip("\n")
        if body.strip():
            cells.append((kind, body))

    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# %%"):
            close()
            tag = line[4:].strip()
            if tag not in ("", "[markdown]"):
                raise ValueError(f"{where}:{n}: unknown cell marker {line!r}")
            kind, lines = ("markdown" if tag else "code"), []
        else:
            lines.append(line)
    close()
    return cells


def build(name):
    """The notebook (no outputs) of source ``name``."""
    path = sources()[name]
    with open(path, encoding="utf-8") as f:
        cells = parse(f.read(), path)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, body) in enumerate(cells):
        cell = (nbformat.v4.new_markdown_cell if kind == "markdown"
                else nbformat.v4.new_code_cell)(body)
        cell["id"] = f"{name[:2]}-{i:03d}"          # stable ids: diffs show real changes only
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def write(nb, path):
    """Write ``nb`` atomically (a temp file, then a rename): never a half-written notebook."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    os.replace(tmp, path)


def main(argv=None):
    names = (argv if argv is not None else sys.argv[1:]) or list(sources())
    unknown = [n for n in names if n not in sources()]
    if unknown:
        raise SystemExit(f"unknown notebook(s) {unknown}; sources: {list(sources())}")
    for name in names:
        write(build(name), os.path.join(HERE, name + ".ipynb"))
        print(f"built {name}.ipynb (no outputs: run run_all.py to execute it)")


if __name__ == "__main__":
    main()
