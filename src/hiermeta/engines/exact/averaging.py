"""Exact Bayesian model averaging over small-study-effect models (quadrature, no Monte Carlo).

Every model of the ensemble is a normal–normal meta-regression::

    y_i ~ N(mu·[effect] + beta·g_i, v_i + tau²·[random]),   g_i = se_i (PET) or se_i² (PEESE)

with a normal prior on mu, a half-normal prior on beta in the direction of the bias (small
studies show larger effects in the favoured direction) and the tau prior of the fit. Given tau,
(mu, beta) is bivariate normal under the untruncated prior, so

* the marginal likelihood under the half-normal prior is the untruncated one times
  2·Φ(d·m_β/s_β) (the posterior probability that beta lies on the prior's side), and
* the posterior CDF of mu (or of a new study's effect) given tau is a ratio of a bivariate
  normal CDF to Φ(d·m_β/s_β), computed with Owen's T function.

tau is integrated by the exact engine's Gauss–Legendre grid; fixed-effect models are evaluated
at tau = 0. The tests check every marginal likelihood and posterior probability against
brute-force numerical integration over (mu, beta, tau).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from hiermeta.engines.exact.quadrature import (
    LinearModel,
    build_grid,
    conditional,
    tau_log_posterior,
    zero_mean_loglik,
)
from hiermeta.errors import InputError
from hiermeta.priors.families import MuPrior, TauPrior

__all__ = ["BIAS_TERMS", "AveragedModel", "Mixture", "bvn_cdf", "fit_model"]

#: Bias adjustments: none, PET (the standard error as predictor), PEESE (the variance).
BIAS_TERMS = ("none", "PET", "PEESE")
_LOG2 = math.log(2.0)


def bvn_cdf(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """P(X ≤ h, Y ≤ k) for standard bivariate normal (X, Y) with correlation rho (vectorised,
    by Owen's T function: exact to rounding; |rho| < 1)."""
    h, k, rho = np.broadcast_arrays(
        np.asarray(h, dtype=float), np.asarray(k, dtype=float), np.asarray(rho, dtype=float)
    )
    root = np.sqrt(np.maximum(1 - rho**2, 1e-300))
    # nudge exact zeros (the formula divides by h and k) by far less than the accuracy target
    hh = np.where(h == 0, 1e-300, h)
    kk = np.where(k == 0, 1e-300, k)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        a_h = (kk - rho * hh) / (hh * root)
        a_k = (hh - rho * kk) / (kk * root)
    a_h = np.nan_to_num(a_h, nan=0.0, posinf=1e300, neginf=-1e300)
    a_k = np.nan_to_num(a_k, nan=0.0, posinf=1e300, neginf=-1e300)
    out = 0.5 * (special.ndtr(hh) + special.ndtr(kk)) - special.owens_t(hh, a_h)
    out = out - special.owens_t(kk, a_k)
    out = out - 0.5 * ((hh * kk < 0) | ((hh * kk == 0) & (hh + kk < 0)))
    both_inf = np.isinf(h) | np.isinf(k)
    if np.any(both_inf):  # limits: P(X ≤ h, Y ≤ ±inf) etc.
        lim = np.where(
            np.isneginf(h) | np.isneginf(k),
            0.0,
            np.where(np.isposinf(h), special.ndtr(k), special.ndtr(h)),
        )
        out = np.where(both_inf, lim, out)
    return np.clip(out, 0.0, 1.0)


@dataclass(frozen=True)
class Mixture:
    """A distribution made of weighted pieces: normal, normal restricted by a correlated
    half-normal (bias models), or an atom at ``atom`` (sd 0).

    Piece j has CDF Φ2((c − m_j)/s_j, b_j; −r_j)/Φ(b_j) when it has a bias term (r_j is the
    correlation of the quantity with d·beta), Φ((c − m_j)/s_j) otherwise.
    """

    weight: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    b: np.ndarray  # d·m_β/s_β (np.inf: no truncation)
    rho: np.ndarray
    atom: float = 0.0

    def cdf(self, c: float | np.ndarray) -> np.ndarray:
        c = np.atleast_1d(np.asarray(c, dtype=float))
        out = np.zeros(c.shape)
        point = self.sd == 0
        if np.any(point):
            out += np.outer(c >= self.atom, self.weight[point]).sum(axis=1)
        cont = ~point
        if not np.any(cont):
            return out
        w, m, s, b, r = (x[cont] for x in (self.weight, self.mean, self.sd, self.b, self.rho))
        z = (c[:, None] - m[None]) / s[None]
        plain = np.isinf(b)
        values = np.empty(z.shape)
        values[:, plain] = special.ndtr(z[:, plain])
        if np.any(~plain):
            bb = np.broadcast_to(b[~plain], z[:, ~plain].shape)
            rr = np.broadcast_to(-r[~plain], z[:, ~plain].shape)
            joint = bvn_cdf(z[:, ~plain], bb, rr)
            values[:, ~plain] = joint / special.ndtr(b[~plain])[None]
        return out + np.clip(values, 0.0, 1.0) @ w

    def quantile(self, q: float) -> float:
        """Smallest c with CDF(c) ≥ q (an atom can be the answer)."""
        if not 0 < q < 1:
            raise InputError(f"quantile level must be in (0, 1); got {q}")
        point = self.sd == 0
        if np.any(point):
            below = float(self.cdf(self.atom - 1e-12)[0])
            at = float(self.cdf(self.atom)[0])
            if below < q <= at:
                return self.atom
        cont = ~point
        m, s = self.mean[cont], self.sd[cont]
        lo = float(np.min(m - 40 * s)) if np.any(cont) else self.atom - 1
        hi = float(np.max(m + 40 * s)) if np.any(cont) else self.atom + 1
        lo, hi = min(lo, self.atom - 1e-9), max(hi, self.atom + 1e-9)
        return float(
            optimize.brentq(lambda c: float(self.cdf(c)[0]) - q, lo, hi, xtol=1e-12, rtol=1e-13)
        )

    def mean_value(self) -> float:
        """Posterior mean (pieces with a bias term use the mean of the restricted normal)."""
        total = 0.0
        for j in range(len(self.weight)):
            if self.sd[j] == 0:
                total += self.weight[j] * self.atom
            elif np.isinf(self.b[j]):
                total += self.weight[j] * self.mean[j]
            else:  # E[X | d·beta > 0] = m + s·r·φ(b)/Φ(b)
                ratio = math.exp(-0.5 * self.b[j] ** 2) / math.sqrt(2 * math.pi)
                ratio /= float(special.ndtr(self.b[j]))
                total += self.weight[j] * (self.mean[j] + self.sd[j] * self.rho[j] * ratio)
        return float(total)


@dataclass(frozen=True)
class AveragedModel:
    """One model of the ensemble, integrated exactly.

    ``log_ml`` is log p(y | model); ``tau``/``weight`` the posterior nodes of tau (one node at 0
    for fixed-effect models); ``mean``/``cov`` the conditional posterior of the coefficients
    ``[mu]``, ``[beta]`` or ``[mu, beta]`` under the untruncated prior at each node.
    """

    random: bool
    effect: bool
    bias: str
    log_ml: float
    tau: np.ndarray
    weight: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    direction: float

    @property
    def name(self) -> str:
        parts = ["random effects" if self.random else "fixed effect"]
        parts.append("effect" if self.effect else "no effect (mu = 0)")
        parts.append({"none": "no bias term", "PET": "PET", "PEESE": "PEESE"}[self.bias])
        return ", ".join(parts)

    def pieces(self, predictive: bool = False) -> Mixture:
        """The posterior of mu (or of a new study's true effect) as a :class:`Mixture`."""
        n = len(self.tau)
        extra = self.tau**2 if predictive else np.zeros(n)
        if self.effect:
            m = self.mean[:, 0]
            var = self.cov[:, 0, 0] + extra
        else:
            m = np.zeros(n)
            var = extra
        s = np.sqrt(var)
        if self.bias == "none":
            b = np.full(n, np.inf)
            r = np.zeros(n)
        else:
            j = self.mean.shape[1] - 1
            sb = np.sqrt(self.cov[:, j, j])
            b = self.direction * self.mean[:, j] / sb
            cov_mb = self.cov[:, 0, j] if self.effect else np.zeros(n)
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.where(s > 0, self.direction * cov_mb / (s * sb), 0.0)
        return Mixture(self.weight, m, s, b, r)


def _columns(effect: bool, bias: str, se: np.ndarray) -> list[np.ndarray]:
    cols = [np.ones(len(se))] if effect else []
    if bias == "PET":
        cols.append(se)
    elif bias == "PEESE":
        cols.append(se**2)
    return cols


def fit_model(
    y: np.ndarray,
    se: np.ndarray,
    *,
    random: bool,
    effect: bool,
    bias: str,
    mu_prior: MuPrior,
    tau_prior: TauPrior,
    bias_sd: float,
    direction: float,
) -> AveragedModel:
    """Integrate one model of the ensemble exactly (see the module docstring)."""
    if bias not in BIAS_TERMS:
        raise InputError(f"unknown bias term {bias!r}; valid options are {', '.join(BIAS_TERMS)}")
    v = se**2
    cols = _columns(effect, bias, se)
    prec0, mean0 = [], []
    if effect:
        m0, p0 = mu_prior.normal_moments()
        if not p0 > 0:
            raise InputError(
                "model averaging needs a proper prior on mu (Bayes factors are undefined under a "
                "flat prior): give a Normal prior"
            )
        prec0.append(p0)
        mean0.append(m0)
    if bias != "none":
        prec0.append(1 / bias_sd**2)
        mean0.append(0.0)

    if cols:
        model = LinearModel(
            y, v, np.column_stack(cols), np.array(prec0, dtype=float), np.array(mean0, dtype=float)
        )
        loglik = _loglik_with_truncation(model, bias != "none", direction)
    else:
        loglik = zero_mean_loglik(y, v)

    if random:
        if not tau_prior.proper:
            raise InputError("model averaging needs a proper prior on tau")

        log_post = tau_log_posterior(tau_prior.logpdf, loglik)
        grid = build_grid(
            log_post, float(max(np.min(se), 1e-8)), float(getattr(tau_prior, "upper", np.inf))
        )
        keep = grid.weight > 1e-18 * grid.weight.max()
        tau_nodes, weight = grid.tau[keep], grid.weight[keep] / grid.weight[keep].sum()
        log_ml = float(grid.log_norm)
    else:
        tau_nodes, weight = np.zeros(1), np.ones(1)
        log_ml = float(loglik(tau_nodes)[0])
    if cols:
        cond = conditional(model, tau_nodes)
        mean, cov = cond.mean, cond.cov
    else:
        mean, cov = np.zeros((len(tau_nodes), 0)), np.zeros((len(tau_nodes), 0, 0))
    return AveragedModel(random, effect, bias, log_ml, tau_nodes, weight, mean, cov, direction)


def _loglik_with_truncation(
    model: LinearModel, truncated: bool, direction: float
) -> Callable[[np.ndarray], np.ndarray]:
    """log p(y | tau) with the last coefficient's prior half-normal on ``direction``'s side."""

    def loglik(tau: np.ndarray) -> np.ndarray:
        cond = conditional(model, np.asarray(tau, dtype=float))
        if not truncated:
            return cond.loglik
        j = model.X.shape[1] - 1
        b = direction * cond.mean[:, j] / np.sqrt(cond.cov[:, j, j])
        return cond.loglik + _LOG2 + special.log_ndtr(b)

    return loglik
