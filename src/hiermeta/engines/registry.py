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

__all__ = [
    "BAYESIAN_ENGINES",
    "DEFAULT_ENGINE",
    "ENGINES",
    "FREQUENTIST_ENGINES",
    "Engine",
    "get_engine",
]


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
    #: ``"module:function"`` fitting one dataset under many tau priors at once (prior sweeps).
    sweep: str = ""
    #: ``"module:function"`` giving default options for a sweep over the given priors.
    sweep_options: str = ""
    #: The engine builds PyMC models: it takes only priors with ``pymc_ok``.
    pymc: bool = False

    def takes_prior(self, prior: Any) -> bool:
        """Whether this engine can use the prior (Jeffreys is exact-only, for example)."""
        return not self.pymc or bool(getattr(prior, "pymc_ok", True))

    def _function(self, target: str) -> Callable[..., Any]:
        module, _, function = target.partition(":")
        found: Callable[..., Any] = getattr(importlib.import_module(module), function)
        return found

    @property
    def bayesian(self) -> bool:
        """True for engines that take priors."""
        return self.family == "bayesian"

    def fit_function(self) -> Callable[..., Any]:
        """The fit function (imported now)."""
        return self._function(self.target)

    def sweep_function(self) -> Callable[..., Any] | None:
        """The many-priors fit function, if the engine has one."""
        return self._function(self.sweep) if self.sweep else None

    def default_sweep_options(self, priors: Any) -> dict[str, Any]:
        """Options that make a sweep over ``priors`` fast (compiled-model reuse for NUTS)."""
        if not self.sweep_options:
            return {}
        options: dict[str, Any] = self._function(self.sweep_options)(priors)
        return options

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
    "tau_parameterisation",
)

BAYESIAN_ENGINES: dict[str, Engine] = {
    "exact": Engine(
        "exact",
        "bayesian",
        "hiermeta.engines.exact.engine:fit_exact",
        (),
        "quadrature over tau: the normal–normal model without Monte-Carlo error",
        vectorised=True,
        sweep="hiermeta.engines.exact.engine:fit_exact_many",
    ),
    "nuts": Engine(
        "nuts",
        "bayesian",
        "hiermeta.engines.nuts.engine:fit_nuts",
        NUTS_OPTIONS,
        "PyMC's NUTS, diagnosed with ArviZ",
        monte_carlo=True,
        structures=("subgroup_tau", "multilevel", "random_effects"),
        sweep_options="hiermeta.engines.nuts.engine:sweep_options",
        pymc=True,
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
#: The engine used when none is named.
DEFAULT_ENGINE = "exact"


def get_engine(name: object, family: str | None = None) -> Engine:
    """The engine called ``name`` (of ``family`` if given); unknown names list the valid ones."""
    if family is None and isinstance(name, str) and name in ENGINES:  # the common case, fast
        return ENGINES[name]
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
