"""Plots read the result contract: any engine draws; Bayesian-only plots say so."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

import hiermeta as hm


@pytest.fixture(scope="module")
def freq() -> hm.FrequentistResult:
    return hm.frequentist(
        hm.load_effects("bcg", covariates=["alloc"]), "REML", moderators=["alloc"]
    )


def test_a_frequentist_fit_draws_a_forest_plot_on_the_given_axes(freq) -> None:
    fig, ax = plt.subplots()
    out = freq.plot_forest(ax=ax, by="alloc")
    assert out is ax
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert not any("shrunken" in t for t in legend)  # a frequentist fit has no shrinkage
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "alloc = random (frequentist)" in labels
    plt.close(fig)


def test_posterior_plots_need_a_bayesian_fit(freq) -> None:
    with pytest.raises(hm.InputError, match="needs a Bayesian fit"):
        freq.plot_posterior()
    with pytest.raises(hm.InputError, match="needs a Bayesian fit"):
        freq.plot_tau()


def test_posterior_plot_marks_the_api_probabilities() -> None:
    fit = hm.bayesian(hm.load_effects("bcg"))
    ax = fit.plot_posterior(thresholds=(1.0,))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"P(RR < 1) = {fit.prob(1.0):.3f}"]
    plt.close("all")
