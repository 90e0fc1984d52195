"""The one result contract every engine implements.

A fit — frequentist, exact or NUTS — answers the same questions the same way: the pooled
effect with its interval, the prediction interval *with its kind*, tau with its interval,
heterogeneity (Q, I², H²), the effect at each level of a categorical moderator, a summary
frame and a JSON dictionary with one schema, diagnostics (``None`` where an engine has none),
the methods text, and plots that take ``ax=None``. Reports, summary.json, CLI text, batch rows,
:func:`hiermeta.compare` and the plots read only this contract.

An engine's result class implements the few abstract methods below (lifelines style: the base
class does the rest). Everything is on the analysis scale (log HR for ratio measures); the
``ratio`` entries and ``HR``-style columns are the exponentiated values.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import suppress
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd

from hiermeta.data.design import Design, unit_vector
from hiermeta.data.effects import EffectData
from hiermeta.errors import InputError, unknown_option
from hiermeta.results.heterogeneity import QStatistic, fixed_effect_q, i2_percent
from hiermeta.results.intervals import check_level, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Estimate", "Heterogeneity", "MetaResult", "q_text", "summary_row"]


class Estimate(NamedTuple):
    """A point estimate and its interval on the analysis scale (log HR for ratio measures).

    ``interval`` says what the interval is, e.g. ``"95% CI (Knapp–Hartung)"``,
    ``"95% CrI (central)"`` or ``"95% PI (t, k−1 df)"``; ``kind`` is the short machine name
    of a prediction interval's kind (``"z"``, ``"t-k-1"``, ``"t-k-2"``, ``"posterior
    predictive"``) and empty for other estimates. ``se`` is the standard error (frequentist)
    or the posterior standard deviation (Bayesian).
    """

    estimate: float
    low: float
    high: float
    se: float
    level: float
    interval: str
    kind: str = ""


class Heterogeneity(NamedTuple):
    """Between-study heterogeneity: tau (with interval), tau², I² (%), H² and Cochran's Q.

    Q (the residual QE for meta-regression) and its p-value are the data's statistic, the same
    for every engine. I² and H² follow from tau² and the typical within-study variance, as
    metafor computes them (a Bayesian fit maps the posterior median and interval of tau).
    """

    tau: Estimate
    tau2: float
    i2: float
    i2_low: float
    i2_high: float
    h2: float
    q: float
    q_df: int
    q_p: float

    def text(self) -> str:
        """``tau = 0.25 [0.13, 0.50]; I² = 92% [76%, 98%]; Q = 84.07, df = 9, p < 0.001``."""
        parts = []
        tau = self.tau
        if np.isfinite(tau.estimate):
            bounds = f" [{tau.low:.2f}, {tau.high:.2f}]" if np.isfinite(tau.low) else ""
            parts.append(f"tau = {tau.estimate:.2f}{bounds}")
        if np.isfinite(self.i2):
            bounds = (
                f" [{self.i2_low:.0f}%, {self.i2_high:.0f}%]" if np.isfinite(self.i2_low) else ""
            )
            parts.append(f"I² = {self.i2:.0f}%{bounds}")
        parts.append(q_text(self.q, self.q_df, self.q_p))
        return "; ".join(parts)


def summary_row(name: str, est: Estimate, p_value: float = float("nan")) -> dict[str, Any]:
    """One row of :meth:`MetaResult.summary` (engines add their own rows with it)."""
    return {
        "param": name,
        "estimate": est.estimate,
        "se": est.se,
        "ci_low": est.low,
        "ci_high": est.high,
        "p_value": p_value,
        "interval": est.interval,
    }


@lru_cache(maxsize=256)
def _param_index(names: tuple[str, ...]) -> pd.Index:
    """The ``param`` index of a summary (cached: building a string index costs more than the
    rest of a small frame; callers take a copy, so renaming one frame's index renames no other)."""
    return pd.Index(np.array(names, dtype=object), name="param")


@lru_cache(maxsize=64)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """The columns of a summary (cached, as :func:`_param_index`; callers take a copy)."""
    return pd.Index(np.array(names, dtype=object))


@lru_cache(maxsize=256)
def _text_column(texts: tuple[str, ...]) -> Any:
    """A text column as pandas stores it (its string dtype where pandas has one); cached, so
    callers take a copy."""
    return pd.Series(np.array(texts, dtype=object))._values


def summary_frame(columns: dict[str, Any], index: tuple[str, ...]) -> pd.DataFrame:
    """The summary frame from float columns and text columns (tuples of str).

    The same frame as ``pd.DataFrame(columns, index=...)``, a fifth of its cost: the column
    and row labels and the text columns come from caches, and the arrays go straight into
    pandas' block manager (``DataFrame._from_arrays`` without re-validation: each is already
    a 1-D array of the index's length, as that path requires). Building the frame was a
    quarter of an exact fit + summary at k = 56. Without that classmethod, or with another
    signature (a future pandas), the public constructor builds the same frame.
    """
    arrays = [
        _text_column(values).copy() if isinstance(values, tuple) else values
        for values in columns.values()
    ]
    # copies of the cached labels (they share the data): a user may rename a frame's axes
    labels, rows = _column_index(tuple(columns)).copy(), _param_index(index).copy()
    build = getattr(pd.DataFrame, "_from_arrays", None)
    if build is not None:
        with suppress(TypeError):  # a pandas whose classmethod takes other arguments
            frame: pd.DataFrame = build(arrays, columns=labels, index=rows, verify_integrity=False)
            return frame
    return pd.DataFrame(dict(zip(labels, arrays, strict=True)), index=rows)


def q_text(q: float, df: int, p: float) -> str:
    """``Q = 84.07, df = 9, p < 0.001``."""
    return f"Q = {q:.2f}, df = {df}, p {'< 0.001' if p < 0.001 else f'= {p:.3f}'}"


class MetaResult(ABC):
    """What every engine's result provides.

    Engines implement :meth:`effect`, :meth:`prediction`, :meth:`tau_estimate`,
    :attr:`label` and :meth:`methods`; they may override :meth:`study_effects`,
    :meth:`probabilities`, :meth:`diagnostics`, :meth:`failed_diagnostics` and
    :meth:`_engine_details`. Parameters are named ``"mu"`` (the pooled mean, or the intercept
    of a meta-regression), a coefficient name, or ``"<moderator>=<level>"``.
    """

    #: Registry name of the engine that made the result (``"REML"``, ``"exact"``, ``"nuts"``…).
    engine: str
    #: ``"frequentist"`` or ``"bayesian"``.
    family: ClassVar[str]
    #: What the intervals of the mean are called: ``"confidence"`` or ``"credible"``.
    interval_name: ClassVar[str]
    #: Whether the numbers carry Monte-Carlo error (NUTS) or not (exact, frequentist).
    monte_carlo: ClassVar[bool] = False
    data: EffectData
    design: Design
    notes: tuple[str, ...]
    #: Default level of every interval.
    ci_level: float = 0.95

    # ------------------------------------------------------------------ engine hooks
    @property
    @abstractmethod
    def label(self) -> str:
        """Short name of the fit, e.g. ``"REML (Knapp–Hartung)"`` or ``"Bayes exact (tau ~ …)"``."""

    @abstractmethod
    def effect(self, param: str = "mu", ci_level: float | None = None) -> Estimate:
        """The mean effect, a coefficient or a subgroup mean, with its interval."""

    @abstractmethod
    def prediction(self, ci_level: float | None = None, param: str = "mu") -> Estimate | None:
        """Interval for the true effect in a new study (of a subgroup); ``None`` if undefined."""

    @abstractmethod
    def linear_estimate(self, c: np.ndarray, ci_level: float | None = None) -> Estimate:
        """The linear combination ``c · beta`` of the coefficients with its interval (a
        contrast between subgroups, or the effect at given moderator values)."""

    @abstractmethod
    def study_weights(self) -> np.ndarray:
        """Each study's weight in the pooled estimate (%), for forest plots."""

    @abstractmethod
    def tau_estimate(self, ci_level: float | None = None) -> Estimate:
        """tau (between-study SD on the analysis scale) with its interval."""

    @abstractmethod
    def methods(self) -> list[str]:
        """Sentences for a methods section: engine, estimator or priors, interval kinds."""

    def refit(self, data: EffectData) -> MetaResult:
        """The same model (engine, estimator, priors, moderators) fitted to other studies —
        a subset for leave-one-out and cumulative meta-analysis."""
        raise InputError(
            f"the {self.engine} engine's results cannot be refitted here; fit the subset "
            "with hm.bayesian or hm.frequentist"
        )

    def _model_terms(self) -> dict[str, Any]:
        """The moderators, their coding and level order, as the fit functions take them."""
        terms = self.design.terms
        if not terms:
            return {"moderators": None}
        return {
            "moderators": [t.name for t in terms],
            "coding": {t.name: t.coding for t in terms},
            "levels": {t.name: list(t.levels) for t in terms if t.levels} or None,
        }

    def study_effects(self, ci_level: float | None = None) -> pd.DataFrame | None:
        """Per-study estimates of the true effects (Bayesian shrinkage), or ``None``.

        Columns ``estimate, low, high`` on the analysis scale, indexed by study.
        """
        return None

    def probabilities(self, thresholds: Sequence[float] | None = None) -> pd.DataFrame | None:
        """P(effect < threshold) per quantity (Bayesian fits), or ``None``."""
        return None

    def diagnostics(self) -> pd.DataFrame | None:
        """Sampler diagnostics (index ``(param, diagnostic)``; columns ``value, threshold,
        passed``), or ``None`` for engines without Monte-Carlo error."""
        return None

    def failed_diagnostics(self) -> list[str]:
        """The diagnostics that failed, in words (empty when all passed or none apply)."""
        return []

    @property
    def attempts_made(self) -> int:
        """Number of fitting attempts (NUTS remedies); 1 for the other engines."""
        return 1

    def _engine_details(self, level: float) -> dict[str, Any]:
        """Engine-specific extras for :meth:`to_dict` (under ``"details"``)."""
        return {}

    def _extra_summary_rows(self, level: float) -> list[dict[str, Any]]:
        """Engine-specific extra rows for :meth:`summary` (e.g. the QM test)."""
        return []

    # ------------------------------------------------------------------ shared pieces
    def _level(self, ci_level: float | None) -> float:
        return check_level(self.ci_level if ci_level is None else ci_level)

    def _vector(self, param: str) -> np.ndarray:
        """Design row for mu, a coefficient or a subgroup level (``"<moderator>=<level>"``)."""
        if param == "mu":
            return unit_vector(self.design.p, 0)
        if param in self.design.names[1:]:
            return unit_vector(self.design.p, self.design.names.index(param))
        name, sep, level = param.partition("=")
        valid = self.effect_params()
        if not sep or name not in [t.name for t in self.design.terms if t.levels]:
            raise unknown_option("parameter", param, valid)
        vectors = self.design.level_vectors(name)
        if level not in vectors:
            raise unknown_option(f"level of {name!r}", level, list(vectors))
        return vectors[level]

    def effect_params(self) -> list[str]:
        """``mu``, the other coefficients and every ``"<moderator>=<level>"``."""
        names = ["mu", *self.design.names[1:]]
        return names + self.level_params()

    def level_params(self) -> list[str]:
        """``"<moderator>=<level>"`` for every level of every categorical moderator."""
        return [f"{t.name}={level}" for t in self.design.terms for level in t.levels]

    @property
    def k(self) -> int:
        """Number of studies."""
        return self.data.k

    @property
    def is_regression(self) -> bool:
        """True when the model has moderators."""
        return not self.design.intercept_only

    def q_statistic(self) -> QStatistic:
        """Cochran's Q (residual QE with moderators), its df and p, and the typical variance."""
        return fixed_effect_q(self.data.y, self.data.variance, self.design.X)

    def heterogeneity(self, ci_level: float | None = None) -> Heterogeneity:
        """tau with its interval, tau², I², H² and Q (see :class:`Heterogeneity`)."""
        tau = self.tau_estimate(ci_level)
        q = self.q_statistic()

        def i2(t: float) -> float:
            return i2_percent(t**2, q.vt)

        return Heterogeneity(
            tau=tau,
            tau2=tau.estimate**2,
            i2=i2(tau.estimate),
            i2_low=i2(tau.low),
            i2_high=i2(tau.high),
            h2=1 + tau.estimate**2 / q.vt if q.vt > 0 else float("nan"),
            q=q.q,
            q_df=q.df,
            q_p=q.p,
        )

    def pooled(self, ci_level: float | None = None) -> Estimate:
        """The pooled mean effect (the intercept of a meta-regression) with its interval."""
        return self.effect("mu", ci_level)

    def levels(self, ci_level: float | None = None) -> pd.DataFrame:
        """One row per level of each categorical moderator: estimate, interval, prediction.

        Columns ``moderator, level, estimate, low, high, pi_low, pi_high, pi_kind`` on the
        analysis scale (empty frame for models without categorical moderators).
        """
        level = self._level(ci_level)
        rows = []
        for param in self.level_params():
            est = self.effect(param, level)
            pred = self.prediction(level, param)
            moderator, _, name = param.partition("=")
            rows.append(
                {
                    "moderator": moderator,
                    "level": name,
                    "estimate": est.estimate,
                    "low": est.low,
                    "high": est.high,
                    "pi_low": pred.low if pred else np.nan,
                    "pi_high": pred.high if pred else np.nan,
                    "pi_kind": pred.kind if pred else "",
                }
            )
        columns = ["moderator", "level", "estimate", "low", "high", "pi_low", "pi_high", "pi_kind"]
        return pd.DataFrame(rows, columns=columns)

    def _contrast_probability(self, c: np.ndarray) -> float:
        """P(c · beta < 0) for Bayesian fits; NaN for the others."""
        return float("nan")

    def _contrast_p_value(self, est: Estimate) -> float:
        """Two-sided p-value of a contrast (frequentist fits); NaN for the others."""
        return float("nan")

    def contrasts(self, ci_level: float | None = None) -> pd.DataFrame:
        """Every pair of levels of each categorical moderator, not only against the reference.

        Columns ``moderator, first, second, estimate, low, high`` (first − second on the
        analysis scale: a log ratio of HRs), ``p_value`` (frequentist) and ``p_first_lower``
        (Bayesian: P(effect[first] < effect[second])), then the ratio columns.
        """
        level = self._level(ci_level)
        rows = []
        for term in self.design.terms:
            for i, first in enumerate(term.levels):
                for second in term.levels[i + 1 :]:
                    c = self._vector(f"{term.name}={first}") - self._vector(f"{term.name}={second}")
                    est = self.linear_estimate(c, level)
                    rows.append(
                        {
                            "moderator": term.name,
                            "first": first,
                            "second": second,
                            "estimate": est.estimate,
                            "low": est.low,
                            "high": est.high,
                            "p_value": self._contrast_p_value(est),
                            "p_first_lower": self._contrast_probability(c),
                        }
                    )
        columns = [
            "moderator",
            "first",
            "second",
            "estimate",
            "low",
            "high",
            "p_value",
            "p_first_lower",
        ]
        frame = pd.DataFrame(rows, columns=columns)
        if self.data.is_ratio:
            for key in ("estimate", "low", "high"):
                frame[f"ratio {key}"] = self._natural(frame[key].to_numpy(dtype=float))
        return frame

    # ------------------------------------------------------------------ one summary frame
    def summary(self, ci_level: float | None = None) -> pd.DataFrame:
        """One table with the same columns for every engine.

        Rows: ``mu`` (and the other coefficients), ``"<moderator>=<level>"`` for subgroup
        means, ``predictive`` (or ``predictive[<moderator>=<level>]``), ``tau``, ``tau2``,
        ``I2`` (%), ``H2``, ``Q`` and engine extras (``QM``). Columns: ``estimate, se, ci_low,
        ci_high, p_value, interval`` on the analysis scale, then for ratio measures the
        exponentiated ``HR, HR ci_low, HR ci_high`` of the effect rows.
        """
        level = self._level(ci_level)
        rows: list[dict[str, Any]] = []

        def add(name: str, est: Estimate, p_value: float = np.nan, effect: bool = True) -> None:
            rows.append({**summary_row(name, est, p_value), "_effect": effect})

        for name in self.effect_params():
            add(name, self.effect(name, level), self._p_value(name))
        for name in ["mu", *self.level_params()] if self.is_regression else ["mu"]:
            if self.is_regression and name == "mu" and self.level_params():
                continue  # the intercept is a reference level, predicted as that level
            pred = self.prediction(level, name)
            if pred is not None:
                add("predictive" if name == "mu" else f"predictive[{name}]", pred)
        het = self.heterogeneity(level)
        add("tau", het.tau, effect=False)
        nan = float("nan")
        for name, value, low, high, note in (
            ("tau2", het.tau2, het.tau.low**2, het.tau.high**2, het.tau.interval),
            ("I2", het.i2, het.i2_low, het.i2_high, "%"),
            ("H2", het.h2, nan, nan, ""),
            ("Q", het.q, nan, nan, f"df = {het.q_df}"),
        ):
            add(name, Estimate(value, low, high, nan, level, note), effect=False)
        rows[-1]["p_value"] = het.q_p
        for extra in self._extra_summary_rows(level):
            rows.append({**extra, "_effect": False})
        # columns built once (one DataFrame construction, no per-column insertion)
        columns = ["estimate", "se", "ci_low", "ci_high", "p_value", "interval"]
        table: dict[str, Any] = {
            c: tuple(row.get(c, np.nan) for row in rows)
            if c == "interval"
            else np.array([row.get(c, np.nan) for row in rows], dtype=float)
            for c in columns
        }
        names = [row["param"] for row in rows]
        effect = np.array([row["_effect"] for row in rows], dtype=bool)
        if not self.data.is_ratio:  # a slope of logits or Fisher z is no proportion or r
            effect &= ~np.isin(names, self.design.names[1:])
        if self.data.back_transformed:
            m = self.data.natural_label
            sources = np.stack([table["estimate"], table["ci_low"], table["ci_high"]])
            natural = np.where(effect, self._natural(sources), np.nan)  # one call for the three
            for target, values in zip((m, f"{m} ci_low", f"{m} ci_high"), natural, strict=True):
                table[target] = values
        return summary_frame(table, tuple(names))

    def _p_value(self, param: str) -> float:
        """p-value of the test that a coefficient is 0 (frequentist engines)."""
        return float("nan")

    def _natural(self, values: Any) -> np.ndarray:
        with np.errstate(over="ignore"):  # a bound beyond e^709 is reported as inf
            return np.asarray(self.data.to_natural(np.asarray(values, dtype=float)), dtype=float)

    # ------------------------------------------------------------------ one JSON schema
    def to_dict(self, ci_level: float | None = None) -> dict[str, Any]:
        """JSON-ready dictionary with one schema for every engine (NaN and inf become None)."""
        level = self._level(ci_level)
        pooled = self.pooled(level)
        pred = self.prediction(level) if not self.level_params() else None
        het = self.heterogeneity(level)
        probs = self.probabilities()
        diag = self.diagnostics()
        out: dict[str, Any] = {
            "engine": self.engine,
            "family": self.family,
            "label": self.label,
            "measure": self.data.measure,
            "k": self.k,
            "ci_level": level,
            "interval": f"{level:.0%} {self.interval_name} interval",
            "estimate": pooled.estimate,
            "se": pooled.se,
            "ci_low": pooled.low,
            "ci_high": pooled.high,
            "pi_kind": pred.kind if pred else None,
            "pi_low": pred.low if pred else None,
            "pi_high": pred.high if pred else None,
            "tau": het.tau.estimate,
            "tau_ci_low": het.tau.low,
            "tau_ci_high": het.tau.high,
            "tau2": het.tau2,
            "i2": het.i2,
            "i2_ci_low": het.i2_low,
            "i2_ci_high": het.i2_high,
            "h2": het.h2,
            "q": het.q,
            "q_df": het.q_df,
            "q_p": het.q_p,
            "ratio": None,
            "coefficients": [self._coef_dict(n, level) for n in ["mu", *self.design.names[1:]]]
            if self.is_regression
            else [],
            "levels": self.levels(level).to_dict(orient="records"),
            "probabilities": None
            if probs is None
            else {f"{r}: {c}": probs.loc[r, c] for r in probs.index for c in probs.columns},
            "diagnostics": None if diag is None else diag.reset_index().to_dict(orient="records"),
            "failed_diagnostics": self.failed_diagnostics(),
            "methods": self.methods(),
            "notes": list(self.notes),
            "details": self._engine_details(level),
        }
        if self.data.back_transformed:
            keys = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
            out["ratio"] = {
                key: None if out[key] is None else float(self._natural(out[key])) for key in keys
            }
        return jsonable(out)

    def _coef_dict(self, name: str, level: float) -> dict[str, Any]:
        est = self.effect(name, level)
        return {
            "name": name,
            "estimate": est.estimate,
            "se": est.se,
            "ci_low": est.low,
            "ci_high": est.high,
            "p_value": self._p_value(name),
        }

    # ------------------------------------------------------------------ display
    def headline(self, ci_level: float | None = None) -> str:
        """One line: the pooled effect (each subgroup's, with categorical moderators — never
        the reference level as if it were the pooled result) and tau."""
        m = self.data.natural_label
        params = self.level_params() or ["mu"]
        parts = []
        for param in params:
            est = self.effect(param, ci_level)
            e, lo, hi = self._natural([est.estimate, est.low, est.high])
            if param != "mu":
                name = param.replace("=", " = ")
            else:
                name = "intercept (moderators at 0)" if self.is_regression else "pooled"
            parts.append(f"{name}: {m} {e:.3g} [{lo:.3g}, {hi:.3g}]")
        interval = self.pooled(ci_level).interval
        return f"{'; '.join(parts)} ({interval}); tau = {self.tau_estimate(ci_level).estimate:.3g}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label}, k={self.k}: {self.headline()})"

    def _repr_html_(self) -> str:
        import html

        table = self.summary().to_html(float_format=lambda v: f"{v:.4g}")
        return f"<p><b>{html.escape(repr(self))}</b></p>" + table

    # ------------------------------------------------------------------ plots
    def plot_forest(
        self,
        ax: Axes | None = None,
        by: str | None = None,
        comparator: MetaResult | None = None,
        **kwargs: Any,
    ) -> Axes:
        """Forest plot (see :func:`hiermeta.results.plots.forest`); returns the Axes."""
        from hiermeta.results.plots import forest

        return forest(self, comparator, by=by, ax=ax, **kwargs)

    def plot_posterior(
        self, ax: Axes | None = None, thresholds: tuple[float, ...] = (1.0, 0.8), **kwargs: Any
    ) -> Axes:
        """Posterior density of the pooled effect (Bayesian fits); returns the Axes."""
        from hiermeta.results.plots import posterior_plot

        return posterior_plot(self, thresholds, ax=ax, **kwargs)

    def plot_tau(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Prior and posterior of tau (Bayesian fits); returns the Axes."""
        from hiermeta.results.plots import tau_plot

        return tau_plot(self, ax=ax, **kwargs)
