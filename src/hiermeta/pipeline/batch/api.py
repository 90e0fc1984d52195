"""``hm.batch``: many meta-analyses at once, in this process or on a Dask cluster."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import pandas as pd

from hiermeta.data.effects import EffectData
from hiermeta.engines.registry import get_engine
from hiermeta.errors import HiermetaWarning, InputError, check_thresholds, printable
from hiermeta.pipeline.batch.execute import vectorised
from hiermeta.pipeline.batch.progress import ProgressLine
from hiermeta.pipeline.batch.rows import RowSettings, all_columns
from hiermeta.pipeline.batch.schedulers import connect, run_units
from hiermeta.pipeline.batch.store import BatchStore
from hiermeta.pipeline.batch.tasks import Task, check_unique, make_tasks, read_tasks
from hiermeta.priors import MuPrior, TauPrior

__all__ = ["BatchResult", "BatchWarning", "batch"]

#: Exact tasks per unit of work in this process (one vectorised pass each, then one write).
EXACT_UNIT = 2000
#: Per-analysis exact tasks (meta-regression, posteriors kept…) and frequentist tasks per unit.
SLOW_EXACT_UNIT = 50

Progress = Callable[[dict[str, Any], int, int], None]


class BatchWarning(HiermetaWarning):
    """Some tasks of a batch failed, raised warnings, or did not converge (see the table)."""


@dataclass
class BatchResult:
    """What :func:`batch` returns.

    Attributes
    ----------
    table
        One row per task, in task order (see :mod:`hiermeta.pipeline.batch.rows` for the columns).
    folder
        The output folder, when one was given.
    ran, resumed
        Tasks run now, and tasks whose rows were already in the folder.
    seconds
        Wall time of this run.
    posteriors
        Task id → ArviZ DataTree, when posteriors were asked for without an output folder.
    """

    table: pd.DataFrame
    folder: Path | None
    ran: int
    resumed: int
    seconds: float
    posteriors: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> pd.DataFrame:
        """Rows of the tasks that failed, with the reason."""
        return self.table[self.table["status"] == "failed"]

    def posterior(self, task_id: str) -> Any:
        """The posterior (ArviZ DataTree) of a task, when posteriors were kept."""
        if task_id in self.posteriors:
            return self.posteriors[task_id]
        rows = self.table[self.table["task_id"] == task_id]
        if rows.empty:
            raise InputError(f"no task {task_id!r} in this batch")
        file = rows["posterior_file"].iloc[0]
        if self.folder is None or not isinstance(file, str):
            raise InputError(
                f"task {task_id!r} has no stored posterior (run the batch with posteriors=True)"
            )
        from xarray import open_datatree

        return open_datatree(self.folder / file, engine="h5netcdf").load()

    def __repr__(self) -> str:
        failed = int((self.table["status"] == "failed").sum())
        where = f", folder={str(self.folder)!r}" if self.folder else ""
        return (
            f"BatchResult({len(self.table)} tasks: {self.ran} run now, {self.resumed} resumed, "
            f"{failed} failed, {self.seconds:.1f} s{where})"
        )


def batch(
    tasks: Any,
    *,
    engine: str | Sequence[str] = "exact",
    tau_prior: TauPrior | str | Sequence[TauPrior | str] | None = None,
    mu_prior: MuPrior | str | Sequence[MuPrior | str] | None = None,
    moderators: Sequence[str] | str | None = None,
    nuts: Mapping[str, Any] | None = None,
    frequentist: Mapping[str, Any] | None = None,
    analysis: str = "analysis",
    columns: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    scheduler: Any = None,
    n_workers: int | None = None,
    posteriors: bool = False,
    ci_level: float = 0.95,
    thresholds: Sequence[float] = (1.0, 0.8),
    random_seed: int = 0,
    progress: bool | Progress | None = None,
    leave_one_out: bool = False,
    small_study: bool = False,
) -> BatchResult:
    """Fit many meta-analyses and return one tidy table (one row per task).

    Parameters
    ----------
    tasks
        What to analyse: a long DataFrame (one row per study, an analysis-id column), the path
        of such a CSV file, a folder of CSV files (one analysis each), a dict of name →
        :class:`EffectData`, a list of :class:`EffectData`, or a list of :class:`Task`
        (complete tasks; ``engine``, priors, ``moderators`` and options must then not be given).
    engine, tau_prior, mu_prior
        One value or a list each; every combination with every dataset is a task. Priors may
        be given as text, e.g. ``"HalfNormal(0.5)"``. Engines: ``"exact"``, ``"nuts"``, and the
        frequentist methods (``"REML"``, ``"DL"``…: one prior-free task per dataset, for the
        comparison a reviewer asks for).
    moderators
        Meta-regression terms (the row describes the intercept, i.e. the reference level).
    nuts, frequentist
        Options of the NUTS tasks (``draws``, ``tune``, ``chains``, ``sampler``…) and of the
        frequentist ones (``ci``: ``"wald"`` or ``"knapp-hartung"``; ``pi_kind``: ``"z"``,
        ``"t-k-1"`` or ``"t-k-2"``).
    analysis, columns
        For tables: the analysis-id column, and the converter's column options (``estimate``,
        ``lower``, ``upper``, ``ci_level`` or ``y``, ``se``; ``study``, ``measure``,
        ``covariates``). Common column names are found without being named.
    out
        Output folder: rows are written as tasks finish, and running again with the same
        folder resumes, skipping finished tasks (:mod:`hiermeta.pipeline.batch.store`).
    scheduler, n_workers
        ``None`` (this process), ``"processes"`` (a local Dask cluster of ``n_workers``
        processes, default one per core), the address of a ``dask.distributed`` scheduler, or
        a ``distributed.Client`` (:mod:`hiermeta.pipeline.batch.schedulers`).
    posteriors
        Keep each task's posterior (ArviZ DataTree): in ``out/posteriors/`` or in memory.
    ci_level, thresholds
        Credible level of every interval; thresholds t (reporting scale, e.g. HR) of the
        P(effect < t) columns, for the mean and for a new study.
    leave_one_out
        Add leave-one-out summary columns to each row (``loo_effect_min``/``max``,
        ``loo_most_influential``, ``loo_p_mean_below_min``, ``influential_studies``): which
        published meta-analyses hang on one study. Models without moderators, exact and
        frequentist engines (empty for the others).
    small_study
        Add small-study-effect columns to each row (``egger_p``, ``begg_p``, ``trimfill_k0``,
        ``trimfill_effect``, ``pet_peese_effect`` and, from exact Bayesian model averaging,
        ``bma_effect``, ``bma_p_mean_below`` (first threshold), ``bma_p_effect``,
        ``bma_bf_bias``): re-analyses of many published meta-analyses. Models without
        moderators, k ≥ 3.
    random_seed
        Batch seed: a task without its own seed gets one derived from this and its id.
    progress
        ``True`` for a progress line on stderr (default when stderr is a terminal), ``False``
        for none, or a callable ``progress(row, done, total)`` called as each task finishes.

    Returns
    -------
    BatchResult
        ``.table`` (DataFrame), ``.failures``, ``.posterior(task_id)``.

    Warns
    -----
    BatchWarning
        When tasks failed, raised warnings or did not converge — counted, with where to look.
    """
    start = time.perf_counter()
    if not (isinstance(random_seed, int) and random_seed >= 0):
        raise InputError(f"random_seed must be a whole number >= 0; got {random_seed!r}")
    if n_workers is not None and not (isinstance(n_workers, int) and n_workers >= 1):
        raise InputError(f"n_workers must be a positive whole number; got {n_workers!r}")
    settings = RowSettings(
        ci_level=_level(ci_level),
        thresholds=_thresholds(thresholds),
        batch_seed=random_seed,
        leave_one_out=bool(leave_one_out),
        small_study=bool(small_study),
    )
    task_list = _tasks(
        tasks, engine, tau_prior, mu_prior, moderators, (nuts, frequentist), analysis, columns
    )
    if min(settings.thresholds) <= 0 and any(
        t.data is not None and t.data.is_ratio for t in task_list
    ):
        raise InputError(
            f"thresholds are on the reporting scale (e.g. HR) and must be positive for ratio "
            f"measures; got {list(settings.thresholds)}"
        )
    # what makes each result, for resuming a folder (not needed without one)
    fingerprints = (
        {t.task_id: t.fingerprint(settings.batch_seed) for t in task_list}
        if out is not None
        else {}
    )
    store_settings = {
        "ci_level": settings.ci_level,
        "thresholds": list(settings.thresholds),
        "random_seed": settings.batch_seed,
        "posteriors": bool(posteriors),
        **({"leave_one_out": True} if leave_one_out else {}),  # older folders stay resumable
        **({"small_study": True} if small_study else {}),
    }
    kept: dict[str, Any] = {}
    # connect first: an unreachable scheduler is reported before anything is written
    with (
        connect(scheduler, n_workers) as client,
        _maybe_store(out, store_settings, fingerprints) as store,
    ):
        done = store.done if store else set()
        pending = [t for t in task_list if t.task_id not in done]
        rows: dict[str, dict[str, Any]] = dict(store.rows) if store else {}
        report = _progress(progress, len(task_list), len(task_list) - len(pending))
        units = _units(
            pending, posteriors or leave_one_out or small_study, scheduler is not None, n_workers
        )
        try:
            for outcomes in run_units(units, settings, posteriors, client):
                recorded = store.append(outcomes) if store else [o.row for o in outcomes]
                for outcome in outcomes:
                    if not store and outcome.posterior is not None:
                        kept[outcome.row["task_id"]] = outcome.posterior
                for row in recorded:
                    rows[row["task_id"]] = row
                    if report:
                        report(row, len(rows), len(task_list))
        finally:
            if isinstance(report, ProgressLine):
                report.close()
        table = _table(task_list, rows, settings)
        if store:
            store.write_results(table)
    result = BatchResult(
        table=table,
        folder=Path(out) if out is not None else None,
        ran=len(pending),
        resumed=len(task_list) - len(pending),
        seconds=time.perf_counter() - start,
        posteriors=kept,
    )
    _warn(table)
    return result


def _level(ci_level: float) -> float:
    if not (isinstance(ci_level, int | float) and 0 < ci_level < 1):
        raise InputError(f"ci_level must lie strictly between 0 and 1; got {ci_level!r}")
    return float(ci_level)


def _thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    items: list[Any]
    try:
        items = [thresholds] if isinstance(thresholds, Real | str) else list(thresholds)
    except TypeError:
        items = [thresholds]
    if not items or not all(
        isinstance(t, Real) and not isinstance(t, bool) and math.isfinite(t) for t in items
    ):
        raise InputError(f"thresholds must be finite numbers, e.g. (1.0, 0.8); got {thresholds!r}")
    return check_thresholds(items)


def _tasks(
    tasks: Any,
    engine: str | Sequence[str],
    tau_prior: Any,
    mu_prior: Any,
    moderators: Any,
    options: tuple[Any, Any],
    analysis: str,
    columns: Mapping[str, Any] | None,
) -> list[Task]:
    if isinstance(tasks, list | tuple) and tasks and all(isinstance(t, Task) for t in tasks):
        given = tau_prior is not None or mu_prior is not None or moderators or any(options)
        if given or engine != "exact":
            raise InputError(
                "the tasks are complete Task objects: set engine, priors, moderators and nuts "
                "options in each Task, not in batch()"
            )
        check_unique(tasks)
        return list(tasks)
    found: dict[str, list[str]] = {}
    if isinstance(tasks, EffectData):
        datasets: Any = {"analysis": tasks}
    elif isinstance(tasks, Mapping) or (
        isinstance(tasks, list | tuple) and tasks and all(isinstance(t, EffectData) for t in tasks)
    ):
        datasets = tasks
    elif isinstance(tasks, pd.DataFrame | str | Path):
        datasets, found = read_tasks(tasks, analysis, **dict(columns or {}))
    else:
        raise InputError(
            "tasks must be a DataFrame, a CSV file or folder, a dict or list of EffectData, or a "
            f"list of Task; got {type(tasks).__name__}" + (" (empty)" if not tasks else "")
        )
    if columns and not isinstance(tasks, pd.DataFrame | str | Path):
        raise InputError("columns= applies to tables (DataFrame, CSV file or folder) only")
    return make_tasks(datasets, engine, tau_prior, mu_prior, moderators, *options, found)


class _NoStore:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _maybe_store(
    out: str | Path | None, settings: dict[str, Any], fingerprints: dict[str, str]
) -> Any:
    return BatchStore(out, settings, fingerprints) if out is not None else _NoStore()


def _progress(progress: bool | Progress | None, total: int, resumed: int) -> Progress | None:
    if callable(progress):
        return progress
    if progress is None:
        import sys

        progress = sys.stderr.isatty()
    return ProgressLine(total, resumed) if progress else None


def _units(
    tasks: list[Task], posteriors: bool, distributed: bool, n_workers: int | None
) -> list[list[Task]]:
    """Group tasks into units of work: vectorised exact chunks, small per-analysis groups,
    and one NUTS task per unit (so that a cluster spreads them over its workers)."""
    fast = [t for t in tasks if vectorised(t, posteriors)]
    fast_ids = {t.task_id for t in fast}
    sampled = [t for t in tasks if get_engine(t.engine).monte_carlo]
    slow_exact = [t for t in tasks if t.bayesian and t.task_id not in fast_ids and t not in sampled]
    freq = [t for t in tasks if not t.bayesian]
    size = EXACT_UNIT
    if distributed and fast:  # several units per worker so that the cluster stays busy
        workers = n_workers or 2
        size = max(100, min(EXACT_UNIT, math.ceil(len(fast) / (4 * workers))))
    units = [fast[i : i + size] for i in range(0, len(fast), size)]
    units += [
        slow_exact[i : i + SLOW_EXACT_UNIT] for i in range(0, len(slow_exact), SLOW_EXACT_UNIT)
    ]
    # sampled (NUTS) tasks one per unit (so that a cluster spreads them), frequentist ones in groups
    units += [[t] for t in sampled]
    units += [freq[i : i + SLOW_EXACT_UNIT] for i in range(0, len(freq), SLOW_EXACT_UNIT)]
    return units


def _table(
    tasks: list[Task], rows: dict[str, dict[str, Any]], settings: RowSettings
) -> pd.DataFrame:
    columns = all_columns(settings.thresholds, settings.leave_one_out, settings.small_study)
    records = [rows[t.task_id] for t in tasks if t.task_id in rows]
    table = pd.DataFrame.from_records(records, columns=columns)
    return table


def _warn(table: pd.DataFrame) -> None:
    failed = int((table["status"] == "failed").sum())
    warned = int(table["warnings"].fillna("").astype(bool).sum())
    done = table[table["status"] == "ok"]
    unconverged = int((done["converged"] == False).sum())  # noqa: E712
    parts = []
    if failed:
        first = table.loc[table["status"] == "failed"].iloc[0]
        parts.append(
            f"{failed} of {len(table)} tasks failed (first: {first.task_id}: {first.error})"
        )
    if unconverged:
        parts.append(
            f"{unconverged} sampled tasks did not pass their diagnostics ('converged' column)"
        )
    if warned:
        parts.append(f"{warned} tasks raised warnings ('warnings' column)")
    if parts:
        warnings.warn(printable("; ".join(parts)), BatchWarning, stacklevel=3)
