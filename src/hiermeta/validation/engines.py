"""Posterior-draw functions of each engine, in the form :func:`sbc_ranks` expects."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from hiermeta.errors import ConvergenceWarning
from hiermeta.exact import fit_exact
from hiermeta.priors import Normal

__all__ = ["exact_draws", "nuts_draws"]


def exact_draws(
    moderator: bool = False, draws: int = 99, seed: int = 0
) -> Callable[[Any], dict[str, np.ndarray]]:
    """iid posterior draws from the exact engine."""

    counter = iter(range(10**9))

    def fit(data: Any) -> dict[str, np.ndarray]:
        result = fit_exact(data, moderators=["x"] if moderator else None, beta_prior=Normal(0, 1))
        # a new seed per replicate: draws sharing their random numbers would make ranks dependent
        d = result.draws(draws, random_seed=seed * 1_000_003 + next(counter))
        out = {"mu": d["beta"][:, 0], "tau": d["tau"]}
        if moderator:
            out["slope"] = d["beta"][:, 1]
        return out

    return fit


def nuts_draws(
    moderator: bool = False, draws: int = 99, seed: int = 0, sampler: str = "nutpie"
) -> Callable[[Any], dict[str, np.ndarray]]:
    """NUTS draws (2 chains × 500), thinned to ``draws`` evenly spaced draws."""
    from hiermeta.bayes import fit_nuts

    counter = iter(range(10**9))

    def fit(data: Any) -> dict[str, np.ndarray]:
        # short chains (2 × 500) by design: SBC judges calibration over many fits, so a single
        # fit's ESS below 400 is expected and its ConvergenceWarning is not the point here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = fit_nuts(
                data,
                moderators=["x"] if moderator else None,
                beta_prior=Normal(0, 1),
                random_seed=seed * 1_000_003 + next(counter),
                draws=500,
                chains=2,
                sampler=sampler,
                progressbar=False,
                remedies=False,
            )
        post = result.idata.posterior
        pick = np.linspace(0, 999, draws).astype(int)
        out = {
            "mu": post["mu"].values.reshape(-1)[pick],
            "tau": post["tau"].values.reshape(-1)[pick],
        }
        if moderator:
            out["slope"] = post["beta"].values.reshape(-1, post["beta"].shape[-1])[pick, 0]
        return out

    return fit
