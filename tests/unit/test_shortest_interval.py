"""The shortest-interval (HDI) search: its Newton path must converge by itself.

``shortest_interval`` falls back to a slower bisection on the lower tail probability whenever
its 2-D Newton iteration breaks down, so a wrong Newton step would still give the right answer
(the published-value tests cannot tell). Here the fallback is switched off: the answer must come
from Newton and satisfy the two conditions that define the interval, checked with the exact
posterior's own CDF and density (themselves tested against brute-force integration).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.results.posterior import ScalarPosterior

#: Newton stops at |F(hi) − F(lo) − level| < 1e-13 and |log f(hi) − log f(lo)| < 1e-10.
MASS_TOL = 1e-12
LOG_DENSITY_TOL = 1e-9


def _no_fallback(self: ScalarPosterior, level: float, eps: float) -> tuple[float, float]:
    raise AssertionError("the Newton search fell back to bisection")


@pytest.mark.parametrize("dataset", ["bcg", "eight_schools", "hackshaw1998"])
@pytest.mark.parametrize("param", ["mu", "predictive", "tau"])
def test_newton_search_finds_the_shortest_interval(
    dataset: str, param: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ScalarPosterior, "_shortest_by_alpha", _no_fallback)
    post = hm.bayesian(hm.load_effects(dataset)).posterior(param)
    lo, hi = post.shortest_interval(0.95)
    cdf = post.cdf(np.array([lo, hi]))
    assert abs(cdf[1] - cdf[0] - 0.95) < MASS_TOL
    if lo > post.lower_bound():  # an interval from 0 (tau) is shortest without equal densities
        dens = post.pdf(np.array([lo, hi]))
        assert abs(np.log(dens[1]) - np.log(dens[0])) < LOG_DENSITY_TOL
    central = post.quantile(np.array([0.025, 0.975]))
    assert hi - lo < central[1] - central[0]  # skewed posteriors: strictly shorter


def test_a_density_of_zero_on_the_way_gives_no_warning() -> None:
    """Under Uniform(0, 0.5) a Newton iterate can land beyond 0.5, where the density is 0: the
    search must fall back quietly (warnings are errors in the tests) to the right interval."""
    data = hm.from_log_se(
        pd.DataFrame({"y": [1.0, -1.0, 0.5], "se": [0.1] * 3}), "y", se="se", measure="HR"
    )
    post = hm.bayesian(data, tau_prior=hm.priors.Uniform(0.5)).posterior("tau")
    lo, hi = post.shortest_interval(0.95)
    cdf = post.cdf(np.array([lo, hi]))
    assert abs(cdf[1] - cdf[0] - 0.95) < MASS_TOL
    assert hi <= 0.5
