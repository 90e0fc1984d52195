"""The CLI, specs and the report: bad input is rejected cleanly, good input writes everything."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import hiermeta as hm
from hiermeta.cli import main

GOOD_CSV = "study,hr,lo,hi,design\nA,0.66,0.49,0.88,RCT\nB,1.04,0.81,1.34,RCT\nC,0.53,0.36,0.78,obs\nD,0.65,0.55,0.76,obs\nE,0.72,0.56,0.94,obs\n"
FIT_ARGS = ["--estimate", "hr", "--lower", "lo", "--upper", "hi", "--study", "study"]


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "studies.csv"
    path.write_text(GOOD_CSV)
    return path


def _spec(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(body)
    return path


BAD_CSVS = {
    "inverted CI": (
        "study,hr,lo,hi\nA,0.5,0.3,0.8\nB,0.7,0.9,0.6\n",
        "study 'B': lower CI 0.9 is not below upper 0.6",
    ),
    "text": ("study,hr,lo,hi\nA,0.5,0.3,0.8\nB,abc,0.5,0.9\n", "study 'B': 'hr' is 'abc'"),
    "missing column": (
        "study,hr,low,hi\nA,0.5,0.3,0.8\n",
        "--lower 'lo': no such column in bad.csv; columns are ['study', 'hr', 'low', 'hi']",
    ),
    "empty file": ("", "the file is empty"),
    "header only": ("study,hr,lo,hi\n", "no rows"),
}


@pytest.mark.parametrize("case", list(BAD_CSVS))
def test_bad_csv_exits_2_with_one_line_and_writes_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, message = BAD_CSVS[case]
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    out = tmp_path / "out"
    code = main(["fit", str(csv), *FIT_ARGS, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("hiermeta: error:") and message in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.csv"]  # no temporary folder left behind


def test_non_utf8_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "latin1.csv"
    csv.write_bytes("study,hr,lo,hi\nMüller,0.5,0.3,0.8\n".encode("latin-1"))
    assert main(["fit", str(csv), *FIT_ARGS]) == 2
    assert "not UTF-8" in capsys.readouterr().err


BAD_SPECS = {
    "unknown key": (
        '[data]\ndataset = "bcg"\nsubsett = "x"\n',
        "unknown key 'subsett' in [data]; valid keys are",
    ),
    "unknown table": ('[dataa]\ndataset = "bcg"\n', "unknown key 'dataa' in the top level"),
    "unknown dataset": ('[data]\ndataset = "bcgg"\n', "unknown dataset 'bcgg'"),
    "missing moderator": (
        '[data]\ndataset = "bcg"\n[model]\nmoderators = ["latitude"]\n',
        "moderator 'latitude' is not a covariate",
    ),
    "bad prior": (
        '[data]\ndataset = "bcg"\n[priors]\ntau = { family = "halfnormall", scale = 0.5 }\n',
        "unknown tau prior family 'halfnormall'",
    ),
    "bad prior parameter": (
        '[data]\ndataset = "bcg"\n[priors]\ntau = { family = "halfnormal", sd = 0.5 }\n',
        "unknown parameter of halfnormal 'sd'; valid options are 'scale'",
    ),
    "invalid toml": ("[data\n", "invalid TOML"),
    "no data": ("title = 'x'\n", "[data] needs 'dataset'"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_exits_2_and_writes_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body, message = BAD_SPECS[case]
    out = tmp_path / "out"
    code = main(["run", str(_spec(tmp_path, body)), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert not out.exists()


def test_fit_json_prints_only_json(good_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(good_csv), *FIT_ARGS, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["k"] == 5
    assert payload["primary_engine"] == "exact"


def test_report_numbers_equal_the_api(
    good_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert main(["fit", str(good_csv), *FIT_ARGS, "--moderator", "design", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "forest.png",
        "posterior.nc",
        "posterior.png",
        "report.html",
        "report.md",
        "summary.json",
        "tau.png",
    ]
    summary = json.loads((out / "summary.json").read_text())
    import pandas as pd

    data = hm.from_ratio_ci(
        pd.read_csv(good_csv), "hr", "lo", "hi", study="study", covariates=["design"]
    )
    fit = hm.bayesian(data, moderators=["design"])
    exact = summary["bayesian"]["exact"]
    assert exact["estimate"] == fit.summary().loc["mu", "estimate"]
    key = "design=obs: P(HR < 1)"
    assert exact["probabilities"][key] == fit.prob(1.0, param="design=obs")
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<img" in html
    assert f"{fit.prob(1.0, param='design=obs'):.3f}" in (out / "report.md").read_text()


@pytest.mark.slow  # writes two full reports
def test_same_seed_same_summary_bytes(good_csv: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert main(["fit", str(good_csv), *FIT_ARGS, "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a" / "summary.json").read_bytes() == (
        tmp_path / "b" / "summary.json"
    ).read_bytes()


def test_datasets_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets"]) == 0
    assert "ptr_mbc" in capsys.readouterr().out


def test_every_bundled_spec_validates() -> None:
    from hiermeta.pipeline.spec import load_spec

    specs = sorted(Path(__file__).parents[1].joinpath("models").glob("*.toml"))
    assert len(specs) >= 6
    for path in specs:
        spec = load_spec(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert spec.effects().k >= 10
        # only the multilevel spec reads every row, and the three 'P < 0.05' rows are excluded
        expected = 1 if path.stem == "ptr_multilevel" else 0
        assert (
            sum(issubclass(w.category, hm.errors.ExcludedStudiesWarning) for w in caught)
            == expected
        )
