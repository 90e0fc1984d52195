# mypy: ignore-errors
# (numba types these functions when it compiles them; mypy cannot see through its decorators)
"""The numba functions behind :mod:`hiermeta.engines.nuts.kernel` (imported lazily: numba's
import and the first compilation cost ~1 s, once per machine thanks to ``cache=True``)."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["kernel", "tau_logp"]


@numba.njit(cache=True, nogil=True)
def tau_logp(code: int, z: float, a: float, b: float, c: float) -> tuple[float, float, float]:
    """(log p of z, d/dz, tau) for z on the sampler's scale, Jacobian included."""
    if code == 0:  # half-normal(a): z ~ N(0, a)
        return -0.5 * (z / a) ** 2, -z / a**2, abs(z)
    if code == 1:  # half-Cauchy(a): z ~ Cauchy(0, a)
        return -np.log1p((z / a) ** 2), -2 * z / (a * a + z * z), abs(z)
    if code == 2:  # half-t(nu = a, sigma = b)
        q = 1 + (z / b) ** 2 / a
        return -0.5 * (a + 1) * np.log(q), -(a + 1) * z / (a * b * b * q), abs(z)
    if code == 3:  # exponential(rate a): z ~ Laplace(0, 1/a)
        return -a * abs(z), -a * np.sign(z), abs(z)
    tau = np.exp(z)
    if code == 5:  # log tau ~ N(a, b); Jacobian cancels the 1/tau
        return -0.5 * ((z - a) / b) ** 2, -(z - a) / b**2, tau
    if code == 6:  # inverse gamma(alpha = a, beta = b) on tau
        return -a * z - b / tau, -a + b / tau, tau
    # code 7: log tau² = 2z ~ t_a(b, c)
    w = (2 * z - b) / c
    return -0.5 * (a + 1) * np.log1p(w * w / a), -(a + 1) * 2 * w / (c * (a + w * w)), tau


@numba.njit(cache=True, nogil=True)
def kernel(
    x: np.ndarray,
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    prior_mean: np.ndarray,
    prior_prec: np.ndarray,
    tau_code: int,
    tau_params: np.ndarray,
    cluster: np.ndarray,
    clusters: int,
    grad: np.ndarray,
) -> float:
    k, p = X.shape
    a, b, c = tau_params[0], tau_params[1], tau_params[2]
    beta = x[:p]
    lp = 0.0
    for j in range(p):  # normal (or flat: precision 0) priors on the coefficients
        dev = beta[j] - prior_mean[j]
        lp -= 0.5 * prior_prec[j] * dev * dev
        grad[j] = -prior_prec[j] * dev
    lp_t, g_t, tau = tau_logp(tau_code, x[p], a, b, c)
    lp += lp_t
    r = y - X @ beta
    d = v + tau * tau
    e = r / d  # becomes Σ⁻¹ r with cohorts
    dd = np.empty(k)  # d log-likelihood / d d_i
    if clusters > 0:
        lp_c, g_c, t = tau_logp(tau_code, x[p + 1], a, b, c)
        lp += lp_c
        t2 = t * t
        sum_a = np.zeros(clusters)
        sum_b = np.zeros(clusters)
        for i in range(k):
            sum_a[cluster[i]] += 1 / d[i]
            sum_b[cluster[i]] += r[i] / d[i]
        dll_dt2 = 0.0
        for m in range(clusters):
            q = 1 + t2 * sum_a[m]
            lp -= 0.5 * (np.log(q) - t2 * sum_b[m] ** 2 / q)
            dll_dt2 -= 0.5 * (sum_a[m] / q - (sum_b[m] / q) ** 2)
        for i in range(k):
            m = cluster[i]
            g = t2 / (1 + t2 * sum_a[m])
            e[i] = r[i] / d[i] - g * sum_b[m] / d[i]
            dd[i] = -0.5 * ((1 / d[i] - g / d[i] ** 2) - e[i] ** 2)
            lp -= 0.5 * (np.log(d[i]) + r[i] * r[i] / d[i])
        # chain rule to z_c: t² = z² (folded) or exp(2z)
        dt2_dz = 2 * x[p + 1] if tau_code <= 3 else 2 * t2
        grad[p + 1] = g_c + dll_dt2 * dt2_dz
    else:
        for i in range(k):
            dd[i] = -0.5 * (1 / d[i] - e[i] * e[i])
            lp -= 0.5 * (np.log(d[i]) + r[i] * r[i] / d[i])
    grad[:p] += X.T @ e
    dll_dtau2 = dd.sum()
    dtau2_dz = 2 * x[p] if tau_code <= 3 else 2 * tau * tau
    grad[p] = g_t + dll_dtau2 * dtau2_dz
    return lp


# ------------------------------------------------------------------ C callbacks for nutpie
# One float64 buffer carries everything (nutpie passes its address as the callbacks' last
# argument): [total, k, p, clusters, tau_code, a, b, c, folded, y(k), v(k), X(k·p),
# prior_mean(p), prior_prec(p), cluster(k)].
HEADER = 9

_LOGP_SIG = numba.types.int64(
    numba.types.uint64,
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
)
_EXPAND_SIG = numba.types.int64(
    numba.types.uint64,
    numba.types.uint64,
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
)


@numba.cfunc(_LOGP_SIG, cache=True, nogil=True)
def logp_callback(dim, x_, grad_, logp_, buf_):
    total = int(numba.carray(buf_, (1,))[0])
    buf = numba.carray(buf_, (total,))
    k, p, clusters, code = int(buf[1]), int(buf[2]), int(buf[3]), int(buf[4])
    start = HEADER
    y = buf[start : start + k]
    v = buf[start + k : start + 2 * k]
    X = np.ascontiguousarray(buf[start + 2 * k : start + 2 * k + k * p]).reshape((k, p))
    start = start + 2 * k + k * p
    prior_mean = buf[start : start + p]
    prior_prec = buf[start + p : start + 2 * p]
    cluster = buf[start + 2 * p : start + 2 * p + k].astype(np.int64)
    x = numba.carray(x_, (dim,))
    grad = numba.carray(grad_, (dim,))
    value = kernel(x, y, v, X, prior_mean, prior_prec, code, buf[5:8], cluster, clusters, grad)
    numba.carray(logp_, (1,))[0] = value
    if not np.isfinite(value):
        return 4
    for j in range(dim):
        if not np.isfinite(grad[j]):
            return 3
    return 0


@numba.cfunc(_EXPAND_SIG, cache=True, nogil=True)
def expand_callback(dim, expanded, x_, out_, buf_):
    """[mu, tau, beta…, tau_cohort] from the unconstrained point."""
    total = int(numba.carray(buf_, (1,))[0])
    buf = numba.carray(buf_, (total,))
    p, clusters, folded = int(buf[2]), int(buf[3]), buf[8] > 0
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (expanded,))
    out[0] = x[0]
    out[1] = abs(x[p]) if folded else np.exp(x[p])
    for j in range(1, p):
        out[1 + j] = x[j]
    if clusters > 0:
        out[p + 1] = abs(x[p + 1]) if folded else np.exp(x[p + 1])
    return 0
