"""Nested organ-count subgroups: one model for "1 organ", "≤ 2", "≤ 3" and "all" patients.

Cohorts report the treatment effect for nested populations (the ≤ 3-organ group contains the
≤ 2-organ group, which contains the 1-organ group). Analysing them as independent subgroups
double-counts patients and cannot say what the effect is for *exactly* 2 or 3 organs. This model
(:func:`nested_subgroups`) treats each reported log HR as the composition-weighted mean of the
stratum effects (exactly 1, 2, 3, ≥ 4 organs) plus a cohort effect, with the sampling
correlation of estimates that share patients, and answers per stratum.

Assumptions (stated in :meth:`NestedResult.methods` and the report):

1. A population's log HR is the composition-weighted mean of its strata's log HRs (the usual
   approximation; hazard ratios are not exactly collapsible).
2. Estimates of one cohort are correlated through shared patients with correlation
   ``Σ_s sqrt(w_js w_ks)`` (``sqrt(n_A / n_B)`` for nested populations), computed at the
   reported compositions or, where none is reported, at the prior mean composition.
3. Between-cohort heterogeneity is one normal cohort effect shared by a cohort's strata.
4. An unreported composition has a Dirichlet prior centred on the typical composition
   (:data:`hiermeta.data.nested.TYPICAL_COMPOSITION`, sources there) with the given
   concentration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from hiermeta.data.effects import EffectData
from hiermeta.data.nested import NestedData
from hiermeta.engines.exact.nested import NestedExact, fit_nested_exact
from hiermeta.engines.frequentist import frequentist
from hiermeta.errors import (
    InputError,
    check_level,
    check_number,
    check_thresholds,
    unknown_option,
)
from hiermeta.priors import MuPrior, Normal, TauPrior
from hiermeta.priors.defaults import default_mu, default_tau
from hiermeta.results.intervals import format_probability
from hiermeta.results.posterior import SamplePosterior, ScalarPosterior

__all__ = ["NestedResult", "nested_subgroups"]

#: Prior of the trend (log ratio of HRs per extra organ) when none is given: a ratio of HRs
#: per organ within 0.38–2.7 with 95% probability — weakly informative on the log-HR scale.
DEFAULT_TREND_PRIOR = Normal(0.0, 0.5)
#: Concentration of the Dirichlet prior of an unreported composition: each share then has a
#: prior sd of about sqrt(p (1 − p) / 11) (0.14 for the single-organ share 0.67).
DEFAULT_CONCENTRATION = 10.0
#: The engines of the nested model.
ENGINES = ("nuts", "exact")
#: Ways the NUTS engine treats unreported compositions (see :func:`nested_subgroups`).
COMPOSITIONS = ("marginal", "dirichlet")


@dataclass
class NestedResult:
    """Posterior of the nested-subgroup model; one row per stratum in :meth:`strata`."""

    data: NestedData
    engine: str
    trend: bool
    mu_prior: MuPrior
    tau_prior: TauPrior
    trend_prior: MuPrior | None
    concentration: float
    random_seed: int | None
    exact: NestedExact | None = None
    idata: Any = None
    notes: list[str] = field(default_factory=list)
    compositions: str = "marginal"

    # ------------------------------------------------------------------ posteriors
    def _mu_draws(self) -> np.ndarray:
        mu = np.asarray(self.idata.posterior["mu"].values)  # (chain, draw, S)
        return mu.reshape(-1, mu.shape[-1])

    def _tau_draws(self) -> np.ndarray:
        return np.asarray(self.idata.posterior["tau"].values).ravel()

    def posterior(self, c: np.ndarray, predictive: bool = False) -> ScalarPosterior:
        """Posterior of ``c · mu`` (mu: the stratum log HRs), for a new cohort if
        ``predictive``."""
        c = np.asarray(c, dtype=float)
        if self.exact is not None:
            return self.exact.linear(self._beta_vector(c), predictive)
        values = self._mu_draws() @ c
        if predictive:
            rng = np.random.default_rng(self.random_seed)
            values = values + self._tau_draws() * rng.standard_normal(values.size)
        return SamplePosterior(values)

    def _beta_vector(self, c: np.ndarray) -> np.ndarray:
        """Coefficients of c · mu in terms of β (mu = A β)."""
        return c @ _stratum_map(len(self.data.strata), self.trend)

    def stratum(self, s: int | str, predictive: bool = False) -> ScalarPosterior:
        """Posterior of one stratum's log HR (by index or label)."""
        index = self._index(s)
        c = np.zeros(len(self.data.strata))
        c[index] = 1.0
        return self.posterior(c, predictive)

    def _index(self, s: int | str) -> int:
        if isinstance(s, str):
            if s not in self.data.strata:
                raise unknown_option("stratum", s, self.data.strata)
            return self.data.strata.index(s)
        if not 0 <= int(s) < len(self.data.strata):
            raise InputError(f"stratum index {s} out of range 0–{len(self.data.strata) - 1}")
        return int(s)

    def tau(self) -> ScalarPosterior:
        """Posterior of the between-cohort standard deviation."""
        if self.exact is not None:
            from hiermeta.engines.exact.engine import TauMarginal

            return TauMarginal(self.exact.grid)
        return SamplePosterior(self._tau_draws())

    # ------------------------------------------------------------------ tables
    def strata(
        self, ci_level: float = 0.95, thresholds: tuple[float, ...] = (1.0, 0.8)
    ) -> pd.DataFrame:
        """One row per stratum: HR (median) and credible interval, P(HR < t) for each
        threshold, and the same for a new cohort (predictive)."""
        level = check_level(ci_level)
        thresholds = check_thresholds(thresholds)
        if min(thresholds) <= 0:
            raise InputError(
                f"thresholds are hazard ratios and must be positive; got {list(thresholds)}"
            )
        tail = (1 - level) / 2
        rows = []
        for s, label in enumerate(self.data.strata):
            post, new = self.stratum(s), self.stratum(s, predictive=True)
            low, med, high = np.exp(post.quantile(np.array([tail, 0.5, 1 - tail])))
            p_low, p_high = np.exp(new.quantile(np.array([tail, 1 - tail])))
            row: dict[str, Any] = {
                "stratum": label,
                "HR": med,
                "ci_low": low,
                "ci_high": high,
                "pi_low": p_low,
                "pi_high": p_high,
            }
            for t in thresholds:
                row[f"P(HR < {t:g})"] = float(post.cdf(np.array([np.log(t)]))[0])
                row[f"P(new HR < {t:g})"] = float(new.cdf(np.array([np.log(t)]))[0])
            rows.append(row)
        return pd.DataFrame(rows).set_index("stratum")

    def contrasts(self, ci_level: float = 0.95) -> pd.DataFrame:
        """Each stratum against the first (1 organ): ratio of HRs with its interval and
        P(the benefit is smaller than with one organ) = P(HR_s > HR_1)."""
        level = check_level(ci_level)
        tail = (1 - level) / 2
        rows = []
        first = self.data.strata[0]
        for s, label in enumerate(self.data.strata[1:], start=1):
            c = np.zeros(len(self.data.strata))
            c[s], c[0] = 1.0, -1.0
            post = self.posterior(c)
            low, med, high = np.exp(post.quantile(np.array([tail, 0.5, 1 - tail])))
            rows.append(
                {
                    "contrast": f"{label} vs {first}",
                    "ratio of HRs": med,
                    "ci_low": low,
                    "ci_high": high,
                    "P(smaller benefit)": 1 - float(post.cdf(np.array([0.0]))[0]),
                }
            )
        return pd.DataFrame(rows).set_index("contrast")

    def trend_estimate(self, ci_level: float = 0.95) -> dict[str, float] | None:
        """The ratio of HRs per extra organ (trend model only): median, interval and
        P(ratio > 1) — the benefit shrinking with each organ."""
        if not self.trend:
            return None
        level = check_level(ci_level)
        tail = (1 - level) / 2
        c = np.zeros(len(self.data.strata))
        c[1], c[0] = 1.0, -1.0  # with a trend, mu_2 − mu_1 = gamma
        post = self.posterior(c)
        low, med, high = np.exp(post.quantile(np.array([tail, 0.5, 1 - tail])))
        return {
            "ratio per organ": float(med),
            "ci_low": float(low),
            "ci_high": float(high),
            "P(ratio > 1)": 1 - float(post.cdf(np.array([0.0]))[0]),
        }

    def naive(self, ci_level: float = 0.95) -> pd.DataFrame:
        """What the usual analysis reports: each population a level of one categorical
        moderator (REML), ignoring that the populations overlap — for comparison only."""
        return naive_populations(self.data, ci_level)

    def diagnostics(self) -> pd.DataFrame:
        """R-hat, bulk and tail ESS per stratum effect and tau, and divergences (NUTS), with
        the thresholds of every NUTS fit (:data:`hiermeta.engines.nuts.checks.THRESHOLDS`)."""
        if self.idata is None:
            return pd.DataFrame(columns=["value", "threshold", "passed"])
        import arviz_stats as azs

        from hiermeta.engines.nuts.checks import THRESHOLDS

        post = self.idata.posterior
        series = {f"mu[{s}]": post["mu"].values[..., i] for i, s in enumerate(self.data.strata)}
        series["tau"] = post["tau"].values
        rows = []
        for name, draws in series.items():
            rhat = float(azs.rhat(draws))
            bulk = float(azs.ess(draws, method="bulk"))
            tail = float(azs.ess(draws, method="tail", prob=(0.05, 0.95)))
            rows += [
                (name, "rhat", rhat, THRESHOLDS["rhat"], rhat <= THRESHOLDS["rhat"]),
                (name, "ess_bulk", bulk, THRESHOLDS["ess_bulk"], bulk >= THRESHOLDS["ess_bulk"]),
                (name, "ess_tail", tail, THRESHOLDS["ess_tail"], tail >= THRESHOLDS["ess_tail"]),
            ]
        divergent = int(np.asarray(self.idata.sample_stats["diverging"].values).sum())
        rows.append(("sampler", "divergences", float(divergent), 0.0, divergent == 0))
        columns = ["parameter", "diagnostic", "value", "threshold", "passed"]
        return pd.DataFrame(rows, columns=columns).set_index(["parameter", "diagnostic"])

    def failed_checks(self) -> list[str]:
        """The diagnostics that failed, in words (empty when all passed or exact)."""
        table = self.diagnostics()
        bad = table[~table["passed"].astype(bool)] if len(table) else table
        return [
            f"{p} {d} = {row.value:.4g}"
            for (p, d), row in zip(bad.index, bad.itertuples(), strict=True)
        ]

    # ------------------------------------------------------------------ words
    def methods(self) -> list[str]:
        """What was assumed, in sentences for a report."""
        d = self.data
        unknown = int((~d.known).sum())
        typical = ", ".join(f"{s}: {p:.2f}" for s, p in zip(d.strata, d.typical, strict=True))
        lines = [
            f"Nested-subgroup model ({self.engine} engine): {d.k} estimates from {len(d.cohorts)} "
            f"cohorts; strata of metastatic organs {', '.join(d.strata)}. Each reported log HR is "
            "the composition-weighted mean of the stratum log HRs (an approximation: HRs are not "
            "exactly collapsible) plus a normal cohort effect (between-cohort heterogeneity tau).",
            "Estimates of one cohort share patients: their sampling correlation is taken as "
            "Σ_s √(w_js·w_ks) (√(n_A/n_B) for a population nested in another), at the reported "
            "compositions or, where none is reported, at the prior mean composition.",
            f"Priors: stratum effects ~ {self.mu_prior.name}"
            + (f", trend per organ ~ {self.trend_prior.name}" if self.trend_prior else "")
            + f", tau ~ {self.tau_prior.name}.",
        ]
        if unknown:
            lines.append(
                f"{unknown} of {d.k} populations report no composition: it has a Dirichlet prior "
                f"with concentration {self.concentration:g} centred on the typical composition "
                f"({typical}; single-organ share from SEER 2010–2015, Wang et al. BMC Cancer "
                "2019;19:1091, the split of the others assumed)"
                + (
                    ", integrated out by its mean and covariance (the row's variance gains "
                    "mu'·Cov(w)·mu)."
                    if self.compositions == "marginal"
                    else ", sampled with the other parameters."
                )
            )
        lines += self.notes
        return lines

    def describe(self, ci_level: float = 0.95) -> str:
        """Per stratum, the HR and the probability of benefit in plain words."""
        table = self.strata(ci_level)
        parts = []
        for label, row in table.iterrows():
            organs = "organ" if str(label) == "1" else "organs"
            parts.append(
                f"{label} metastatic {organs}: HR {row['HR']:.2f} ({ci_level:.0%} CrI "
                f"{row['ci_low']:.2f}–{row['ci_high']:.2f}), probability of benefit "
                f"{format_probability(row['P(HR < 1)'])}"
            )
        return "; ".join(parts) + "."

    def plot(self, ax: Any = None, ci_level: float = 0.95, naive: bool = True) -> Any:
        """HR by number of metastatic organs, with credible and predictive intervals (and the
        naive population estimates for comparison)."""
        from hiermeta.results.plots import plot_nested

        return plot_nested(self, ax=ax, ci_level=ci_level, naive=naive)


def _moments(prior: MuPrior) -> tuple[float, float]:
    """Mean and sd of a normal prior (infinite sd for a flat one)."""
    mean, precision = prior.normal_moments()
    return float(mean), float(1 / np.sqrt(precision)) if precision > 0 else float("inf")


def _stratum_map(n_strata: int, trend: bool) -> np.ndarray:
    """A (S × p): mu = A β — the identity, or [1, s − 1] for an ordinal trend."""
    if not trend:
        return np.eye(n_strata)
    return np.column_stack([np.ones(n_strata), np.arange(n_strata, dtype=float)])


def naive_populations(data: NestedData, ci_level: float = 0.95) -> pd.DataFrame:
    """REML meta-regression on the population label as if the populations were independent."""
    labels = list(dict.fromkeys(data.population))
    effects = EffectData(
        study=data.effects.study,
        y=data.effects.y,
        se=data.effects.se,
        measure=data.effects.measure,
        covariates=pd.DataFrame({"population": list(data.population)}),
    )
    if len(labels) == 1:
        fit = frequentist(effects, "REML", ci_level=ci_level)
        est = fit.pooled(ci_level)
        frame = pd.DataFrame(
            {"population": labels, "estimate": [est.estimate], "low": [est.low], "high": [est.high]}
        )
    else:
        fit = frequentist(
            effects,
            "REML",
            moderators="population",
            levels={"population": labels},
            ci_level=ci_level,
        )
        frame = (
            fit.levels(ci_level)[["level", "estimate", "low", "high"]]
            .rename(columns={"level": "population"})
            .reset_index(drop=True)
        )
    frame["HR"] = np.exp(frame["estimate"])
    frame["ci_low"] = np.exp(frame["low"])
    frame["ci_high"] = np.exp(frame["high"])
    frame["k"] = [data.population.count(p) for p in frame["population"]]
    return frame[["population", "k", "HR", "ci_low", "ci_high"]].set_index("population")


def nested_subgroups(
    data: NestedData,
    *,
    engine: Literal["nuts", "exact"] | str = "nuts",
    trend: bool = False,
    mu_prior: MuPrior | None = None,
    tau_prior: TauPrior | None = None,
    trend_prior: MuPrior | None = None,
    concentration: float = DEFAULT_CONCENTRATION,
    compositions: str = "marginal",
    draws: int = 2000,
    tune: int = 1000,
    chains: int = 4,
    target_accept: float = 0.95,
    random_seed: int | None = 0,
) -> NestedResult:
    """Fit the nested-subgroup model (see the module docstring for its assumptions).

    Parameters
    ----------
    data
        From :func:`hiermeta.read_nested`.
    engine
        ``"nuts"`` (PyMC; compositions known or with a Dirichlet prior) or ``"exact"``
        (quadrature; every composition must be reported — it is the oracle of the NUTS fit).
    trend
        An ordinal trend: ``log HR_s = alpha + gamma (s − 1)`` (gamma: log ratio of HRs per
        extra organ) instead of a free effect per stratum.
    mu_prior, tau_prior
        Priors of each stratum's log HR (or of alpha with a trend) and of the between-cohort
        sd; default those of the measure (Normal(0, 1), HalfNormal(0.5) for an HR).
    trend_prior
        Prior of gamma (default Normal(0, 0.5)).
    concentration
        Of the Dirichlet prior of unreported compositions.
    compositions
        How NUTS treats an unreported composition: ``"marginal"`` (default) integrates its
        Dirichlet prior out by its mean and covariance (fast, no divergences); ``"dirichlet"``
        samples it (the full model; slow, as the compositions are barely identified).
    draws, tune, chains, target_accept, random_seed
        NUTS settings (checked as for :func:`hiermeta.bayesian`).
    """
    if not isinstance(data, NestedData):
        raise InputError(f"expected nested data from hm.read_nested; got {type(data).__name__}")
    if engine not in ENGINES:
        raise unknown_option("engine", engine, ENGINES)
    if compositions not in COMPOSITIONS:
        raise unknown_option("compositions", compositions, COMPOSITIONS)
    concentration = check_number("concentration", concentration, 0)
    if not concentration > 0:
        raise InputError(f"concentration must be positive; got {concentration}")
    mu_prior = mu_prior or default_mu(data.effects)
    tau_prior = (tau_prior or default_tau(data.effects)).for_data(data.effects.se)
    trend_prior = (trend_prior or DEFAULT_TREND_PRIOR) if trend else None
    cohorts = data.cohorts
    cohort_index = np.array([cohorts.index(c) for c in data.cohort])
    result = NestedResult(
        data, engine, trend, mu_prior, tau_prior, trend_prior, concentration, random_seed
    )
    V = data.covariance()
    if engine == "exact":
        if not data.known.all():
            missing = [data.effects.study[j] for j in np.flatnonzero(~data.known)]
            raise InputError(
                f"the exact engine needs every composition; not reported for {missing} "
                "(use engine='nuts', which gives them a Dirichlet prior)"
            )
        A = _stratum_map(len(data.strata), trend)
        priors = [mu_prior, trend_prior] if trend_prior else [mu_prior] * len(data.strata)
        mean0, sd0 = np.array([_moments(p) for p in priors]).T
        result.exact = fit_nested_exact(
            data.effects.y,
            data.composition @ A,
            V,
            cohort_index,
            mean0,
            sd0,
            tau_prior,
        )
        return result
    from hiermeta.engines.nuts.nested import sample_nested

    result.idata = sample_nested(
        data.effects.y,
        V,
        data.members,
        data.composition,
        data.typical,
        concentration,
        cohort_index,
        mu_prior,
        tau_prior,
        trend_prior,
        draws=draws,
        tune=tune,
        chains=chains,
        target_accept=target_accept,
        random_seed=random_seed,
        compositions=compositions,
    )
    result.compositions = compositions
    return result
