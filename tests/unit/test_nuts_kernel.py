"""The compiled NUTS kernel against the PyMC model of the same structure: its log density (up
to a constant) and gradient must equal PyMC's at random points, for every tau family it
implements, with and without moderators and cohorts."""

from __future__ import annotations

import numpy as np
import pytest

import hiermeta as hm
from hiermeta.data.design import build_design
from hiermeta.engines.nuts.engine import _inputs
from hiermeta.engines.nuts.kernel import KERNEL_TAU, kernel_inputs, logp_and_grad
from hiermeta.engines.nuts.models import build_model, structure_of
from hiermeta.priors import (
    Flat,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    InverseGamma,
    LogNormalTau2,
    LogTTau2,
    Normal,
)
from hiermeta.priors.families import Exponential

#: Both sides are exact formulas in double precision; PyMC's graph sums in another order.
KERNEL_TOL = 1e-9

TAUS = {
    "halfnormal": HalfNormal(0.5),
    "halfcauchy": HalfCauchy(0.3),
    "halfstudentt": HalfStudentT(3.0, 0.4),
    "exponential": Exponential(2.0),
    "lognormal_tau2": LogNormalTau2(-2.56, 1.74),
    "inversegamma": InverseGamma(2.42, 0.3),
    "logt_tau2": LogTTau2(-3.44, 2.59),
}


def test_every_kernel_family_is_tested() -> None:
    assert set(TAUS) == set(KERNEL_TAU)


CASES = [
    pytest.param(
        family,
        shape,
        marks=[] if family in ("halfnormal", "inversegamma") else pytest.mark.slow,  # compiles
    )
    for family in sorted(TAUS)
    for shape in ("plain", "regression", "cohorts")
]


@pytest.mark.parametrize(("family", "shape"), CASES)
@pytest.mark.filterwarnings("ignore::hiermeta.ExcludedStudiesWarning")  # ptr_mbc lists 3 rows
def test_kernel_equals_the_pymc_model(family: str, shape: str) -> None:
    data = hm.load_effects("ptr_mbc") if shape == "cohorts" else hm.load_effects("bcg")
    moderators = ["ablat"] if shape == "regression" else None
    design = build_design(data, moderators)
    mu = Flat() if shape == "regression" else Normal(0.1, 0.8)
    inputs, coords, _ = _inputs(
        data, design, mu, TAUS[family], Normal(0, 1), None, shape == "cohorts", 4.0
    )
    structure = structure_of(inputs, "marginal", "normal")
    model = build_model(structure, inputs, coords)
    logp = model.compile_logp()
    dlogp = model.compile_dlogp()
    names = [v.name for v in model.value_vars]
    kin = kernel_inputs(
        inputs.y,
        inputs.se,
        design.X,
        inputs.cluster,
        structure.clusters,
        TAUS[family],
        mu,
        Normal(0, 1),
    )
    rng = np.random.default_rng(7)
    values, kernel_values = [], []
    for _ in range(5):
        x = rng.normal(0, 0.5, design.p + 1 + (structure.clusters > 0))
        point = {"mu": x[0]}
        if design.p > 1:
            point["beta"] = x[1 : design.p]
        tau_names = [n for n in names if n.startswith("tau")]
        for name, z in zip(
            sorted(tau_names, key=lambda n: "cohort" in n), x[design.p :], strict=True
        ):
            point[name] = z
        ordered = {n: point[n] for n in names}
        lp_k, g_k = logp_and_grad(x, kin)
        g_pymc = dlogp(ordered)
        by_name = dict(
            zip(
                names,
                np.split(g_pymc, np.cumsum([np.size(point[n]) for n in names])[:-1]),
                strict=True,
            )
        )
        expected = np.concatenate(
            [np.atleast_1d(by_name["mu"])]
            + ([by_name["beta"]] if design.p > 1 else [])
            + [np.atleast_1d(by_name[n]) for n in sorted(tau_names, key=lambda n: "cohort" in n)]
        )
        np.testing.assert_allclose(g_k, expected, rtol=KERNEL_TOL, atol=KERNEL_TOL)
        values.append(logp(ordered))
        kernel_values.append(lp_k)
    # the same density up to one additive constant
    np.testing.assert_allclose(
        np.diff(kernel_values), np.diff(values), rtol=KERNEL_TOL, atol=KERNEL_TOL
    )


def test_integrating_out_cohort_effects_matches_brute_force_integration() -> None:
    """The compound-symmetric cohort likelihood equals Π_c ∫ Π_i N(y_i; m_i + u, d_i)
    N(u; 0, t²) du computed by adaptive quadrature (scipy.integrate.quad) per cohort."""
    from scipy import integrate, stats

    from hiermeta.engines.nuts._kernel_numba import tau_logp

    y = np.array([-0.3, -0.1, -0.5, 0.2, -0.4, 0.0])
    se = np.array([0.1, 0.2, 0.15, 0.3, 0.25, 0.2])
    cluster = np.array([0, 0, 1, 1, 1, 2])
    X = np.ones((6, 1))
    prior = HalfNormal(0.5)
    kin = kernel_inputs(y, se, X, cluster, 3, prior, Flat(), Flat())

    def brute(x: np.ndarray) -> float:
        mu, tau, t = x[0], abs(x[1]), abs(x[2])
        d = se**2 + tau**2
        total = 0.0
        for c in range(3):
            rows = cluster == c

            def integrand(u: float, rows: np.ndarray = rows) -> float:
                return float(
                    np.prod(stats.norm.pdf(y[rows], mu + u, np.sqrt(d[rows])))
                    * stats.norm.pdf(u, 0, t)
                )

            value, _ = integrate.quad(integrand, -12 * t, 12 * t, epsabs=0, epsrel=1e-12, limit=200)
            total += np.log(value)
        return total + tau_logp(0, x[1], 0.5, 0, 0)[0] + tau_logp(0, x[2], 0.5, 0, 0)[0]

    points = [
        np.array([-0.2, 0.15, 0.3]),
        np.array([0.1, -0.4, 0.05]),
        np.array([-0.5, 0.02, -0.8]),
    ]
    ours = [logp_and_grad(x, kin)[0] for x in points]
    reference = [brute(x) for x in points]
    # quad's relative accuracy (1e-12 asked) on likelihoods of order 1e-1–1e3
    np.testing.assert_allclose(np.diff(ours), np.diff(reference), rtol=1e-9, atol=1e-9)
