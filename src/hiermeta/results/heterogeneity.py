"""Cochran's Q and the typical within-study variance: the data's heterogeneity statistics.

They do not depend on the engine, so every result reports the same Q; the weighted least
squares they rest on is shared with the frequentist tau² estimators.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from hiermeta.data.design import is_intercept_only

__all__ = ["QStatistic", "fixed_effect_q", "gls", "i2_h2", "i2_percent", "trace_p"]


class QStatistic(NamedTuple):
    """Cochran's Q (QE with moderators), its df ``k − p``, p-value and the typical variance."""

    q: float
    df: int
    p: float
    vt: float


def gls(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares at a given tau².

    Returns
    -------
    beta, cov_beta, weights, residuals
    """
    w = 1.0 / (v + tau2)
    xtw = X.T * w
    cov = np.linalg.inv(xtw @ X)
    beta = cov @ (xtw @ y)
    return beta, cov, w, y - X @ beta


def trace_p(w: np.ndarray, X: np.ndarray, cov: np.ndarray) -> float:
    """tr(P) for P = W − W X (X'WX)⁻¹ X'W, without forming P."""
    return float(np.sum(w) - np.trace(cov @ ((X.T * w**2) @ X)))


def fixed_effect_q(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> QStatistic:
    """Q of the fixed-effect fit and metafor's typical within-study variance ``(k − p)/tr(P)``.

    With ``k = p`` there is no residual information: Q = 0, p = 1 and the typical variance 0.
    """
    k, p = X.shape
    if k <= p:
        return QStatistic(0.0, 0, 1.0, 0.0)
    if is_intercept_only(X):  # the common case in scalar algebra (no matrix inverse)
        w = 1.0 / v
        total = float(w.sum())
        resid = y - float(w @ y) / total
        trace = total - float(w @ w) / total
    else:
        _, cov, w, resid = gls(y, v, X, 0.0)
        trace = trace_p(w, X, cov)
    q = max(0.0, float(w @ resid**2))
    p_value = float(special.chdtrc(k - p, q))  # = stats.chi2.sf, without its overhead
    return QStatistic(q, k - p, p_value, (k - p) / trace)


def i2_percent(tau2: float, vt: float) -> float:
    """I² (%) from tau² and the typical within-study variance, as metafor (NaN without one)."""
    return 100 * tau2 / (vt + tau2) if vt > 0 else float("nan")


def i2_h2(method: str, tau2: float, q: float, vt: float, df: int) -> tuple[float, float]:
    """I² (%) and H² as metafor computes them (``i2def = "1"``; from Q for fixed effect)."""
    if df < 1:
        return 0.0, 1.0
    if method == "FE":
        return (max(0.0, 100 * (q - df) / q) if q > 0 else 0.0), q / df
    return i2_percent(tau2, vt), tau2 / vt + 1
