"""Exact-vs-MCMC agreement in Monte-Carlo standard-error units."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["AGREEMENT_Z", "agreement", "agreement_from_draws"]

#: |NUTS − exact| / MCSE above this flags disagreement. Calibrated with iid draws of the exact
#: posterior shaped like a default fit (docs/validation/agreement_calibration.md, 12,000
#: replicates): a correct fit is flagged about once in 1,000 (any of its 11 quantities; 14 of
#: 12,000, 95% interval 0.6–2.0 per 1,000; an earlier run of other draws, 9); at 4.0 it would
#: be about once in 190, because estimated MCSEs give |z| heavier tails than a normal.
AGREEMENT_Z = 4.75


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
    draws = {param: nuts._chain_draw(param) for param in ("mu", "tau", "predictive")}
    return agreement_from_draws(draws, exact, thresholds)


def agreement_from_draws(
    draws: dict[str, np.ndarray], exact: Any, thresholds: tuple[float, ...] = (1.0,)
) -> pd.DataFrame:
    """:func:`agreement` for (chain, draw) arrays of ``mu``, ``tau`` and ``predictive`` —
    from any sampler, or iid draws of the exact posterior (the calibration study)."""
    import arviz_stats as azs

    rows = []
    for param in ("mu", "tau", "predictive"):
        values = np.asarray(draws[param], dtype=float)
        for q in (0.025, 0.5, 0.975):
            value = float(np.quantile(values, q))
            mcse = float(azs.mcse(values, method="quantile", prob=q))
            rows.append((f"{param} q{q:g}", value, float(exact.quantile(param, q)), mcse))
    measure = exact.data.measure
    for threshold in thresholds:
        cut = float(exact.data.from_natural(threshold))
        for predictive in (False, True):
            label = f"P({'new ' if predictive else ''}{measure} < {threshold:g})"
            indicator = (np.asarray(draws["predictive" if predictive else "mu"]) < cut).astype(
                float
            )
            rows.append(
                (
                    label,
                    float(indicator.mean()),
                    exact.prob(threshold, predictive=predictive),
                    _probability_mcse(indicator),
                )
            )
    frame = pd.DataFrame(rows, columns=["quantity", "nuts", "exact", "mcse"]).set_index("quantity")
    frame["z"] = (frame["nuts"] - frame["exact"]) / frame["mcse"].where(frame["mcse"] > 0, np.nan)
    frame["agrees"] = frame["z"].abs().fillna(0.0) <= AGREEMENT_Z
    return frame


def _probability_mcse(indicator: np.ndarray) -> float:
    """MCSE of a probability estimated by the mean of an indicator (chain, draw)."""
    import arviz_stats as azs

    p = float(indicator.mean())
    if p in (0.0, 1.0):
        # no draw on one side: the resolution is about one draw in N; not a misleading 0
        n = indicator.size
        return float(np.sqrt((1 / n) * (1 - 1 / n) / n))
    return float(np.sqrt(p * (1 - p) / float(azs.ess(indicator, method="mean"))))
