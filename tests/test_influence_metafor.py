"""Leave-one-out, influence diagnostics, Baujat, cumulative meta-analysis and GOSH against
metafor 3.8 (tests/reference/make_metafor_influence.R → metafor_influence.json), and the
Bayesian leave-one-out and cumulative posteriors against independent exact fits of the subsets.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.analyses.influence import (
    baujat,
    cumulative,
    first_crossing,
    gosh,
    influence,
    leave_one_out,
)

REFERENCE = json.loads((Path(__file__).parent / "reference" / "metafor_influence.json").read_text())
#: metafor was run to threshold 1e-12; refits agree to ~1e-9 relative (iterative tau² per subset)
REL = 1e-7
ABS = 1e-9  # quantities that are exactly 0 in metafor (tau² at the boundary, Q of one study)
CI = {"z": "wald", "knha": "knapp-hartung"}


def _data(name: str, with_year: bool = True) -> hm.EffectData:
    frame = pd.DataFrame(REFERENCE["datasets"][name])
    frame["study"] = [f"{s} [{i}]" for i, s in enumerate(frame["study"])]  # unique labels
    covariates = ["year"] + (["ablat"] if "ablat" in frame else [])
    return hm.from_log_se(frame, y="yi", variance="vi", study="study", covariates=covariates)


def _fit(case: dict, mods: list[str] | None = None) -> hm.FrequentistResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hm.HiermetaWarning)
        return hm.frequentist(
            _data(case["dataset"]), case["method"], ci=CI[case["test"]], moderators=mods
        )


def _close(got, expected, what: str) -> None:
    if isinstance(expected, list) and not expected:  # metafor reports none (tau² of FE)
        assert np.all(np.asarray(got, dtype=float) == 0), what
        return
    expected = np.array([np.nan if e is None else e for e in expected], dtype=float)
    np.testing.assert_allclose(
        np.asarray(got, dtype=float), expected, rtol=REL, atol=ABS, err_msg=what
    )


@pytest.mark.parametrize("case", REFERENCE["leave1out"], ids=lambda c: c["id"])
def test_leave_one_out_matches_metafor(case: dict) -> None:
    table = leave_one_out(_fit(case))
    for ours, theirs in [
        ("estimate", "estimate"),
        ("se", "se"),
        ("ci_low", "ci_low"),
        ("ci_high", "ci_high"),
        ("p_value", "pval"),
        ("Q", "Q"),
        ("Q_p", "Qp"),
        ("tau2", "tau2"),
        ("I2", "I2"),
        ("H2", "H2"),
    ]:
        _close(table[ours], case[theirs], f"{case['id']} {ours}")


@pytest.mark.parametrize("case", REFERENCE["influence"], ids=lambda c: c["id"])
def test_influence_matches_metafor(case: dict) -> None:
    fit = _fit(case, [case["mods"]] if case["mods"] else None)
    table = influence(fit)
    for ours, theirs in [
        ("rstudent", "rstudent"),
        ("dffits", "dffits"),
        ("cook_d", "cook_d"),
        ("cov_r", "cov_r"),
        ("tau2_del", "tau2_del"),
        ("QE_del", "QE_del"),
        ("hat", "hat"),
        ("weight", "weight"),
    ]:
        _close(table[ours], case[theirs], f"{case['id']} {ours}")
    for j, name in enumerate(case["dfbetas"]):
        if name in ("slab", "digits"):
            continue
        column = "dfbetas mu" if j == 0 else f"dfbetas {name}"
        _close(table[column], case["dfbetas"][name], f"{case['id']} {column}")
    assert table["influential"].tolist() == case["influential"]


@pytest.mark.parametrize("case", REFERENCE["baujat"], ids=lambda c: c["id"])
def test_baujat_matches_metafor(case: dict) -> None:
    table = baujat(_fit(case))
    _close(table["x"], case["x"], "x")
    _close(table["y"], case["y"], "y")


@pytest.mark.parametrize("case", REFERENCE["cumul"], ids=lambda c: c["id"])
def test_cumulative_matches_metafor(case: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hm.HiermetaWarning)  # k = 1 rows: Knapp–Hartung needs k > 1
        table = cumulative(_fit(case), order=case["order"])
    first = 1 if case["test"] == "knha" else 0  # metafor has no t interval from one study
    for ours, theirs in [
        ("estimate", "estimate"),
        ("se", "se"),
        ("ci_low", "ci_low"),
        ("ci_high", "ci_high"),
        ("Q", "Q"),
        ("tau2", "tau2"),
        ("I2", "I2"),
        ("H2", "H2"),
    ]:
        _close(table[ours].iloc[first:], case[theirs][first:], f"{case['id']} {ours}")


@pytest.mark.parametrize("case", REFERENCE["gosh"], ids=lambda c: c["method"])
def test_gosh_all_subsets_match_metafor(case: dict) -> None:
    data = _data("bcg").subset(np.arange(13) < 8)
    result = gosh(hm.frequentist(data, case["method"]))
    assert result.all_subsets and len(result.table) == 255
    bits = [
        "".join("1" if b else "0" for b in row) for row in result.table[list(data.study)].to_numpy()
    ]
    assert sorted(bits) == sorted(case["incl"])  # every subset once (R orders them otherwise)
    ours = result.table.set_index(pd.Index(bits))
    for column in ("estimate", "QE", "I2", "tau2"):
        _close(ours.loc[case["incl"], column], case[column], column)


def test_bayesian_leave_one_out_and_cumulative_are_independent_exact_fits() -> None:
    data = hm.load_effects("bcg")
    fit = hm.bayesian(data, tau_prior="halfnormal(0.5)")
    loo = leave_one_out(fit)
    for i in (0, 7):
        alone = hm.bayesian(data.subset(np.arange(data.k) != i), tau_prior="halfnormal(0.5)")
        row = loo.iloc[i]
        assert row["estimate"] == alone.pooled().estimate
        assert row["P(RR < 1)"] == alone.prob(1.0)
        assert row["P(new RR < 0.8)"] == alone.prob(0.8, predictive=True)
    table = cumulative(fit, order="year")
    order = np.argsort(data.covariates["year"].to_numpy(), kind="stable")
    first3 = hm.bayesian(
        data.subset(np.isin(np.arange(data.k), order[:3])), tau_prior="halfnormal(0.5)"
    )
    assert table.iloc[2]["tau"] == first3.tau_estimate().estimate
    assert table.iloc[2]["P(RR < 1)"] == pytest.approx(first3.prob(1.0), abs=1e-15)
    assert "first exceeded 0.95 after" in first_crossing(table, "P(RR < 1)")


def test_refitting_is_refused_where_it_cannot_be_exact() -> None:
    data = hm.load_effects("bcg", covariates=["ablat"])
    with pytest.raises(hm.InputError, match="models without moderators"):
        leave_one_out(hm.frequentist(data, moderators=["ablat"]))
    with pytest.raises(hm.InputError, match="metafor's diagnostics of a frequentist fit"):
        influence(hm.bayesian(data))


def test_batch_leave_one_out_columns_equal_the_analysis(tmp_path) -> None:
    data = {"bcg": hm.load_effects("bcg"), "hackshaw": hm.load_effects("hackshaw1998")}
    result = hm.batch(data, engine=["exact", "REML"], leave_one_out=True, progress=False)
    table = result.table.set_index("task_id")
    for name, effects in data.items():
        exact = leave_one_out(hm.bayesian(effects))
        row = table.loc[name]
        ratio = np.exp(exact["estimate"])
        assert row["loo_effect_min"] == pytest.approx(ratio.min(), rel=1e-12)
        assert row["loo_effect_max"] == pytest.approx(ratio.max(), rel=1e-12)
        moved = (exact["estimate"] - hm.bayesian(effects).pooled().estimate).abs()
        assert row["loo_most_influential"] == moved.idxmax()
        assert row["loo_p_mean_below_min"] == pytest.approx(
            exact[f"P({effects.measure} < 1)"].min(), rel=1e-12
        )
        flags = influence(hm.frequentist(effects))
        expected = "; ".join(flags.index[flags["influential"]])
        assert (table.loc[f"{name}|REML", "influential_studies"] or "") == expected


def test_gosh_samples_subsets_when_there_are_too_many_and_reports_progress() -> None:
    calls: list[tuple[int, int]] = []
    fit = hm.frequentist(_data("bcg"), "DL")
    result = gosh(fit, max_subsets=700, random_seed=3, progress=lambda d, t: calls.append((d, t)))
    assert not result.all_subsets and len(result.table) == 700
    masks = result.table[list(fit.data.study)].to_numpy()
    assert (
        len({m.tobytes() for m in masks}) == 700 and masks.any(axis=1).all()
    )  # distinct, non-empty
    assert calls[-1] == (700, 700)
    again = gosh(fit, max_subsets=700, random_seed=3, progress=False)
    assert again.table.equals(result.table)  # seeded
    # each sampled subset is the same fit as that subset alone (oracle: the frequentist engine)
    row = result.table.iloc[5]
    alone = hm.frequentist(fit.data.subset(masks[5]), "DL")
    assert row["estimate"] == pytest.approx(alone.estimate, rel=1e-12)
    assert row["tau2"] == pytest.approx(alone.tau2, rel=1e-12, abs=1e-15)
