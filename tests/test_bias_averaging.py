"""Exact model averaging over small-study-effect models (hm.bias_averaging) against brute-force
integration: every model's marginal likelihood and posterior CDF of mu are integrated
numerically over (mu, beta, tau) on a composite Gauss–Legendre tensor grid — without the
conjugate algebra, the half-normal truncation identity or Owen's T that the engine uses."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, stats

import hiermeta as hm
from hiermeta.engines.exact.averaging import bvn_cdf, fit_model
from hiermeta.priors import HalfNormal, Normal

#: The engine integrates tau with 16 panels × 12 Gauss–Legendre nodes (accurate to 1e-8 in
#: probability, see test_exact_accuracy); the brute-force grid is finer still, so the two must
#: agree to the engine's stated accuracy.
ML_TOL = 1e-8  # absolute, on the log marginal likelihood
PROB_TOL = 1e-8  # absolute, on probabilities
#: Owen's T formula for the bivariate normal CDF against adaptive quadrature.
BVN_TOL = 1e-12

Y = np.array([-0.45, -0.10, -0.62, -0.05])
SE = np.array([0.12, 0.30, 0.45, 0.20])
MU_PRIOR, TAU_PRIOR = Normal(0, 1), HalfNormal(0.5)
BIAS_SD = {"none": 1.0, "PET": 1.0, "PEESE": 5.0}
DIRECTION = -1.0  # small studies show lower (more beneficial) effects
MODELS = list(itertools.product((False, True), (False, True), ("none", "PET", "PEESE")))


def _composite(lo: float, hi: float, panels: int, nodes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(lo, hi, panels + 1)
    half = np.diff(edges)[:, None] / 2
    mid = (edges[:-1] + edges[1:])[:, None] / 2
    return (mid + half * x).ravel(), (half * w).ravel()


#: Panels (× 10 nodes) per dimension of the brute-force grid. Measured when the test was
#: written: at these counts every log marginal likelihood agrees with the engine to 2e-11, at
#: half of them only to 6e-6 — the grid has converged far below ML_TOL. (Adaptive nquad at
#: epsrel 1e-11 agreed to 1e-15 on the 0–2-d models but takes minutes in 3-d.)
PANELS_MU, PANELS_BETA, PANELS_TAU = 60, 30, 30


def _brute(random: bool, effect: bool, bias: str, below: float | None = None) -> float:
    """∫ p(y | mu, beta, tau) p(mu) p(beta) p(tau) over mu < below (everything if None)."""
    v = SE**2
    g = {"none": np.zeros(4), "PET": SE, "PEESE": v}[bias]
    sb = BIAS_SD[bias]
    mu, w_mu = (
        _composite(-10.0, 10.0 if below is None else below, PANELS_MU)
        if effect
        else (np.zeros(1), np.ones(1))
    )
    beta, w_beta = (
        _composite(-8 * sb, 0.0, PANELS_BETA) if bias != "none" else (np.zeros(1), np.ones(1))
    )
    tau, w_tau = _composite(0.0, 5.0, PANELS_TAU) if random else (np.zeros(1), np.ones(1))
    log_prior_mu = stats.norm.logpdf(mu, 0, 1) if effect else np.zeros(1)
    log_prior_beta = (
        (math.log(2) + stats.norm.logpdf(beta, 0, sb)) if bias != "none" else np.zeros(1)
    )
    log_prior_tau = (math.log(2) + stats.norm.logpdf(tau, 0, 0.5)) if random else np.zeros(1)
    total = 0.0
    mean = mu[:, None, None] + beta[None, :, None] * g[None, None, :]  # (mu, beta, study)
    for t, wt, lpt in zip(tau, w_tau, log_prior_tau, strict=True):
        var = v + t**2
        ll = -0.5 * np.sum(np.log(2 * math.pi * var) + (Y - mean) ** 2 / var, axis=2)
        dens = np.exp(ll + log_prior_mu[:, None] + log_prior_beta[None, :] + lpt)
        total += wt * float(w_mu @ dens @ w_beta)
    return total


def _fit(random: bool, effect: bool, bias: str):
    return fit_model(
        Y,
        SE,
        random=random,
        effect=effect,
        bias=bias,
        mu_prior=MU_PRIOR,
        tau_prior=TAU_PRIOR,
        bias_sd=BIAS_SD[bias],
        direction=DIRECTION,
    )


@pytest.mark.parametrize(
    ("h", "k", "rho"),
    [
        (0.3, -0.2, 0.5),
        (-1.2, 0.7, -0.8),
        (2.5, 2.0, 0.95),
        (-3.0, -2.5, 0.3),
        (0.0, 0.4, -0.2),
        (1.0, 0.0, 0.6),
    ],
)
def test_bivariate_normal_cdf_against_quadrature(h: float, k: float, rho: float) -> None:
    root = math.sqrt(1 - rho**2)
    expected = integrate.quad(
        lambda x: stats.norm.pdf(x) * stats.norm.cdf((k - rho * x) / root),
        -np.inf,
        h,
        epsabs=1e-14,
        epsrel=1e-13,
    )[0]
    assert abs(float(bvn_cdf(np.array(h), np.array(k), np.array(rho))) - expected) < BVN_TOL


@pytest.mark.parametrize(
    ("random", "effect", "bias"), [m for m in MODELS if not (m[0] and m[1] and m[2] != "none")]
)
def test_marginal_likelihood_matches_brute_force(random: bool, effect: bool, bias: str) -> None:
    """Every model with at most two integrated dimensions (the 3-d ones: the slow test)."""
    expected = math.log(_brute(random, effect, bias))
    assert abs(_fit(random, effect, bias).log_ml - expected) < ML_TOL


@pytest.mark.slow
@pytest.mark.parametrize("bias", ["PET", "PEESE"])
def test_marginal_likelihood_3d_matches_brute_force(bias: str) -> None:
    expected = math.log(_brute(True, True, bias))
    assert abs(_fit(True, True, bias).log_ml - expected) < ML_TOL


@pytest.mark.parametrize(
    ("random", "bias"), [(False, "none"), (False, "PET"), (True, "none"), (False, "PEESE")]
)
@pytest.mark.parametrize("below", [-0.5, -0.3, 0.0])
def test_posterior_cdf_of_mu_matches_brute_force(random: bool, bias: str, below: float) -> None:
    expected = _brute(random, True, bias, below) / _brute(random, True, bias)
    got = float(_fit(random, True, bias).pieces().cdf(below)[0])
    assert abs(got - expected) < PROB_TOL


@pytest.mark.slow
def test_averaged_probability_combines_models_by_posterior_weight() -> None:
    """P(mu < c) averaged over the 12 models = Σ p(m | y) P(mu < c | m), each part brute force."""
    data = hm.EffectData(study=("s0", "s1", "s2", "s3"), y=Y, se=SE, measure="HR")
    result = hm.bias_averaging(data, MU_PRIOR, TAU_PRIOR, favoured="lower")
    fast = [m for m in MODELS if not (m[0] and m[1] and m[2] != "none")]
    # the 3-d models are checked in the slow test; here their engine values stand in
    ml = {m: (_brute(*m) if m in fast else math.exp(_fit(*m).log_ml)) for m in MODELS}
    prior = {m: 0.5 * 0.5 * {"none": 0.5, "PET": 0.25, "PEESE": 0.25}[m[2]] for m in MODELS}
    weights = {m: prior[m] * ml[m] for m in MODELS}
    total = sum(weights.values())
    below = math.log(0.8)
    expected = 0.0
    for m in MODELS:
        if not m[1]:
            continue  # mu = 0 is not below log(0.8)
        cdf = (
            _brute(*m, below) / _brute(*m) if m in fast else float(_fit(*m).pieces().cdf(below)[0])
        )
        expected += weights[m] / total * cdf
    assert abs(result.prob(below) - expected) < PROB_TOL
    table = result.models()
    assert abs(table["posterior"].sum() - 1) < 1e-12


def test_quantiles_invert_the_averaged_cdf_including_the_atom_at_zero() -> None:
    data = hm.EffectData(study=("s0", "s1", "s2", "s3"), y=Y, se=SE, measure="HR")
    result = hm.bias_averaging(data, MU_PRIOR, TAU_PRIOR, favoured="lower")
    mix = result._target("mu")
    for q in (0.025, 0.3, 0.5, 0.9, 0.975):
        x = result.quantile(q)
        if x == 0.0:  # inside the atom: the CDF jumps over q at 0
            assert float(mix.cdf(-1e-9)[0]) < q <= float(mix.cdf(0.0)[0])
        else:
            assert abs(float(mix.cdf(x)[0]) - q) < 1e-9


def test_inclusion_bayes_factors_are_posterior_over_prior_odds() -> None:
    result = hm.bias_averaging(hm.load_effects("hackshaw1998"))
    incl, models = result.inclusion(), result.models()
    post = models.loc[models["bias"] != "none", "posterior"].sum()
    assert incl.loc["bias", "BF_inclusion"] == pytest.approx(post / (1 - post), rel=1e-12)
    # hackshaw1998 (passive smoking): the classic funnel asymmetry — bias gets the evidence
    assert incl.loc["bias", "BF_inclusion"] > 10
    assert result.favoured == "higher"  # odds ratios above 1: the auto direction


def test_bad_input_is_named() -> None:
    data = hm.load_effects("hackshaw1998")
    with pytest.raises(hm.InputError, match="Normal prior on mu"):
        hm.bias_averaging(data, hm.priors.Flat())
    with pytest.raises(hm.InputError, match="favoured"):
        hm.bias_averaging(data, favoured="down")
    with pytest.raises(hm.InputError, match="sum to 1"):
        hm.bias_averaging(data, model_priors={"bias": {"none": 0.5, "PET": 0.5, "PEESE": 0.5}})
    with pytest.raises(hm.InputError, match="pet_sd"):
        hm.bias_averaging(data, pet_sd=-1)
