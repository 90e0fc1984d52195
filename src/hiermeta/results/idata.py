"""Posterior draws → ArviZ DataTree with study labels as coordinates (shared by both engines)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_datatree"]


def to_datatree(
    result: Any,
    tau: np.ndarray,
    beta: np.ndarray,
    theta: np.ndarray,
    predictive: np.ndarray,
    extra_groups: dict[str, dict[str, np.ndarray]] | None = None,
) -> Any:
    """Build a DataTree from (chain, draw, ...) arrays.

    Parameters
    ----------
    result
        The fit (provides ``data`` and ``design``).
    tau, beta, theta, predictive
        Arrays of shape (chain, draw), (chain, draw, p), (chain, draw, k), (chain, draw).
    extra_groups
        Further groups (e.g. ``log_likelihood``) as ``{group: {var: array}}``.
    """
    from arviz_base import from_dict

    data, design = result.data, result.design
    posterior: dict[str, np.ndarray] = {"tau": tau, "theta": theta, "theta_new": predictive}
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
