"""Committed notebooks: outputs stripped, one parameters cell of scalars first, no absolute paths."""

from __future__ import annotations

import ast

import nbformat
import pytest

from analysis import config

NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_thin(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs not stripped"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0] is code[0]
    for node in ast.parse(params[0].source).body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        if isinstance(node.value.value, str):
            assert not node.value.value.startswith("/"), "absolute path in parameters"
    assert not any("def " in c.source for c in code), "functions belong in src/analysis"
