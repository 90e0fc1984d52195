"""The exact engine for many random-effects meta-analyses at once (the batch path).

:func:`fit_exact` builds one quadrature grid per analysis; for thousands of analyses the
per-call overhead dominates. Here the same algorithm runs on arrays with one row per analysis
(studies padded to the longest analysis of the chunk): the same coarse scan for the range of
tau (:func:`~hiermeta.engines.exact.quadrature.find_edges`), the same composite Gauss–Legendre nodes
in u = log(1 + tau/s), the same conjugate update of mu given tau, the same piecewise Legendre
interpolant for the CDF of tau. The numbers equal :func:`fit_exact`'s to quadrature accuracy
(tested against it).

Only what a batch row needs is computed: quantiles of mu, of a new study's effect and of tau,
and probabilities below thresholds. Meta-regression, bounded tau priors (``Uniform(0, U)``)
and the Jeffreys prior take the per-analysis path (:func:`fit_exact`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from hiermeta.engines.exact.quadrature import (
    _LOG_2PI,
    CUTOFF_NATS,
    GL_NODES,
    PANELS,
    UNIT_COARSE,
    gauss_legendre,
    interpolant_maps,
    mixture_quantiles,
    solve_in_panel,
)
from hiermeta.errors import InputError
from hiermeta.priors import MuPrior, TauPrior

__all__ = ["VectorSummary", "summarise_many", "vectorisable"]


@dataclass(frozen=True)
class VectorSummary:
    """Posterior summaries of N analyses (one row each); NaN where ``error`` is set.

    ``mu_q``, ``new_q`` and ``tau_q`` hold the quantiles asked for (N × Q); ``p_mu`` and
    ``p_new`` the probabilities below each threshold (N × T, analysis scale).
    """

    mu_q: np.ndarray
    new_q: np.ndarray
    tau_q: np.ndarray
    p_mu: np.ndarray
    p_new: np.ndarray
    error: list[str | None]


def vectorisable(mu_prior: MuPrior, tau_prior: TauPrior) -> bool:
    """True when :func:`summarise_many` handles this pair of priors."""
    return (
        isinstance(mu_prior, MuPrior)
        and mu_prior.conjugate
        and isinstance(tau_prior, TauPrior)
        and not tau_prior.data_dependent
        and not np.isfinite(getattr(tau_prior, "upper", np.inf))
    )


def _loglik(tau: np.ndarray, y: np.ndarray, v: np.ndarray, mask: np.ndarray, prior: tuple) -> tuple:
    """log p(y | tau), E[mu | tau, y] and Var[mu | tau, y] for tau of shape (N, M).

    Padded studies have v = 1 and mask False: they get weight 0, and their log(1 + tau²) is
    taken out of the log-determinant exactly.
    """
    prec0, mean0, k = prior
    tau2 = tau**2
    total = v[:, None, :] + tau2[:, :, None]  # (N, M, K)
    padding = v.shape[1] - k
    logdet_total = np.log(total).sum(axis=2) - padding[:, None] * np.log1p(tau2)
    w = np.divide(mask[:, None, :], total, out=total)  # in place: 1/total, 0 for padding
    prec = w.sum(axis=2) + prec0[:, None]
    mean = (np.einsum("nmk,nk->nm", w, y) + (prec0 * mean0)[:, None]) / prec
    resid = y[:, None, :] - mean[:, :, None]
    resid *= resid
    quad = np.einsum("nmk,nmk->nm", w, resid) + prec0[:, None] * (mean - mean0[:, None]) ** 2
    with np.errstate(divide="ignore"):
        log_prec0 = np.where(prec0 > 0, np.log(prec0), 0.0)
    loglik = -0.5 * (
        k[:, None] * _LOG_2PI + logdet_total + np.log(prec) - log_prec0[:, None] + quad
    )
    return loglik, mean, 1.0 / prec


def _log_prior(tau: np.ndarray, priors: Sequence[TauPrior]) -> np.ndarray:
    """Log prior density of tau (N, M), one prior per row; priors shared by rows are evaluated once."""
    out = np.empty(tau.shape)
    groups: dict[TauPrior, list[int]] = {}
    for i, prior in enumerate(priors):
        groups.setdefault(prior, []).append(i)
    for prior, rows in groups.items():
        out[rows] = np.asarray(prior.logpdf(tau[rows]), dtype=float)
    return out


def _edges(
    values: np.ndarray, coarse: np.ndarray, scale: np.ndarray, error: list[str | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Panel edges in u per analysis and the scale of u: ``find_edges`` and ``build_grid``'s
    choice of scale (the lower end of the support when the posterior vanishes at tau = 0)
    applied row by row, vectorised."""
    n = values.shape[0]
    finite = np.isfinite(values)
    safe = np.where(finite, values, -np.inf)
    peak = safe.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_log = safe + np.log(np.maximum(coarse, 1e-300))
    peak_log = per_log.max(axis=1)
    keep_low = finite & (values > peak[:, None] - CUTOFF_NATS)
    keep_high = finite & (per_log > peak_log[:, None] - CUTOFF_NATS)
    last_index = coarse.shape[1] - 1
    first = np.argmax(keep_low, axis=1)
    last = last_index - np.argmax(keep_high[:, ::-1], axis=1)
    rows = np.arange(n)
    for i in map(int, np.flatnonzero(~finite.any(axis=1))):
        error[i] = "the posterior of tau is zero everywhere: check the prior and the data"
    for i in map(
        int, np.flatnonzero(finite.any(axis=1) & ~(keep_low.any(axis=1) & keep_high.any(axis=1)))
    ):
        error[i] = (
            "numerical failure locating the posterior of tau: the estimates and standard errors "
            "are beyond the range the exact engine can integrate (check the scale of the data)"
        )
    improper = (last == last_index) & (per_log[:, -1] > peak_log - 35)
    for i in map(int, np.flatnonzero(improper)):
        error[i] = error[i] or (
            "the posterior of tau does not vanish at large tau: it is improper (an improper tau "
            "prior needs more studies, e.g. Jeffreys needs k >= 2)"
        )
    lo = np.where(first == 0, 0.0, coarse[rows, np.maximum(first - 1, 0)])
    hi = coarse[rows, np.minimum(last + 1, last_index)]
    scale = np.where(lo > 0, lo, scale)
    u_lo, u_hi = np.log1p(lo / scale), np.log1p(hi / scale)
    steps = np.linspace(0.0, 1.0, PANELS + 1)
    return u_lo[:, None] + (u_hi - u_lo)[:, None] * steps[None, :], scale


def _tau_quantiles(
    density_u: np.ndarray, edges: np.ndarray, scale: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """Quantiles of tau from the per-panel Legendre interpolant of its density in u.

    ``density_u`` is the normalised density in u at the nodes (N, P, n): the same piecewise
    polynomial CDF as :class:`~hiermeta.engines.exact.quadrature.Grid`, inverted by bisection.
    """
    n_nodes = density_u.shape[2]
    integral = density_u @ interpolant_maps(n_nodes)[1]
    half = np.diff(edges, axis=1) / 2  # (N, P)
    _, gl_weights = gauss_legendre(n_nodes)
    panel_mass = np.einsum("npj,j->np", density_u, gl_weights) * half
    cum = np.cumsum(panel_mass, axis=1)
    cum /= cum[:, -1:]
    out = np.empty((density_u.shape[0], probs.size))
    rows = np.arange(density_u.shape[0])
    for j, q in enumerate(probs):
        panel = np.minimum(np.argmax(cum >= q, axis=1), cum.shape[1] - 1)
        below = np.where(panel > 0, cum[rows, np.maximum(panel - 1, 0)], 0.0)
        need = (q - below) / half[rows, panel]
        coef = integral[rows, panel]  # antiderivative from -1 (value 0 at t = -1)
        out[:, j] = scale * np.expm1(
            edges[rows, panel] + half[rows, panel] * (solve_in_panel(coef, need) + 1)
        )
    return out


def summarise_many(
    ys: Sequence[np.ndarray],
    ses: Sequence[np.ndarray],
    mu_priors: Sequence[MuPrior],
    tau_priors: Sequence[TauPrior],
    probs: Sequence[float],
    thresholds: Sequence[float] | np.ndarray,
) -> VectorSummary:
    """Posterior summaries of many intercept-only analyses in one vectorised pass.

    Parameters
    ----------
    ys, ses
        Effect estimates and standard errors of each analysis (analysis scale).
    mu_priors, tau_priors
        One prior pair per analysis (see :func:`vectorisable`).
    probs
        Quantile levels, e.g. (0.025, 0.5, 0.975).
    thresholds
        Values on the analysis scale (e.g. log 1, log 0.8) for P(mu < t) and P(new < t):
        one sequence for all analyses, or an array with one row per analysis.
    """
    n = len(ys)
    for i in range(n):
        if not vectorisable(mu_priors[i], tau_priors[i]):
            raise InputError(
                f"analysis {i}: priors {mu_priors[i]!r}, {tau_priors[i]!r} need the per-analysis "
                "exact engine (fit_exact)"
            )
    k = np.array([len(y) for y in ys])
    width = int(k.max())
    y = np.zeros((n, width))
    v = np.ones((n, width))
    mask = np.zeros((n, width), dtype=bool)
    for i, (yi, si) in enumerate(zip(ys, ses, strict=True)):
        y[i, : k[i]], v[i, : k[i]], mask[i, : k[i]] = yi, np.asarray(si) ** 2, True
    moments = np.array([p.normal_moments() for p in mu_priors], dtype=float).reshape(-1, 2)
    mean0, prec0 = moments[:, 0], moments[:, 1]
    prior = (prec0, mean0, k.astype(float))
    scale = np.array([max(float(np.min(s)), 1e-8) for s in ses])
    error: list[str | None] = [None] * n
    for i in map(int, np.flatnonzero((prec0 == 0) & (k <= 1))):
        if not tau_priors[i].proper:
            error[i] = "flat coefficient priors with an improper tau prior need more studies"

    # 1. where the posterior of tau lives (coarse scan), per analysis
    coarse = scale[:, None] * UNIT_COARSE[None, :]
    lp_prior = _log_prior(coarse, tau_priors)
    values = np.full(coarse.shape, -np.inf)
    ok = np.isfinite(lp_prior)
    with np.errstate(all="ignore"):
        values[ok] = (lp_prior + _loglik(coarse, y, v, mask, prior)[0])[ok]
    edges, scale = _edges(values, coarse, scale, error)

    # 2. composite Gauss–Legendre nodes in u and the posterior weight of each node
    nodes, gl_w = gauss_legendre(GL_NODES)
    half = np.diff(edges, axis=1) / 2
    u = (edges[:, :-1, None] + half[:, :, None] * (nodes[None, None, :] + 1)).reshape(n, -1)
    w_u = (half[:, :, None] * gl_w[None, None, :]).reshape(n, -1)
    tau = scale[:, None] * np.expm1(u)
    jac = scale[:, None] * np.exp(u)
    with np.errstate(all="ignore"):
        loglik, mean, var = _loglik(tau, y, v, mask, prior)
        lp = _log_prior(tau, tau_priors) + loglik
    lp = np.where(np.isfinite(lp), lp, -np.inf)
    top = lp.max(axis=1, keepdims=True)
    bad = ~np.isfinite(top[:, 0])
    top[bad] = 0.0
    with np.errstate(all="ignore"):
        mass = w_u * jac * np.exp(lp - top)
    total = mass.sum(axis=1, keepdims=True)
    for i in map(int, np.flatnonzero(bad | ~(total[:, 0] > 0) | ~np.isfinite(total[:, 0]))):
        error[i] = error[i] or "numerical failure integrating the posterior of tau"
    failed = np.array([e is not None for e in error])
    total[failed] = 1.0
    # failed rows get harmless placeholders (their results are set to NaN at the end)
    weight = np.where(failed[:, None], 1.0 / mass.shape[1], mass / total)
    mean = np.where(failed[:, None], 0.0, mean)
    var = np.where(failed[:, None], 1.0, var)
    tau = np.where(failed[:, None], 0.0, tau)

    # 3. summaries: mixtures of normals over the nodes (mu, a new study), the tau interpolant
    probs_arr = np.asarray(probs, dtype=float)
    sd_mu, sd_new = np.sqrt(var), np.sqrt(var + tau**2)
    mu_q = mixture_quantiles(weight, mean, sd_mu, probs_arr)
    new_q = mixture_quantiles(weight, mean, sd_new, probs_arr)
    with np.errstate(all="ignore"):
        density_u = np.where(failed[:, None], 1.0, jac * np.exp(lp - top) / total)
    tau_q = _tau_quantiles(
        density_u.reshape(n, PANELS, GL_NODES), _safe(edges, failed), scale, probs_arr
    )
    t = np.asarray(thresholds, dtype=float)
    t = np.broadcast_to(t, (n, t.shape[-1]))[:, :, None]
    p_mu = np.einsum("nj,ntj->nt", weight, special.ndtr((t - mean[:, None]) / sd_mu[:, None]))
    p_new = np.einsum("nj,ntj->nt", weight, special.ndtr((t - mean[:, None]) / sd_new[:, None]))
    for out in (mu_q, new_q, tau_q, p_mu, p_new):
        out[failed] = np.nan
    return VectorSummary(mu_q, new_q, tau_q, p_mu, p_new, error)


def _safe(edges: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """Edges with failed rows replaced by [0, 1] (their results are discarded)."""
    bad = failed | ~np.all(np.isfinite(edges), axis=1) | ~(edges[:, -1] > edges[:, 0])
    fixed = edges.copy()
    fixed[bad] = np.linspace(0.0, 1.0, edges.shape[1])
    return fixed
