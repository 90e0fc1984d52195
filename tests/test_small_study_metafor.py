"""Small-study-effect methods against metafor 3.8 (tests/reference/make_metafor_small_study.R →
metafor_small_study.json): regtest (every predictor, rma and lm models), ranktest, trimfill
(L0, R0, Q0; side chosen or given) and selmodel (step functions and continuous weights)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.analyses.selection import SELECTION_TYPES, selection_model
from hiermeta.analyses.small_study import pet_peese, ranktest, regtest, trimfill

REFERENCE = json.loads(
    (Path(__file__).parent / "reference" / "metafor_small_study.json").read_text()
)
#: Closed-form statistics after a tau² estimate that both sides converge to 1e-12: agreement to
#: ~1e-10 relative is measured; 1e-7 leaves room for platform rounding.
REL = 1e-7
ABS = 1e-10
#: Selection models are maximised numerically (metafor: BFGS at reltol 1e-14; hiermeta:
#: L-BFGS-B + Nelder–Mead polish) and their standard errors come from numerical Hessians
#: (numDeriv's Richardson extrapolation vs ours): estimates agree to ~1e-6, SEs to ~1e-5.
SEL_REL = 1e-4
SEL_ABS = 1e-6
#: metafor integrates the beta weight function only to rel.tol 1e-8 (integrate() fails below),
#: and its numerical Hessian carries that error: its SEs agree to ~1e-4.
BETA_SEL_REL = 5e-4
MEASURE = {"hackshaw1998": "OR", "bcg": "RR", "egger2001": "OR"}
CI = {"z": "wald", "knha": "knapp-hartung"}


def _data(name: str) -> hm.EffectData:
    d = REFERENCE["datasets"][name]
    frame = pd.DataFrame(
        {"study": [f"{s} [{i}]" for i, s in enumerate(d["study"])], "yi": d["yi"], "vi": d["vi"]}
    )
    covariates = None
    if d.get("ni") is not None:
        frame["n"] = d["ni"]
        covariates = ["n"]
    return hm.from_log_se(
        frame, y="yi", variance="vi", study="study", measure=MEASURE[name], covariates=covariates
    )


def _fit(case: dict) -> hm.FrequentistResult:
    return hm.frequentist(_data(case["dataset"]), case["method"], ci=CI[case["test"]])


def _close(
    got: float, expected: float | None, what: str, rel: float = REL, abs_: float = ABS
) -> None:
    if expected is None:
        assert got is None or not np.isfinite(got), what
        return
    assert got == pytest.approx(expected, rel=rel, abs=abs_), what


def _id(case: dict) -> str:
    return "-".join(
        str(case.get(k))
        for k in (
            "dataset",
            "method",
            "test",
            "model",
            "predictor",
            "estimator",
            "side_arg",
            "type",
            "steps",
            "alternative",
        )
        if k in case
    )


@pytest.mark.parametrize("case", REFERENCE["regtest"], ids=_id)
def test_regtest_matches_metafor(case: dict) -> None:
    r = regtest(_fit(case), case["predictor"], case["model"])
    _close(r.statistic, case["zval"], "z")
    _close(r.p_value, case["pval"], "p")
    assert r.df == case["dfs"]
    _close(r.slope, case["slope"], "slope")
    _close(r.slope_se, case["slope_se"], "slope se")
    _close(r.limit_estimate, case["est"], "limit estimate")
    _close(r.limit_low, case["ci_low"], "limit low")
    _close(r.limit_high, case["ci_high"], "limit high")
    if case["model"] == "lm" and case["est"] is not None:  # the intercept is a limit estimate
        _close(r.limit_p_value, case["intercept_pval"], "intercept p")
    if case["model"] == "rma" and case["method"] != "FE":
        _close(r.tau2, case["tau2"], "tau2")


@pytest.mark.parametrize(
    "case", REFERENCE["ranktest"], ids=lambda c: f"{c['dataset']}-exact{c['exact']}"
)
def test_ranktest_matches_metafor(case: dict) -> None:
    r = ranktest(_fit(case), exact=case["exact"])
    _close(r.tau, case["tau"], "Kendall's tau")
    _close(r.p_value, case["pval"], "p")
    assert r.exact == (case["exact"] and not case["ties"])


@pytest.mark.parametrize("case", REFERENCE["trimfill"], ids=_id)
def test_trimfill_matches_metafor(case: dict) -> None:
    fit = _fit(case)
    if case.get("error"):
        with pytest.raises(hm.InputError, match="Q0"):
            trimfill(fit, case["estimator"], case["side_arg"])
        return
    r = trimfill(fit, case["estimator"], case["side_arg"])
    assert (r.side, r.k0) == (case["side"], case["k0"])
    _close(r.se_k0, case["se_k0"], "se k0")
    if case["p_k0"] is not None:
        _close(r.p_k0, case["p_k0"], "p k0")
    f = r.fit
    _close(f.estimate, case["estimate"], "estimate")
    _close(f.se, case["se"], "se")
    lo, hi = f.confidence_interval()
    _close(lo, case["ci_low"], "ci low")
    _close(hi, case["ci_high"], "ci high")
    _close(f.tau2, case["tau2"], "tau2")
    np.testing.assert_allclose(r.filled["y"], case["filled_yi"], rtol=REL, atol=ABS)
    np.testing.assert_allclose(r.filled["se"] ** 2, case["filled_vi"], rtol=REL, atol=ABS)


SUPPORTED = [c for c in REFERENCE["selmodel"] if c["type"] in SELECTION_TYPES]
#: The smooth weight functions integrate numerically (~0.5 s each): one stays in the fast suite.
FAST_TYPES = ("stepfun", "negexp")
SELMODEL_CASES = [
    c if c["type"] in FAST_TYPES else pytest.param(c, marks=pytest.mark.slow) for c in SUPPORTED
]


@pytest.mark.parametrize("case", SELMODEL_CASES, ids=_id)
def test_selection_model_matches_metafor(case: dict) -> None:
    assert not case.get("error"), case.get("error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hm.ConvergenceWarning)
        r = selection_model(_fit(case), case["type"], case["steps"], case["alternative"])
    rel = BETA_SEL_REL if case["type"] == "beta" else SEL_REL
    for ours, key in [
        (r.estimate, "beta"),
        (r.se, "se"),
        (r.ci_low, "ci_low"),
        (r.ci_high, "ci_high"),
        (r.tau2, "tau2"),
        (r.loglik, "ll"),
        (r.loglik_null, "ll0"),
        (r.lrt, "LRT"),
        (r.lrt_p, "LRTp"),
    ]:
        # an interval bound near 0 inherits the SE's error in absolute terms (z·se·rel)
        atol = 2 * rel * case["se"] if key in ("ci_low", "ci_high") else SEL_ABS
        _close(ours, case[key], key, rel, atol)
    if case["method"] != "FE":
        _close(r.se_tau2, case["se_tau2"], "se tau2", rel, SEL_ABS)
    np.testing.assert_allclose(r.delta, case["delta"], rtol=rel, atol=SEL_ABS)
    se_delta = np.array([np.nan if x is None else x for x in case["se_delta"]], dtype=float)
    np.testing.assert_allclose(r.se_delta, se_delta, rtol=rel, atol=SEL_ABS)
    assert r.lrt_df == case["LRTdf"]
    if case["type"] == "stepfun":
        assert list(r.counts) == list(np.atleast_1d(case["ptable_k"]))


def test_pet_peese_are_regtest_lm_limit_estimates() -> None:
    case = next(
        c
        for c in REFERENCE["regtest"]
        if c["dataset"] == "hackshaw1998"
        and c["model"] == "lm"
        and c["predictor"] == "sei"
        and c["method"] == "REML"
    )
    peese_case = next(
        c
        for c in REFERENCE["regtest"]
        if c["dataset"] == "hackshaw1998"
        and c["model"] == "lm"
        and c["predictor"] == "vi"
        and c["method"] == "REML"
    )
    r = pet_peese(_fit(case))
    _close(r.pet.limit_estimate, case["est"], "PET")
    _close(r.peese.limit_estimate, peese_case["est"], "PEESE")
    expected = "PEESE" if case["intercept_pval"] < 0.10 else "PET"
    assert r.chosen == expected


def test_sample_size_predictors_need_sizes() -> None:
    fit = hm.frequentist(hm.load_effects("hackshaw1998"))
    with pytest.raises(hm.InputError, match="sample sizes"):
        regtest(fit, "ninv")
    with pytest.raises(hm.InputError, match="predictor"):
        regtest(fit, "precision")
    with pytest.raises(hm.InputError, match="at least 3"):
        regtest(hm.frequentist(_data("bcg").take([0, 1])))


def test_selection_model_refuses_empty_interval_and_names_it() -> None:
    fit = hm.frequentist(hm.load_effects("hackshaw1998"))
    with pytest.raises(hm.InputError, match=r"0.0001 < p ≤ 0.0002"):
        selection_model(fit, "stepfun", (0.0001, 0.0002))
    with pytest.raises(hm.InputError, match="type"):
        selection_model(fit, "gamma")
    with pytest.raises(hm.InputError, match="no steps"):
        selection_model(fit, "beta", 0.05)
    assert math.isnan(regtest(fit, "sei").df or math.nan)


def test_bundled_magnesium_data_equal_metafor_escalc() -> None:
    """data/egger2001.csv converted by hiermeta = metafor's escalc of metadat's table."""
    ours = hm.load_effects("egger2001")
    ref = REFERENCE["datasets"]["egger2001"]
    np.testing.assert_allclose(ours.y, ref["yi"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.variance, ref["vi"], rtol=1e-12)
    assert list(ours.covariates["n"]) == ref["ni"]
