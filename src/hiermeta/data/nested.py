"""Nested populations: estimates for "1 organ", "≤ 2 organs", "≤ 3 organs" and "all" patients.

A cohort often reports its treatment effect for several populations defined by the number of
metastatic organs, and these populations are nested (the ≤ 3 group contains the ≤ 2 group). Each
reported estimate is here one row: its cohort, its population (a set of *strata*: exactly 1, 2, 3,
≥ 4 organs) and, where the paper gives it, the population's composition (the share of its
patients in each stratum). :class:`NestedData` holds them with everything the models need:

- ``members`` (J × S): which strata each population contains;
- ``composition`` (J × S): the shares where known (NaN where not);
- :meth:`NestedData.covariance`: the sampling covariance of the estimates. Two estimates of one
  cohort share patients; under the stratified approximation (a population's log HR is the
  information-weighted mean of its strata's), their correlation is
  ``Σ_s sqrt(w_js · w_ks)`` — for nested populations A ⊂ B that is ``sqrt(n_A / n_B)``, the
  classical result for estimates from a sample and a sub-sample. Compositions that are not
  reported enter at their prior mean.

Population text understood (case and spaces ignored): ``"1"``, ``"2"``, ``"3"`` (exactly that
many organs), ``"4+"``, ``">=4"``, ``"≥4"`` (that many or more), ``"<=2"``, ``"≤2"``, ``"1-2"``
(up to two), ``"2-3"`` (a range), ``"2+"``, and ``"all"``/``"any"`` (every stratum).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hiermeta.data.convert import from_log_se, from_ratio_ci
from hiermeta.data.effects import EffectData
from hiermeta.errors import InputError

__all__ = [
    "DEFAULT_STRATA",
    "TYPICAL_COMPOSITION",
    "NestedData",
    "parse_population",
    "read_nested",
    "simulate_nested",
]

#: Number of metastatic organs: exactly 1, 2, 3, and 4 or more.
DEFAULT_STRATA = ("1", "2", "3", "≥4")
#: Typical composition of de novo metastatic breast cancer by number of metastatic organs, the
#: centre of the prior of an unreported composition. The single-organ share, 0.67, is from SEER
#: 2010–2015 (Wang et al., BMC Cancer 2019;19:1091: 66.9% of 18,322 stage IV patients had one
#: metastatic site, 33.1% several). The split of the multi-organ third over 2, 3 and ≥ 4 organs
#: (0.21, 0.09, 0.03) is an assumption of ours (each further organ about a third as frequent),
#: not a published figure: give the composition, or ``typical=``, when you know better.
TYPICAL_COMPOSITION = (0.67, 0.21, 0.09, 0.03)
#: Shares must sum to 1 within this (rounded percentages in papers).
SHARE_TOL = 0.02
#: A nested population's SE may be at most this much smaller than the SE of the population that
#: contains it before the row needs a stated reason (rounding of published CIs).
NESTED_SE_TOL = 0.02

_ALL = re.compile(r"^(all|any|overall|total)$")
_EXACT = re.compile(r"^(\d+)$")
_AT_LEAST = re.compile(r"^(?:(\d+)\+|(?:>=|≥)(\d+))$")
_AT_MOST = re.compile(r"^(?:<=|≤)(\d+)$")
_RANGE = re.compile(r"^(\d+)[-–](\d+)$")


def parse_population(text: object, strata: Sequence[str] = DEFAULT_STRATA) -> np.ndarray:
    """The strata a population contains, as a boolean mask (organ counts 1, 2, …, the last
    stratum being "that many or more")."""
    s = len(strata)
    raw = str(text).strip().lower().replace(" ", "").replace("organs", "").replace("organ", "")
    mask = np.zeros(s, dtype=bool)

    def count(value: str) -> int:
        n = int(value)
        if n < 1:
            raise InputError(f"population {text!r}: organ counts start at 1")
        return min(n, s)  # counts beyond the last stratum fall in it ("≥ 4")

    if _ALL.match(raw):
        mask[:] = True
    elif m := _EXACT.match(raw):
        n = count(m.group(1))
        if int(m.group(1)) >= s:  # "exactly 4" is only part of the last stratum, "≥ 4"
            raise InputError(
                f"population {text!r}: exactly {m.group(1)} organs is not a stratum of "
                f"{list(strata)}; the last stratum is {strata[-1]!r} (write e.g. '{s}+')"
            )
        mask[n - 1] = True
    elif m := _AT_LEAST.match(raw):
        mask[count(m.group(1) or m.group(2)) - 1 :] = True
    elif m := _AT_MOST.match(raw):
        mask[: count(m.group(1))] = True
    elif m := _RANGE.match(raw):
        lo, hi = count(m.group(1)), count(m.group(2))
        if lo > hi:
            raise InputError(f"population {text!r}: the range runs backwards")
        mask[lo - 1 : hi] = True
    else:
        raise InputError(
            f"population {text!r} is not understood; write e.g. '1', '<=2', '2-3', '3+' or 'all' "
            f"(strata: {list(strata)})"
        )
    return mask


@dataclass(frozen=True, eq=False)
class NestedData:
    """Estimates for nested populations (one row each), with their cohorts and compositions."""

    effects: EffectData
    cohort: tuple[str, ...]
    population: tuple[str, ...]
    members: np.ndarray  # (J, S) bool
    composition: np.ndarray  # (J, S) shares; NaN rows where not reported
    strata: tuple[str, ...]
    typical: np.ndarray  # (S,) centre of the prior of unreported compositions

    @property
    def k(self) -> int:
        """Number of reported estimates."""
        return self.effects.k

    @property
    def cohorts(self) -> list[str]:
        """The cohorts, in order of first appearance."""
        return list(dict.fromkeys(self.cohort))

    @property
    def known(self) -> np.ndarray:
        """True for the rows whose composition is reported (or implied: a single stratum)."""
        return ~np.isnan(self.composition).any(axis=1)

    def separately_informed(self) -> list[str]:
        """Strata whose effect the data inform on their own: a population of that stratum
        alone, or two reported populations (any cohorts) that differ by that stratum only.
        The others are informed only through mixed populations and the composition prior."""
        patterns = {tuple(bool(b) for b in m) for m in self.members} | {(False,) * len(self.strata)}
        out = []
        for s, name in enumerate(self.strata):
            for pattern in patterns:
                if pattern[s]:
                    continue
                bigger = tuple(b or i == s for i, b in enumerate(pattern))
                if bigger in patterns:
                    out.append(name)
                    break
        return out

    def prior_mean_composition(self) -> np.ndarray:
        """Compositions with the unreported ones at their prior mean (typical, restricted)."""
        out = self.composition.copy()
        for j in np.flatnonzero(~self.known):
            share = np.where(self.members[j], self.typical, 0.0)
            out[j] = share / share.sum()
        return out

    def covariance(self, composition: np.ndarray | None = None) -> np.ndarray:
        """Sampling covariance of the estimates (J × J): SE² on the diagonal, and between two
        estimates of one cohort ``se_j se_k Σ_s sqrt(w_js w_ks)`` (see the module docstring)."""
        w = self.prior_mean_composition() if composition is None else composition
        root = np.sqrt(np.clip(w, 0.0, None))
        corr = root @ root.T
        cohort = np.array(self.cohort, dtype=object)
        corr = np.where(cohort[:, None] == cohort[None, :], corr, 0.0)
        np.fill_diagonal(corr, 1.0)
        se = self.effects.se
        return corr * np.outer(se, se)

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate: cohort, population, strata, y, se, composition."""
        frame = pd.DataFrame(
            {
                "cohort": list(self.cohort),
                "population": list(self.population),
                "strata": ["+".join(np.array(self.strata)[m]) for m in self.members],
                "y": self.effects.y,
                "se": self.effects.se,
            }
        )
        for s, name in enumerate(self.strata):
            frame[f"share {name}"] = self.composition[:, s]
        return frame


def read_nested(
    frame: pd.DataFrame,
    *,
    cohort: str = "cohort",
    population: str = "population",
    estimate: str | None = None,
    lower: str | None = None,
    upper: str | None = None,
    y: str | None = None,
    se: str | None = None,
    measure: str = "HR",
    ci_level: float = 0.95,
    shares: Mapping[str, str] | Sequence[str] | None = None,
    reason: str | None = None,
    strata: Sequence[str] = DEFAULT_STRATA,
    typical: Sequence[float] | None = None,
) -> NestedData:
    """Read nested-population estimates from a table, with forensic checks.

    Parameters
    ----------
    frame
        One row per reported estimate.
    cohort, population
        Columns naming the cohort and the population (see :func:`parse_population`).
    estimate, lower, upper
        A ratio with its CI (as :func:`hiermeta.from_ratio_ci`); or ``y`` and ``se`` on the
        log scale (as :func:`hiermeta.from_log_se`).
    shares
        Columns holding the population's share of patients in each stratum (in the order of
        ``strata``), blank where not reported; a mapping stratum → column also works.
    reason
        Column explaining why a nested population may have a narrower CI than the population
        containing it (e.g. "different adjustment set"); without a reason that is an error.
    strata
        Stratum labels (default 1, 2, 3, ≥ 4 organs).
    typical
        Centre of the prior of unreported compositions (default :data:`TYPICAL_COMPOSITION`).

    Raises
    ------
    InputError
        Naming the cohort and population: unknown population text, duplicate populations in
        a cohort, shares that do not sum to 1 or lie outside the population, a nested
        population more precise than the one containing it without a reason.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    for name in (cohort, population):
        if name not in frame.columns:
            raise InputError(
                f"column {name!r} not found; the table has columns {[str(c) for c in frame.columns]}"
            )
    strata = tuple(str(s) for s in strata)
    table = frame.reset_index(drop=True).copy()
    cohorts = [str(c).strip() for c in table[cohort]]
    pops = [str(p).strip() for p in table[population]]
    for i, (c, p) in enumerate(zip(cohorts, pops, strict=True)):
        if c in ("", "nan", "<NA>") or p in ("", "nan", "<NA>"):
            raise InputError(f"row {i + 1}: cohort or population is missing")
    labels = [f"{c}: {p}" for c, p in zip(cohorts, pops, strict=True)]
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise InputError(
                f"cohort {cohorts[i]!r} reports population {pops[i]!r} twice (rows {seen[label] + 1} "
                f"and {i + 1}); keep one estimate per population"
            )
        seen[label] = i
    table["\x1fstudy"] = labels
    if estimate is not None:
        if lower is None or upper is None:
            raise InputError("give lower and upper with estimate (or y and se)")
        effects = from_ratio_ci(
            table, estimate, lower, upper, study="\x1fstudy", measure=measure, ci_level=ci_level
        )
    elif y is not None and se is not None:
        effects = from_log_se(table, y, se, study="\x1fstudy", measure=measure)
    else:
        raise InputError("give the estimate columns: estimate, lower, upper (or y and se)")
    kept = [labels.index(s) for s in effects.study]
    members = np.array([parse_population(pops[i], strata) for i in kept])
    seen_patterns: dict[tuple[str, tuple[bool, ...]], str] = {}
    for row, i in enumerate(kept):
        key = (cohorts[i], tuple(bool(b) for b in members[row]))
        if key in seen_patterns:
            raise InputError(
                f"cohort {cohorts[i]!r}: populations {seen_patterns[key]!r} and {pops[i]!r} are the "
                "same strata; keep one estimate per population"
            )
        seen_patterns[key] = pops[i]
    composition = _shares(table, kept, shares, strata, members, labels)
    centre = np.asarray(TYPICAL_COMPOSITION if typical is None else typical, dtype=float)
    if centre.shape != (len(strata),) or np.any(centre <= 0):
        raise InputError(
            f"typical composition must give a positive share for each of the {len(strata)} "
            f"strata {list(strata)}; got {list(centre)}"
        )
    data = NestedData(
        effects=effects,
        cohort=tuple(cohorts[i] for i in kept),
        population=tuple(pops[i] for i in kept),
        members=members,
        composition=composition,
        strata=strata,
        typical=centre / centre.sum(),
    )
    reasons = (
        [str(table[reason].iloc[i]).strip() for i in kept]
        if reason is not None
        else [""] * len(kept)
    )
    _check_nesting(data, [r if r not in ("nan", "<NA>", "None") else "" for r in reasons])
    return data


def _shares(
    table: pd.DataFrame,
    kept: list[int],
    shares: Mapping[str, str] | Sequence[str] | None,
    strata: tuple[str, ...],
    members: np.ndarray,
    labels: list[str],
) -> np.ndarray:
    """The reported compositions (NaN rows where not given; single-stratum rows are 1)."""
    out = np.full(members.shape, np.nan)
    columns: list[str] | None = None
    if isinstance(shares, Mapping):
        columns = [shares.get(s, "") for s in strata]
    elif shares is not None:
        columns = [str(c) for c in shares]
        if len(columns) != len(strata):
            raise InputError(f"shares: give one column per stratum {list(strata)}; got {columns}")
    for row, i in enumerate(kept):
        if members[row].sum() == 1:
            out[row] = members[row].astype(float)
        if columns is None:
            continue
        values = []
        for column in columns:
            if column and column not in table.columns:
                raise InputError(f"shares column {column!r} not found")
            raw = table[column].iloc[i] if column else np.nan
            values.append(pd.to_numeric(raw, errors="coerce") if str(raw).strip() else np.nan)
        given = np.array(values, dtype=float)
        if np.isnan(given).all():
            continue
        label = labels[i]
        if np.isnan(given).any():
            raise InputError(f"{label}: shares are given for some strata only; give all or none")
        if np.any(given < 0) or abs(given.sum() - 1) > SHARE_TOL:
            raise InputError(
                f"{label}: the shares {list(np.round(given, 4))} must be non-negative and sum to 1 "
                f"(they sum to {given.sum():.3f})"
            )
        outside = given[~members[row]]
        if np.any(outside > 0):
            raise InputError(
                f"{label}: the shares put patients in strata outside the population "
                f"({[s for s, m in zip(strata, members[row], strict=True) if not m]})"
            )
        out[row] = given / given.sum()
    return out


def _check_nesting(data: NestedData, reasons: list[str]) -> None:
    """A population nested in another of its cohort cannot be estimated more precisely than
    it (fewer patients, fewer events) unless a reason is given."""
    se = data.effects.se
    for j in range(data.k):
        for k in range(data.k):
            if j == k or data.cohort[j] != data.cohort[k]:
                continue
            inner, outer = data.members[j], data.members[k]
            strictly_inside = bool(np.all(outer[inner]) and outer.sum() > inner.sum())
            if strictly_inside and se[j] < se[k] * (1 - NESTED_SE_TOL) and not reasons[j]:
                raise InputError(
                    f"{data.effects.study[j]}: its CI is narrower than that of "
                    f"{data.effects.study[k]!r}, which contains it (SE {se[j]:.3g} < {se[k]:.3g}); "
                    "a sub-population cannot be estimated more precisely from fewer patients — "
                    "check the transcription, or give the reason in the reason column"
                )


#: Populations of a simulated literature and the number of strata (from the first) each holds.
SIMULATED_POPULATIONS = {"1": 1, "<=2": 2, "<=3": 3, "all": 4}


def simulate_nested(
    rng: np.random.Generator,
    true_hr: Sequence[float] = (0.55, 0.70, 0.85, 1.00),
    tau: float = 0.10,
    cohorts: int = 8,
    report_prob: float = 0.6,
) -> pd.DataFrame:
    """A simulated literature of nested-population estimates (columns cohort, population, y,
    se, share0–share3, and ``true_hr`` of the population's largest stratum for reference).

    Each cohort has 150–1,500 patients with a composition over 1 / 2 / 3 / ≥ 4 organs drawn
    from Dirichlet(20 × :data:`TYPICAL_COMPOSITION`); each stratum has its own log-HR
    estimate (true effect + a cohort effect N(0, tau²) + sampling error of variance 4 / events,
    events = half the patients); the cohort reports "all" and each of "1", "≤ 2", "≤ 3" with
    probability ``report_prob``, each as the information-weighted mean of its strata's
    estimates (how a stratified Cox estimate pools), with the patients' shares as composition.
    """
    log_hr = np.log(np.asarray(true_hr, dtype=float))
    if log_hr.shape != (4,):
        raise InputError(f"true_hr needs one HR per stratum (4); got {list(true_hr)}")
    typical = np.asarray(TYPICAL_COMPOSITION)
    rows = []
    for c in range(cohorts):
        size = int(rng.integers(150, 1501))
        n = np.maximum(rng.multinomial(size, rng.dirichlet(20 * typical)), 6)
        events = 0.5 * n
        y_s = log_hr + tau * rng.standard_normal() + np.sqrt(4 / events) * rng.standard_normal(4)
        reported = ["all"] + [p for p in ("1", "<=2", "<=3") if rng.random() < report_prob]
        for population in reported:
            top = SIMULATED_POPULATIONS[population]
            share = np.where(np.arange(4) < top, events, 0.0)
            share = share / share.sum()
            rows.append(
                {
                    "cohort": f"Cohort {c + 1}",
                    "population": population,
                    "y": float(share @ y_s),
                    "se": float(np.sqrt(4 / events[:top].sum())),
                    **{f"share{s}": float(share[s]) for s in range(4)},
                }
            )
    return pd.DataFrame(rows)
