"""Influence and cumulative analyses in specs, reports, summary.json and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

import hiermeta as hm
from hiermeta.cli import main

pytestmark = pytest.mark.slow  # writes full reports with every figure (make test, CI)

SPEC = """title = "BCG: influence and cumulative"
[data]
dataset = "bcg"
covariates = ["year"]
[engines]
bayesian = ["exact"]
frequentist = ["REML"]
ci = ["wald"]
[influence]
gosh = true
gosh_subsets = 300  # a random sample of subsets (every one would be 8,191 REML fits)
[cumulative]
order = "year"
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("influence")
    (folder / "bcg.toml").write_text(SPEC)
    out = folder / "out"
    assert main(["run", str(folder / "bcg.toml"), "--out", str(out), "--json"]) == 0
    return out


def test_report_has_the_sections_and_figures(report: Path) -> None:
    text = (report / "report.md").read_text()
    assert "## Influence and leave-one-out" in text and "## Cumulative meta-analysis" in text
    for figure in ("leave_one_out", "baujat", "gosh", "cumulative", "trajectory"):
        assert (report / f"{figure}.png").is_file()
    data = hm.load_effects("bcg", covariates=["year"])
    table = hm.cumulative(hm.bayesian(data), order="year")
    assert hm.first_crossing(table, "P(RR < 1)") in text


def test_summary_json_holds_the_api_tables(report: Path) -> None:
    summary = json.loads((report / "summary.json").read_text())
    data = hm.load_effects("bcg", covariates=["year"])
    loo = hm.leave_one_out(hm.frequentist(data, "REML", pi_kind="z"))
    rows = summary["robustness"]["leave_one_out_frequentist"]
    assert [r["omitted"] for r in rows] == list(loo.index)
    assert [r["estimate"] for r in rows] == list(loo["estimate"])
    influence = summary["robustness"]["influence"]
    assert [r["cook_d"] for r in influence] == list(
        hm.influence(hm.frequentist(data)).loc[:, "cook_d"]
    )


def test_cli_fit_flags(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "s.csv"
    hm.load_effects("bcg", covariates=["year"]).to_frame().to_csv(csv, index=False)
    args = ["fit", str(csv), "--y", "y", "--se", "se", "--measure", "RR", "--study", "study"]
    assert main([*args, "--influence", "--cumulative", "year", "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert "## Cumulative meta-analysis" in text and "## Influence and leave-one-out" in text
    assert main([*args, "--cumulative", "decade"]) == 2
    assert "--cumulative 'decade': no such column" in capsys.readouterr().err


def test_plots_draw_from_the_tables() -> None:
    data = hm.load_effects("bcg", covariates=["year"])
    fit = hm.bayesian(data)
    ax = hm.report.leave_one_out_plot(hm.leave_one_out(fit), fit)
    assert len(ax.get_yticklabels()) == data.k
    ax = hm.report.trajectory_plot(hm.cumulative(fit))
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["P(RR < 1)", "P(new RR < 1)"]
    with pytest.raises(hm.InputError, match="a Bayesian fit"):
        hm.report.trajectory_plot(hm.cumulative(hm.frequentist(data)))
    plt.close("all")
