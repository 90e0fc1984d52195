"""``hm.frequentist``: fixed-effect and random-effects models and meta-regression."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from hiermeta.data.design import Coding, Design, build_design
from hiermeta.data.effects import EffectData
from hiermeta.engines.frequentist.tau2 import (
    TAU2_METHODS,
    TAU2_NAMES,
    estimate_tau2,
    generalised_q,
    gls,
    se_tau2,
)
from hiermeta.errors import HiermetaWarning, InputError, unknown_option
from hiermeta.results.contract import Estimate, Heterogeneity, MetaResult
from hiermeta.results.heterogeneity import fixed_effect_q, i2_h2, i2_percent
from hiermeta.results.intervals import (
    PI_KIND_SHORT,
    PI_KIND_TEXT,
    PI_KINDS,
    check_level,
    pi_critical,
    ratio_columns,
)

__all__ = ["CI_METHODS", "FrequentistResult", "frequentist"]

#: Interval methods for the coefficients.
CI_METHODS = ("wald", "knapp-hartung")
_CI_ALIASES = {
    "wald": "wald",
    "z": "wald",
    "knapp-hartung": "knapp-hartung",
    "knha": "knapp-hartung",
    "hksj": "knapp-hartung",
}
#: How each interval method is named in labels and tables.
CI_LABELS = {"wald": "Wald", "knapp-hartung": "Knapp–Hartung"}


@dataclass(frozen=True, eq=False, repr=False)
class FrequentistResult(MetaResult):
    """A fitted frequentist (meta-)regression; build it with :func:`frequentist`.

    Attributes
    ----------
    beta, cov
        Coefficients and their covariance (Knapp–Hartung-scaled when ``ci`` is that).
    tau2, se_tau2
        Between-study variance and its standard error (NaN where metafor reports none).
    q, q_df, q_p
        Cochran's Q (residual heterogeneity QE for meta-regression), its df and p-value.
    i2, h2
        I² (in %) and H², computed as metafor does (typical within-study variance).
    qm, qm_df, qm_p
        Omnibus test of the moderators (F-test with ``(m, k−p)`` df under Knapp–Hartung).
    r2
        Proportion of tau² explained by the moderators (%), for meta-regression.
    """

    data: EffectData
    design: Design
    method: str
    ci: str
    beta: np.ndarray
    cov: np.ndarray
    tau2: float
    se_tau2: float
    q: float
    q_df: int
    q_p: float
    i2: float
    h2: float
    vt: float
    qm: float
    qm_df: tuple[int, ...]
    qm_p: float
    r2: float | None
    ci_level: float = 0.95
    notes: tuple[str, ...] = field(default=())
    pi_kind: str = "z"

    family: ClassVar[str] = "frequentist"
    interval_name: ClassVar[str] = "confidence"

    # ------------------------------------------------------------------ basic facts
    @property
    def k(self) -> int:
        """Number of studies."""
        return self.data.k

    @property
    def p(self) -> int:
        """Number of coefficients."""
        return self.design.p

    @property
    def tau(self) -> float:
        """Between-study standard deviation."""
        return float(np.sqrt(self.tau2))

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom ``k − p`` (used by Knapp–Hartung)."""
        return self.k - self.p

    @property
    def is_regression(self) -> bool:
        """True when the model has moderators."""
        return not self.design.intercept_only

    @property
    def estimate(self) -> float:
        """Pooled estimate (analysis scale); for meta-regression, the intercept."""
        return float(self.beta[0])

    @property
    def se(self) -> float:
        """Standard error of :attr:`estimate`."""
        return float(np.sqrt(self.cov[0, 0]))

    def _critical(self, level: float) -> float:
        upper = 0.5 + level / 2
        if self.ci == "knapp-hartung":
            return float(stats.t.ppf(upper, self.df_resid))
        return float(stats.norm.ppf(upper))

    # ------------------------------------------------------------------ intervals
    def confidence_interval(self, ci_level: float | None = None) -> tuple[float, float]:
        """Confidence interval of :attr:`estimate` (Wald or Knapp–Hartung, as fitted)."""
        level = check_level(self.ci_level if ci_level is None else ci_level)
        crit = self._critical(level)
        return self.estimate - crit * self.se, self.estimate + crit * self.se

    def coefficients(self, ci_level: float | None = None) -> pd.DataFrame:
        """Coefficient table: estimate, se, statistic, p-value, CI, ratio-scale columns."""
        level = check_level(self.ci_level if ci_level is None else ci_level)
        se = np.sqrt(np.diag(self.cov))
        stat = self.beta / se
        if self.ci == "knapp-hartung":
            pval = 2 * stats.t.sf(np.abs(stat), self.df_resid)
        else:
            pval = 2 * stats.norm.sf(np.abs(stat))
        crit = self._critical(level)
        names = list(self.design.names)
        if not self.is_regression:
            names = ["mu"]
        frame = pd.DataFrame(
            {
                "estimate": self.beta,
                "se": se,
                "stat": stat,
                "p_value": pval,
                "ci_low": self.beta - crit * se,
                "ci_high": self.beta + crit * se,
            },
            index=pd.Index(names, name="term"),
        )
        return ratio_columns(frame, self.data.measure, self.data.is_ratio)

    def prediction_interval(
        self, kind: str = "z", ci_level: float | None = None, x: np.ndarray | None = None
    ) -> dict[str, Any]:
        """Prediction interval for the true effect in a new study.

        ``mu ± c · sqrt(se² + tau²)`` where ``c`` depends on ``kind``: ``"z"`` (metafor's
        default), ``"t-k-1"`` (R package meta), ``"t-k-2"`` (Higgins et al. 2009). ``se`` is
        this fit's standard error (Knapp–Hartung when ``ci="knapp-hartung"``).

        Returns
        -------
        dict
            ``kind``, ``level``, ``low``, ``high`` (analysis scale) and, for ratio measures,
            ``ratio_low``, ``ratio_high``.
        """
        level = check_level(self.ci_level if ci_level is None else ci_level)
        if kind not in PI_KINDS:
            raise unknown_option("prediction-interval kind", kind, PI_KINDS)
        row = np.eye(self.p)[0] if x is None else np.asarray(x, dtype=float)
        centre = float(row @ self.beta)
        spread = float(np.sqrt(row @ self.cov @ row + self.tau2))
        crit = pi_critical(kind, level, self.k)
        low, high = centre - crit * spread, centre + crit * spread
        out: dict[str, Any] = {"kind": kind, "level": level, "low": low, "high": high}
        if self.data.is_ratio:
            out.update(
                ratio_low=float(self.data.to_natural(low)),
                ratio_high=float(self.data.to_natural(high)),
            )
        return out

    def tau2_ci(self, ci_level: float | None = None) -> dict[str, float]:
        """Q-profile confidence interval for tau² (Viechtbauer 2007), with I² and H².

        The bounds solve ``Q_gen(tau²) = χ²_{k−p}`` quantiles and are truncated at 0. For
        ``k − p = 1`` the upper bound is the actual root (metafor stops its search at 100).
        """
        level = check_level(self.ci_level if ci_level is None else ci_level)
        if self.df_resid < 1:
            raise InputError(f"a tau² interval needs k > p; here k = {self.k}, p = {self.p}")
        y, v, X = self.data.y, self.data.variance, self.design.X
        df = self.df_resid
        alpha = 1 - level
        q0 = generalised_q(y, v, X, 0.0)

        def solve(target: float) -> float:
            if q0 <= target:
                return 0.0
            upper = max(1.0, 10 * float(np.var(y)))
            while generalised_q(y, v, X, upper) > target:
                upper *= 10
                if upper > 1e12:
                    return float("inf")
            return float(
                optimize.brentq(
                    lambda t: generalised_q(y, v, X, t) - target,
                    0.0,
                    upper,
                    xtol=1e-15,
                    rtol=4 * np.finfo(float).eps,
                )
            )

        low = solve(float(stats.chi2.ppf(1 - alpha / 2, df)))
        high = solve(float(stats.chi2.ppf(alpha / 2, df)))
        return {
            "level": level,
            "tau2_low": low,
            "tau2_high": high,
            "tau_low": float(np.sqrt(low)),
            "tau_high": float(np.sqrt(high)),
            "i2_low": i2_percent(low, self.vt),
            "i2_high": i2_percent(high, self.vt),
            "h2_low": 1 + low / self.vt,
            "h2_high": 1 + high / self.vt,
        }

    def predict_levels(self, moderator: str, ci_level: float | None = None) -> pd.DataFrame:
        """Mean effect at each level of a categorical moderator, with CI (the subgroup HRs)."""
        level = check_level(self.ci_level if ci_level is None else ci_level)
        rows = self.design.level_vectors(moderator)
        crit = self._critical(level)
        records = []
        for name, x in rows.items():
            est = float(x @ self.beta)
            se = float(np.sqrt(x @ self.cov @ x))
            records.append(
                {
                    "level": name,
                    "estimate": est,
                    "se": se,
                    "ci_low": est - crit * se,
                    "ci_high": est + crit * se,
                }
            )
        frame = pd.DataFrame.from_records(records).set_index("level")
        return ratio_columns(frame, self.data.measure, self.data.is_ratio)

    # ------------------------------------------------------------------ the result contract
    @property
    def engine(self) -> str:  # type: ignore[override]
        """The tau² estimator (``"REML"``, ``"DL"``…; ``"FE"`` for fixed effect)."""
        return self.method

    @property
    def label(self) -> str:
        return f"{self.method} ({CI_LABELS[self.ci]})"

    def effect(self, param: str = "mu", ci_level: float | None = None) -> Estimate:
        return self.linear_estimate(self._vector(param), ci_level)

    def linear_estimate(self, c: np.ndarray, ci_level: float | None = None) -> Estimate:
        level = self._level(ci_level)
        x = np.asarray(c, dtype=float)
        est = float(x @ self.beta)
        se = float(np.sqrt(x @ self.cov @ x))
        crit = self._critical(level)
        return Estimate(est, est - crit * se, est + crit * se, se, level, self._ci_text(level))

    def _contrast_p_value(self, est: Estimate) -> float:
        stat = abs(est.estimate / est.se)
        if self.ci == "knapp-hartung":
            return float(2 * stats.t.sf(stat, self.df_resid))
        return float(2 * stats.norm.sf(stat))

    @property
    def s2w(self) -> float:
        """Knapp–Hartung's scale factor of the coefficient covariance (1 for Wald)."""
        if self.ci != "knapp-hartung":
            return 1.0
        w = 1 / (self.data.variance + self.tau2)
        resid = self.data.y - self.design.X @ self.beta
        return float(np.sum(w * resid**2)) / self.df_resid

    def refit(self, data: EffectData) -> FrequentistResult:
        return frequentist(
            data,
            self.method,
            ci=self.ci,
            ci_level=self.ci_level,
            pi_kind=self.pi_kind,
            **self._model_terms(),
        )

    def study_weights(self) -> np.ndarray:
        """Weights (%) as metafor's ``weights()``: 1/(v + tau²), normalised."""
        w = 1 / (self.data.variance + self.tau2)
        return np.asarray(100 * w / w.sum())

    def _ci_text(self, level: float) -> str:
        if self.ci == "knapp-hartung":
            return f"{level:.0%} CI (Knapp–Hartung, t with {self.df_resid} df)"
        return f"{level:.0%} CI (Wald)"

    def prediction(self, ci_level: float | None = None, param: str = "mu") -> Estimate | None:
        level = self._level(ci_level)
        if self.k < (3 if self.pi_kind == "t-k-2" else 2):
            return None
        x = self._vector(param)
        pi = self.prediction_interval(self.pi_kind, level, x)
        spread = float(np.sqrt(x @ self.cov @ x + self.tau2))
        text = f"{level:.0%} PI ({PI_KIND_SHORT[self.pi_kind]})"
        return Estimate(
            float(x @ self.beta), pi["low"], pi["high"], spread, level, text, self.pi_kind
        )

    def tau_estimate(self, ci_level: float | None = None) -> Estimate:
        level = self._level(ci_level)
        nan = float("nan")
        if self.method == "FE" or self.df_resid < 1:
            return Estimate(self.tau, nan, nan, nan, level, "")
        ci = self.tau2_ci(level)
        return Estimate(
            self.tau, ci["tau_low"], ci["tau_high"], nan, level, f"{level:.0%} CI (Q-profile)"
        )

    def heterogeneity(self, ci_level: float | None = None) -> Heterogeneity:
        tau = self.tau_estimate(ci_level)
        i2_low, i2_high = i2_percent(tau.low**2, self.vt), i2_percent(tau.high**2, self.vt)
        return Heterogeneity(
            tau, self.tau2, self.i2, i2_low, i2_high, self.h2, self.q, self.q_df, self.q_p
        )

    def _p_value(self, param: str) -> float:
        return self._contrast_p_value(self.effect(param))

    def _extra_summary_rows(self, level: float) -> list[dict[str, Any]]:
        if not self.is_regression:
            return []
        note = f"df = {self.qm_df}" + (f"; R² = {self.r2:.1f}%" if self.r2 is not None else "")
        return [{"param": "QM", "estimate": self.qm, "p_value": self.qm_p, "interval": note}]

    def _engine_details(self, level: float) -> dict[str, Any]:
        return {
            "method": self.method,
            "ci_method": self.ci,
            "se_tau2": self.se_tau2,
            "p_value": self._p_value("mu"),
            "qm": self.qm,
            "qm_df": list(self.qm_df),
            "qm_p": self.qm_p,
            "r2": self.r2,
        }

    def methods(self) -> list[str]:
        estimator = (
            "fixed-effect (inverse-variance) model"
            if self.method == "FE"
            else (f"random-effects model, tau² by {TAU2_NAMES.get(self.method, self.method)}")
        )
        text = (
            f"Frequentist {estimator}; {CI_LABELS[self.ci]} intervals for the coefficients; "
            f"prediction interval {PI_KIND_TEXT[self.pi_kind]}; Q-profile interval for tau²."
        )
        return [text]


def frequentist(
    data: EffectData,
    method: str = "REML",
    ci: Literal["wald", "knapp-hartung"] | str = "wald",
    moderators: Sequence[str] | str | None = None,
    *,
    coding: Mapping[str, Coding] | None = None,
    levels: Mapping[str, Sequence[str]] | None = None,
    ci_level: float = 0.95,
    pi_kind: str | None = None,
) -> FrequentistResult:
    """Fit a fixed-effect or random-effects model, optionally with moderators.

    Parameters
    ----------
    data
        Effect sizes from a converter such as :func:`hiermeta.from_ratio_ci`.
    method
        ``"FE"`` (inverse-variance fixed effect) or a tau² estimator: ``"DL"``, ``"REML"``,
        ``"ML"``, ``"PM"``, ``"EB"``, ``"SJ"``, ``"HS"``, ``"HE"`` (metafor's names).
    ci
        ``"wald"`` (normal quantiles) or ``"knapp-hartung"`` (t with k−p df and the
        Knapp–Hartung variance; also called HKSJ).
    moderators
        Covariates of ``data`` for meta-regression; see :func:`hiermeta.data.design.build_design`
        for ``coding`` and ``levels``.
    ci_level
        Default level of every interval.
    pi_kind
        Kind of the prediction interval this result reports everywhere: ``"z"``, ``"t-k-1"``
        (R's meta) or ``"t-k-2"`` (Higgins et al. 2009). Default as metafor's ``predict``:
        ``"z"`` with Wald intervals, t with k − 1 df (``"t-k-1"``) after Knapp–Hartung.

    Returns
    -------
    FrequentistResult
    """
    if not isinstance(data, EffectData):
        raise InputError(
            f"data must be an EffectData (from hm.from_ratio_ci etc.), not {type(data).__name__}"
        )
    method_name = str(method).upper() if isinstance(method, str) else method
    if method_name not in TAU2_METHODS:
        raise unknown_option("method", method, TAU2_METHODS)
    if not isinstance(ci, str) or ci.lower() not in _CI_ALIASES:
        raise unknown_option("ci", ci, CI_METHODS)
    ci_name = _CI_ALIASES[ci.lower()]
    level = check_level(ci_level)
    if pi_kind is None:
        pi_kind = "t-k-1" if ci_name == "knapp-hartung" else "z"
    if pi_kind not in PI_KINDS:
        raise unknown_option("prediction-interval kind", pi_kind, PI_KINDS)
    design = build_design(data, moderators, coding=coding, levels=levels)
    y, v, X = data.y, data.variance, design.X
    k, p = X.shape
    notes: list[str] = []
    if k == p:
        if ci_name == "knapp-hartung":
            notes.append(f"Knapp–Hartung needs k > p; Wald intervals used (k = {k})")
            warnings.warn(notes[-1], HiermetaWarning, stacklevel=2)
            ci_name = "wald"
        tau2 = 0.0
        if method_name != "FE":
            notes.append(f"tau² cannot be estimated from k = {k} studies; set to 0")
    else:
        tau2 = estimate_tau2(method_name, y, v, X)
    beta, cov, w, resid = gls(y, v, X, tau2)
    if ci_name == "knapp-hartung":
        cov = cov * float(np.sum(w * resid**2)) / (k - p)
    q, _, q_p, vt = fixed_effect_q(y, v, X)
    i2, h2 = i2_h2(method_name, tau2, q, vt, k - p)
    qm, qm_df, qm_p = _moderator_test(beta, cov, ci_name, k)
    return FrequentistResult(
        data=data,
        design=design,
        method=method_name,
        ci=ci_name,
        beta=beta,
        cov=cov,
        tau2=float(tau2),
        se_tau2=se_tau2(method_name, y, v, X, tau2) if k > p else float("nan"),
        q=q,
        q_df=k - p,
        q_p=q_p,
        i2=float(i2),
        h2=float(h2),
        vt=float(vt),
        qm=qm,
        qm_df=qm_df,
        qm_p=qm_p,
        r2=_r2(method_name, tau2, y, v, p),
        ci_level=level,
        notes=tuple(notes),
        pi_kind=pi_kind,
    )


def _moderator_test(
    beta: np.ndarray, cov: np.ndarray, ci: str, k: int
) -> tuple[float, tuple[int, ...], float]:
    """Omnibus test of the moderators (of all coefficients for an intercept-only model, as
    metafor): Wald χ², or F with (m, k − p) df under Knapp–Hartung."""
    p = len(beta)
    tested = np.arange(1, p) if p > 1 else np.array([0])
    b_t = beta[tested]
    qm = float(b_t @ np.linalg.solve(cov[np.ix_(tested, tested)], b_t))
    m = len(tested)
    if ci == "knapp-hartung":
        return qm / m, (m, k - p), float(stats.f.sf(qm / m, m, k - p))
    return qm, (m,), float(stats.chi2.sf(qm, m))


def _r2(method: str, tau2: float, y: np.ndarray, v: np.ndarray, p: int) -> float | None:
    """Proportion of tau² explained by the moderators (%), as metafor; None without them."""
    if p == 1 or method == "FE":
        return None
    tau2_re = estimate_tau2(method, y, v, np.ones((len(y), 1)))
    return 0.0 if tau2_re == 0 else max(0.0, 100 * (tau2_re - tau2) / tau2_re)
