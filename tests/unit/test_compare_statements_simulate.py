"""hm.compare, the probability statements and hm.simulate."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hiermeta as hm
from hiermeta.pipeline.report.statements import probability_statements
from hiermeta.results.intervals import probability_text


@pytest.fixture(scope="module")
def fits() -> tuple:
    data = hm.load_effects("bcg")
    return hm.frequentist(data, "REML"), hm.bayesian(data)


def test_compare_rows_are_each_fits_contract_numbers(fits) -> None:
    table = hm.compare(*fits)
    assert list(table.index) == [f.label for f in fits]
    for fit in fits:
        row = table.loc[fit.label]
        pooled = fit.pooled()
        assert row["RR"] == pytest.approx(math.exp(pooled.estimate), rel=1e-15)
        assert row["pi"] == fit.prediction().kind
    assert np.isnan(table.loc[fits[0].label, "P(RR < 1)"])
    assert table.loc[fits[1].label, "P(RR < 1)"] == fits[1].prob(1.0)


def test_compare_rejects_what_it_cannot_compare(fits) -> None:
    with pytest.raises(hm.InputError, match="names has 1 entries for 2 fits"):
        hm.compare(*fits, names=["one"])
    with pytest.raises(hm.InputError, match="cannot compare a str"):
        hm.compare("REML")


def test_statements_quote_the_api_probabilities(fits) -> None:
    exact = fits[1]
    lines = probability_statements(exact, (1.0, 0.8))
    assert len(lines) == 2
    assert probability_text("P(RR < 1)", exact.prob(1.0)) in lines[0]
    assert probability_text("P(RR < 0.8)", exact.prob(0.8, predictive=True)) in lines[1]
    assert "1.000" not in " ".join(lines)  # bcg: P(RR < 1) rounds to 1 — printed "> 0.999"
    assert "the true RR in a new study's population" in lines[1]


def test_simulate_is_reproducible_and_shaped_like_a_paper() -> None:
    mu = {"a": math.log(0.5), "b": math.log(0.8)}
    one = hm.simulate(6, mu, 0.1, strata={"a": 2, "b": 4}, random_seed=1)
    two = hm.simulate(6, mu, 0.1, strata={"a": 2, "b": 4}, random_seed=1)
    assert one.equals(two)
    assert list(one["stratum"]) == ["a", "a", "b", "b", "b", "b"]
    assert (one["ci_low"] <= one["hr"]).all() and (one["hr"] <= one["ci_high"]).all()
    assert (one["hr"].round(2) == one["hr"]).all()  # printed to two decimals
    with pytest.raises(hm.InputError, match="summing to k = 6"):
        hm.simulate(6, mu, 0.1, strata={"a": 2, "b": 3}, random_seed=1)
