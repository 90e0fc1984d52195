"""Sampler diagnostics through ArviZ: R-hat, bulk/tail ESS, MCSE, divergences, tree depth, BFMI."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["THRESHOLDS", "check", "failed_checks"]

#: R-hat and ESS after Vehtari et al. (2021, Bayesian Anal 16:667); BFMI after Betancourt (2016).
THRESHOLDS = {"rhat": 1.01, "ess_bulk": 400.0, "ess_tail": 400.0, "divergences": 0, "bfmi": 0.3}


def _scalar_params(result: Any) -> list[str]:
    post = result.idata.posterior
    names = [n for n in ("mu", "tau", "tau_cohort") if n in post]
    if "beta" in post:
        names += list(result.design.names[1:])
    if "tau_by_group" in post:
        names += [f"tau[{g}]" for g in result.tau_group_levels]
    return names


def _draws(result: Any, name: str) -> np.ndarray:
    post = result.idata.posterior
    if name in post:
        return np.asarray(post[name].values)
    if name.startswith("tau["):
        return np.asarray(post["tau_by_group"].sel(subgroup=name[4:-1]).values)
    index = result.design.names.index(name) - 1
    return np.asarray(post["beta"].values)[..., index]


def check(result: Any) -> pd.DataFrame:
    """One row per parameter (R-hat, ESS bulk/tail, MCSE) and per sampler check.

    Returns
    -------
    DataFrame
        Columns ``value``, ``threshold``, ``passed``, indexed by ``(parameter, diagnostic)``.
    """
    import arviz_stats as azs

    rows = []
    for name in _scalar_params(result):
        draws = _draws(result, name)
        rows += [
            (name, "rhat", float(azs.rhat(draws)), THRESHOLDS["rhat"], "≤"),
            (name, "ess_bulk", float(azs.ess(draws, method="bulk")), THRESHOLDS["ess_bulk"], "≥"),
            (
                name,
                "ess_tail",
                float(azs.ess(draws, method="tail", prob=(0.05, 0.95))),
                THRESHOLDS["ess_tail"],
                "≥",
            ),
            (name, "mcse_mean", float(azs.mcse(draws, method="mean")), np.nan, ""),
        ]
    stats = result.idata.sample_stats
    divergences = int(np.asarray(stats["diverging"].values).sum())
    rows.append(("sampler", "divergences", float(divergences), THRESHOLDS["divergences"], "≤"))
    depth_name = next(
        (n for n in ("reached_max_treedepth", "maxdepth_reached") if n in stats), None
    )
    if depth_name:  # PyMC and nutpie name it differently
        depth = int(np.asarray(stats[depth_name].values).sum())
        rows.append(("sampler", "max_treedepth_hits", float(depth), 0.0, "≤"))
    if "energy" in stats:
        bfmi = np.atleast_1d(
            np.asarray(
                azs.bfmi(result.idata)["energy"].values
                if hasattr(azs.bfmi(result.idata), "__getitem__")
                else azs.bfmi(result.idata)
            )
        )
        rows.append(("sampler", "bfmi_min", float(np.min(bfmi)), THRESHOLDS["bfmi"], "≥"))
    frame = pd.DataFrame(rows, columns=["parameter", "diagnostic", "value", "threshold", "rule"])
    passed = np.where(
        frame["rule"] == "≤",
        frame["value"] <= frame["threshold"],
        np.where(frame["rule"] == "≥", frame["value"] >= frame["threshold"], True),
    )
    frame["passed"] = passed
    return frame.set_index(["parameter", "diagnostic"])


def failed_checks(result: Any) -> list[str]:
    """Human-readable list of the failed diagnostics (empty when all passed)."""
    table = check(result)
    failed = table[~table["passed"]]
    return [
        f"{param} {diag} = {row.value:.4g} (needs {row.rule} {row.threshold:g})"
        for (param, diag), row in zip(failed.index, failed.itertuples(), strict=True)
    ]
