"""Accuracy of the exact engine: quadrature error, independent brute force, calibration."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import hiermeta as hm
from hiermeta.engines.exact import fit_exact

#: Accuracy of the quadrature itself (issue 13: 1e-8 for probabilities), against a grid twelve
#: times finer; quantiles of tau, whose density can be steep, to 1e-7.
PROB_TOL = 1e-8
QUANTILE_TOL = 1e-7
#: Independent brute force (scipy.integrate.quad, epsrel 1e-10) vs our quadrature.
BRUTE_TOL = 1e-7
FINE_PANELS = 192  # twelve times the default number of panels


def _bcg(n: int | None = None) -> hm.EffectData:
    data = hm.load_effects("bcg")
    return data if n is None else data.subset(np.arange(data.k) < n)


CASES = {
    "bcg-default": (_bcg(), hm.priors.Normal(0, 1), hm.priors.HalfNormal(0.5), None),
    "bcg3-halfcauchy-flat": (_bcg(3), hm.priors.Flat(), hm.priors.HalfCauchy(0.5), None),
    "bcg1-halfnormal-flat": (_bcg(1), hm.priors.Flat(), hm.priors.HalfNormal(0.5), None),
    "bcg-invgamma": (_bcg(), hm.priors.Normal(0, 1), hm.priors.InverseGamma(2.42, 0.30), None),
    "bcg-lognormal": (_bcg(), hm.priors.Normal(0, 1), hm.priors.LogNormalTau2(-2.56, 1.74), None),
    "bcg-uniform": (_bcg(), hm.priors.Normal(0, 1), hm.priors.Uniform(1.0), None),
    "bcg-jeffreys": (_bcg(), hm.priors.Flat(), hm.priors.Jeffreys(), None),
    "bcg-ablat": (_bcg(), hm.priors.Normal(0, 1), hm.priors.HalfNormal(0.5), ["ablat"]),
    "bcg-alloc": (_bcg(), hm.priors.Flat(), hm.priors.HalfStudentT(3, 0.5), ["alloc"]),
    # a prior vanishing at tau = 0 with two studies: the posterior rises steeply from 0 (the
    # case that needed the grid's scale set by the lower end of the support)
    "k2-invgamma": (
        hm.from_log_se(pd.DataFrame({"y": [-0.61, 0.27], "se": [0.271, 0.541]}), "y", "se"),
        hm.priors.Normal(0, 1),
        hm.priors.InverseGamma(2.42, 0.30),
        None,
    ),
    # one very precise study and a heavy-tailed prior
    "precise-halfcauchy": (
        hm.from_log_se(
            pd.DataFrame({"y": [-0.3, 0.1, -0.5, 0.2], "se": [0.022, 0.3, 0.4, 0.55]}), "y", "se"
        ),
        hm.priors.Normal(0, 1),
        hm.priors.HalfCauchy(0.5),
        None,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_quadrature_converged(case: str) -> None:
    data, mu_prior, tau_prior, mods = CASES[case]
    default = fit_exact(data, mu_prior, tau_prior, mods)
    fine = fit_exact(data, mu_prior, tau_prior, mods, panels=FINE_PANELS)
    probs = np.array([0.001, 0.025, 0.25, 0.5, 0.75, 0.975, 0.999])
    for param in ["mu", "tau", "predictive"]:
        np.testing.assert_allclose(
            default.quantile(param, probs), fine.quantile(param, probs), atol=QUANTILE_TOL
        )
    for threshold in (0.3, 0.5, 0.8, 1.0, 1.2):
        assert abs(default.prob(threshold) - fine.prob(threshold)) < PROB_TOL
        assert (
            abs(default.prob(threshold, predictive=True) - fine.prob(threshold, predictive=True))
            < PROB_TOL
        )


def _brute_force(
    data: hm.EffectData, prior_sd: float, tau_scale: float, c: np.ndarray, x: float
) -> tuple[float, float]:
    """P(c'beta < x) and log p(y) by scipy quad over tau, with textbook dense-matrix algebra.

    beta ~ N(0, prior_sd² I), tau ~ HalfNormal(tau_scale), y ~ N(X beta, diag(se²) + tau² I).
    """
    X = hm.data.build_design(data, ["ablat"]).X
    y, v = data.y, data.variance
    p = X.shape[1]
    prior_cov = prior_sd**2 * np.eye(p)

    def parts(tau: float) -> tuple[float, float, float]:
        sigma = np.diag(v + tau**2)
        marginal = stats.multivariate_normal(np.zeros(len(y)), sigma + X @ prior_cov @ X.T)
        gain = prior_cov @ X.T @ np.linalg.inv(sigma + X @ prior_cov @ X.T)
        mean = gain @ y
        cov = prior_cov - gain @ X @ prior_cov
        weight = stats.halfnorm.pdf(tau, scale=tau_scale) * math.exp(marginal.logpdf(y))
        return weight, float(c @ mean), float(np.sqrt(c @ cov @ c))

    def evidence(tau: float) -> float:
        return parts(tau)[0]

    def tail(tau: float) -> float:
        w, m, s = parts(tau)
        return w * stats.norm.cdf((x - m) / s)

    breaks = [0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.5, 3.0]  # where the integrand lives: quad needs them
    z, _ = integrate.quad(evidence, 0, 20, epsrel=1e-11, limit=400, points=breaks)
    numerator, _ = integrate.quad(tail, 0, 20, epsrel=1e-11, limit=400, points=breaks)
    return numerator / z, math.log(z)


def test_meta_regression_matches_brute_force() -> None:
    data = _bcg()
    fit = fit_exact(
        data,
        hm.priors.Normal(0, 2),
        hm.priors.HalfNormal(0.5),
        ["ablat"],
        beta_prior=hm.priors.Normal(0, 2),
    )
    c = np.array([0.0, 1.0])
    prob, log_evidence = _brute_force(data, 2.0, 0.5, c, -0.02)
    assert fit.posterior("ablat").cdf(np.array([-0.02]))[0] == pytest.approx(prob, abs=BRUTE_TOL)
    assert math.log(fit.marginal_likelihood) == pytest.approx(log_evidence, abs=BRUTE_TOL)


def test_bayes_factor_tau0_equals_savage_dickey() -> None:
    # BF01 for tau = 0 computed from marginal likelihoods must equal the Savage–Dickey ratio
    # posterior density / prior density at tau = 0 (an independent route to the same number)
    data = _bcg(6)
    prior = hm.priors.HalfNormal(0.5)
    fit = fit_exact(data, hm.priors.Normal(0, 1), prior)
    savage_dickey = fit.posterior("tau").pdf(np.array([0.0]))[0] / math.exp(
        prior.logpdf(np.array([0.0]))[0]
    )
    assert fit.bayes_factor("tau=0") == pytest.approx(savage_dickey, rel=1e-6)


def test_bayes_factor_mu0_equals_savage_dickey() -> None:
    data = _bcg(6)
    mu_prior = hm.priors.Normal(0, 1)
    fit = fit_exact(data, mu_prior, hm.priors.HalfNormal(0.5))
    density_at_zero = fit.posterior("mu").pdf(np.array([0.0]))[0]  # type: ignore[attr-defined]
    assert fit.bayes_factor("mu=0") == pytest.approx(
        density_at_zero / stats.norm.pdf(0, 0, 1), rel=1e-6
    )


def test_improper_priors_have_no_marginal_likelihood() -> None:
    fit = fit_exact(_bcg(), hm.priors.Flat(), hm.priors.HalfNormal(0.5))
    assert math.isnan(fit.marginal_likelihood)
    assert math.isnan(fit.bayes_factor("tau=0"))


#: Calibration: 95% intervals from data simulated from the prior must cover the true value
#: at 95%. 400 replicates: binomial sd 1.1 points; we allow 4 sd (false alarm ~ 6e-5).
REPLICATES = 400
COVERAGE_SD_MULT = 4


def test_calibration_under_the_prior() -> None:
    rng = np.random.default_rng(20261126)
    mu_prior, tau_prior = hm.priors.Normal(0, 1), hm.priors.HalfNormal(0.5)
    hits = {"mu": 0, "tau": 0, "predictive": 0}
    for _ in range(REPLICATES):
        k = int(rng.integers(3, 12))
        mu = rng.normal(0, 1)
        tau = abs(rng.normal(0, 0.5))
        se = rng.uniform(0.1, 0.6, k)
        y = rng.normal(mu + tau * rng.standard_normal(k), se)
        new_theta = mu + tau * rng.standard_normal()
        data = hm.from_log_se(pd.DataFrame({"y": y, "se": se}), y="y", se="se")
        fit = fit_exact(data, mu_prior, tau_prior)
        for param, truth in (("mu", mu), ("tau", tau), ("predictive", new_theta)):
            low, high = fit.quantile(param, [0.025, 0.975])
            hits[param] += low <= truth <= high
    sd = math.sqrt(0.95 * 0.05 / REPLICATES)
    for param, count in hits.items():
        assert abs(count / REPLICATES - 0.95) < COVERAGE_SD_MULT * sd, (param, count)


def test_many_priors_at_once_equal_single_fits() -> None:
    from hiermeta.engines.exact import fit_exact_many

    data = _bcg()
    priors = list(hm.priors.catalogue("logHR").values())
    for shared, single in zip(
        fit_exact_many(data, priors), [fit_exact(data, tau_prior=p) for p in priors], strict=True
    ):
        for param in ("mu", "tau", "predictive"):
            probs = [0.025, 0.5, 0.975]
            np.testing.assert_allclose(
                shared.quantile(param, probs), single.quantile(param, probs), atol=QUANTILE_TOL
            )
        assert abs(shared.prob(1.0, predictive=True) - single.prob(1.0, predictive=True)) < PROB_TOL


def test_turner_presets_are_looked_up_by_setting() -> None:
    prior = hm.priors.LogNormalTau2.turner(
        "all-cause mortality", "pharmacological vs. placebo / control"
    )
    assert (prior.mean, prior.sd) == (-3.95, 1.34)  # Turner et al. 2015 Table IV via bayesmeta
    with pytest.raises(hm.InputError, match="Did you mean 'all-cause mortality'"):
        hm.priors.LogNormalTau2.turner("all-cause mortalty")


#: The summary's batched quantile solve and each quantity's own mixture agree to the solvers'
#: convergence (both stop at a CDF error of ~1e-11 or below).
BATCH_TOL = 1e-9


@pytest.mark.parametrize("case", ["bcg-default", "bcg-alloc", "bcg-ablat"])
def test_summary_rows_equal_each_posterior(case: str) -> None:
    """Every row of the summary (one batched solve for all coefficients, subgroup means,
    new-study effects and tau) equals the quantiles of that quantity's own posterior: a row
    given another quantity's numbers would differ by far more."""
    data, mu_prior, tau_prior, mods = CASES[case]
    fit = fit_exact(data, mu_prior, tau_prior, mods)
    table = fit.summary()
    names = [n for n in table.index if n == "tau" or n in fit.parameters()]
    assert "tau" in names and "mu" in names
    for name in names:
        expected = fit.posterior(name).quantile(np.array([0.025, 0.5, 0.975]))
        got = table.loc[name, ["ci_low", "estimate", "ci_high"]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, expected, atol=BATCH_TOL, rtol=0, err_msg=name)


#: Simulated analyses behind the choice of the default grid (quadrature.PANELS).
GRID_STUDY_ANALYSES = 60


@pytest.mark.slow
def test_default_grid_is_converged_on_simulated_analyses() -> None:
    """The smallest grid claim (16 panels × 12 nodes, range 40 nats) over many simulated
    meta-analyses (k = 2–39; half-normal, half-Cauchy and inverse-gamma tau priors), against a
    grid twelve times finer."""
    rng = np.random.default_rng(5)
    priors = [
        hm.priors.HalfNormal(0.5),
        hm.priors.HalfCauchy(0.5),
        hm.priors.InverseGamma(2.42, 0.3),
    ]
    probs = np.array([0.001, 0.025, 0.25, 0.5, 0.75, 0.975, 0.999])
    for i in range(GRID_STUDY_ANALYSES):
        k = int(rng.integers(2, 40))
        se = rng.uniform(0.05, 0.5, k)
        y = -0.3 + rng.normal(0, 0.25, k) + se * rng.standard_normal(k)
        data = hm.from_log_se(pd.DataFrame({"y": y, "se": se}), "y", "se")
        default = fit_exact(data, hm.priors.Normal(0, 1), priors[i % 3])
        fine = fit_exact(data, hm.priors.Normal(0, 1), priors[i % 3], panels=FINE_PANELS)
        for param in ["mu", "tau", "predictive"]:
            np.testing.assert_allclose(
                default.quantile(param, probs), fine.quantile(param, probs), atol=QUANTILE_TOL
            )
        for threshold in (0.5, 0.8, 1.0):
            for predictive in (False, True):
                assert (
                    abs(default.prob(threshold, predictive) - fine.prob(threshold, predictive))
                    < PROB_TOL
                )
