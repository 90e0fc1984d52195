"""Nested organ-count subgroups (issue 17): input checks, the overlap covariance, the exact
engine against brute-force integration, and NUTS against the exact engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import hiermeta as hm
from hiermeta.data.nested import parse_population

#: The exact engine's quadrature is accurate to ~1e-8 (the accuracy claimed for the
#: normal–normal model); scipy's adaptive quad of the brute-force integrand to ~1e-11.
BRUTE_TOL = 1e-8
#: NUTS against the exact posterior: within this many Monte-Carlo standard errors.
MCSE_Z = 4.5

STRATA_HR = np.array([0.55, 0.70, 0.85, 1.0])
POPULATIONS = {"1": [1, 0, 0, 0], "<=2": [1, 1, 0, 0], "<=3": [1, 1, 1, 0], "all": [1, 1, 1, 1]}


def nested_table(cohorts: int = 5, seed: int = 1, tau: float = 0.1) -> pd.DataFrame:
    """Cohorts reporting the four nested populations, built from independent stratum
    estimates (inverse-variance combinations: the structure the model assumes)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(cohorts):
        n = rng.multinomial(500, [0.6, 0.25, 0.1, 0.05]) + 8
        se_s = np.sqrt(4 / (0.5 * n))
        y_s = np.log(STRATA_HR) + tau * rng.standard_normal() + se_s * rng.standard_normal(4)
        for population, mask in POPULATIONS.items():
            m = np.array(mask, dtype=bool)
            share = n * m / (n * m).sum()
            info = (m / se_s**2).sum()
            rows.append(
                {
                    "cohort": f"C{c}",
                    "population": population,
                    "y": float((share * y_s).sum()),
                    "se": float(np.sqrt(1 / info)),
                    **{f"share{s}": share[s] for s in range(4)},
                }
            )
    return pd.DataFrame(rows)


SHARES = ["share0", "share1", "share2", "share3"]


# ---------------------------------------------------------------------------- input
@pytest.mark.parametrize(
    ("text", "mask"),
    [
        ("1", [1, 0, 0, 0]),
        ("<=2", [1, 1, 0, 0]),
        ("≤3", [1, 1, 1, 0]),
        ("All", [1, 1, 1, 1]),
        ("2-3", [0, 1, 1, 0]),
        ("2+", [0, 1, 1, 1]),
        ("≥4", [0, 0, 0, 1]),
        ("3 organs", [0, 0, 1, 0]),
    ],
)
def test_population_text_is_read_as_a_set_of_strata(text: str, mask: list[int]) -> None:
    assert parse_population(text).astype(int).tolist() == mask


@pytest.mark.parametrize(
    ("text", "message"),
    [("4", "not a stratum"), ("0", "start at 1"), ("few", "not understood"), ("3-2", "backwards")],
)
def test_bad_population_text_is_named(text: str, message: str) -> None:
    with pytest.raises(hm.InputError, match=message):
        parse_population(text)


def test_forensic_checks_name_the_cohort_and_population() -> None:
    table = nested_table()
    twice = pd.concat([table, table.iloc[[0]]], ignore_index=True)
    with pytest.raises(hm.InputError, match="cohort 'C0' reports population '1' twice"):
        hm.read_nested(twice, y="y", se="se")
    bad_sum = table.copy()
    bad_sum.loc[3, "share0"] = 0.9
    with pytest.raises(hm.InputError, match=r"C0: all: the shares .* sum to 1"):
        hm.read_nested(bad_sum, y="y", se="se", shares=SHARES)
    outside = table.copy()
    outside.loc[1, ["share0", "share1", "share2"]] = [0.5, 0.3, 0.2]
    with pytest.raises(hm.InputError, match="C0: <=2: the shares put patients in strata outside"):
        hm.read_nested(outside, y="y", se="se", shares=SHARES)
    narrow = table.copy()
    narrow.loc[0, "se"] = narrow.loc[3, "se"] / 2  # "1 organ" more precise than "all"
    with pytest.raises(
        hm.InputError, match="C0: 1: its CI is narrower than that of 'C0: <=2', which contains it"
    ):
        hm.read_nested(narrow, y="y", se="se")
    narrow["reason"] = ["different adjustment set"] + [""] * (len(narrow) - 1)
    assert hm.read_nested(narrow, y="y", se="se", reason="reason").k == len(narrow)


def test_the_overlap_correlation_of_nested_populations_is_sqrt_of_the_size_ratio() -> None:
    counts = np.array([300.0, 120.0, 50.0, 30.0])  # patients per stratum, one cohort
    frame = pd.DataFrame(
        {
            "cohort": "A",
            "population": list(POPULATIONS),
            "y": [-0.5, -0.4, -0.35, -0.3],
            "se": [0.2, 0.17, 0.16, 0.15],
        }
    )
    for s in range(4):
        frame[f"share{s}"] = [
            counts[s] * m[s] / (counts * np.array(m)).sum() for m in POPULATIONS.values()
        ]
    data = hm.read_nested(frame, y="y", se="se", shares=SHARES)
    cov = data.covariance()
    corr = cov / np.outer(data.effects.se, data.effects.se)
    sizes = np.array([(counts * np.array(m)).sum() for m in POPULATIONS.values()])
    for a in range(4):
        for b in range(a, 4):  # population a is nested in population b
            assert corr[a, b] == pytest.approx(np.sqrt(sizes[a] / sizes[b]), rel=1e-12)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


# ---------------------------------------------------------------------------- exact engine
def _brute_force(
    data: hm.NestedData, tau_scale: float, c: np.ndarray, t: float
) -> tuple[float, float]:
    """E[c·mu | y] and P(c·mu < t | y) by adaptive quadrature over tau of dense Gaussian
    formulas (mu ~ N(0, I), u_c ~ N(0, tau²), tau ~ HalfNormal(tau_scale)) — no code shared
    with the engine."""
    y, X, V = data.effects.y, data.composition, data.covariance()
    cohorts = data.cohorts
    Z = np.array([[1.0 if c_ == k else 0.0 for k in cohorts] for c_ in data.cohort])

    def parts(tau: float) -> tuple[float, float, float]:
        sigma = V + tau**2 * Z @ Z.T
        total = sigma + X @ X.T
        _, logdet = np.linalg.slogdet(total)
        marginal = -0.5 * (len(y) * np.log(2 * np.pi) + logdet + y @ np.linalg.solve(total, y))
        prior = stats.halfnorm(scale=tau_scale).logpdf(tau)
        gain = X.T @ np.linalg.inv(sigma + X @ X.T)
        mean = gain @ y
        cov = np.eye(X.shape[1]) - gain @ X
        return marginal + prior, float(c @ mean), float(np.sqrt(c @ cov @ c))

    peak = max(parts(t_)[0] for t_ in np.linspace(0, 1, 21))

    def density(tau: float) -> float:
        return float(np.exp(parts(tau)[0] - peak))

    options = {"limit": 200, "epsabs": 0, "epsrel": 1e-11}
    top = 10 * tau_scale  # the half-normal prior's mass beyond is 1e-23
    norm = integrate.quad(density, 0, top, **options)[0]
    mean = integrate.quad(lambda x: density(x) * parts(x)[1], 0, top, **options)[0] / norm
    prob = (
        integrate.quad(
            lambda x: density(x) * stats.norm.cdf(t, parts(x)[1], parts(x)[2]), 0, np.inf, **options
        )[0]
        / norm
    )
    return mean, prob


@pytest.mark.slow
def test_exact_engine_equals_brute_force_integration() -> None:
    data = hm.read_nested(nested_table(cohorts=3, seed=5), y="y", se="se", shares=SHARES)
    fit = hm.nested_subgroups(
        data, engine="exact", mu_prior=hm.priors.Normal(0, 1), tau_prior=hm.priors.HalfNormal(0.5)
    )
    for c, t in (
        (np.array([1.0, 0, 0, 0]), np.log(0.6)),
        (np.array([0, 0, 1.0, 0]), np.log(0.9)),
        (np.array([-1.0, 0, 0, 1.0]), 0.0),
    ):
        mean, prob = _brute_force(data, 0.5, c, t)
        post = fit.posterior(c)
        assert post.mean == pytest.approx(mean, abs=BRUTE_TOL)
        assert float(post.cdf(np.array([t]))[0]) == pytest.approx(prob, abs=BRUTE_TOL)


def test_exact_engine_refuses_unreported_compositions() -> None:
    data = hm.read_nested(nested_table(), y="y", se="se")
    with pytest.raises(hm.InputError, match="the exact engine needs every composition"):
        hm.nested_subgroups(data, engine="exact")


def test_results_read_as_a_user_expects() -> None:
    data = hm.read_nested(nested_table(cohorts=6), y="y", se="se", shares=SHARES)
    fit = hm.nested_subgroups(data, engine="exact")
    table = fit.strata()
    assert list(table.index) == ["1", "2", "3", "≥4"]
    assert np.all(table["ci_low"] < table["HR"]) and np.all(table["HR"] < table["ci_high"])
    assert np.all(table["pi_low"] <= table["ci_low"]) and np.all(
        table["pi_high"] >= table["ci_high"]
    )
    text = fit.describe()
    assert text.startswith("1 metastatic organ: HR ") and "probability of benefit" in text
    assert "1.000" not in text  # no probability printed as certainty
    assert any("Σ_s √(w_js·w_ks)" in line for line in fit.methods())
    naive = fit.naive()
    assert list(naive.index) == list(POPULATIONS) and (naive["k"] == 6).all()
    trend = hm.nested_subgroups(data, engine="exact", trend=True).trend_estimate()
    assert trend is not None and trend["ci_low"] < trend["ratio per organ"] < trend["ci_high"]


def test_the_plot_shows_each_stratum(tmp_path: pytest.TempPathFactory) -> None:
    import matplotlib

    matplotlib.use("Agg")
    data = hm.read_nested(nested_table(), y="y", se="se", shares=SHARES)
    ax = hm.nested_subgroups(data, engine="exact").plot()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["1 organ", "2 organs", "3 organs", "≥4 organs"]
    ax.figure.savefig(tmp_path / "nested.png")  # type: ignore[operator]


# ---------------------------------------------------------------------------- NUTS
@pytest.mark.slow
def test_nuts_agrees_with_the_exact_engine() -> None:
    import arviz_stats as azs

    data = hm.read_nested(nested_table(cohorts=4, seed=3), y="y", se="se", shares=SHARES)
    exact = hm.nested_subgroups(data, engine="exact")
    nuts = hm.nested_subgroups(data, engine="nuts", draws=2000, tune=1000, chains=2, random_seed=7)
    assert nuts.failed_checks() == []
    mu = nuts.idata.posterior["mu"].values
    for s in range(4):
        mcse = float(azs.mcse(mu[..., s], method="mean"))
        assert abs(float(mu[..., s].mean()) - exact.stratum(s).mean) < MCSE_Z * mcse


@pytest.mark.slow
def test_nuts_with_unreported_compositions_runs_and_is_diagnosed() -> None:
    data = hm.read_nested(nested_table(cohorts=3, seed=4), y="y", se="se")
    fit = hm.nested_subgroups(data, engine="nuts", draws=2000, tune=1000, chains=2, random_seed=3)
    assert fit.failed_checks() == []
    assert any("integrated out by its mean and covariance" in line for line in fit.methods())
    assert "w0" not in fit.idata.posterior  # the default integrates the compositions out


@pytest.mark.slow
def test_the_full_dirichlet_model_runs_too() -> None:
    data = hm.read_nested(nested_table(cohorts=3, seed=4), y="y", se="se")
    fit = hm.nested_subgroups(
        data, compositions="dirichlet", draws=500, tune=500, chains=2, random_seed=3
    )
    assert "w0" in fit.idata.posterior
    assert any("sampled with the other parameters" in line for line in fit.methods())


def test_unknown_options_are_listed() -> None:
    data = hm.read_nested(nested_table(), y="y", se="se", shares=SHARES)
    with pytest.raises(hm.InputError, match="valid options are 'marginal', 'dirichlet'"):
        hm.nested_subgroups(data, compositions="plug-in")
    with pytest.raises(hm.InputError, match="'nuts', 'exact'"):
        hm.nested_subgroups(data, engine="reml")


# ---------------------------------------------------------------------------- specs and reports
@pytest.mark.slow  # writes a full report
def test_a_nested_spec_reports_the_strata(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    from hiermeta.pipeline.report.writer import write_report
    from hiermeta.pipeline.run import run_spec

    root = Path(__file__).parents[1]
    analysis = run_spec(root / "models" / "simulated_nested.toml")
    assert analysis.nested is not None and analysis.data.k == 10  # one estimate per cohort
    folder = write_report(analysis, Path(str(tmp_path)) / "report")
    text = (folder / "report.md").read_text(encoding="utf-8")
    assert "## Benefit by number of metastatic organs" in text
    assert "Does the benefit depend on the number of metastatic organs?" in text
    assert "P(the benefit is smaller with 2 organs than with 1)" in text
    assert "the naive analysis" in text and (folder / "nested.png").exists()
    summary = (folder / "summary.json").read_text(encoding="utf-8")
    assert '"nested"' in summary and '"stratum": "≥4"' in summary
    assert '"answer": "1 metastatic organ: HR ' in summary  # the CLI prints it


def test_bad_nested_spec_values_name_the_section(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    from hiermeta.pipeline.spec import spec_from_dict

    path = Path(str(tmp_path)) / "x.toml"
    with pytest.raises(hm.SpecError, match=r"unknown key 'cohorts_' in \[nested.simulation\]"):
        spec_from_dict({"nested": {"simulation": {"cohorts_": 3}}}, path)
    spec = spec_from_dict({"nested": {"csv": "missing.csv", "y": "y", "se": "se"}}, path)
    with pytest.raises(hm.InputError, match=r"missing\.csv"):
        spec.nested_data()
    table = nested_table()
    table.loc[0, "population"] = "few"
    table.to_csv(Path(str(tmp_path)) / "n.csv", index=False)
    spec = spec_from_dict({"nested": {"csv": "n.csv", "y": "y", "se": "se"}}, path)
    with pytest.raises(
        hm.SpecError, match=r"x.toml: \[nested\] population 'few' is not understood"
    ):
        spec.nested_data()


def test_the_simulation_study_runs_and_shows_the_naive_error() -> None:
    from hiermeta.validation.nested_study import TRUE_HR, nested_study, summary_table

    results = nested_study(4, seed=3)
    assert len(results) == 4 * len(TRUE_HR)
    table = summary_table(results)
    assert list(table.index) == ["1", "2", "3", "≥4"]
    # the naive '≤ 3' estimate sits near the 1-organ effect, far below the 3-organ truth
    assert table.loc["3", "naive bias (log HR)"] < -0.2


def test_strata_no_population_isolates_are_named() -> None:
    table = nested_table()
    only = table[table["population"].isin(["1", "all"])]
    assert hm.read_nested(only, y="y", se="se").separately_informed() == ["1"]
    assert hm.read_nested(table, y="y", se="se").separately_informed() == ["1", "2", "3", "≥4"]


def test_two_populations_of_one_cohort_with_the_same_strata_are_refused() -> None:
    table = nested_table()
    table.loc[3, "population"] = "1-4"  # the same strata as "all" of cohort C0… plus "all"
    table = pd.concat([table, table.iloc[[3]].assign(population="all")], ignore_index=True)
    with pytest.raises(
        hm.InputError, match="cohort 'C0': populations '1-4' and 'all' are the same"
    ):
        hm.read_nested(table, y="y", se="se")


@pytest.mark.parametrize(
    ("nested", "message"),
    [
        ({}, r"\[nested\] needs 'dataset', 'csv' or a \[nested.simulation\]"),
        ({"csv": "x.csv", "trend": "false"}, r"\[nested\] trend must be true or false"),
        (
            {"csv": "x.csv", "concentration": "ten"},
            r"\[nested\] concentration must be a finite number",
        ),
        (
            {"simulation": {"random_seed": "a"}},
            r"\[nested.simulation\] random_seed must be a number",
        ),
    ],
)
def test_nested_spec_values_are_checked_when_read(nested: dict, message: str) -> None:
    from pathlib import Path

    from hiermeta.pipeline.spec import spec_from_dict

    with pytest.raises(hm.SpecError, match=message):
        spec_from_dict({"nested": nested}, Path("n.toml"))


def test_thresholds_of_the_stratum_table_are_checked() -> None:
    fit = hm.nested_subgroups(
        hm.read_nested(nested_table(), y="y", se="se", shares=SHARES), engine="exact"
    )
    with pytest.raises(hm.InputError, match="must be positive"):
        fit.strata(thresholds=(1.0, 0.0))
