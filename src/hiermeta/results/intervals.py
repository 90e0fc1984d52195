"""Pieces shared by every result: scale columns, interval helpers, JSON-safe dicts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hiermeta.constants import Z95
from hiermeta.errors import InputError, check_level, unknown_option

__all__ = [
    "PI_KINDS",
    "PI_KIND_SHORT",
    "PI_KIND_TEXT",
    "Z95",
    "check_level",
    "format_probability",
    "jsonable",
    "pi_critical",
    "probability_text",
    "ratio_columns",
    "z_critical",
]

#: Prediction-interval kinds: metafor's default (z), R package meta's (t, k−1 df) and
#: Higgins, Thompson & Spiegelhalter (2009) (t, k−2 df).
PI_KINDS = ("z", "t-k-1", "t-k-2")
#: How each kind is named next to an interval.
PI_KIND_SHORT = {
    "z": "z",
    "t-k-1": "t, k−1 df",
    "t-k-2": "t, k−2 df",
    "posterior predictive": "posterior predictive",
}
#: How each kind is written in a methods section.
PI_KIND_TEXT = {
    "z": "mu ± z · sqrt(se² + tau²), metafor's default",
    "t-k-1": "mu ± t(k−1) · sqrt(se² + tau²), as R's meta",
    "t-k-2": "mu ± t(k−2) · sqrt(se² + tau²), Higgins et al. 2009",
    "posterior predictive": "the central interval of a new study's true effect, drawn from "
    "the random-effects distribution and averaged over the posterior of mu and tau",
}


def z_critical(level: float) -> float:
    """Two-sided normal critical value of an interval of the given level."""
    return float(stats.norm.ppf(0.5 + level / 2))


def pi_critical(kind: str, level: float, k: int) -> float:
    """Critical value of a prediction interval of the given kind."""
    if kind not in PI_KINDS:
        raise unknown_option("prediction-interval kind", kind, PI_KINDS)
    upper = 0.5 + level / 2
    if kind == "z":
        return float(stats.norm.ppf(upper))
    df = k - 1 if kind == "t-k-1" else k - 2
    if df < 1:
        raise InputError(
            f"a {kind!r} prediction interval needs at least {3 if kind == 't-k-2' else 2} "
            f"studies; there are {k}"
        )
    return float(stats.t.ppf(upper, df))


def ratio_columns(frame: pd.DataFrame, measure: str, is_ratio: bool) -> pd.DataFrame:
    """Add exponentiated columns (``HR``, ``HR ci_low``, ``HR ci_high``) for ratio measures."""
    if not is_ratio:
        return frame
    out = frame.copy()
    for source, target in (
        ("estimate", measure),
        ("median", f"{measure} median"),
        ("ci_low", f"{measure} ci_low"),
        ("ci_high", f"{measure} ci_high"),
        ("hdi_low", f"{measure} hdi_low"),
        ("hdi_high", f"{measure} hdi_high"),
    ):
        if source in out.columns:
            with np.errstate(over="ignore"):  # a bound beyond e^709 is reported as inf
                out[target] = np.exp(out[source].astype(float).to_numpy())
    return out


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas values to plain JSON types (NaN and inf become None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if not math.isfinite(number) else number
    return value


def format_probability(p: float, digits: int = 3) -> str:
    """``0.992``; never certainty: ``> 0.999`` and ``< 0.001`` at the ends (for 3 digits)."""
    edge = 10.0**-digits
    if p > 1 - edge:
        return f"> {1 - edge:.{digits}f}"
    if p < edge:
        return f"< {edge:.{digits}f}"
    return f"{p:.{digits}f}"


def p_value_text(p: float) -> str:
    """A p-value after "p": ``= 0.123``, or ``< 0.001`` (never "= < 0.001")."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def probability_text(label: str, p: float) -> str:
    """``P(HR < 1) = 0.992``, or ``P(HR < 1) > 0.999`` (never certainty)."""
    text = format_probability(p)
    return f"{label} {text}" if text[0] in "<>" else f"{label} = {text}"
