"""Probability-of-benefit statements in plain words, in the measure's own words.

Every probability is written as ``P(HR < c)`` (or ``P(MD > c)``) so it can be checked against
the tables, and none prints as certainty: above 0.999 it reads ``> 0.999``, below 0.001
``< 0.001``. Which direction is benefit is a setting (``benefit="lower"``: a lower HR is better,
the default for ratio measures of harmful outcomes such as death; ``"higher"``; or ``None`` for
neutral wording, the default for additive measures, whose direction hiermeta cannot know).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any, NamedTuple

import numpy as np

from hiermeta.data.measures import get_measure
from hiermeta.errors import unknown_option
from hiermeta.results.intervals import format_probability, probability_text
from hiermeta.results.posterior import BayesianResult

__all__ = [
    "BENEFIT",
    "MEASURE_WORDS",
    "Words",
    "default_benefit",
    "default_thresholds",
    "probability_statements",
]

#: Directions of benefit accepted by the statements.
BENEFIT = ("lower", "higher", None)


class Words(NamedTuple):
    """How a measure is named: the measure, what it compares, and a difference of two."""

    name: str
    quantity: str
    contrast: str


#: Plain words for each measure.
MEASURE_WORDS: dict[str, Words] = {
    "HR": Words("hazard ratio", "the hazard", "ratio of HRs"),
    "OR": Words("odds ratio", "the odds", "ratio of ORs"),
    "RR": Words("risk ratio", "the risk", "ratio of RRs"),
    "IRR": Words("incidence rate ratio", "the event rate", "ratio of IRRs"),
    "ROM": Words("ratio of means", "the mean outcome", "ratio of ROMs"),
    "RD": Words("risk difference", "the risk", "difference in RDs"),
    "MD": Words("mean difference", "the mean outcome", "difference in MDs"),
    "SMD": Words(
        "standardised mean difference", "the standardised mean outcome", "difference in SMDs"
    ),
    "COR": Words("correlation", "the correlation", "difference in correlations"),
    "ZCOR": Words("correlation", "the correlation", "difference in Fisher z"),
    "PLO": Words("proportion", "the proportion", "log odds ratio"),
    "PR": Words("proportion", "the proportion", "difference in proportions"),
    "GEN": Words("effect", "the outcome", "difference in effects"),
}


def _range(low: float, high: float, digits: int = 2) -> str:
    """``0.62–0.93``; ``-1.30 to 16.99`` when a dash would read as a minus sign."""
    sep = " to " if min(low, high) < 0 else "–"
    return f"{low:.{digits}f}{sep}{high:.{digits}f}"


def default_benefit(measure: str) -> str | None:
    """``"lower"`` for ratio measures (harmful outcomes), ``None`` (neutral) otherwise."""
    return "lower" if measure in ("HR", "OR", "RR", "IRR") else None


def default_thresholds(measure: str) -> tuple[float, ...]:
    """Thresholds on the reporting scale: no effect and a 20% reduction for ratios, no
    difference for differences, none for single-group measures (a proportion)."""
    return get_measure(measure).default_thresholds


class _Speaker:
    """Sentences for one result, measure and direction."""

    def __init__(
        self,
        result: BayesianResult,
        thresholds: Sequence[float],
        level: float,
        treatment: str,
        benefit: str | None,
    ) -> None:
        if benefit not in BENEFIT:
            raise unknown_option("benefit direction", benefit, ["lower", "higher", "None"])
        self.result, self.level, self.treatment, self.benefit = result, level, treatment, benefit
        self.thresholds = tuple(thresholds)
        self.m = result.data.natural_label  # "HR", "MD", "proportion", "r"
        self.words = MEASURE_WORDS.get(result.data.measure, MEASURE_WORDS["GEN"])
        self.null = result.data.measure_info.null  # None for a single-group measure
        self.sign = ">" if benefit == "higher" else "<"

    def p(self, param: str, threshold: float) -> float:
        below = self.result.prob(threshold, param=param)
        return 1 - below if self.sign == ">" else below

    def probs(self, param: str) -> str:
        return "; ".join(
            probability_text(f"P({self.m} {self.sign} {t:g})", self.p(param, t))
            for t in self.thresholds
        )

    def bounds(self, param: str) -> np.ndarray:
        tail = (1 - self.level) / 2
        return np.asarray(
            self.result.data.to_natural(self.result.quantile(param, [tail, 0.5, 1 - tail]))
        )

    def meaning(self, param: str, where: str) -> str:
        """What P(effect beyond the null) means, in words (nothing for a proportion)."""
        if self.null is None:
            return ""
        p = format_probability(self.p(param, self.null))
        if self.benefit is None:
            return (
                f"The probability that the {self.words.name} is below {self.null:g} {where} is {p}."
            )
        verb = "lowers" if self.benefit == "lower" else "raises"
        return f"The probability that {self.treatment} {verb} {self.words.quantity} {where} is {p}."

    def _tail(self, param: str, where: str) -> str:
        """The probability sentences after an estimate (none for a single-group measure)."""
        parts = [self.probs(param), self.meaning(param, where)]
        return " ".join(p if p.endswith(".") else f"{p}." for p in parts if p)

    def mean(self, param: str, who: str) -> str:
        lo, med, hi = self.bounds(param)
        return (
            f"{who} — mean effect: {self.m} {med:.2f} ({self.level:.0%} credible interval "
            f"{_range(lo, hi)}). {self._tail(param, 'on average')}"
        ).rstrip()

    def new_setting(self, param: str, who: str) -> str:
        lo, _, hi = self.bounds(param)
        return (
            f"{who} — a new setting: the true {self.m} in a new study's population would lie "
            f"between {lo:.2f} and {hi:.2f} ({self.level:.0%} prediction interval). "
            f"{self._tail(param, 'there')}"
        ).rstrip()

    def contrast(self, term: str, first: str, second: str) -> str:
        tail = (1 - self.level) / 2
        a, b = f"{term}={first}", f"{term}={second}"
        q = self.result.contrast(a, b).quantile(np.array([tail, 0.5, 1 - tail]))
        lo, med, hi = self.result.data.measure_info.difference_to_natural(q)
        p = self.result.prob_contrast(a, b)
        return (
            f"Contrast {term} = {first} vs {second}: {self.words.contrast} {med:.2f} "
            f"({self.level:.0%} credible interval {_range(lo, hi)}); "
            + probability_text(f"P({self.m}[{first}] < {self.m}[{second}])", p)
            + "."
        )

    def slope(self, name: str, term: str) -> str:
        tail = (1 - self.level) / 2
        quantiles = self.result.quantile(name, [tail, 0.5, 1 - tail])
        lo, med, hi = self.result.data.measure_info.difference_to_natural(quantiles)
        below = self.result.prob(0.0, param=name, analysis_scale=True)
        p = probability_text(
            "P(factor < 1)" if self.result.data.is_ratio else "P(change < 0)", below
        )
        change = "is multiplied by" if self.result.data.is_ratio else "changes by"
        return (
            f"Per unit of {term}, the {self.m} {change} {med:.3f} ({self.level:.0%} credible "
            f"interval {_range(lo, hi, 3)}); {p}."
        )


def probability_statements(
    result: BayesianResult,
    thresholds: Sequence[float] | None = None,
    level: float = 0.95,
    treatment: str = "the treatment",
    benefit: Any = "default",
) -> list[str]:
    """Sentences for the mean effect, a new setting, each subgroup and each pair of subgroups.

    Parameters
    ----------
    result
        A Bayesian fit.
    thresholds
        On the reporting scale (default 1 and 0.8 for ratio measures, 0 otherwise).
    treatment
        How the intervention is named in the sentences.
    benefit
        ``"lower"`` (a lower value is benefit), ``"higher"``, or ``None`` for neutral wording;
        default ``"lower"`` for HR, OR, RR and IRR, neutral otherwise.
    """
    if benefit == "default":
        benefit = default_benefit(result.data.measure)
    if thresholds is None:
        thresholds = default_thresholds(result.data.measure)
    say = _Speaker(result, thresholds, level, treatment, benefit)
    if result.design.intercept_only:
        return [say.mean("mu", "All studies"), say.new_setting("predictive", "All studies")]
    out: list[str] = []
    contrasts: list[str] = []
    for term in result.design.terms:
        if not term.levels:
            out.append(say.slope(result.design.names[term.columns[0]], term.name))
            continue
        for name in term.levels:
            who = f"{term.name} = {name}"
            out.append(say.mean(f"{term.name}={name}", who))
            predictive = f"predictive[{term.name}={name}]"
            if predictive in result.parameters():
                out.append(say.new_setting(predictive, who))
        for first, second in combinations(term.levels, 2):
            contrasts.append(say.contrast(term.name, second, first))
    if contrasts:
        m = result.data.natural_label
        contrasts.append(
            f"Glossary: P({m}[a] < {m}[b]) is the posterior probability that the true mean "
            f"{m} in subgroup a is lower than in subgroup b."
        )
    return out + contrasts
