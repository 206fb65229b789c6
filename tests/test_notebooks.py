"""The course's notebooks (notebooks/): the committed .ipynb files are built from their
sources and carry clean outputs (fast, in the default run); and, under
``pytest -m notebooks``, each notebook executes top to bottom in a fresh kernel without
an error (minutes each: left out of the default run)."""
import importlib.util
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")
NAMES = sorted(f[:-3] for f in os.listdir(os.path.join(NOTEBOOKS, "src"))
               if f.endswith(".py") and f[:2].isdigit())

nbformat = pytest.importorskip("nbformat", reason="the notebooks extra is not installed "
                                                  "(pip install -e '.[notebooks]')")


def _module(name):
    spec = importlib.util.spec_from_file_location(f"notebooks_{name}",
                                                  os.path.join(NOTEBOOKS, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build = _module("build")


def test_nine_chapters_in_order():
    assert [n[:2] for n in NAMES] == [f"{i:02d}" for i in range(1, 10)]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_its_source_with_clean_outputs(name):
    """The .ipynb holds exactly the cells of src/<name>.py (so the reviewed text is what
    runs), every code cell was executed, none raised, and each states its budget."""
    path = os.path.join(NOTEBOOKS, name + ".ipynb")
    assert os.path.exists(path), f"{name}.ipynb missing: run python notebooks/run_all.py {name}"
    committed = nbformat.read(path, as_version=4)
    built = build.build(name)
    assert [(c.cell_type, c.source) for c in committed.cells] == \
           [(c.cell_type, c.source) for c in built.cells], \
        f"{name}.ipynb is out of date with src/{name}.py: run python notebooks/run_all.py {name}"
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{name}: unexecuted cells"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: committed with an error output: {errors[0].get('ename')}"
    stderr = [o.text for c in code for o in c.outputs
              if o.output_type == "stream" and o.name == "stderr"]
    assert not any("Traceback" in t for t in stderr), f"{name}: a traceback in its outputs"
    assert re.search(r"\*\*Budget:\*\*", committed.cells[0].source), \
        f"{name}: the first cell must state the budget"
    last = "".join(o.get("text", "") for o in code[-1].outputs)
    assert "this notebook ran in" in last, f"{name}: the last cell must report its run time"


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_is_embedded(name):
    committed = nbformat.read(os.path.join(NOTEBOOKS, name + ".ipynb"), as_version=4)
    pngs = [o for c in committed.cells if c.cell_type == "code" for o in c.outputs
            if "image/png" in o.get("data", {})]
    assert pngs, f"{name}: no figure"


def test_parse_rejects_a_malformed_source():
    with pytest.raises(ValueError, match="before the first"):
        build.parse("print(1)\n# %%\nx = 1\n")
    with pytest.raises(ValueError, match="unknown cell marker"):
        build.parse("# %% [raw]\nx\n")
    with pytest.raises(ValueError, match="must start with '# '"):
        build.parse("# %% [markdown]\n# text\nnot a comment\n")
    assert build.parse("# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n") == \
        [("markdown", "# Title\n\ntext"), ("code", "x = 1")]


@pytest.mark.notebooks
@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes(name):
    """Build the notebook from its source and run it in a fresh kernel: any error in
    any cell fails the test with that cell's traceback. Nothing is written back."""
    pytest.importorskip("nbclient")
    run_all = _module("run_all")
    nb, seconds = run_all.execute(name)
    print(f"{name}: {seconds:.0f} s")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
