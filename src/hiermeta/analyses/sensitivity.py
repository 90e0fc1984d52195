"""Prior sensitivity: the same analysis under every prior of a catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hiermeta.data.effects import EffectData
from hiermeta.priors import MuPrior, TauPrior
from hiermeta.priors.defaults import catalogue_for

__all__ = ["sensitivity"]


def sensitivity(
    data: EffectData,
    priors: Mapping[str, TauPrior] | None = None,
    mu_prior: MuPrior | None = None,
    engine: str = "exact",
    thresholds: tuple[float, ...] = (1.0, 0.8),
    ci_level: float = 0.95,
    **kwargs: Any,
) -> pd.DataFrame:
    """Fit the model under each tau prior and tabulate what changes.

    Parameters
    ----------
    priors
        Name → tau prior (default: the catalogue for the data's measure,
        :func:`hiermeta.priors.defaults.catalogue_for`).
    engine
        ``"exact"`` (default: milliseconds per prior) or ``"nuts"`` (priors the NUTS engine
        cannot use, e.g. Jeffreys, are reported with the reason instead of a result).

    Returns
    -------
    DataFrame
        One row per prior: pooled estimate and interval (ratio scale for ratio measures), tau
        median and interval, predictive interval and P(effect < threshold) for the mean and
        a new study.
    """
    from hiermeta.engines.api import bayesian
    from hiermeta.engines.registry import get_engine

    priors = priors or catalogue_for(data)
    chosen = get_engine(engine, "bayesian")
    rows = []
    fits: dict[str, Any] = {}
    sweep = chosen.sweep_function()
    if sweep is not None:  # e.g. exact: one likelihood evaluation on a shared grid for every prior
        fits = dict(
            zip(
                priors, sweep(data, list(priors.values()), mu_prior=mu_prior, **kwargs), strict=True
            )
        )
    options = {**chosen.default_sweep_options(priors.values()), **kwargs}
    for name, prior in priors.items():
        row: dict[str, Any] = {"prior": name}
        if not chosen.takes_prior(prior):
            row["note"] = f"not available in the {chosen.name} engine"
            rows.append(row)
            continue
        fit = fits.get(name) or bayesian(
            data, mu_prior=mu_prior, tau_prior=prior, engine=chosen.name, **options
        )
        mu, tau = fit.pooled(ci_level), fit.tau_estimate(ci_level)
        pred = fit.prediction(ci_level)
        assert pred is not None  # a Bayesian random-effects fit always has a predictive
        nat = data.to_natural
        row.update(
            estimate=float(nat(mu.estimate)),
            ci_low=float(nat(mu.low)),
            ci_high=float(nat(mu.high)),
            tau=tau.estimate,
            tau_low=tau.low,
            tau_high=tau.high,
            pi_low=float(nat(pred.low)),
            pi_high=float(nat(pred.high)),
        )
        for t in thresholds:
            row[f"P({data.measure} < {t:g})"] = fit.prob(t)
            row[f"P(new {data.measure} < {t:g})"] = fit.prob(t, predictive=True)
        row["note"] = ""
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("prior")
    return frame.replace({None: np.nan})
