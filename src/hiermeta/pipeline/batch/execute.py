"""Running a unit of tasks: what one worker does (in this process or on a Dask worker).

Exact-engine random-effects tasks are summarised together by the vectorised engine
(:mod:`hiermeta.engines.exact.vectorised`); every other task is fitted on its own with
:func:`hiermeta.engines.api` — NUTS tasks of one model structure reuse the model compiled by the
first (the cache lives in the worker process). A task that fails is recorded with its reason;
it never stops the others.
"""

from __future__ import annotations

import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from hiermeta.engines.api import bayesian
from hiermeta.engines.exact.vectorised import summarise_many, vectorisable
from hiermeta.engines.registry import get_engine
from hiermeta.pipeline.batch.rows import (
    RowSettings,
    base_row,
    effect_columns,
    failed_row,
    row_from_result,
)
from hiermeta.pipeline.batch.tasks import Task

__all__ = ["Outcome", "run_unit", "vectorised"]

#: Analyses summarised in one vectorised pass (bounds the memory: ~N × 321 × k doubles).
VECTOR_CHUNK = 256
#: Threads for the vectorised chunks of one unit (each holds a chunk's arrays in memory).
MAX_THREADS = 4


@dataclass
class Outcome:
    """A finished task: its row, and its posterior (an ArviZ DataTree) when asked for."""

    row: dict[str, Any]
    posterior: Any = None


def vectorised(task: Task, posteriors: bool) -> bool:
    """True when the task goes through the vectorised exact engine."""
    return (
        get_engine(task.engine).vectorised
        and task.data is not None
        and not task.moderators
        and not posteriors
        and vectorisable(task.mu_prior, task.tau_prior)
    )


def run_unit(
    tasks: list[Task], settings: RowSettings, posteriors: bool = False, threads: int | None = None
) -> list[Outcome]:
    """Run tasks; one outcome per task, in the order given.

    The vectorised chunks run on ``threads`` threads (default: one per available core, at most
    :data:`MAX_THREADS`); numpy releases the GIL in their array work, so two cores give ~1.6×.
    The results do not depend on the number of threads.
    """
    outcomes: dict[str, Outcome] = {}
    # leave-one-out needs each analysis's own fit: the per-analysis path
    per_analysis = posteriors or settings.leave_one_out or settings.small_study
    fast = sorted((t for t in tasks if vectorised(t, per_analysis)), key=lambda t: t.data.k)  # type: ignore[union-attr]
    chunks = [fast[start : start + VECTOR_CHUNK] for start in range(0, len(fast), VECTOR_CHUNK)]
    workers = min(threads or available_cores(), MAX_THREADS, len(chunks))
    if workers > 1:
        pool = ThreadPoolExecutor(workers, thread_name_prefix="hiermeta-exact")
        try:
            finished = list(pool.map(lambda chunk: _run_chunk(chunk, settings), chunks))
        finally:  # Ctrl-C: the queued chunks are dropped, the running ones finish (< 1 s)
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        finished = [_run_chunk(chunk, settings) for chunk in chunks]
    for done in finished:
        for outcome in done:
            outcomes[outcome.row["task_id"]] = outcome
    for task in tasks:
        if task.task_id not in outcomes:
            outcomes[task.task_id] = _run_one(task, settings, posteriors)
    return [outcomes[t.task_id] for t in tasks]


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _run_chunk(chunk: list[Task], settings: RowSettings) -> list[Outcome]:
    """One vectorised pass; nothing when it fails (e.g. out of memory): its tasks are then run
    one by one in the calling thread, whose rows say why they fail."""
    try:
        return _run_vectorised(chunk, settings)
    except Exception:
        return []


def _run_vectorised(tasks: list[Task], settings: RowSettings) -> list[Outcome]:
    start = time.perf_counter()
    datas = [t.data for t in tasks]
    by_measure: dict[str, np.ndarray] = {}
    for d in datas:
        if d.measure not in by_measure:  # type: ignore[union-attr]
            by_measure[d.measure] = np.asarray(d.from_natural(settings.thresholds), dtype=float)  # type: ignore[union-attr]
    thresholds = np.array([by_measure[d.measure] for d in datas])  # type: ignore[union-attr]
    summary = summarise_many(
        [d.y for d in datas],  # type: ignore[union-attr]
        [d.se for d in datas],  # type: ignore[union-attr]
        [t.mu_prior for t in tasks],
        [t.tau_prior for t in tasks],
        settings.probs,
        thresholds,
    )
    seconds = (time.perf_counter() - start) / max(len(tasks), 1)
    out = []
    for i, task in enumerate(tasks):
        if summary.error[i]:
            out.append(
                Outcome(failed_row(task, settings, f"InputError: {summary.error[i]}", seconds))
            )
            continue
        row = base_row(task, settings)
        effect_columns(
            row,
            datas[i].is_ratio,  # type: ignore[union-attr]
            summary.mu_q[i],
            summary.new_q[i],
            summary.tau_q[i],
            summary.p_mu[i],
            summary.p_new[i],
            settings.thresholds,
        )
        row.update(seconds=seconds, converged=True)
        out.append(Outcome(row))
    return out


def _run_one(task: Task, settings: RowSettings, posteriors: bool) -> Outcome:
    if task.data is None:
        return Outcome(failed_row(task, settings, task.data_error or "no data"))
    start = time.perf_counter()
    result: Any = None
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        try:
            result = _fit(task, settings)
            row = row_from_result(task, result, settings, time.perf_counter() - start)
        except Exception as err:  # one task's failure is recorded, never stops the batch
            reason = f"{type(err).__name__}: {err}"
            row = failed_row(task, settings, reason, time.perf_counter() - start)
            result = None
    caught = [f"{r.category.__name__}: {r.message}" for r in records]
    if caught:
        row["warnings"] = " | ".join([*task.data_warnings, *dict.fromkeys(caught)])
    posterior = result.idata if (posteriors and result is not None) else None
    return Outcome(row, posterior)


def _fit(task: Task, settings: RowSettings) -> Any:
    """Fit one task with its engine from the registry."""
    options: dict[str, Any] = dict(task.options)
    engine = get_engine(task.engine)
    if "progressbar" in engine.options:
        options.setdefault("progressbar", False)
    common: dict[str, Any] = {"moderators": list(task.moderators) or None}
    if engine.bayesian:
        common.update(
            mu_prior=task.mu_prior,
            tau_prior=task.tau_prior,
            random_seed=task.seed(settings.batch_seed),
        )
        return bayesian(task.data, engine=task.engine, **common, **options)  # type: ignore[arg-type]
    return engine.fit(task.data, ci_level=settings.ci_level, **common, **options)
