"""Prior sensitivity: the same analysis under every prior of a catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hiermeta.data.effects import EffectData
from hiermeta.priors import MuPrior, TauPrior, catalogue

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
        Name → tau prior (default :func:`hiermeta.priors.catalogue` ``("logHR")``).
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

    priors = priors or catalogue("logHR")
    tail = (1 - ci_level) / 2
    rows = []
    exact_fits: dict[str, Any] = {}
    if engine == "exact":  # one likelihood evaluation on a shared grid for every prior
        from hiermeta.engines.exact import fit_exact_many

        fitted = fit_exact_many(data, list(priors.values()), mu_prior=mu_prior, **kwargs)
        exact_fits = dict(zip(priors, fitted, strict=True))
    for name, prior in priors.items():
        row: dict[str, Any] = {"prior": name}
        if engine != "exact" and not prior.pymc_ok:
            row["note"] = "exact engine only"
            rows.append(row)
            continue
        if engine == "nuts":  # compiled models are reused across the sweep (nutpie)
            kwargs.setdefault("sampler", "nutpie")
            families = {p.family for p in priors.values() if p.pymc_ok}
            kwargs.setdefault("shared_tau_model", len(families) >= 3)
        fit = exact_fits.get(name) or bayesian(
            data, mu_prior=mu_prior, tau_prior=prior, engine=engine, **kwargs
        )
        mu = fit.quantile("mu", [tail, 0.5, 1 - tail])
        pred = fit.quantile("predictive", [tail, 1 - tail])
        tau = fit.quantile("tau", [tail, 0.5, 1 - tail])
        nat = data.to_natural
        row.update(
            estimate=float(nat(mu[1])),
            ci_low=float(nat(mu[0])),
            ci_high=float(nat(mu[2])),
            tau=float(tau[1]),
            tau_low=float(tau[0]),
            tau_high=float(tau[2]),
            pi_low=float(nat(pred[0])),
            pi_high=float(nat(pred[1])),
        )
        for t in thresholds:
            row[f"P({data.measure} < {t:g})"] = fit.prob(t)
            row[f"P(new {data.measure} < {t:g})"] = fit.prob(t, predictive=True)
        row["note"] = ""
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("prior")
    return frame.replace({None: np.nan})
