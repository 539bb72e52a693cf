"""The notebooks are the analysis: clean in git, one parameters cell, prose and short cells;
each runs alone on its defaults; re-running cells leaves the results file unchanged."""

from __future__ import annotations

import ast
import shutil

import nbformat
import pytest

from analysis import config, steps

pytestmark = pytest.mark.slow

NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("*.ipynb"))
ORDER = [
    "01_ingest",
    "02_glossary",
    "00_index",
    "10_summary",
    "11_descriptives",
    "12_regressions",
    "13_methods",
    "20_trends",
    "21_pooled",
    "03_provenance",
]
FIGURES = {"10_summary": 2, "12_regressions": 2, "20_trends": 1, "21_pooled": 1}


def test_the_expected_notebooks_exist():
    assert sorted(p.stem for p in NOTEBOOKS) == sorted(ORDER)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_readable(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs not stripped"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0] is code[0], "one parameters cell, the first code cell"
    for node in ast.parse(params[0].source).body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant), "scalars only"
        if isinstance(node.value.value, str):
            assert not node.value.value.startswith("/"), "absolute path in parameters"
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) >= 3 and markdown[0].source.startswith("# "), "a title and prose"
    for c in code:
        assert "HTML(" not in c.source, "pages are made by the template, not HTML strings"
        assert len(c.source.splitlines()) <= 30, c.source[:80]


@pytest.fixture(scope="module")
def executed(tmp_path_factory, default_processed):
    """Every notebook run alone, on its default parameters (01_ingest first: it writes the
    processed tables the others read), each in its own kernel forked from the checkout's warm
    server (tests/test_warm.py shows that a fresh interpreter gives the same pages)."""
    import papermill as pm
    from conftest import warm_server

    out = tmp_path_factory.mktemp("executed")
    done = {}
    with default_processed, warm_server(out):
        _run_all(pm, out, done)
    return done


def _run_all(pm, out, done):
    for name in ORDER:
        target = out / f"{name}.ipynb"
        pm.execute_notebook(
            str(config.NOTEBOOKS_DIR / f"{name}.ipynb"),
            str(target),
            kernel_name=config.KERNEL_NAME,
            cwd=str(config.NOTEBOOKS_DIR),
            progress_bar=False,
            request_save_on_cell_execute=False,
            kernel_manager_class=steps.kernel_manager(),
            extra_arguments=steps.KERNEL_ARGS,
        )
        done[name] = nbformat.read(target, as_version=4)


@pytest.mark.notebook
@pytest.mark.parametrize("name", ORDER)
def test_notebook_runs_standalone_and_shows_real_objects(executed, name):
    nb = executed[name]
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert all("<table" in h for h in html), (
        "HTML output is a table (DataFrame, Styler, model summary)"
    )
    if name != "00_index":
        assert html, "the notebook shows tables"
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    if name == "00_index":  # the trend figure needs the pooled pages of a build
        assert len(pngs) <= 1
    else:
        assert len(pngs) == FIGURES.get(name, 0)
    assert all(o["metadata"]["image/png"]["alt"] for o in pngs)


@pytest.mark.notebook
def test_rerunning_cells_leaves_the_results_file_unchanged(tmp_path, executed):
    from nbclient import NotebookClient

    nb = nbformat.read(config.NOTEBOOKS_DIR / "11_descriptives.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source += f"\noutput_dir = {str(tmp_path)!r}"
    from conftest import warm_server

    client = NotebookClient(
        nb,
        kernel_name=config.KERNEL_NAME,
        resources={"metadata": {"path": str(config.NOTEBOOKS_DIR)}},
        kernel_manager_class=steps.kernel_manager(),  # forked from the warm server, as in a build
        extra_arguments=steps.KERNEL_ARGS,
    )
    with warm_server(tmp_path), client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
        first = (tmp_path / "11_descriptives.csv").read_bytes()
        shutil.copy(tmp_path / "11_descriptives.csv", tmp_path / "first.csv")
        again = [i for i, c in enumerate(nb.cells) if "res.add(" in c.source]
        assert len(again) >= 3
        for i in [*again, *again, len(nb.cells) - 1]:  # twice, out of order, then write
            client.execute_cell(nb.cells[i], i)
    assert (tmp_path / "11_descriptives.csv").read_bytes() == first
