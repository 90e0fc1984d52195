"""Plots read the result contract: any engine draws; Bayesian-only plots say so."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

import hiermeta as hm
from hiermeta.results.intervals import probability_text


def _in_plot_order(fit: hm.FrequentistResult) -> list[float]:
    """metafor's weights (1/(v + tau²), normalised) of the studies, grouped by alloc."""
    w = 1 / (fit.data.variance + fit.tau2)
    w = 100 * w / w.sum()
    alloc = fit.data.covariates["alloc"].to_numpy()
    return [
        w[i]
        for level in ("alternate", "random", "systematic")
        for i in range(len(w))
        if alloc[i] == level
    ]


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
    assert "pooled, alloc = random (frequentist)" in labels
    weights = [
        t.get_text() for t in ax.texts if t.get_text().endswith("%") and t.get_text()[0].isdigit()
    ]
    assert weights == [f"{w:.1f}%" for w in _in_plot_order(freq)]
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
    assert labels == [probability_text("P(RR < 1)", fit.prob(1.0))]
    assert ax.get_title(loc="left") == "Posterior of the pooled mean RR"
    plt.close("all")
