"""A compiled log density for the default NUTS model, sampled by nutpie.

The default model — normal random effects integrated out (``marginal``), one tau, optional
meta-regression coefficients and optional cohorts (their effects integrated out too) — has a
closed-form log density and gradient. Writing them here, compiled once per machine by numba
(``cache=True``), replaces PyMC's graph compilation (~7 s in a fresh process) and its Python
sampler (~5–8 s for 4 × 2,000 iterations at k = 4) by nutpie's sampler calling a compiled
function: about a second per fit. Every structure the kernel does not cover (explicit study
effects, Student-t effects, one tau per subgroup, other priors) uses the PyMC graph.
``tests/unit/test_nuts_kernel.py`` checks the log density and gradient against the PyMC model.

Unconstrained parameters: ``x = [mu, beta_1 … beta_{p−1}, z_tau(, z_tau_cohort)]``. For a
half-symmetric prior tau = |z| (the *folded* parameterisation: z has the symmetric parent
density, e.g. normal for a half-normal tau); for a prior that vanishes at 0 tau = exp(z) with
the Jacobian. Densities are up to additive constants (NUTS needs no normalisation).

Log density, with d_i = s_i² + tau², r = y − Xβ and, per cohort c, a_c = Σ 1/d_i,
b_c = Σ r_i/d_i and t = tau_cohort::

    log p = log p(β) + log p_tau(z) + log p_tau(z_c)
            − ½ Σ_i (log d_i + r_i²/d_i) − ½ Σ_c (log(1 + t² a_c) − t² b_c²/(1 + t² a_c))
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from hiermeta.priors import MuPrior, TauPrior

__all__ = [
    "KERNEL_TAU",
    "kernel_inputs",
    "kernel_supports",
    "logp_and_grad",
]

#: tau families the kernel implements → (code, folded). Folded: tau = |z|; else tau = exp(z).
KERNEL_TAU: dict[str, tuple[int, bool]] = {
    "halfnormal": (0, True),
    "halfcauchy": (1, True),
    "halfstudentt": (2, True),
    "exponential": (3, True),
    "lognormal_tau2": (5, False),
    "inversegamma": (6, False),
    "logt_tau2": (7, False),
}


def kernel_supports(
    parameterisation: str,
    random_effects: str,
    tau_groups: int,
    tau_prior: TauPrior,
    mu_prior: MuPrior,
    beta_prior: MuPrior,
    folded: bool,
) -> bool:
    """Whether the compiled kernel covers this model (else the PyMC graph is used)."""
    return (
        parameterisation == "marginal"
        and random_effects == "normal"
        and tau_groups == 1
        and folded
        and tau_prior.family in KERNEL_TAU
        and mu_prior.family in ("normal", "flat")
        and beta_prior.family in ("normal", "flat")
    )


def _tau_params(prior: TauPrior) -> np.ndarray:
    """(a, b, c) of a tau prior in the kernel's convention."""
    p = prior.params()
    family = prior.family
    if family == "halfnormal":
        return np.array([p["sigma"], 0.0, 0.0])
    if family == "halfcauchy":
        return np.array([p["beta"], 0.0, 0.0])
    if family == "halfstudentt":
        return np.array([p["nu"], p["sigma"], 0.0])
    if family == "exponential":
        return np.array([p["lam"], 0.0, 0.0])
    if family == "lognormal_tau2":  # log tau ~ N(mu, sigma)
        return np.array([p["mu"], p["sigma"], 0.0])
    if family == "inversegamma":
        return np.array([p["alpha"], p["beta"], 0.0])
    return np.array([p["nu"], p["location"], p["scale"]])  # logt_tau2: log tau² ~ t


def kernel_inputs(
    y: np.ndarray,
    se: np.ndarray,
    X: np.ndarray,
    cluster: np.ndarray,
    clusters: int,
    tau_prior: TauPrior,
    mu_prior: MuPrior,
    beta_prior: MuPrior,
) -> dict[str, Any]:
    """The arrays the kernel takes (prior moments of every coefficient, tau prior code)."""
    p = X.shape[1]
    moments = [mu_prior.normal_moments()] + [beta_prior.normal_moments()] * (p - 1)
    return {
        "y": np.ascontiguousarray(y, dtype=np.float64),
        "v": np.ascontiguousarray(np.asarray(se, dtype=np.float64) ** 2),
        "X": np.ascontiguousarray(X, dtype=np.float64),
        "prior_mean": np.array([m for m, _ in moments], dtype=np.float64),
        "prior_prec": np.array([q for _, q in moments], dtype=np.float64),
        "tau_code": KERNEL_TAU[tau_prior.family][0],
        "tau_params": _tau_params(tau_prior),
        "cluster": np.ascontiguousarray(np.maximum(cluster, 0), dtype=np.int64),
        "clusters": int(clusters),
    }


def logp_and_grad(x: np.ndarray, inputs: dict[str, Any]) -> tuple[float, np.ndarray]:
    """Log density (up to a constant) and its gradient at ``x`` (compiled on first use)."""
    out = np.empty(len(x))
    value = _compiled()(
        np.ascontiguousarray(x, dtype=np.float64),
        inputs["y"],
        inputs["v"],
        inputs["X"],
        inputs["prior_mean"],
        inputs["prior_prec"],
        inputs["tau_code"],
        inputs["tau_params"],
        inputs["cluster"],
        inputs["clusters"],
        out,
    )
    return float(value), out


@cache
def _compiled() -> Any:
    """The numba-compiled kernel (imported on first use; cached on disk by numba)."""
    from hiermeta.engines.nuts._kernel_numba import kernel

    return kernel


def kernel_buffer(inputs: dict[str, Any], folded: bool) -> np.ndarray:
    """The one float64 buffer the C callbacks read (layout in ``_kernel_numba``)."""
    k, p = inputs["X"].shape
    body = np.concatenate(
        [
            inputs["y"],
            inputs["v"],
            inputs["X"].ravel(),
            inputs["prior_mean"],
            inputs["prior_prec"],
            inputs["cluster"].astype(np.float64),
        ]
    )
    header = np.array(
        [0.0, k, p, inputs["clusters"], inputs["tau_code"], *inputs["tau_params"], float(folded)]
    )
    buffer = np.ascontiguousarray(np.concatenate([header, body]), dtype=np.float64)
    buffer[0] = buffer.size
    return buffer


def nutpie_model(
    buffer: np.ndarray,
    ndim: int,
    names: list[str],
    shapes: Sequence[tuple[int, ...]],
    coords: dict[str, list[str]],
    dims: dict[str, tuple[str, ...]],
    initial_point: Any,
) -> Any:
    """A nutpie model whose log density and expansion are the compiled C callbacks: the
    sampler never re-enters Python while it runs (its chains run in parallel threads)."""
    return _model_class()(
        dims=dims,
        buffer=buffer,
        ndim=ndim,
        names=names,
        var_shapes=list(shapes),
        var_coords=coords,
        initial_point=initial_point,
    )


@cache
def _model_class() -> Any:
    from dataclasses import dataclass

    from nutpie import _lib
    from nutpie.sample import CompiledModel

    from hiermeta.engines.nuts._kernel_numba import expand_callback, logp_callback

    @dataclass(frozen=True)
    class KernelModel(CompiledModel):
        buffer: np.ndarray
        ndim: int
        names: list[str]
        var_shapes: list[tuple[int, ...]]
        var_coords: dict[str, list[str]]
        initial_point: Any

        @property
        def n_dim(self) -> int:
            return self.ndim

        @property
        def shapes(self) -> dict[str, tuple[int, ...]]:
            return dict(zip(self.names, self.var_shapes, strict=True))

        @property
        def coords(self) -> dict[str, list[str]]:
            return self.var_coords

        def _make_sampler(self, settings: Any, init_mean: Any, cores: int, *args: Any) -> Any:
            return _lib.PySampler.from_pymc(settings, cores, self._make_model(init_mean), *args)

        def _make_model(self, init_mean: Any) -> Any:
            expanded = int(sum(int(np.prod(s)) for s in self.var_shapes))
            address = self.buffer.ctypes.data
            expand = _lib.ExpandFunc(self.ndim, expanded, expand_callback.address, address, self)
            logp = _lib.LogpFunc(logp_callback.address, address, self)
            sizes = {name: len(values) for name, values in self.var_coords.items()}
            variables = _lib.PyVariable.new_variables(
                self.names, ["float64"] * len(self.names), self.var_shapes, sizes, self.dims or {}
            )

            def make_adapter(*args: Any, **kwargs: Any) -> Any:
                from nutpie.transform_adapter import make_transform_adapter

                return make_transform_adapter()(*args, **kwargs, logp_fn=None)

            return _lib.PyMcModel(
                logp,
                expand,
                variables,
                self.ndim,
                sizes,
                dict(self.var_coords),
                self.initial_point,
                make_adapter,
            )

    return KernelModel
