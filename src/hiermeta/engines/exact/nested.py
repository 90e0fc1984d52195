"""Exact posterior of the nested-subgroup model when every composition is known.

The model (:mod:`hiermeta.analyses.nested`): estimate j of cohort c(j) for a population with
stratum composition w_j has true log HR ``w_j · mu + u_c(j)``, with stratum effects
``mu = A β`` (A = I, or ``[1, s − 1]`` for a trend per extra organ), cohort effects
``u_c ~ N(0, tau²)`` and correlated sampling errors (covariance V from the overlap of the
populations). Given tau, ``y ~ N(X β, V + tau² Z Z')`` with X = W A: the conjugate update of
β and the marginal likelihood are closed-form (generalised least squares), so the posterior of
tau is one-dimensional and integrated by the same quadrature as the normal–normal model, and
every stratum effect is a mixture of normals over its nodes. This is the oracle the NUTS fit
of the same model is checked against (and the fast engine of the simulation study).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hiermeta.engines.exact.engine import NormalMixture
from hiermeta.engines.exact.quadrature import _LOG_2PI, Grid, build_grid
from hiermeta.errors import InputError
from hiermeta.priors import TauPrior

__all__ = ["NestedExact", "fit_nested_exact"]


@dataclass(frozen=True)
class NestedExact:
    """The quadrature posterior: tau's grid and β | tau at its nodes."""

    grid: Grid
    weight: np.ndarray  # (n,) node weights
    tau: np.ndarray  # (n,)
    mean: np.ndarray  # (n, p) E[β | tau, y]
    cov: np.ndarray  # (n, p, p) Cov[β | tau, y]

    def linear(self, c: np.ndarray, predictive: bool = False) -> NormalMixture:
        """Posterior of c'β (plus a new cohort's effect u_new when ``predictive``)."""
        c = np.asarray(c, dtype=float)
        var = np.einsum("i,nij,j->n", c, self.cov, c)
        if predictive:
            var = var + self.tau**2
        return NormalMixture(self.weight, self.mean @ c, np.sqrt(var))


@dataclass(frozen=True)
class _Whitened:
    """The data whitened by the sampling covariance (V = L L'), and the cohort indicators'
    singular vectors: Σ(tau) = V + tau² Z Z' is then diagonal in a fixed basis, so every tau
    (0 and 1e12 alike) is handled without refactorising an ill-conditioned matrix."""

    xw: np.ndarray  # L⁻¹X (J, p)
    yw: np.ndarray  # L⁻¹y (J,)
    u: np.ndarray  # left singular vectors of L⁻¹Z (J, C)
    s2: np.ndarray  # its squared singular values (C,)
    logdet_v: float

    @classmethod
    def of(cls, y: np.ndarray, X: np.ndarray, V: np.ndarray, Z: np.ndarray) -> _Whitened:
        chol = np.linalg.cholesky(V)
        b = np.linalg.solve(chol, Z)
        u, s, _ = np.linalg.svd(b, full_matrices=False)
        return cls(
            np.linalg.solve(chol, X),
            np.linalg.solve(chol, y),
            u,
            s**2,
            float(2 * np.sum(np.log(np.diag(chol)))),
        )


def _conditional(
    w: _Whitened, prec0: np.ndarray, mean0: np.ndarray, tau: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log p(y | tau), E[β | tau, y], Cov[β | tau, y] for each tau (batched GLS).

    In the whitened basis Σ⁻¹ = I − U diag(d) U' with d = tau² s² / (1 + tau² s²) and
    log|Σ| = log|V| + Σ log(1 + tau² s²).
    """
    t2 = np.asarray(tau, dtype=float)[:, None] ** 2
    d = t2 * w.s2[None] / (1.0 + t2 * w.s2[None])  # (n, C)
    xu = w.u.T @ w.xw  # (C, p)
    yu = w.u.T @ w.yw  # (C,)
    xtx = (w.xw.T @ w.xw)[None] - np.einsum("ci,nc,cj->nij", xu, d, xu)
    xty = (w.xw.T @ w.yw)[None] - np.einsum("ci,nc,c->ni", xu, d, yu)
    prec = xtx + np.diag(prec0)[None]
    rhs = xty + (prec0 * mean0)[None]
    pchol = np.linalg.cholesky(prec)
    mean = np.linalg.solve(prec, rhs[..., None])[..., 0]
    cov = np.linalg.inv(prec)
    resid = w.yw[None] - mean @ w.xw.T  # (n, J), whitened residuals
    ru = resid @ w.u  # (n, C)
    quad = (
        np.sum(resid**2, axis=1)
        - np.sum(d * ru**2, axis=1)
        + np.sum(prec0[None] * (mean - mean0[None]) ** 2, axis=1)
    )
    logdet = w.logdet_v + np.sum(np.log1p(t2 * w.s2[None]), axis=1)
    log_prec = 2 * np.sum(np.log(np.diagonal(pchol, axis1=1, axis2=2)), axis=1)
    loglik = -0.5 * (len(w.yw) * _LOG_2PI + logdet + log_prec - np.sum(np.log(prec0)) + quad)
    return loglik, mean, cov


def fit_nested_exact(
    y: np.ndarray,
    X: np.ndarray,
    V: np.ndarray,
    cohort_index: np.ndarray,
    prior_mean: np.ndarray,
    prior_sd: np.ndarray,
    tau_prior: TauPrior,
) -> NestedExact:
    """Quadrature posterior of ``y ~ N(X β, V + tau² Z Z')``, β ~ N(prior_mean, prior_sd²).

    Parameters
    ----------
    y, X, V
        Estimates (J,), design (J × p: compositions times the stratum map), sampling covariance.
    cohort_index
        Cohort of each estimate (0 … C − 1): Z is its indicator matrix.
    prior_mean, prior_sd
        Independent normal priors of the coefficients (proper: the evidence is needed).
    tau_prior
        Prior of the between-cohort standard deviation.
    """
    prior_sd = np.asarray(prior_sd, dtype=float)
    if not np.all(np.isfinite(prior_sd) & (prior_sd > 0)):
        raise InputError("the nested model needs proper normal priors on its coefficients")
    prec0 = 1.0 / prior_sd**2
    mean0 = np.asarray(prior_mean, dtype=float)
    Z = (cohort_index[:, None] == np.arange(cohort_index.max() + 1)[None, :]).astype(float)
    whitened = _Whitened.of(np.asarray(y, dtype=float), np.asarray(X, dtype=float), V, Z)

    def log_post(tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        lp = np.asarray(tau_prior.logpdf(tau), dtype=float)
        out = np.full(tau.shape, -np.inf)
        ok = np.isfinite(lp)
        if ok.any():
            out[ok] = lp[ok] + _conditional(whitened, prec0, mean0, tau[ok])[0]
        return out

    scale = float(max(np.sqrt(np.min(np.diag(V))), 1e-8))
    grid = build_grid(log_post, scale, float(getattr(tau_prior, "upper", np.inf)))
    keep = grid.weight > 1e-18 * grid.weight.max()
    tau = grid.tau[keep]
    _, mean, cov = _conditional(whitened, prec0, mean0, tau)
    return NestedExact(grid, grid.weight[keep] / grid.weight[keep].sum(), tau, mean, cov)
