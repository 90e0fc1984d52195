"""Real MCMC checked against the exact engine (slow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.diagnostics.agreement import AGREEMENT_Z

pytestmark = pytest.mark.slow


def _assert_trustworthy(
    fit: hm.posterior.BayesianResult, exact: hm.posterior.BayesianResult
) -> None:
    table = fit.check()  # type: ignore[attr-defined]
    assert table["passed"].all(), table[~table["passed"]]
    agreement = hm.agreement(fit, exact)
    assert agreement["agrees"].all(), agreement
    assert (agreement["z"].abs() <= AGREEMENT_Z).all()


def test_default_fit_agrees_with_exact_on_bcg() -> None:
    data = hm.load_effects("bcg")
    _assert_trustworthy(hm.bayesian(data, engine="nuts", random_seed=11), hm.bayesian(data))


def test_small_meta_analysis_with_a_dominant_study_and_flat_mu() -> None:
    # k = 4, one study 20× more precise than the others, flat prior on mu: the case where the
    # usual non-centred model diverges and biases the tails of the pooled HR
    frame = pd.DataFrame(
        {
            "study": ["Big", "A", "B", "C"],
            "y": [-0.2, -0.6, 0.1, -0.9],
            "se": [0.02, 0.35, 0.4, 0.5],
        }
    )
    data = hm.from_log_se(frame, y="y", se="se", study="study")
    flat = hm.priors.Flat()
    _assert_trustworthy(
        hm.bayesian(data, mu_prior=flat, engine="nuts", random_seed=5),
        hm.bayesian(data, mu_prior=flat),
    )


def test_same_seed_gives_identical_draws() -> None:
    data = hm.load_effects("bcg")
    a = hm.bayesian(data, engine="nuts", random_seed=3)
    b = hm.bayesian(data, engine="nuts", random_seed=3)
    np.testing.assert_array_equal(a.idata.posterior["mu"].values, b.idata.posterior["mu"].values)
    np.testing.assert_array_equal(
        a.idata.posterior["theta"].values, b.idata.posterior["theta"].values
    )
