"""Figures: forest plot, posterior of the pooled HR, prior vs posterior of tau, sensitivity.

Every function takes ``ax=None`` and returns the Axes; they draw numbers computed by the
results (:mod:`hiermeta.report.tables`), never statistics of their own.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from hiermeta.frequentist import FrequentistResult
from hiermeta.posterior import BayesianResult
from hiermeta.report.tables import forest_rows, pooled_rows

__all__ = ["forest", "posterior_plot", "sensitivity_plot", "tau_plot"]

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


def forest(
    result: BayesianResult,
    freq: FrequentistResult | None = None,
    by: str | None = None,
    level: float = 0.95,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Forest plot on the ratio scale, grouped by a categorical moderator.

    Per study: the observed estimate and CI (black square), the shrunken posterior median and
    credible interval (blue). Per group (or overall): the pooled posterior (red diamond), the
    predictive interval for a new study (orange bar) and the frequentist estimate (green).
    """
    rows = forest_rows(result, by, level)
    pooled = pooled_rows(result, freq, by, level)
    groups = list(pooled["group"]) if by else ["All studies"]
    n_lines = len(rows) + 3 * len(groups) + 1
    ax = _new_axes(ax, kwargs.pop("figsize", (9.5, 0.32 * n_lines + 1.6)))
    to_ratio = result.data.to_natural
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
            ax.plot(to_ratio([r.y_low, r.y_high]), [y_pos + 0.15] * 2, color=OBSERVED, lw=1.2)
            ax.plot(to_ratio(r.y), y_pos + 0.15, "s", color=OBSERVED, ms=5)
            ax.plot(to_ratio([r.theta_low, r.theta_high]), [y_pos - 0.15] * 2, color=SHRUNK, lw=1.2)
            ax.plot(to_ratio(r.theta), y_pos - 0.15, "o", color=SHRUNK, ms=4)
            ticks.append(y_pos)
            labels.append(r.study)
            value_labels.append(fmt(r.y, r.y_low, r.y_high))
            y_pos -= 1
        p = pooled[pooled["group"] == group].iloc[0]
        diamond_x = to_ratio([p.low, p.est, p.high, p.est])
        ax.fill(diamond_x, [y_pos, y_pos + 0.3, y_pos, y_pos - 0.3], color=POOLED)
        ticks.append(y_pos)
        labels.append(f"{p.label} (Bayes)")
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
        if "freq" in p and np.isfinite(p.get("freq", np.nan)):
            ax.plot(to_ratio([p.freq_low, p.freq_high]), [y_pos] * 2, color=FREQ, lw=1.5)
            ax.plot(to_ratio(p.freq), y_pos, "D", color=FREQ, ms=6, mfc="white")
            ticks.append(y_pos)
            labels.append(f"{p.label} ({freq.method if freq else ''}, frequentist)")
            value_labels.append(fmt(p.freq, p.freq_low, p.freq_high))
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
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=OBSERVED, marker="s", label=f"observed {measure}, {level:.0%} CI"),
        Line2D([], [], color=SHRUNK, marker="o", label=f"shrunken posterior, {level:.0%} CrI"),
        Line2D([], [], color=POOLED, marker="D", ls="", label="pooled posterior median and CrI"),
        Line2D([], [], color=PREDICT, lw=3, label="predictive interval for a new study"),
    ]
    if freq is not None:
        handles.append(
            Line2D(
                [],
                [],
                color=FREQ,
                marker="D",
                mfc="white",
                label=f"frequentist {freq.method}, {level:.0%} CI",
            )
        )
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0, 1.01),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    ax.grid(axis="x", alpha=0.3)
    return ax


def posterior_plot(
    result: BayesianResult,
    thresholds: tuple[float, ...] = (1.0, 0.8),
    param: str = "mu",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Posterior density of the pooled ratio, with P(ratio < threshold) marked."""
    ax = _new_axes(ax, kwargs.pop("figsize", (7, 3.8)))
    post = result.posterior(param)
    lo, hi = post.quantile(np.array([0.0005, 0.9995]))
    x = np.linspace(lo, hi, 400)
    data = result.data
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
            label=f"P({data.measure} < {t:g}) = {result.prob(t, param=param):.3f}",
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


def tau_plot(result: BayesianResult, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Prior and posterior density of tau."""
    ax = _new_axes(ax, kwargs.pop("figsize", (7, 3.5)))
    post = result.posterior("tau")
    upper = float(post.quantile(np.array([0.999]))[0]) * 1.2
    x = np.linspace(1e-6, upper, 400)
    density = _density(post, x)
    ax.plot(x, density, color=SHRUNK, label="posterior")
    prior = result.tau_prior
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
