"""The Bayesian step-function selection model (NUTS) against its posterior integrated by brute
force: for one cutpoint the model has three parameters (mu, tau, omega_2 ~ Uniform(0, 1) — the
cumulative Dirichlet(1, 1)), so the posterior can be integrated on a tensor Gauss–Legendre grid
with the likelihood written out directly (scipy's normal CDF, not the model's erfc)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import hiermeta as hm
from hiermeta.priors import HalfNormal, Normal

#: NUTS and the integral must agree within this many Monte-Carlo standard errors (a z-score;
#: at 4.5 a correct sampler fails one comparison in ~150,000).
Z_MAX = 4.5

pytestmark = pytest.mark.slow


def _grid(lo: float, hi: float, panels: int, nodes: int = 8) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(lo, hi, panels + 1)
    half = np.diff(edges)[:, None] / 2
    mid = (edges[:-1] + edges[1:])[:, None] / 2
    return (mid + half * x).ravel(), (half * w).ravel()


def _brute_posterior(
    y: np.ndarray, se: np.ndarray, cut: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior weights on a (mu, tau, omega) grid and the mu and omega nodes ("greater")."""
    mu, w_mu = _grid(-1.0, 1.5, 50)
    tau, w_tau = _grid(0.0, 1.0, 25)
    om, w_om = _grid(0.0, 1.0, 10)
    p = stats.norm.sf(y / se)
    sig = p <= cut
    c = se * stats.norm.isf(cut)  # y ≥ c ↔ significant
    M, T, W = np.meshgrid(mu, tau, om, indexing="ij")
    logpost = stats.norm.logpdf(M, 0, 1) + stats.halfnorm.logpdf(T, scale=0.5)
    for yi, si, ci, gi in zip(y, se, c, sig, strict=True):
        sd = np.sqrt(si**2 + T**2)
        p_sig = stats.norm.sf((ci - M) / sd)
        area = p_sig + W * (1 - p_sig)
        logpost = logpost + stats.norm.logpdf(yi, M, sd) + (0.0 if gi else np.log(W)) - np.log(area)
    weight = (
        np.exp(logpost - logpost.max())
        * w_mu[:, None, None]
        * w_tau[None, :, None]
        * w_om[None, None, :]
    )
    return weight / weight.sum(), M, W


def test_selection_model_posterior_matches_brute_force_integration() -> None:
    data = hm.load_effects("hackshaw1998")
    y, se = np.asarray(data.y), np.asarray(data.se)
    fit = hm.bayesian_selection_model(
        data,
        steps=0.025,
        alternative="greater",
        mu_prior=Normal(0, 1),
        tau_prior=HalfNormal(0.5),
        random_seed=3,
    )
    assert fit.passed, fit.failed()
    weight, M, W = _brute_posterior(y, se, 0.025)
    exact_mean = float(np.sum(weight * M))
    exact_p = float(np.sum(weight * (M < 0.15)))
    draws = np.asarray(fit.idata.posterior["mu"].values)
    import arviz_stats as azs

    mcse_mean = float(azs.mcse(draws, method="mean"))
    assert abs(draws.mean() - exact_mean) / mcse_mean < Z_MAX
    below = (draws < 0.15).astype(float)
    mcse_p = float(azs.mcse(below, method="mean"))
    assert abs(below.mean() - exact_p) / mcse_p < Z_MAX
    # and the selection weight: the posterior mean of omega_2
    om = np.asarray(fit.idata.posterior["omega"].values)[..., 1]
    exact_om = float(np.sum(weight * W))
    assert abs(om.mean() - exact_om) / float(azs.mcse(om, method="mean")) < Z_MAX
