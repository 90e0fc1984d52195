"""``hiermeta fit``: every input kind, CSV dialects, frequentist options, plain-text output.

Numbers are checked against the API (itself pinned to metafor in the metafor suite).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.cli import main

BCG = hm.load_effects("bcg")


def _json(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict:
    assert main([*args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_log_se_input_with_frequentist_options(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "log.csv"
    pd.DataFrame({"study": BCG.study, "y": BCG.y, "se": BCG.se}).to_csv(csv, index=False)
    args = ["fit", str(csv), "--y", "y", "--se", "se", "--measure", "RR", "--study", "study"]
    summary = _json(capsys, [*args, "--method", "DL", "--ci-method", "knapp-hartung"])
    fit = summary["frequentist"]["DL (Knapp–Hartung)"]
    api = hm.frequentist(BCG, "DL", ci="knapp-hartung").to_dict()
    assert fit["estimate"] == pytest.approx(api["estimate"], rel=1e-12)
    assert fit["pi_kind"] == "t-k-1"  # metafor's default after Knapp–Hartung


def test_2x2_input(tmp_path: Path, capsys) -> None:
    table = hm.load_dataset("bcg")
    csv = tmp_path / "counts.csv"
    table.to_csv(csv, index=False)
    cells = ["--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"]
    summary = _json(capsys, ["fit", str(csv), *cells, "--measure", "RR"])
    api = hm.from_2x2(table, "tpos", "tneg", "cpos", "cneg", measure="RR")
    assert summary["k"] == api.k
    reml = hm.frequentist(api, "REML").to_dict()
    assert summary["frequentist"]["REML (Wald)"]["estimate"] == pytest.approx(
        reml["estimate"], rel=1e-12
    )


def test_semicolon_csv_with_decimal_commas_and_a_bom(tmp_path: Path, capsys) -> None:
    plain = "study,hr,lo,hi\nA,0.66,0.49,0.88\nB,1.04,0.81,1.34\nC,0.53,0.36,0.78\n"
    european = plain.replace(",", ";").replace(".", ",")
    (tmp_path / "plain.csv").write_text(plain)
    (tmp_path / "eu.csv").write_text(european, encoding="utf-8-sig")
    cols = ["--estimate", "hr", "--lower", "lo", "--upper", "hi", "--study", "study"]
    a = _json(capsys, ["fit", str(tmp_path / "plain.csv"), *cols])
    b = _json(capsys, ["fit", str(tmp_path / "eu.csv"), *cols])
    assert a["bayesian"] == b["bayesian"] and a["studies"] == b["studies"] == ["A", "B", "C"]


def test_plain_text_shows_heterogeneity_and_the_frequentist_fit(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("study,hr,lo,hi\nA,0.66,0.49,0.88\nB,1.04,0.81,1.34\nC,0.53,0.36,0.78\n")
    cols = ["--estimate", "hr", "--lower", "lo", "--upper", "hi", "--study", "study"]
    assert main(["fit", str(csv), *cols]) == 0
    out = capsys.readouterr().out
    fit = hm.frequentist(hm.from_ratio_ci(pd.read_csv(csv), "hr", "lo", "hi", study="study"))
    het = fit.heterogeneity()
    assert "Heterogeneity (exact): tau = " in out
    assert f"Frequentist REML (Wald): HR {math.exp(fit.estimate):.2f}" in out
    assert f"Q = {het.q:.2f}" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--moderator", "region"], "--moderator 'region': no such column in s.csv"),
        (["--y", "y"], "give the columns of one input kind"),
        (["--tau-prior", "halfnormol(0.5)"], "Did you mean 'halfnormal'"),
    ],
)
def test_errors_name_the_users_own_input(tmp_path: Path, capsys, extra, message) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("study,hr,lo,hi\nA,0.66,0.49,0.88\nB,1.04,0.81,1.34\n")
    cols = ["--estimate", "hr", "--lower", "lo", "--upper", "hi"]
    assert main(["fit", str(csv), *cols, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "fit.toml" not in err and "Traceback" not in err


@pytest.mark.slow  # a NUTS fit in a fresh process
def test_without_a_terminal_there_are_no_progress_tables(tmp_path: Path) -> None:
    """Run as a log would see it: stderr is a pipe, not a terminal (no PyMC progress table)."""
    import subprocess
    import sys

    csv = tmp_path / "s.csv"
    csv.write_text("study,hr,lo,hi\nA,0.66,0.49,0.88\nB,1.04,0.81,1.34\nC,0.53,0.36,0.78\n")
    code = "import sys; from hiermeta.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [
        "fit",
        str(csv),
        "--estimate",
        "hr",
        "--lower",
        "lo",
        "--upper",
        "hi",
        "--engine",
        "nuts",
    ]
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "NUTS attempt 1 of at most 3 (marginal, target_accept 0.98, tune 1000)" in run.stderr
    assert "Progress" not in run.stderr and "━" not in run.stderr


EXAMPLES = Path(__file__).parents[1] / "data" / "examples"
DATA = Path(__file__).parents[1] / "data"


@pytest.mark.parametrize(
    ("csv", "columns", "api"),
    [
        (
            DATA / "normand1999.csv",
            [
                "--m1",
                "m1i",
                "--sd1",
                "sd1i",
                "--n1",
                "n1i",
                "--m2",
                "m2i",
                "--sd2",
                "sd2i",
                "--n2",
                "n2i",
                "--study",
                "source",
            ],
            lambda t: hm.from_means(t, "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "source", "SMD"),
        ),
        (
            DATA / "pritz1997.csv",
            ["--events", "xi", "--n", "ni", "--study", "authors"],
            lambda t: hm.from_proportions(t, "xi", "ni", "authors"),
        ),
        (
            EXAMPLES / "mortality_events.csv",
            [
                "--events1",
                "deaths_drug",
                "--n1",
                "n_drug",
                "--events2",
                "deaths_placebo",
                "--n2",
                "n_placebo",
                "--study",
                "study",
            ],
            lambda t: hm.from_events(
                t, "deaths_drug", "n_drug", "deaths_placebo", "n_placebo", "study"
            ),
        ),
        (
            EXAMPLES / "survival_logrank.csv",
            ["--o-minus-e", "o_minus_e", "--v", "v", "--study", "study"],
            lambda t: hm.from_oe_v(t, "o_minus_e", "v", "study"),
        ),
    ],
    ids=["means-SMD", "proportions-PLO", "events-OR", "oe_v-HR"],
)
def test_every_input_kind_with_the_measures_default_priors(csv, columns, api, capsys) -> None:
    summary = _json(capsys, ["fit", str(csv), *columns])
    data = api(pd.read_csv(csv))
    assert summary["measure"] == data.measure and summary["studies"] == list(data.study)
    exact = hm.bayesian(data).to_dict()  # the measure's default priors, as the CLI's
    assert summary["bayesian"]["exact"]["estimate"] == pytest.approx(exact["estimate"], rel=1e-12)
    assert summary["bayesian"]["exact"]["methods"] == exact["methods"]


def test_correlations_input(tmp_path: Path, capsys) -> None:
    table = hm.load_dataset("molloy2014")
    table["label"].to_frame().assign(r=table.ri, n=table.ni).to_csv(tmp_path / "r.csv", index=False)
    summary = _json(
        capsys, ["fit", str(tmp_path / "r.csv"), "--r", "r", "--n", "n", "--study", "label"]
    )
    assert summary["measure"] == "ZCOR"
    assert summary["bayesian"]["exact"]["ratio"]["estimate"] == pytest.approx(
        math.tanh(hm.bayesian(hm.load_effects("molloy2014")).to_dict()["estimate"]), rel=1e-12
    )


def test_an_md_without_priors_names_the_priors_to_give(capsys) -> None:
    args = ["fit", str(EXAMPLES / "hospitalisation_log_hr.csv"), "--y", "log_hr", "--se", "se"]
    assert main([*args, "--measure", "MD"]) == 2
    assert "mu_prior" in capsys.readouterr().err
    assert (
        main(
            [
                *args,
                "--measure",
                "MD",
                "--mu-prior",
                "normal(0,1)",
                "--tau-prior",
                "halfnormal(0.5)",
                "--json",
            ]
        )
        == 0
    )
