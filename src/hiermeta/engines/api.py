"""``hm.bayesian``: one entry point for every Bayesian engine of the registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from hiermeta.data.design import Coding
from hiermeta.data.effects import EffectData
from hiermeta.engines.registry import get_engine
from hiermeta.errors import InputError, check_seed
from hiermeta.priors import MuPrior, TauPrior, from_spec
from hiermeta.results.posterior import BayesianResult

__all__ = ["bayesian"]


def bayesian(
    data: EffectData,
    mu_prior: MuPrior | None = None,
    tau_prior: TauPrior | None = None,
    engine: Literal["exact", "nuts"] | str = "exact",
    moderators: Sequence[str] | str | None = None,
    *,
    beta_prior: MuPrior | Mapping[str, MuPrior] | None = None,
    coding: Mapping[str, Coding] | None = None,
    levels: Mapping[str, Sequence[str]] | None = None,
    random_seed: int | None = None,
    **options: Any,
) -> BayesianResult:
    """Bayesian random-effects meta-analysis or meta-regression.

    Parameters
    ----------
    data
        Studies, from a converter such as :func:`hiermeta.from_ratio_ci`.
    mu_prior, tau_prior
        Priors from :mod:`hiermeta.priors` (defaults Normal(0, 1) and HalfNormal(0.5)), or
        the same as strings, e.g. ``"halfcauchy(0.5)"``.
    engine
        A Bayesian engine of the registry: ``"exact"`` (quadrature: milliseconds, no Monte-Carlo error; the normal–normal model
        with Normal/Flat priors on mu and coefficients) or ``"nuts"`` (PyMC; also
        subgroup-specific tau, Student-t random effects, multilevel clusters).
    moderators, coding, levels
        Meta-regression terms (see :func:`hiermeta.engines.frequentist`).
    beta_prior
        Prior on the non-intercept coefficients (default Normal(0, 1)).
    random_seed
        Seed of every random draw; the same seed gives the same numbers.
    **options
        Options of the engine (see :data:`hiermeta.engines.registry.ENGINES`): for NUTS
        ``draws``, ``tune``, ``chains``, ``target_accept``, ``random_effects``,
        ``subgroup_tau``, ``multilevel``, ``progressbar``, ``sampler``…; none for exact.
    """
    if not isinstance(data, EffectData):
        raise InputError(
            f"data must be an EffectData (from hm.from_ratio_ci etc.), not {type(data).__name__}"
        )
    chosen = get_engine(engine, "bayesian")
    unknown = sorted(set(options) - set(chosen.options))
    if unknown:
        where = f"engine={chosen.name!r}"
        valid = f"; it takes {', '.join(chosen.options)}" if chosen.options else "; it takes none"
        raise InputError(f"options {unknown} do not apply to {where}{valid}")
    random_seed = check_seed(random_seed)  # one rule for every engine (NUTS checks it too)
    result: BayesianResult = chosen.fit(
        data,
        mu_prior=_prior(mu_prior, "mu"),
        tau_prior=_prior(tau_prior, "tau"),
        moderators=moderators,
        beta_prior=_prior(beta_prior, "mu") if not isinstance(beta_prior, Mapping) else beta_prior,
        coding=coding,
        levels=levels,
        random_seed=0 if random_seed is None and not chosen.monte_carlo else random_seed,
        **options,
    )
    return result


def _prior(prior: Any, kind: str) -> Any:
    """A prior object, or one parsed from a string such as ``"halfcauchy(0.5)"``."""
    return from_spec(prior, kind) if isinstance(prior, str | dict) else prior
