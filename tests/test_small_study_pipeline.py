"""Small-study effects in specs, reports, summary.json, the CLI and batches, and their bad
input: every number a report or a row shows equals the API's (which the metafor and
brute-force tests pin)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

import hiermeta as hm
from hiermeta.analyses.small_study import small_study_effects
from hiermeta.cli import main

SPEC = """title = "Magnesium <b>trials</b>"
[data]
dataset = "egger2001"
[engines]
bayesian = ["exact"]
frequentist = ["REML"]
ci = ["wald"]
[report]
benefit = "lower"
[small_study]
steps = [0.025]
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("small")
    (folder / "mag.toml").write_text(SPEC)
    out = folder / "out"
    assert main(["run", str(folder / "mag.toml"), "--out", str(out), "--json"]) == 0
    return out


@pytest.mark.slow  # writes a full report / runs a batch
def test_report_section_figure_and_summary_equal_the_api(report: Path) -> None:
    text = (report / "report.md").read_text()
    assert "## Small-study effects and publication bias" in text
    assert (report / "funnel.png").is_file()
    assert "<b>" not in (report / "report.html").read_text()  # the title is escaped
    summary = json.loads((report / "summary.json").read_text())["small_study"]
    api = small_study_effects(hm.frequentist(hm.load_effects("egger2001")), favoured="lower")
    assert summary["favoured"] == "lower"
    assert summary["answer"] == api.describe()
    egger = next(t for t in summary["tests"] if t["test"] == "Egger's regression test")
    assert egger["p_value"] == api.regression.p_value
    assert summary["trimfill"]["k0"] == api.trimfill.k0
    incl = {r["component"]: r for r in summary["averaging"]["inclusion"]}
    assert incl["bias"]["BF_inclusion"] == api.averaging.inclusion().loc["bias", "BF_inclusion"]
    assert api.averaging.describe() in text


def test_small_k_note_and_funnel_without_filled_studies() -> None:
    data = hm.load_effects("bcg").take(list(range(6)))
    result = small_study_effects(hm.frequentist(data))
    assert any("little power" in note for note in result.notes)
    ax = hm.report.funnel_plot(data.y, data.se, 0.0, "RR", True, None)
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # standard error axis inverted
    plt.close("all")


@pytest.mark.slow  # writes a full report / runs a batch
def test_cli_fit_small_study_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "s.csv"
    hm.load_effects("hackshaw1998").to_frame().to_csv(csv, index=False)
    args = ["fit", str(csv), "--y", "y", "--se", "se", "--measure", "OR", "--study", "study"]
    assert main([*args, "--small-study", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "Small-study effects: Egger's test" in out
    assert (
        "## Small-study effects and publication bias" in (tmp_path / "r" / "report.md").read_text()
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "[small_study]\ntrimfill = 'L1'",
            "trimfill = 'L1' is not valid; valid values are L0, R0, Q0, none",
        ),
        ("[small_study]\nselection = 'gamma'", "selection = 'gamma' is not valid"),
        ("[small_study]\nsteps = 'low'", "steps must be a list of numbers"),
        ("[small_study]\naveraging = 'yes'", "averaging must be true or false"),
        ("[small_study]\nfavoured = 'down'", "favoured = 'down' is not valid"),
        ("[small_study]\nbias = true", "unknown key 'bias' in [small_study]"),
        ("[small_study]\nsteps = [0.05, 1.5]", "steps must be one-sided p-values between 0 and 1"),
    ],
)
def test_bad_small_study_spec_is_one_line(tmp_path: Path, table: str, message: str, capsys) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(SPEC.split("[small_study]")[0] + table + "\n")
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # writes a full report / runs a batch
def test_a_part_that_cannot_be_fitted_is_reported_not_fatal(tmp_path: Path) -> None:
    spec = tmp_path / "steps.toml"
    spec.write_text(SPEC.replace("steps = [0.025]", "steps = [0.0001, 0.0002]"))
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "The selection model not computed: no study's p-value falls in the interval" in text


@pytest.mark.slow  # writes a full report / runs a batch
def test_batch_small_study_columns_equal_the_api(tmp_path: Path) -> None:
    data = {"mag": hm.load_effects("egger2001"), "bcg": hm.load_effects("bcg")}
    result = hm.batch(data, engine=["REML"], small_study=True, progress=False, out=tmp_path / "b")
    row = result.table.set_index("analysis").loc["mag"]
    api = small_study_effects(hm.frequentist(data["mag"]))
    assert row["egger_p"] == api.regression.p_value
    assert row["trimfill_k0"] == api.trimfill.k0
    assert row["pet_peese_effect"] == pytest.approx(np.exp(api.pet_peese.estimate), rel=1e-12)
    assert row["bma_bf_bias"] == api.averaging.inclusion().loc["bias", "BF_inclusion"]
    # resuming the folder with the same settings re-runs nothing; other settings are refused
    again = hm.batch(data, engine=["REML"], small_study=True, progress=False, out=tmp_path / "b")
    assert again.table["egger_p"].tolist() == result.table["egger_p"].tolist()
    with pytest.raises(hm.InputError):
        hm.batch(data, engine=["REML"], progress=False, out=tmp_path / "b")


def test_api_inputs_are_named() -> None:
    fit = hm.frequentist(hm.load_effects("egger2001"))
    with pytest.raises(hm.InputError, match="estimator"):
        hm.trimfill(fit, "L9")
    with pytest.raises(hm.InputError, match="side"):
        hm.trimfill(fit, side="up")
    with pytest.raises(hm.InputError, match=r"study 'Morton 1984': sample size"):
        hm.regtest(fit, "ninv", sample_size=[0] + [100] * 15)
    with pytest.raises(hm.InputError, match="moderators"):
        hm.regtest(hm.frequentist(hm.load_effects("bcg"), moderators="ablat"))
    with pytest.raises(hm.InputError, match="frequentist fit"):
        hm.trimfill(hm.bayesian(hm.load_effects("bcg")))
    with pytest.raises(hm.InputError, match="alpha"):
        hm.pet_peese(fit, alpha=2)
    with pytest.raises(hm.InputError, match="steps"):
        hm.selection_model(fit, "stepfun", steps=["a"])
    with pytest.raises(hm.InputError, match="alternative"):
        hm.selection_model(fit, "stepfun", alternative="up")
    for call in (
        lambda: hm.regtest(fit, ci_level=95),
        lambda: hm.selection_model(fit, ci_level=1.5),
        lambda: hm.bias_averaging(fit, ci_level="high"),
    ):
        with pytest.raises(hm.InputError, match="ci_level"):
            call()
