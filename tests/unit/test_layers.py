"""The layer contract checker (tools/check_layers.py) passes on the tree and catches breaches."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[2]
spec = importlib.util.spec_from_file_location("check_layers", ROOT / "tools" / "check_layers.py")
assert spec and spec.loader
check_layers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_layers)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "hiermeta" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_the_package_keeps_its_layers() -> None:
    assert check_layers.violations(ROOT / "src") == []


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "data/__init__.py": "",
            "data/effects.py": "def f():\n    from hiermeta.engines import api\n",
            "engines/__init__.py": "",
            "engines/api.py": "",
        },
    )
    problems = check_layers.violations(src)
    assert len(problems) == 1 and "hiermeta.data.effects (layer 1) imports" in problems[0]


def test_an_engine_importing_another_is_caught(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "engines/__init__.py": "",
            "engines/exact/__init__.py": "from hiermeta.engines.nuts import engine\n",
            "engines/nuts/__init__.py": "",
            "engines/nuts/engine.py": "",
        },
    )
    assert any("imports another engine" in p for p in check_layers.violations(src))


def test_a_cycle_within_a_layer_is_caught(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "analyses/__init__.py": "",
            "analyses/a.py": "from hiermeta.analyses import b\n",
            "analyses/b.py": "from hiermeta.analyses import a\n",
        },
    )
    assert any(p.startswith("import cycle") for p in check_layers.violations(src))


def test_the_cli_may_use_only_the_public_api(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {"__init__.py": "", "cli.py": "from hiermeta.engines import api\n", "engines/api.py": ""},
    )
    assert any("the CLI imports" in p for p in check_layers.violations(src))
