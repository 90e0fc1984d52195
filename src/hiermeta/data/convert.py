"""Turn study results as papers report them into :class:`EffectData`, with forensic checks.

Every converter checks its input and raises :class:`~hiermeta.errors.InputError` naming the
study and the value. Rows that cannot enter an inverse-variance model (for example an HR
reported with only "p < 0.05") are either an error (``on_unusable="raise"``, the default) or
excluded *and listed* in ``EffectData.excluded`` with the reason, with a warning
(``on_unusable="exclude"``). Nothing is dropped silently.

Duplicate study labels are an error by default, because a repeated label usually means a
study was entered twice; pass ``duplicates="suffix"`` to keep every row and make labels
unique as ``"Lane 2019 [2]"`` (use a ``cluster`` column to model estimates that share a cohort).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special, stats

from hiermeta.data.effects import ADDITIVE_MEASURES, RATIO_MEASURES, EffectData
from hiermeta.errors import (
    AsymmetricCIWarning,
    ExcludedStudiesWarning,
    InputError,
    check_level,
    unknown_option,
)

__all__ = [
    "CONVERTERS",
    "convert",
    "converter_arguments",
    "from_2x2",
    "from_correlations",
    "from_events",
    "from_log_se",
    "from_means",
    "from_oe_v",
    "from_proportions",
    "from_ratio_ci",
    "from_ratio_p",
    "read_2x2",
]

OnUnusable = Literal["raise", "exclude"]
Duplicates = Literal["error", "suffix"]


# ---------------------------------------------------------------------------- table helpers
def _labels(raw: pd.Series, column: str) -> list[str]:
    """Study labels as text (stripped); a missing or blank one is an error naming its row."""
    if pd.api.types.is_string_dtype(raw.dtype) and not raw.isna().any():
        stripped = raw.astype(str).str.strip()
        if not (stripped == "").any():  # the common case in one vectorised pass
            return stripped.tolist()
    for i, value in enumerate(raw):
        if pd.isna(value) or str(value).strip() == "":
            raise InputError(f"row {i + 1}: study label in column {column!r} is missing")
    return [str(v).strip() for v in raw]


class _Table:
    """A checked view of the user's DataFrame: labels, numeric columns, messages."""

    def __init__(
        self,
        df: pd.DataFrame,
        study: str | None,
        columns: Sequence[str | None],
        duplicates: Duplicates,
    ) -> None:
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
        if duplicates not in ("error", "suffix"):
            raise unknown_option("duplicates", duplicates, ["error", "suffix"])
        needed = [c for c in [study, *columns] if c is not None]
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise InputError(
                f"column {missing[0]!r} not found; the table has columns "
                f"{[str(c) for c in df.columns]}"
            )
        if len(df) == 0:
            raise InputError("the table is empty: no studies to analyse")
        self.df = df.reset_index(drop=True)
        if study is None:
            labels = [f"Study {i + 1}" for i in range(len(df))]
        else:
            labels = _labels(self.df[study], study)
        self.labels = _dedupe(labels, duplicates)

    def who(self, i: int) -> str:
        return f"study {self.labels[i]!r}"

    def numeric(self, column: str, *, allow_missing: bool = False) -> np.ndarray:
        """Column as floats; text is an error naming the study and the value."""
        series = self.df[column]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype
        ):  # a clean numeric column in one step; otherwise the loop finds the bad row
            values = series.to_numpy(dtype=float, na_value=np.nan)
            bad = np.isinf(values) if allow_missing else ~np.isfinite(values)
            if not bad.any():
                return values
        values = np.full(len(self.df), np.nan)
        for i, raw in enumerate(self.df[column]):
            if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw is pd.NA:
                if not allow_missing:
                    raise InputError(f"{self.who(i)}: {column!r} is missing (NaN)")
                continue
            if isinstance(raw, bool | np.bool_):
                raise InputError(f"{self.who(i)}: {column!r} is {raw!r}, not a number")
            try:
                value = float(str(raw).strip()) if isinstance(raw, str) else float(raw)
            except (TypeError, ValueError):
                if allow_missing and isinstance(raw, str) and raw.strip() == "":
                    continue
                raise InputError(
                    f"{self.who(i)}: {column!r} is {raw!r}, which is not a number"
                ) from None
            if math.isnan(value) and not allow_missing:
                raise InputError(f"{self.who(i)}: {column!r} is missing (NaN)")
            if math.isinf(value):
                raise InputError(f"{self.who(i)}: {column!r} is {raw!r}, which is not finite")
            values[i] = value
        return values

    def flags(self, column: str | Sequence[str] | None) -> np.ndarray:
        """A boolean per row from a column of true/false or from a list of study labels."""
        n = len(self.df)
        if column is None:
            return np.zeros(n, dtype=bool)
        if isinstance(column, str) and column in self.df.columns:
            out = np.zeros(n, dtype=bool)
            for i, raw in enumerate(self.df[column]):
                text = str(raw).strip().lower()
                if text in ("true", "1", "yes", "1.0"):
                    out[i] = True
                elif text in ("false", "0", "no", "", "nan", "none", "0.0", "<na>"):
                    out[i] = False
                else:
                    raise InputError(
                        f"{self.who(i)}: {column!r} is {raw!r}; use true/false (or 1/0)"
                    )
            return out
        names = [column] if isinstance(column, str) else list(column)
        unknown = [s for s in names if s not in self.labels]
        if unknown:
            raise InputError(
                f"invert names study {unknown[0]!r}, which is neither a column nor a study; "
                f"studies are {self.labels}"
            )
        return np.array([label in names for label in self.labels])

    def covariates(self, names: Sequence[str] | None, keep: np.ndarray) -> pd.DataFrame:
        if not names:
            return pd.DataFrame(index=range(int(keep.sum())))
        names = [names] if isinstance(names, str) else list(names)
        missing = [c for c in names if c not in self.df.columns]
        if missing:
            raise InputError(
                f"covariate column {missing[0]!r} not found; the table has columns "
                f"{[str(c) for c in self.df.columns]}"
            )
        frame = self.df.loc[keep, names].reset_index(drop=True)
        labels = [lab for lab, k in zip(self.labels, keep, strict=True) if k]
        for column in names:
            for i, value in enumerate(frame[column]):
                if pd.isna(value) or (isinstance(value, str) and not value.strip()):
                    raise InputError(f"study {labels[i]!r}: covariate {column!r} is missing")
        return frame

    def cluster(self, column: str | None, keep: np.ndarray) -> tuple[str, ...] | None:
        if column is None:
            return None
        if column not in self.df.columns:
            raise InputError(
                f"cluster column {column!r} not found; the table has columns "
                f"{[str(c) for c in self.df.columns]}"
            )
        values = self.df.loc[keep, column].tolist()
        labels = [lab for lab, k in zip(self.labels, keep, strict=True) if k]
        for label, value in zip(labels, values, strict=True):
            if pd.isna(value) or not str(value).strip():
                raise InputError(f"study {label!r}: cluster {column!r} is missing")
        return tuple(str(v).strip() for v in values)


def _dedupe(labels: list[str], duplicates: Duplicates) -> list[str]:
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    repeated = sorted(lab for lab, n in seen.items() if n > 1)
    if not repeated:
        return labels
    if duplicates == "error":
        raise InputError(
            f"duplicate study labels {repeated}: each row must be a distinct estimate. "
            "Make the labels unique, or pass duplicates='suffix' to number them "
            "(and a cluster column to model estimates from one cohort)"
        )
    counter: dict[str, int] = {}
    out = []
    for label in labels:
        counter[label] = counter.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} [{counter[label]}]")
    return out


def _check_measure(measure: str, allowed: Sequence[str]) -> str:
    if not isinstance(measure, str) or measure.upper() not in [m.upper() for m in allowed]:
        raise unknown_option("measure", measure, allowed)
    return next(m for m in allowed if m.upper() == measure.upper())


def _decimals(value: float) -> int:
    """Printed decimals of a transcribed number (0.66 → 2)."""
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 0
    return len(text.split(".")[1].rstrip("0"))


#: Floor of the rounding slack on the log scale: a CI computed and stored at full double
#: precision is symmetric only up to the round-off of log/exp (about 1e-16 relative).
FLOAT_SLACK = 1e-12


def _rounding_slack(value: float) -> float:
    """Largest log-scale change caused by rounding ``value`` at its printed precision."""
    return max(0.5 * 10.0 ** (-_decimals(value)) / value, FLOAT_SLACK)


def _finish(
    table: _Table,
    y: np.ndarray,
    se: np.ndarray,
    measure: str,
    usable: np.ndarray,
    reasons: list[str],
    conversions: list[str],
    covariates: Sequence[str] | None,
    cluster: str | None,
    on_unusable: OnUnusable,
    outcome_sd: float | None = None,
) -> EffectData:
    if on_unusable not in ("raise", "exclude"):
        raise unknown_option("on_unusable", on_unusable, ["raise", "exclude"])
    bad = np.flatnonzero(~usable)
    if bad.size and on_unusable == "raise":
        listing = "; ".join(f"{table.who(int(i))}: {reasons[i]}" for i in bad)
        raise InputError(
            f"{bad.size} row(s) cannot enter an inverse-variance model — {listing}. "
            "Fix them, or pass on_unusable='exclude' to drop them with this reason recorded."
        )
    excluded = pd.DataFrame(
        {"study": [table.labels[i] for i in bad], "reason": [reasons[i] for i in bad]},
        dtype=object,
    )
    if bad.size:
        warnings.warn(
            f"excluded {bad.size} row(s) that cannot enter an inverse-variance model: "
            + "; ".join(f"{s}: {r}" for s, r in zip(excluded.study, excluded.reason, strict=True)),
            ExcludedStudiesWarning,
            stacklevel=3,
        )
    if not usable.any():
        raise InputError("no usable studies: every row was excluded (see the reasons above)")
    return EffectData(
        study=tuple(lab for lab, ok in zip(table.labels, usable, strict=True) if ok),
        y=y[usable],
        se=se[usable],
        measure=measure,
        covariates=table.covariates(covariates, usable),
        cluster=table.cluster(cluster, usable),
        conversions=tuple(c for c, ok in zip(conversions, usable, strict=True) if ok),
        excluded=excluded,
        outcome_sd=outcome_sd,
    )


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


# ---------------------------------------------------------------------------- converters
def from_ratio_ci(
    df: pd.DataFrame,
    estimate: str,
    lower: str,
    upper: str,
    study: str | None = None,
    ci_level: float | str = 0.95,
    measure: str = "HR",
    covariates: Sequence[str] | None = None,
    *,
    cluster: str | None = None,
    invert: str | Sequence[str] | None = None,
    p: str | None = None,
    on_unusable: OnUnusable = "raise",
    duplicates: Duplicates = "error",
) -> EffectData:
    """Ratios (HR, OR, RR) reported with a confidence interval.

    The log ratio is ``y = ln(estimate)`` and its standard error is
    ``SE = (ln upper − ln lower) / (2·z)`` with ``z`` the normal quantile of the CI level
    (1.959964 for 95%, 1.644854 for 90%).

    Parameters
    ----------
    df
        One row per estimate.
    estimate, lower, upper
        Columns with the ratio and its CI bounds (ratio scale).
    study
        Column with study labels (default ``"Study 1"``, ``"Study 2"``, …).
    ci_level
        CI level as a fraction, or the name of a column holding it per row (90% CIs are
        common in trial reports).
    measure
        ``"HR"``, ``"OR"``, ``"RR"``, ``"IRR"`` or ``"ROM"``.
    covariates
        Columns to keep as study-level covariates (moderators, subgroups).
    cluster
        Column naming the cohort/trial of each estimate, for multilevel models.
    invert
        A boolean column, or a list of study labels, whose comparison is reversed:
        the ratio becomes ``1/ratio`` and the CI bounds are swapped.
    p
        Optional column of exact two-sided p-values, used for rows without a CI
        (see :func:`from_ratio_p`).
    on_unusable
        ``"raise"`` (default) or ``"exclude"`` rows that cannot enter the model (no CI and
        no exact p); excluded rows are listed in ``EffectData.excluded``.
    duplicates
        ``"error"`` (default) or ``"suffix"``; see the module notes.

    Returns
    -------
    EffectData
    """
    measure = _check_measure(measure, RATIO_MEASURES)
    level_column = ci_level if isinstance(ci_level, str) else None
    table = _Table(df, study, [estimate, lower, upper, level_column, p], duplicates)
    n = len(table.df)
    est = table.numeric(estimate, allow_missing=True)
    lo = table.numeric(lower, allow_missing=True)
    hi = table.numeric(upper, allow_missing=True)
    # p-values may be printed as inequalities ("<0.05"): those are not exact and stay NaN
    pvals = np.array([_exact_p(v) for v in table.df[p]]) if p else np.full(n, np.nan)
    if level_column is None:
        levels = np.full(n, check_level(ci_level))
    else:
        levels = table.numeric(level_column, allow_missing=True)
    flip = table.flags(invert)
    y = np.full(n, np.nan)
    se = np.full(n, np.nan)
    usable = np.ones(n, dtype=bool)
    reasons = [""] * n
    conversions = [""] * n
    for i in range(n):
        who = table.who(i)
        if np.isnan(est[i]):
            usable[i], reasons[i] = False, f"{estimate!r} is missing"
            continue
        if est[i] <= 0:
            raise InputError(f"{who}: {measure} {est[i]:g} must be positive")
        if np.isnan(lo[i]) and np.isnan(hi[i]):  # no CI: an exact p-value, or unusable
            raw_p = table.df[p][i] if p else None
            row = _p_only_row(who, est[i], pvals[i], raw_p, bool(flip[i]), measure)
        elif np.isnan(lo[i]) or np.isnan(hi[i]):
            raise InputError(f"{who}: only one CI bound is given ({lo[i]:g}, {hi[i]:g})")
        else:
            if np.isnan(levels[i]):
                raise InputError(f"{who}: CI level in column {level_column!r} is missing")
            row = _ci_row(who, est[i], lo[i], hi[i], levels[i], bool(flip[i]), measure)
        if isinstance(row, str):
            usable[i], reasons[i] = False, row
        else:
            y[i], se[i], conversions[i] = row
    return _finish(
        table, y, se, measure, usable, reasons, conversions, covariates, cluster, on_unusable
    )


def _p_only_row(
    who: str, estimate: float, p_exact: float, raw_p: Any, flip: bool, measure: str
) -> tuple[float, float, str] | str:
    """(log ratio, SE, how) from an exact p-value, or the reason the row is unusable."""
    if np.isnan(p_exact):
        shown = f" (reported p: {raw_p!r})" if raw_p is not None and not pd.isna(raw_p) else ""
        return f"no confidence interval and no exact p-value{shown}"
    y, se = _ratio_p_row(who, estimate, p_exact, measure)
    how = f"SE from the exact two-sided p = {p_exact:g}"
    return (-y, se, how + "; direction inverted") if flip else (y, se, how)


def _ci_row(
    who: str, est: float, lo: float, hi: float, level: float, flip: bool, measure: str
) -> tuple[float, float, str]:
    """(log ratio, SE, how) from a ratio and its CI, after the forensic checks."""
    if lo <= 0 or hi <= 0:
        raise InputError(f"{who}: CI bound {min(lo, hi):g} must be positive")
    if lo >= hi:
        raise InputError(f"{who}: lower CI {lo:g} is not below upper {hi:g} (bounds swapped?)")
    if not lo <= est <= hi:
        raise InputError(f"{who}: {measure} {est:g} lies outside its own CI {lo:g}–{hi:g}")
    level = check_level(level)
    z = _z(level)
    log_est, log_lo, log_hi = math.log(est), math.log(lo), math.log(hi)
    asymmetry = abs(log_est - (log_lo + log_hi) / 2)
    slack = _rounding_slack(est) + (_rounding_slack(lo) + _rounding_slack(hi)) / 2
    if asymmetry > slack * 1.000001:
        warnings.warn(
            f"{who}: the {level:.0%} CI {lo:g}–{hi:g} is not symmetric around "
            f"{measure} {est:g} on the log scale beyond rounding (log-midpoint "
            f"{math.exp((log_lo + log_hi) / 2):.3g}); check the transcription. "
            "The SE is taken from the CI width.",
            AsymmetricCIWarning,
            stacklevel=3,
        )
    se = (log_hi - log_lo) / (2 * z)
    how = f"SE = (ln U − ln L) / (2 × {z:.4f}) from the {level:.0%} CI"
    if not flip:
        return log_est, se, how
    inverted = (
        f"; direction inverted: {measure} {est:g} ({lo:g}–{hi:g}) → "
        f"{1 / est:.3g} ({1 / hi:.3g}–{1 / lo:.3g})"
    )
    return -log_est, se, how + inverted


def _exact_p(raw: object) -> float:
    """An exact p-value, or NaN for blanks and inequalities such as '<0.05'."""
    try:
        return float(str(raw).strip())
    except (TypeError, ValueError):
        return math.nan


def _ratio_p_row(who: str, estimate: float, p: float, measure: str) -> tuple[float, float]:
    if not 0 < p < 1:
        raise InputError(f"{who}: p-value {p:g} must lie strictly between 0 and 1")
    if estimate == 1:
        raise InputError(f"{who}: {measure} = 1 with p = {p:g} carries no information on the SE")
    z = float(stats.norm.isf(p / 2))
    y = math.log(estimate)
    return y, abs(y) / z


def from_ratio_p(
    df: pd.DataFrame,
    estimate: str,
    p: str,
    study: str | None = None,
    measure: str = "HR",
    covariates: Sequence[str] | None = None,
    *,
    cluster: str | None = None,
    invert: str | Sequence[str] | None = None,
    on_unusable: OnUnusable = "raise",
    duplicates: Duplicates = "error",
) -> EffectData:
    """Ratios reported with an exact two-sided p-value (from a Wald test) and no CI.

    ``SE = |ln estimate| / z`` with ``z = Φ⁻¹(1 − p/2)``. A p-value given as an inequality
    (``"<0.05"``) is not exact: such rows are unusable (see ``on_unusable``).
    """
    measure = _check_measure(measure, RATIO_MEASURES)
    table = _Table(df, study, [estimate, p], duplicates)
    n = len(table.df)
    est = table.numeric(estimate, allow_missing=True)
    flip = table.flags(invert)
    y = np.full(n, np.nan)
    se = np.full(n, np.nan)
    usable = np.ones(n, dtype=bool)
    reasons = [""] * n
    conversions = [""] * n
    for i in range(n):
        raw = table.df[p][i]
        try:
            p_value = float(raw)
        except (TypeError, ValueError):
            p_value = math.nan
        if np.isnan(est[i]):
            usable[i], reasons[i] = False, f"{estimate!r} is missing"
            continue
        if est[i] <= 0:
            raise InputError(f"{table.who(i)}: {measure} {est[i]:g} must be positive")
        if math.isnan(p_value):
            usable[i], reasons[i] = False, f"p-value {raw!r} is not an exact number"
            continue
        y[i], se[i] = _ratio_p_row(table.who(i), est[i], p_value, measure)
        conversions[i] = f"SE from the exact two-sided p = {p_value:g}"
        if flip[i]:
            y[i] = -y[i]
            conversions[i] += "; direction inverted"
    return _finish(
        table, y, se, measure, usable, reasons, conversions, covariates, cluster, on_unusable
    )


def from_log_se(
    df: pd.DataFrame,
    y: str,
    se: str | None = None,
    variance: str | None = None,
    study: str | None = None,
    measure: str = "HR",
    covariates: Sequence[str] | None = None,
    *,
    cluster: str | None = None,
    duplicates: Duplicates = "error",
) -> EffectData:
    """Estimates already on the analysis scale (log ratio, or an additive measure).

    Give exactly one of ``se`` (standard error) or ``variance`` (sampling variance).
    """
    allowed = RATIO_MEASURES + ADDITIVE_MEASURES
    measure = _check_measure(measure, allowed)
    if (se is None) == (variance is None):
        raise InputError("give exactly one of se= or variance=")
    spread = str(se if se is not None else variance)
    table = _Table(df, study, [y, spread], duplicates)
    values = table.numeric(y)
    spreads = table.numeric(spread)
    name = "standard error" if se is not None else "variance"
    for i, value in enumerate(spreads):
        if value <= 0:
            raise InputError(f"{table.who(i)}: {name} {value:g} in {spread!r} must be positive")
    errors = spreads if se is not None else np.sqrt(spreads)
    if measure in RATIO_MEASURES:
        for i, value in enumerate(values):
            if abs(value) > 50:  # e^50 ≈ 5e21: no ratio is that large
                raise InputError(
                    f"{table.who(i)}: log {measure} {value:g} is not a plausible log ratio "
                    f"(a {measure} of e^{value:g}); did you pass the {measure} itself instead of its log?"
                )
    n = len(values)
    how = "given SE" if se is not None else "SE = √variance"
    return _finish(
        table,
        values,
        errors,
        measure,
        np.ones(n, dtype=bool),
        [""] * n,
        [how] * n,
        covariates,
        cluster,
        "raise",
    )


def from_oe_v(
    df: pd.DataFrame,
    o_minus_e: str,
    v: str,
    study: str | None = None,
    covariates: Sequence[str] | None = None,
    *,
    cluster: str | None = None,
    duplicates: Duplicates = "error",
) -> EffectData:
    """Peto's one-step log hazard ratio from the log-rank O − E and its variance V.

    ``log HR = (O − E) / V`` and ``var = 1 / V`` (Yusuf et al. 1985; Tierney et al. 2007).
    """
    table = _Table(df, study, [o_minus_e, v], duplicates)
    oe = table.numeric(o_minus_e)
    var = table.numeric(v)
    for i, value in enumerate(var):
        if value <= 0:
            raise InputError(f"{table.who(i)}: log-rank variance V = {value:g} must be positive")
    n = len(oe)
    return _finish(
        table,
        oe / var,
        1 / np.sqrt(var),
        "HR",
        np.ones(n, dtype=bool),
        [""] * n,
        ["Peto: log HR = (O−E)/V, var = 1/V"] * n,
        covariates,
        cluster,
        "raise",
    )


def from_2x2(
    df: pd.DataFrame,
    ai: str,
    bi: str,
    ci: str,
    di: str,
    study: str | None = None,
    measure: str = "OR",
    covariates: Sequence[str] | None = None,
    *,
    add: float = 0.5,
    to: Literal["only0", "all", "none"] = "only0",
    drop00: bool = False,
    cluster: str | None = None,
    duplicates: Duplicates = "error",
) -> EffectData:
    """Odds ratio, risk ratio or risk difference from 2×2 counts (as metafor's ``escalc``).

    Parameters
    ----------
    ai, bi
        Events and non-events in the treatment (first) group.
    ci, di
        Events and non-events in the control (second) group.
    measure
        ``"OR"`` (log odds ratio), ``"RR"`` (log risk ratio) or ``"RD"`` (risk difference).
    add, to
        Continuity correction: ``add`` is added to every cell of the studies selected by
        ``to`` — ``"only0"`` (studies with a zero cell; the default, as escalc), ``"all"`` or
        ``"none"``.
    drop00
        Exclude (and list in ``EffectData.excluded``) studies with no events in either group
        or only events in both (escalc's ``drop00``; default False, as escalc: such a study
        is kept with the continuity correction).
    """
    measure = _check_measure(measure, ("OR", "RR", "RD"))
    if to not in ("only0", "all", "none"):
        raise unknown_option("to", to, ["only0", "all", "none"])
    table = _Table(df, study, [ai, bi, ci, di], duplicates)
    cells = _cells(table, (ai, bi, ci, di))
    has_zero = (cells == 0).any(axis=1)
    corrected = {
        "only0": has_zero,
        "all": np.ones(len(cells), bool),
        "none": np.zeros(len(cells), bool),
    }[to]
    a, b, c, d = (cells + np.where(corrected, add, 0.0)[:, None]).T
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            y = np.log(a * d / (b * c))
            var = 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RR":
            y = np.log((a / n1) / (c / n2))
            var = 1 / a - 1 / n1 + 1 / c - 1 / n2
        else:
            p1, p2 = a / n1, c / n2
            y = p1 - p2
            var = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    usable = np.isfinite(y) & np.isfinite(var) & (var > 0)
    reasons = [
        ""
        if ok
        else f"zero cells {row.astype(int).tolist()} give no finite {measure} "
        "(use a continuity correction)"
        for ok, row in zip(usable, cells, strict=True)
    ]
    if drop00:
        double = ((cells[:, 0] == 0) & (cells[:, 2] == 0)) | (
            (cells[:, 1] == 0) & (cells[:, 3] == 0)
        )
        for j in np.flatnonzero(double):
            usable[j] = False
            reasons[j] = "no events in either group, or only events (drop00)"
    conversions = [
        f"{measure} from 2×2 counts" + (f" (+{add:g} continuity correction)" if cc else "")
        for cc in corrected
    ]
    return _finish(
        table,
        np.where(usable, y, np.nan),
        np.sqrt(np.where(usable, var, np.nan)),
        measure,
        usable,
        reasons,
        conversions,
        covariates,
        cluster,
        "exclude" if drop00 else "raise",
    )


def from_events(
    df: pd.DataFrame,
    events1: str,
    n1: str,
    events2: str,
    n2: str,
    study: str | None = None,
    measure: str = "OR",
    covariates: Sequence[str] | None = None,
    *,
    add: float = 0.5,
    to: Literal["only0", "all", "none"] = "only0",
    drop00: bool = False,
    cluster: str | None = None,
    duplicates: Duplicates = "error",
) -> EffectData:
    """OR, RR or RD from events and group sizes (escalc's ``ai, n1i, ci, n2i``): the 2×2
    table is ``events1, n1 − events1, events2, n2 − events2``; see :func:`from_2x2`."""
    table = _Table(df, study, [events1, n1, events2, n2], duplicates)
    x1, x2 = _counts(table, events1), _counts(table, events2)
    t1, t2 = _counts(table, n1, 1), _counts(table, n2, 1)
    for i in range(len(x1)):
        for x, t, xn, tn in ((x1[i], t1[i], events1, n1), (x2[i], t2[i], events2, n2)):
            if x > t:
                raise InputError(
                    f"{table.who(i)}: {x:g} events in a group of {t:g} ({xn!r} > {tn!r})"
                )
    cells = pd.DataFrame({"_a": x1, "_b": t1 - x1, "_c": x2, "_d": t2 - x2, "_study": table.labels})
    kept = [covariates] if isinstance(covariates, str) else list(covariates or [])
    for name in [*kept, *([cluster] if cluster else [])]:
        if name not in table.df.columns:
            raise InputError(
                f"column {name!r} not found; the table has columns {[str(c) for c in table.df.columns]}"
            )
        cells[name] = table.df[name].to_numpy()
    return from_2x2(
        cells,
        "_a",
        "_b",
        "_c",
        "_d",
        "_study",
        measure,
        covariates,
        add=add,
        to=to,
        drop00=drop00,
        cluster=cluster,
    )


def _counts(table: _Table, column: str, at_least: int = 0) -> np.ndarray:
    """A column of whole numbers ≥ ``at_least``, checked study by study."""
    values = table.numeric(column)
    for i, value in enumerate(values):
        if value < at_least or value != math.floor(value):
            raise InputError(
                f"{table.who(i)}: count {column!r} = {value:g} must be a whole number ≥ {at_least}"
            )
    return values


def from_means(
    df: pd.DataFrame,
    m1: str,
    sd1: str,
    n1: str,
    m2: str,
    sd2: str,
    n2: str,
    study: str | None = None,
    measure: str = "SMD",
    covariates: Sequence[str] | None = None,
    *,
    cluster: str | None = None,
    duplicates: Duplicates = "error",
) -> EffectData:
    """Mean difference, standardised mean difference or ratio of means from group means,
    SDs and sizes (as metafor's ``escalc`` with its default ``vtype="LS"``).

    * ``"MD"``: ``y = m1 − m2``, ``var = sd1²/n1 + sd2²/n2``.
    * ``"SMD"``: Hedges' g, ``y = c(m)·(m1 − m2)/s_p`` with the pooled SD
      ``s_p = √(((n1−1)sd1² + (n2−1)sd2²)/m)``, ``m = n1 + n2 − 2`` and the exact bias
      correction ``c(m) = Γ(m/2) / (√(m/2)·Γ((m−1)/2))`` (Hedges 1981);
      ``var = 1/n1 + 1/n2 + y²/(2(n1 + n2))``.
    * ``"ROM"``: ``y = ln(m1/m2)``, ``var = sd1²/(n1·m1²) + sd2²/(n2·m2²)`` (both means
      must be positive).

    For an MD the outcome's SD (median of the studies' pooled SDs) is kept as
    ``EffectData.outcome_sd``: the default priors are stated in that unit.
    """
    measure = _check_measure(measure, ("MD", "SMD", "ROM"))
    table = _Table(df, study, [m1, sd1, n1, m2, sd2, n2], duplicates)
    mean1, mean2 = table.numeric(m1), table.numeric(m2)
    size1, size2 = _counts(table, n1, 1), _counts(table, n2, 1)
    spread1, spread2 = table.numeric(sd1), table.numeric(sd2)
    for i in range(len(mean1)):
        for column, value in ((sd1, spread1[i]), (sd2, spread2[i])):
            if value <= 0:
                raise InputError(
                    f"{table.who(i)}: standard deviation {column!r} = {value:g} must be positive"
                )
        if measure == "SMD" and size1[i] + size2[i] < 4:
            raise InputError(
                f"{table.who(i)}: an SMD needs n1 + n2 ≥ 4 for its bias correction; got "
                f"{size1[i]:g} + {size2[i]:g}"
            )
        if measure == "ROM" and (mean1[i] <= 0 or mean2[i] <= 0):
            raise InputError(
                f"{table.who(i)}: a ratio of means needs positive means; got {mean1[i]:g} and "
                f"{mean2[i]:g}"
            )
    m = size1 + size2 - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = np.sqrt(((size1 - 1) * spread1**2 + (size2 - 1) * spread2**2) / m)
    if measure == "MD":
        y = mean1 - mean2
        var = spread1**2 / size1 + spread2**2 / size2
        how = "MD = m1 − m2, var = sd1²/n1 + sd2²/n2"
    elif measure == "SMD":
        correction = np.exp(
            special.gammaln(m / 2) - np.log(np.sqrt(m / 2)) - special.gammaln((m - 1) / 2)
        )
        y = correction * (mean1 - mean2) / pooled
        var = 1 / size1 + 1 / size2 + y**2 / (2 * (size1 + size2))
        how = "Hedges' g (exact bias correction), var = 1/n1 + 1/n2 + g²/(2N)"
    else:
        y = np.log(mean1 / mean2)
        var = spread1**2 / (size1 * mean1**2) + spread2**2 / (size2 * mean2**2)
        how = "ROM = ln(m1/m2), var = sd1²/(n1·m1²) + sd2²/(n2·m2²)"
    n = len(y)
    finite = pooled[np.isfinite(pooled) & (pooled > 0)]
    outcome_sd = float(np.median(finite)) if measure == "MD" and finite.size else None
    return _finish(
        table,
        y,
        np.sqrt(var),
        measure,
        np.ones(n, dtype=bool),
        [""] * n,
        [how] * n,
        covariates,
        cluster,
        "raise",
        outcome_sd,
    )


def from_proportions(
    df: pd.DataFrame,
    events: str,
    n: str,
    study: str | None = None,
    measure: str = "PLO",
    covariates: Sequence[str] | None = None,
    *,
    add: float = 0.5,
    to: Literal["only0", "all", "none"] = "only0",
    cluster: str | None = None,
    duplicates: Duplicates = "error",
) -> EffectData:
    """Single-group proportions from events and group sizes (as metafor's ``escalc``).

    * ``"PLO"``: logit proportion, ``y = ln(x/(n − x))``, ``var = 1/x + 1/(n − x)``.
    * ``"PR"``: raw proportion, ``y = x/n``, ``var = p(1 − p)/n``.

    ``add`` is added to the events and non-events of the studies selected by ``to``
    (``"only0"``: none or all of the group had the event; as escalc).
    """
    measure = _check_measure(measure, ("PLO", "PR"))
    if to not in ("only0", "all", "none"):
        raise unknown_option("to", to, ["only0", "all", "none"])
    table = _Table(df, study, [events, n], duplicates)
    x = _counts(table, events)
    size = _counts(table, n, 1)
    for i in range(len(x)):
        if x[i] > size[i]:
            raise InputError(
                f"{table.who(i)}: {x[i]:g} events in a group of {size[i]:g} ({events!r} > {n!r})"
            )
    edge = (x == 0) | (x == size)
    corrected = {"only0": edge, "all": np.ones(len(x), bool), "none": np.zeros(len(x), bool)}[to]
    shift = np.where(corrected, add, 0.0)
    xc, rest = x + shift, size - x + shift
    total = xc + rest
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "PLO":
            y = np.log(xc / rest)
            var = 1 / xc + 1 / rest
        else:
            p = xc / total
            y, var = p, p * (1 - p) / total
    usable = np.isfinite(y) & np.isfinite(var) & (var > 0)
    reasons = [
        ""
        if ok
        else f"{int(xi)} of {int(ni)} events give no finite {measure} (use a continuity correction)"
        for ok, xi, ni in zip(usable, x, size, strict=True)
    ]
    conversions = [
        f"{measure} from {int(xi)}/{int(ni)}" + (f" (+{add:g} continuity correction)" if cc else "")
        for xi, ni, cc in zip(x, size, corrected, strict=True)
    ]
    return _finish(
        table,
        np.where(usable, y, np.nan),
        np.sqrt(np.where(usable, var, np.nan)),
        measure,
        usable,
        reasons,
        conversions,
        covariates,
        cluster,
        "raise",
    )


def from_correlations(
    df: pd.DataFrame,
    r: str,
    n: str,
    study: str | None = None,
    measure: str = "ZCOR",
    covariates: Sequence[str] | None = None,
    *,
    cluster: str | None = None,
    duplicates: Duplicates = "error",
) -> EffectData:
    """Correlation coefficients from ``r`` and the sample size (as metafor's ``escalc``).

    * ``"ZCOR"``: Fisher's z, ``y = atanh(r)``, ``var = 1/(n − 3)``; results are reported back
      as correlations (``tanh``).
    * ``"COR"``: raw correlation, ``y = r``, ``var = (1 − r²)²/(n − 1)``.
    """
    measure = _check_measure(measure, ("ZCOR", "COR"))
    table = _Table(df, study, [r, n], duplicates)
    rho = table.numeric(r)
    size = _counts(table, n, 4)
    for i, value in enumerate(rho):
        if not -1 < value < 1:
            raise InputError(
                f"{table.who(i)}: correlation {r!r} = {value:g} must lie strictly between −1 and 1"
            )
    if measure == "ZCOR":
        y, var = np.arctanh(rho), 1 / (size - 3)
        how = "Fisher z = atanh(r), var = 1/(n − 3)"
    else:
        y, var = rho, (1 - rho**2) ** 2 / (size - 1)
        how = "r, var = (1 − r²)²/(n − 1)"
    k = len(y)
    return _finish(
        table,
        y,
        np.sqrt(var),
        measure,
        np.ones(k, dtype=bool),
        [""] * k,
        [how] * k,
        covariates,
        cluster,
        "raise",
    )


def read_2x2(
    df: pd.DataFrame,
    ai: str,
    bi: str,
    ci: str,
    di: str,
    study: str | None = None,
    *,
    duplicates: Duplicates = "error",
) -> tuple[list[str], np.ndarray]:
    """Study labels and the checked k × 4 array of 2×2 counts (events and non-events in the
    first group, then in the second), for methods that pool the counts themselves
    (Mantel–Haenszel, Peto)."""
    table = _Table(df, study, [ai, bi, ci, di], duplicates)
    return table.labels, _cells(table, (ai, bi, ci, di))


def _cells(table: _Table, columns: tuple[str, str, str, str]) -> np.ndarray:
    """The k × 4 counts of a 2×2 table, whole numbers ≥ 0, each group with participants."""
    cells = np.column_stack([_counts(table, c) for c in columns])
    for i, row in enumerate(cells):
        if row[0] + row[1] == 0 or row[2] + row[3] == 0:
            raise InputError(f"{table.who(i)}: a group has no participants ({row.tolist()})")
    return cells


# ================================================================== converters by name
#: Converters by input kind: what specs (``[data] input``), batches and the CLI look up. A new
#: converter is one function in this module plus one line here.
CONVERTERS: dict[str, Callable[..., EffectData]] = {
    "ratio_ci": from_ratio_ci,
    "ratio_p": from_ratio_p,
    "log_se": from_log_se,
    "oe_v": from_oe_v,
    "2x2": from_2x2,
    "events": from_events,
    "means": from_means,
    "proportions": from_proportions,
    "correlations": from_correlations,
}


def converter_arguments(kind: str) -> tuple[list[str], list[str]]:
    """(required, optional) argument names of a converter, the table argument excluded."""
    if kind not in CONVERTERS:
        raise unknown_option("input kind", kind, list(CONVERTERS))
    params = list(inspect.signature(CONVERTERS[kind]).parameters.values())[1:]
    required = [p.name for p in params if p.default is inspect.Parameter.empty]
    optional = [p.name for p in params if p.default is not inspect.Parameter.empty]
    return required, optional


def convert(kind: str, df: pd.DataFrame, **arguments: Any) -> EffectData:
    """Convert a table with the converter registered as ``kind``.

    Arguments the converter does not take are an error listing the ones it takes; missing
    required ones are named.
    """
    required, optional = converter_arguments(kind)
    for name in arguments:
        if name not in required + optional:
            raise unknown_option(f"argument of the {kind!r} input", name, required + optional)
    missing = [name for name in required if name not in arguments]
    if missing:
        raise InputError(f"the {kind!r} input needs {', '.join(map(repr, missing))}")
    return CONVERTERS[kind](df, **arguments)
