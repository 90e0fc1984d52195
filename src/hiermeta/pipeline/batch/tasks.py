"""Batch tasks: one (data, model, prior, engine) combination each, and where they come from.

A :class:`Task` is a small immutable value. It carries its data already converted (or the
reason the data could not be converted: that task then fails with the reason, the others run),
and a fingerprint of everything that determines its result, so that a resumed batch can tell
a finished task from a changed one.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hiermeta.data.convert import convert
from hiermeta.data.effects import EffectData
from hiermeta.engines.frequentist.model import CI_METHODS
from hiermeta.engines.registry import ENGINES, get_engine
from hiermeta.errors import InputError, unknown_option
from hiermeta.priors import DEFAULT_MU, DEFAULT_TAU, MuPrior, TauPrior, from_spec
from hiermeta.priors.defaults import default_priors
from hiermeta.results.intervals import PI_KINDS

__all__ = [
    "BATCH_ENGINES",
    "Task",
    "make_tasks",
    "read_tasks",
    "tasks_from_folder",
    "tasks_from_frame",
]

#: Engines of a batch task: every engine of the registry (Bayesian, and the frequentist tau²
#: methods for comparisons).
BATCH_ENGINES = tuple(ENGINES)

#: Column names recognised without being named: (y, se) on the analysis scale, or a ratio
#: estimate with its CI bounds.
LOG_SE_COLUMNS = (("y", "se"), ("yi", "sei"), ("log_hr", "se"))
RATIO_CI_COLUMNS = (
    ("hr", "lower", "upper"),
    ("estimate", "lower", "upper"),
    ("hr", "ci_low", "ci_high"),
)


@dataclass(frozen=True)
class Task:
    """One analysis of a batch.

    Parameters
    ----------
    task_id
        Unique name of the task (a row of the results table).
    data
        The studies; ``None`` when they could not be converted (see ``data_error``).
    engine
        ``"exact"`` or ``"nuts"`` (Bayesian), or a frequentist method of
        :func:`hiermeta.engines.frequentist` (``"REML"``, ``"DL"``, ``"PM"``…).
    tau_prior, mu_prior
        Priors (defaults HalfNormal(0.5) and Normal(0, 1)).
    moderators
        Meta-regression terms (the row then describes the intercept: the reference level).
    options
        Options of the engine: NUTS (``draws``, ``tune``, ``chains``, ``sampler``…) or
        frequentist (``ci``: ``"wald"`` or ``"knapp-hartung"``; ``pi_kind``: ``"z"``,
        ``"t-k-1"`` or ``"t-k-2"``). The exact engine takes none.
    random_seed
        Seed of the task's random draws; ``None`` derives one from the batch seed and the task id,
        so that the result does not depend on the order or the machine the task runs on.
    analysis
        Name of the dataset the task analyses (several tasks may share it).
    data_error
        Why the data could not be converted (the task is then recorded as failed).
    data_warnings
        Warnings raised while converting the data (kept in the task's row).
    """

    task_id: str
    data: EffectData | None
    engine: str = "exact"
    tau_prior: TauPrior = DEFAULT_TAU
    mu_prior: MuPrior = DEFAULT_MU
    moderators: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] | Mapping[str, Any] = ()
    random_seed: int | None = None
    analysis: str = ""
    data_error: str | None = None
    data_warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str) or not self.task_id:
            raise InputError(f"task_id must be a non-empty string; got {self.task_id!r}")
        if self.engine not in BATCH_ENGINES:
            raise unknown_option(f"engine of task {self.task_id!r}", self.engine, BATCH_ENGINES)
        if not isinstance(self.tau_prior, TauPrior):
            raise InputError(
                f"task {self.task_id!r}: tau_prior must be a tau prior from hiermeta.priors; "
                f"got {self.tau_prior!r}"
            )
        if not isinstance(self.mu_prior, MuPrior):
            raise InputError(
                f"task {self.task_id!r}: mu_prior must be a prior from hiermeta.priors; "
                f"got {self.mu_prior!r}"
            )
        if self.data is None and self.data_error is None:
            raise InputError(f"task {self.task_id!r} has no data")
        if self.data is not None and not isinstance(self.data, EffectData):
            raise InputError(
                f"task {self.task_id!r}: data must be an EffectData (from hm.from_ratio_ci etc.), "
                f"not {type(self.data).__name__}"
            )
        if self.random_seed is not None and not (
            isinstance(self.random_seed, int | np.integer) and self.random_seed >= 0
        ):
            raise InputError(
                f"task {self.task_id!r}: random_seed must be a whole number >= 0; got {self.random_seed!r}"
            )
        object.__setattr__(
            self, "options", _checked_options(self.task_id, self.engine, self.options)
        )
        object.__setattr__(self, "moderators", tuple(self.moderators))
        if not self.analysis:
            object.__setattr__(self, "analysis", self.task_id)

    def seed(self, batch_seed: int) -> int:
        """The task's seed: its own, or one derived from the batch seed and the task id."""
        if self.random_seed is not None:
            return int(self.random_seed)
        return _derived_seed(batch_seed, self.task_id)

    @property
    def bayesian(self) -> bool:
        """True for the Bayesian engines (the frequentist ones take no priors)."""
        return get_engine(self.engine).bayesian

    def fingerprint(self, batch_seed: int) -> str:
        """Hash of everything that determines the task's result (data, model, priors, seed)."""
        h = hashlib.sha256()
        parts = [
            self.task_id,
            self.engine,
            _prior_key(self.tau_prior) if self.bayesian else "",
            _prior_key(self.mu_prior) if self.bayesian else "",
            repr(self.moderators),
            repr(self.options),
            str(self.seed(batch_seed)),
            self.data_error or "",
        ]
        h.update("\x1f".join(parts).encode())
        if self.data is not None:
            d = self.data
            h.update(d.measure.encode())
            h.update("\x1f".join(d.study).encode())
            h.update(np.ascontiguousarray(d.y).tobytes())
            h.update(np.ascontiguousarray(d.se).tobytes())
            if self.moderators:
                h.update(d.covariates.to_csv(index=False).encode())
            if d.cluster is not None:
                h.update("\x1f".join(d.cluster).encode())
        return h.hexdigest()


@lru_cache(maxsize=65536)
def _derived_seed(batch_seed: int, task_id: str) -> int:
    """A task's seed from the batch seed and its id (cached: asked for by the fingerprint and
    the fit, and a SeedSequence costs ~50 µs)."""
    digest = hashlib.sha256(task_id.encode()).digest()[:16]  # 128 bits: no collisions
    sequence = np.random.SeedSequence([batch_seed, int.from_bytes(digest, "little")])
    return int(sequence.generate_state(1)[0])


#: Values allowed for the frequentist engines' options (checked when a task is made).
FREQUENTIST_OPTIONS = {"ci": CI_METHODS, "pi_kind": PI_KINDS}


def _checked_options(task_id: str, engine: str, options: Any) -> tuple[tuple[str, Any], ...]:
    """Options as sorted (name, plain value) pairs, checked against what the engine takes."""
    items = dict(options.items() if isinstance(options, Mapping) else options)
    chosen = get_engine(engine)
    valid = tuple(o for o in chosen.options if o != "ci_level")  # the batch sets the level
    if items and not valid:
        raise InputError(f"task {task_id!r}: the {engine} engine takes no options; got {items}")
    out = {}
    for key, value in items.items():
        if key not in valid:
            raise unknown_option(f"option of the {engine} engine (task {task_id!r})", key, valid)
        if key in FREQUENTIST_OPTIONS and value not in FREQUENTIST_OPTIONS[key]:
            raise unknown_option(f"{key} (task {task_id!r})", value, FREQUENTIST_OPTIONS[key])
        value = value.item() if isinstance(value, np.generic) else value
        if not isinstance(value, str | int | float | bool | None):
            raise InputError(
                f"task {task_id!r}: option {key} = {value!r} must be a number, text, true/false or None"
            )
        out[key] = value
    if get_engine(engine).pymc:  # sampler settings: the engine's own checks, before any fit
        from hiermeta.engines.nuts.engine import check_sampler_settings

        try:
            check_sampler_settings(
                out.get("draws"),
                out.get("tune", 0),
                out.get("chains", 1),
                out.get("target_accept"),
                out.get("random_seed"),
            )
        except InputError as err:
            raise InputError(f"task {task_id!r}: {err}") from None
    return tuple(sorted(out.items()))


def default_task_id(
    analysis: str,
    engine: str,
    tau: TauPrior,
    mu: MuPrior,
    defaults: tuple[TauPrior, MuPrior] = (DEFAULT_TAU, DEFAULT_MU),
) -> str:
    """``analysis``, then what differs from the defaults: ``"cd001|nuts|HalfCauchy(1)"``.

    ``defaults`` are the measure's default priors (log-ratio ones unless given). Ids do not
    depend on the rest of the grid, so a batch can grow (more priors, engines or analyses)
    and resume into the same output folder.
    """
    parts = [analysis]
    if engine != "exact":
        parts.append(engine)
    bayes = get_engine(engine).bayesian
    if bayes and tau != defaults[0]:
        parts.append(tau.name)
    if bayes and mu != defaults[1]:
        parts.append(f"mu~{mu.name}")
    return "|".join(parts)


def _dataset_defaults(data: EffectData | BaseException) -> tuple[TauPrior, MuPrior, str | None]:
    """The measure's default (tau, mu) priors for a dataset, and why there are none (its
    measure has no universal scale): such tasks fail with that message unless priors are
    given."""
    if not isinstance(data, EffectData):  # a failed conversion, or bad input Task rejects
        return DEFAULT_TAU, DEFAULT_MU, None
    try:
        chosen = default_priors(data)
    except InputError as err:
        return DEFAULT_TAU, DEFAULT_MU, f"InputError: {err}"
    return chosen.tau, chosen.mu, None


def _prior_key(prior: Any) -> str:
    return f"{type(prior).__name__}{sorted(prior.params().items())}"


def _as_list(value: Any, kind: str) -> list[Any]:
    """Priors as a list: one prior, a list of priors or specs, or a catalogue (name → prior)."""
    if value is None:
        return [None]  # the measure's default, chosen per dataset
    prior_type = TauPrior if kind == "tau" else MuPrior
    if (
        isinstance(value, Mapping)
        and value
        and all(isinstance(v, prior_type) for v in value.values())
    ):
        items = list(value.values())  # e.g. hm.priors.catalogue("logHR")
    else:
        items = list(value) if isinstance(value, list | tuple) else [value]
    return [from_spec(v, kind) if isinstance(v, str | dict) else v for v in items]


def _check_options_have_takers(
    engines: Sequence[str], nuts: Mapping[str, Any] | None, frequentist: Mapping[str, Any] | None
) -> None:
    """Options no task would use are an error, not silently dropped (``--draws 100`` with only
    the exact engine would otherwise look like it did something)."""
    for given, bayesian, kind, hint in (
        (nuts, True, "nuts", "engine='nuts' (CLI: --engine nuts)"),
        (frequentist, False, "frequentist", "a frequentist engine such as 'REML'"),
    ):
        if not given:
            continue
        takers = [
            e for e in engines if get_engine(e).bayesian == bayesian and get_engine(e).options
        ]
        if not takers:
            raise InputError(
                f"{kind} options {sorted(given)} apply to {kind} tasks, but no engine of this "
                f"batch takes them (engines: {', '.join(dict.fromkeys(engines))}): add {hint} "
                "or leave them out"
            )


def make_tasks(
    datasets: Mapping[str, EffectData | BaseException] | Sequence[EffectData],
    engine: str | Sequence[str] = "exact",
    tau_prior: TauPrior | str | Sequence[TauPrior | str] | None = None,
    mu_prior: MuPrior | str | Sequence[MuPrior | str] | None = None,
    moderators: Sequence[str] | str | None = None,
    nuts: Mapping[str, Any] | None = None,
    frequentist: Mapping[str, Any] | None = None,
    data_warnings: Mapping[str, Sequence[str]] | None = None,
) -> list[Task]:
    """Every combination of dataset × engine × tau prior × mu prior, as tasks.

    A task id is the dataset name, followed by what differs from the defaults (engine other
    than exact, priors other than HalfNormal(0.5) and Normal(0, 1)): ``"cd001|nuts|HalfCauchy(1)"``
    (:func:`default_task_id`). A dataset given as an exception (its conversion failed) yields
    tasks that fail with its message. ``nuts`` options go to NUTS tasks, ``frequentist`` options
    (``ci``, ``pi_kind``) to frequentist ones; a frequentist engine gives one task per dataset
    whatever the priors.
    """
    if isinstance(datasets, EffectData):
        datasets = {"analysis": datasets}
    if not isinstance(datasets, Mapping):
        datasets = {str(i): d for i, d in enumerate(datasets)}
    engines = [engine] if isinstance(engine, str) else list(engine)
    for name in engines:
        if name not in BATCH_ENGINES:
            raise unknown_option("engine", name, BATCH_ENGINES)
    _check_options_have_takers(engines, nuts, frequentist)
    taus = _as_list(tau_prior, "tau")
    mus = _as_list(mu_prior, "mu")
    if isinstance(moderators, str):
        moderators = [moderators]
    tasks = []
    for name, data in datasets.items():
        tau_default, mu_default, no_default = _dataset_defaults(data)
        bayes_engines = [e for e in engines if get_engine(e).bayesian]
        combos = list(itertools.product(bayes_engines, taus, mus))
        combos += [(e, None, None) for e in dict.fromkeys(engines) if e not in bayes_engines]
        for eng, tau_given, mu_given in combos:
            takes = get_engine(eng)
            options = (nuts if takes.bayesian else frequentist) if takes.options else None
            failed = isinstance(data, BaseException)
            tau = tau_given or tau_default
            mu = mu_given or mu_default
            error = _describe(data) if failed else None  # type: ignore[arg-type]
            if error is None and takes.bayesian and no_default and None in (tau_given, mu_given):
                error = no_default
            tasks.append(
                Task(
                    task_id=default_task_id(str(name), eng, tau, mu, (tau_default, mu_default)),
                    data=None if error else data,  # type: ignore[arg-type]
                    engine=eng,
                    tau_prior=tau,
                    mu_prior=mu,
                    moderators=tuple(moderators or ()),
                    options=options or {},
                    analysis=str(name),
                    data_error=error,
                    data_warnings=tuple((data_warnings or {}).get(str(name), ())),
                )
            )
    check_unique(tasks)
    return tasks


def check_unique(tasks: Sequence[Task]) -> None:
    """Raise when two tasks share an id (each id is one row of the results)."""
    seen: set[str] = set()
    for task in tasks:
        if task.task_id in seen:
            raise InputError(
                f"task id {task.task_id!r} occurs more than once; task ids must be unique"
            )
        seen.add(task.task_id)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _detect(columns: Iterable[str], where: str) -> dict[str, str]:
    names = set(columns)
    for y, se in LOG_SE_COLUMNS:
        if {y, se} <= names:
            return {"y": y, "se": se}
    for est, lo, hi in RATIO_CI_COLUMNS:
        if {est, lo, hi} <= names:
            return {"estimate": est, "lower": lo, "upper": hi}
    raise InputError(
        f"{where}: cannot tell which columns hold the effects; name them (estimate=, lower=, "
        f"upper= for a ratio and its CI, or y=, se= on the log scale) or use the column names "
        f"{[list(c) for c in LOG_SE_COLUMNS + RATIO_CI_COLUMNS]}; columns are {sorted(names)}"
    )


def _convert(frame: pd.DataFrame, columns: Mapping[str, Any]) -> tuple[EffectData, list[str]]:
    """Convert one analysis's rows with the standard converters; returns its warnings too."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        data = convert("log_se" if "y" in columns else "ratio_ci", frame, **columns)
    return data, [f"{r.category.__name__}: {r.message}" for r in records]


def _columns(
    frame_columns: Iterable[str],
    where: str,
    *,
    estimate: str | None,
    lower: str | None,
    upper: str | None,
    y: str | None,
    se: str | None,
    study: str | None,
    measure: str,
    ci_level: float | str,
    covariates: Sequence[str] | None,
) -> dict[str, Any]:
    if y or se:
        if not (y and se):
            raise InputError("give both y= and se= (effects on the log scale and their SEs)")
        columns: dict[str, Any] = {"y": y, "se": se}
    elif estimate or lower or upper:
        if not (estimate and lower and upper):
            raise InputError("give estimate=, lower= and upper= together (a ratio and its CI)")
        columns = {"estimate": estimate, "lower": lower, "upper": upper}
    else:
        columns = _detect(frame_columns, where)
    if "estimate" in columns:
        columns["ci_level"] = ci_level
    names = set(frame_columns)
    if study is None and "study" in names:
        study = "study"
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
    effect_columns = [columns[k] for k in ("y", "se", "estimate", "lower", "upper") if k in columns]
    named = [c for c in (*effect_columns, study, *covariates) if c is not None]
    if isinstance(ci_level, str):
        named.append(ci_level)
    missing = [c for c in named if c not in names]
    if missing:
        raise InputError(
            f"{where}: column {missing[0]!r} not found; columns are {sorted(map(str, names))}"
        )
    columns.update(study=study, measure=measure, covariates=covariates or None)
    return columns


def tasks_from_frame(
    frame: pd.DataFrame,
    analysis: str = "analysis",
    *,
    estimate: str | None = None,
    lower: str | None = None,
    upper: str | None = None,
    y: str | None = None,
    se: str | None = None,
    study: str | None = None,
    measure: str = "HR",
    ci_level: float | str = 0.95,
    covariates: Sequence[str] | None = None,
) -> dict[str, EffectData | BaseException]:
    """Split a long table (one row per study, an analysis-id column) into datasets.

    Each analysis is converted on its own with :func:`~hiermeta.from_log_se` or
    :func:`~hiermeta.from_ratio_ci`; an analysis whose rows cannot be converted is returned as
    the exception (its tasks fail with the message, the others run). Columns are found by name
    when not given (``y``/``se``, ``yi``/``sei``, ``hr``/``lower``/``upper``, …).

    Returns
    -------
    dict
        Analysis id → :class:`EffectData` (or the conversion error), in order of appearance.
        :func:`read_tasks` also returns the conversion warnings of each analysis.
    """
    datasets, _ = _split(
        frame,
        analysis,
        "the task table",
        estimate=estimate,
        lower=lower,
        upper=upper,
        y=y,
        se=se,
        study=study,
        measure=measure,
        ci_level=ci_level,
        covariates=covariates,
    )
    return datasets


def _split(
    frame: pd.DataFrame, analysis: str, where: str, **options: Any
) -> tuple[dict[str, EffectData | BaseException], dict[str, list[str]]]:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if analysis not in frame.columns:
        raise InputError(
            f"{where}: analysis-id column {analysis!r} not found; columns are {list(frame.columns)} "
            "(name it with analysis=)"
        )
    if frame.empty:
        raise InputError(f"{where}: the table has no rows")
    ids = frame[analysis]
    missing = np.flatnonzero(ids.isna().to_numpy())
    if missing.size:
        raise InputError(f"{where}: row {int(missing[0]) + 1}: analysis id is missing")
    columns = _columns(frame.columns, where, **options)
    return _convert_many(frame.reset_index(drop=True), ids.astype(str).to_numpy(), columns)


class _NotClean(Exception):
    """A group of analyses raised an error or a warning: convert its halves separately."""


def _convert_many(
    frame: pd.DataFrame, ids: np.ndarray, columns: Mapping[str, Any]
) -> tuple[dict[str, EffectData | BaseException], dict[str, list[str]]]:
    """Convert every analysis of a long table as if one by one, but fast.

    Converting thousands of small tables one by one is dominated by per-call overhead, so the
    converter runs once over a whole group of analyses (study labels prefixed by the analysis
    id), which is then cut into one :class:`EffectData` per analysis — whose own checks run
    per analysis. A group that raises an error or a warning is halved until each analysis with
    a problem is converted on its own, giving exactly the message it would give alone.
    """
    names, first = np.unique(ids, return_index=True)
    order = names[np.argsort(first)]
    rows_of = (
        {name: np.flatnonzero(ids == name) for name in order} if len(order) < 50 else _groups(ids)
    )
    datasets: dict[str, EffectData | BaseException] = {}
    found: dict[str, list[str]] = {}
    study = columns.get("study")
    if study is not None and (
        frame[study].isna().any() or (frame[study].astype(str).str.strip() == "").any()
    ):
        labels = None  # a missing label: let each analysis report its own
    elif study is not None:
        labels = frame[study].astype(str).str.strip().to_numpy()
    else:
        labels = ("Study " + (frame.groupby(ids, sort=False).cumcount() + 1).astype(str)).to_numpy()

    def one(name: str) -> None:
        try:
            data, caught = _convert(frame.iloc[rows_of[name]].reset_index(drop=True), columns)
        except InputError as err:
            datasets[name] = InputError(f"analysis {name!r}: {err}")
            return
        datasets[name] = data
        if caught:
            found[name] = caught

    def group(names: list[str]) -> None:
        if len(names) == 1 or labels is None:
            for name in names:
                one(name)
            return
        index = np.concatenate([rows_of[n] for n in names])
        try:
            parts = _convert_together(frame, index, names, rows_of, labels, columns)
        except _NotClean:
            middle = len(names) // 2
            group(names[:middle])
            group(names[middle:])
            return
        datasets.update(parts)

    group([str(n) for n in order])
    return {str(n): datasets[str(n)] for n in order}, found


def _groups(ids: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices of each analysis id (one sort instead of one scan per id)."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    cuts = np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1
    return {
        str(chunk[0]): idx
        for chunk, idx in zip(np.split(sorted_ids, cuts), np.split(order, cuts), strict=True)
    }


_NO_EXCLUSIONS = pd.DataFrame({"study": [], "reason": []}, dtype=object)


def _convert_together(
    frame: pd.DataFrame,
    index: np.ndarray,
    names: list[str],
    rows_of: Mapping[str, np.ndarray],
    labels: np.ndarray,
    columns: Mapping[str, Any],
) -> dict[str, EffectData]:
    label_column = "\x1fhiermeta_label"
    sub = frame.iloc[index].reset_index(drop=True)
    sub[label_column] = [f"{i}\x1f{s}" for i, s in enumerate(labels[index])]
    try:
        whole, caught = _convert(sub, {**columns, "study": label_column})
    except InputError:
        raise _NotClean from None
    if caught or len(whole.study) != len(index):
        raise _NotClean
    out: dict[str, EffectData] = {}
    start = 0
    try:
        for name in names:
            n = len(rows_of[name])
            part = slice(start, start + n)
            out[name] = EffectData.part_of_checked(whole, part, labels[index[part]], _NO_EXCLUSIONS)
            start += n
    except InputError:
        raise _NotClean from None
    return out


def tasks_from_folder(
    folder: str | Path, pattern: str = "*.csv", **columns: Any
) -> dict[str, EffectData | BaseException]:
    """One dataset per CSV file of ``folder`` (the file name without ``.csv`` is its id)."""
    datasets, _ = _read_folder(Path(folder), pattern, columns)
    return datasets


def _read_folder(
    folder: Path, pattern: str, columns: Mapping[str, Any]
) -> tuple[dict[str, EffectData | BaseException], dict[str, list[str]]]:
    from hiermeta.pipeline.spec import read_csv_checked

    if not folder.is_dir():
        raise InputError(f"folder {str(folder)!r} not found")
    files = sorted(folder.glob(pattern))
    if not files:
        raise InputError(f"folder {str(folder)!r} has no files matching {pattern!r}")
    datasets: dict[str, EffectData | BaseException] = {}
    found: dict[str, list[str]] = {}
    for path in files:
        try:
            frame = read_csv_checked(path, text_columns=[columns.get("study")])
            options = _columns(frame.columns, path.name, **_column_defaults(columns))
            data, caught = _convert(frame, options)
        except InputError as err:
            datasets[path.stem] = InputError(f"{path.name}: {err}")
            continue
        datasets[path.stem] = data
        if caught:
            found[path.stem] = caught
    return datasets, found


def _column_defaults(columns: Mapping[str, Any]) -> dict[str, Any]:
    valid = ("estimate", "lower", "upper", "y", "se", "study", "measure", "ci_level", "covariates")
    for key in columns:
        if key not in valid:
            raise unknown_option("column option", key, valid)
    defaults: dict[str, Any] = dict.fromkeys(valid)
    defaults.update(measure="HR", ci_level=0.95)
    defaults.update(columns)
    return defaults


def read_tasks(
    source: Any, analysis: str = "analysis", **columns: Any
) -> tuple[dict[str, EffectData | BaseException], dict[str, list[str]]]:
    """Datasets (and their conversion warnings) from a long table, a CSV file or a folder."""
    if isinstance(source, pd.DataFrame):
        return _split(source, analysis, "the task table", **_column_defaults(columns))
    path = Path(source)
    if path.is_dir():
        return _read_folder(path, "*.csv", columns)
    from hiermeta.pipeline.spec import read_csv_checked

    frame = read_csv_checked(path, text_columns=[analysis, columns.get("study")])
    return _split(frame, analysis, path.name, **_column_defaults(columns))
