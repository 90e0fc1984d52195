"""Documentation that runs: every Python block of the README and docs/, and the priors notebook
executed as a real notebook (a Jupyter kernel, figures inline, nothing written to its folder).

A block preceded by ``<!-- not run: <reason> -->`` is shown but not run (e.g. it needs a Dask
cluster at an address); each such block states its reason in the page.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).parents[1]
NOTEBOOK = ROOT / "docs" / "notebooks" / "compare_priors.py"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- not run: [^>]*-->\n)?```python\n(.*?)```", re.S)


def _blocks(page: Path) -> list[str]:
    return [code for skip, code in BLOCK.findall(page.read_text()) if not skip]


def test_pages_have_python_blocks() -> None:
    counts = {p.name: len(_blocks(p)) for p in PAGES}
    assert counts["README.md"] >= 1 and counts["getting_started.md"] >= 4, counts


@pytest.mark.slow  # the pages fit NUTS models too
@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)], ids=lambda p: p.name)
def test_every_python_block_runs(page: Path, tmp_path: Path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # blocks that write (out=...) write here
    namespace: dict = {"__name__": "docs"}
    for i, code in enumerate(_blocks(page)):
        try:
            exec(compile(code, f"{page.name}[block {i + 1}]", "exec"), namespace)
        except Exception as err:  # name the page and the block
            raise AssertionError(f"{page.name}, block {i + 1} fails: {err!r}") from err
        plt.close("all")


@pytest.mark.slow  # starts a Jupyter kernel
def test_priors_notebook_runs_as_a_notebook(tmp_path: Path, monkeypatch) -> None:
    import nbclient

    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel shows figures inline
    notebook = jupytext.read(NOTEBOOK)
    assert sum(cell.cell_type == "code" for cell in notebook.cells) >= 4
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env={**os.environ, "HIERMETA_PROGRESS": "0"})
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "P(HR < 1) ranges over" in text
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # figures inline
    assert list(tmp_path.iterdir()) == []  # nothing written to the working directory
