"""Figures: forest plot, posterior of the pooled HR, prior vs posterior of tau, sensitivity.

Every function takes ``ax=None`` and returns the Axes. They read only the result contract
(:class:`~hiermeta.results.contract.MetaResult`) and draw what it computes, never statistics
of their own; a frequentist fit draws as well as a Bayesian one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from hiermeta.errors import InputError
from hiermeta.results.contract import MetaResult, q_text
from hiermeta.results.heterogeneity import fixed_effect_q
from hiermeta.results.intervals import PI_KIND_SHORT, probability_text, z_critical

__all__ = [
    "baujat_plot",
    "bubble_plot",
    "cumulative_plot",
    "forest",
    "forest_rows",
    "funnel_plot",
    "gosh_plot",
    "leave_one_out_plot",
    "plot_nested",
    "pooled_rows",
    "posterior_plot",
    "sensitivity_plot",
    "tau_plot",
    "trajectory_plot",
]


def _plain_text(draw: Callable[..., Any]) -> Callable[..., Any]:
    """Text from the data is drawn as written: mathtext off while the figure's texts are made
    (a label with two ``$`` signs is not a formula)."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with plt.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return wrapper


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
                "pi_kind": table["pi_kind"].to_numpy(),
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
                "pi_kind": pred.kind if pred else "",
            }
        ]
    )


def _subgroup_q(result: MetaResult, mask: np.ndarray) -> str:
    """Cochran's Q of the studies in one subgroup (their own fixed-effect fit)."""
    y, v = result.data.y[mask], result.data.variance[mask]
    if len(y) < 2:
        return "one study: no heterogeneity statistic"
    q = fixed_effect_q(y, v, np.ones((len(y), 1)))
    return "within subgroup: " + q_text(q.q, q.df, q.p)


def _short(label: str, width: int = 42) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


#: Beyond this many studies the forest plot becomes a caterpillar plot of bounded size (studies
#: sorted by estimate, no labels; the report's Studies table lists them): a labelled row per
#: study would make an image tens of thousands of pixels tall.
FOREST_MAX_STUDIES = 150


def _caterpillar(result: MetaResult, pooled: pd.DataFrame, level: float, ax: Axes | None) -> Axes:
    """Every study's estimate and CI, sorted, in a figure of fixed size, with the pooled
    estimate and its prediction interval as bands."""
    rows = forest_rows(result, None, level).sort_values("y").reset_index(drop=True)
    ax = _new_axes(ax, (10.5, 6.5))
    to_ratio = result.data.to_natural
    x = np.arange(len(rows))
    ax.vlines(
        x,
        to_ratio(rows["y_low"].to_numpy()),
        to_ratio(rows["y_high"].to_numpy()),
        color="#999999",
        lw=0.4,
    )
    ax.plot(x, to_ratio(rows["y"].to_numpy()), ".", color=OBSERVED, ms=1.5)
    first = pooled.iloc[0]
    if np.isfinite(first.pi_low):
        ax.axhspan(
            *to_ratio([first.pi_low, first.pi_high]),
            color=PREDICT,
            alpha=0.15,
            label="prediction interval",
        )
    ax.axhspan(
        *to_ratio([first.low, first.high]),
        color=POOLED,
        alpha=0.35,
        label=f"pooled ({level:.0%} interval)",
    )
    ax.axhline(float(to_ratio([first.est])[0]), color=POOLED, lw=1)
    null = result.data.measure_info.null  # already on the reporting scale
    if null is not None:
        ax.axhline(null, color="#888888", ls="--", lw=0.8)
    if result.data.is_ratio:
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"{result.data.k} studies, sorted by estimate (labels: the Studies table)")
    ax.set_ylabel(result.data.natural_label)
    ax.set_title(f"{result.label}: estimate and {level:.0%} CI of each study", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return ax


@_plain_text
def forest(
    result: MetaResult,
    comparator: MetaResult | None = None,
    by: str | None = None,
    level: float = 0.95,
    ax: Axes | None = None,
    overall: MetaResult | None = None,
    **kwargs: Any,
) -> Axes:
    """Forest plot on the ratio scale, optionally grouped by a categorical moderator.

    Per study: the observed estimate and CI (a square sized by the study's weight, whose
    percentage is printed) and, for Bayesian fits, the shrunken posterior median and credible
    interval (blue). Per group (or overall): the pooled estimate (red diamond), the prediction
    interval for the true effect in a new study (orange bar), the same from a ``comparator`` fit
    (green; e.g. the frequentist REML estimate) and a heterogeneity line. With ``by``, an
    ``overall`` fit without the moderator adds the overall diamond. Numbers are printed on the
    right: estimate [interval] and weight.
    """
    pooled = pooled_rows(result, by, level)  # checks ``by`` first
    if result.data.k > FOREST_MAX_STUDIES:
        return _caterpillar(result, pooled, level, ax)
    rows = forest_rows(result, by, level)
    weights = result.study_weights()
    other = pooled_rows(comparator, by, level) if comparator is not None else None
    groups = list(pooled["group"]) if by else ["All studies"]
    n_lines = len(rows) + 5 * len(groups) + (4 if overall is not None and by else 0)
    ax = _new_axes(ax, kwargs.pop("figsize", (10.5, 0.3 * n_lines + 1.8)))
    to_ratio = result.data.to_natural
    shrunk = "theta" in rows.columns
    offset = 0.15 if shrunk else 0.0
    ticks: list[float] = []
    labels: list[str] = []
    values: list[tuple[float, str, str]] = []  # (y, estimate [interval], weight)
    y_pos = 0.0

    def interval(est: float, low: float, high: float) -> str:
        e, lo, hi = to_ratio([est, low, high])
        return f"{e:.2f} [{lo:.2f}, {hi:.2f}]"

    def pooled_block(p: Any, fit: MetaResult, other_row: Any, het: str, name: str) -> None:
        nonlocal y_pos
        ax.fill(
            to_ratio([p.low, p.est, p.high, p.est]),
            [y_pos, y_pos + 0.3, y_pos, y_pos - 0.3],
            color=POOLED,
        )
        ticks.append(y_pos)
        labels.append(f"{name} ({fit.family})")
        values.append((y_pos, interval(p.est, p.low, p.high), "100%" if not by else ""))
        y_pos -= 1
        if np.isfinite(p.pi_low):
            ax.plot(
                to_ratio([p.pi_low, p.pi_high]),
                [y_pos] * 2,
                color=PREDICT,
                lw=3,
                alpha=0.7,
                solid_capstyle="butt",
            )
            lo, hi = to_ratio([p.pi_low, p.pi_high])
            ticks.append(y_pos)
            labels.append(f"prediction interval ({PI_KIND_SHORT.get(p.pi_kind, p.pi_kind)})")
            values.append((y_pos, f"[{lo:.2f}, {hi:.2f}]", ""))
            y_pos -= 1
        if other_row is not None and comparator is not None:
            ax.plot(to_ratio([other_row.low, other_row.high]), [y_pos] * 2, color=FREQ, lw=1.5)
            ax.plot(to_ratio(other_row.est), y_pos, "D", color=FREQ, ms=6, mfc="white")
            ticks.append(y_pos)
            labels.append(f"{name} ({comparator.engine})")
            values.append((y_pos, interval(other_row.est, other_row.low, other_row.high), ""))
            y_pos -= 1
        _note(ax, y_pos + 0.1, het)
        y_pos -= 1.3

    for group in groups:
        mask = (rows["group"] == group).to_numpy() if by else np.ones(len(rows), bool)
        if by:
            ax.text(
                0.01,
                y_pos,
                f"{by} = {group}",
                transform=ax.get_yaxis_transform(),
                fontweight="bold",
                va="center",
            )
            y_pos -= 1
        for i in np.flatnonzero(mask):
            r = rows.iloc[i]
            size = 3 + 9 * np.sqrt(weights[i] / weights.max())
            ax.plot(to_ratio([r.y_low, r.y_high]), [y_pos + offset] * 2, color=OBSERVED, lw=1.2)
            ax.plot(to_ratio(r.y), y_pos + offset, "s", color=OBSERVED, ms=size)
            if shrunk:
                ax.plot(
                    to_ratio([r.theta_low, r.theta_high]),
                    [y_pos - offset] * 2,
                    color=SHRUNK,
                    lw=1.2,
                )
                ax.plot(to_ratio(r.theta), y_pos - offset, "o", color=SHRUNK, ms=4)
            ticks.append(y_pos)
            labels.append(_short(str(r.study)))
            values.append((y_pos, interval(r.y, r.y_low, r.y_high), f"{weights[i]:.1f}%"))
            y_pos -= 1
        p = pooled[pooled["group"] == group].iloc[0]
        c = other[other["group"] == group].iloc[0] if other is not None else None
        het = _subgroup_q(result, mask) if by else result.heterogeneity(level).text()
        pooled_block(p, result, c, het, "pooled" if not by else f"pooled, {by} = {group}")
    if by:
        text = f"residual heterogeneity (model with {by}): {result.heterogeneity(level).text()}"
        _note(ax, y_pos + 0.3, text)
        y_pos -= 1.2
    if by and overall is not None:
        p = pooled_rows(overall, None, level).iloc[0]
        ax.text(
            0.01,
            y_pos,
            "All studies",
            transform=ax.get_yaxis_transform(),
            fontweight="bold",
            va="center",
        )
        y_pos -= 1
        pooled_block(p, overall, None, overall.heterogeneity(level).text(), "overall")
    null = result.data.measure_info.null
    if null is not None:  # no "no effect" line for a single-group measure (a proportion)
        ax.axvline(null, color="grey", lw=0.8, ls="--")
    if result.data.is_ratio:
        _ratio_axis(ax)
    ax.set_yticks(ticks, labels, fontsize=8)
    measure = result.data.natural_label
    for y, text, weight in values:
        _column_text(ax, 1.02, y, text)
        _column_text(ax, 1.27, y, weight, ha="right")
    ax.text(
        1.02,
        1.0,
        f"{measure} [{level:.0%} interval]",
        transform=ax.transAxes,
        fontsize=7.5,
        va="bottom",
        family="monospace",
    )
    ax.text(
        1.27,
        1.0,
        "weight",
        transform=ax.transAxes,
        fontsize=7.5,
        va="bottom",
        ha="right",
        family="monospace",
    )
    ax.set_ylim(y_pos + 0.5, 0.8)
    favours = " (log scale; < 1 favours treatment)" if result.data.is_ratio else ""
    ax.set_xlabel(f"{measure}{favours}")
    ax.set_title(f"{measure} by study and pooled: {result.label}", fontsize=9, loc="left", pad=40)
    ax.legend(
        handles=_forest_legend(result, comparator, measure, level, shrunk),
        loc="lower left",
        bbox_to_anchor=(0, 1.01),
        ncol=3,
        fontsize=7.5,
        frameon=False,
    )
    ax.grid(axis="x", alpha=0.3)
    return ax


def _column_text(ax: Axes, x: float, y: float, text: str, ha: str = "left") -> None:
    """A number column right of the axes (x in axes units, y in data units)."""
    transform = ax.get_yaxis_transform()
    ax.text(x, y, text, transform=transform, fontsize=7.5, va="center", ha=ha, family="monospace")


def _note(ax: Axes, y: float, text: str) -> None:
    """A small italic line under a forest-plot block (heterogeneity)."""
    ax.text(
        0.01, y, text, transform=ax.get_yaxis_transform(), fontsize=7, style="italic", va="center"
    )


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


@_plain_text
def posterior_plot(
    result: MetaResult,
    thresholds: tuple[float, ...] = (1.0, 0.8),
    param: str | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Posterior density of the mean effect, with P(effect < threshold) shaded.

    ``param`` defaults to the pooled mean, or — for a meta-regression with categorical
    moderators — every subgroup's mean, overlaid (never the reference level alone as if it were
    the pooled result). Titled with what it shows.
    """
    fit: Any = _bayesian(result, "posterior_plot")
    ax = _new_axes(ax, kwargs.pop("figsize", (7.5, 4)))
    data = fit.data
    params = [param] if param else (fit.level_params() or ["mu"])
    if param is None and not fit.level_params() and fit.is_regression:
        params = ["mu"]
    single = len(params) == 1
    for i, name in enumerate(params):
        post = fit.posterior(name)
        lo, hi = post.quantile(np.array([0.0005, 0.9995]))
        x = np.linspace(lo, hi, 400)
        ratio = data.to_natural(x)
        density = _density(post, x)
        dens = density / data.measure_info.natural_slope(x)  # density on the reported scale
        colour = SHRUNK if single else f"C{i}"
        probs = (
            "; ".join(
                probability_text(f"P({data.natural_label} < {t:g})", fit.prob(t, param=name))
                for t in thresholds
            )
            or f"posterior of the {data.natural_label}"
        )
        label = probs if single else f"{name.replace('=', ' = ')}: {probs}"
        ax.plot(ratio, dens, color=colour, label=label)
        if single:
            for t, shade in zip(thresholds, ["#d62728", "#9467bd", "#8c564b"], strict=False):
                mask = ratio < t
                ax.fill_between(ratio[mask], dens[mask], alpha=0.25, color=shade)
    for t in thresholds:
        ax.axvline(t, color="grey", lw=0.8, ls="--")
    if data.is_ratio:
        _ratio_axis(ax)
    what = _what(fit, params)
    ax.set_title(f"Posterior of {what}", fontsize=10, loc="left")
    ax.set_xlabel(data.natural_label)
    ax.set_ylabel("posterior density")
    ax.set_yticks([])
    ax.legend(fontsize=8, frameon=False)
    return ax


def _what(fit: Any, params: list[str]) -> str:
    """What a posterior plot shows, in words."""
    m = fit.data.natural_label
    if len(params) > 1:
        return f"the mean {m} in each subgroup"
    name = params[0]
    if name == "mu":
        return (
            f"the pooled mean {m}"
            if not fit.is_regression
            else f"the intercept ({m} at the reference)"
        )
    if name.startswith("predictive"):
        return f"the true {m} in a new setting"
    return f"the mean {m}, {name.replace('=', ' = ')}"


@_plain_text
def bubble_plot(
    result: MetaResult, moderator: str, level: float = 0.95, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """Effect against a continuous moderator: studies as bubbles sized by weight, and the
    fitted line with its interval (the meta-regression's mean effect at each value)."""
    terms = {t.name: t for t in result.design.terms}
    if moderator not in terms or terms[moderator].levels:
        valid = [t.name for t in result.design.terms if not t.levels]
        raise InputError(
            f"bubble_plot: {moderator!r} is not a continuous moderator of this model; it has {valid or 'none'}"
        )
    ax = _new_axes(ax, kwargs.pop("figsize", (7.5, 4.5)))
    data = result.data
    column = result.design.names.index(moderator)
    x = result.design.X[:, column]
    weights = result.study_weights()
    ax.scatter(
        x,
        data.to_natural(data.y),
        s=20 + 600 * weights / weights.max(),
        alpha=0.5,
        color=SHRUNK,
        edgecolor="k",
    )
    grid = np.linspace(x.min(), x.max(), 60)
    base = np.zeros(result.design.p)
    base[0] = 1.0
    fitted = []
    for value in grid:
        c = base.copy()
        c[column] = value
        est = result.linear_estimate(c, level)
        fitted.append((est.estimate, est.low, est.high))
    line = np.asarray(data.to_natural(np.array(fitted)))
    ax.plot(grid, line[:, 0], color=POOLED, label=f"mean {data.natural_label} ({result.label})")
    ax.fill_between(
        grid, line[:, 1], line[:, 2], color=POOLED, alpha=0.15, label=f"{level:.0%} interval"
    )
    if data.is_ratio:
        ax.set_yscale("log")
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel(moderator)
    ax.set_ylabel(data.natural_label)
    ax.set_title(
        f"{data.natural_label} by {moderator} (bubbles: studies, sized by weight)",
        fontsize=10,
        loc="left",
    )
    ax.legend(fontsize=8, frameon=False)
    return ax


@_plain_text
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
    ax.set_title("Prior and posterior of tau (between-study SD)", fontsize=10, loc="left")
    ax.set_xlabel("tau (between-study SD of the log effect)")
    ax.set_yticks([])
    ax.legend(fontsize=9, frameon=False)
    return ax


@_plain_text
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


def _interval_rows(table: pd.DataFrame, data: Any, ax: Axes, colour: str = POOLED) -> None:
    """One estimate with its interval per row of a table (estimate, ci_low, ci_high), on the
    data's reporting scale."""
    to_ratio = data.to_natural
    positions = -np.arange(len(table))
    est = to_ratio(table["estimate"].to_numpy(dtype=float))
    low = to_ratio(table["ci_low"].to_numpy(dtype=float))
    high = to_ratio(table["ci_high"].to_numpy(dtype=float))
    ax.errorbar(
        est, positions, xerr=[est - low, high - est], fmt="o", color=colour, capsize=2, ms=4
    )
    ax.set_yticks(positions, [_short(str(s)) for s in table.index], fontsize=8)
    for y, e, lo, hi in zip(positions, est, low, high, strict=True):
        _column_text(ax, 1.02, float(y), f"{e:.2f} [{lo:.2f}, {hi:.2f}]")
    if data.measure_info.null is not None:
        ax.axvline(data.measure_info.null, color="grey", lw=0.8, ls="--")
    if data.is_ratio:
        _ratio_axis(ax)
    ax.set_xlabel(data.natural_label)
    ax.grid(axis="x", alpha=0.3)


@_plain_text
def leave_one_out_plot(
    table: pd.DataFrame, full: MetaResult, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """The pooled effect with each study left out (rows), against the full result (band)."""
    ax = _new_axes(ax, kwargs.pop("figsize", (9, 0.3 * len(table) + 1.6)))
    data = full.data
    _interval_rows(table, data, ax)
    pooled = full.pooled()
    e, lo, hi = full._natural([pooled.estimate, pooled.low, pooled.high])
    ax.axvspan(lo, hi, color=SHRUNK, alpha=0.12, label=f"all studies: {e:.2f} [{lo:.2f}, {hi:.2f}]")
    ax.axvline(e, color=SHRUNK, lw=1)
    ax.set_title(
        f"Pooled {data.natural_label} leaving out each study ({full.label})",
        fontsize=10,
        loc="left",
    )
    ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.04))
    return ax


@_plain_text
def cumulative_plot(
    table: pd.DataFrame, fit: MetaResult, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """Cumulative forest plot: the pooled effect after each study is added (top to bottom)."""
    ax = _new_axes(ax, kwargs.pop("figsize", (9, 0.3 * len(table) + 1.6)))
    _interval_rows(table, fit.data, ax)
    ax.set_title(
        f"Cumulative {fit.data.natural_label}: adding one study at a time ({fit.label})",
        fontsize=10,
        loc="left",
    )
    return ax


@_plain_text
def trajectory_plot(table: pd.DataFrame, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """P(effect < threshold) for the mean and a new study after each study is added."""
    columns = [c for c in table.columns if c.startswith("P(")]
    if not columns:
        raise InputError(
            "trajectory_plot needs probabilities: a cumulative table of a Bayesian fit"
        )
    ax = _new_axes(ax, kwargs.pop("figsize", (8, 3.8)))
    steps = np.arange(1, len(table) + 1)
    for i, column in enumerate(columns):
        style = "--" if column.startswith("P(new") else "-"
        ax.plot(steps, table[column], style, marker="o", ms=3, color=f"C{i // 2}", label=column)
    ax.axhline(0.95, color="grey", lw=0.8, ls=":")
    ax.set_ylim(0, 1)
    ax.set_xticks(
        steps, [_short(str(s), 18) for s in table.index], rotation=60, ha="right", fontsize=7
    )
    ax.set_ylabel("posterior probability")
    ax.set_title(
        "How the evidence accumulated: P(effect < threshold) after each study",
        fontsize=10,
        loc="left",
    )
    ax.legend(fontsize=7.5, frameon=False, ncol=2)
    return ax


@_plain_text
def baujat_plot(table: pd.DataFrame, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Baujat plot: contribution to heterogeneity (x) against influence on the result (y)."""
    ax = _new_axes(ax, kwargs.pop("figsize", (7, 5)))
    ax.scatter(table["x"], table["y"], s=18, color=SHRUNK)
    # neighbours in x get labels above and below in turn, so close points stay readable
    order = np.argsort(np.argsort(table["x"].to_numpy()))
    for rank, (name, row) in zip(order, table.iterrows(), strict=True):
        ax.annotate(
            _short(str(name), 24),
            (row["x"], row["y"]),
            fontsize=7,
            xytext=(3, 3 if rank % 2 == 0 else -9),
            textcoords="offset points",
        )
    ax.set_xlabel("contribution to the overall heterogeneity (squared Pearson residual)")
    ax.set_ylabel("influence on the pooled result")
    ax.set_title(
        "Baujat plot: studies far right or high drive heterogeneity or the result",
        fontsize=10,
        loc="left",
    )
    return ax


@_plain_text
def gosh_plot(
    result: Any, measure: str = "HR", is_ratio: bool = True, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """GOSH plot: the pooled estimate against I² over subsets of the studies."""
    ax = _new_axes(ax, kwargs.pop("figsize", (7, 5)))
    table = result.table
    x = np.exp(table["estimate"]) if is_ratio else table["estimate"]
    if len(table) > 2000:
        ax.hexbin(
            x,
            table["I2"],
            gridsize=50,
            bins="log",
            cmap="Blues",
            xscale="log" if is_ratio else "linear",
        )
    else:
        ax.scatter(x, table["I2"], s=4, alpha=0.4, color=SHRUNK)
    if is_ratio:
        _ratio_axis(ax)
    which = "every subset" if result.all_subsets else f"{len(table):,} random subsets"
    ax.set_xlabel(f"pooled {measure} ({result.method})")
    ax.set_ylabel("I² (%)")
    ax.set_title(f"GOSH: {which} of the studies", fontsize=10, loc="left")
    return ax


@_plain_text
def plot_nested(
    result: Any, ax: Axes | None = None, ci_level: float = 0.95, naive: bool = True
) -> Axes:
    """HR by number of metastatic organs (nested-subgroup model): per stratum the posterior
    median with its credible interval (thick) and the interval for a new cohort (thin), and —
    for comparison — the naive estimate of each population read as its largest stratum."""
    table = result.strata(ci_level)
    ax = _new_axes(ax, (6.4, 0.9 + 0.75 * len(table)))
    ys = np.arange(len(table))[::-1].astype(float)
    ax.hlines(ys, table["pi_low"], table["pi_high"], color=PREDICT, lw=1.2, label="new cohort")
    ax.hlines(
        ys, table["ci_low"], table["ci_high"], color=POOLED, lw=3.5, label=f"{ci_level:.0%} CrI"
    )
    ax.plot(table["HR"], ys, "o", color=POOLED, ms=6)
    if naive:
        rows = result.naive(ci_level)
        for population, row in rows.iterrows():
            mask = result.data.members[list(result.data.population).index(population)]
            y = ys[int(np.flatnonzero(mask)[-1])] - 0.25  # at the population's largest stratum
            ax.hlines(y, row["ci_low"], row["ci_high"], color=FREQ, lw=1.5)
            ax.plot(row["HR"], y, "s", color=FREQ, ms=4)
            ax.annotate(
                str(population),
                (row["ci_high"], y),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
                color=FREQ,
                parse_math=False,
            )
        ax.plot([], [], "s-", color=FREQ, ms=4, lw=1.5, label="naive: each population a subgroup")
    ax.axvline(1.0, color="#888888", lw=0.8, ls="--")
    ax.set_yticks(ys, [f"{s} organ{'s' if s != '1' else ''}" for s in table.index])
    ax.set_xlabel("hazard ratio (log scale)")
    ax.set_title("Treatment effect by number of metastatic organs", usetex=False)
    _ratio_axis(ax)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8, frameon=False)
    return ax


#: Significance contours of the contour-enhanced funnel plot (Peters et al., J Clin Epidemiol
#: 2008;61:991): two-sided p-value regions around the null, shaded from dark to light.
FUNNEL_CONTOURS = (0.10, 0.05, 0.01)


@_plain_text
def funnel_plot(
    y: np.ndarray,
    se: np.ndarray,
    centre: float,
    measure: str = "HR",
    is_ratio: bool = True,
    filled: pd.DataFrame | None = None,
    null: float = 0.0,
    contours: tuple[float, ...] = FUNNEL_CONTOURS,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Contour-enhanced funnel plot: each study's estimate (x) against its standard error (y,
    inverted), the pooled estimate with its 95% pseudo-confidence funnel, and shaded regions
    where a study would be significant at the ``contours`` levels (two-sided, around the null).
    ``filled`` studies (trim-and-fill: columns ``y``, ``se``) are drawn hollow.

    Studies missing where results are *not* significant suggest publication bias; missing where
    they are significant point to other causes of asymmetry (Peters et al. 2008).
    """
    from scipy import stats as st

    ax = _new_axes(ax, kwargs.pop("figsize", (6.4, 5.0)))
    y, se = np.asarray(y, dtype=float), np.asarray(se, dtype=float)
    all_se = (
        se if filled is None or filled.empty else np.concatenate([se, filled["se"].to_numpy(float)])
    )
    top = float(all_se.max()) * 1.08
    grid = np.linspace(0.0, top, 200)
    levels = sorted(contours, reverse=True)  # 0.10, 0.05, 0.01: widening z
    shades = ["#e3e3e3", "#c4c4c4", "#9e9e9e"][: len(levels)]
    zs = [float(st.norm.isf(level / 2)) for level in levels] + [np.inf]
    far = 40 * top
    for j, (level, shade) in enumerate(zip(levels, shades, strict=False)):
        inner, outer = zs[j], min(zs[j + 1], 1e6)
        for sign in (-1, 1):
            ax.fill_betweenx(
                grid,
                null + sign * inner * grid,
                null + sign * np.minimum(outer * grid, far),
                color=shade,
                lw=0,
                zorder=0,
            )
        ax.fill_between([], [], color=shade, label=f"p < {level:g} (two-sided)")
    z95 = float(st.norm.isf(0.025))
    ax.plot(centre - z95 * grid, grid, color="#555555", lw=0.8, ls="--")
    ax.plot(centre + z95 * grid, grid, color="#555555", lw=0.8, ls="--", label="95% pseudo-CI")
    ax.axvline(centre, color=POOLED, lw=1.2, label="pooled estimate")
    ax.scatter(y, se, s=22, color=OBSERVED, zorder=3, label="studies")
    if filled is not None and not filled.empty:
        ax.scatter(
            filled["y"],
            filled["se"],
            s=22,
            facecolors="white",
            edgecolors=OBSERVED,
            zorder=3,
            label="filled (trim-and-fill)",
        )
    spread = float(np.max(np.abs(np.concatenate([y, [centre]]) - centre))) + z95 * top * 0.3
    low, high = min(centre - spread, null - 0.1), max(centre + spread, null + 0.1)
    if filled is not None and not filled.empty:
        low = min(low, float(filled["y"].min()) - 0.05)
        high = max(high, float(filled["y"].max()) + 0.05)
    ax.set_xlim(low, high)
    ax.set_ylim(top, 0.0)
    if is_ratio:
        nice = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 20]
        ticks: list[float] = []
        for value in nice:  # in range, and never closer than a twelfth of the axis
            t = float(np.log(value))
            if low <= t <= high and (not ticks or t - ticks[-1] >= (high - low) / 12):
                ticks.append(t)
        ax.set_xticks(ticks, [f"{np.exp(t):g}" for t in ticks])
        ax.set_xlabel(f"{measure} (log scale)")
    else:
        ax.set_xlabel(measure)
    ax.set_ylabel("standard error")
    ax.set_title("Contour-enhanced funnel plot", fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    return ax
