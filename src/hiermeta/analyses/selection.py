"""Selection models for publication bias (metafor's ``selmodel``), fitted by maximum likelihood.

A selection model says how the chance that a study is published depends on its one-sided
p-value: a step function (Hedges 1992; Vevea & Hedges 1995) — relative publication
probabilities ``delta`` per p-value interval, the first fixed at 1 — or a smooth weight
function — negative exponential, half-normal, logistic, power (Preston, Ashby & Smyth 2004) or
the two-parameter beta function (Citkowicz & Vevea 2017). The random-effects likelihood is reweighted by it and normalised per study::

    f(y_i) = w(p_i) N(y_i | mu, v_i + tau²) / A_i,   A_i = ∫ w(p(y)) N(y | mu, v_i + tau²) dy

A likelihood-ratio test against the same model without selection (the ML fit) asks whether the
p-values are selected. The tests pin estimates, standard errors (from the numerical Hessian on
the untransformed scale, as metafor) and the LRT to metafor 3.8.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from hiermeta.analyses.small_study import effect_row
from hiermeta.data.effects import EffectData
from hiermeta.engines.frequentist import FrequentistResult, frequentist
from hiermeta.engines.nuts.selection import TARGET_ACCEPT
from hiermeta.errors import ConvergenceWarning, InputError, check_level, unknown_option
from hiermeta.results.intervals import probability_text

__all__ = [
    "SELECTION_TYPES",
    "BayesianSelection",
    "SelectionModel",
    "bayesian_selection_model",
    "selection_model",
]

#: p-value sides: ``"greater"`` (large effects are significant: selection favours positive
#: estimates), ``"less"`` (negative estimates, e.g. HR < 1 benefit) or ``"two.sided"``.
ALTERNATIVES = ("greater", "less", "two.sided")
#: Bounds of every selection parameter (metafor's delta.min, delta.max).
DELTA_MAX = 100.0
#: The normalising integral of a smooth weight function is taken over t = y/se, where the
#: p-value changes: beyond |t| = T_RANGE the p-value is within 1e-15 of 0 or 1 (so the weight
#: is constant and the normal tail is exact), inside it Gauss–Legendre with SEGMENT_NODES per
#: segment between the kinks (the cutpoint, the clipping points). The study's N(mu, sd²) varies
#: on the scale sd/se ≥ 1 in t, which 64 nodes over 16 units resolve to ~1e-14.
T_RANGE = 8.0
SEGMENT_NODES = 64
#: p-values are clipped to [P_MIN, 1 − P_MIN] for the weight functions that are singular at 0 or
#: 1 (metafor's pval.min for "power" and "beta"); the integral splits at the clipping points.
P_MIN = 1e-5


class _Weight(NamedTuple):
    """One weight function: parameters, starting values, the null values (no selection), the
    parameters' lower bounds, whether p is clipped, and w(p, delta, steps)."""

    n_params: int
    init: tuple[float, ...]
    null: tuple[float, ...]
    lower: tuple[float, ...]
    clip: bool
    w: Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def _smooth(fun: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    """A one-parameter weight normalised to 1 at and below the cutoff (metafor's ``steps``)."""

    def w(p: np.ndarray, delta: np.ndarray, cut: float) -> np.ndarray:
        base = fun(np.asarray(cut, dtype=float), delta)
        return np.where(p <= cut, 1.0, fun(p, delta) / base)

    return w


#: Continuous weight functions (metafor 3.8's names and definitions).
WEIGHT_FUNCTIONS: dict[str, _Weight] = {
    "negexp": _Weight(1, (1.0,), (0.0,), (0.0,), False, _smooth(lambda p, d: np.exp(-d[0] * p))),
    "halfnorm": _Weight(
        1, (1.0,), (0.0,), (0.0,), False, _smooth(lambda p, d: np.exp(-d[0] * p**2))
    ),
    "logistic": _Weight(
        1,
        (1.0,),
        (0.0,),
        (0.0,),
        False,
        _smooth(lambda p, d: 2 * np.exp(-d[0] * p) / (1 + np.exp(-d[0] * p))),
    ),
    "power": _Weight(1, (1.0,), (0.0,), (0.0,), True, _smooth(lambda p, d: (1 - p) ** d[0])),
    "beta": _Weight(
        2,
        (1.0, 1.0),
        (1.0, 1.0),
        (1e-5, 1e-5),
        True,
        lambda p, d, cut: p ** (d[0] - 1) * (1 - p) ** (d[1] - 1),
    ),
}
#: Every selection model type: the step function and the continuous weight functions.
SELECTION_TYPES = ("stepfun", *WEIGHT_FUNCTIONS)


class SelectionModel(NamedTuple):
    """A fitted selection model (metafor's ``selmodel``).

    ``estimate`` (with ``se``, interval, z and p) is the selection-adjusted pooled effect on the
    analysis scale; ``tau2`` its heterogeneity; ``delta`` the selection parameters (for a step
    function, the relative publication probability of each p-value interval, the first fixed
    at 1); ``lrt``/``lrt_p`` the likelihood-ratio test of selection against the unadjusted ML
    fit; ``counts`` the number of studies per p-value interval.
    """

    type: str
    steps: tuple[float, ...]
    alternative: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    tau2: float
    se_tau2: float
    delta: np.ndarray
    se_delta: np.ndarray
    loglik: float
    loglik_null: float
    lrt: float
    lrt_df: int
    lrt_p: float
    counts: pd.Series
    unadjusted: FrequentistResult
    notes: tuple[str, ...]

    def describe(self) -> str:
        """The adjusted estimate and the test in words."""
        d = self.unadjusted.data
        values = [self.estimate, self.ci_low, self.ci_high]
        if d.is_ratio:
            values = [math.exp(x) for x in values]
        side = {
            "greater": "one-sided p-values for positive effects",
            "less": "one-sided p-values for negative effects",
            "two.sided": "two-sided p-values",
        }[self.alternative]
        cuts = ", ".join(f"{s:g}" for s in self.steps[:-1])
        name = (
            f"step-function selection model (p-value cutpoints {cuts}; {side})"
            if self.type == "stepfun"
            else f"{self.type} selection model ({side})"
        )

        p = "< 0.001" if self.lrt_p < 0.001 else f"{self.lrt_p:.3f}"
        return (
            f"{name[0].upper()}{name[1:]}: adjusted {d.measure} {values[0]:.2f} "
            f"({values[1]:.2f}–{values[2]:.2f}); test of selection LRT = {self.lrt:.2f} on "
            f"{self.lrt_df} df, p = {p}."
        )

    def table(self) -> pd.DataFrame:
        """The selection parameters with their standard errors (and interval for step
        functions)."""
        if self.type == "stepfun":
            low = [0.0, *self.steps[:-1]]
            index = [f"{a:g} < p ≤ {b:g}" for a, b in zip(low, self.steps, strict=True)]
        else:
            index = [f"delta{i + 1}" for i in range(len(self.delta))]
        return pd.DataFrame(
            {
                "delta": self.delta,
                "se": self.se_delta,
                **({"k": self.counts.to_numpy()} if self.type == "stepfun" else {}),
            },
            index=pd.Index(index, name="interval" if self.type == "stepfun" else "parameter"),
        )


def _p_values(y: np.ndarray, v: np.ndarray, alternative: str) -> np.ndarray:
    z = y / np.sqrt(v)
    if alternative == "two.sided":
        return 2 * special.ndtr(-np.abs(z))
    return special.ndtr(-z) if alternative == "greater" else special.ndtr(z)


def _interval_probs(
    steps: np.ndarray, mu: float, sd: np.ndarray, se: np.ndarray, alternative: str
) -> np.ndarray:
    """P(p-value in each interval) per study under N(mu, sd²): shape (k, len(steps))."""
    inner = steps[:-1]
    if alternative == "two.sided":
        cut = se[:, None] * special.ndtri(1 - inner[None, :] / 2)  # |y| ≥ cut ↔ p ≤ step
        upper = np.concatenate([np.full((len(se), 1), np.inf), cut], axis=1)
        lower = np.concatenate([cut, np.zeros((len(se), 1))], axis=1)
        right = special.ndtr((upper - mu) / sd[:, None]) - special.ndtr((lower - mu) / sd[:, None])
        left = special.ndtr((-lower - mu) / sd[:, None]) - special.ndtr((-upper - mu) / sd[:, None])
        return right + left
    sign = 1.0 if alternative == "greater" else -1.0
    # in the direction of the alternative: p ≤ s ↔ sign·y ≥ se·z_{1−s}
    cut = se[:, None] * special.ndtri(1 - inner[None, :])
    upper = np.concatenate([np.full((len(se), 1), np.inf), cut], axis=1)
    lower = np.concatenate([cut, np.full((len(se), 1), -np.inf)], axis=1)
    m = sign * mu
    return special.ndtr((upper - m) / sd[:, None]) - special.ndtr((lower - m) / sd[:, None])


class _Problem(NamedTuple):
    y: np.ndarray
    v: np.ndarray
    p: np.ndarray
    type: str
    steps: np.ndarray
    alternative: str
    group: np.ndarray  # step function: interval of each study's p-value


def _loglik(problem: _Problem, mu: float, tau2: float, delta: np.ndarray) -> float:
    y, v = problem.y, problem.v
    sd = np.sqrt(v + tau2)
    dens = stats.norm.logpdf(y, mu, sd)
    if problem.type == "stepfun":
        probs = _interval_probs(problem.steps, mu, sd, np.sqrt(v), problem.alternative)
        area = probs @ delta
        with np.errstate(divide="ignore"):
            return float(np.sum(np.log(delta[problem.group]) + dens - np.log(area)))
    weight = WEIGHT_FUNCTIONS[problem.type]
    cut = float(problem.steps[0])
    area = _smooth_area(problem, weight, cut, mu, sd, delta)
    p_obs = np.clip(problem.p, P_MIN, 1 - P_MIN) if weight.clip else problem.p
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(weight.w(p_obs, delta, cut)) + dens - np.log(area)))


def _kinks(problem: _Problem, weight: _Weight, cut: float) -> np.ndarray:
    """Points in t = y/se where the weight as a function of t has a kink."""
    probs = [cut] if cut > 0 else []
    if weight.clip:
        probs += [P_MIN, 1 - P_MIN]
    points = []
    for q in probs:
        if problem.alternative == "two.sided":
            z = float(special.ndtri(1 - q / 2))
            points += [-z, z]
        else:
            z = float(special.ndtri(1 - q))  # greater: p = 1 − Φ(t) = q
            points.append(z if problem.alternative == "greater" else -z)
    if problem.alternative == "two.sided":
        points.append(0.0)
    inside = [t for t in points if -T_RANGE < t < T_RANGE]
    return np.unique(np.array([-T_RANGE, *inside, T_RANGE]))


def _smooth_area(
    problem: _Problem, weight: _Weight, cut: float, mu: float, sd: np.ndarray, delta: np.ndarray
) -> np.ndarray:
    """A_i = ∫ w(p(y)) N(y | mu, sd_i²) dy: exact tails plus Gauss–Legendre in between."""
    se = np.sqrt(problem.v)
    x, w = _legendre(SEGMENT_NODES)
    edges = _kinks(problem, weight, cut)
    half = np.diff(edges)[:, None] / 2
    t = ((edges[:-1] + edges[1:])[:, None] / 2 + half * x).ravel()
    wt = (half * w).ravel()

    def w_of(tt: np.ndarray) -> np.ndarray:
        p = _p_values(tt, np.ones_like(tt), problem.alternative)
        if weight.clip:
            p = np.clip(p, P_MIN, 1 - P_MIN)
        return np.asarray(weight.w(p, delta, cut), dtype=float)

    yy = se[:, None] * t[None, :]
    middle = (w_of(t)[None, :] * stats.norm.pdf(yy, mu, sd[:, None]) * se[:, None]) @ wt
    lo, hi = -T_RANGE * se, T_RANGE * se
    tails = w_of(np.array([-np.inf]))[0] * special.ndtr((lo - mu) / sd)
    tails = tails + w_of(np.array([np.inf]))[0] * special.ndtr((mu - hi) / sd)
    return middle + tails


@cache
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, rel: float = 1e-3) -> np.ndarray:
    """Hessian by central differences with two Richardson extrapolation steps (as numDeriv)."""
    n = len(x)
    h0 = rel * np.maximum(np.abs(x), 0.01)

    def estimate(h: np.ndarray) -> np.ndarray:
        out = np.empty((n, n))
        f0 = fun(x)
        for i in range(n):
            ei = np.zeros(n)
            ei[i] = h[i]
            out[i, i] = (fun(x + ei) - 2 * f0 + fun(x - ei)) / h[i] ** 2
            for j in range(i):
                ej = np.zeros(n)
                ej[j] = h[j]
                out[i, j] = out[j, i] = (
                    fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej)
                ) / (4 * h[i] * h[j])
        return out

    a = [estimate(h0 / 2**r) for r in range(3)]
    b = [(4 * a[r + 1] - a[r]) / 3 for r in range(2)]
    return (16 * b[1] - b[0]) / 15


def selection_model(
    fit: FrequentistResult | EffectData,
    type: str = "stepfun",
    steps: Sequence[float] | float | None = (0.025,),
    alternative: str = "greater",
    ci_level: float | None = None,
) -> SelectionModel:
    """Fit a selection model by maximum likelihood (metafor's ``selmodel``).

    Parameters
    ----------
    fit
        A frequentist fit without moderators, or the data. Fits by any tau² estimator are
        refitted by ML (as metafor); an ``"FE"`` fit gives a fixed-effect selection model.
    type
        ``"stepfun"`` (default) or a continuous weight function: ``"negexp"``, ``"halfnorm"``,
        ``"logistic"``, ``"power"``, ``"beta"`` (two parameters, no cutpoint).
    steps
        For ``"stepfun"``: the one-sided p-value cutpoints (1 is added). For the one-parameter
        continuous functions, at most one cutpoint below which the weight is 1 (default none).
    alternative
        Side of the one-sided p-values: ``"greater"`` when selection favours significantly
        *positive* estimates (e.g. harm on a log OR scale), ``"less"`` for significantly negative
        ones (a benefit as HR < 1), or ``"two.sided"``.
    """
    f = _prepare(fit)
    if ci_level is not None:
        ci_level = check_level(ci_level)
    if type not in SELECTION_TYPES:
        raise unknown_option("selection model type", type, SELECTION_TYPES)
    if alternative not in ALTERNATIVES:
        raise unknown_option("alternative", alternative, ALTERNATIVES)
    cuts = _steps(type, steps)
    y, v = np.asarray(f.data.y, float), np.asarray(f.data.variance, float)
    p = _p_values(y, v, alternative)
    group = np.searchsorted(cuts, p, side="left")  # first step with p ≤ step
    counts = pd.Series(np.bincount(group, minlength=len(cuts)), dtype=int)
    if type == "stepfun" and np.any(counts.to_numpy() == 0):
        empty = [
            f"{lo:g} < p ≤ {hi:g}"
            for lo, hi, n in zip([0.0, *cuts[:-1]], cuts, counts, strict=True)
            if n == 0
        ]
        raise InputError(
            "no study's p-value falls in the interval(s) "
            + ", ".join(empty)
            + f" ({alternative}): choose other steps (p-values: {_p_range(p)})"
        )
    problem = _Problem(y, v, p, type, cuts, alternative, group)
    fixed = f.method == "FE"
    n_delta = len(cuts) - 1 if type == "stepfun" else WEIGHT_FUNCTIONS[type].n_params
    n_free = 1 + (0 if fixed else 1) + n_delta
    if f.k < n_free:
        raise InputError(
            f"k = {f.k} studies are too few to fit this selection model ({n_free} parameters)"
        )
    unpack = _unpacker(type, fixed)

    def negll(theta: np.ndarray) -> float:
        mu, tau2, delta = unpack(theta)
        value = -_loglik(problem, mu, tau2, delta)
        return value if np.isfinite(value) else 1e300

    lower = WEIGHT_FUNCTIONS[type].lower if type != "stepfun" else (0.0,) * n_delta
    bounds = [(None, None)] + ([] if fixed else [(0.0, None)]) + [(lo, DELTA_MAX) for lo in lower]
    init_delta = WEIGHT_FUNCTIONS[type].init if type != "stepfun" else (1.0,) * n_delta
    start = np.array([f.estimate] + ([] if fixed else [max(f.tau2, 1e-4)]) + list(init_delta))
    best = _minimise(negll, start, bounds)
    theta = best.x
    notes: list[str] = []
    mu, tau2, delta = unpack(theta)
    d_free = theta[len(theta) - n_delta :]
    at_bound = [
        (i, b) for i, b in enumerate(d_free) if b <= lower[i] + 1e-6 or b >= DELTA_MAX - 1e-6
    ]
    if at_bound:
        notes.append(
            "a selection parameter is at its bound (0 or 100): its standard error is not "
            "reliable; treat the adjusted estimate with caution"
        )
        warnings.warn(notes[-1], ConvergenceWarning, stacklevel=2)
    cov = _covariance(negll, theta, fixed)
    se = np.sqrt(np.diag(cov)) if cov is not None else np.full(len(theta), np.nan)
    level = f.ci_level if ci_level is None else float(ci_level)
    crit = float(stats.norm.ppf(0.5 + level / 2))
    ll = -float(best.fun)
    ml = frequentist(f.data, "FE" if fixed else "ML")
    ll0 = _normal_loglik(y, v, ml.estimate, ml.tau2)
    lrt = max(0.0, -2 * (ll0 - ll))
    z = mu / se[0]
    se_delta = se[len(theta) - n_delta :]
    if type == "stepfun":
        delta_full, se_full = (
            np.concatenate([[1.0], delta[1:]]),
            np.concatenate([[np.nan], se_delta]),
        )
    else:
        delta_full, se_full = delta, se_delta
    return SelectionModel(
        type=type,
        steps=tuple(float(s) for s in cuts),
        alternative=alternative,
        estimate=float(mu),
        se=float(se[0]),
        ci_low=float(mu - crit * se[0]),
        ci_high=float(mu + crit * se[0]),
        z=float(z),
        p_value=float(2 * stats.norm.sf(abs(z))),
        tau2=float(tau2),
        se_tau2=float("nan") if fixed or tau2 <= 0 else float(se[1]),
        delta=np.asarray(delta_full, dtype=float),
        se_delta=np.asarray(se_full, dtype=float),
        loglik=ll,
        loglik_null=ll0,
        lrt=lrt,
        lrt_df=n_delta,
        lrt_p=float(stats.chi2.sf(lrt, n_delta)),
        counts=counts,
        unadjusted=f,
        notes=tuple(notes),
    )


def _prepare(fit: FrequentistResult | EffectData) -> FrequentistResult:
    if isinstance(fit, EffectData):
        return frequentist(fit, "REML")
    if not isinstance(fit, FrequentistResult):
        raise InputError(
            "a selection model needs a frequentist fit (hm.frequentist) or the data; got "
            f"{type(fit).__name__} (the Bayesian selection model is hm.bayesian_selection_model)"
        )
    if fit.is_regression:
        raise InputError("selection models are fitted here to models without moderators")
    return fit


def _p_range(p: np.ndarray) -> str:
    return f"{np.min(p):.3g} to {np.max(p):.3g}"


def _steps(type: str, steps: Sequence[float] | float | None) -> np.ndarray:
    values = [] if steps is None else ([steps] if isinstance(steps, int | float) else list(steps))
    try:
        cuts = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"steps must be p-values between 0 and 1; got {steps!r}") from None
    if cuts.ndim != 1 or np.any(~np.isfinite(cuts)) or np.any((cuts <= 0) | (cuts > 1)):
        raise InputError(f"steps must be p-values in (0, 1]; got {steps!r}")
    cuts = np.unique(cuts)
    if type == "stepfun":
        if not len(cuts) or (len(cuts) == 1 and cuts[0] == 1):
            raise InputError("a step-function selection model needs at least one cutpoint below 1")
        return cuts if cuts[-1] == 1 else np.append(cuts, 1.0)
    if type == "beta" and len(cuts):
        raise InputError("the beta selection model takes no steps")
    cuts = cuts[cuts < 1]
    if len(cuts) > 1:
        raise InputError(f"the {type} selection model takes at most one cutpoint; got {steps!r}")
    return np.array([cuts[0] if len(cuts) else 0.0, 1.0])


def _unpacker(type: str, fixed: bool) -> Callable[[np.ndarray], tuple[float, float, np.ndarray]]:
    def unpack(theta: np.ndarray) -> tuple[float, float, np.ndarray]:
        mu = float(theta[0])
        tau2 = 0.0 if fixed else max(float(theta[1]), 0.0)
        rest = theta[1 if fixed else 2 :]
        delta = np.concatenate([[1.0], rest]) if type == "stepfun" else np.asarray(rest)
        return mu, tau2, delta

    return unpack


def _minimise(negll: Callable[[np.ndarray], float], start: np.ndarray, bounds: list[Any]) -> Any:
    """L-BFGS-B to a tight tolerance, restarted from its own optimum until it stops moving."""
    options = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 20_000}
    best = optimize.minimize(negll, start, method="L-BFGS-B", bounds=bounds, options=options)
    for _ in range(5):
        again = optimize.minimize(negll, best.x, method="L-BFGS-B", bounds=bounds, options=options)
        if again.fun >= best.fun - 1e-12:
            break
        best = again
    polished = optimize.minimize(
        negll,
        best.x,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20_000},
    )
    if polished.fun < best.fun and _inside(polished.x, bounds):
        best = polished
    if not np.isfinite(best.fun) or best.fun >= 1e299:
        raise InputError("the selection model's likelihood could not be maximised")
    return best


def _inside(x: np.ndarray, bounds: list[Any]) -> bool:
    return all(
        (lo is None or xi >= lo) and (hi is None or xi <= hi)
        for xi, (lo, hi) in zip(x, bounds, strict=True)
    )


def _covariance(
    negll: Callable[[np.ndarray], float], theta: np.ndarray, fixed: bool
) -> np.ndarray | None:
    """Inverse of the numerical Hessian on the untransformed scale (None if not invertible)."""
    try:
        hess = _hessian(negll, theta)
        chol = np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return None
    inv = np.linalg.inv(chol)
    return inv.T @ inv


def _normal_loglik(y: np.ndarray, v: np.ndarray, mu: float, tau2: float) -> float:
    return float(np.sum(stats.norm.logpdf(y, mu, np.sqrt(v + tau2))))


# ------------------------------------------------------------------ Bayesian step function


class BayesianSelection:
    """Posterior of the Bayesian step-function selection model (NUTS; see
    :mod:`hiermeta.engines.nuts.selection`). Build it with :func:`bayesian_selection_model`."""

    def __init__(
        self,
        data: EffectData,
        idata: Any,
        steps: np.ndarray,
        alternative: str,
        alternative_how: str,
        counts: pd.Series,
        mu_prior: Any,
        tau_prior: Any,
        ci_level: float,
    ) -> None:
        self.data, self.idata = data, idata
        self.steps, self.alternative, self.alternative_how = steps, alternative, alternative_how
        self.counts = counts
        self.mu_prior, self.tau_prior = mu_prior, tau_prior
        self.ci_level = ci_level

    def _draws(self, name: str) -> np.ndarray:
        return np.asarray(self.idata.posterior[name].values)

    def summary(self, thresholds: Sequence[float] = (1.0, 0.8)) -> pd.DataFrame:
        """Posterior median, equal-tailed interval and P(< threshold) of the selection-adjusted
        mean effect and of a new study's effect (thresholds on the reporting scale)."""
        mu = self._draws("mu").ravel()
        tau = self._draws("tau").ravel()
        rng = np.random.default_rng(0)
        new = mu + tau * rng.standard_normal(mu.shape)
        lo_q, hi_q = 0.5 - self.ci_level / 2, 0.5 + self.ci_level / 2
        rows = []
        for name, x in (("mu", mu), ("predictive", new)):
            values = [float(np.quantile(x, q)) for q in (0.5, lo_q, hi_q)]
            below = functools.partial(_share_below, x)
            rows.append(effect_row(name, values, self.data, thresholds, below))
        return pd.DataFrame(rows).set_index("param")

    def omega(self) -> pd.DataFrame:
        """Relative publication probability per p-value interval (posterior median and
        interval), with the number of studies in each."""
        draws = self._draws("omega").reshape(-1, len(self.steps))
        low = [0.0, *self.steps[:-1]]
        lo_q, hi_q = 0.5 - self.ci_level / 2, 0.5 + self.ci_level / 2
        return pd.DataFrame(
            {
                "median": np.median(draws, axis=0),
                "ci_low": np.quantile(draws, lo_q, axis=0),
                "ci_high": np.quantile(draws, hi_q, axis=0),
                "k": self.counts.to_numpy(),
            },
            index=pd.Index(
                [f"{a:g} < p ≤ {b:g}" for a, b in zip(low, self.steps, strict=True)],
                name="interval",
            ),
        )

    def diagnostics(self) -> pd.DataFrame:
        """R-hat, ESS and MCSE of mu, tau and each free omega, and the sampler's checks
        (divergences, tree depth, BFMI), as every NUTS fit of hiermeta."""
        import arviz_stats as azs

        from hiermeta.engines.nuts.checks import THRESHOLDS, check

        class _Shim:
            idata = self.idata

        table = check(_Shim())
        rows = []
        omega = self._draws("omega")
        for j in range(1, omega.shape[-1]):
            d = omega[..., j]
            rows += [
                ((f"omega[{j}]", "rhat"), float(azs.rhat(d)), THRESHOLDS["rhat"], "≤"),
                (
                    (f"omega[{j}]", "ess_bulk"),
                    float(azs.ess(d, method="bulk")),
                    THRESHOLDS["ess_bulk"],
                    "≥",
                ),
                (
                    (f"omega[{j}]", "ess_tail"),
                    float(azs.ess(d, method="tail", prob=(0.05, 0.95))),
                    THRESHOLDS["ess_tail"],
                    "≥",
                ),
            ]
        extra = pd.DataFrame(
            {
                "value": [r[1] for r in rows],
                "threshold": [r[2] for r in rows],
                "rule": [r[3] for r in rows],
                "passed": [r[1] <= r[2] if r[3] == "≤" else r[1] >= r[2] for r in rows],
            },
            index=pd.MultiIndex.from_tuples(
                [r[0] for r in rows], names=["parameter", "diagnostic"]
            ),
        )
        return pd.concat([table, extra])

    @property
    def passed(self) -> bool:
        """True when every diagnostic passed."""
        return bool(self.diagnostics()["passed"].all())

    def failed(self) -> list[str]:
        """The failed diagnostics in words (empty when all passed)."""
        t = self.diagnostics()
        bad = t[~t["passed"]]
        return [
            f"{p} {d} = {r.value:.4g} (needs {r.rule} {r.threshold:g})"
            for (p, d), r in zip(bad.index, bad.itertuples(), strict=True)
        ]

    def describe(self, thresholds: Sequence[float] = (1.0,)) -> str:
        s = self.summary(thresholds).loc["mu"]
        m, ratio = self.data.measure, self.data.is_ratio
        label = m if ratio else "effect"
        est = (
            f"{m} {s[m]:.2f} ({s[f'{m} ci_low']:.2f}–{s[f'{m} ci_high']:.2f})"
            if ratio
            else f"{s['median']:.3g} ({s['ci_low']:.3g}–{s['ci_high']:.3g})"
        )
        probs = "; ".join(
            probability_text(f"P({label} < {t:g})", cast(float, s[f"P({label} < {t:g})"]))
            for t in thresholds
        )
        om = self.omega()
        weights = ", ".join(f"{idx}: {row['median']:.2f}" for idx, row in list(om.iterrows())[1:])
        text = (
            f"Bayesian step-function selection model (cutpoints "
            f"{', '.join(f'{s_:g}' for s_ in self.steps[:-1])}, one-sided p-values for "
            f"{'positive' if self.alternative == 'greater' else 'negative'} effects): adjusted "
            f"{est}; {probs}. Relative publication probability (posterior median) {weights}."
        )
        failed = self.failed()
        if failed:
            text += " Diagnostics FAILED: " + "; ".join(failed) + "."
        return text

    def methods(self) -> list[str]:
        return [
            "Bayesian step-function selection model (Vevea & Hedges 1995) sampled by NUTS: "
            "relative publication probabilities omega per one-sided p-value interval, the most "
            "significant fixed at 1, non-increasing (cumulative Dirichlet(1, …, 1), as RoBMA); "
            f"p-values one-sided for {'positive' if self.alternative == 'greater' else 'negative'} "
            f"effects ({self.alternative_how}). Priors: mu {self.mu_prior.describe(self.data.measure).rstrip('.')}; "
            f"tau {self.tau_prior.describe(self.data.measure).rstrip('.')}."
        ]


def _share_below(draws: np.ndarray, cut: float) -> float:
    return float(np.mean(draws < cut))


def bayesian_selection_model(
    data: EffectData | Any,
    steps: Sequence[float] | float = (0.025,),
    alternative: str = "auto",
    mu_prior: Any = None,
    tau_prior: Any = None,
    *,
    draws: int = 2000,
    tune: int = 1000,
    chains: int = 4,
    target_accept: float = TARGET_ACCEPT,
    random_seed: int | None = 0,
    ci_level: float = 0.95,
) -> BayesianSelection:
    """Bayesian step-function selection model (NUTS). ``alternative`` ``"auto"`` takes the
    direction of the random-effects (REML) estimate (selection favours significant results that way);
    priors default to the fit's or the measure's defaults."""
    from hiermeta.engines.nuts.selection import sample_selection
    from hiermeta.priors.defaults import default_mu, default_tau
    from hiermeta.results.contract import MetaResult

    if isinstance(data, MetaResult):
        mu_prior = mu_prior or getattr(data, "mu_prior", None)
        tau_prior = tau_prior or getattr(data, "tau_prior", None)
        data = data.data
    if not isinstance(data, EffectData):
        raise InputError(
            f"data must be an EffectData or a fitted result; got {type(data).__name__}"
        )
    if not isinstance(ci_level, float | int) or not 0 < ci_level < 1:
        raise InputError(f"ci_level must be in (0, 1); got {ci_level!r}")
    y, se = np.asarray(data.y, float), np.asarray(data.se, float)
    if alternative == "auto":
        from hiermeta.analyses.small_study import favoured_direction

        alternative = "less" if favoured_direction(data) == "lower" else "greater"
        how = "the direction of the random-effects estimate"
    elif alternative in ("greater", "less"):
        how = "as specified"
    else:
        raise unknown_option("alternative", alternative, ["auto", "greater", "less"])
    cuts = _steps("stepfun", steps)
    p = _p_values(y, se**2, alternative)
    group = np.searchsorted(cuts, p, side="left")
    counts = pd.Series(np.bincount(group, minlength=len(cuts)), dtype=int)
    mu_prior = mu_prior or default_mu(data)
    tau_prior = (tau_prior or default_tau(data)).for_data(se)
    idata = sample_selection(
        y,
        se,
        cuts,
        alternative,
        group,
        mu_prior,
        tau_prior,
        draws=draws,
        tune=tune,
        chains=chains,
        target_accept=target_accept,
        random_seed=random_seed,
    )
    return BayesianSelection(
        data, idata, cuts, alternative, how, counts, mu_prior, tau_prior, float(ci_level)
    )
