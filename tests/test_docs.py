"""The documentation notebook runs (it is kept as a jupytext script)."""

from __future__ import annotations

import runpy
from pathlib import Path

import jupytext

NOTEBOOK = Path(__file__).parents[1] / "docs" / "notebooks" / "compare_priors.py"


def test_compare_priors_notebook_executes(capsys) -> None:
    runpy.run_path(str(NOTEBOOK), run_name="notebook")
    out = capsys.readouterr().out
    assert "P(HR < 1) ranges over" in out


def test_notebook_is_valid_jupytext() -> None:
    notebook = jupytext.read(NOTEBOOK)
    assert sum(cell.cell_type == "code" for cell in notebook.cells) >= 4
