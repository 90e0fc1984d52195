"""The public API: every exported name exists, none hides a subpackage, imports stay light."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import types

import pytest

import hiermeta as hm


def test_every_exported_name_exists() -> None:
    assert [name for name in hm.__all__ if not hasattr(hm, name)] == []


def test_no_function_hides_a_subpackage() -> None:
    subpackages = {m.name for m in pkgutil.iter_modules(hm.__path__)}
    for name in hm.__all__:
        if name in subpackages:
            assert isinstance(getattr(hm, name), types.ModuleType), name


@pytest.mark.slow  # two fresh Python processes
def test_import_neither_imports_pymc_nor_matplotlib_nor_sets_a_backend() -> None:
    code = (
        "import sys, hiermeta; "
        "print(sorted(m for m in ('pymc', 'matplotlib', 'arviz_stats') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import hiermeta.pipeline.report.writer, matplotlib; print(matplotlib.get_backend())"
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": "svg"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "svg"  # importing the writer leaves the user's backend alone
