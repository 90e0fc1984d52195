"""``hm.compare``: frequentist and Bayesian fits side by side, in one table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hiermeta.frequentist import FrequentistResult
from hiermeta.posterior import BayesianResult

__all__ = ["compare"]


def compare(
    *fits: Any, ci_level: float = 0.95, pi_kind: str = "t-k-1", names: list[str] | None = None
) -> pd.DataFrame:
    """One row per fit: pooled effect, interval, tau, prediction interval, P(effect < 1).

    Parameters
    ----------
    *fits
        :class:`~hiermeta.frequentist.FrequentistResult` and Bayesian results (any engine).
    ci_level
        Level of every interval.
    pi_kind
        Prediction-interval kind for the frequentist fits (named in the ``pi`` column);
        Bayesian fits show the posterior predictive interval.
    names
        Row labels (default: method and engine).

    Returns
    -------
    DataFrame
        Ratio-scale columns for ratio measures, analysis scale otherwise.
    """
    rows = []
    for i, fit in enumerate(fits):
        tail = (1 - ci_level) / 2
        if isinstance(fit, FrequentistResult):
            coefs = fit.coefficients(ci_level).iloc[0]
            est, lo, hi = coefs.estimate, coefs.ci_low, coefs.ci_high
            pi = fit.prediction_interval(pi_kind, ci_level) if fit.k >= 3 else None
            label = f"{fit.method} ({'Knapp–Hartung' if fit.ci == 'knapp-hartung' else 'Wald'})"
            row = {
                "estimate": est,
                "ci_low": lo,
                "ci_high": hi,
                "tau": fit.tau,
                "pi_low": pi["low"] if pi else np.nan,
                "pi_high": pi["high"] if pi else np.nan,
                "pi": f"frequentist, {pi_kind}" if pi else "",
                "p_benefit": np.nan,
                "interval": "confidence",
            }
        elif isinstance(fit, BayesianResult):
            mu = fit.quantile("mu", [tail, 0.5, 1 - tail])
            pred = fit.quantile("predictive", [tail, 1 - tail])
            label = f"Bayes {fit.engine} (tau ~ {fit.tau_prior.name})"
            row = {
                "estimate": mu[1],
                "ci_low": mu[0],
                "ci_high": mu[2],
                "tau": float(fit.quantile("tau", 0.5)),
                "pi_low": pred[0],
                "pi_high": pred[1],
                "pi": "posterior predictive",
                "p_benefit": fit.prob(1.0) if fit.data.is_ratio else np.nan,
                "interval": "credible",
            }
        else:
            raise TypeError(f"cannot compare a {type(fit).__name__}")
        row["model"] = names[i] if names else label
        data = fit.data
        for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            row[key] = float(data.to_natural(row[key])) if np.isfinite(row[key]) else np.nan
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("model")
    measure = fits[0].data.measure
    if fits[0].data.is_ratio:
        frame = frame.rename(columns={"estimate": measure, "p_benefit": f"P({measure} < 1)"})
    return frame
