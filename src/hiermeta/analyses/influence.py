"""Does one study drive the result? Leave-one-out, influence diagnostics, Baujat, GOSH and
cumulative (living) meta-analysis.

Leave-one-out and cumulative meta-analysis refit the *same* model (same engine, estimator,
interval method, priors) to subsets through the result contract's :meth:`refit`, so they work
for frequentist and exact Bayesian fits alike and each row is an independent fit of that
subset. The influence diagnostics, the Baujat coordinates and GOSH are metafor's
(``influence``, ``baujat``, ``gosh``; Viechtbauer & Cheung 2010, Baujat et al. 2002, Olkin et
al. 2012) and are defined for frequentist fits; the tests pin them to metafor 3.8.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from hiermeta.data.effects import EffectData
from hiermeta.errors import InputError, unknown_option
from hiermeta.results.contract import MetaResult

__all__ = [
    "Gosh",
    "baujat",
    "cumulative",
    "first_crossing",
    "gosh",
    "influence",
    "leave_one_out",
]


def _row(fit: MetaResult, thresholds: Sequence[float]) -> dict[str, Any]:
    """The numbers of one (sub)fit, from the contract."""
    pooled, het = fit.pooled(), fit.heterogeneity()
    row: dict[str, Any] = {
        "k": fit.k,
        "estimate": pooled.estimate,
        "se": pooled.se,
        "ci_low": pooled.low,
        "ci_high": pooled.high,
        "p_value": fit._p_value("mu"),
        "tau": het.tau.estimate,
        "tau2": het.tau2,
        "I2": het.i2,
        "H2": het.h2,
        "Q": het.q,
        "Q_p": het.q_p,
    }
    probs = fit.probabilities(tuple(thresholds))
    if probs is not None:
        mean, new = probs.index.get_loc("mu"), probs.index.get_loc("predictive")
        values = probs.to_numpy(dtype=float)
        for j, column in enumerate(probs.columns):
            row[column] = values[mean, j]
            row[column.replace("P(", "P(new ", 1)] = values[new, j]
    if fit.data.is_ratio:
        m = fit.data.measure
        row[m], row[f"{m} ci_low"], row[f"{m} ci_high"] = fit._natural(
            [pooled.estimate, pooled.low, pooled.high]
        )
    return row


def _check_refittable(fit: MetaResult, what: str) -> None:
    if not isinstance(fit, MetaResult):
        raise InputError(f"{what} needs a fitted result (hm.frequentist or hm.bayesian)")
    if fit.is_regression:
        raise InputError(f"{what} is defined for models without moderators (as metafor's)")
    if fit.monte_carlo:
        raise InputError(
            f"{what} refits the model once per subset: use the exact engine (milliseconds, no "
            "Monte-Carlo error) or, for a NUTS fit, hm.loo (PSIS-LOO with Pareto k per study)"
        )


def leave_one_out(fit: MetaResult, thresholds: Sequence[float] = (1.0, 0.8)) -> pd.DataFrame:
    """The pooled result without each study in turn (metafor's ``leave1out``).

    One row per omitted study: estimate, se, interval, p-value (frequentist), tau, tau², I²,
    H², Q and its p-value, and for Bayesian fits P(effect < threshold) for the mean and a new
    study; ratio-scale columns for ratio measures.
    """
    _check_refittable(fit, "leave-one-out")
    if fit.k < 2:
        raise InputError("leave-one-out needs at least 2 studies")
    rows = []
    for i, study in enumerate(fit.data.study):
        keep = np.ones(fit.k, dtype=bool)
        keep[i] = False
        rows.append({"omitted": study, **_row(fit.refit(fit.data.subset(keep)), thresholds)})
    return pd.DataFrame(rows).set_index("omitted")


def cumulative(
    fit: MetaResult,
    order: str | Sequence[int] | None = "year",
    thresholds: Sequence[float] = (1.0, 0.8),
) -> pd.DataFrame:
    """Cumulative meta-analysis (metafor's ``cumul``): the result after each study is added.

    ``order`` is a covariate to sort by (ties keep the data order; default ``"year"``), a
    sequence of study positions, or None for the data order. Row j is the fit of the first j
    studies.
    """
    _check_refittable(fit, "cumulative meta-analysis")
    positions = _order(fit.data, order)
    rows = []
    for j in range(1, fit.k + 1):
        sub = fit.refit(fit.data.take(positions[:j]))
        rows.append({"added": fit.data.study[positions[j - 1]], **_row(sub, thresholds)})
    return pd.DataFrame(rows).set_index("added")


def _order(data: EffectData, order: str | Sequence[int] | None) -> np.ndarray:
    if order is None:
        return np.arange(data.k)
    if isinstance(order, str):
        if order not in data.covariates.columns:
            raise unknown_option("ordering covariate", order, list(data.covariates.columns))
        return np.argsort(data.covariates[order].to_numpy(), kind="stable")
    positions = np.asarray(order, dtype=int)
    if sorted(positions.tolist()) != list(range(data.k)):
        raise InputError(f"order must list every study position 0..{data.k - 1} once")
    return positions


def first_crossing(table: pd.DataFrame, column: str, level: float = 0.95) -> str:
    """``"P(HR < 1) first exceeded 0.95 after Lane 2019"`` from a cumulative table."""
    if column not in table.columns:
        raise unknown_option(
            "probability column", column, [c for c in table.columns if c.startswith("P(")]
        )
    above = np.flatnonzero(table[column].to_numpy() > level)
    if not len(above):
        return f"{column} never exceeded {level:g} (last: {table[column].iloc[-1]:.3f})"
    values = table[column].to_numpy()
    j = int(above[0])
    text = (
        f"{column} first exceeded {level:g} after {table.index[j]} (study {j + 1} of {len(table)})"
    )
    below = np.flatnonzero(values <= level)
    if not len(below) or below[-1] < j:
        return text + " and stayed above"
    if below[-1] == len(values) - 1:
        return text + f"; it is below {level:g} again after the last study ({values[-1]:.3f})"
    since = int(below[-1]) + 1
    return (
        text
        + f"; it fell below again and has stayed above since {table.index[since]} (study {since + 1})"
    )


# ------------------------------------------------------------------ metafor's diagnostics
def _frequentist(fit: MetaResult, what: str) -> Any:
    if fit.family != "frequentist":
        raise InputError(
            f"{what} are metafor's diagnostics of a frequentist fit; for a Bayesian fit use "
            "hm.leave_one_out (exact engine) or hm.loo (Pareto k per study)"
        )
    return fit


def influence(fit: MetaResult) -> pd.DataFrame:
    """metafor's ``influence()``: externally standardised residuals, DFFITS, Cook's distance,
    covariance ratio, tau² and QE when each study is deleted, hat values, weights (%), DFBETAS
    and the "influential" flag (any of |DFFITS| > 3√(p/(k−p)), Cook's distance beyond the
    χ²(p) median, hat > 3p/k, |DFBETAS| > 1). Meta-regressions too.
    """
    f = _frequentist(fit, "influence diagnostics")
    k, p = f.k, f.p
    if k < 2:
        raise InputError("influence diagnostics need at least 2 studies")
    X, y, v = f.design.X, f.data.y, f.data.variance
    w = 1 / (v + f.tau2)
    s2w = f.s2w
    unscaled = f.cov / s2w
    hat = w * np.einsum("ij,jk,ik->i", X, unscaled, X)
    svb = np.linalg.inv(f.cov)
    columns: dict[str, list[float]] = {
        c: [] for c in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del")
    }
    dfbetas = np.full((k, p), np.nan)
    for i in range(k):
        keep = np.ones(k, dtype=bool)
        keep[i] = False
        sub = f.refit(f.data.subset(keep))
        beta_del, cov_del, tau2_del, s2w_del = sub.beta, sub.cov, sub.tau2, sub.s2w
        delpred = float(X[i] @ beta_del)
        vdelpred = float(X[i] @ cov_del @ X[i])
        dffits = (float(X[i] @ f.beta) - delpred) / math.sqrt(s2w_del * hat[i] * (tau2_del + v[i]))
        vb_del = np.linalg.inv((X.T / (v + tau2_del)) @ X)
        dfb = f.beta - beta_del
        dfbetas[i] = dfb / np.sqrt(s2w_del * np.diag(vb_del))
        resid = y[i] - delpred
        seresid = math.sqrt(v[i] * s2w_del + vdelpred + tau2_del * s2w_del)
        columns["rstudent"].append(resid / seresid)
        columns["dffits"].append(dffits)
        columns["cook_d"].append(float(dfb @ svb @ dfb))
        columns["cov_r"].append(float(np.linalg.det(cov_del) / np.linalg.det(f.cov)))
        columns["tau2_del"].append(tau2_del)
        columns["QE_del"].append(sub.q)
    table = pd.DataFrame(columns, index=pd.Index(f.data.study, name="study"))
    table["hat"] = hat
    table["weight"] = f.study_weights()  # metafor's weights(): pinned by the influence test
    for j, name in enumerate(f.design.names):
        table[f"dfbetas {'mu' if j == 0 else name}"] = dfbetas[:, j]
    table["influential"] = (
        (np.abs(table["dffits"]) > 3 * math.sqrt(p / (k - p)))
        | (stats.chi2.cdf(table["cook_d"], p) > 0.5)
        | (table["hat"] > 3 * p / k)
        | (np.abs(dfbetas) > 1).any(axis=1)
    )
    return table


def baujat(fit: MetaResult) -> pd.DataFrame:
    """Baujat et al. (2002), as metafor's ``baujat``: each study's contribution to the
    heterogeneity (x: squared Pearson residual) and its influence on the pooled result (y:
    squared change of the fitted value when it is left out, over that prediction's variance).
    """
    f = _frequentist(fit, "Baujat coordinates")
    X, y, v = f.design.X, f.data.y, f.data.variance
    full = X @ f.beta
    xs, ys = [], []
    for i in range(f.k):
        keep = np.ones(f.k, dtype=bool)
        keep[i] = False
        sub = f.refit(f.data.subset(keep))
        delpred = float(X[i] @ sub.beta)
        ys.append((delpred - full[i]) ** 2 / float(X[i] @ sub.cov @ X[i]))
        xs.append((y[i] - full[i]) ** 2 / (f.tau2 + v[i]))
    return pd.DataFrame({"x": xs, "y": ys}, index=pd.Index(f.data.study, name="study"))


class Gosh(NamedTuple):
    """GOSH: the model fitted to subsets of the studies (Olkin, Dahabreh & Trikalinos 2012).

    ``table`` has one row per subset: ``k``, ``estimate``, ``QE``, ``I2``, ``tau2`` and one
    boolean column per study (included or not); ``all_subsets`` says whether every non-empty
    subset was fitted or a random sample.
    """

    table: pd.DataFrame
    all_subsets: bool
    method: str


def gosh(
    fit: MetaResult,
    max_subsets: int = 20_000,
    random_seed: int | None = 0,
    progress: bool | Callable[[int, int], None] | None = None,
) -> Gosh:
    """Fit the same model (estimator) to every subset of the studies — all of them when there
    are at most ``max_subsets`` (k ≤ 14 at the default), else a random sample of that many
    distinct subsets of every size (seeded). ``progress=True`` shows a progress bar on stderr
    (default: when stderr is a terminal); a callable ``progress(done, total)`` is called
    instead.
    """
    if progress is None:
        progress = sys.stderr.isatty()
    if progress is True:
        progress = _progress_bar
    elif progress is False:
        progress = None
    from hiermeta.engines.frequentist.tau2 import estimate_tau2
    from hiermeta.results.heterogeneity import fixed_effect_q, gls, i2_h2

    f = _frequentist(fit, "GOSH")
    if f.is_regression:
        raise InputError("GOSH is defined for models without moderators (as metafor's)")
    k, y, v = f.k, f.data.y, f.data.variance
    total = 2**k - 1
    everything = total <= max_subsets
    masks: Any
    if everything:
        masks = (c for size in range(1, k + 1) for c in _combinations(k, size))
        n = total
    else:
        masks = _random_subsets(k, max_subsets, random_seed)
        n = max_subsets
    rows = []
    for done, mask in enumerate(masks, start=1):
        ys, vs = y[mask], v[mask]
        ones = np.ones((len(ys), 1))
        tau2 = 0.0 if (f.method == "FE" or len(ys) == 1) else estimate_tau2(f.method, ys, vs, ones)
        beta = gls(ys, vs, ones, tau2)[0]
        q = fixed_effect_q(ys, vs, ones)
        i2 = i2_h2(f.method, tau2, q.q, q.vt, q.df)[0]
        rows.append((len(ys), float(beta[0]), q.q, i2, tau2, mask))
        if progress is not None and (done % 500 == 0 or done == n):
            progress(done, n)
    table = pd.DataFrame(
        {
            "k": [r[0] for r in rows],
            "estimate": [r[1] for r in rows],
            "QE": [r[2] for r in rows],
            "I2": [r[3] for r in rows],
            "tau2": [r[4] for r in rows],
        }
    )
    included = pd.DataFrame(np.array([r[5] for r in rows]), columns=list(f.data.study))
    return Gosh(pd.concat([table, included], axis=1), everything, f.method)


def _progress_bar(done: int, total: int) -> None:
    """``GOSH [#########-----------]  450/1,023 subsets`` redrawn on one stderr line."""
    filled = int(30 * done / total)
    end = "\n" if done == total else ""
    sys.stderr.write(
        f"\rGOSH [{'#' * filled}{'-' * (30 - filled)}] {done:,}/{total:,} subsets{end}"
    )
    sys.stderr.flush()


def _combinations(k: int, size: int) -> Any:
    """Inclusion masks of every subset of ``size`` studies, in R's ``combn`` order."""
    for chosen in itertools.combinations(range(k), size):
        mask = np.zeros(k, dtype=bool)
        mask[list(chosen)] = True
        yield mask


def _random_subsets(k: int, n: int, random_seed: int | None) -> list[np.ndarray]:
    rng = np.random.default_rng(random_seed)
    seen: set[bytes] = set()
    out: list[np.ndarray] = []
    while len(out) < n:
        mask = rng.random(k) < 0.5
        key = mask.tobytes()
        if mask.any() and key not in seen:
            seen.add(key)
            out.append(mask)
    return out
