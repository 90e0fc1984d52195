"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

Draw (mu, tau) from the prior, simulate a meta-analysis, fit it, and record the rank of the
true value among L posterior draws. If the engine computes the posterior correctly the ranks
are uniform on {0, …, L}; we test uniformity with a chi-square test on equal-width bins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from hiermeta.data.convert import from_log_se
from hiermeta.priors import DEFAULT_MU, DEFAULT_TAU, MuPrior, TauPrior

__all__ = ["sbc_ranks", "uniformity_pvalue"]


def sbc_ranks(
    fit: Callable[[Any], dict[str, np.ndarray]],
    replicates: int = 200,
    draws: int = 99,
    k_range: tuple[int, int] = (3, 12),
    mu_prior: MuPrior = DEFAULT_MU,
    tau_prior: TauPrior = DEFAULT_TAU,
    moderator: bool = False,
    random_seed: int = 2024,
) -> pd.DataFrame:
    """Ranks of the true mu, tau (and a slope) among posterior draws, one row per replicate.

    Parameters
    ----------
    fit
        ``fit(data) -> {"mu": draws, "tau": draws[, "slope": draws]}`` — L posterior draws
        (independent, or thinned MCMC draws) for a simulated :class:`EffectData` with a
        covariate ``x`` (used when ``moderator`` is true).
    """
    rng = np.random.default_rng(random_seed)
    rows = []
    for _ in range(replicates):
        k = int(rng.integers(k_range[0], k_range[1] + 1))
        mu = float(rng.normal(mu_prior.mean, mu_prior.sd))  # type: ignore[attr-defined]
        tau = float(tau_prior.rvs(1, rng)[0])
        slope = float(rng.normal(0, 1)) if moderator else 0.0
        x = rng.uniform(-1, 1, k)
        se = rng.uniform(0.1, 0.6, k)
        y = mu + slope * x + tau * rng.standard_normal(k) + se * rng.standard_normal(k)
        data = from_log_se(
            pd.DataFrame({"y": y, "se": se, "x": x}), y="y", se="se", covariates=["x"]
        )
        post = fit(data)
        row = {
            "k": k,
            "mu": int(np.sum(post["mu"][:draws] < mu)),
            "tau": int(np.sum(post["tau"][:draws] < tau)),
        }
        if moderator:
            row["slope"] = int(np.sum(post["slope"][:draws] < slope))
        rows.append(row)
    return pd.DataFrame(rows)


def uniformity_pvalue(ranks: ArrayLike, draws: int = 99, bins: int = 10) -> float:
    """Chi-square test that ranks in {0, …, draws} are uniform (equal-width bins)."""
    edges = np.linspace(0, draws + 1, bins + 1)
    counts, _ = np.histogram(np.asarray(ranks), bins=edges)
    return float(stats.chisquare(counts).pvalue)
