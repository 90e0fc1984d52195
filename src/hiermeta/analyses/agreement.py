"""Exact-vs-MCMC agreement in Monte-Carlo standard-error units."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["AGREEMENT_Z", "agreement"]

#: |NUTS − exact| / MCSE above this flags disagreement (4 MCSE: false alarm ~6e-5 per quantity).
AGREEMENT_Z = 4.0


def agreement(nuts: Any, exact: Any, thresholds: tuple[float, ...] = (1.0,)) -> pd.DataFrame:
    """Compare a NUTS fit with the exact engine on the same model.

    Quantities: quantiles (2.5%, 50%, 97.5%) of mu, tau and the predictive, and P(effect <
    threshold) for the mean and a new study. MCSEs of quantiles come from ArviZ
    (``mcse(method="quantile")``), of probabilities from the ESS of the indicator.

    Returns
    -------
    DataFrame
        ``nuts``, ``exact``, ``mcse``, ``z`` and ``agrees`` (|z| ≤ :data:`AGREEMENT_Z`).
    """
    import arviz_stats as azs

    rows = []
    for param in ("mu", "tau", "predictive"):
        draws = nuts._chain_draw(param)
        for q in (0.025, 0.5, 0.975):
            value = float(np.quantile(draws, q))
            mcse = float(azs.mcse(draws, method="quantile", prob=q))
            rows.append((f"{param} q{q:g}", value, float(exact.quantile(param, q)), mcse))
    for threshold in thresholds:
        for predictive in (False, True):
            label = f"P({'new ' if predictive else ''}{nuts.data.measure} < {threshold:g})"
            rows.append(
                (
                    label,
                    nuts.prob(threshold, predictive=predictive),
                    exact.prob(threshold, predictive=predictive),
                    nuts.prob_mcse(threshold, predictive),
                )
            )
    frame = pd.DataFrame(rows, columns=["quantity", "nuts", "exact", "mcse"]).set_index("quantity")
    frame["z"] = (frame["nuts"] - frame["exact"]) / frame["mcse"].where(frame["mcse"] > 0, np.nan)
    frame["agrees"] = frame["z"].abs().fillna(0.0) <= AGREEMENT_Z
    return frame
