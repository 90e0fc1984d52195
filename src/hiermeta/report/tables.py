"""Numbers behind the figures and report tables (plots only draw what these return)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hiermeta.frequentist import FrequentistResult
from hiermeta.posterior import BayesianResult

__all__ = ["forest_rows", "pooled_rows"]

_Z95 = 1.959963984540054


def forest_rows(result: BayesianResult, by: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """One row per study: observed estimate and CI, shrunken posterior median and interval.

    Columns on the analysis (log) scale: ``y, y_low, y_high, theta, theta_low, theta_high``,
    plus ``group`` (the level of ``by``, or ``"All studies"``).
    """
    data = result.data
    tail = (1 - level) / 2
    z = float(np.sqrt(2) * __import__("scipy").special.erfinv(level))
    rows = []
    for i, study in enumerate(data.study):
        q = result.quantile(f"theta[{study}]", [tail, 0.5, 1 - tail])
        rows.append(
            {
                "study": study,
                "group": str(data.covariates[by].iloc[i]) if by else "All studies",
                "y": data.y[i],
                "y_low": data.y[i] - z * data.se[i],
                "y_high": data.y[i] + z * data.se[i],
                "theta": q[1],
                "theta_low": q[0],
                "theta_high": q[2],
            }
        )
    return pd.DataFrame(rows)


def pooled_rows(
    result: BayesianResult,
    freq: FrequentistResult | None,
    by: str | None = None,
    level: float = 0.95,
    pi_kind: str = "t-k-1",
) -> pd.DataFrame:
    """Pooled estimates per group (or overall): Bayesian median/CrI, predictive, frequentist CI."""
    tail = (1 - level) / 2
    rows: list[dict[str, Any]] = []
    if by:
        term = result.design.term(by)
        freq_levels = (
            freq.predict_levels(by, level) if freq is not None and freq.is_regression else None
        )
        for name in term.levels:
            param = f"{by}={name}"
            q = result.quantile(param, [tail, 0.5, 1 - tail])
            pred_name = f"predictive[{param}]"
            pred = (
                result.quantile(pred_name, [tail, 1 - tail])
                if pred_name in result.parameters()
                else [np.nan, np.nan]
            )
            row = {
                "group": name,
                "label": f"{by} = {name}",
                "est": q[1],
                "low": q[0],
                "high": q[2],
                "pi_low": pred[0],
                "pi_high": pred[1],
            }
            if freq_levels is not None:
                f = freq_levels.loc[name]
                row.update(freq=f["estimate"], freq_low=f["ci_low"], freq_high=f["ci_high"])
            rows.append(row)
    else:
        q = result.quantile("mu", [tail, 0.5, 1 - tail])
        pred = result.quantile("predictive", [tail, 1 - tail])
        row = {
            "group": "All studies",
            "label": "Pooled",
            "est": q[1],
            "low": q[0],
            "high": q[2],
            "pi_low": pred[0],
            "pi_high": pred[1],
        }
        if freq is not None:
            c = freq.coefficients(level).iloc[0]
            row.update(freq=c["estimate"], freq_low=c["ci_low"], freq_high=c["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows)
