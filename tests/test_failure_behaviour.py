"""Data that make NUTS struggle: a clear warning, the remedies tried, a report that says so."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import hiermeta as hm
from hiermeta.pipeline.report import write_report
from hiermeta.pipeline.report.render import md_escape
from hiermeta.pipeline.run import run_spec

pytestmark = pytest.mark.slow

CASES = {
    # two studies and a vague half-Cauchy(25) prior: tau is barely identified
    "k2-vague": (
        "study,hr,lo,hi\nA,0.61,0.41,0.90\nB,1.35,0.83,2.20\n",
        'tau = "halfcauchy(25)"\nmu = "flat()"',
    ),
    # one study a thousand times more precise (SE 0.0005 vs 0.5)
    "dominant": (
        "study,hr,lo,hi\nBig,0.819,0.8182,0.8198\nA,0.55,0.21,1.47\nB,1.11,0.42,2.96\nC,0.41,0.15,1.09\nD,1.49,0.56,3.97\n",
        'tau = "halfnormal(0.5)"',
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_struggling_sampler_is_reported(case: str, tmp_path: Path) -> None:
    csv_text, priors = CASES[case]
    (tmp_path / "studies.csv").write_text(csv_text)
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'title = "{case}"\n[data]\ncsv = "studies.csv"\nestimate = "hr"\nlower = "lo"\nupper = "hi"\nstudy = "study"\n'
        f'[priors]\n{priors}\n[engines]\nbayesian = ["nuts", "exact"]\nfrequentist = ["REML"]\nci = ["wald"]\n[nuts]\nrandom_seed = 1\n'
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analysis = run_spec(spec, progressbar=False)
    fit = analysis.bayes["nuts"]
    report = (write_report(analysis, tmp_path / "out") / "report.md").read_text()
    top = report.split("## Probability of benefit")[0]
    if fit.converged:
        assert "All diagnostics passed" in top
        assert not any(issubclass(w.category, hm.ConvergenceWarning) for w in caught)
    else:
        assert len(fit.attempts) == 3  # the first try and two remedies
        assert any(issubclass(w.category, hm.ConvergenceWarning) for w in caught)
        assert "Diagnostics failed" in top
        assert all(md_escape(f) in top for f in fit.attempts[-1].failed)
        assert "remedies tried" in report  # the methods paragraph lists every attempt


def test_nuts_summary_json_is_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    from hiermeta.cli import main

    (tmp_path / "s.csv").write_text(
        "study,hr,lo,hi\nA,0.66,0.49,0.88\nB,1.04,0.81,1.34\nC,0.53,0.36,0.78\nD,0.65,0.55,0.76\n"
    )
    args = [
        "fit",
        str(tmp_path / "s.csv"),
        "--estimate",
        "hr",
        "--lower",
        "lo",
        "--upper",
        "hi",
        "--study",
        "study",
        "--engine",
        "nuts",
        "--seed",
        "5",
        "--no-progress",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "summary.json").read_bytes() == (
        tmp_path / "b" / "summary.json"
    ).read_bytes()
