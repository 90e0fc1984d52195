"""Figures: forest plot, posterior of the pooled HR, prior vs posterior of tau, sensitivity.

Every function takes ``ax=None`` and returns the Axes. They read only the result contract
(:class:`~hiermeta.results.contract.MetaResult`) and draw what it computes, never statistics
of their own; a frequentist fit draws as well as a Bayesian one.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from hiermeta.errors import InputError
from hiermeta.results.contract import MetaResult
from hiermeta.results.intervals import z_critical

__all__ = [
    "forest",
    "forest_rows",
    "pooled_rows",
    "posterior_plot",
    "sensitivity_plot",
    "tau_plot",
]

OBSERVED = "#222222"
SHRUNK = "#1f77b4"
POOLED = "#d62728"
FREQ = "#2ca02c"
PREDICT = "#ff7f0e"


def _ratio_axis(ax: Axes) -> None:
    """Log-scale x axis labelled with plain ratios (0.5, 1, 2) rather than powers of ten."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ax.set_xscale("log")
    low, high = ax.get_xlim()
    candidates = [
        0.05,
        0.1,
        0.2,
        0.25,
        0.3,
        0.4,
        0.5,
        0.6,
        0.7,
        0.8,
        1,
        1.25,
        1.5,
        2,
        3,
        4,
        5,
        10,
        20,
    ]
    ticks = [t for t in candidates if low <= t <= high]
    if len(ticks) > 9:
        ticks = [t for t in ticks if t in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 20)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _density(post: Any, x: np.ndarray) -> np.ndarray:
    """Exact density where the engine has one, else a kernel density estimate of the draws."""
    try:
        return np.asarray(post.pdf(x))
    except NotImplementedError:
        from scipy.stats import gaussian_kde

        return np.asarray(gaussian_kde(post.draws)(x))


def _new_axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, new = plt.subplots(figsize=size, layout="constrained")
    return new


def forest_rows(result: MetaResult, by: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """One row per study: observed estimate and CI, and the fit's estimate of its true effect.

    Columns on the analysis (log) scale: ``y, y_low, y_high`` and, for fits that estimate
    study effects (Bayesian shrinkage), ``theta, theta_low, theta_high``; plus ``group`` (the
    level of ``by``, or ``"All studies"``).
    """
    data = result.data
    z = z_critical(level)
    frame = pd.DataFrame(
        {
            "study": list(data.study),
            "group": data.covariates[by].astype(str).to_numpy() if by else "All studies",
            "y": data.y,
            "y_low": data.y - z * data.se,
            "y_high": data.y + z * data.se,
        }
    )
    effects = result.study_effects(level)
    if effects is not None:
        frame["theta"] = effects["estimate"].to_numpy()
        frame["theta_low"] = effects["low"].to_numpy()
        frame["theta_high"] = effects["high"].to_numpy()
    return frame


def pooled_rows(result: MetaResult, by: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Pooled estimate per group (or overall) with its interval and prediction interval."""
    if by:
        valid = [t.name for t in result.design.terms if t.levels]
        if by not in valid:
            raise InputError(
                f"forest(by={by!r}): the model has no categorical moderator {by!r}; "
                f"it has {valid or 'none'}"
            )
        table = result.levels(level)
        table = table[table["moderator"] == by]
        return pd.DataFrame(
            {
                "group": table["level"].to_numpy(),
                "label": [f"{by} = {name}" for name in table["level"]],
                "est": table["estimate"].to_numpy(),
                "low": table["low"].to_numpy(),
                "high": table["high"].to_numpy(),
                "pi_low": table["pi_low"].to_numpy(),
                "pi_high": table["pi_high"].to_numpy(),
            }
        )
    est = result.pooled(level)
    pred = result.prediction(level)
    return pd.DataFrame(
        [
            {
                "group": "All studies",
                "label": "Pooled",
                "est": est.estimate,
                "low": est.low,
                "high": est.high,
                "pi_low": pred.low if pred else np.nan,
                "pi_high": pred.high if pred else np.nan,
            }
        ]
    )


def forest(
    result: MetaResult,
    comparator: MetaResult | None = None,
    by: str | None = None,
    level: float = 0.95,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Forest plot on the ratio scale, grouped by a categorical moderator.

    Per study: the observed estimate and CI (black square) and, for Bayesian fits, the shrunken
    posterior median and credible interval (blue). Per group (or overall): the pooled estimate
    (red diamond), the prediction interval for a new study (orange bar) and, when given, the
    same from a ``comparator`` fit (green; e.g. the frequentist REML estimate).
    """
    pooled = pooled_rows(result, by, level)  # checks ``by`` first
    rows = forest_rows(result, by, level)
    other = pooled_rows(comparator, by, level) if comparator is not None else None
    groups = list(pooled["group"]) if by else ["All studies"]
    n_lines = len(rows) + 3 * len(groups) + 1
    ax = _new_axes(ax, kwargs.pop("figsize", (9.5, 0.32 * n_lines + 1.6)))
    to_ratio = result.data.to_natural
    shrunk = "theta" in rows.columns
    offset = 0.15 if shrunk else 0.0
    y_pos = 0.0
    ticks, labels, value_labels = [], [], []

    def fmt(est: float, low: float, high: float) -> str:
        e, lo, hi = to_ratio([est, low, high])
        return f"{e:.2f} [{lo:.2f}, {hi:.2f}]"

    for group in groups:
        part = rows[rows["group"] == group] if by else rows
        if by:
            ax.text(
                0.005,
                y_pos,
                f"{by} = {group}",
                transform=ax.get_yaxis_transform(),
                fontweight="bold",
                va="center",
            )
            y_pos -= 1
        for _, r in part.iterrows():
            ax.plot(to_ratio([r.y_low, r.y_high]), [y_pos + offset] * 2, color=OBSERVED, lw=1.2)
            ax.plot(to_ratio(r.y), y_pos + offset, "s", color=OBSERVED, ms=5)
            if shrunk:
                ax.plot(
                    to_ratio([r.theta_low, r.theta_high]),
                    [y_pos - offset] * 2,
                    color=SHRUNK,
                    lw=1.2,
                )
                ax.plot(to_ratio(r.theta), y_pos - offset, "o", color=SHRUNK, ms=4)
            ticks.append(y_pos)
            labels.append(r.study)
            value_labels.append(fmt(r.y, r.y_low, r.y_high))
            y_pos -= 1
        p = pooled[pooled["group"] == group].iloc[0]
        diamond_x = to_ratio([p.low, p.est, p.high, p.est])
        ax.fill(diamond_x, [y_pos, y_pos + 0.3, y_pos, y_pos - 0.3], color=POOLED)
        ticks.append(y_pos)
        labels.append(f"{p.label} ({result.family})")
        value_labels.append(fmt(p.est, p.low, p.high))
        if np.isfinite(p.pi_low):
            ax.plot(
                to_ratio([p.pi_low, p.pi_high]),
                [y_pos - 0.45] * 2,
                color=PREDICT,
                lw=3,
                alpha=0.7,
                solid_capstyle="butt",
            )
        y_pos -= 1
        if other is not None and comparator is not None:
            c = other[other["group"] == group].iloc[0]
            ax.plot(to_ratio([c.low, c.high]), [y_pos] * 2, color=FREQ, lw=1.5)
            ax.plot(to_ratio(c.est), y_pos, "D", color=FREQ, ms=6, mfc="white")
            ticks.append(y_pos)
            labels.append(f"{c.label} ({comparator.engine})")
            value_labels.append(fmt(c.est, c.low, c.high))
            y_pos -= 1
        y_pos -= 0.5
    ax.axvline(1.0 if result.data.is_ratio else 0.0, color="grey", lw=0.8, ls="--")
    if result.data.is_ratio:
        _ratio_axis(ax)
    ax.set_yticks(ticks, labels, fontsize=8)
    for tick, text in zip(ticks, value_labels, strict=True):
        ax.text(
            1.01,
            tick,
            text,
            transform=ax.get_yaxis_transform(),
            fontsize=7.5,
            va="center",
            family="monospace",
        )
    ax.set_ylim(y_pos + 0.3, 0.8)
    measure = result.data.measure
    ax.set_xlabel(
        f"{measure} (log scale; < 1 favours treatment)" if result.data.is_ratio else measure
    )
    ax.text(
        1.01,
        1.0,
        f"{measure} [{level:.0%} interval]",
        transform=ax.transAxes,
        fontsize=7.5,
        va="bottom",
        family="monospace",
    )
    ax.legend(
        handles=_forest_legend(result, comparator, measure, level, shrunk),
        loc="lower left",
        bbox_to_anchor=(0, 1.01),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    ax.grid(axis="x", alpha=0.3)
    return ax


def _forest_legend(
    result: MetaResult, comparator: MetaResult | None, measure: str, level: float, shrunk: bool
) -> list[Any]:
    from matplotlib.lines import Line2D

    def word(fit: MetaResult) -> str:
        return "CrI" if fit.family == "bayesian" else "CI"

    handles = [
        Line2D([], [], color=OBSERVED, marker="s", label=f"observed {measure}, {level:.0%} CI")
    ]
    if shrunk:
        handles.append(
            Line2D([], [], color=SHRUNK, marker="o", label=f"shrunken posterior, {level:.0%} CrI")
        )
    handles += [
        Line2D([], [], color=POOLED, marker="D", ls="", label=f"pooled, {word(result)}"),
        Line2D([], [], color=PREDICT, lw=3, label="prediction interval for a new study"),
    ]
    if comparator is not None:
        handles.append(
            Line2D(
                [],
                [],
                color=FREQ,
                marker="D",
                mfc="white",
                label=f"{comparator.label}, {level:.0%} {word(comparator)}",
            )
        )
    return handles


def _bayesian(result: MetaResult, what: str) -> Any:
    """The result as a Bayesian fit (posterior plots need posteriors), or a clear error."""
    if not hasattr(result, "posterior"):
        raise InputError(f"{what} needs a Bayesian fit (hm.bayesian); got {result.label}")
    return result


def posterior_plot(
    result: MetaResult,
    thresholds: tuple[float, ...] = (1.0, 0.8),
    param: str = "mu",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Posterior density of the pooled ratio, with P(ratio < threshold) marked."""
    fit: Any = _bayesian(result, "posterior_plot")
    ax = _new_axes(ax, kwargs.pop("figsize", (7, 3.8)))
    post = fit.posterior(param)
    lo, hi = post.quantile(np.array([0.0005, 0.9995]))
    x = np.linspace(lo, hi, 400)
    data = fit.data
    density = _density(post, x)
    ratio = data.to_natural(x)
    # density of the ratio: p(r) = p(log r) / r
    dens_ratio = density / ratio if data.is_ratio else density
    ax.plot(ratio, dens_ratio, color=SHRUNK)
    for t, colour in zip(thresholds, ["#d62728", "#9467bd", "#8c564b"], strict=False):
        mask = ratio < t
        ax.fill_between(
            ratio[mask],
            dens_ratio[mask],
            alpha=0.25,
            color=colour,
            label=f"P({data.measure} < {t:g}) = {fit.prob(t, param=param):.3f}",
        )
        ax.axvline(t, color=colour, lw=0.8, ls="--")
    if data.is_ratio:
        _ratio_axis(ax)
    label = (
        "pooled (mean) "
        if param == "mu"
        else ("new-study " if param.startswith("predictive") else "")
    )
    ax.set_xlabel(f"{label}{data.measure}")
    ax.set_ylabel("posterior density")
    ax.set_yticks([])
    ax.legend(fontsize=9, frameon=False)
    return ax


def tau_plot(result: MetaResult, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Prior and posterior density of tau."""
    fit: Any = _bayesian(result, "tau_plot")
    ax = _new_axes(ax, kwargs.pop("figsize", (7, 3.5)))
    post = fit.posterior("tau")
    upper = float(post.quantile(np.array([0.999]))[0]) * 1.2
    x = np.linspace(1e-6, upper, 400)
    density = _density(post, x)
    ax.plot(x, density, color=SHRUNK, label="posterior")
    prior = fit.tau_prior
    if prior.proper:
        ax.plot(x, np.exp(prior.logpdf(x)), color="grey", ls="--", label=f"prior: {prior.name}")
    else:
        ax.text(
            0.98,
            0.9,
            f"prior: {prior.name} (improper, not drawn)",
            transform=ax.transAxes,
            ha="right",
            fontsize=8,
        )
    ax.set_xlabel("tau (between-study SD of the log effect)")
    ax.set_yticks([])
    ax.legend(fontsize=9, frameon=False)
    return ax


def sensitivity_plot(
    table: pd.DataFrame, measure: str = "HR", ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """Pooled estimate and interval under each prior of a sensitivity table."""
    rows = table.dropna(subset=["estimate"])
    ax = _new_axes(ax, kwargs.pop("figsize", (8, 0.45 * len(rows) + 1.2)))
    positions = -np.arange(len(rows))
    ax.errorbar(
        rows["estimate"],
        positions,
        xerr=[rows["estimate"] - rows["ci_low"], rows["ci_high"] - rows["estimate"]],
        fmt="o",
        color=POOLED,
        capsize=3,
        label="mean effect, 95% CrI",
    )
    ax.hlines(
        positions - 0.25,
        rows["pi_low"],
        rows["pi_high"],
        color=PREDICT,
        lw=2.5,
        alpha=0.7,
        label="predictive interval",
    )
    ax.set_yticks(positions, rows.index, fontsize=8)
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    _ratio_axis(ax)
    ax.set_xlabel(f"{measure} (log scale)")
    ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
    return ax
