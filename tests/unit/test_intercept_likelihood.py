"""The intercept-only likelihood of the exact engine (weighted sums of centred y, one matrix
product) against the textbook residual form evaluated in long double: the oracle for the cases
where an expanded quadratic form could lose digits (one extremely precise study, estimates
far from 0, a strong prior far from the data)."""

from __future__ import annotations

import numpy as np
import pytest

from hiermeta.data.effects import MAX_SE_RATIO
from hiermeta.engines.exact import quadrature
from hiermeta.engines.exact.quadrature import UNIT_COARSE, LinearModel, conditional

#: Absolute error allowed in log p(y | tau) (nats), relative to the size of the terms
#: (1 + |log p|): double rounding of sums of k = 12 terms is ~1e-15 of them; 1e-12 leaves room
#: for the large terms of a very precise study and is still 1e4 times below the 1e-8 accuracy
#: the engine promises for probabilities.
LOGLIK_TOL = 1e-12
#: Relative error allowed in the conditional mean and variance of mu.
MOMENT_TOL = 1e-12


def _long_double_reference(
    model: LinearModel, tau: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log p(y | tau), E[mu | tau, y] and Var[mu | tau, y], residual form, long double."""
    y, v = model.y.astype(np.longdouble), model.v.astype(np.longdouble)
    prec0, mean0 = np.longdouble(model.prec0[0]), np.longdouble(model.mean0[0])
    t2 = tau.astype(np.longdouble)[:, None] ** 2
    total = v[None, :] + t2
    w = 1 / total
    prec = w.sum(axis=1) + prec0
    mean = ((w * y[None, :]).sum(axis=1) + prec0 * mean0) / prec
    quad = (w * (y[None, :] - mean[:, None]) ** 2).sum(axis=1) + prec0 * (mean - mean0) ** 2
    log_prior = np.log(prec0) if prec0 > 0 else np.longdouble(0)
    loglik = -0.5 * (
        len(y) * np.log(2 * np.pi, dtype=np.longdouble)
        + np.log(total).sum(axis=1)
        + np.log(prec)
        - log_prior
        + quad
    )
    return loglik, mean, 1 / prec


def _case(name: str, k: int) -> LinearModel:
    rng = np.random.default_rng(7)
    se = rng.uniform(0.05, 0.5, k)
    y = -0.3 + rng.normal(0, 0.25, k)
    prec0, mean0 = 1.0, 0.0
    if name == "precise study":  # one SE a million times smaller than the largest
        se[-1] = se.max() / MAX_SE_RATIO
    elif name == "far from zero":  # log ratios near hiermeta's plausibility limit of ±50
        y = y + 45.0
    elif name == "strong prior far away":
        prec0, mean0 = 1e6, 30.0
    elif name == "flat prior":
        prec0 = 0.0
    return LinearModel(y, se**2, np.ones((k, 1)), np.array([prec0]), np.array([mean0]))


CASES = ["typical", "precise study", "far from zero", "strong prior far away", "flat prior"]


@pytest.mark.parametrize("k", [2, 13, 56])  # the log sum takes the terms four at a time
@pytest.mark.parametrize("case", CASES)
def test_intercept_likelihood_equals_long_double_residual_form(case: str, k: int) -> None:
    model = _case(case, k)
    tau = float(np.sqrt(model.v.min())) * UNIT_COARSE  # the range scan's taus: 0 to 1e12 × SE
    if case == "typical":  # beyond 1e35 the products of four terms would overflow: one log each
        tau = np.append(tau, [1e34, 1e36, 1e40])
    got = conditional(model, tau)
    loglik, mean, var = _long_double_reference(model, tau)
    error = np.abs(got.loglik - loglik.astype(float)) / (1 + np.abs(loglik.astype(float)))
    assert error.max() < LOGLIK_TOL, (case, float(error.max()))
    np.testing.assert_allclose(got.mean[:, 0], mean.astype(float), rtol=MOMENT_TOL, atol=1e-14)
    np.testing.assert_allclose(got.cov[:, 0, 0], var.astype(float), rtol=MOMENT_TOL)


@pytest.mark.parametrize("tau_squared", [1e68, 1e72])
def test_grouped_logs_near_and_beyond_their_bound(
    tau_squared: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four terms of 1e68 multiply to 1e272, still a double: the grouped path runs and is exact;
    at 1e72 the product would overflow and every term gets its own log."""
    model = _case("typical", 13)
    grouped: list[bool] = []
    original = quadrature._row_log_sums

    def spy(total: np.ndarray, group: bool) -> np.ndarray:
        grouped.append(group)
        return original(total, group)

    monkeypatch.setattr(quadrature, "_row_log_sums", spy)
    tau = np.array([np.sqrt(tau_squared)])
    got = conditional(model, tau)
    assert grouped == [tau_squared < 1e70]
    loglik = _long_double_reference(model, tau)[0].astype(float)
    assert abs(got.loglik[0] - loglik[0]) / (1 + abs(loglik[0])) < LOGLIK_TOL
