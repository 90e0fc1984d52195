"""Statements speak each measure's words, and no probability prints as certainty."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.pipeline.report.statements import MEASURE_WORDS, probability_statements
from hiermeta.results.intervals import format_probability

# a small standardised-mean-difference dataset (Hedges' g and SE, as from escalc "SMD")
SMD = pd.DataFrame(
    {
        "study": list("ABCDE"),
        "g": [0.42, 0.18, 0.65, 0.05, 0.38],
        "se": [0.15, 0.2, 0.25, 0.12, 0.18],
    }
)


def _fit(measure: str) -> hm.BayesianResult:
    if measure == "OR":
        return hm.bayesian(hm.load_effects("hackshaw1998"))
    if measure == "RR":
        return hm.bayesian(hm.load_effects("bcg"))
    if measure == "MD":  # test points: priors on the data's own scale
        data = hm.load_effects("eight_schools")
        return hm.bayesian(data, mu_prior="normal(0, 50)", tau_prior="halfnormal(25)")
    data = hm.from_log_se(SMD, y="g", se="se", study="study", measure="SMD")
    return hm.bayesian(data, mu_prior="normal(0, 1)", tau_prior="halfnormal(0.5)")


@pytest.mark.parametrize("measure", ["OR", "RR", "MD", "SMD"])
def test_statements_use_the_measures_words(measure: str) -> None:
    fit = _fit(measure)
    assert fit.data.measure == measure
    text = " ".join(probability_statements(fit))
    words = MEASURE_WORDS[measure]
    assert f"{measure} " in text
    if fit.data.is_ratio:  # benefit is a lower ratio by default: the quantity is named
        assert f"lowers {words.quantity}" in text and "hazard" not in text
    else:  # no direction assumed: neutral words, and P(measure < 0)
        assert f"the {words.name} is below 0" in text and f"P({measure} < 0)" in text
    assert not re.search(r"\b(1\.000|0\.000|1\.00\b)", text)


def test_benefit_direction_changes_the_words_and_the_probability() -> None:
    fit = _fit("OR")
    lower = probability_statements(fit, (1.0,), benefit="lower")[0]
    higher = probability_statements(fit, (1.0,), benefit="higher")[0]
    assert "P(OR < 1)" in lower and "lowers the odds" in lower
    assert "P(OR > 1)" in higher and "raises the odds" in higher
    p = fit.prob(1.0)
    assert format_probability(p) in lower and format_probability(1 - p) in higher
    with pytest.raises(hm.InputError, match="benefit direction"):
        probability_statements(fit, benefit="up")


@pytest.mark.parametrize(
    ("p", "text"), [(0.99995, "> 0.999"), (0.00002, "< 0.001"), (0.5, "0.500")]
)
def test_probabilities_never_print_as_certainty(p: float, text: str) -> None:
    assert format_probability(p) == text


def test_knapp_hartung_prediction_is_metafors_default(metafor_reference: dict) -> None:
    fits = {f["id"]: f for f in metafor_reference["fits"]}
    data = hm.load_effects("bcg")
    for method in ("DL", "REML", "ML", "PM"):
        for test, ci in (("knha", "knapp-hartung"), ("z", "wald")):
            ref = fits[f"bcg_{method}_{test}"]["pi_metafor"]  # predict() on metafor's own fit
            pred = hm.frequentist(data, method, ci=ci).prediction()
            assert pred.kind == ("t-k-1" if ci == "knapp-hartung" else "z")
            assert (pred.low, pred.high) == pytest.approx(ref, rel=1e-8)
