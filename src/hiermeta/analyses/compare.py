"""``hm.compare``: frequentist and Bayesian fits side by side, in one table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hiermeta.errors import InputError
from hiermeta.results.contract import MetaResult

__all__ = ["compare"]


def compare(
    *fits: MetaResult, ci_level: float | None = None, names: list[str] | None = None
) -> pd.DataFrame:
    """One row per fit: pooled effect, interval, tau, prediction interval, P(effect < 1).

    Every number comes from the result contract, so each row shows what that fit reports
    everywhere else (report, summary.json, batch rows), including its prediction-interval kind
    (the ``pi`` column; a frequentist fit's kind is chosen when it is fitted, ``pi_kind=``).

    Parameters
    ----------
    *fits
        Results of any engine (:func:`hiermeta.frequentist`, :func:`hiermeta.bayesian`).
    ci_level
        Level of every interval (default: each fit's own, 0.95 unless set).
    names
        Row labels (default: each fit's ``label``).

    Returns
    -------
    DataFrame
        Ratio-scale columns for ratio measures, analysis scale otherwise.
    """
    if not fits:
        raise InputError("compare needs at least one fit")
    for fit in fits:
        if not isinstance(fit, MetaResult):
            raise InputError(f"cannot compare a {type(fit).__name__}: pass results of hiermeta")
    if names is not None and len(names) != len(fits):
        raise InputError(f"names has {len(names)} entries for {len(fits)} fits")
    rows = []
    for i, fit in enumerate(fits):
        pooled = fit.pooled(ci_level)
        pred = fit.prediction(ci_level)
        probs = fit.probabilities((1.0,)) if fit.data.is_ratio else None
        nan = float("nan")
        row: dict[str, Any] = {
            "model": names[i] if names else fit.label,
            "estimate": pooled.estimate,
            "ci_low": pooled.low,
            "ci_high": pooled.high,
            "tau": fit.tau_estimate(ci_level).estimate,
            "pi_low": pred.low if pred else nan,
            "pi_high": pred.high if pred else nan,
            "pi": pred.kind if pred else "",
            "p_benefit": nan if probs is None else float(probs.to_numpy()[0, 0]),
            "interval": fit.interval_name,
        }
        for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            value = row[key]
            row[key] = float(fit.data.to_natural(value)) if np.isfinite(value) else nan
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("model")
    measure = fits[0].data.measure
    if fits[0].data.is_ratio:
        frame = frame.rename(columns={"estimate": measure, "p_benefit": f"P({measure} < 1)"})
    return frame
