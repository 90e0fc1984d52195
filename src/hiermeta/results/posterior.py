"""The result API shared by the exact and the NUTS engines.

Each engine represents a scalar posterior its own way — the exact engine as a mixture of
normals over the tau quadrature nodes (no Monte-Carlo error), NUTS as draws — behind the
small :class:`ScalarPosterior` interface. :class:`BayesianResult` builds ``summary``,
``quantile`` and ``prob`` on it once, so both engines answer the same questions the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar, overload

import numpy as np
import pandas as pd
from scipy import optimize

from hiermeta.errors import InputError, check_number, unknown_option
from hiermeta.results.contract import Estimate, MetaResult
from hiermeta.results.intervals import check_level

__all__ = ["BayesianResult", "SamplePosterior", "ScalarPosterior", "predictive_target"]


def predictive_target(param: str) -> str:
    """The quantity whose new-study effect ``param`` names: ``"predictive"`` → ``"mu"``,
    ``"predictive[organs=(0, 1]]"`` → ``"organs=(0, 1]"`` (only the outer brackets go: a level
    may itself end in a bracket, as pandas' interval labels do)."""
    if param.startswith("predictive[") and param.endswith("]"):
        return param[len("predictive[") : -1]
    return "mu"


class ScalarPosterior(ABC):
    """Posterior distribution of one scalar quantity."""

    #: Monte-Carlo standard errors are available (NUTS) or not needed (exact).
    exact: bool = True

    @abstractmethod
    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(quantity ≤ x)."""

    @abstractmethod
    def quantile(self, q: np.ndarray) -> np.ndarray:
        """Inverse CDF."""

    @property
    @abstractmethod
    def mean(self) -> float:
        """Posterior mean."""

    @property
    @abstractmethod
    def sd(self) -> float:
        """Posterior standard deviation."""

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density (exact representations only)."""
        raise NotImplementedError

    def lower_bound(self) -> float:
        """Lower end of the support."""
        return -np.inf

    def log_pdf_slope(self, x: np.ndarray) -> np.ndarray:
        """d/dx log pdf (exact representations only)."""
        raise NotImplementedError

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CDF, density and log-density slope at x (engines may share work between them)."""
        return self.cdf(x), self.pdf(x), self.log_pdf_slope(x)

    def shortest_interval(
        self,
        level: float,
        central: tuple[float, float] | None = None,
        at_level: float | None = None,
    ) -> tuple[float, float]:
        """Shortest interval with the given probability (the HDI of a unimodal posterior).

        ``central`` (the central interval) and ``at_level`` (the ``level`` quantile) may be
        passed when already known, saving their computation.

        Solves g(α) = pdf(q(α + level)) − pdf(q(α)) = 0 for the lower tail probability α by
        safeguarded Newton steps (g'(α) uses the slope of the log density); when the density
        is largest at the lower end of the support (tau with its mode at 0) the interval
        starts there.
        """
        eps = 1e-12
        bounds = (
            central
            if central is not None
            else self.quantile(np.array([(1 - level) / 2, (1 + level) / 2]))
        )
        low_end = self.lower_bound()
        if np.isfinite(low_end):
            upper = float(self.quantile(np.array([level]))[0]) if at_level is None else at_level
            dens = self.pdf(np.array([low_end, upper]))
            if dens[0] >= dens[1]:
                return low_end, upper
        # 2-D Newton on (lo, hi): F(hi) − F(lo) = level and log f(hi) = log f(lo)
        lo, hi = float(bounds[0]), float(bounds[1])
        for _ in range(50):
            x = np.array([lo, hi])
            cdf, dens, slope = self.evaluate(x)
            r1 = cdf[1] - cdf[0] - level
            with np.errstate(divide="ignore"):
                r2 = float(np.log(dens[1]) - np.log(dens[0]))
            if abs(r1) < 1e-13 and abs(r2) < 1e-10:
                return float(lo), float(hi)
            # the 2 × 2 Newton system [[-f(lo), f(hi)], [-s(lo), s(hi)]] step = -(r1, r2), by
            # Cramer's rule (np.linalg.solve costs more than the whole iteration at this size)
            if not np.isfinite(r2):  # an iterate where the density is 0 (beyond a Uniform's U)
                break
            det = float(-dens[0] * slope[1] + dens[1] * slope[0])
            if not (det != 0 and np.isfinite(det)):
                break
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                new_lo = lo + float(-r1 * slope[1] + r2 * dens[1]) / det
                new_hi = hi + float(dens[0] * r2 - slope[0] * r1) / det
            if not (np.isfinite(new_lo) and np.isfinite(new_hi) and new_lo < hi and new_hi > lo):
                break
            if np.isfinite(low_end) and new_lo < low_end:
                break
            lo, hi = new_lo, new_hi
        return self._shortest_by_alpha(level, eps)

    def _shortest_by_alpha(self, level: float, eps: float) -> tuple[float, float]:
        """Fallback: bisection on the lower tail probability."""

        def gap(alpha: float) -> float:
            bounds = self.quantile(np.array([alpha, alpha + level]))
            dens = self.pdf(bounds)
            return float(dens[1] - dens[0])

        top = 1 - level - eps
        if gap(eps) <= 0:
            alpha = eps
        elif gap(top) >= 0:
            alpha = top
        else:
            alpha = optimize.brentq(gap, eps, top, xtol=1e-13)
        bounds = self.quantile(np.array([alpha, alpha + level]))
        return float(bounds[0]), float(bounds[1])

    def mcse(self, what: str) -> float:
        """Monte-Carlo standard error (0 for the exact engine)."""
        return 0.0


class SamplePosterior(ScalarPosterior):
    """A scalar posterior represented by (MCMC or iid) draws."""

    exact = False

    def __init__(self, draws: np.ndarray, mcse: dict[str, float] | None = None) -> None:
        self.draws = np.sort(np.asarray(draws, dtype=float).ravel())
        self._mcse = mcse or {}

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return (
            np.searchsorted(self.draws, np.asarray(x, dtype=float), side="right") / self.draws.size
        )

    def quantile(self, q: np.ndarray) -> np.ndarray:
        return np.quantile(self.draws, np.asarray(q, dtype=float))

    @property
    def mean(self) -> float:
        return float(self.draws.mean())

    @property
    def sd(self) -> float:
        return float(self.draws.std(ddof=1))

    def shortest_interval(
        self,
        level: float,
        central: tuple[float, float] | None = None,
        at_level: float | None = None,
    ) -> tuple[float, float]:
        n = self.draws.size
        width = int(np.floor(level * n))
        if width >= n:
            return float(self.draws[0]), float(self.draws[-1])
        spans = self.draws[width:] - self.draws[: n - width]
        best = int(np.argmin(spans))
        return float(self.draws[best]), float(self.draws[best + width])

    def mcse(self, what: str) -> float:
        return float(self._mcse.get(what, np.nan))


class BayesianResult(MetaResult):
    """Common API of Bayesian fits (exact and NUTS), on top of the result contract.

    Subclasses provide :meth:`posterior` for the named quantities: ``"mu"`` (the pooled mean
    effect, or the intercept of a meta-regression), ``"tau"``, ``"predictive"`` (the true effect
    in a new study), coefficient names, ``"theta[<study>]"`` (shrunken study effects) and,
    with categorical moderators, ``"<moderator>=<level>"`` (mean effect in a subgroup).
    """

    family: ClassVar[str] = "bayesian"
    interval_name: ClassVar[str] = "credible"
    mu_prior: Any
    tau_prior: Any
    random_seed: int | None

    # ------------------------------------------------------------------ engine hooks
    @abstractmethod
    def posterior(self, param: str) -> ScalarPosterior:
        """The posterior of a named scalar quantity."""

    @abstractmethod
    def linear(self, c: np.ndarray) -> ScalarPosterior:
        """Posterior of the linear combination ``c · beta`` of the coefficients."""

    def contrast(self, first: str, second: str) -> ScalarPosterior:
        """Posterior of the difference (log ratio of HRs) between two subgroups."""
        return self.linear(self._vector(first) - self._vector(second))

    def linear_estimate(self, c: np.ndarray, ci_level: float | None = None) -> Estimate:
        level = self._level(ci_level)
        tail = (1 - level) / 2
        post = self.linear(np.asarray(c, dtype=float))
        low, med, high = post.quantile(np.array([tail, 0.5, 1 - tail]))
        text = f"{level:.0%} CrI (central; value = median)"
        return Estimate(float(med), float(low), float(high), post.sd, level, text)

    def _contrast_probability(self, c: np.ndarray) -> float:
        return float(self.linear(c).cdf(np.array([0.0]))[0])

    def study_weights(self) -> np.ndarray:
        """Inverse-variance weights (%) at the posterior median of tau, for forest plots."""
        tau = self.tau_estimate().estimate
        w = 1 / (self.data.variance + (0.0 if np.isnan(tau) else tau**2))
        return np.asarray(100 * w / w.sum())

    def parameters(self) -> list[str]:
        """Names accepted by :meth:`posterior`, :meth:`quantile` and :meth:`prob`."""
        names = ["mu", "tau", "predictive"]
        if not self.design.intercept_only:
            names += list(self.design.names[1:])
            names += self.level_params()
        return names + [f"theta[{s}]" for s in self.data.study]

    @cached_property
    def _parameter_set(self) -> frozenset[str]:
        """:meth:`parameters` for membership tests (the list names every study)."""
        return frozenset(self.parameters())

    def _posterior_checked(self, param: str) -> ScalarPosterior:
        # a study's effect is looked up in constant time (a forest plot asks for every study)
        study = param[6:-1] if param.startswith("theta[") and param.endswith("]") else None
        known = self.data.position(study) is not None if study is not None else None
        if not known and param not in self._parameter_set:
            raise unknown_option("parameter", param, self.parameters())
        return self.posterior(param)

    # ------------------------------------------------------------------ the result contract
    @property
    def label(self) -> str:
        return f"Bayes {self.engine} (tau ~ {self.tau_prior.name})"

    def _estimate_of(self, param: str, level: float, interval: str, kind: str = "") -> Estimate:
        tail = (1 - level) / 2
        post = self._posterior_checked(param)
        low, med, high = post.quantile(np.array([tail, 0.5, 1 - tail]))
        return Estimate(float(med), float(low), float(high), post.sd, level, interval, kind)

    def effect(self, param: str = "mu", ci_level: float | None = None) -> Estimate:
        level = self._level(ci_level)
        self._vector(param)  # an unknown name is an InputError listing the valid ones
        return self._estimate_of(param, level, f"{level:.0%} CrI (central; value = median)")

    def prediction(self, ci_level: float | None = None, param: str = "mu") -> Estimate | None:
        level = self._level(ci_level)
        name = "predictive" if param == "mu" else f"predictive[{param}]"
        if name not in self._parameter_set:
            return None
        kind = "posterior predictive"
        return self._estimate_of(name, level, f"{level:.0%} PI ({kind})", kind)

    def tau_estimate(self, ci_level: float | None = None) -> Estimate:
        level = self._level(ci_level)
        if "tau" not in self._parameter_set:  # one tau per subgroup: no single tau
            nan = float("nan")
            return Estimate(nan, nan, nan, nan, level, "one tau per subgroup (see the summary)")
        return self._estimate_of("tau", level, f"{level:.0%} CrI (central; value = median)")

    def study_effects(self, ci_level: float | None = None) -> pd.DataFrame:
        level = self._level(ci_level)
        tail = (1 - level) / 2
        rows = [self.quantile(f"theta[{s}]", [tail, 0.5, 1 - tail]) for s in self.data.study]
        values = np.array(rows, dtype=float).reshape(len(rows), 3)
        return pd.DataFrame(
            {"estimate": values[:, 1], "low": values[:, 0], "high": values[:, 2]},
            index=pd.Index(self.data.study, name="study"),
        )

    def priors_text(self) -> str:
        """The priors in words, on the measure's scale."""
        m = self.data.measure
        mu = f"mu ~ {self.mu_prior.describe(m)}" if self.mu_prior is not None else ""
        return f"{mu} tau ~ {self.tau_prior.describe(m)}".strip()

    def _engine_details(self, level: float) -> dict[str, Any]:
        table = self.posterior_summary(level)
        mu = table.loc["mu"]
        return {
            "mu_prior": self.mu_prior.describe(self.data.measure) if self.mu_prior else None,
            "tau_prior": self.tau_prior.describe(self.data.measure),
            "random_seed": self.random_seed,
            "mean": mu["mean"],
            "sd": mu["sd"],
            "summary": {name: row.dropna().to_dict() for name, row in table.iterrows()},
        }

    # ------------------------------------------------------------------ questions
    @overload
    def quantile(self, param: str, q: float) -> float: ...

    @overload
    def quantile(self, param: str, q: Sequence[float] | np.ndarray) -> np.ndarray: ...

    def quantile(self, param: str, q: float | Sequence[float] | np.ndarray) -> np.ndarray | float:
        """Posterior quantile(s) of ``param`` (analysis scale: log HR for ``mu``, ``predictive``)."""
        probs = np.atleast_1d(np.asarray(q, dtype=float))
        if not np.all((probs > 0) & (probs < 1)):  # NaN fails too
            raise InputError(f"quantile probabilities must lie in (0, 1); got {q!r}")
        values = self._posterior_checked(param).quantile(probs)
        return float(values[0]) if np.ndim(q) == 0 else values

    def prob(
        self,
        below: float,
        predictive: bool = False,
        param: str | None = None,
        analysis_scale: bool = False,
    ) -> float:
        """Posterior probability that the effect lies below ``below`` (on the reporting scale).

        ``prob(below=0.8)`` is P(HR < 0.8) for the mean effect; with ``predictive=True`` it is
        the probability for the true effect in a new study. For additive measures ``below`` is
        on the measure's own scale, for PLO a proportion, for ZCOR a correlation. With
        ``analysis_scale=True`` the threshold is on the analysis scale (e.g. 0 for a slope).
        """
        name = param or ("predictive" if predictive else "mu")
        value = check_number(f"prob(below=…) on the {self.data.natural_label} scale", below)
        threshold = value if analysis_scale else float(self.data.from_natural(value))
        return float(self._posterior_checked(name).cdf(np.array([threshold]))[0])

    def prob_contrast(self, first: str, second: str) -> float:
        """P(effect in ``first`` < effect in ``second``), e.g. ``("organs=1", "organs=2")``."""
        self._vector(first), self._vector(second)  # unknown levels: InputError, valid listed
        return float(self.contrast(first, second).cdf(np.array([0.0]))[0])

    # ------------------------------------------------------------------ tables
    def posterior_summary(
        self, ci_level: float = 0.95, params: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Posterior summary on the analysis scale and (for ratio measures) the ratio scale.

        Columns: mean, sd, median, central interval (``ci_low``, ``ci_high``), shortest
        interval (``hdi_low``, ``hdi_high``), and for NUTS the MCSE of the mean; then
        ``HR``-style columns (exponentiated median and intervals; the ``HR`` column is the
        exponentiated posterior median). ``tau`` is not exponentiated. :meth:`summary` is the
        table with the same columns for every engine.
        """
        level = check_level(ci_level)
        tail = (1 - level) / 2
        names = list(params) if params is not None else self.default_summary_params()
        rows = []
        for name in names:
            post = self._posterior_checked(name)
            low, med, high, at_level = post.quantile(np.array([tail, 0.5, 1 - tail, level]))
            hdi = post.shortest_interval(level, central=(low, high), at_level=at_level)
            rows.append((post.mean, post.sd, med, low, high, hdi[0], hdi[1], post.mcse("mean")))
        values = np.array(rows, dtype=float).reshape(len(names), 8)
        columns = ["mean", "sd", "median", "ci_low", "ci_high", "hdi_low", "hdi_high", "mcse_mean"]
        table = dict(zip(columns, values.T, strict=True))
        if self.data.back_transformed:
            ratio = self.data.to_natural(values[:, 2:7])
            ratio[[n.startswith("tau") for n in names]] = np.nan  # tau has no ratio-scale meaning
            if not self.data.is_ratio:  # nor has a slope of logits or of Fisher z
                ratio[[n in self.design.names[1:] for n in names]] = np.nan
            m = self.data.natural_label
            for j, label in enumerate(["", " ci_low", " ci_high", " hdi_low", " hdi_high"]):
                table[f"{m}{label}"] = ratio[:, j]
        return pd.DataFrame(table, index=pd.Index(names, name="param"))

    def default_summary_params(self) -> list[str]:
        """mu (or the coefficients), tau, predictive; subgroup means for categorical moderators."""
        if self.design.intercept_only:
            return ["mu", "tau", "predictive"]
        return ["mu", *self.design.names[1:], "tau", *self.level_params()]

    def probabilities(self, thresholds: Sequence[float] | None = None) -> pd.DataFrame:
        """P(effect < threshold) for the mean, a new study and each subgroup mean.

        Thresholds are on the reporting scale; the default is the measure's
        (``(1.0, 0.8)`` for ratios, ``(0.0,)`` for differences, none for a proportion).
        """
        if thresholds is None:
            thresholds = self.data.measure_info.default_thresholds
        rows = ["mu", "predictive", *self.default_summary_params()]
        rows = [
            r for r in dict.fromkeys(rows) if not r.startswith("tau") and r in self._parameter_set
        ]
        table = {
            f"P({self.data.natural_label} < {t:g})": [self.prob(t, param=r) for r in rows]
            for t in thresholds
        }
        return pd.DataFrame(table, index=pd.Index(rows, name="param"))
