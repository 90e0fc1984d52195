"""The effect measures hiermeta knows: their analysis scale, reporting scale and family.

One registry (:data:`MEASURES`) answers every question the rest of the package asks about a
measure — which scale the models work on (log, logit, Fisher z or the measure itself), how a
result is shown to the reader (``exp``, inverse logit, ``tanh`` or unchanged), which family of
default priors fits it (see :mod:`hiermeta.priors.defaults`), and which thresholds a
probability-of-benefit statement starts from. A new measure is one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from hiermeta.errors import InputError, unknown_option

__all__ = ["MEASURES", "Measure", "get_measure"]


def _identity(x: np.ndarray) -> np.ndarray:
    return x


@dataclass(frozen=True)
class Measure:
    """One effect measure.

    Attributes
    ----------
    name
        Short name as metafor's ``escalc`` spells it (``"HR"``, ``"SMD"``, ``"PLO"``).
    title
        Plain-words name for reports (``"hazard ratio"``).
    scale
        Analysis scale: ``"log"``, ``"logit"``, ``"fisher_z"`` or ``"identity"``.
    family
        Which default priors fit it: ``"log ratio"``, ``"SMD"``, ``"MD"``, ``"correlation"``,
        ``"proportion"``, ``"risk difference"`` or ``"generic"``.
    reported
        Name of the reporting scale in tables (``"HR"``, ``"proportion"``, ``"r"``).
    comparative
        True for a comparison of two groups (it has a "no difference" value and a direction
        of benefit); False for single-group measures such as a proportion.
    """

    name: str
    title: str
    scale: str
    family: str
    reported: str
    comparative: bool = True

    @property
    def is_ratio(self) -> bool:
        """Analysed on the log scale and reported as a ratio."""
        return self.scale == "log"

    @property
    def back_transformed(self) -> bool:
        """Reported on a different scale than it is analysed on."""
        return self.scale != "identity"

    @property
    def analysis_label(self) -> str:
        """Name of the analysis scale: ``"log HR"``, ``"logit PLO"``, ``"Fisher z"``, ``"MD"``."""
        return {
            "log": f"log {self.name}",
            "logit": "logit proportion",
            "fisher_z": "Fisher z",
            "identity": self.name,
        }[self.scale]

    @property
    def null(self) -> float | None:
        """Reporting-scale value of "no difference" (None for single-group measures)."""
        if not self.comparative:
            return None
        return 1.0 if self.is_ratio else 0.0

    @property
    def default_thresholds(self) -> tuple[float, ...]:
        """Reporting-scale thresholds for default P(effect < c) statements."""
        if not self.comparative:
            return ()
        return (1.0, 0.8) if self.is_ratio else (0.0,)

    def to_natural(self, values: ArrayLike) -> np.ndarray:
        """Analysis scale → reporting scale."""
        array = np.asarray(values, dtype=float)
        with np.errstate(over="ignore"):  # exp of an absurdly wide interval is inf, not an error
            return np.asarray(_FORWARD[self.scale](array), dtype=float)

    def natural_slope(self, values: ArrayLike) -> np.ndarray:
        """d(reporting value)/d(analysis value): turns a density on the analysis scale into
        one on the reporting scale (divide by it)."""
        array = np.asarray(values, dtype=float)
        natural = self.to_natural(array)
        slope = {
            "log": natural,
            "logit": natural * (1 - natural),
            "fisher_z": 1 - natural**2,
            "identity": np.ones_like(array),
        }[self.scale]
        return np.asarray(slope, dtype=float)

    def difference_to_natural(self, values: ArrayLike) -> np.ndarray:
        """A difference of two effects (a contrast, a slope) on the reporting scale: a ratio
        of ratios for log-scale measures, unchanged otherwise (a difference of logits is a
        log odds ratio, not a proportion)."""
        array = np.asarray(values, dtype=float)
        if not self.is_ratio:
            return array
        with np.errstate(over="ignore"):
            return np.asarray(np.exp(array), dtype=float)

    def from_natural(self, values: ArrayLike) -> np.ndarray:
        """Reporting scale → analysis scale (a threshold given as an HR, a proportion, an r)."""
        array = np.asarray(values, dtype=float)
        low, high = _DOMAIN[self.scale]
        if np.any((array <= low) | (array >= high)) or np.any(np.isnan(array)):
            where = "positive" if high == np.inf else f"strictly between {low:g} and {high:g}"
            if low == -np.inf:
                where = "a number"
            raise InputError(f"a {self.reported} threshold must be {where}; got {values!r}")
        with np.errstate(divide="ignore"):
            return np.asarray(_BACKWARD[self.scale](array), dtype=float)


_FORWARD: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "log": np.exp,
    "logit": special.expit,
    "fisher_z": np.tanh,
    "identity": _identity,
}
_BACKWARD: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "log": np.log,
    "logit": special.logit,
    "fisher_z": np.arctanh,
    "identity": _identity,
}
_DOMAIN = {
    "log": (0.0, np.inf),
    "logit": (0.0, 1.0),
    "fisher_z": (-1.0, 1.0),
    "identity": (-np.inf, np.inf),
}

#: Every measure, by name. The names follow metafor's ``escalc``.
MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("HR", "hazard ratio", "log", "log ratio", "HR"),
        Measure("OR", "odds ratio", "log", "log ratio", "OR"),
        Measure("RR", "risk ratio", "log", "log ratio", "RR"),
        Measure("IRR", "incidence rate ratio", "log", "log ratio", "IRR"),
        Measure("ROM", "ratio of means", "log", "log ratio", "ROM"),
        Measure("RD", "risk difference", "identity", "risk difference", "RD"),
        Measure("MD", "mean difference", "identity", "MD", "MD"),
        Measure("SMD", "standardised mean difference (Hedges' g)", "identity", "SMD", "SMD"),
        Measure("ZCOR", "correlation (Fisher z)", "fisher_z", "correlation", "r"),
        Measure("COR", "correlation (raw)", "identity", "generic", "COR"),
        Measure("PLO", "proportion (logit)", "logit", "proportion", "proportion", False),
        Measure("PR", "proportion (raw)", "identity", "generic", "PR", False),
        Measure("GEN", "generic effect", "identity", "generic", "GEN"),
    )
}


def get_measure(name: str) -> Measure:
    """The registered measure called ``name`` (an error lists the valid ones)."""
    if not isinstance(name, str) or name not in MEASURES:
        raise unknown_option("measure", name, list(MEASURES))
    return MEASURES[name]
