"""Small-study effects: Egger's regression test, Begg's rank test, trim-and-fill, PET-PEESE.

Each function takes a frequentist fit without moderators (``hm.frequentist``) — or
:class:`~hiermeta.data.effects.EffectData`, which is fitted by REML first — and follows metafor
3.8 (``regtest``, ``ranktest``, ``trimfill``); the tests pin every number to metafor's output
(``tests/reference/metafor_small_study.json``). Results are NamedTuples, as statsmodels'
``meta_analysis`` returns its tests.

These are *tests and adjustments for funnel-plot asymmetry*: asymmetry can come from
publication bias, but also from true heterogeneity that correlates with study size, from
chance, or from the choice of effect measure (Sterne et al., BMJ 2011;343:d4002). The
functions say so in :meth:`describe`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from hiermeta.data.effects import EffectData
from hiermeta.engines.frequentist import FrequentistResult, frequentist
from hiermeta.engines.frequentist.tau2 import estimate_tau2
from hiermeta.errors import HiermetaWarning, InputError, check_level, unknown_option
from hiermeta.results.heterogeneity import gls
from hiermeta.results.intervals import p_value_text

__all__ = [
    "PREDICTORS",
    "TRIMFILL_ESTIMATORS",
    "PetPeese",
    "RankTest",
    "RegressionTest",
    "SmallStudyEffects",
    "TrimFill",
    "favoured_direction",
    "pet_peese",
    "ranktest",
    "regtest",
    "small_study_effects",
    "trimfill",
]

#: Predictors of Egger's regression test (metafor's names): the standard error, the variance,
#: the sample size, its inverse, its square root and the inverse square root.
PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
#: Predictors whose intercept is the estimate at infinite precision (the "limit estimate").
_LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")
#: Models of the regression test: ``"rma"`` (the fit's own random-effects meta-regression) or
#: ``"lm"`` (weighted least squares with a multiplicative dispersion: Egger's original test).
REGRESSION_MODELS = ("rma", "lm")
#: Estimators of the number of missing studies in trim-and-fill (Duval & Tweedie 2000).
TRIMFILL_ESTIMATORS = ("L0", "R0", "Q0")
#: Covariate names read as per-study sample sizes when ``sample_size`` is not given.
SAMPLE_SIZE_COLUMNS = ("n", "ni", "N", "n_total", "sample_size")
#: PET-PEESE's rule (Stanley & Doucouliagos 2014): PEESE when PET's intercept is significant at
#: this two-sided level (= one-sided 5% in either direction).
PET_PEESE_ALPHA = 0.10


def _fit_of(x: FrequentistResult | EffectData, what: str) -> FrequentistResult:
    """The frequentist fit the test starts from (REML for bare data)."""
    if isinstance(x, EffectData):
        return frequentist(x, "REML")
    if not isinstance(x, FrequentistResult):
        raise InputError(
            f"{what} needs a frequentist fit (hm.frequentist) or the data (hm.EffectData); "
            f"got {type(x).__name__}. For a Bayesian analysis of small-study effects use "
            "hm.bias_averaging (exact model averaging) or hm.selection_model."
        )
    if x.is_regression:
        raise InputError(f"{what} is defined for models without moderators (as metafor's)")
    return x


class RegressionTest(NamedTuple):
    """Egger-type regression test for funnel-plot asymmetry (metafor's ``regtest``).

    ``statistic`` and ``p_value`` test the slope of the predictor (z, or t with ``df`` degrees
    of freedom under Knapp–Hartung or the ``"lm"`` model). ``limit_estimate`` (with its
    interval) is the intercept — the expected effect of an infinitely precise study — for the
    predictors where that reading holds (standard error, variance, 1/n, 1/√n), else NaN.
    """

    model: str
    predictor: str
    statistic: float
    p_value: float
    df: int | None
    slope: float
    slope_se: float
    limit_estimate: float
    limit_low: float
    limit_high: float
    limit_p_value: float
    tau2: float
    k: int

    def describe(self) -> str:
        """The test in one sentence."""
        kind = "Egger's test" if self.predictor == "sei" else f"regression test ({self.predictor})"
        stat = f"t({self.df})" if self.df is not None else "z"
        return (
            f"{kind}, {'weighted regression' if self.model == 'lm' else 'meta-regression'} on "
            f"{_PREDICTOR_WORDS[self.predictor]}: {stat} = {self.statistic:.2f}, "
            f"p {p_value_text(self.p_value)} (k = {self.k})"
        )


_PREDICTOR_WORDS = {
    "sei": "the standard error",
    "vi": "the sampling variance",
    "ni": "the sample size",
    "ninv": "1/sample size",
    "sqrtni": "√(sample size)",
    "sqrtninv": "1/√(sample size)",
}


def favoured_direction(data: EffectData) -> str:
    """The direction small studies are assumed to favour when the user does not say: that of
    the random-effects (REML) estimate — where the studies point (the fixed-effect estimate can
    point the other way when one large trial dominates, as ISIS-4 does for magnesium)."""
    return "lower" if frequentist(data, "REML").estimate < 0 else "higher"


def _sample_sizes(fit: FrequentistResult, sample_size: str | Sequence[float] | None) -> np.ndarray:
    data = fit.data
    if sample_size is None:
        found = [c for c in SAMPLE_SIZE_COLUMNS if c in data.covariates.columns]
        if not found:
            raise InputError(
                "this predictor needs per-study sample sizes: pass sample_size= (values or a "
                f"covariate name) or add a covariate named one of {', '.join(SAMPLE_SIZE_COLUMNS)}"
            )
        sample_size = found[0]
    if isinstance(sample_size, str):
        if sample_size not in data.covariates.columns:
            raise unknown_option(
                "sample-size covariate", sample_size, list(data.covariates.columns)
            )
        values = pd.to_numeric(data.covariates[sample_size], errors="coerce").to_numpy(float)
    else:
        values = np.asarray(sample_size, dtype=float)
    if values.shape != (data.k,):
        raise InputError(f"sample_size needs one value per study ({data.k}); got {values.shape}")
    for label, n in zip(data.study, values, strict=True):
        if not (np.isfinite(n) and n > 0):
            raise InputError(f"study {label!r}: sample size {n!r} must be a positive number")
    return values


def _predictor(
    fit: FrequentistResult, predictor: str, sample_size: str | Sequence[float] | None
) -> np.ndarray:
    if predictor not in PREDICTORS:
        raise unknown_option("predictor", predictor, PREDICTORS)
    if predictor == "sei":
        return np.asarray(fit.data.se, dtype=float)
    if predictor == "vi":
        return np.asarray(fit.data.variance, dtype=float)
    n = _sample_sizes(fit, sample_size)
    return {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[predictor]


class _Regression(NamedTuple):
    beta: np.ndarray
    cov: np.ndarray
    tau2: float
    df: int | None  # None: normal reference distribution


def _meta_regression(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, knapp_hartung: bool
) -> _Regression:
    """metafor's ``rma(yi, vi, mods = X, method, test)`` for the coefficients only."""
    k, p = X.shape
    tau2 = 0.0 if method == "FE" else estimate_tau2(method, y, v, X)
    beta, cov, w, resid = gls(y, v, X, tau2)
    if knapp_hartung:
        cov = cov * float(np.sum(w * resid**2)) / (k - p)
        return _Regression(beta, cov, tau2, k - p)
    return _Regression(beta, cov, tau2, None)


def _weighted_lm(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> _Regression:
    """R's ``lm(y ~ X - 1, weights = 1/v)``: inverse-variance weights, dispersion estimated."""
    k, p = X.shape
    beta, cov, w, resid = gls(y, v, X, 0.0)
    return _Regression(beta, cov * float(np.sum(w * resid**2)) / (k - p), 0.0, k - p)


def _two_sided(z: float, df: int | None) -> float:
    return float(2 * (stats.norm.sf(abs(z)) if df is None else stats.t.sf(abs(z), df)))


def _critical(level: float, df: int | None) -> float:
    upper = 0.5 + level / 2
    return float(stats.norm.ppf(upper) if df is None else stats.t.ppf(upper, df))


def regtest(
    fit: FrequentistResult | EffectData,
    predictor: str = "sei",
    model: str = "rma",
    sample_size: str | Sequence[float] | None = None,
    ci_level: float | None = None,
) -> RegressionTest:
    """Regression test for funnel-plot asymmetry (Egger et al., BMJ 1997;315:629; metafor's
    ``regtest``).

    Parameters
    ----------
    fit
        A frequentist fit without moderators; its tau² estimator and test (z or
        Knapp–Hartung) are used for ``model="rma"``.
    predictor
        One of :data:`PREDICTORS`: ``"sei"`` (Egger's test), ``"vi"``, ``"ni"``, ``"ninv"``,
        ``"sqrtni"``, ``"sqrtninv"`` (sample-size predictors need ``sample_size``).
    model
        ``"rma"``: a meta-regression of the fit's kind (metafor's default); ``"lm"``: weighted
        least squares with a multiplicative dispersion (Egger's original test).
    sample_size
        Per-study sample sizes (values or a covariate name) for the ``n`` predictors.
    ci_level
        Level of the limit estimate's interval (default: the fit's).
    """
    f = _fit_of(fit, "the regression test")
    if model not in REGRESSION_MODELS:
        raise unknown_option("model", model, REGRESSION_MODELS)
    if f.k < 3:
        raise InputError(f"the regression test needs at least 3 studies; got {f.k}")
    x = _predictor(f, predictor, sample_size)
    y, v = np.asarray(f.data.y, float), np.asarray(f.data.variance, float)
    X = np.column_stack([np.ones(f.k), x])
    if np.linalg.matrix_rank(X) < 2:
        raise InputError(f"the predictor {predictor!r} is the same for every study: no test")
    if model == "rma":
        reg = _meta_regression(y, v, X, f.method, f.ci == "knapp-hartung")
    else:
        reg = _weighted_lm(y, v, X)
    se = np.sqrt(np.diag(reg.cov))
    z = float(reg.beta[1] / se[1])
    level = f.ci_level if ci_level is None else check_level(ci_level)
    if predictor in _LIMIT_PREDICTORS:
        crit = _critical(level, reg.df)
        est, est_se = float(reg.beta[0]), float(se[0])
        limit = (est, est - crit * est_se, est + crit * est_se, _two_sided(est / est_se, reg.df))
    else:
        limit = (math.nan,) * 4
    return RegressionTest(
        model,
        predictor,
        z,
        _two_sided(z, reg.df),
        reg.df,
        float(reg.beta[1]),
        float(se[1]),
        *limit,
        float(reg.tau2),
        f.k,
    )


# ------------------------------------------------------------------ Begg's rank test
class RankTest(NamedTuple):
    """Begg & Mazumdar's rank correlation test (metafor's ``ranktest``): Kendall's tau between
    the standardised effects and their variances, with R's exact p-value when there are no ties
    (``exact=True``), else the normal approximation with the tie-corrected variance."""

    tau: float
    p_value: float
    exact: bool
    k: int

    def describe(self) -> str:
        how = "exact" if self.exact else "normal approximation"
        return (
            f"Begg's rank correlation test: Kendall's tau = {self.tau:.3f}, "
            f"p {p_value_text(self.p_value)} ({how}; k = {self.k})"
        )


def ranktest(fit: FrequentistResult | EffectData, exact: bool = True) -> RankTest:
    """Begg & Mazumdar (Biometrics 1994;50:1088) rank correlation test, as metafor's ``ranktest``.

    The effects are standardised against the fixed-effect estimate, ``(y − θ̂)/√(v − v̂)``, and
    Kendall's tau-b with their variances is tested (exact null distribution without ties, as R's
    ``cor.test``; with ties or ``exact=False`` the normal approximation).
    """
    data = fit if isinstance(fit, EffectData) else _fit_of(fit, "the rank test").data
    k = data.k
    if k < 3:
        raise InputError(f"the rank test needs at least 3 studies; got {k}")
    y, v = np.asarray(data.y, float), np.asarray(data.variance, float)
    w = 1 / v
    theta = float(np.sum(w * y) / np.sum(w))
    vb = 1 / float(np.sum(w))
    y_star = (y - theta) / np.sqrt(v - vb)
    tau = float(stats.kendalltau(y_star, v).statistic)  # tau-b, as R's cor(method = "kendall")
    ties = min(len(np.unique(y_star)), len(np.unique(v))) < k
    if exact and not ties:
        q = round((tau + 1) * k * (k - 1) / 4)
        if q > k * (k - 1) / 4:
            p = 1 - _kendall_cdf(q - 1, k)
        else:
            p = _kendall_cdf(q, k)
        return RankTest(tau, float(min(2 * p, 1.0)), True, k)
    return RankTest(tau, _kendall_normal_p(y_star, v, tau), False, k)


@cache
def _inversion_counts(n: int) -> np.ndarray:
    """Number of permutations of n items with j inversions, j = 0 … n(n−1)/2 (Mahonian numbers;
    R's ``ckendall``), as floats (n < 50 keeps them exact enough: R uses doubles too)."""
    counts = np.array([1.0])
    for m in range(2, n + 1):
        nxt = np.zeros(len(counts) + m - 1)
        for shift in range(m):
            nxt[shift : shift + len(counts)] += counts
        counts = nxt
    return counts


def _kendall_cdf(q: int, n: int) -> float:
    """P(T ≤ q) for Kendall's statistic T under independence (R's ``pkendall``)."""
    counts = _inversion_counts(n)
    if q < 0:
        return 0.0
    return float(np.sum(counts[: q + 1]) / math.gamma(n + 1))


def _kendall_normal_p(x: np.ndarray, y: np.ndarray, tau: float) -> float:
    """R's cor.test(method = "kendall", exact = FALSE): S with the tie-corrected variance."""
    n = len(x)

    def tie_sizes(values: np.ndarray) -> np.ndarray:
        _, counts = np.unique(values, return_counts=True)
        return counts[counts > 1].astype(float)

    xt, yt = tie_sizes(x), tie_sizes(y)
    t0 = n * (n - 1) / 2
    t1 = float(np.sum(xt * (xt - 1)) / 2)
    t2 = float(np.sum(yt * (yt - 1)) / 2)
    s = tau * math.sqrt((t0 - t1) * (t0 - t2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float(np.sum(xt * (xt - 1) * (2 * xt + 5)))
    vu = float(np.sum(yt * (yt - 1) * (2 * yt + 5)))
    v1 = float(np.sum(xt * (xt - 1)) * np.sum(yt * (yt - 1)))
    v2 = float(np.sum(xt * (xt - 1) * (xt - 2)) * np.sum(yt * (yt - 1) * (yt - 2)))
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1)) + v2 / (9 * n * (n - 1) * (n - 2))
    z = s / math.sqrt(var_s)
    return float(2 * min(stats.norm.cdf(z), stats.norm.sf(z)))


# ------------------------------------------------------------------ trim and fill
class TrimFill(NamedTuple):
    """Trim-and-fill (Duval & Tweedie 2000; metafor's ``trimfill``).

    ``k0`` studies estimated missing on ``side`` (with ``se_k0``; ``p_k0`` for R0), the
    ``filled`` studies (columns ``study``, ``y``, ``se``: mirror images of the most extreme
    studies), and ``fit``, the same model refitted to the observed and filled studies.
    """

    estimator: str
    side: str
    k0: int
    se_k0: float
    p_k0: float
    filled: pd.DataFrame
    fit: FrequentistResult
    original: FrequentistResult

    def describe(self) -> str:
        f, m = self.fit, self.fit.data
        if self.k0 == 0:
            return (
                f"Trim-and-fill ({self.estimator}) estimates no missing studies on the "
                f"{self.side} side; the estimate is unchanged."
            )
        lo, hi = f.confidence_interval()
        values = [f.estimate, lo, hi]
        if m.is_ratio:
            values = [math.exp(x) for x in values]
        return (
            f"Trim-and-fill ({self.estimator}) estimates {self.k0} missing "
            f"stud{'y' if self.k0 == 1 else 'ies'} on the {self.side} side (SE {self.se_k0:.2f}); "
            f"with {'it' if self.k0 == 1 else 'them'} filled in, {m.measure} {values[0]:.2f} ({values[1]:.2f}–{values[2]:.2f}). "
            "The filled studies are imputed mirror images, not data."
        )


def trimfill(
    fit: FrequentistResult | EffectData,
    estimator: str = "L0",
    side: str | None = None,
    maxiter: int = 100,
) -> TrimFill:
    """Trim-and-fill, as metafor's ``trimfill``.

    ``side`` (``"left"`` or ``"right"``: where studies are missing) is chosen as metafor does
    when not given: from the sign of the slope of the standard error in a meta-regression of the
    fit's kind (a positive slope — small studies to the right — means studies are missing on the
    left). The iteration trims the most extreme studies on the other side, re-estimates the
    centre from the rest and recounts, until the count stops changing; the missing studies are
    then filled in as mirror images about that centre and the model is refitted.
    """
    f = _fit_of(fit, "trim-and-fill")
    if estimator not in TRIMFILL_ESTIMATORS:
        raise unknown_option("estimator", estimator, TRIMFILL_ESTIMATORS)
    if f.k < 2:
        raise InputError("trim-and-fill needs at least 2 studies")
    y0, v0 = np.asarray(f.data.y, float), np.asarray(f.data.variance, float)
    if side is None:
        X = np.column_stack([np.ones(f.k), np.sqrt(v0)])
        slope = _meta_regression(y0, v0, X, f.method, False).beta[1]
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise unknown_option("side", side, ["left", "right"])
    flip = -1.0 if side == "right" else 1.0
    order = np.argsort(flip * y0, kind="stable")
    y, v = flip * y0[order], v0[order]
    k = f.k
    k0, previous, iteration = 0, -1, 0
    beta, se_k0 = 0.0, 0.0
    while k0 != previous:
        previous = k0
        iteration += 1
        if iteration > maxiter:
            raise InputError(f"trim-and-fill did not converge in {maxiter} iterations")
        yt, vt = y[: k - k0], v[: k - k0]
        ones = np.ones((len(yt), 1))
        tau2 = 0.0 if f.method == "FE" or len(yt) < 2 else estimate_tau2(f.method, yt, vt, ones)
        beta = float(gls(yt, vt, ones, tau2)[0][0])
        centred = y - beta
        ranks = stats.rankdata(np.abs(centred), method="ordinal")
        signed = np.sign(centred) * ranks
        k0_raw, se_k0 = _missing_count(estimator, signed, k)
        k0 = max(0, round(k0_raw))
        se_k0 = max(0.0, se_k0)
    p_k0 = _r0_p(k0) if estimator == "R0" else math.nan
    if k0 > 0:
        mirrored = flip * (2 * beta - y[k - k0 :])
        filled_v = v[k - k0 :]
        labels = _filled_labels(f.data.study, k0)
        data = EffectData(
            study=(*f.data.study, *labels),
            y=np.concatenate([y0, mirrored]),
            se=np.sqrt(np.concatenate([v0, filled_v])),
            measure=f.data.measure,
        )
        refit = f.refit(data)
        filled = pd.DataFrame({"study": labels, "y": mirrored, "se": np.sqrt(filled_v)})
    else:
        refit = f
        filled = pd.DataFrame({"study": [], "y": [], "se": []})
    return TrimFill(estimator, side, int(k0), float(se_k0), p_k0, filled, refit, f)


def _missing_count(estimator: str, signed: np.ndarray, k: int) -> tuple[float, float]:
    """(k0, its SE) by Duval & Tweedie's estimators, as metafor computes them."""
    if estimator == "R0":
        negative = -signed[signed < 0]
        r0 = float(k - (negative.max() if len(negative) else 0) - 1)
        return r0, math.sqrt(2 * max(0.0, r0) + 2)
    sr = float(np.sum(signed[signed > 0]))
    if estimator == "L0":
        l0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
        return l0, 4 * math.sqrt(_var_sr(k, l0)) / (2 * k - 1)
    radicand = 2 * k**2 - 4 * sr + 0.25
    if radicand < 0:
        raise InputError(
            "the Q0 estimator is undefined for these data (2k² − 4·Sr + ¼ < 0, where metafor "
            "fails too): use estimator='L0' or 'R0'"
        )
    q0 = k - 0.5 - math.sqrt(radicand)
    denominator = (k - 0.5) ** 2 - q0 * (2 * k - q0 - 1)
    se = 2 * math.sqrt(_var_sr(k, q0)) / math.sqrt(denominator) if denominator > 0 else math.nan
    return q0, se


def _var_sr(k: int, k0: float) -> float:
    return (
        k * (k + 1) * (2 * k + 1)
        + 10 * k0**3
        + 27 * k0**2
        + 17 * k0
        - 18 * k * k0**2
        - 18 * k * k0
        + 6 * k**2 * k0
    ) / 24


def _r0_p(k0: int) -> float:
    """metafor's p-value of R0: 1 − Σ_{m=−1}^{k0−1} C(m+1, m+1) 0.5^(m+2)."""
    return float(1 - sum(0.5 ** (m + 2) for m in range(-1, k0)))


def _filled_labels(existing: Sequence[str], k0: int) -> tuple[str, ...]:
    """``Filled 1`` … (with a suffix if a real study already has such a label)."""
    taken = set(existing)
    stem = "Filled"
    while any(f"{stem} {i}" in taken for i in range(1, k0 + 1)):
        stem += "*"
    return tuple(f"{stem} {i}" for i in range(1, k0 + 1))


# ------------------------------------------------------------------ PET-PEESE
class PetPeese(NamedTuple):
    """PET, PEESE and the conditional PET-PEESE estimate (Stanley & Doucouliagos, Res Synth
    Methods 2014;5:60).

    PET regresses the effects on their standard errors and PEESE on their variances (weighted
    least squares, Egger's ``lm`` model); each intercept estimates the effect of an infinitely
    precise study. The conditional rule reports PEESE when PET's intercept differs from zero at
    the two-sided ``alpha`` level, else PET.
    """

    pet: RegressionTest
    peese: RegressionTest
    chosen: str
    alpha: float

    @property
    def estimate(self) -> float:
        return (self.peese if self.chosen == "PEESE" else self.pet).limit_estimate

    @property
    def interval(self) -> tuple[float, float]:
        r = self.peese if self.chosen == "PEESE" else self.pet
        return r.limit_low, r.limit_high

    def describe(self, measure: str = "HR", is_ratio: bool = True) -> str:
        r = self.peese if self.chosen == "PEESE" else self.pet
        values = [r.limit_estimate, r.limit_low, r.limit_high]
        if is_ratio:
            values = [math.exp(x) for x in values]
        why = (
            f"PET's intercept differs from 0 at the {self.alpha:g} level, p {p_value_text(self.pet.limit_p_value)}"
            if self.chosen == "PEESE"
            else f"PET's intercept does not differ from 0 at the {self.alpha:g} level, p {p_value_text(self.pet.limit_p_value)}"
        )
        return (
            f"PET-PEESE: {self.chosen} gives {measure} {values[0]:.2f} "
            f"({values[1]:.2f}–{values[2]:.2f}) for a study of infinite precision ({why})."
        )


def pet_peese(
    fit: FrequentistResult | EffectData,
    alpha: float = PET_PEESE_ALPHA,
    ci_level: float | None = None,
) -> PetPeese:
    """PET, PEESE and the conditional PET-PEESE estimate (weighted least squares, as
    ``regtest(model = "lm")``'s limit estimates)."""
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise InputError(f"alpha must be a probability in (0, 1); got {alpha!r}")
    f = _fit_of(fit, "PET-PEESE")
    pet = regtest(f, "sei", "lm", ci_level=ci_level)
    peese = regtest(f, "vi", "lm", ci_level=ci_level)
    chosen = "PEESE" if pet.limit_p_value < alpha else "PET"
    return PetPeese(pet, peese, chosen, float(alpha))


def effect_row(
    param: str,
    values: Sequence[float],
    data: EffectData,
    thresholds: Sequence[float],
    below: Callable[[float], float],
) -> dict[str, Any]:
    """One row of a posterior summary table: ``values`` (median, low, high) on the analysis
    scale, the same on the ratio scale for ratio measures, and P(< t) for each threshold t on
    the reporting scale (``below(cut)`` gives the probability at an analysis-scale cut)."""
    ratio, m = data.is_ratio, data.measure
    row: dict[str, Any] = {
        "param": param,
        "median": values[0],
        "ci_low": values[1],
        "ci_high": values[2],
    }
    if ratio:
        row[m], row[f"{m} ci_low"], row[f"{m} ci_high"] = (math.exp(x) for x in values)
    for t in thresholds:
        row[f"P({m if ratio else 'effect'} < {t:g})"] = below(math.log(t) if ratio else t)
    return row


# ------------------------------------------------------------------ everything at once
#: Fewer studies than this and the tests for funnel asymmetry have too little power to rule it
#: out (Sterne et al., BMJ 2011;343:d4002, recommendation 1).
MIN_STUDIES_FOR_TESTS = 10


@dataclass
class SmallStudyEffects:
    """Every small-study-effect analysis of one dataset (see :func:`small_study_effects`).

    Members that could not be computed are None, with the reason in ``notes``.
    """

    fit: FrequentistResult
    regression: RegressionTest | None
    rank: RankTest | None
    trimfill: TrimFill | None
    pet_peese: PetPeese | None
    selection: Any | None  # hiermeta.analyses.selection.SelectionModel
    averaging: Any | None  # hiermeta.analyses.bias_averaging.BiasAveraging
    bayesian_selection: Any | None  # hiermeta.analyses.selection.BayesianSelection
    favoured: str
    notes: list[str] = field(default_factory=list)

    def tests(self) -> pd.DataFrame:
        """The tests for funnel-plot asymmetry: statistic and p-value."""
        rows = []
        if self.regression is not None:
            r = self.regression
            rows.append(
                {
                    "test": "Egger's regression test"
                    if r.predictor == "sei"
                    else f"regression test ({r.predictor})",
                    "statistic": r.statistic,
                    "df": r.df,
                    "p_value": r.p_value,
                }
            )
        if self.rank is not None:
            rows.append(
                {
                    "test": "Begg's rank correlation (Kendall's tau)",
                    "statistic": self.rank.tau,
                    "df": None,
                    "p_value": self.rank.p_value,
                }
            )
        if self.selection is not None:
            rows.append(
                {
                    "test": f"selection model ({self.selection.type}) LRT",
                    "statistic": self.selection.lrt,
                    "df": self.selection.lrt_df,
                    "p_value": self.selection.lrt_p,
                }
            )
        table = pd.DataFrame(rows, columns=["test", "statistic", "df", "p_value"]).set_index("test")
        table["df"] = ["" if d is None or d != d else str(int(d)) for d in table["df"]]  # NaN: none
        return table

    def adjusted(self, ci_level: float | None = None) -> pd.DataFrame:
        """Unadjusted and adjusted estimates side by side (analysis scale and, for ratio
        measures, the ratio scale), each with its interval and what kind of interval it is."""
        f = self.fit
        level = f.ci_level if ci_level is None else ci_level
        rows: list[dict[str, Any]] = []

        def add(
            method: str, est: float, lo: float, hi: float, interval: str, note: str = ""
        ) -> None:
            rows.append(
                {
                    "method": method,
                    "estimate": est,
                    "ci_low": lo,
                    "ci_high": hi,
                    "interval": interval,
                    "note": note,
                }
            )

        lo, hi = f.confidence_interval(level)
        add(f"unadjusted ({f.label})", f.estimate, lo, hi, "confidence")
        if self.trimfill is not None:
            t = self.trimfill
            tl, th = t.fit.confidence_interval(level)
            add(
                f"trim-and-fill ({t.estimator})",
                t.fit.estimate,
                tl,
                th,
                "confidence",
                f"{t.k0} filled on the {t.side}",
            )
        if self.pet_peese is not None:
            pp = self.pet_peese
            add("PET", pp.pet.limit_estimate, pp.pet.limit_low, pp.pet.limit_high, "confidence")
            add(
                "PEESE",
                pp.peese.limit_estimate,
                pp.peese.limit_low,
                pp.peese.limit_high,
                "confidence",
            )
            chosen = pp.peese if pp.chosen == "PEESE" else pp.pet
            add(
                "PET-PEESE",
                chosen.limit_estimate,
                chosen.limit_low,
                chosen.limit_high,
                "confidence",
                f"{pp.chosen} chosen",
            )
        if self.selection is not None:
            s = self.selection
            add(
                f"selection model ({s.type})",
                s.estimate,
                s.ci_low,
                s.ci_high,
                "confidence",
                f"steps {', '.join(f'{x:g}' for x in s.steps[:-1])}" if s.type == "stepfun" else "",
            )
        if self.averaging is not None:
            a = self.averaging.summary(())
            for param, label, note in (
                ("mu", "model-averaged (12 models)", "includes mu = 0 models"),
                ("mu | effect", "model-averaged, given an effect", ""),
            ):
                row = a.loc[param]
                add(label, row["median"], row["ci_low"], row["ci_high"], "credible", note)
        if self.bayesian_selection is not None:
            b = self.bayesian_selection.summary(()).loc["mu"]
            add(
                "Bayesian selection model",
                b["median"],
                b["ci_low"],
                b["ci_high"],
                "credible",
                "NUTS",
            )
        table = pd.DataFrame(rows).set_index("method")
        if f.data.is_ratio:
            m = f.data.measure
            for col, src in (
                (m, "estimate"),
                (f"{m} ci_low", "ci_low"),
                (f"{m} ci_high", "ci_high"),
            ):
                table[col] = np.exp(table[src].to_numpy(dtype=float))
        return table

    def describe(self) -> list[str]:
        """Paragraphs in plain words: the tests, the adjusted estimates, the averaged answer,
        and the caveats."""
        out = []
        tests = [x.describe() for x in (self.regression, self.rank) if x is not None]
        if tests:
            out.append("; ".join(tests) + ".")
        if self.trimfill is not None:
            out.append(self.trimfill.describe())
        if self.pet_peese is not None:
            out.append(self.pet_peese.describe(self.fit.data.measure, self.fit.data.is_ratio))
        if self.selection is not None:
            out.append(self.selection.describe())
        if self.averaging is not None:
            out.append(self.averaging.describe())
        if self.bayesian_selection is not None:
            out.append(self.bayesian_selection.describe())
        return out + self.notes


def small_study_effects(
    fit: FrequentistResult | EffectData,
    *,
    predictor: str = "sei",
    trimfill_estimator: str | None = "L0",
    selection_type: str | None = "stepfun",
    selection_steps: Sequence[float] | float | None = (0.025,),
    averaging: bool = True,
    bayesian_selection: bool = False,
    favoured: str = "auto",
    mu_prior: Any = None,
    tau_prior: Any = None,
    nuts: dict[str, Any] | None = None,
) -> SmallStudyEffects:
    """Run every small-study-effect analysis a reviewer asks for on one dataset: Egger's and
    Begg's tests, trim-and-fill, PET-PEESE, a selection model, exact Bayesian model averaging
    and (optionally, NUTS) the Bayesian selection model. ``favoured`` (``"lower"``,
    ``"higher"``, ``"auto"``: the direction of the fit's estimate) orients the selection
    models' one-sided p-values and the PET/PEESE priors. Parts that cannot be computed are
    skipped with the reason in ``notes``."""
    from hiermeta.analyses.bias_averaging import bias_averaging
    from hiermeta.analyses.selection import bayesian_selection_model, selection_model

    f = _fit_of(fit, "small-study-effect analyses")
    if favoured == "auto":
        favoured = "lower" if f.estimate < 0 else "higher"
    elif favoured not in ("lower", "higher"):
        raise unknown_option("favoured", favoured, ["lower", "higher", "auto"])
    alternative = "less" if favoured == "lower" else "greater"
    notes: list[str] = []
    if f.k < MIN_STUDIES_FOR_TESTS:
        notes.append(
            f"With k = {f.k} studies (< {MIN_STUDIES_FOR_TESTS}) the tests for funnel asymmetry "
            "have little power: a non-significant test does not rule out small-study effects "
            "(Sterne et al., BMJ 2011;343:d4002)."
        )

    def attempt(what: str, make: Any) -> Any:
        try:
            return make()
        except InputError as err:
            notes.append(f"{what} not computed: {err}")
            return None

    regression = attempt("The regression test", lambda: regtest(f, predictor))
    if regression is not None and regression.p_value < 0.10:
        expected = -1.0 if favoured == "lower" else 1.0
        if np.sign(regression.slope) != expected and predictor in ("sei", "vi"):
            notes.append(
                "The regression test finds asymmetry in the direction opposite to the one "
                f"assumed: smaller studies report {'higher' if favoured == 'lower' else 'lower'} "
                f"{f.data.measure if f.data.is_ratio else 'effects'}, not more. "
                "Publication bias rarely produces this; look for heterogeneity related to study "
                "size (e.g. designs or populations that differ between small and large studies). "
                "The selection models and PET/PEESE priors point the assumed way and do not "
                "model it."
            )
    rank = attempt("The rank test", lambda: ranktest(f))
    tf = (
        attempt("Trim-and-fill", lambda: trimfill(f, trimfill_estimator))
        if trimfill_estimator
        else None
    )
    pp = attempt("PET-PEESE", lambda: pet_peese(f))
    sel = None
    if selection_type:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sel = attempt(
                "The selection model",
                lambda: selection_model(f, selection_type, selection_steps, alternative),
            )
        notes += [
            f"Selection model: {w.message}"
            for w in caught
            if issubclass(w.category, HiermetaWarning)
        ]
    avg = (
        attempt(
            "Bayesian model averaging",
            lambda: bias_averaging(
                f.data, mu_prior, tau_prior, favoured=favoured, ci_level=f.ci_level
            ),
        )
        if averaging
        else None
    )
    bsel = None
    if bayesian_selection:
        steps = (
            selection_steps
            if selection_type == "stepfun" and selection_steps is not None
            else (0.025,)
        )
        bsel = attempt(
            "The Bayesian selection model",
            lambda: bayesian_selection_model(
                f.data, steps, alternative, mu_prior, tau_prior, ci_level=f.ci_level, **(nuts or {})
            ),
        )
    return SmallStudyEffects(f, regression, rank, tf, pp, sel, avg, bsel, favoured, notes)
