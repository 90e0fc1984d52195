"""Estimators of the between-study variance tau², with metafor's names and formulas.

All functions take ``y`` (k), sampling variances ``v`` (k) and the design ``X`` (k × p) and
return tau² ≥ 0. Formulas follow metafor's ``rma.uni`` (Viechtbauer 2010, J Stat Softw 36(3));
iterative estimators are solved to machine precision rather than to metafor's default
threshold of 1e-5, so they agree with a tightly converged metafor run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

from hiermeta.results.heterogeneity import gls, trace_p

__all__ = ["TAU2_METHODS", "TAU2_NAMES", "estimate_tau2", "generalised_q", "gls"]

#: Method names accepted by :func:`hiermeta.engines.frequentist` (metafor's names).
TAU2_METHODS = ("FE", "DL", "REML", "ML", "PM", "EB", "SJ", "HS", "HE")
#: Names for methods sections.
TAU2_NAMES = {
    "FE": "none (fixed effect)",
    "DL": "DerSimonian–Laird",
    "REML": "restricted maximum likelihood (REML)",
    "ML": "maximum likelihood",
    "PM": "Paule–Mandel",
    "EB": "empirical Bayes",
    "SJ": "Sidik–Jonkman",
    "HS": "Hunter–Schmidt",
    "HE": "Hedges (method of moments)",
}
_TOL = 1e-13


def generalised_q(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Generalised Q statistic ``Σ w_i (y_i − x_i'β̂)²`` with ``w_i = 1/(v_i + tau²)``."""
    _, _, w, r = gls(y, v, X, tau2)
    return float(np.sum(w * r**2))


def _trace_pp(w: np.ndarray, X: np.ndarray, cov: np.ndarray) -> float:
    """tr(PP) without forming P."""
    a2 = cov @ ((X.T * w**2) @ X)
    a3 = cov @ ((X.T * w**3) @ X)
    return float(np.sum(w**2) - 2 * np.trace(a3) + np.trace(a2 @ a2))


def _dl(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    _, cov, w, r = gls(y, v, X, 0.0)
    k, p = X.shape
    q = float(np.sum(w * r**2))
    return max(0.0, (q - (k - p)) / trace_p(w, X, cov))


def _hs(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    _, _, w, r = gls(y, v, X, 0.0)
    return max(0.0, (float(np.sum(w * r**2)) - len(y)) / float(np.sum(w)))


def _he_raw(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    k, p = X.shape
    xtx_inv = np.linalg.inv(X.T @ X)
    r = y - X @ (xtx_inv @ (X.T @ y))
    trace_pv = float(np.sum(v) - np.trace(xtx_inv @ ((X.T * v) @ X)))
    return (float(r @ r) - trace_pv) / (k - p)


def _he(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    return max(0.0, _he_raw(y, v, X))


def _sj(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    k, p = X.shape
    tau2_0 = float(np.var(y, ddof=1) * (k - 1) / k)
    return tau2_0 * generalised_q(y, v, X, tau2_0) / (k - p)


def _pm(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    k, p = X.shape
    target = k - p

    def excess(tau2: float) -> float:
        return generalised_q(y, v, X, tau2) - target

    if excess(0.0) <= 0:
        return 0.0
    upper = max(1.0, 10 * float(np.var(y)))
    while excess(upper) > 0:
        upper *= 10
    return float(optimize.brentq(excess, 0.0, upper, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def _fisher_scoring(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    step: Callable[[np.ndarray, np.ndarray, np.ndarray], float],
    loglik: Callable[[float], float],
) -> float:
    """metafor's Fisher scoring from the Hedges (HE) start, with step halving at zero.

    Fisher scoring can fall into a 2-cycle (found by the coverage study: k = 10, steps of
    ±0.005 around tau² = 0.006 forever; metafor stops with "did not converge"). After 200
    iterations we maximise the (restricted) log-likelihood directly instead.
    """
    tau2 = _he(y, v, X)
    for _ in range(200):
        _, cov, w, r = gls(y, v, X, tau2)
        try:
            with np.errstate(divide="ignore", invalid="ignore"):
                adjust = step(w, r, cov)
        except ZeroDivisionError:
            adjust = float("nan")
        if not np.isfinite(adjust):  # degenerate information: maximise directly
            break
        while tau2 + adjust < 0:
            adjust /= 2
        new = tau2 + adjust
        if abs(new - tau2) <= _TOL * max(1.0, tau2):
            return max(0.0, new)
        tau2 = new
    return _maximise(loglik, y, v)


def _maximise(loglik: Callable[[float], float], y: np.ndarray, v: np.ndarray) -> float:
    """Maximise a log-likelihood over tau² ≥ 0: a log-spaced scan, then bounded Brent."""
    upper = max(10.0, 100 * float(np.var(y)) + float(np.max(v)))
    grid = np.concatenate([[0.0], np.geomspace(1e-10, upper, 400)])
    values = np.array([loglik(t) for t in grid])
    best = int(np.argmax(values))
    if best == 0 and values[0] >= values[1]:
        return 0.0
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    result = optimize.minimize_scalar(
        lambda t: -loglik(t), bounds=(lo, hi), method="bounded", options={"xatol": 1e-15}
    )
    return float(result.x)


def _loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, restricted: bool) -> float:
    """(Restricted) log-likelihood of tau², up to a constant."""
    _, cov, w, r = gls(y, v, X, tau2)
    value = -0.5 * (float(np.sum(np.log(v + tau2))) + float(np.sum(w * r**2)))
    if restricted:
        value -= 0.5 * float(np.linalg.slogdet(np.linalg.inv(cov))[1])
    return value


def _reml(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    def step(w: np.ndarray, r: np.ndarray, cov: np.ndarray) -> float:
        # score / information of the restricted likelihood; P y = W r
        return (float(np.sum((w * r) ** 2)) - trace_p(w, X, cov)) / _trace_pp(w, X, cov)

    return _fisher_scoring(y, v, X, step, lambda t: _loglik(y, v, X, t, restricted=True))


def _ml(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    def step(w: np.ndarray, r: np.ndarray, cov: np.ndarray) -> float:
        return (float(np.sum((w * r) ** 2)) - float(np.sum(w))) / float(np.sum(w**2))

    return _fisher_scoring(y, v, X, step, lambda t: _loglik(y, v, X, t, restricted=False))


_ESTIMATORS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "FE": lambda y, v, X: 0.0,
    "DL": _dl,
    "REML": _reml,
    "ML": _ml,
    "PM": _pm,
    # metafor's empirical Bayes (Morris 1983) iteration has the Paule–Mandel fixed point
    "EB": _pm,
    "SJ": _sj,
    "HS": _hs,
    "HE": _he,
}


def estimate_tau2(method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """tau² by ``method`` (one of :data:`TAU2_METHODS`)."""
    return _ESTIMATORS[method](y, v, X)


def se_tau2(method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Standard error of tau² as metafor reports it (NaN where it reports none)."""
    k, p = X.shape
    if method == "REML":
        _, cov, w, _ = gls(y, v, X, tau2)
        return float(np.sqrt(2 / _trace_pp(w, X, cov)))
    if method == "ML":
        w = 1 / (v + tau2)
        return float(np.sqrt(2 / np.sum(w**2)))
    if method in ("PM", "EB"):
        w = 1 / (v + tau2)
        return float(np.sqrt(2 * k**2 / (k - p) / np.sum(w) ** 2))
    t = max(tau2, 0.0)
    if method in ("DL", "HS"):  # P at the fixed-effect weights 1/v
        tr_p, tr_pp, _, _ = _p_traces(1 / v, X, v)
        spread = np.sqrt(2 * (k - p) + 4 * t * tr_p + 2 * t**2 * tr_pp)
        return float(spread / (tr_p if method == "DL" else np.sum(1 / v)))
    if method == "HE":  # P = I − X(X'X)⁻¹X' (unit weights)
        _, _, tr_pvpv, _ = _p_traces(np.ones(k), X, v)
        tr_pv = float(np.sum(v) - np.trace(np.linalg.solve(X.T @ X, (X.T * v) @ X)))
        return float(np.sqrt(2 * tr_pvpv + 4 * t * tr_pv + 2 * t**2 * (k - p)) / (k - p))
    if method == "SJ":  # P at the weights of the initial estimate tau0²
        tau2_0 = float(np.var(y, ddof=1) * (k - 1) / k)
        _, tr_pp, tr_pvpv, tr_pvp = _p_traces(1 / (v + tau2_0), X, v)
        spread = np.sqrt(2 * tr_pvpv + 4 * t * tr_pvp + 2 * t**2 * tr_pp)
        return float(tau2_0 / (k - p) * spread)
    return float("nan")


def _p_traces(w: np.ndarray, X: np.ndarray, g: np.ndarray) -> tuple[float, float, float, float]:
    """tr(P), tr(PP), tr(PGPG) and tr(PGP) for P = W − WX(X'WX)⁻¹X'W and G = diag(g),
    in O(k·p²) without forming the k × k matrix P (metafor's ``se.tau2`` formulas)."""
    cov = np.linalg.inv((X.T * w) @ X)

    def moment(d: np.ndarray) -> np.ndarray:  # C X' diag(d) X
        return cov @ ((X.T * d) @ X)

    tr_p = float(np.sum(w) - np.trace(moment(w**2)))
    m2 = moment(w**2)
    tr_pp = float(np.sum(w**2) - 2 * np.trace(moment(w**3)) + np.trace(m2 @ m2))
    mg = moment(w**2 * g)
    tr_pgpg = float(np.sum(w**2 * g**2) - 2 * np.trace(moment(w**3 * g**2)) + np.trace(mg @ mg))
    tr_pgp = float(np.sum(g * w**2) - 2 * np.trace(moment(w**3 * g)) + np.trace(m2 @ mg))
    return tr_p, tr_pp, tr_pgpg, tr_pgp
