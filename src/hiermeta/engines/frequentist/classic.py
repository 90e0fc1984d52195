"""Classic fixed-effect pooling of 2×2 tables: Mantel–Haenszel (OR, RR, RD) and Peto's OR.

Both pool the counts themselves rather than per-study estimates, so studies with zero cells
need no continuity correction for the pooled estimate. Formulas and conventions follow
metafor's ``rma.mh`` and ``rma.peto`` (Viechtbauer 2010): the pooled estimate uses the raw
counts of every study; the heterogeneity test Q uses the per-study estimates of escalc with
``add = 1/2`` on studies with a zero cell, leaving out studies without events in either group
(or with only events); its variance for the OR is that of Robins, Breslow & Greenland (1986),
for the RR that of Greenland & Robins (1985), for the RD that of Sato, Greenland & Robins
(1989). Tests of the MH OR: Cochran–Mantel–Haenszel (with continuity correction), Breslow–Day
and Tarone's correction of it.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from hiermeta.constants import Z95
from hiermeta.data.convert import from_2x2, read_2x2
from hiermeta.data.measures import get_measure
from hiermeta.errors import ExcludedStudiesWarning, InputError, unknown_option
from hiermeta.results.heterogeneity import i2_h2

__all__ = ["ClassicResult", "mantel_haenszel", "peto"]

MH_MEASURES = ("OR", "RR", "RD")


class ClassicResult(NamedTuple):
    """A fixed-effect pooled estimate from 2×2 counts (statsmodels-style result tuple).

    ``estimate``, ``se``, ``ci_low``, ``ci_high`` are on the analysis scale (log OR / log RR,
    or RD); :meth:`summary` adds the ratio scale. ``tests`` holds the MH OR's
    Cochran–Mantel–Haenszel, Breslow–Day and Tarone statistics as (statistic, df, p).
    """

    method: str
    measure: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    q: float
    q_df: int
    q_p: float
    i2: float
    h2: float
    k: int
    k_q: int
    studies: tuple[str, ...]
    tests: dict[str, tuple[float, int, float]]

    def summary(self) -> pd.DataFrame:
        """One row: the estimate and CI on both scales, z, p, Q (df, p), I², H²."""
        row = {
            "estimate": self.estimate,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "z": self.z,
            "p_value": self.p_value,
            "Q": self.q,
            "Q_df": self.q_df,
            "Q_p": self.q_p,
            "I2": self.i2,
            "H2": self.h2,
            "k": self.k,
        }
        info = get_measure(self.measure)
        if info.is_ratio:
            for key in ("estimate", "ci_low", "ci_high"):
                row[f"{self.measure} {key}" if key != "estimate" else self.measure] = float(
                    info.to_natural(row[key])
                )
        return pd.DataFrame([row], index=pd.Index([self.method], name="method"))

    def __str__(self) -> str:
        info = get_measure(self.measure)
        e, lo, hi = info.to_natural([self.estimate, self.ci_low, self.ci_high])
        return (
            f"{self.method} ({self.k} studies): {self.measure} {e:.4g} [{lo:.4g}, {hi:.4g}] "
            f"(95% CI), p = {self.p_value:.3g}; Q({self.q_df}) = {self.q:.3f}, "
            f"p = {self.q_p:.3g}, I² = {self.i2:.1f}%"
        )


def _ci(estimate: float, se: float) -> tuple[float, float, float, float]:
    z = estimate / se
    return estimate - Z95 * se, estimate + Z95 * se, z, float(2 * stats.norm.sf(abs(z)))


def _per_study(
    df: pd.DataFrame, columns: tuple[str, str, str, str], study: str | None, measure: str
) -> tuple[np.ndarray, np.ndarray]:
    """escalc's per-study y and v for the Q test: ½ added to tables with a zero cell, tables
    without events in either group (or with only events) left out — ``from_2x2`` with
    ``drop00=True``, as rma.mh's defaults."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExcludedStudiesWarning)  # left out of Q, as in rma.mh
        try:
            data = from_2x2(df, *columns, study, measure, drop00=True)
        except InputError:  # every table double-zero: no Q
            return np.array([]), np.array([])
    return data.y, data.variance


def _heterogeneity(
    y: np.ndarray, v: np.ndarray, estimate: float
) -> tuple[float, int, float, float, float]:
    k = len(y)
    if k <= 1:
        return 0.0, 0, 1.0, 0.0, 1.0
    q = max(0.0, float(np.sum((y - estimate) ** 2 / v)))
    return q, k - 1, float(stats.chi2.sf(q, k - 1)), *i2_h2("FE", 0.0, q, np.nan, k - 1)


def mantel_haenszel(
    df: pd.DataFrame,
    ai: str,
    bi: str,
    ci: str,
    di: str,
    study: str | None = None,
    measure: str = "OR",
) -> ClassicResult:
    """Mantel–Haenszel fixed-effect pooling of 2×2 tables (as metafor's ``rma.mh``).

    Parameters
    ----------
    df
        One row per study.
    ai, bi, ci, di
        Events and non-events in the first (treatment) group, then in the second.
    study
        Column of study labels.
    measure
        ``"OR"``, ``"RR"`` or ``"RD"``.

    Returns
    -------
    ClassicResult
    """
    if measure not in MH_MEASURES:
        raise unknown_option("Mantel–Haenszel measure", measure, MH_MEASURES)
    labels, cells = read_2x2(df, ai, bi, ci, di, study)
    a, b, c, d = cells.T.astype(float)
    n1, n2 = a + b, c + d
    n = n1 + n2
    tests: dict[str, tuple[float, int, float]] = {}
    if measure == "OR":
        r, s = a * d / n, b * c / n
        big_r, big_s = r.sum(), s.sum()
        if big_r == 0 or big_s == 0:
            raise InputError(
                "the Mantel–Haenszel OR is undefined: no events (or no non-events) in one group across all studies"
            )
        p, q_ = (a + d) / n, (b + c) / n
        estimate = float(np.log(big_r / big_s))
        var = 0.5 * (
            np.sum(p * r) / big_r**2
            + np.sum(p * s + q_ * r) / (big_r * big_s)
            + np.sum(q_ * s) / big_s**2
        )
        tests = _or_tests(a, n1, n2, n, big_r / big_s, a + c)
    elif measure == "RR":
        big_r, big_s = np.sum(a * n2 / n), np.sum(c * n1 / n)
        if big_r == 0 or big_s == 0:
            raise InputError(
                "the Mantel–Haenszel RR is undefined: no events in one group across all studies"
            )
        estimate = float(np.log(big_r / big_s))
        var = np.sum(n1 * n2 * (a + c) / n**2 - a * c / n) / (big_r * big_s)
    else:
        w = np.sum(n1 * n2 / n)
        estimate = float(np.sum((a * n2 - c * n1) / n) / w)
        var = (
            estimate
            * np.sum(c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2)
            + np.sum(a * (n2 - c) / n + c * (n1 - a) / n) / 2
        ) / w**2
    se = float(np.sqrt(var))
    y, v = _per_study(df, (ai, bi, ci, di), study, measure)
    low, high, z, p_value = _ci(estimate, se)
    q, q_df, q_p, i2, h2 = _heterogeneity(y, v, estimate)
    return ClassicResult(
        f"Mantel–Haenszel {measure}",
        measure,
        estimate,
        se,
        low,
        high,
        z,
        p_value,
        q,
        q_df,
        q_p,
        i2,
        h2,
        len(labels),
        len(y),
        tuple(labels),
        tests,
    )


def _or_tests(
    a: np.ndarray, n1: np.ndarray, n2: np.ndarray, n: np.ndarray, psi: float, xt: np.ndarray
) -> dict[str, tuple[float, int, float]]:
    """Cochran–Mantel–Haenszel (continuity-corrected, as rma.mh's ``correct=TRUE``),
    Cochran's version of it, Breslow–Day and Tarone's correction (df = informative tables − 1)."""
    yt = n - xt
    tests: dict[str, tuple[float, int, float]] = {}
    if xt.sum() > 0 and yt.sum() > 0:
        num = (abs(np.sum(a - n1 / n * xt)) - 0.5) ** 2
        co = num / np.sum(n1 / n * (n2 / n) * (xt * (yt / n)))
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(n > 1, n1 / n * (n2 / n) * (xt * (yt / (n - 1))), 0.0)
        mh = num / np.sum(terms)
        tests["CO"] = (float(co), 1, float(stats.chi2.sf(co, 1)))
        tests["MH"] = (float(mh), 1, float(stats.chi2.sf(mh, 1)))
    if psi == 1:
        n11 = n1 / n * xt
    else:
        big_a = psi * (n1 + xt) + (n2 - xt)
        n11 = (big_a - np.sqrt(big_a**2 - 4 * n1 * xt * psi * (psi - 1))) / (2 * (psi - 1))
    pos = (n11 > 0) & (xt > 0) & (yt > 0)
    n11, a_pos = n11[pos], a[pos]
    n12, n21 = n1[pos] - n11, xt[pos] - n11
    n22 = n[pos] - n1[pos] - xt[pos] + n11
    var = 1 / (1 / n11 + 1 / n12 + 1 / n21 + 1 / n22)
    bd = max(0.0, float(np.sum((a_pos - n11) ** 2 / var)))
    ta = max(0.0, bd - float(np.sum(a_pos - n11)) ** 2 / float(np.sum(var)))
    df = int(pos.sum()) - 1
    if df >= 1:
        tests["BD"] = (bd, df, float(stats.chi2.sf(bd, df)))
        tests["TA"] = (ta, df, float(stats.chi2.sf(ta, df)))
    return tests


def peto(
    df: pd.DataFrame,
    ai: str,
    bi: str,
    ci: str,
    di: str,
    study: str | None = None,
) -> ClassicResult:
    """Peto's one-step odds ratio (as metafor's ``rma.peto``; Yusuf et al. 1985)."""
    labels, cells = read_2x2(df, ai, bi, ci, di, study)
    a, b, c, d = cells.T.astype(float)
    n1, n2 = a + b, c + d
    n = n1 + n2
    xt, yt = a + c, b + d
    expected = xt * n1 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n > 1, xt * yt * n1 * n2 / (n**2 * (n - 1)), 0.0)
    total = float(var.sum())
    if total == 0:
        raise InputError("Peto's OR is undefined: no study has both events and non-events")
    estimate = float(np.sum(a - expected) / total)
    se = 1 / np.sqrt(total)
    low, high, z, p_value = _ci(estimate, se)
    informative = var > 0
    keep = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    k_q = int(keep.sum())
    if int(informative.sum()) <= 1:
        q, q_df, q_p, i2, h2 = 0.0, max(k_q - 1, 0), 1.0, 0.0, 1.0
    else:
        dev = (a - expected)[informative]
        q = max(
            0.0, float(np.sum(dev**2 / var[informative]) - dev.sum() ** 2 / var[informative].sum())
        )
        q_df = k_q - 1
        q_p = float(stats.chi2.sf(q, q_df))
        i2, h2 = i2_h2("FE", 0.0, q, np.nan, q_df)
    return ClassicResult(
        "Peto OR",
        "OR",
        estimate,
        float(se),
        low,
        high,
        z,
        p_value,
        q,
        q_df,
        q_p,
        i2,
        h2,
        len(labels),
        k_q,
        tuple(labels),
        {},
    )
