"""Posterior draws → ArviZ DataTree with study labels as coordinates (shared by both engines)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PER_STUDY_DRAWS_MAX", "to_datatree"]

#: Above this many studies a stored posterior (the exact engine's ``idata``, a report's
#: posterior.nc) holds no per-study draws: 4,000 draws × 10,000 studies would be 320 MB per
#: array. Each study's posterior stays available exactly (``fit.posterior("theta[<study>]")``)
#: and as draws from ``fit.draws()``.
PER_STUDY_DRAWS_MAX = 150


def to_datatree(
    result: Any,
    tau: np.ndarray,
    beta: np.ndarray,
    theta: np.ndarray | None,
    predictive: np.ndarray,
    extra_groups: dict[str, dict[str, np.ndarray]] | None = None,
) -> Any:
    """Build a DataTree from (chain, draw, ...) arrays.

    Parameters
    ----------
    result
        The fit (provides ``data`` and ``design``).
    tau, beta, theta, predictive
        Arrays of shape (chain, draw), (chain, draw, p), (chain, draw, k), (chain, draw);
        ``theta`` None leaves the per-study effects out.
    extra_groups
        Further groups (e.g. ``log_likelihood``) as ``{group: {var: array}}``.
    """
    from arviz_base import from_dict

    data, design = result.data, result.design
    posterior: dict[str, np.ndarray] = {"tau": tau, "theta_new": predictive}
    if theta is not None:
        posterior["theta"] = theta
    posterior["mu"] = beta[..., 0]
    dims: dict[str, list[str]] = {"theta": ["study"]}
    if design.p > 1:
        posterior["beta"] = beta[..., 1:]
        dims["beta"] = ["coefficient"]
    groups: dict[str, Any] = {
        "posterior": posterior,
        "observed_data": {"y": np.asarray(data.y)},
        "constant_data": {"se": np.asarray(data.se)},
    }
    dims.update({"y": ["study"], "se": ["study"]})
    for group, values in (extra_groups or {}).items():
        groups[group] = values
        for name, array in values.items():
            if name in ("y", "theta", "y_rep") or (
                array.ndim >= 1 and array.shape[-1] == data.k and name != "beta"
            ):
                dims.setdefault(name, ["study"])
    coords = {"study": list(data.study), "coefficient": list(design.names[1:])}
    return from_dict(groups, coords=coords, dims=dims)
