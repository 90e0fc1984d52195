"""Fast structural tests of the NUTS engine: sampling is replaced by exact iid draws.

The fake sampler returns draws from the exact engine, so every number downstream (summaries,
probabilities, diagnostics plumbing, DataTree groups) can be checked without MCMC. It is
injected through the public ``sampler=`` option (no private function is patched).
"""

from __future__ import annotations

import numpy as np
import pytest

import hiermeta as hm
from conftest import make_iid_sampler

#: iid draws: quantiles agree with the exact engine within a few MCSE; 4000 draws give an
#: MCSE of ~0.03 sd for central quantiles, so 0.1 posterior sd is > 3 MCSE.
IID_TOL_SD = 0.1


def _fake_sampler(divergences: int = 0) -> tuple[list[dict], object]:
    return make_iid_sampler(divergences)


def test_summary_and_probabilities_follow_the_draws() -> None:
    _, fake = _fake_sampler()
    data = hm.load_effects("bcg")
    fit = hm.bayesian(data, engine="nuts", random_seed=1, sampler=fake)
    exact = hm.bayesian(data, engine="exact")
    table, reference = fit.posterior_summary(), exact.posterior_summary()
    for param in ("mu", "tau", "predictive"):
        sd = reference.loc[param, "sd"]
        for column in ("median", "ci_low", "ci_high"):
            assert abs(table.loc[param, column] - reference.loc[param, column]) < IID_TOL_SD * sd
    assert fit.prob(1.0) == pytest.approx(exact.prob(1.0), abs=0.01)
    assert set(fit.idata.children) >= {
        "posterior",
        "prior",
        "posterior_predictive",
        "log_likelihood",
        "observed_data",
        "sample_stats",
    }
    assert list(fit.idata.posterior["theta"].coords["study"].values) == list(data.study)
    # the DataTree's "predictive" is the new study's true effect (as the exact engine's), the
    # random deviation is kept apart under its own name
    post = fit.idata.posterior
    np.testing.assert_array_equal(
        post["predictive"].values, post["mu"].values + post["new_study_deviation"].values
    )
    assert np.median(post["predictive"].values) == fit.quantile("predictive", 0.5)
    assert fit.parameterisation == "marginal"
    assert fit.converged


def test_failed_diagnostics_trigger_remedies_and_a_warning() -> None:
    calls, fake = _fake_sampler(divergences=3)
    data = hm.load_effects("bcg")
    with pytest.warns(hm.HiermetaWarning) as caught:
        fit = hm.bayesian(data, engine="nuts", random_seed=1, sampler=fake)
    kinds = [(w.category, str(w.message)) for w in caught]
    retries = [m for c, m in kinds if c is hm.RemedyWarning]
    assert len(retries) == 2 and "target_accept=0.99, tune=2000" in retries[0]  # announced
    assert any(c is hm.ConvergenceWarning and "divergences" in m for c, m in kinds)
    assert [c["target_accept"] for c in calls] == [0.9, 0.99, 0.999]
    assert [c["tune"] for c in calls] == [1000, 2000, 4000]
    assert [a.parameterisation for a in fit.attempts] == ["marginal", "marginal", "marginal"]
    assert not fit.converged
    assert any("DIAGNOSTICS FAILED" in n for n in fit.notes)
    table = fit.check()
    assert not table.loc[("sampler", "divergences"), "passed"]


def test_meta_regression_levels_and_contrasts() -> None:
    _, fake = _fake_sampler()
    data = hm.load_effects("bcg")
    fit = hm.bayesian(data, engine="nuts", moderators=["ablat"], random_seed=2, sampler=fake)
    assert "ablat" in fit.summary().index
    assert 0 <= fit.prob_contrast("ablat", "mu") <= 1


def test_seed_is_passed_to_the_sampler() -> None:
    calls, fake = _fake_sampler()
    data = hm.load_effects("bcg")
    a = hm.bayesian(data, engine="nuts", random_seed=7, sampler=fake)
    b = hm.bayesian(data, engine="nuts", random_seed=7, sampler=fake)
    assert calls[0]["seed"] == calls[1]["seed"] == 7
    np.testing.assert_array_equal(
        a.idata.posterior["theta"].values, b.idata.posterior["theta"].values
    )


def test_jeffreys_prior_is_refused_by_nuts_with_a_reason() -> None:
    with pytest.raises(hm.InputError, match="exact engine only"):
        hm.bayesian(hm.load_effects("bcg"), tau_prior=hm.priors.Jeffreys(), engine="nuts")


def test_unknown_engine_lists_the_valid_ones() -> None:
    with pytest.raises(hm.InputError, match="'exact', 'nuts'"):
        hm.bayesian(hm.load_effects("bcg"), engine="stan")
