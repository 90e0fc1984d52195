"""Simulated meta-analyses with known truth (for designs, calibration and the docs)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hiermeta.constants import Z95
from hiermeta.errors import InputError

__all__ = ["simulate"]


def simulate(
    k: int,
    mu: float | Mapping[str, float],
    tau: float,
    *,
    strata: Mapping[str, int] | None = None,
    events: tuple[int, int] = (40, 400),
    decimals: int = 2,
    random_seed: int | None = None,
) -> pd.DataFrame:
    """Simulate k studies reporting a hazard ratio with a 95% CI, as papers print them.

    True log HRs are ``theta_i ~ N(mu[stratum], tau²)``; each study's SE is that of a log HR
    from a trial with ``d`` deaths split evenly, ``SE = 2/sqrt(d)`` with ``d`` uniform in
    ``events``; the reported HR and CI are rounded to ``decimals`` like a publication.

    Parameters
    ----------
    k
        Number of studies.
    mu
        True mean log HR, or one per stratum (e.g. ``{"1": log(0.55), "2": log(0.7)}``).
    tau
        True between-study SD (log scale).
    strata
        Number of studies per stratum (must sum to k); required when ``mu`` is a mapping.
    events
        Range of the number of deaths per study.
    random_seed
        Seed; the same seed gives the same table.

    Returns
    -------
    DataFrame
        ``study, stratum, hr, ci_low, ci_high, se_true, theta_true, simulated``.
    """
    if k < 1:
        raise InputError(f"k must be at least 1; got {k}")
    rng = np.random.default_rng(random_seed)
    if isinstance(mu, Mapping):
        if not strata or sum(strata.values()) != k:
            raise InputError(
                f"strata {dict(strata or {})} must give the number of studies per stratum, summing to k = {k}"
            )
        unknown = set(strata) - set(mu)
        if unknown:
            raise InputError(f"no true mean given for strata {sorted(unknown)}")
        labels = [name for name, n in strata.items() for _ in range(n)]
        means = np.array([mu[name] for name in labels])
    else:
        labels = ["all"] * k
        means = np.full(k, float(mu))
    deaths = rng.integers(events[0], events[1] + 1, size=k)
    se = 2 / np.sqrt(deaths)
    theta = means + tau * rng.standard_normal(k)
    y = theta + se * rng.standard_normal(k)
    z = Z95
    return pd.DataFrame(
        {
            "study": [f"Sim {i + 1:02d}" for i in range(k)],
            "stratum": labels,
            "hr": np.round(np.exp(y), decimals),
            "ci_low": np.round(np.exp(y - z * se), decimals),
            "ci_high": np.round(np.exp(y + z * se), decimals),
            "deaths": deaths,
            "se_true": se,
            "theta_true": theta,
            "simulated": True,
        }
    )
