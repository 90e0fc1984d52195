"""Engines by name: what ``hm.bayesian``, specs, batches and the CLI look up.

An engine is a fit function returning a :class:`~hiermeta.results.contract.MetaResult`. Adding
one is one new module plus one line in :data:`ENGINES`; nothing else switches on engine names.
Fit functions are imported on first use, so ``import hiermeta`` does not import PyMC.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hiermeta.engines.frequentist.tau2 import TAU2_METHODS, TAU2_NAMES
from hiermeta.errors import unknown_option

__all__ = ["BAYESIAN_ENGINES", "ENGINES", "FREQUENTIST_ENGINES", "Engine", "get_engine"]


@dataclass(frozen=True)
class Engine:
    """An engine: its name, family, where its fit function lives and the options it takes."""

    name: str
    #: ``"bayesian"`` (takes priors) or ``"frequentist"``.
    family: str
    #: ``"module:function"``; frequentist engines get ``method=name``.
    target: str
    #: Engine options accepted beyond the common model arguments.
    options: tuple[str, ...]
    description: str
    #: Whether its numbers carry Monte-Carlo error (checked against the exact engine).
    monte_carlo: bool = False
    #: Structural options of the model only this engine can fit.
    structures: tuple[str, ...] = ()
    #: Random-effects analyses without moderators can be summarised many at a time
    #: (:mod:`hiermeta.engines.exact.vectorised`).
    vectorised: bool = False

    @property
    def bayesian(self) -> bool:
        """True for engines that take priors."""
        return self.family == "bayesian"

    def fit_function(self) -> Callable[..., Any]:
        """The fit function (imported now)."""
        module, _, function = self.target.partition(":")
        fit: Callable[..., Any] = getattr(importlib.import_module(module), function)
        return fit

    def fit(self, data: Any, **kwargs: Any) -> Any:
        """Fit ``data`` with this engine."""
        if self.family == "frequentist":
            kwargs["method"] = self.name
        return self.fit_function()(data, **kwargs)


#: Options of the NUTS engine beyond the model arguments.
NUTS_OPTIONS = (
    "draws",
    "tune",
    "chains",
    "target_accept",
    "parameterisation",
    "random_effects",
    "nu",
    "subgroup_tau",
    "multilevel",
    "remedies",
    "progressbar",
    "sampler",
    "shared_tau_model",
)

BAYESIAN_ENGINES: dict[str, Engine] = {
    "exact": Engine(
        "exact",
        "bayesian",
        "hiermeta.engines.exact.engine:fit_exact",
        (),
        "quadrature over tau: the normal–normal model without Monte-Carlo error",
        vectorised=True,
    ),
    "nuts": Engine(
        "nuts",
        "bayesian",
        "hiermeta.engines.nuts.engine:fit_nuts",
        NUTS_OPTIONS,
        "PyMC's NUTS, diagnosed with ArviZ",
        monte_carlo=True,
        structures=("subgroup_tau", "multilevel", "random_effects"),
    ),
}
FREQUENTIST_ENGINES: dict[str, Engine] = {
    method: Engine(
        method,
        "frequentist",
        "hiermeta.engines.frequentist.model:frequentist",
        ("ci", "pi_kind", "ci_level"),
        f"frequentist, tau² by {TAU2_NAMES[method]}",
    )
    for method in TAU2_METHODS
}
ENGINES: dict[str, Engine] = {**BAYESIAN_ENGINES, **FREQUENTIST_ENGINES}


def get_engine(name: object, family: str | None = None) -> Engine:
    """The engine called ``name`` (of ``family`` if given); unknown names list the valid ones."""
    table = {
        "bayesian": BAYESIAN_ENGINES,
        "frequentist": FREQUENTIST_ENGINES,
        None: ENGINES,
    }[family]
    key = name.upper() if isinstance(name, str) and name.upper() in FREQUENTIST_ENGINES else name
    if not isinstance(key, str) or key not in table:
        what = f"{family} engine" if family else "engine"
        raise unknown_option(what, name, list(table))
    return table[key]
