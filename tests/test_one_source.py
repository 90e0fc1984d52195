"""One analysis rendered four ways — report (Markdown and HTML), summary.json, CLI text and a
batch row — shows the same numbers: every renderer reads the one result contract.

The prediction interval is the case that used to differ (the report used the spec's kind, the
JSON metafor's default); the oracle for the numbers is the API itself, and the frequentist
prediction interval is metafor's (tests/test_contract.py pins it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hiermeta as hm
from hiermeta.cli import main
from hiermeta.pipeline.report.render import fmt as _fmt
from hiermeta.pipeline.report.render import md_escape

SPEC = """title = "BCG, one source of numbers"
[data]
dataset = "bcg"
[engines]
bayesian = ["exact"]
frequentist = ["REML"]
ci = ["wald"]
[report]
pi_kind = "t-k-1"
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("one_source")
    spec = folder / "bcg.toml"
    spec.write_text(SPEC, encoding="utf-8")
    out = folder / "report"
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        assert main(["run", str(spec), "--out", str(out), "--no-progress"]) == 0
    return {
        "summary": json.loads((out / "summary.json").read_text()),
        "md": (out / "report.md").read_text(),
        "html": (out / "report.html").read_text(),
        "cli": stdout.getvalue(),
    }


def test_json_holds_the_api_numbers(rendered: dict) -> None:
    data = hm.load_effects("bcg")
    freq = hm.frequentist(data, "REML", pi_kind="t-k-1").to_dict()
    exact = hm.bayesian(data, random_seed=2024).to_dict()
    summary = rendered["summary"]
    assert summary["frequentist"]["REML (Wald)"] == freq
    assert summary["bayesian"]["exact"] == exact
    assert freq["pi_kind"] == "t-k-1"


def test_report_shows_the_json_prediction_intervals(rendered: dict) -> None:
    for fit in [
        *rendered["summary"]["frequentist"].values(),
        *rendered["summary"]["bayesian"].values(),
    ]:
        ratio = fit["ratio"]
        section = rendered["md"].split("## Frequentist vs Bayesian")[1].split("\n## ")[0]
        row = next(
            line
            for line in section.splitlines()
            if line.startswith(f"| {md_escape(fit['label'])} |")
        )
        cells = [c.strip() for c in row.strip("|").split("|")]
        for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            assert _fmt(ratio[key]) in cells, (fit["label"], key)
        assert fit["pi_kind"] in cells
        assert f"<td>{_fmt(ratio['pi_low'])}</td>" in rendered["html"]


def test_cli_prints_the_json_statements(rendered: dict) -> None:
    printed = [line.strip() for line in rendered["cli"].splitlines() if line.strip()]
    summary = rendered["summary"]
    statements = summary["statements"]
    assert printed[: len(statements)] == statements
    assert printed[len(statements)] == f"Heterogeneity (exact): {summary['heterogeneity']}"
    reml = summary["frequentist"]["REML (Wald)"]
    line = printed[len(statements) + 1]
    assert line.startswith("Frequentist REML (Wald): RR ")
    assert f"{reml['ratio']['pi_low']:.2f} to {reml['ratio']['pi_high']:.2f}" in line
    assert f"({reml['pi_kind']})" in line


def test_batch_rows_hold_the_json_numbers(tmp_path: Path) -> None:
    data = hm.load_effects("bcg")
    table = hm.batch(
        {"bcg": data},
        engine=["exact", "REML"],
        frequentist={"pi_kind": "t-k-1"},
        progress=False,
    ).table.set_index("engine")
    freq = hm.frequentist(data, "REML", pi_kind="t-k-1").to_dict()
    exact = hm.bayesian(data).to_dict()
    for engine, fit in (("REML", freq), ("exact", exact)):
        row = table.loc[engine]
        assert row["pred_kind"] == fit["pi_kind"]
        for column, key in (
            ("effect", "estimate"),
            ("effect_low", "ci_low"),
            ("effect_high", "ci_high"),
            ("pred_low", "pi_low"),
            ("pred_high", "pi_high"),
        ):
            # the vectorised exact engine agrees with fit_exact to ~1e-12 (tests/test_batch.py)
            assert row[column] == pytest.approx(fit["ratio"][key], rel=1e-9), (engine, column)
        assert row["tau"] == pytest.approx(fit["tau"], rel=1e-9)
