"""Calibration of :func:`hiermeta.agreement`'s threshold with iid draws of the exact posterior.

A NUTS fit that is *correct* still differs from the exact engine by Monte-Carlo error, and the
MCSEs it is measured in are themselves estimates. The study gives iid draws of the exact
posterior the same shape as a NUTS fit (4 chains × 2,000 draws) and records the z-scores
agreement() computes: how often a correct fit would be flagged at each threshold, per quantity
and per fit (any of its 11 quantities). :data:`hiermeta.analyses.agreement.AGREEMENT_Z` is set
from it so that about 1 correct fit in 1,000 is flagged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hiermeta.analyses.agreement import agreement_from_draws
from hiermeta.data.convert import from_log_se
from hiermeta.engines.exact.engine import fit_exact

__all__ = ["agreement_z_scores", "false_alarm_table"]

THRESHOLDS = (3.0, 3.5, 4.0, 4.25, 4.5, 4.75, 5.0, 5.5, 6.0)


def agreement_z_scores(
    replicates: int = 5000, chains: int = 4, draws: int = 2000, random_seed: int = 2026
) -> pd.DataFrame:
    """One row per replicate, one column per agreement quantity: the z-scores of iid draws.

    Each replicate simulates a log-HR meta-analysis (k from 3 to 12, mu ~ N(0, 0.5),
    tau ~ HalfNormal(0.5), SEs uniform on 0.05–0.5), fits the exact engine with the default
    priors and draws ``chains × draws`` iid posterior samples.
    """
    rng = np.random.default_rng(random_seed)
    rows = []
    for r in range(replicates):
        k = int(rng.integers(3, 13))
        tau, mu = abs(rng.normal(0, 0.5)), rng.normal(0, 0.5)
        se = rng.uniform(0.05, 0.5, k)
        y = rng.normal(mu, np.sqrt(se**2 + tau**2))
        data = from_log_se(pd.DataFrame({"y": y, "se": se}), "y", "se")
        fit = fit_exact(data)
        iid = fit.draws(chains * draws, random_seed=r)
        shaped = {
            "mu": iid["beta"][:, 0].reshape(chains, draws),
            "tau": iid["tau"].reshape(chains, draws),
            "predictive": iid["predictive"].reshape(chains, draws),
        }
        rows.append(agreement_from_draws(shaped, fit)["z"])
    return pd.DataFrame(rows).reset_index(drop=True)


def false_alarm_table(z: pd.DataFrame, thresholds: tuple[float, ...] = THRESHOLDS) -> pd.DataFrame:
    """Per threshold: the share of quantities and of fits (any quantity) with |z| above it."""
    absolute = z.abs().fillna(0.0)
    return pd.DataFrame(
        {
            "per quantity": [float((absolute > t).to_numpy().mean()) for t in thresholds],
            "per fit": [float((absolute > t).any(axis=1).mean()) for t in thresholds],
        },
        index=pd.Index(thresholds, name="threshold |z|"),
    )
