"""``hm.bayesian``: one entry point for the exact and the NUTS engines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from hiermeta.data.design import Coding
from hiermeta.data.effects import EffectData
from hiermeta.errors import InputError, unknown_option
from hiermeta.exact import fit_exact
from hiermeta.posterior import BayesianResult
from hiermeta.priors import MuPrior, TauPrior

__all__ = ["ENGINES", "bayesian"]

ENGINES = ("exact", "nuts")


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
    **nuts_options: Any,
) -> BayesianResult:
    """Bayesian random-effects meta-analysis or meta-regression.

    Parameters
    ----------
    data
        Studies, from a converter such as :func:`hiermeta.from_ratio_ci`.
    mu_prior, tau_prior
        Priors from :mod:`hiermeta.priors` (defaults Normal(0, 1) and HalfNormal(0.5)).
    engine
        ``"exact"`` (quadrature: milliseconds, no Monte-Carlo error; the normal–normal model
        with Normal/Flat priors on mu and coefficients) or ``"nuts"`` (PyMC; also
        subgroup-specific tau, Student-t random effects, multilevel clusters).
    moderators, coding, levels
        Meta-regression terms (see :func:`hiermeta.frequentist`).
    beta_prior
        Prior on the non-intercept coefficients (default Normal(0, 1)).
    random_seed
        Seed of every random draw; the same seed gives the same numbers.
    **nuts_options
        Options of the NUTS engine (``draws``, ``tune``, ``chains``, ``target_accept``,
        ``random_effects``, ``subgroup_tau``, ``multilevel``, ``progressbar``…).
    """
    if not isinstance(data, EffectData):
        raise InputError(
            f"data must be an EffectData (from hm.from_ratio_ci etc.), not {type(data).__name__}"
        )
    if engine == "exact":
        if nuts_options:
            raise InputError(
                f"options {sorted(nuts_options)} apply to engine='nuts' only; the exact engine takes none"
            )
        return fit_exact(
            data,
            mu_prior,
            tau_prior,
            moderators,
            beta_prior=beta_prior,
            coding=coding,
            levels=levels,
            random_seed=0 if random_seed is None else random_seed,
        )
    if engine == "nuts":
        from hiermeta.bayes import fit_nuts

        result: BayesianResult = fit_nuts(
            data,
            mu_prior,
            tau_prior,
            moderators,
            beta_prior=beta_prior,
            coding=coding,
            levels=levels,
            random_seed=random_seed,
            **nuts_options,
        )
        return result
    raise unknown_option("engine", engine, ENGINES)
