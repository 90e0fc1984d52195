"""Quick versions of the validation studies (the full ones: make validate → docs/validation)."""

from __future__ import annotations

import math

import pytest

from hiermeta.validation import coverage_study, sbc_ranks, uniformity_pvalue

#: A calibrated engine fails the uniformity test with probability SBC_ALPHA per parameter.
SBC_ALPHA = 0.001
#: Coverage checks allow 4 Monte-Carlo standard errors of a 95% coverage.
MCSE_MULT = 4


@pytest.mark.slow  # a statistical study (simulation), run by make test
def test_knapp_hartung_near_nominal_and_wald_undercovers() -> None:
    # published finding (IntHout et al. 2014): with few studies and heterogeneity, Wald CIs
    # under-cover while Knapp–Hartung stays close to 95%
    replicates = 300
    table = coverage_study(ks=(5,), taus=(0.3,), replicates=replicates)
    row = table.iloc[0]
    mcse = 100 * math.sqrt(0.95 * 0.05 / replicates)
    assert row["REML Knapp–Hartung CI"] >= 95 - MCSE_MULT * mcse
    assert row["REML Wald CI"] < row["REML Knapp–Hartung CI"]
    assert row["PI z"] < row["PI t-k-2"]  # Partlett & Riley 2017: z PIs under-cover at small k


@pytest.mark.slow  # a statistical study (simulation), run by make test
@pytest.mark.parametrize("moderator", [False, True], ids=["random-effects", "meta-regression"])
def test_exact_engine_is_calibrated(moderator: bool) -> None:
    ranks = sbc_ranks("exact", replicates=300, moderator=moderator)
    for column in [c for c in ranks.columns if c != "k"]:
        assert uniformity_pvalue(ranks[column]) > SBC_ALPHA, column


@pytest.mark.slow
def test_nuts_random_effects_is_calibrated() -> None:
    ranks = sbc_ranks("nuts", replicates=60, k_range=(6, 6))
    for column in ("mu", "tau"):
        assert uniformity_pvalue(ranks[column]) > SBC_ALPHA, column


@pytest.mark.slow  # a statistical study (simulation), run by make test
def test_model_averaging_detects_selection_and_reduces_its_bias() -> None:
    """docs/validation/small_study_effects.md in small: publication bias raises the posterior
    probability of small-study effects and the averaged estimate is less biased than REML.
    With 40 literatures per scenario the mean posterior probabilities have a Monte-Carlo SE of
    about 0.04; the expected gaps (≈ 0.25–0.3 in the full study) are far larger."""
    from hiermeta.validation.small_study_study import small_study_study, summarise

    s = summarise(small_study_study(40, seed=11))
    for effect in ("no effect", "OR 0.75"):
        plain, selected = s.loc[f"{effect}, no selection"], s.loc[f"{effect}, selection"]
        assert selected["mean P(bias | y)"] > plain["mean P(bias | y)"] + 0.1
        assert abs(selected["bias of averaged median"]) < abs(selected["bias of REML"]) / 2
        assert plain["BF bias > 10"] <= 0.1
