"""Numerical building blocks: the tau grid, conditional Gaussian algebra, mixture inversion."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

import numpy as np
from scipy import special

from hiermeta.data.design import is_intercept_only
from hiermeta.errors import InputError

__all__ = [
    "Conditional",
    "Grid",
    "LinearModel",
    "build_grid",
    "grid_edges",
    "interpolant_maps",
    "mixture_moments",
    "mixture_quantiles",
    "solve_in_panel",
    "solve_in_panel_scalar",
    "tau_log_posterior",
    "zero_mean_loglik",
]

_LOG_2PI = float(np.log(2 * np.pi))
#: Gauss–Legendre nodes per panel and number of panels: the smallest grid with a wide margin.
#: The accuracy tests check that a grid twelve times finer changes probabilities by < 1e-8 and
#: quantiles by < 1e-7; measured over 71 analyses (the test cases and 60 simulated ones, three
#: tau priors), 16 panels change them by at most 6e-12 and 3e-9 (12 panels: 7e-10 and 3e-8;
#: 24 panels, the former default with a 60-nat range: 6e-12 and 3e-9).
GL_NODES = 12
PANELS = 16
#: Points of the coarse scan that finds the range of tau (geometric, 1e-8 to 1e12 times the
#: scale): a factor of 1.6 between neighbours; the range then extends one point beyond the cutoff.
COARSE_POINTS = 100
#: The integration range keeps every tau whose log posterior density is within this many nats
#: of the maximum (e^-40 ≈ 4e-18: far below the accuracy target; the brute-force tests, which
#: integrate over all of tau, check that nothing is lost).
CUTOFF_NATS = 40.0
#: The coarse scan relative to the scale (0, then geometric from 1e-8 to 1e12).
UNIT_COARSE = np.concatenate([[0.0], np.geomspace(1e-8, 1e12, COARSE_POINTS)])
UNIT_COARSE.flags.writeable = False
_GL_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [-1, 1] (cached)."""
    if n not in _GL_CACHE:
        _GL_CACHE[n] = np.polynomial.legendre.leggauss(n)
    return _GL_CACHE[n]


@dataclass(frozen=True)
class LinearModel:
    """y_i ~ N(x_i'β, v_i + tau²) with β ~ N(mean0, diag(1/prec0)); prec0 = 0 means flat."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    prec0: np.ndarray
    mean0: np.ndarray

    @property
    def proper(self) -> bool:
        """All coefficient priors proper (so the marginal likelihood is defined)."""
        return bool(np.all(self.prec0 > 0))

    @cached_property
    def intercept_terms(self) -> InterceptTerms:
        """The intercept-only likelihood's data terms (a fit evaluates it twice: the range
        scan and the grid)."""
        v, y = self.v, self.y
        w = 1.0 / v
        centre = float(w @ y / w.sum())
        yc = y - centre
        v_min, v_max = float(v.min()), float(v.max())
        s_safe = _LOG_TERM_BOUND - v_max if v_min >= 1 / _LOG_TERM_BOUND else -math.inf
        return InterceptTerms(centre, np.stack([np.ones_like(yc), yc, yc * yc], axis=1), s_safe)


@dataclass(frozen=True)
class Conditional:
    """Quantities given tau, for an array of tau values (leading axis n)."""

    loglik: np.ndarray  # (n,) log p(y | tau), integrated over β
    mean: np.ndarray  # (n, p) E[β | tau, y]
    cov: np.ndarray  # (n, p, p) Cov[β | tau, y]


def conditional(model: LinearModel, tau: np.ndarray) -> Conditional:
    """Posterior of β and the marginal likelihood, given each tau (vectorised)."""
    tau = np.asarray(tau, dtype=float)
    if is_intercept_only(model.X):
        return _conditional_intercept(model, tau)
    total = model.v[None, :] + tau[:, None] ** 2  # (n, k)
    w = 1.0 / total
    X, y = model.X, model.y
    prec = np.einsum("nk,ki,kj->nij", w, X, X) + np.diag(model.prec0)[None]
    rhs = (w * y) @ X + (model.prec0 * model.mean0)[None]
    chol = np.linalg.cholesky(prec)
    mean = np.linalg.solve(prec, rhs[..., None])[..., 0]
    inv_chol = np.linalg.inv(chol)
    cov = np.einsum("nji,njk->nik", inv_chol, inv_chol)
    logdet = 2 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    proper = model.prec0 > 0
    # y'Wy + m0'P0 m0 − m'Prec m, written as residual sums so that it stays accurate when
    # one study is extremely precise (no cancellation of huge terms)
    resid = y[None, :] - mean @ X.T
    shift = mean - model.mean0[None, :]
    quad = np.sum(w * resid**2, axis=1) + np.sum(model.prec0[None, :] * shift**2, axis=1)
    loglik = -0.5 * (
        len(y) * _LOG_2PI
        + np.sum(np.log(total), axis=1)
        + logdet
        - float(np.sum(np.log(model.prec0[proper])))
        + quad
    )
    return Conditional(loglik=loglik, mean=mean, cov=cov)


def _conditional_intercept(model: LinearModel, tau: np.ndarray) -> Conditional:
    """:func:`conditional` for the intercept-only model in scalar algebra (no batched
    Cholesky): the same formulas with p = 1, arranged for the fewest passes over the
    (n, k) arrays.

    With y centred on its fixed-effect mean c, the weighted sums s_j = Σ_i w_i y_i^j (j = 0, 1,
    2; one matrix product) give the posterior mean m and the quadratic form
    Σ w (y − m)² = s2 − m (2 s1 − m s0). Its rounding error is below 2 ε (s2 + m² s0), and
    s2 ≤ Cochran's Q (each w_i falls as tau grows), so the centring keeps it accurate when one
    study is extremely precise; the tests check it against a long-double residual sum.
    """
    terms = model.intercept_terms
    tau2 = tau * tau
    total = model.v[None, :] + tau2[:, None]  # (n, k)
    s0, s1, s2 = ((1.0 / total) @ terms.basis).T
    prec0, mean0 = float(model.prec0[0]), float(model.mean0[0]) - terms.centre
    prec = s0 + prec0
    mean = (s1 + prec0 * mean0) / prec
    quad = s2 - mean * (2.0 * s1 - mean * s0) + prec0 * (mean - mean0) ** 2
    loglik = -0.5 * (
        len(model.y) * _LOG_2PI
        + _row_log_sums(total, tau2.size > 0 and float(tau2.max()) <= terms.s_safe)
        + np.log(prec)
        - (np.log(prec0) if prec0 > 0 else 0.0)
        + quad
    )
    return Conditional(
        loglik=loglik, mean=(mean + terms.centre)[:, None], cov=(1.0 / prec)[:, None, None]
    )


#: The bound on each term of :func:`_row_log_sums` that keeps a product of four inside double
#: range (1e±280, far from overflow and underflow).
_LOG_TERM_BOUND = 1e70


def _row_log_sums(total: np.ndarray, grouped: bool) -> np.ndarray:
    """Σ_i log total[n, i] of each row: a log costs several products here, so when the caller
    knows every term lies within [1/_LOG_TERM_BOUND, _LOG_TERM_BOUND] (``grouped``) the terms
    are multiplied four at a time first (one log per product; rounding ~4 ε per product)."""
    k = total.shape[1]
    whole = k - k % 4
    if not grouped or whole == 0:
        return np.sum(np.log(total), axis=1)
    products = (total[:, 0:whole:4] * total[:, 1:whole:4]) * (
        total[:, 2:whole:4] * total[:, 3:whole:4]
    )
    sums = np.sum(np.log(products), axis=1)
    if whole < k:
        sums += np.sum(np.log(total[:, whole:]), axis=1)
    return sums


@dataclass(frozen=True)
class InterceptTerms:
    """What :func:`_conditional_intercept` needs of the data, computed once per model."""

    centre: float  # the fixed-effect mean of y
    basis: np.ndarray  # (k, 3): 1, y − centre, (y − centre)²
    s_safe: float  # the largest tau² at which every v + tau² is within _LOG_TERM_BOUND


@dataclass(frozen=True)
class Grid:
    """Composite Gauss–Legendre quadrature in u = log(1 + tau/s) over [u_lo, u_hi]."""

    scale: float
    edges: np.ndarray  # (P + 1,) panel edges in u
    tau: np.ndarray  # (N,) nodes
    weight: np.ndarray  # (N,) normalised posterior mass of each node
    panel_mass: np.ndarray  # (P,) posterior mass per panel
    below: np.ndarray  # (P + 1,) posterior mass below each edge (cumulative panel mass)
    log_norm: float  # log ∫ p(tau) p(y | tau) dtau  (includes the subtracted maximum)
    log_post: Callable[[np.ndarray], np.ndarray]  # unnormalised log density of tau
    # per panel, Legendre coefficients of the normalised density in u (g(u) = p(tau) dtau/du)
    # and of its antiderivative: the CDF is a piecewise polynomial as accurate as the quadrature
    coef: np.ndarray  # (P, n)
    coef_int: np.ndarray  # (P, n + 1), 0 at t = -1
    coef_der: np.ndarray  # (P, n - 1)

    def tau_of(self, u: np.ndarray) -> np.ndarray:
        return self.scale * np.expm1(u)

    def u_of(self, tau: np.ndarray) -> np.ndarray:
        return np.log1p(np.asarray(tau, dtype=float) / self.scale)

    def _locate(self, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # ufuncs rather than np.clip: this runs in every step of the HDI search
        u = np.minimum(np.maximum(self.u_of(np.maximum(tau, 0.0)), self.edges[0]), self.edges[-1])
        panel = np.minimum(
            np.maximum(np.searchsorted(self.edges, u, side="right") - 1, 0),
            len(self.panel_mass) - 1,
        )
        half = (self.edges[panel + 1] - self.edges[panel]) / 2
        t = (u - self.edges[panel]) / half - 1
        return panel, t, u

    def density(self, tau: np.ndarray) -> np.ndarray:
        """Normalised posterior density of tau."""
        return self.evaluate(tau)[1]

    def evaluate(self, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CDF, density and log-density slope of tau at once (one panel lookup)."""
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        panel, t, u = self._locate(tau)
        half = (self.edges[panel + 1] - self.edges[panel]) / 2
        powers = np.vander(t, self.coef_int.shape[1], increasing=True)
        n = self.coef.shape[1]
        g = np.einsum("ij,ij->i", powers[:, :n], self.coef[panel])
        dg = np.einsum("ij,ij->i", powers[:, : n - 1], self.coef_der[panel]) / half
        below = self.below[panel]
        cdf = below + np.einsum("ij,ij->i", powers, self.coef_int[panel]) * half
        cdf = np.minimum(np.maximum(cdf, 0.0), 1.0)
        jac = self.scale * np.exp(u)
        inside = (tau >= self.tau_of(self.edges[0])) & (tau <= self.tau_of(self.edges[-1]))
        dens = np.where(inside, np.maximum(g, 0.0) / jac, 0.0)
        slope = (dg / np.maximum(g, 1e-300) - 1.0) / jac
        return cdf, dens, slope

    def cdf(self, tau: np.ndarray) -> np.ndarray:
        """Posterior CDF of tau (exact to quadrature accuracy at any point)."""
        return self.evaluate(tau)[0]

    def quantile(self, probs: np.ndarray) -> np.ndarray:
        """Quantiles of tau: the panel that holds each, then the panel's CDF polynomial
        solved for it (:func:`solve_in_panel`, or :func:`solve_in_panel_scalar` for a
        handful); the inverse of :meth:`cdf`."""
        probs = np.atleast_1d(np.asarray(probs, dtype=float))
        if probs.size <= SCALAR_QUANTILES:
            return np.array([self._quantile_one(p) for p in probs.ravel().tolist()]).reshape(
                probs.shape
            )
        flat = probs.ravel()
        panels = len(self.panel_mass)
        panel = np.minimum(np.searchsorted(self.below[1:], flat, side="left"), panels - 1)
        below = self.below[panel]
        half = (self.edges[panel + 1] - self.edges[panel]) / 2
        t = solve_in_panel(self.coef_int[panel], (flat - below) / half)
        t[np.isnan(flat)] = np.nan  # as _quantile_one: NaN in, NaN out
        return self.tau_of(self.edges[panel] + half * (t + 1)).reshape(probs.shape)

    def _quantile_one(self, prob: float) -> float:
        """:meth:`quantile` of one probability in Python floats (the same panel, the same
        polynomial; a few numbers cost less this way than numpy's call overhead)."""
        if prob != prob:
            return math.nan
        panel = min(bisect.bisect_left(self.below.tolist(), prob, 1) - 1, len(self.panel_mass) - 1)
        low, high = float(self.edges[panel]), float(self.edges[panel + 1])
        half = (high - low) / 2
        need = (prob - float(self.below[panel])) / half
        t = solve_in_panel_scalar(self.coef_int[panel].tolist(), need)
        return self.scale * math.expm1(low + half * (t + 1))


@cache
def _leg_to_monomial(n: int) -> np.ndarray:
    """Matrix mapping n Legendre coefficients to n monomial coefficients."""
    out = np.zeros((n, n))
    for j in range(n):
        poly = np.polynomial.legendre.leg2poly(np.eye(n)[j])
        out[: len(poly), j] = poly
    return out


@cache
def _vander_inverse(n: int) -> np.ndarray:
    """Inverse Legendre–Vandermonde matrix at the n Gauss–Legendre nodes."""
    return np.linalg.inv(np.polynomial.legendre.legvander(gauss_legendre(n)[0], n - 1))


@cache
def interpolant_maps(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matrices taking a panel's density at its n Gauss–Legendre nodes (a row vector) to the
    monomial coefficients on [-1, 1] of its interpolating polynomial (n), of the polynomial's
    integral from -1 (n + 1; 0 at t = -1 up to rounding) and of its derivative (n - 1).

    Every step (interpolation, Legendre integration and differentiation, change of basis) is
    linear, so each chain is one precomputed matrix: the grid costs three small products.
    """
    eye = np.eye(n)
    interp = _vander_inverse(n).T  # node values -> Legendre coefficients
    integral = np.polynomial.legendre.legint(eye, axis=1, lbnd=-1) @ _leg_to_monomial(n + 1).T
    # pin the value at t = -1 to zero (the alternating sum of the monomial coefficients)
    integral[:, 0] -= integral @ (-1.0) ** np.arange(n + 1)
    derivative = np.polynomial.legendre.legder(eye, axis=1) @ _leg_to_monomial(n - 1).T
    return (
        interp @ _leg_to_monomial(n).T,
        interp @ integral,
        interp @ derivative,
    )


def zero_mean_loglik(y: np.ndarray, v: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """log p(y | tau) when every true effect's mean is 0: y_i ~ N(0, v_i + tau²) (the null of
    a Bayes factor for mu = 0; vectorised over tau)."""

    def loglik(tau: np.ndarray) -> np.ndarray:
        total = v[None, :] + np.asarray(tau, dtype=float)[:, None] ** 2
        return -0.5 * np.sum(np.log(2 * np.pi * total) + y[None] ** 2 / total, axis=1)

    return loglik


def tau_log_posterior(
    log_prior: Callable[[np.ndarray], np.ndarray], loglik: Callable[[np.ndarray], np.ndarray]
) -> Callable[[np.ndarray], np.ndarray]:
    """Unnormalised log posterior of tau, log p(tau) + log p(y | tau), vectorised: −inf off the
    prior's support, where the likelihood is not evaluated."""

    def log_post(tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        lp = np.asarray(log_prior(tau), dtype=float)
        ok = np.isfinite(lp)
        if ok.all():  # the usual case: tau >= 0 everywhere on a prior supported on [0, inf)
            return lp + loglik(tau)
        out = np.full(tau.shape, -np.inf)
        if ok.any():
            out[ok] = lp[ok] + loglik(tau[ok])
        return out

    return log_post


def find_edges(
    log_post: Callable[[np.ndarray], np.ndarray],
    scale: float,
    upper: float,
    panels: int = PANELS,
) -> np.ndarray:
    """Panel edges in u = log(1 + tau/scale) covering where the posterior of tau lives.

    Parameters
    ----------
    log_post
        Unnormalised log posterior density of tau (vectorised).
    scale
        A typical tau (sets the u transform).
    upper
        Upper end of the prior's support (``inf`` for most priors).
    """
    coarse = scale * UNIT_COARSE
    if np.isfinite(upper):
        coarse = np.unique(np.append(coarse[coarse < upper], upper))
    values = log_post(coarse)
    finite = np.isfinite(values)
    if not finite.any():
        raise InputError("the posterior of tau is zero everywhere: check the prior and the data")
    # lower end: where the density is negligible; upper end: where the mass per unit log(tau)
    # is negligible (heavy-tailed posteriors under half-Cauchy priors reach far out)
    peak = float(np.max(values[finite]))
    keep_low = np.flatnonzero(finite & (values > peak - CUTOFF_NATS))
    with np.errstate(divide="ignore"):
        per_log = values + np.log(np.maximum(coarse, 1e-300))
    peak_log = float(np.max(per_log[finite]))
    keep_high = np.flatnonzero(finite & (per_log > peak_log - CUTOFF_NATS))
    if not (keep_low.size and keep_high.size):
        raise InputError(
            "numerical failure locating the posterior of tau: the estimates and standard errors are "
            "beyond the range the exact engine can integrate (check the scale of the data)"
        )
    first, last = int(keep_low[0]), int(keep_high[-1])
    if last == len(coarse) - 1 and not np.isfinite(upper) and per_log[-1] > peak_log - 35:
        raise InputError(
            "the posterior of tau does not vanish at large tau: it is improper (an improper tau "
            "prior needs more studies, e.g. Jeffreys needs k >= 2)"
        )
    lo = 0.0 if first == 0 else coarse[first - 1]
    hi = coarse[min(last + 1, len(coarse) - 1)]
    return _even_edges(math.log1p(lo / scale), math.log1p(hi / scale), panels)


@cache
def _unit_steps(panels: int) -> np.ndarray:
    steps = np.linspace(0.0, 1.0, panels + 1)
    steps.flags.writeable = False
    return steps


def _even_edges(low: float, high: float, panels: int) -> np.ndarray:
    """``panels`` equal panels from ``low`` to ``high`` (np.linspace without its overhead)."""
    edges = low + (high - low) * _unit_steps(panels)
    edges[-1] = high
    return edges


def grid_nodes(
    edges: np.ndarray, scale: float, gl_nodes: int = GL_NODES
) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes (tau) and weights (in tau, including the Jacobian) for the edges."""
    nodes, weights = gauss_legendre(gl_nodes)
    half = np.diff(edges) / 2
    u = (edges[:-1, None] + half[:, None] * (nodes[None] + 1)).ravel()
    w = (half[:, None] * weights[None]).ravel()
    return scale * np.expm1(u), w * scale * np.exp(u)


def make_grid(
    edges: np.ndarray,
    scale: float,
    log_post: Callable[[np.ndarray], np.ndarray],
    values: np.ndarray | None = None,
    gl_nodes: int = GL_NODES,
    nodes: tuple[np.ndarray, np.ndarray] | None = None,
) -> Grid:
    """The quadrature grid on ``edges``; ``values`` = log_post at the nodes and ``nodes`` =
    :func:`grid_nodes` of the edges when already known."""
    panels = len(edges) - 1
    tau, weight_tau = grid_nodes(edges, scale, gl_nodes) if nodes is None else nodes
    lp = log_post(tau) if values is None else values
    top = float(np.max(lp))
    rel = np.exp(lp - top)
    mass = weight_tau * rel
    total = float(mass.sum())
    if not (total > 0 and np.isfinite(total)):
        raise InputError("numerical failure integrating the posterior of tau")
    # density in u at the nodes (dtau/du = scale + tau), normalised; per panel its Legendre
    # interpolant, its antiderivative from t = -1 and its derivative, as monomial coefficients
    g = ((scale + tau) * rel / total).reshape(panels, gl_nodes)
    to_coef, to_int, to_der = interpolant_maps(gl_nodes)
    weight = mass / total
    panel_mass = weight.reshape(panels, gl_nodes).sum(axis=1)
    below = np.zeros(panels + 1)
    np.cumsum(panel_mass, out=below[1:])
    return Grid(
        scale=scale,
        edges=edges,
        tau=tau,
        weight=weight,
        panel_mass=panel_mass,
        below=below,
        log_norm=top + float(np.log(total)),
        log_post=log_post,
        coef=g @ to_coef,
        coef_int=g @ to_int,
        coef_der=g @ to_der,
    )


def grid_edges(
    log_post: Callable[[np.ndarray], np.ndarray],
    scale: float,
    upper: float,
    panels: int = PANELS,
) -> tuple[np.ndarray, float]:
    """Panel edges in u = log(1 + tau/s) and the scale s where the posterior of tau lives.

    When the posterior vanishes towards tau = 0 (priors such as the inverse gamma), the lower
    end of its support sets the scale of u: u is then close to log tau over the support, which
    spreads the steep rise of the density over many panels instead of squeezing it into the
    first one.
    """
    edges = find_edges(log_post, scale, upper, panels)
    low = scale * float(np.expm1(edges[0]))
    if low > 0:
        high = scale * float(np.expm1(edges[-1]))
        scale = low
        edges = _even_edges(math.log(2.0), math.log1p(high / scale), panels)
    return edges, scale


def build_grid(
    log_post: Callable[[np.ndarray], np.ndarray],
    scale: float,
    upper: float,
    panels: int = PANELS,
    gl_nodes: int = GL_NODES,
) -> Grid:
    """Find where the posterior of tau lives (:func:`grid_edges`) and lay a composite
    quadrature over it (:func:`make_grid`)."""
    edges, scale = grid_edges(log_post, scale, upper, panels)
    return make_grid(edges, scale, log_post, gl_nodes=gl_nodes)


def normal_mixture_cdf(
    x: np.ndarray, weight: np.ndarray, mean: np.ndarray, sd: np.ndarray
) -> np.ndarray:
    """CDF of Σ_j weight_j N(mean_j, sd_j²) at each x."""
    z = (np.asarray(x, dtype=float)[:, None] - mean[None]) / sd[None]
    return special.ndtr(z) @ weight


def normal_mixture_pdf(
    x: np.ndarray, weight: np.ndarray, mean: np.ndarray, sd: np.ndarray
) -> np.ndarray:
    """Density of the normal mixture at each x."""
    z = (np.asarray(x, dtype=float)[:, None] - mean[None]) / sd[None]
    return (np.exp(-0.5 * z**2) / (sd[None] * np.sqrt(2 * np.pi))) @ weight


#: Convergence of the quantile search: |CDF − q| below this, or a bracket this narrow.
_CDF_TOL = 1e-13
_X_TOL = 1e-14
#: A Halley step smaller than this many posterior sds is taken as the last one, without
#: evaluating the mixture again: convergence is cubic, so the error after it is ~(1e-4)³ sd =
#: 1e-12 sd (the tests check quantiles against brute-force integration to 1e-9).
_STEP_TOL = 1e-4
#: … and only once the CDF is this close: far in a tail (or between the modes of a mixture with
#: several) a Halley step is short whatever the distance to the root.
_STEP_F_TOL = 1e-5
_SQRT_2PI = float(np.sqrt(2 * np.pi))


#: Halley steps of the fast path of :func:`mixture_quantiles` (from the moment-matched normal
#: a near-normal mixture needs two), and the CDF error below which its answer is accepted
#: (a quantile error of ~1e-11 / density: far below the 1e-9 the tests ask).
_FAST_STEPS = 2
_FAST_CDF_TOL = 1e-11
#: Below this tail probability the fast path's tolerance scales with it (relative accuracy).
_FAST_TAIL = 1e-3


def mixture_moments(
    weight: np.ndarray, mean: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of each of N normal mixtures (components along the last axis; ``weight``
    (N, M) or (1, M) for weights shared by every row)."""
    centre = (weight * mean).sum(axis=1)
    second = (weight * (var + mean * mean)).sum(axis=1)
    return centre, np.sqrt(np.maximum(second - centre * centre, 0.0))


def mixture_quantiles(
    weight: np.ndarray,
    mean: np.ndarray,
    sd: np.ndarray,
    probs: np.ndarray,
    moments: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Quantiles (N, Q) of N normal mixtures (components along the last axis; ``weight`` (N, M),
    or (1, M) when every row has the same weights; ``moments`` = :func:`mixture_moments` when
    the caller has them).

    First a fast path: plain Halley steps (the density's slope is nearly free once the density
    is computed) from the moment-matched normal, all rows and quantiles at once, with the CDF
    checked at the result. The rows it does not settle (mixtures with separated modes, far
    tails) go to :func:`_mixture_quantiles_safe`.
    """
    probs = np.asarray(probs, dtype=float)
    centre, spread = mixture_moments(weight, mean, sd * sd) if moments is None else moments
    normal = (
        _standard_normal_quantiles(tuple(probs.tolist()))
        if probs.size <= SCALAR_QUANTILES
        else special.ndtri(probs)[None, :]
    )
    x = centre[:, None] + spread[:, None] * normal
    inv_sd = 1.0 / sd
    cdf_w = weight[:, :, None]
    dens_w = (weight * inv_sd / _SQRT_2PI)[:, :, None]
    slope_w = -(dens_w * inv_sd[:, :, None])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for step_number in range(_FAST_STEPS + 1):
            z = (x[:, :, None] - mean[:, None, :]) * inv_sd[:, None, :]  # (N, Q, M)
            f = (special.ndtr(z) @ cdf_w)[..., 0] - probs[None, :]
            if step_number == _FAST_STEPS:
                break
            phi = np.exp(-0.5 * z * z)
            dens = (phi @ dens_w)[..., 0]
            newton = f / dens
            x = x - newton / (1.0 - 0.5 * newton * ((phi * z) @ slope_w)[..., 0] / dens)
    # the tolerance shrinks in the far tails, where 1e-11 would be a large part of p itself
    tail = np.minimum(1.0, np.minimum(probs, 1.0 - probs) / _FAST_TAIL)
    settled = np.isfinite(x) & (np.abs(f) < _FAST_CDF_TOL * tail[None, :])
    if settled.all():
        return x
    rows = np.flatnonzero(~settled.all(axis=1))
    every = np.broadcast_to(weight, mean.shape)
    x[rows] = _mixture_quantiles_safe(every[rows], mean[rows], sd[rows], probs)
    return x


@lru_cache(maxsize=64)
def _standard_normal_quantiles(probs: tuple[float, ...]) -> np.ndarray:
    """Φ⁻¹ of a few probabilities as a (1, Q) row (cached: a summary asks for the same three
    again and again, and scipy's call costs more than the arithmetic)."""
    row = special.ndtri(np.array(probs))[None, :]
    row.flags.writeable = False
    return row


def _mixture_quantiles_safe(
    weight: np.ndarray, mean: np.ndarray, sd: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """:func:`mixture_quantiles` for any mixture: safeguarded Halley iteration from the
    moment-matched normal (Newton far from the root, bisection where a step leaves the
    bracket or fails to halve), on the analyses not yet converged only (a few stubborn rows
    must not make every row pay for their iterations); all Q quantiles of an analysis share
    one pass over its components (batched matrix products)."""
    n, q = weight.shape[0], probs.size
    centre, spread = mixture_moments(weight, mean, sd * sd)
    target = np.broadcast_to(probs[None, :], (n, q))
    x = centre[:, None] + spread[:, None] * special.ndtri(probs)[None, :]
    a = np.repeat(np.min(mean - 40 * sd, axis=1)[:, None], q, axis=1)
    b = np.repeat(np.max(mean + 40 * sd, axis=1)[:, None], q, axis=1)
    x = np.clip(x, a, b)
    inv_sd = 1.0 / sd
    # (N, M, 3): the weights of the CDF, of the density and of its slope, for one matmul each
    cdf_w = weight[:, :, None]
    dens_w = (weight * inv_sd / _SQRT_2PI)[:, :, None]
    slope_w = -(dens_w * inv_sd[:, :, None])
    done = np.zeros((n, q), dtype=bool)
    last_step = b - a  # rtsafe's safeguard: a step not half the last one is a bisection
    active: slice | np.ndarray = slice(None)
    for _ in range(100):
        xa = x[active]
        z = (xa[:, :, None] - mean[active][:, None, :]) * inv_sd[active][:, None, :]  # (A, Q, M)
        f = (special.ndtr(z) @ cdf_w[active])[..., 0] - target[active]
        phi = np.exp(-0.5 * z * z)
        dens = (phi @ dens_w[active])[..., 0]
        slope = ((phi * z) @ slope_w[active])[..., 0]
        lo = np.where(f < 0, xa, a[active])
        hi = np.where(f > 0, xa, b[active])
        a[active], b[active] = lo, hi
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = f / dens
            correction = 1.0 - 0.5 * newton * slope / dens
            # Halley's step near the root; far from it (a correction outside [1/2, 2]) Newton's
            step = np.where((correction >= 0.5) & (correction <= 2.0), newton / correction, newton)
        new = xa - step
        # where the density underflows Newton's step is infinite (Halley's may even read 0)
        inside = np.isfinite(newton) & np.isfinite(new) & (new >= lo) & (new <= hi)
        # far in a tail or between the modes of a mixture, Halley creeps: bisect instead
        inside &= np.abs(step) <= 0.5 * np.abs(last_step[active])
        new = np.where(inside, new, (lo + hi) / 2)
        last_step[active] = np.where(inside, step, (hi - lo) / 2)
        small_f = np.abs(f) < _CDF_TOL
        finished = (
            small_f
            | (hi - lo < _X_TOL * np.maximum(1.0, np.abs(xa)))
            | (
                inside
                & (np.abs(f) < _STEP_F_TOL)
                & (np.abs(step) < _STEP_TOL * spread[active][:, None])
            )
        )
        x[active] = np.where(small_f, xa, new)
        done[active] |= finished
        remaining = np.flatnonzero(~done.all(axis=1))
        if not remaining.size:
            break
        active = remaining
    return x


#: Newton steps within one panel after the tabulated start (quadratic convergence from within
#: 1/32 of the panel: 2^-50 after ~4; the bracket keeps every step inside it).
_PANEL_STEPS = 12
#: Stop when the CDF polynomial is this close (relative to the panel's mass) everywhere.
_PANEL_TOL = 1e-15
#: Points at which each panel's CDF polynomial is tabulated for the start and bracket of Newton.
_PANEL_TABLE = 33
#: Plain Newton steps of the fast path of :func:`solve_in_panel`: from the table's linear
#: interpolation the relative error falls ~1e-4 → 1e-8 → 1e-15 → 1e-16 (measured), so three
#: reach :data:`_PANEL_TOL`; a row that does not is solved again with the safeguards.
_PANEL_FAST_STEPS = 3


#: :meth:`Grid.quantile` solves this many probabilities or fewer one at a time in Python
#: floats (:func:`solve_in_panel_scalar`): a summary asks for three, an HDI step for two.
SCALAR_QUANTILES = 8
#: Iterations of :func:`solve_in_panel_scalar`: Newton converges in ~5 from the linear start;
#: bisection alone would narrow the bracket [-1, 1] below 1e-16 in 55.
_PANEL_SCALAR_STEPS = 60
#: A bracket this narrow (a few ulps of t near 1) ends :func:`solve_in_panel_scalar`.
_PANEL_SCALAR_WIDTH = 1e-15


@cache
def _table_powers(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """The table points in [-1, 1] and their powers 0..degree-1 (degree × points)."""
    t = np.linspace(-1.0, 1.0, _PANEL_TABLE)
    return t, t[None, :] ** np.arange(degree)[:, None]


@cache
def _with_derivative(degree: int) -> np.ndarray:
    """(d, 2d) matrix taking monomial coefficients to themselves followed by those of the
    derivative (padded with a zero): the value and the slope from one product."""
    out = np.zeros((degree, 2 * degree))
    out[:, :degree] = np.eye(degree)
    out[np.arange(1, degree), degree + np.arange(degree - 1)] = np.arange(1, degree)
    return out


def _table_start(coef: np.ndarray, need: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The table's cell [a, b] holding ``need`` in each row and the linear interpolation in it
    (ufuncs only: on a handful of rows numpy's call overhead is the cost)."""
    points, powers_table = _table_powers(coef.shape[1])
    table = coef @ powers_table  # (N, T)
    below = np.count_nonzero(table < need[:, None], axis=1)
    cell = np.minimum(np.maximum(below - 1, 0), points.size - 2)
    rows = np.arange(coef.shape[0])
    a, b = points[cell], points[cell + 1]
    fa, fb = table[rows, cell], table[rows, cell + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = (need - fa) / (fb - fa)
    frac = np.minimum(np.maximum(np.where(np.isnan(frac), 0.5, frac), 0.0), 1.0)
    return a, b, a + frac * (b - a)


def solve_in_panel(coef: np.ndarray, need: np.ndarray) -> np.ndarray:
    """t in [-1, 1] where the increasing polynomial with monomial coefficients ``coef`` (N, d)
    reaches ``need`` (N,).

    The polynomial is tabulated at :data:`_PANEL_TABLE` points (one matrix product); the
    table's cell holding ``need`` brackets the root and linear interpolation in it starts
    :data:`_PANEL_FAST_STEPS` plain Newton steps (value and slope in one product each). A row
    whose answer is not inside its cell with the polynomial within :data:`_PANEL_TOL` of
    ``need`` is solved again by :func:`_solve_in_panel_safe` (Newton with bisection).
    """
    d = coef.shape[1]
    degree = np.arange(d)
    both = (coef @ _with_derivative(d)).reshape(-1, 2, d)  # the polynomial and its derivative
    a, b, t = _table_start(coef, need)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(_PANEL_FAST_STEPS):
            value, slope = np.einsum("nkd,nd->kn", both, t[:, None] ** degree)
            t = t - (value - need) / slope
    f = (t[:, None] ** degree * coef).sum(axis=1) - need
    settled = (np.abs(f) <= _PANEL_TOL * np.abs(coef.sum(axis=1))) & (t >= a) & (t <= b)
    if not settled.all():
        rows = np.flatnonzero(~settled)
        t[rows] = _solve_in_panel_safe(coef[rows], need[rows])
    return t


def solve_in_panel_scalar(coef: list[float], need: float) -> float:
    """:func:`solve_in_panel` for one polynomial, in Python floats: Newton from the linear
    interpolation between the panel's ends (value and slope by Horner's rule), bisection when a
    step leaves the bracket, until the polynomial is within :data:`_PANEL_TOL` of ``need`` or
    the bracket is a few ulps wide."""
    end = math.fsum(coef)  # the value at t = 1 (0 at t = -1)
    tol = _PANEL_TOL * abs(end)
    a, b = -1.0, 1.0
    t = min(max(2.0 * need / end - 1.0, a), b) if end > 0 else 0.0
    for _ in range(_PANEL_SCALAR_STEPS):
        value = slope = 0.0
        for c in reversed(coef):
            slope = slope * t + value
            value = value * t + c
        f = value - need
        if abs(f) <= tol or b - a <= _PANEL_SCALAR_WIDTH:
            break
        if f < 0:
            a = t
        else:
            b = t
        step = t - f / slope if slope > 0 else math.nan
        t = step if a < step < b else (a + b) / 2
    return t


def _solve_in_panel_safe(coef: np.ndarray, need: np.ndarray) -> np.ndarray:
    """:func:`solve_in_panel` with safeguards: Newton from the table's start, bisection when a
    step leaves the bracket, until the polynomial is within :data:`_PANEL_TOL` of ``need``."""
    degree = np.arange(coef.shape[1])
    slope_coef = coef[:, 1:] * degree[None, 1:]
    end = coef.sum(axis=1)  # the value at t = 1
    a, b, t = _table_start(coef, need)
    for _ in range(_PANEL_STEPS):
        powers = t[:, None] ** degree[None, :]
        f = np.einsum("nd,nd->n", powers, coef) - need
        if np.all(np.abs(f) <= _PANEL_TOL * np.abs(end)):
            break
        a, b = np.where(f < 0, t, a), np.where(f > 0, t, b)
        dens = np.einsum("nd,nd->n", powers[:, :-1], slope_coef)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = t - f / dens
        t = np.where(np.isfinite(step) & (step >= a) & (step <= b), step, (a + b) / 2)
    return t
