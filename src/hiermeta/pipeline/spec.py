"""Analysis specs (TOML): load, validate strictly, turn into data and fit settings.

A spec names its data (a bundled dataset, a CSV or a simulation), the effect measure and
conversions, the model (moderators, subgroup tau, multilevel), the priors, the engines and
what the report shows. Every table accepts only its known keys; an unknown key or a missing
column is an error naming it and listing what is valid.
"""

from __future__ import annotations

import math
import re
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hiermeta.analyses.selection import SELECTION_TYPES
from hiermeta.analyses.small_study import PREDICTORS, TRIMFILL_ESTIMATORS
from hiermeta.data.convert import CONVERTERS, convert, converter_arguments, from_ratio_ci
from hiermeta.data.datasets import load_dataset, load_effects
from hiermeta.data.effects import EffectData
from hiermeta.data.nested import NestedData, read_nested, simulate_nested
from hiermeta.data.revman import read_revman, revman_effects
from hiermeta.data.simulate import simulate
from hiermeta.engines.registry import BAYESIAN_ENGINES
from hiermeta.errors import InputError, SpecError, check_level, check_thresholds
from hiermeta.priors import DEFAULT_MU, DEFAULT_TAU, MuPrior, TauPrior, from_spec
from hiermeta.priors.defaults import default_priors

__all__ = [
    "Spec",
    "broadest_per_cohort",
    "csv_dialect",
    "load_spec",
    "read_csv_checked",
    "spec_from_dict",
]

#: Converter arguments that name a column of the table (text in a spec).
_COLUMN_ARGUMENTS = sorted(
    {name for kind in CONVERTERS for name in converter_arguments(kind)[0]}
    | {"study", "se", "variance", "p", "invert"}
)

#: The ``[nested]`` keys that are arguments of :func:`hiermeta.read_nested`.
NESTED_COLUMNS = (
    "cohort", "population", "estimate", "lower", "upper", "y", "se", "ci_level", "shares",
    "reason", "typical",
)  # fmt: skip

_SCHEMA: dict[str, set[str]] = {
    "": {
        "title",
        "description",
        "data",
        "model",
        "priors",
        "engines",
        "nuts",
        "sensitivity",
        "simulation",
        "report",
        "influence",
        "cumulative",
        "nested",
        "small_study",
    },
    # where the data come from, then every converter's arguments (a new converter's keys are
    # valid without being listed here)
    "data": {
        "dataset",
        "csv",
        "revman",
        "outcome",
        "subset",
        "input",
        "note",
        "sep",
        "decimal",
        *(name for kind in CONVERTERS for group in converter_arguments(kind) for name in group),
    },
    "model": {"moderators", "levels", "coding", "subgroup_tau", "multilevel", "random_effects"},
    "priors": {"mu", "tau", "beta"},
    "engines": {"bayesian", "frequentist", "ci"},
    "nuts": {"draws", "tune", "chains", "target_accept", "random_seed", "parameterisation"},
    "sensitivity": {"catalogue", "engine"},
    "influence": {"leave_one_out", "diagnostics", "gosh", "gosh_subsets"},
    "cumulative": {"order", "level"},
    "simulation": {"k", "tau", "hr", "strata", "random_seed", "events", "stratum"},
    "report": {"thresholds", "pi_kind", "ci_level", "subgroup", "treatment", "benefit"},
    # nested organ-count populations (hm.read_nested + hm.nested_subgroups)
    "nested": {
        "dataset",
        "csv",
        "subset",
        "simulation",
        "note",
        *NESTED_COLUMNS,
        "trend",
        "engine",
        "concentration",
        "compositions",
    },
    "nested.simulation": {"cohorts", "hr", "tau", "report_prob", "random_seed"},
    # small-study effects and publication bias (hm.small_study_effects)
    "small_study": {
        "predictor",
        "trimfill",
        "selection",
        "steps",
        "averaging",
        "bayesian_selection",
        "favoured",
    },
}


def _check_keys(table: dict[str, Any], section: str, where: str) -> None:
    valid = _SCHEMA[section]
    for key in table:
        if key not in valid:
            raise SpecError(
                f"{where}: unknown key {key!r} in {'the top level' if not section else f'[{section}]'}; "
                f"valid keys are {sorted(valid)}"
            )


@dataclass(frozen=True)
class Spec:
    """A validated analysis spec."""

    path: Path
    title: str
    description: str
    data: dict[str, Any]
    model: dict[str, Any]
    priors: dict[str, Any]
    engines: dict[str, Any]
    nuts: dict[str, Any]
    sensitivity: dict[str, Any] | None
    simulation: dict[str, Any] | None
    influence: dict[str, Any] | None
    cumulative: dict[str, Any] | None
    report: dict[str, Any] = field(default_factory=dict)
    nested: dict[str, Any] | None = None
    small_study: dict[str, Any] | None = None

    @property
    def ci_level(self) -> float:
        """Level of every interval of the report (``[report] ci_level``, default 0.95)."""
        try:
            return check_level(self.report.get("ci_level", 0.95), "[report] ci_level")
        except InputError as err:
            raise SpecError(f"{self.path.name}: {err}") from None

    @property
    def name(self) -> str:
        """Spec file name without extension."""
        return self.path.stem

    # ------------------------------------------------------------------ priors
    def mu_prior(self, data: EffectData | None = None) -> MuPrior:
        """Prior on mu: the spec's, else the default for ``data``'s measure
        (:mod:`hiermeta.priors.defaults`; Normal(0, 1) for log ratios)."""
        prior: MuPrior = self._prior("mu", data, lambda d: default_priors(d).mu, DEFAULT_MU)
        return prior

    def beta_prior(self, data: EffectData | None = None) -> MuPrior:
        """Prior on the other coefficients (default: the measure's default prior on mu, or
        the spec's mu prior for a measure without defaults, e.g. an MD in unknown units)."""
        if "beta" not in self.priors and "mu" in self.priors and data is not None:
            try:
                default_priors(data)
            except InputError:
                return self.mu_prior(data)
        prior: MuPrior = self._prior("beta", data, lambda d: default_priors(d).mu, DEFAULT_MU)
        return prior

    def tau_prior(self, data: EffectData | None = None) -> TauPrior:
        """Prior on tau: the spec's, else the default for ``data``'s measure."""
        prior: TauPrior = self._prior("tau", data, lambda d: default_priors(d).tau, DEFAULT_TAU)
        return prior

    def _prior(self, which: str, data: EffectData | None, by_measure: Any, default: Any) -> Any:
        spec = self.priors.get(which)
        if spec is None:
            if data is None:
                return default
            try:
                return by_measure(data)
            except InputError as err:
                raise SpecError(f"{self.path.name}: [priors] {which} is needed: {err}") from None
        try:
            return from_spec(spec, "tau" if which == "tau" else "mu")
        except InputError as err:
            raise SpecError(f"{self.path.name}: [priors] {which}: {err}") from None

    # ------------------------------------------------------------------ data
    def raw_table(self) -> pd.DataFrame:
        """The input table (bundled dataset, CSV, or simulation)."""
        if self.simulation is not None:
            return _simulated(self.simulation, self.path.name)
        if "dataset" in self.data:
            frame = load_dataset(self.data["dataset"])
        else:
            csv = (self.path.parent / self.data["csv"]).resolve()
            frame = read_csv_checked(
                csv, self.data.get("sep"), self.data.get("decimal"), [self.data.get("study")]
            )
        subset = self.data.get("subset")
        if subset:
            if subset not in frame.columns:
                raise SpecError(
                    f"{self.path.name}: [data] subset column {subset!r} not found; columns are {list(frame.columns)}"
                )
            frame = frame[frame[subset].astype(str).str.lower().isin(["true", "1"])].reset_index(
                drop=True
            )
        return frame

    def effects(self) -> EffectData:
        """The studies as :class:`EffectData`, converted as the spec says (a spec with only
        ``[nested]`` pools one estimate per cohort: its broadest population)."""
        d = self.data
        if not ({"dataset", "csv", "revman"} & set(d)) and self.simulation is None and self.nested:
            return broadest_per_cohort(self.nested_data())
        if (
            "dataset" in d
            and set(d) <= {"dataset", "subset", "covariates", "note"}
            and self.simulation is None
        ):
            return load_effects(
                d["dataset"], subset=d.get("subset"), covariates=d.get("covariates")
            )
        if "revman" in d:
            return self._revman_effects()
        frame = self.raw_table()
        if self.simulation is not None:
            return from_ratio_ci(
                frame, "hr", "ci_low", "ci_high", study="study", covariates=[self.stratum_column]
            )
        kind = d.get("input", "ratio_ci")
        if kind not in CONVERTERS:
            raise SpecError(
                f"{self.path.name}: [data] input {kind!r} is unknown; valid: {', '.join(map(repr, CONVERTERS))}"
            )
        required, optional = converter_arguments(kind)
        arguments = {k: v for k, v in d.items() if k in required + optional}
        missing = [k for k in required if k not in arguments]
        if missing:
            raise SpecError(
                f"{self.path.name}: [data] input {kind!r} needs {', '.join(map(repr, missing))}"
            )
        return convert(kind, frame, **arguments)

    def _revman_effects(self) -> EffectData:
        """One outcome of a RevMan 5 file (``[data] revman`` and ``outcome``)."""
        d = self.data
        table = read_revman((self.path.parent / str(d["revman"])).resolve())
        if "outcome" not in d:
            outcomes = dict(zip(table.outcome_id, table.outcome, strict=True))
            listing = ", ".join(f"{i} ({n})" for i, n in outcomes.items())
            raise SpecError(f"{self.path.name}: [data] revman needs 'outcome', one of: {listing}")
        return revman_effects(table, str(d["outcome"]), d.get("measure"), d.get("covariates"))

    # ------------------------------------------------------------------ nested populations
    def nested_table(self) -> pd.DataFrame:
        """The table of ``[nested]``: its dataset, CSV or simulation (see docs/nested_subgroups.md)."""
        n = self.nested or {}
        where = f"{self.path.name}: [nested]"
        if "simulation" in n:
            sim = n["simulation"]
            rng = np.random.default_rng(int(sim.get("random_seed", 0)))
            try:
                return simulate_nested(
                    rng,
                    tuple(sim.get("hr", (0.55, 0.70, 0.85, 1.00))),
                    float(sim.get("tau", 0.10)),
                    int(sim.get("cohorts", 8)),
                    float(sim.get("report_prob", 0.6)),
                )
            except (InputError, TypeError, ValueError) as err:
                raise SpecError(f"{where} simulation: {err}") from None
        if "dataset" in n:
            frame = load_dataset(str(n["dataset"]))
        elif "csv" in n:
            frame = read_csv_checked(
                (self.path.parent / str(n["csv"])).resolve(),
                text_columns=[n.get("cohort"), n.get("population")],
            )
        else:
            raise SpecError(f"{where} needs 'dataset', 'csv' or a [nested.simulation]")
        subset = n.get("subset")
        if subset:
            if subset not in frame.columns:
                raise SpecError(
                    f"{where} subset column {subset!r} not found; columns are {list(frame.columns)}"
                )
            keep = frame[subset].astype(str).str.lower().isin(["true", "1"])
            frame = frame[keep].reset_index(drop=True)
        return frame

    def nested_data(self) -> NestedData:
        """``[nested]`` read with :func:`hiermeta.read_nested` (forensic checks included)."""
        n = dict(self.nested or {})
        simulated = "simulation" in n
        options: dict[str, Any] = {key: n[key] for key in NESTED_COLUMNS if key in n}
        if simulated:
            options.update(y="y", se="se", shares=["share0", "share1", "share2", "share3"])
        if not ({"estimate", "y"} & set(options)):
            raise SpecError(
                f"{self.path.name}: [nested] needs its estimate columns: estimate, lower, upper (or y, se)"
            )
        try:
            return read_nested(self.nested_table(), **options)
        except InputError as err:
            raise SpecError(f"{self.path.name}: [nested] {err}") from None

    # ------------------------------------------------------------------ model
    def structure(self) -> dict[str, Any]:
        """Model structure beyond the normal–normal model (only some engines fit it)."""
        model = self.model
        out: dict[str, Any] = {}
        if model.get("subgroup_tau"):
            out["subgroup_tau"] = model["subgroup_tau"]
        if model.get("multilevel"):
            out["multilevel"] = True
        if model.get("random_effects", "normal") != "normal":
            out["random_effects"] = model["random_effects"]
        return out

    # ------------------------------------------------------------------ simulation
    @property
    def stratum_column(self) -> str:
        """Covariate holding a simulation's strata (``[simulation] stratum``)."""
        return str((self.simulation or {}).get("stratum", "stratum"))

    def truth(self) -> pd.DataFrame | None:
        """The simulated true effect per stratum (``true_effect`` column), or None."""
        if self.simulation is None:
            return None
        frame = self.raw_table()
        return frame.groupby(self.stratum_column, sort=False)["true_effect"].first().to_frame()


def broadest_per_cohort(nested: NestedData) -> EffectData:
    """One estimate per cohort — the population with the most strata — labelled by cohort:
    the overall analysis of a nested table, without counting any patient twice."""
    rows: dict[str, int] = {}
    for j, cohort in enumerate(nested.cohort):
        if cohort not in rows or nested.members[j].sum() > nested.members[rows[cohort]].sum():
            rows[cohort] = j
    keep = list(rows.values())
    return EffectData(
        study=tuple(f"{nested.cohort[j]} ({nested.population[j]})" for j in keep),
        y=nested.effects.y[keep],
        se=nested.effects.se[keep],
        measure=nested.effects.measure,
    )


def csv_dialect(path: Path) -> tuple[str, str]:
    """(separator, decimal mark) of a CSV: ``,`` and ``.``, or ``;`` and ``,`` (as
    spreadsheets write it where the decimal mark is a comma), or tabs."""
    try:
        sample = path.read_bytes()[:8192].decode("utf-8-sig", errors="replace")
    except OSError:
        return ",", "."
    header = sample.splitlines()[0] if sample else ""
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    sep = max(counts, key=lambda s: counts[s]) if any(counts.values()) else ","
    decimal = "," if sep != "," and re.search(r"\d,\d", sample) else "."
    return sep, decimal


#: Columns read as text whatever they hold (identifiers are text exactly as written: "007" is not
#: "7", "1.0" is not "1", "NA" is a label): these names (any case), plus those a caller names.
IDENTIFIER_COLUMNS = frozenset(
    {"study", "analysis", "cohort", "population", "author", "trial", "id", "label", "task_id"}
)
#: What reads as missing in the other columns (pandas' defaults).
MISSING_TEXT = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip


def read_csv_checked(
    path: Path,
    sep: str | None = None,
    decimal: str | None = None,
    text_columns: Sequence[str | None] = (),
) -> pd.DataFrame:
    """Read a CSV (UTF-8, a byte-order mark allowed), turning file problems into clear errors.

    The separator and decimal mark are detected (:func:`csv_dialect`) unless given.
    Identifier columns (``text_columns`` and :data:`IDENTIFIER_COLUMNS`) are read as text,
    exactly as written; only an empty cell is missing there. A row with more fields than the
    header (an unquoted separator inside a label) is an error naming its line.
    """
    if not path.is_file():
        raise InputError(f"CSV file {str(path)!r} not found")
    found_sep, found_decimal = csv_dialect(path)
    options: dict[str, Any] = {
        "encoding": "utf-8-sig",
        "sep": sep or found_sep,
        "decimal": decimal or found_decimal,
    }
    try:
        header = list(pd.read_csv(path, nrows=0, **options).columns)
        named = {str(c) for c in text_columns if c}
        text = [
            c for c in header if str(c) in named or str(c).strip().lower() in IDENTIFIER_COLUMNS
        ]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                index_col=False,
                dtype=dict.fromkeys(text, str),
                keep_default_na=False,
                na_values={c: ([""] if c in text else MISSING_TEXT) for c in header},
                **options,
            )
    except UnicodeDecodeError as err:
        raise InputError(
            f"{path.name}: not UTF-8 text (byte {err.start}); save the file as UTF-8"
        ) from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path.name}: the file is empty") from None
    except pd.errors.ParserError as err:
        raise InputError(f"{path.name}: not a valid CSV ({str(err).splitlines()[0]})") from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        raise InputError(f"{path.name}: {_ragged_line(path, options['sep'], len(header))}")
    if frame.empty:
        raise InputError(f"{path.name}: the table has a header but no rows")
    return frame


def _ragged_line(path: Path, sep: str, width: int) -> str:
    """Which line has more fields than the header."""
    import csv

    with path.open(encoding="utf-8-sig", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter=sep), start=1):
            if len(row) > width:
                return (
                    f"line {number} has {len(row)} fields but the header has {width} (starting "
                    f"{sep.join(row[:2])!r}); quote a label that contains {sep!r}"
                )
    return f"a row has more fields than the header's {width}"


def _simulated(sim: dict[str, Any], where: str) -> pd.DataFrame:
    for key in ("k", "tau", "hr", "strata", "random_seed"):
        if key not in sim:
            raise SpecError(f"{where}: [simulation] needs {key!r}")
    hr = {str(k): float(v) for k, v in sim["hr"].items()}
    frame = simulate(
        int(sim["k"]),
        {k: math.log(v) for k, v in hr.items()},
        float(sim["tau"]),
        strata={str(k): int(v) for k, v in sim["strata"].items()},
        events=tuple(sim.get("events", (40, 400))),
        random_seed=int(sim["random_seed"]),
    )
    column = str(sim.get("stratum", "stratum"))
    frame = frame.rename(columns={"stratum": column})
    frame["true_effect"] = frame[column].map(hr)
    return frame


def load_spec(path: str | Path) -> Spec:
    """Read and validate a TOML spec.

    Raises
    ------
    SpecError
        For a missing file, invalid TOML, an unknown key or a missing required key.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path.name}: invalid TOML ({err})") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path.name}: not UTF-8 text") from None
    return spec_from_dict(raw, path)


#: Values whose type is checked when a spec is read: text, a list of text (one text is taken as a
#: list of one), a list of numbers (one number likewise).
_TYPES: dict[tuple[str, str], str] = {
    ("", "title"): "text",
    ("", "description"): "text",
    ("data", "dataset"): "text",
    ("data", "csv"): "text",
    ("data", "revman"): "text",
    ("data", "study"): "text",
    ("data", "covariates"): "texts",
    ("model", "moderators"): "texts",
    ("engines", "bayesian"): "texts",
    ("engines", "frequentist"): "texts",
    ("engines", "ci"): "texts",
    ("report", "thresholds"): "numbers",
    ("report", "treatment"): "text",
    ("report", "ci_level"): "number",  # its range (with a percent hint): Spec.ci_level
    ("report", "subgroup"): "text",
    ("report", "benefit"): "text",
    ("report", "pi_kind"): "text",
    # columns of the converters, and the CSV dialect
    **{("data", name): "text" for name in _COLUMN_ARGUMENTS},
    ("data", "sep"): "char",
    ("data", "decimal"): "char",
    ("data", "subset"): "text",
    ("data", "outcome"): "text",
    ("data", "input"): "text",
    ("data", "measure"): "text",
    ("data", "cluster"): "text",
    ("data", "add"): "nonnegative",
    ("data", "to"): "text",
    ("data", "drop00"): "bool",
    ("model", "levels"): "table",
    ("model", "coding"): "table",
    ("model", "subgroup_tau"): "bool",
    ("model", "multilevel"): "bool",
    ("model", "random_effects"): "text",
    ("nuts", "draws"): "count",
    ("nuts", "tune"): "whole",
    ("nuts", "chains"): "count",
    ("nuts", "target_accept"): "probability",
    ("nuts", "random_seed"): "whole",
    ("nuts", "parameterisation"): "text",
    ("sensitivity", "catalogue"): "text",
    ("sensitivity", "engine"): "text",
    ("influence", "leave_one_out"): "bool",
    ("influence", "diagnostics"): "bool",
    ("influence", "gosh"): "bool",
    ("influence", "gosh_subsets"): "count",
    ("cumulative", "order"): "text",
    ("cumulative", "level"): "probability",
    ("simulation", "k"): "count",
    ("simulation", "tau"): "nonnegative",
    ("simulation", "hr"): "table",
    ("simulation", "strata"): "table",
    ("simulation", "random_seed"): "whole",
    ("simulation", "events"): "numbers",
    ("simulation", "stratum"): "text",
    ("nested", "csv"): "text",
    ("nested", "dataset"): "text",
    ("nested", "shares"): "texts",
    ("nested", "cohort"): "text",
    ("nested", "population"): "text",
    ("nested", "engine"): "text",
    ("nested", "compositions"): "text",
    ("nested", "trend"): "bool",
    ("nested", "concentration"): "number",
    ("nested", "typical"): "numbers",
    ("small_study", "predictor"): "text",
    ("small_study", "trimfill"): "text",
    ("small_study", "selection"): "text",
    ("small_study", "steps"): "numbers",
    ("small_study", "averaging"): "bool",
    ("small_study", "bayesian_selection"): "bool",
    ("small_study", "favoured"): "text",
}

#: Valid text values of [small_study] keys (``"none"`` switches a part off).
SMALL_STUDY_CHOICES: dict[str, tuple[str, ...]] = {
    "predictor": PREDICTORS,
    "trimfill": (*TRIMFILL_ESTIMATORS, "none"),
    "selection": (*SELECTION_TYPES, "none"),
    "favoured": ("auto", "lower", "higher"),
}


#: The values inside table-valued keys: (section, key) → (test, words).
_TABLE_VALUES: dict[tuple[str, str], tuple[Any, str]] = {
    ("model", "levels"): (
        lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "a list of level names (text)",
    ),
    ("model", "coding"): (lambda v: isinstance(v, str), "a coding name (text)"),
    ("simulation", "hr"): (lambda v: _number(v) and v > 0, "a positive ratio"),
    ("simulation", "strata"): (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "a whole number of studies ≥ 0",
    ),
}


def _check_tables(raw: dict[str, Any], where: str) -> None:
    """Every value inside a table-valued key has its type (``levels = { design = 1 }``)."""
    for (section, key), (test, words) in _TABLE_VALUES.items():
        table = raw.get(section, {}).get(key) if isinstance(raw.get(section), dict) else None
        if not isinstance(table, dict):
            continue
        for name, value in table.items():
            if not test(value):
                raise SpecError(f"{where}: [{section}] {key}.{name} must be {words}; got {value!r}")
    events = (
        raw.get("simulation", {}).get("events") if isinstance(raw.get("simulation"), dict) else None
    )
    if events is not None and not (len(events) == 2 and 0 < events[0] <= events[1]):
        raise SpecError(
            f"{where}: [simulation] events must be a range [low, high] of deaths per study "
            f"(0 < low ≤ high); got {events!r}"
        )


def _check_small_study(raw: dict[str, Any], where: str) -> None:
    steps = raw.get("small_study", {}).get("steps", [])
    bad = [x for x in steps if not 0 < x < 1]
    if bad:
        raise SpecError(
            f"{where}: [small_study] steps must be one-sided p-values between 0 and 1 "
            f"(exclusive); got {bad[0]!r}"
        )
    for key, choices in SMALL_STUDY_CHOICES.items():
        value = raw.get("small_study", {}).get(key)
        if value is not None and value not in choices:
            raise SpecError(
                f"{where}: [small_study] {key} = {value!r} is not valid; valid values are "
                f"{', '.join(choices)}"
            )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


#: Scalar kinds: the test a value must pass and how the message describes it.
_SCALAR_KINDS: dict[str, tuple[Any, str]] = {
    "char": (lambda v: isinstance(v, str) and len(v) == 1, "one character (in quotes)"),
    "whole": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "a whole number ≥ 0",
    ),
    "count": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "a whole number ≥ 1",
    ),
    "probability": (lambda v: _number(v) and 0 < v < 1, "a number between 0 and 1 (exclusive)"),
    "nonnegative": (lambda v: _number(v) and v >= 0, "a number ≥ 0"),
    "table": (lambda v: isinstance(v, dict), "a table, e.g. { a = 1, b = 2 }"),
}


def _check_types(raw: dict[str, Any], where: str) -> None:
    """Each value of :data:`_TYPES` has its type (a single value where a list is expected
    becomes a list of one; never read character by character)."""
    for (section, key), kind in _TYPES.items():
        table = raw if not section else raw.get(section)
        if not isinstance(table, dict) or key not in table:
            continue
        value = table[key]
        name = f"[{section}] {key}" if section else key
        if kind == "text":
            if not isinstance(value, str):
                raise SpecError(f"{where}: {name} must be text (in quotes); got {value!r}")
            continue
        if kind == "bool":
            if not isinstance(value, bool):
                raise SpecError(f"{where}: {name} must be true or false; got {value!r}")
            continue
        if kind == "number":
            if not _number(value):
                raise SpecError(f"{where}: {name} must be a finite number; got {value!r}")
            continue
        if kind in _SCALAR_KINDS:
            test, words = _SCALAR_KINDS[kind]
            if not test(value):
                raise SpecError(f"{where}: {name} must be {words}; got {value!r}")
            continue
        items = [value] if isinstance(value, str | int | float) else value
        if not isinstance(items, list):
            raise SpecError(f"{where}: {name} must be a list; got {value!r}")
        if kind == "texts" and not all(isinstance(v, str) for v in items):
            raise SpecError(f"{where}: {name} must be a list of text; got {value!r}")
        if kind == "numbers" and not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in items
        ):
            raise SpecError(f"{where}: {name} must be a list of numbers; got {value!r}")
        table[key] = items


def spec_from_dict(raw: dict[str, Any], path: Path) -> Spec:
    """Validate a spec given as a dictionary (the parsed TOML).

    ``path`` names it in messages and anchors relative CSV paths (its folder); the command
    line's ``fit`` passes the CSV itself, so messages name the user's own file.
    """
    _check_keys(raw, "", path.name)
    for section in _SCHEMA:
        if section and "." not in section and section in raw:
            if not isinstance(raw[section], dict):
                raise SpecError(f"{path.name}: [{section}] must be a table")
            _check_keys(raw[section], section, path.name)
    _check_types(raw, path.name)
    _check_tables(raw, path.name)
    _check_small_study(raw, path.name)
    if "thresholds" in raw.get("report", {}):
        try:
            raw["report"]["thresholds"] = list(
                check_thresholds(raw["report"]["thresholds"], "[report] thresholds")
            )
        except InputError as err:
            raise SpecError(f"{path.name}: {err}") from None
    simulation_of_nested = raw.get("nested", {}).get("simulation")
    if simulation_of_nested is not None:
        if not isinstance(simulation_of_nested, dict):
            raise SpecError(f"{path.name}: [nested.simulation] must be a table")
        _check_keys(simulation_of_nested, "nested.simulation", path.name)
        for key, value in simulation_of_nested.items():
            items = value if key == "hr" and isinstance(value, list) else [value]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
                raise SpecError(
                    f"{path.name}: [nested.simulation] {key} must be a number; got {value!r}"
                )
    if "nested" in raw and not ({"dataset", "csv", "simulation"} & set(raw["nested"])):
        raise SpecError(f"{path.name}: [nested] needs 'dataset', 'csv' or a [nested.simulation]")
    data = raw.get("data", {})
    simulation = raw.get("simulation")
    if (
        simulation is None
        and not ({"dataset", "csv", "revman"} & set(data))
        and "nested" not in raw
    ):
        raise SpecError(
            f"{path.name}: [data] needs 'dataset' (one of the bundled datasets), 'csv' or "
            "'revman' (a RevMan 5 file), or give a [simulation]"
        )
    engines = raw.get("engines", {})
    bayes = engines.get("bayesian", ["exact"])
    for engine in bayes:
        if engine not in BAYESIAN_ENGINES:
            raise SpecError(
                f"{path.name}: [engines] bayesian has {engine!r}; valid: {', '.join(map(repr, BAYESIAN_ENGINES))}"
            )
    spec = Spec(
        path=path,
        title=str(raw.get("title", path.stem)),
        description=str(raw.get("description", "")),
        data=data,
        model=raw.get("model", {}),
        priors=raw.get("priors", {}),
        engines={
            "bayesian": list(bayes),
            "frequentist": list(engines.get("frequentist", ["DL", "REML"])),
            "ci": list(engines.get("ci", ["wald", "knapp-hartung"])),
        },
        nuts=raw.get("nuts", {}),
        sensitivity=raw.get("sensitivity"),
        simulation=simulation,
        influence=raw.get("influence"),
        cumulative=raw.get("cumulative"),
        report=raw.get("report", {}),
        nested=raw.get("nested"),
        small_study=raw.get("small_study"),
    )
    spec.mu_prior(), spec.tau_prior(), spec.beta_prior()  # validate priors now
    _ = spec.ci_level  # and the report's level
    return spec
