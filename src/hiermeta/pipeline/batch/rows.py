"""The results table of a batch: one row per task, its columns, and how each row is made.

Effects are given on the analysis scale (``mu``, log HR for ratio measures) and on the
reporting scale (``effect``, the HR): the posterior median and the equal-tailed credible
interval of the mean effect, the equal-tailed predictive interval of a new study's true
effect, the posterior median and interval of tau, and P(effect < t) for the mean and a new
study at each threshold t of the reporting scale. Diagnostics are empty for the exact engine
(it has no Monte-Carlo error; ``converged`` is true).

Frequentist rows (engines ``"REML"``, ``"DL"``…) hold the estimate and its confidence interval
in the same columns, the prediction interval of the kind named in ``pred_kind``, tau with its
Q-profile interval, and no probabilities.
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from hiermeta.pipeline.batch.tasks import Task
from hiermeta.results.contract import MetaResult

__all__ = [
    "COLUMNS",
    "RowSettings",
    "failed_row",
    "options_text",
    "probability_columns",
    "row_from_result",
]

#: Columns every row has, in order (probability columns follow ``p_mean_below_…``).
COLUMNS = (
    "task_id",
    "analysis",
    "engine",
    "tau_prior",
    "mu_prior",
    "moderators",
    "options",
    "measure",
    "k",
    "status",
    "error",
    "warnings",
    "ci_level",
    "mu",
    "mu_low",
    "mu_high",
    "effect",
    "effect_low",
    "effect_high",
    "pred_low",
    "pred_high",
    "pred_kind",
    "tau",
    "tau_low",
    "tau_high",
)
DIAGNOSTIC_COLUMNS = (
    "converged",
    "rhat_max",
    "ess_bulk_min",
    "ess_tail_min",
    "divergences",
    "attempts",
    "random_seed",
    "seconds",
    "worker",
    "posterior_file",
)


@dataclass(frozen=True)
class RowSettings:
    """What every row reports: the credible level and the probability thresholds."""

    ci_level: float = 0.95
    thresholds: tuple[float, ...] = (1.0, 0.8)
    batch_seed: int = 0
    #: Add the leave-one-out summary columns (LOO_COLUMNS) to every row.
    leave_one_out: bool = False
    #: Add the small-study-effect columns (SMALL_STUDY_COLUMNS) to every row.
    small_study: bool = False

    @property
    def probs(self) -> tuple[float, float, float]:
        """Quantile levels: lower bound, median, upper bound."""
        tail = (1 - self.ci_level) / 2
        return (tail, 0.5, 1 - tail)


def probability_columns(thresholds: Sequence[float]) -> list[str]:
    """Names of the probability columns, e.g. ``p_mean_below_1``, ``p_new_below_0.8``."""
    return [f"p_{who}_below_{t:g}" for who in ("mean", "new") for t in thresholds]


#: Leave-one-out summary columns (``leave_one_out=True``): the range of the pooled effect
#: (reporting scale) over the fits without each study, the study whose omission moves it
#: most, the smallest P(effect < first threshold) without one study (Bayesian), and the studies
#: metafor's influence() flags (frequentist).
LOO_COLUMNS = (
    "loo_effect_min",
    "loo_effect_max",
    "loo_most_influential",
    "loo_p_mean_below_min",
    "influential_studies",
)


#: Small-study-effect columns (``small_study=True``), on the data of each task (models without
#: moderators): Egger's and Begg's p-values, trim-and-fill's number of filled studies and
#: adjusted effect, the PET-PEESE effect (reporting scale), and from the exact Bayesian model
#: averaging the averaged effect (median), P(effect < first threshold), the posterior
#: probability of an effect and the inclusion Bayes factor of small-study effects.
SMALL_STUDY_COLUMNS = (
    "egger_p",
    "begg_p",
    "trimfill_k0",
    "trimfill_effect",
    "pet_peese_effect",
    "bma_effect",
    "bma_p_mean_below",
    "bma_p_effect",
    "bma_bf_bias",
)


def all_columns(
    thresholds: Sequence[float], leave_one_out: bool = False, small_study: bool = False
) -> list[str]:
    """Every column of the results table, in order."""
    return list(_columns(tuple(thresholds), leave_one_out, small_study))


@lru_cache(maxsize=64)
def _columns(
    thresholds: tuple[float, ...], leave_one_out: bool, small_study: bool = False
) -> tuple[str, ...]:
    extra = (LOO_COLUMNS if leave_one_out else ()) + (SMALL_STUDY_COLUMNS if small_study else ())
    return (*COLUMNS, *probability_columns(thresholds), *DIAGNOSTIC_COLUMNS, *extra)


def worker_name() -> str:
    """Where a task ran: host and process id."""
    return _worker_name(os.getpid())


@lru_cache(maxsize=8)
def _worker_name(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}"


def options_text(options: Any) -> str:
    """The ``options`` column: the engine options as sorted JSON, empty when there are none."""
    return json.dumps(dict(options), sort_keys=True) if options else ""


def base_row(task: Task, settings: RowSettings) -> dict[str, Any]:
    """The columns known before fitting (task identity, data size)."""
    row: dict[str, Any] = dict.fromkeys(
        _columns(tuple(settings.thresholds), settings.leave_one_out, settings.small_study)
    )
    bayes = task.bayesian
    row.update(
        task_id=task.task_id,
        analysis=task.analysis,
        engine=task.engine,
        tau_prior=task.tau_prior.name if bayes else "",
        mu_prior=task.mu_prior.name if bayes else "",
        moderators="+".join(task.moderators),
        options=options_text(task.options),
        measure=task.data.measure if task.data is not None else "",
        k=task.data.k if task.data is not None else 0,
        ci_level=settings.ci_level,
        random_seed=task.seed(settings.batch_seed),
        worker=worker_name(),
        warnings=" | ".join(task.data_warnings),
    )
    return row


def failed_row(
    task: Task, settings: RowSettings, reason: str, seconds: float = 0.0
) -> dict[str, Any]:
    """The row of a task that could not be fitted, with the reason."""
    row = base_row(task, settings)
    row.update(status="failed", error=reason, seconds=seconds, converged=False)
    return row


def effect_columns(
    row: dict[str, Any],
    measure_is_ratio: bool,
    mu_q: Sequence[float] | np.ndarray,
    new_q: Sequence[float] | np.ndarray,
    tau_q: Sequence[float] | np.ndarray,
    p_mean: Sequence[float] | np.ndarray,
    p_new: Sequence[float] | np.ndarray,
    thresholds: Sequence[float],
    pred_kind: str = "posterior predictive",
) -> None:
    """Fill the effect, interval, tau and probability columns of ``row``."""

    def natural(x: float) -> float:
        if not measure_is_ratio:
            return x
        return (
            math.exp(x) if x < 700 else math.inf
        )  # an absurdly wide interval is inf, not an error

    row.update(
        status="ok",
        mu=float(mu_q[1]),
        mu_low=float(mu_q[0]),
        mu_high=float(mu_q[2]),
        effect=natural(float(mu_q[1])),
        effect_low=natural(float(mu_q[0])),
        effect_high=natural(float(mu_q[2])),
        pred_low=natural(float(new_q[0])),
        pred_high=natural(float(new_q[2])),
        pred_kind=pred_kind,
        tau=float(tau_q[1]),
        tau_low=float(tau_q[0]),
        tau_high=float(tau_q[2]),
    )
    for t, p in zip(thresholds, p_mean, strict=True):
        row[f"p_mean_below_{t:g}"] = float(p)
    for t, p in zip(thresholds, p_new, strict=True):
        row[f"p_new_below_{t:g}"] = float(p)


def row_from_result(
    task: Task, result: MetaResult, settings: RowSettings, seconds: float
) -> dict[str, Any]:
    """The row of a fitted task, read from the result contract (any engine)."""
    row = base_row(task, settings)
    level = settings.ci_level
    mu = result.pooled(level)
    pred = result.prediction(level)
    tau = result.tau_estimate(level)
    nan = float("nan")
    probs = result.probabilities(settings.thresholds)
    nans = [nan] * len(settings.thresholds)
    effect_columns(
        row,
        result.data.is_ratio,
        (mu.low, mu.estimate, mu.high),
        (pred.low, pred.estimate, pred.high) if pred else (nan, nan, nan),
        (tau.low, tau.estimate, tau.high),
        nans if probs is None else probs.loc["mu"].to_numpy(),
        nans if probs is None else probs.loc["predictive"].to_numpy(),
        settings.thresholds,
        pred_kind=pred.kind if pred else "",
    )
    row.update(seconds=seconds, converged=not result.failed_diagnostics())
    if settings.leave_one_out:
        row.update(_loo_columns(result, settings))
    if settings.small_study:
        row.update(_small_study_columns(result, settings))
    table = result.diagnostics()
    if table is not None:
        values = table["value"]
        diag = values.index.get_level_values("diagnostic")
        row.update(
            rhat_max=float(values[diag == "rhat"].max()),
            ess_bulk_min=float(values[diag == "ess_bulk"].min()),
            ess_tail_min=float(values[diag == "ess_tail"].min()),
            divergences=int(values[diag == "divergences"].sum()),
            converged=bool(table["passed"].all()),
            attempts=result.attempts_made,
        )
    return row


def _loo_columns(result: MetaResult, settings: RowSettings) -> dict[str, Any]:
    """The leave-one-out summary of a fit (empty where it is not defined: moderators, NUTS)."""
    from hiermeta.analyses.influence import influence, leave_one_out

    if result.is_regression or result.monte_carlo or result.k < 3:
        return {}
    table = leave_one_out(result, settings.thresholds)
    effect = np.asarray(result._natural(table["estimate"].to_numpy(dtype=float)))
    moved = np.abs(table["estimate"].to_numpy(dtype=float) - result.pooled().estimate)
    out: dict[str, Any] = {
        "loo_effect_min": float(effect.min()),
        "loo_effect_max": float(effect.max()),
        "loo_most_influential": str(table.index[int(np.argmax(moved))]),
    }
    first = f"P({result.data.measure} < {settings.thresholds[0]:g})"
    if first in table.columns:
        out["loo_p_mean_below_min"] = float(table[first].min())
    if result.family == "frequentist":
        flags = influence(result)
        out["influential_studies"] = "; ".join(str(s) for s in flags.index[flags["influential"]])
    return out


def _small_study_columns(result: MetaResult, settings: RowSettings) -> dict[str, Any]:
    """The small-study summary of a task's data (empty with moderators or k < 3). A
    frequentist task uses its own fit; a Bayesian one REML and, for the model averaging, its
    priors when they allow Bayes factors (Normal mu, proper tau), else the measure's defaults."""
    from hiermeta.analyses.small_study import small_study_effects
    from hiermeta.engines.frequentist import FrequentistResult, frequentist
    from hiermeta.priors import Normal

    if result.is_regression or result.k < 3:
        return {}
    fit = result if isinstance(result, FrequentistResult) else frequentist(result.data, "REML")
    mu = getattr(result, "mu_prior", None)
    tau = getattr(result, "tau_prior", None)
    small = small_study_effects(
        fit,
        selection_type=None,
        mu_prior=mu if isinstance(mu, Normal) else None,
        tau_prior=tau if tau is not None and tau.proper else None,
    )
    natural = result._natural
    out: dict[str, Any] = {}
    if small.regression is not None:
        out["egger_p"] = small.regression.p_value
    if small.rank is not None:
        out["begg_p"] = small.rank.p_value
    if small.trimfill is not None:
        out["trimfill_k0"] = small.trimfill.k0
        out["trimfill_effect"] = float(natural([small.trimfill.fit.estimate])[0])
    if small.pet_peese is not None:
        out["pet_peese_effect"] = float(natural([small.pet_peese.estimate])[0])
    if small.averaging is not None:
        avg = small.averaging
        out["bma_effect"] = float(natural([avg.quantile(0.5)])[0])
        first = settings.thresholds[0]
        out["bma_p_mean_below"] = avg.prob(math.log(first) if result.data.is_ratio else first)
        incl = avg.inclusion()
        out["bma_p_effect"] = float(incl.loc["effect", "posterior"])
        out["bma_bf_bias"] = float(incl.loc["bias", "BF_inclusion"])
    return out


def clean(value: Any) -> Any:
    """JSON-friendly value: NaN and infinities become None, numpy scalars Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
