"""Coverage of frequentist and Bayesian intervals in simulated meta-analyses.

For each number of studies k and true heterogeneity tau, meta-analyses are simulated with
true mean log HR ``mu`` and within-study SEs uniform on (0.1, 0.5) (log HRs of trials with
roughly 16 to 400 deaths), and we count how often each 95% interval contains the truth: the
mean effect for confidence/credible intervals, the true effect of one new study for prediction
intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hiermeta.data.convert import from_log_se
from hiermeta.exact import fit_exact
from hiermeta.frequentist import frequentist

__all__ = ["INTERVALS", "coverage_study"]

INTERVALS = (
    "REML Wald CI",
    "REML Knapp–Hartung CI",
    "DL Wald CI",
    "PI z",
    "PI t-k-1",
    "PI t-k-2",
    "Bayes CrI (mu)",
    "Bayes predictive",
)


def _one(k: int, tau: float, mu: float, rng: np.random.Generator) -> dict[str, bool]:
    se = rng.uniform(0.1, 0.5, k)
    theta = mu + tau * rng.standard_normal(k)
    y = theta + se * rng.standard_normal(k)
    new = mu + tau * rng.standard_normal()
    data = from_log_se(pd.DataFrame({"y": y, "se": se}), y="y", se="se")
    hits: dict[str, bool] = {}
    reml = frequentist(data, "REML")
    c = reml.coefficients().iloc[0]
    hits["REML Wald CI"] = bool(c.ci_low <= mu <= c.ci_high)
    c = frequentist(data, "REML", ci="knapp-hartung").coefficients().iloc[0]
    hits["REML Knapp–Hartung CI"] = bool(c.ci_low <= mu <= c.ci_high)
    c = frequentist(data, "DL").coefficients().iloc[0]
    hits["DL Wald CI"] = bool(c.ci_low <= mu <= c.ci_high)
    for kind in ("z", "t-k-1", "t-k-2"):
        if kind == "t-k-2" and k < 3:
            continue
        pi = reml.prediction_interval(kind)
        hits[f"PI {kind}"] = bool(pi["low"] <= new <= pi["high"])
    fit = fit_exact(data)
    low, high = fit.quantile("mu", [0.025, 0.975])
    hits["Bayes CrI (mu)"] = bool(low <= mu <= high)
    low, high = fit.quantile("predictive", [0.025, 0.975])
    hits["Bayes predictive"] = bool(low <= new <= high)
    return hits


def coverage_study(
    ks: Sequence[int] = (3, 5, 10, 30),
    taus: Sequence[float] = (0.0, 0.1, 0.3, 0.6),
    replicates: int = 1000,
    mu: float = float(np.log(0.8)),
    random_seed: int = 2024,
) -> pd.DataFrame:
    """Coverage (%) of every 95% interval of :data:`INTERVALS` for each (k, tau).

    Returns
    -------
    DataFrame
        Index (k, tau), one column per interval, plus ``replicates`` and the Monte-Carlo
        standard error of a coverage of 95% (``mcse``, percentage points).
    """
    rows = []
    for k in ks:
        for tau in taus:
            rng = np.random.default_rng([random_seed, k, round(tau * 1000)])
            counts = dict.fromkeys(INTERVALS, 0)
            for _ in range(replicates):
                for name, hit in _one(k, tau, mu, rng).items():
                    counts[name] += hit
            row = {"k": k, "tau": tau, **{name: 100 * n / replicates for name, n in counts.items()}}
            row["replicates"] = replicates
            row["mcse"] = 100 * np.sqrt(0.95 * 0.05 / replicates)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["k", "tau"])
