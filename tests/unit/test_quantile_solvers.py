"""The exact engine's quantile solvers against brute-force root finding (scipy's brentq on the
CDF written out term by term): mixtures with far-apart, sharp modes as well as smooth ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import hiermeta as hm
from hiermeta.engines.exact import fit_exact, quadrature
from hiermeta.engines.exact.quadrature import (
    _mixture_quantiles_safe,
    _solve_in_panel_safe,
    interpolant_maps,
    mixture_quantiles,
    solve_in_panel,
    solve_in_panel_scalar,
)

#: brentq to xtol 1e-13; the solver stops at |CDF − q| < 1e-13 or a bracket of 1e-14 relative —
#: for components as sharp as sd 0.01 that bracket alone leaves CDF errors up to ~1e-10.
CDF_TOL = 1e-9
PROBS = np.array([0.001, 0.025, 0.25, 0.5, 0.75, 0.975, 0.999])


def _cdf(x: float, w: np.ndarray, m: np.ndarray, s: np.ndarray) -> float:
    return float(np.sum(w * stats.norm.cdf(x, m, s)))


def _cdf_minus(x: float, w: np.ndarray, m: np.ndarray, s: np.ndarray, q: float) -> float:
    return _cdf(x, w, m, s) - q


@pytest.mark.parametrize("seed", range(3))
def test_mixture_quantiles_equal_brute_force_roots(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        k = int(rng.integers(1, 6))
        w, m, s = rng.dirichlet(np.ones(k)), rng.normal(0, 50, k), rng.uniform(0.01, 3, k)
        got = mixture_quantiles(w[None], m[None], s[None], PROBS)[0]
        lo, hi = float(np.min(m - 40 * s)), float(np.max(m + 40 * s))
        for q, x in zip(PROBS, got, strict=True):
            root = optimize.brentq(_cdf_minus, lo, hi, args=(w, m, s, q), xtol=1e-13)
            assert abs(_cdf(x, w, m, s) - q) < CDF_TOL, (w, m, s, q, x, root)


#: The fast path (plain Halley steps, accepted when the CDF is within 1e-11) and the safeguarded
#: solver converge to the same root; quantiles agree far below the engine's 1e-7 tolerance.
SAME_ROOT_TOL = 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_fast_path_agrees_with_the_safeguarded_solver(seed: int) -> None:
    """Mixtures like the exact engine's (one component per tau node, near-normal overall) and
    two-mode mixtures the fast path must hand over, in one call."""
    rng = np.random.default_rng(seed)
    n, m = 12, 150
    weight = rng.dirichlet(np.ones(m), size=n)
    mean = rng.normal(0, 0.1, (n, 1)) + rng.normal(0, 0.05, (n, m))
    sd = rng.uniform(0.05, 0.4, (n, m))
    mean[-3:, : m // 2] += 30.0  # separated modes in the last rows
    sd[-3:] = 0.05
    fast = mixture_quantiles(weight, mean, sd, PROBS)
    safe = _mixture_quantiles_safe(weight, mean, sd, PROBS)
    np.testing.assert_allclose(fast, safe, atol=SAME_ROOT_TOL, rtol=0)
    for row in range(n):
        for q, x in zip(PROBS, fast[row], strict=True):
            assert abs(_cdf(x, weight[row], mean[row], sd[row]) - q) < CDF_TOL


#: Roots of a panel's CDF polynomial: both solvers stop within 1e-15 of the panel's mass, so on
#: these well-conditioned polynomials the roots agree to ~1e-13 in t (the brute-force check is
#: numpy's own root finder on the polynomial, good to ~1e-12 at degree 12).
PANEL_ROOT_TOL = 1e-10


def _panel_polynomials(rng: np.random.Generator, n: int) -> np.ndarray:
    """CDF polynomials (integral from -1) of positive densities sampled at 12 Gauss–Legendre
    nodes, as the exact engine's grid builds them: smooth bumps, rising and falling edges."""
    nodes = np.polynomial.legendre.leggauss(12)[0]
    centre, width = rng.uniform(-1.5, 1.5, (n, 1)), rng.uniform(0.3, 3.0, (n, 1))
    density = np.exp(-0.5 * ((nodes[None] - centre) / width) ** 2) + rng.uniform(0, 0.1, (n, 1))
    return density @ interpolant_maps(12)[1]


@pytest.mark.parametrize("seed", range(3))
def test_panel_solver_fast_path_agrees_with_the_safeguarded_one_and_numpy_roots(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path settles every row of these well-conditioned polynomials by itself (no row
    handed over: the speed-up is real) at the roots the safeguarded solver and numpy find."""
    rng = np.random.default_rng(seed)
    coef = _panel_polynomials(rng, 30)
    need = coef.sum(axis=1) * rng.uniform(0.001, 0.999, 30)  # a fraction of the panel's mass
    handed: list[int] = []

    def safe(c: np.ndarray, n: np.ndarray) -> np.ndarray:
        handed.append(len(n))
        return _solve_in_panel_safe(c, n)

    monkeypatch.setattr(quadrature, "_solve_in_panel_safe", safe)
    fast = solve_in_panel(coef, need)
    assert not handed
    np.testing.assert_allclose(fast, _solve_in_panel_safe(coef, need), atol=PANEL_ROOT_TOL, rtol=0)
    for row in range(30):
        shifted = coef[row].copy()
        shifted[0] -= need[row]
        roots = np.polynomial.polynomial.polyroots(shifted)
        real = roots[(abs(roots.imag) < 1e-9) & (abs(roots.real) <= 1 + 1e-9)].real
        assert real.size == 1 and abs(real[0] - fast[row]) < PANEL_ROOT_TOL


def test_panel_solver_hands_unsettled_rows_to_the_safeguarded_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no fast steps every row is left unsettled: the answers must still be the roots."""
    rng = np.random.default_rng(7)
    coef = _panel_polynomials(rng, 10)
    need = coef.sum(axis=1) * rng.uniform(0.01, 0.99, 10)
    expected = _solve_in_panel_safe(coef, need)
    handed: list[int] = []

    def safe(c: np.ndarray, n: np.ndarray) -> np.ndarray:
        handed.append(len(n))
        return _solve_in_panel_safe(c, n)

    monkeypatch.setattr(quadrature, "_PANEL_FAST_STEPS", 0)
    monkeypatch.setattr(quadrature, "_solve_in_panel_safe", safe)
    np.testing.assert_allclose(solve_in_panel(coef, need), expected, atol=PANEL_ROOT_TOL, rtol=0)
    assert sum(handed) == 10  # every row


@pytest.mark.parametrize("seed", range(3))
def test_scalar_panel_solver_finds_numpys_roots(seed: int) -> None:
    """The one-at-a-time solver behind a summary's three tau quantiles: the same roots as
    numpy's polynomial root finder and the vectorised solver."""
    rng = np.random.default_rng(seed)
    coef = _panel_polynomials(rng, 30)
    need = coef.sum(axis=1) * rng.uniform(0.001, 0.999, 30)
    vectorised = solve_in_panel(coef, need)
    for row in range(30):
        got = solve_in_panel_scalar(coef[row].tolist(), float(need[row]))
        shifted = coef[row].copy()
        shifted[0] -= need[row]
        roots = np.polynomial.polynomial.polyroots(shifted)
        real = roots[(abs(roots.imag) < 1e-9) & (abs(roots.real) <= 1 + 1e-9)].real
        assert abs(real[0] - got) < PANEL_ROOT_TOL
        assert abs(vectorised[row] - got) < PANEL_ROOT_TOL


def test_scalar_panel_solver_ends_at_the_panel_ends() -> None:
    """need at or beyond the panel's mass (rounding at p = 1) gives the panel's end, and need
    0 its start, not a step outside the panel."""
    coef = _panel_polynomials(np.random.default_rng(0), 1)[0]
    mass = float(coef.sum())
    assert solve_in_panel_scalar(coef.tolist(), mass * (1 + 1e-12)) == pytest.approx(1.0, abs=1e-12)
    assert solve_in_panel_scalar(coef.tolist(), 0.0) == pytest.approx(-1.0, abs=1e-12)


#: Grid.quantile of a few probabilities (scalar tier) and of many (vectorised tier) solve the
#: same polynomials to the same CDF tolerance; where the density is low (p = 1e-6) that leaves
#: quantiles ~1e-10 apart in relative terms, and the CDF at either within 1e-14 of p.
TIER_REL_TOL = 1e-9
TIER_CDF_TOL = 1e-13


@pytest.mark.parametrize(
    "prior",
    [
        hm.priors.HalfNormal(0.5),
        hm.priors.HalfCauchy(0.5),
        hm.priors.LogNormalTau2(-2, 1),
        hm.priors.InverseGamma(1, 0.1),
        hm.priors.Uniform(0.5),
    ],
    ids=repr,
)
def test_grid_quantile_tiers_agree(prior: hm.priors.TauPrior) -> None:
    rng = np.random.default_rng(11)
    probs = np.array([1e-6, 0.025, 0.2, 0.5, 0.8, 0.975, 1 - 1e-6])
    assert probs.size <= quadrature.SCALAR_QUANTILES < 2 * probs.size
    for _ in range(8):
        k = int(rng.integers(2, 30))
        se = rng.uniform(0.05, 0.5, k)
        y = rng.normal(0, rng.uniform(0, 1), k) + se * rng.standard_normal(k)
        grid = fit_exact(
            hm.from_log_se(pd.DataFrame({"y": y, "se": se}), "y", "se"), None, prior
        ).grid
        scalar = grid.quantile(probs)
        vectorised = grid.quantile(np.tile(probs, 2))[: probs.size]
        np.testing.assert_allclose(scalar, vectorised, rtol=TIER_REL_TOL)
        assert np.max(np.abs(grid.cdf(scalar) - probs)) < TIER_CDF_TOL
        assert np.isnan(grid.quantile(np.array([np.nan, 0.5]))[0])  # both tiers: NaN stays NaN
        assert np.isnan(grid.quantile(np.array([np.nan, *np.tile(probs, 2)]))[0])
        ends = grid.quantile(np.array([0.0, 1.0]))  # the ends of the grid's range
        assert ends[0] <= scalar[0] and ends[1] >= scalar[-1]
