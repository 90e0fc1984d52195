"""Probability-of-benefit statements in plain words."""

from __future__ import annotations

import numpy as np

from hiermeta.results.posterior import BayesianResult

__all__ = ["probability_statements"]


def _bounds(result: BayesianResult, param: str, level: float) -> np.ndarray:
    """(lower, median, upper) on the reporting scale."""
    tail = (1 - level) / 2
    return result.data.to_natural(result.quantile(param, [tail, 0.5, 1 - tail]))


def _probs(result: BayesianResult, param: str, thresholds: tuple[float, ...]) -> str:
    m = result.data.measure
    return "; ".join(f"P({m} < {t:g}) = {result.prob(t, param=param):.3f}" for t in thresholds)


def probability_statements(
    result: BayesianResult,
    thresholds: tuple[float, ...] = (1.0, 0.8),
    level: float = 0.95,
    treatment: str = "the treatment",
) -> list[str]:
    """Sentences for the mean effect, a new study, each subgroup and each contrast.

    Every probability is written as ``P(HR < c)`` so it can be checked against the tables.
    """
    m = result.data.measure
    out: list[str] = []

    def block(param: str, predictive: str, who: str) -> None:
        lo, med, hi = _bounds(result, param, level)
        out.append(
            f"{who} — mean effect: {m} {med:.2f} ({level:.0%} credible interval {lo:.2f}–{hi:.2f}). "
            f"{_probs(result, param, thresholds)}. The probability that {treatment} lowers the hazard "
            f"on average is {result.prob(1.0, param=param):.2f}."
        )
        if predictive in result.parameters():
            plo, _, phi = _bounds(result, predictive, level)
            out.append(
                f"{who} — a new study: its true {m} would lie between {plo:.2f} and {phi:.2f} "
                f"({level:.0%} posterior predictive interval). {_probs(result, predictive, thresholds)}: "
                f"a new study or setting would show benefit with probability {result.prob(1.0, param=predictive):.2f}."
            )

    if result.design.intercept_only:
        block("mu", "predictive", "All studies")
        return out
    for term in result.design.terms:
        if term.levels:
            for name in term.levels:
                block(
                    f"{term.name}={name}",
                    f"predictive[{term.name}={name}]",
                    f"{term.name} = {name}",
                )
            reference = term.levels[0]
            for other in term.levels[1:]:
                first, second = f"{term.name}={other}", f"{term.name}={reference}"
                tail = (1 - level) / 2
                q = result.contrast(first, second).quantile(np.array([tail, 0.5, 1 - tail]))
                lo, med, hi = result.data.to_natural(q)
                out.append(
                    f"Contrast {term.name} = {other} vs {reference}: ratio of {m}s {med:.2f} "
                    f"({level:.0%} credible interval {lo:.2f}–{hi:.2f}); "
                    f"P({m}[{other}] < {m}[{reference}]) = {result.prob_contrast(first, second):.3f}."
                )
        else:
            lo, med, hi = _bounds(result, result.design.names[term.columns[0]], level)
            out.append(
                f"Per unit of {term.name}, the {m} is multiplied by {med:.3f} ({level:.0%} credible interval "
                f"{lo:.3f}–{hi:.3f}); P(factor < 1) = {result.prob(1.0, param=result.design.names[term.columns[0]]):.3f}."
            )
    return out
