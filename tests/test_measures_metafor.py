"""Every converter against metafor's ``escalc`` (tests/reference/metafor_measures.json, made by
tests/reference/make_metafor_measures.R with metafor 3.8.1)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.errors import ExcludedStudiesWarning, InputError

REFERENCE = json.loads((Path(__file__).parent / "reference" / "metafor_measures.json").read_text())
#: Converters are closed-form: they agree with escalc to rounding (issue 14 asks for 1e-10).
ESCALC_TOL = 1e-10

CASES = {case["id"]: case for case in REFERENCE["escalc"]}


def _convert(case: dict) -> hm.EffectData:
    """The converter call equivalent to the escalc call of ``case``."""
    inputs = pd.DataFrame(case["inputs"])
    inputs["study"] = [f"s{i + 1}" for i in range(len(inputs))]
    measure, args = case["measure"], case["args"]
    if measure in ("MD", "SMD", "ROM"):
        return hm.from_means(inputs, "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "study", measure)
    if measure in ("PLO", "PR"):
        return hm.from_proportions(
            inputs, "xi", "ni", "study", measure, add=args["add"], to=args["to"]
        )
    if measure in ("ZCOR", "COR"):
        return hm.from_correlations(inputs, "ri", "ni", "study", measure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExcludedStudiesWarning)  # drop00 lists what it drops
        return hm.from_2x2(
            inputs,
            "ai",
            "bi",
            "ci",
            "di",
            "study",
            measure,
            add=args["add"],
            to=args["to"],
            drop00=args["drop00"],
        )


# the UB variance of an SMD is metafor's alternative; hiermeta implements escalc's default (LS)
IDS = [i for i in CASES if not i.endswith("_UB")]


@pytest.mark.parametrize("case_id", IDS)
def test_converter_matches_escalc(case_id: str) -> None:
    case = CASES[case_id]
    data = _convert(case)
    yi = np.array([np.nan if v is None else v for v in case["yi"]], dtype=float)
    vi = np.array([np.nan if v is None else v for v in case["vi"]], dtype=float)
    kept = np.isfinite(yi)
    assert data.k == int(kept.sum())  # rows escalc cannot compute are exactly the excluded ones
    np.testing.assert_allclose(data.y, yi[kept], rtol=ESCALC_TOL, atol=ESCALC_TOL)
    np.testing.assert_allclose(data.variance, vi[kept], rtol=ESCALC_TOL, atol=ESCALC_TOL)
    assert data.measure == case["measure"]


def test_every_new_measure_is_covered() -> None:
    covered = {case["measure"] for case in REFERENCE["escalc"]}
    assert {"MD", "SMD", "ROM", "PLO", "PR", "ZCOR", "COR", "OR", "RR", "RD"} <= covered


def test_md_keeps_the_outcome_sd() -> None:
    case = CASES["normand1999_MD"]
    data = _convert(case)
    inputs = pd.DataFrame(case["inputs"])
    m = inputs.n1i + inputs.n2i - 2
    pooled = np.sqrt(((inputs.n1i - 1) * inputs.sd1i**2 + (inputs.n2i - 1) * inputs.sd2i**2) / m)
    assert data.outcome_sd == pytest.approx(float(np.median(pooled)), rel=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda t: hm.from_means(t, "m1", "sd1", "n1", "m2", "sd2", "n2", "s", "ROM"),
            "positive means",
        ),
        (lambda t: hm.from_proportions(t, "m1", "n1", "s"), "events in a group"),
        (lambda t: hm.from_correlations(t, "sd1", "n1", "s"), "strictly between"),
    ],
)
def test_bad_values_name_the_study(call, message: str) -> None:
    table = pd.DataFrame(
        {
            "s": ["A", "B"],
            "m1": [5.0, 30.0],
            "sd1": [0.5, 1.0],
            "n1": [20, 20],
            "m2": [4.0, -1.0],
            "sd2": [1.0, 1.0],
            "n2": [20, 20],
        }
    )
    with pytest.raises(InputError, match="study 'B'") as err:
        call(table)
    assert message in str(err.value)


# --------------------------------------------------------------------- se of tau² (issue 14.4)
#: Closed-form (DL, HE, SJ, HS) or converged to 1e-12 in the fixture: agreement to 1e-10.
SE_TAU2_TOL = 1e-10


@pytest.mark.parametrize("case", ["bcg_RR", "normand1999_SMD"])
@pytest.mark.parametrize("method", ["DL", "HE", "SJ", "HS", "REML", "ML", "EB", "PM"])
def test_se_tau2_matches_metafor(case: str, method: str) -> None:
    ref = REFERENCE["se_tau2"][case]
    table = pd.DataFrame({"y": ref["yi"], "v": ref["vi"]})
    fit = hm.frequentist(hm.from_log_se(table, y="y", variance="v", measure="GEN"), method)
    expected = ref["fits"][method]
    assert fit.tau2 == pytest.approx(expected["tau2"], rel=SE_TAU2_TOL)
    assert fit.se_tau2 == pytest.approx(expected["se.tau2"], rel=SE_TAU2_TOL)


# ------------------------------------------------------ Mantel–Haenszel and Peto (issue 14.3)
#: Closed-form estimators and tests: agreement to rounding.
CLASSIC_TOL = 1e-10


def _table(name: str) -> pd.DataFrame:
    table = pd.DataFrame({k: REFERENCE["tables"][name][k] for k in ("ai", "bi", "ci", "di")})
    table["study"] = [f"s{i + 1}" for i in range(len(table))]
    return table


def _check(result, ref: dict) -> None:
    for ours, key in (
        (result.estimate, "beta"),
        (result.se, "se"),
        (result.ci_low, "ci.lb"),
        (result.ci_high, "ci.ub"),
        (result.z, "zval"),
        (result.p_value, "pval"),
        (result.q, "QE"),
        (result.q_p, "QEp"),
        (result.i2, "I2"),
        (result.h2, "H2"),
    ):
        assert ours == pytest.approx(ref[key], rel=CLASSIC_TOL, abs=CLASSIC_TOL), key
    assert result.k == ref["k"]


MH_CASES = [(m["dataset"], m["measure"]) for m in REFERENCE["mh"]]


@pytest.mark.parametrize(("dataset", "measure"), MH_CASES)
def test_mantel_haenszel_matches_rma_mh(dataset: str, measure: str) -> None:
    ref = next(m for m in REFERENCE["mh"] if (m["dataset"], m["measure"]) == (dataset, measure))
    result = hm.mantel_haenszel(_table(dataset), "ai", "bi", "ci", "di", "study", measure)
    _check(result, ref)
    if measure == "OR":
        for name in ("MH", "CO", "BD", "TA"):
            if ref.get(name) is None:
                assert name not in result.tests
                continue
            assert result.tests[name][0] == pytest.approx(
                ref[name], rel=CLASSIC_TOL, abs=CLASSIC_TOL
            )
            if ref.get(f"{name}p") is not None:
                assert result.tests[name][2] == pytest.approx(
                    ref[f"{name}p"], rel=1e-8, abs=CLASSIC_TOL
                )


@pytest.mark.parametrize("dataset", [p["dataset"] for p in REFERENCE["peto"]])
def test_peto_matches_rma_peto(dataset: str) -> None:
    ref = next(p for p in REFERENCE["peto"] if p["dataset"] == dataset)
    _check(hm.peto(_table(dataset), "ai", "bi", "ci", "di", "study"), ref)
