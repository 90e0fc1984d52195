"""Priors for the between-study heterogeneity tau and for the mean effect / coefficients.

Each prior is a small immutable value object with a citation. The same object serves both
engines: :meth:`logpdf` (scipy/numpy) for the exact quadrature engine and :meth:`to_pymc` for
the PyMC models. :meth:`describe` explains a prior on the ratio (e.g. HR) scale.

Defaults for log hazard ratios (see :data:`DEFAULT_MU` and :data:`DEFAULT_TAU`):

* ``mu ~ Normal(0, 1)``: hiermeta's own weakly informative choice for a log HR (we found no
  published source that recommends exactly this): 95% prior probability that the mean HR lies
  between 0.14 and 7.1, far wider than any plausible treatment effect while excluding absurd
  ones. For comparison, the empirical Cochrane log-HR prior of Bartoš et al. (2023) is
  t(0, 0.13, 2) (:class:`StudentT`), and Röver (2020, J Stat Softw 93(6)) uses Normal(0, 4²)
  for a log OR.
* ``tau ~ HalfNormal(0.5)``: the weakly informative heterogeneity prior for log-ratio outcomes
  of Friede, Röver, Wandel & Neuenschwander (2017), Res Synth Methods 8:79–91 ("half-normal
  priors (with scale 0.5 or 1.0) for log odds ratios is recommended"), discussed by Röver et
  al. (2021), Res Synth Methods 12:448–474; it puts 95% prior probability on tau < 0.98.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
from scipy import optimize, special, stats

from hiermeta.constants import Z95
from hiermeta.data.measures import get_measure
from hiermeta.errors import InputError, check_number, unknown_option

__all__ = [
    "DEFAULT_MU",
    "DEFAULT_TAU",
    "Exponential",
    "Flat",
    "HalfCauchy",
    "HalfNormal",
    "HalfStudentT",
    "InverseGamma",
    "Jeffreys",
    "LogNormalTau2",
    "LogTTau2",
    "MuPrior",
    "Normal",
    "StudentT",
    "TauPrior",
    "Uniform",
    "catalogue",
    "from_spec",
]


#: Beyond this a normal prior's variance overflows double precision (use Flat() instead).
MAX_PRIOR_SD = 1e150


def _positive(name: str, value: float) -> float:
    return check_number(f"prior parameter {name}", value, 0.0)


def _mean_span(measure: str, low: float, high: float) -> str:
    """``"the mean HR lies between 0.14 and 7.1"`` on the measure's reporting scale."""
    info = get_measure(measure)
    a, b = info.to_natural([low, high])
    if info.scale == "identity":
        unit = {"MD": " (in the outcome's units)", "SMD": " (in standard deviations)"}
        return f"the mean {measure} lies between {a:.3g} and {b:.3g}{unit.get(measure, '')}"
    return f"the mean {info.reported} lies between {a:.2g} and {b:.2g}"


def _scale_name(measure: str) -> str:
    """``"the log HR scale"``, ``"the Fisher z scale"``, ``"the MD scale"``."""
    return f"the {get_measure(measure).analysis_label} scale"


#: Probability levels at which :meth:`TauPrior.ratio_factor` evaluates the prior.
_COVERAGE_NODES = 4000

#: Registries of the families by name (filled as each class is defined): a new family is one
#: new class in this module, and ``from_spec``, prior strings, specs and the CLI know it.
TAU_FAMILIES: dict[str, type[TauPrior]] = {}
MU_FAMILIES: dict[str, type[MuPrior]] = {}


# =============================================================================== tau priors
@dataclass(frozen=True)
class TauPrior(ABC):
    """A prior on the between-study standard deviation tau ≥ 0.

    What each engine needs from a family: :meth:`logpdf` (exact engine; :meth:`for_data` when
    the prior depends on the studies), :meth:`to_pymc` (NUTS; ``pymc_ok``), and
    :meth:`describe` for reports.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("family"):
            TAU_FAMILIES[cls.family] = cls

    def for_data(self, se: np.ndarray) -> TauPrior:
        """The prior to use for studies with these standard errors (itself, for most)."""
        return self

    #: The prior depends on the studies' standard errors (see :meth:`for_data`).
    data_dependent: ClassVar[bool] = False

    family: ClassVar[str] = ""
    proper: ClassVar[bool] = True
    #: Available in the PyMC engine (False for Jeffreys, which depends on the data).
    pymc_ok: ClassVar[bool] = True
    citation: ClassVar[str] = ""
    label: str = field(default="", compare=False, kw_only=True)
    #: Where this particular prior comes from, when it is not the family's citation (for
    #: example a default derived for the data's measure); :meth:`describe` prints it.
    source: str = field(default="", compare=False, kw_only=True, repr=False)

    @abstractmethod
    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        """Log density of tau (−inf outside the support)."""

    @abstractmethod
    def params(self) -> dict[str, float]:
        """Hyper-parameters by name (PyMC argument names)."""

    def _frozen(self) -> Any:
        """A scipy distribution of tau, for quantiles and draws."""
        raise NotImplementedError

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        """Prior quantiles of tau."""
        return np.asarray(self._frozen().ppf(q), dtype=float)

    def rvs(self, size: int, random_seed: int | np.random.Generator | None) -> np.ndarray:
        """Draws of tau."""
        rng = np.random.default_rng(random_seed)
        return np.asarray(self._frozen().rvs(size=size, random_state=rng), dtype=float)

    def to_pymc(self, name: str = "tau", **tensors: Any) -> Any:
        """Create the PyMC random variable (inside a model context).

        ``tensors`` may replace hyper-parameters by PyTensor variables (e.g. ``pm.Data``), so
        one compiled model serves a whole prior sweep of one family.
        """
        import pymc as pm

        values = {**self.params(), **tensors}
        return self._pymc(pm, name, values)

    @abstractmethod
    def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any: ...

    def to_pymc_folded(self, name: str = "tau", **tensors: Any) -> Any | None:
        """tau as |u| with u symmetric about 0 (``{name}_folded``), or None for a family whose
        density vanishes at 0 (log-normal, inverse gamma, log-t): those keep PyMC's log
        transform.

        A half-normal (half-Cauchy, half-t) tau is the absolute value of a normal (Cauchy, t)
        variable; an exponential tau that of a Laplace, a uniform tau on (0, U) that of a
        uniform on (−U, U). NUTS then moves through tau = 0 on an unbounded, smooth scale
        instead of the long flat left tail of log tau, where no single step size fits (the
        divergences of small meta-analyses).
        """
        import pymc as pm
        import pytensor.tensor as pt

        u = self._pymc_folded(pm, f"{name}_folded", {**self.params(), **tensors})
        return None if u is None else pm.Deterministic(name, pt.abs(u))

    def _pymc_folded(self, pm: Any, name: str, values: dict[str, Any]) -> Any | None:
        return None

    @property
    def foldable(self) -> bool:
        """tau can be sampled as |z| (the prior is half of a symmetric density)."""
        return type(self)._pymc_folded is not TauPrior._pymc_folded

    def __repr__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """Short display name, e.g. ``HalfNormal(0.5)``."""
        if self.label:
            return self.label
        inner = ", ".join(f"{v:g}" for v in self.params().values())
        return f"{type(self).__name__}({inner})"

    def ratio_factor(self, prob: float = 0.95) -> float:
        """Factor f with P(true study ratios within ×/÷ f of the mean ratio) = ``prob`` a priori.

        ``ln f`` is the half-width h solving P(|theta − mu| < h) = E_tau[2Φ(h / tau) − 1] =
        ``prob``; the expectation is taken over the prior's quantiles (a midpoint rule on
        4,000 probability levels), which copes with heavy tails such as the inverse gamma's.
        """
        levels = (np.arange(_COVERAGE_NODES) + 0.5) / _COVERAGE_NODES
        taus = np.asarray(self.ppf(levels), dtype=float)

        def coverage(log_f: float) -> float:
            with np.errstate(divide="ignore"):
                return float(np.mean(2 * special.ndtr(log_f / taus) - 1)) - prob

        hi = 1.0
        while coverage(hi) < 0:
            hi *= 2
            if hi > 1e6:
                return math.inf
        return math.exp(optimize.brentq(coverage, 1e-12, hi, xtol=1e-12 * hi))

    def describe(self, measure: str = "HR") -> str:
        """Plain-words meaning on the ratio scale (for reports)."""
        if not self.proper:
            return f"{self.name}: improper (no prior statement on the {measure} scale). {self.citation}"
        median = float(self.ppf(0.5))
        upper = float(self.ppf(0.95))
        factor = self.ratio_factor(0.95)
        text = f"{self.name} on tau ({_scale_name(measure)}): prior median tau = {median:.2g}, 95% below {upper:.2g}; "
        if get_measure(measure).is_ratio:
            factor_text = f"{factor:.2g}" if factor < 100 else "more than 100"
            text += (
                f"95% prior probability that true study {measure}s lie within a factor of "
                f"{factor_text} of the mean {measure}."
            )
        else:
            text += (
                f"95% prior probability that true study effects lie within ±{math.log(factor):.2g} "
                f"of the mean on {_scale_name(measure)}."
            )
        if isinstance(self, LogNormalTau2) and measure == "HR" and not self.source:
            text += " (Turner et al. derived these presets for log odds ratios, not hazard ratios.)"
        source = self.source or self.citation
        return f"{text} Source: {source}" if source else text


@dataclass(frozen=True)
class HalfNormal(TauPrior):
    """Half-normal prior on tau with the given scale (Röver et al. 2021)."""

    scale: float = 0.5
    family: ClassVar[str] = "halfnormal"
    citation: ClassVar[str] = (
        "Friede T, Röver C, Wandel S, Neuenschwander B. Meta-analysis of few small studies in "
        "orphan diseases. Res Synth Methods 2017;8:79-91 (half-normal scale 0.5 or 1.0 for log "
        "ratios); Röver C, et al. Res Synth Methods 2021;12:448-474."
    )

    def __post_init__(self) -> None:
        _positive("scale", self.scale)

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        out = 0.5 * math.log(2 / math.pi) - math.log(self.scale) - 0.5 * (tau / self.scale) ** 2
        return np.where(tau >= 0, out, -np.inf)

    def params(self) -> dict[str, float]:
        return {"sigma": self.scale}

    def _frozen(self) -> Any:
        return stats.halfnorm(scale=self.scale)

    def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        return pm.HalfNormal(name, sigma=values["sigma"])

    def _pymc_folded(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        return pm.Normal(name, mu=0.0, sigma=values["sigma"])


@dataclass(frozen=True)
class HalfCauchy(TauPrior):
    """Half-Cauchy prior on tau (Gelman 2006; Polson & Scott 2012)."""

    scale: float = 0.5
    family: ClassVar[str] = "halfcauchy"
    citation: ClassVar[str] = (
        "Gelman A. Prior distributions for variance parameters in hierarchical models. "
        "Bayesian Anal 2006;1:515-534; Röver et al., Res Synth Methods 2021;12:448-474."
    )

    def __post_init__(self) -> None:
        _positive("scale", self.scale)

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        out = math.log(2 / (math.pi * self.scale)) - np.log1p((tau / self.scale) ** 2)
        return np.where(tau >= 0, out, -np.inf)

    def params(self) -> dict[str, float]:
        return {"beta": self.scale}

    def _frozen(self) -> Any:
        return stats.halfcauchy(scale=self.scale)

    def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        return pm.HalfCauchy(name, beta=values["beta"])

    def _pymc_folded(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        return pm.Cauchy(name, alpha=0.0, beta=values["beta"])


class _HalfT:
    """scipy-like frozen half-Student-t."""

    def __init__(self, nu: float, scale: float) -> None:
        self.t = stats.t(df=nu, scale=scale)

    def ppf(self, q: Any) -> Any:
        return self.t.ppf(0.5 + np.asarray(q) / 2)

    def rvs(self, size: int, random_state: np.random.Generator) -> Any:
        return np.abs(self.t.rvs(size=size, random_state=random_state))


@dataclass(frozen=True)
class HalfStudentT(TauPrior):
    """Half-Student-t prior on tau (Gelman 2006)."""

    nu: float = 3.0
    scale: float = 0.5
    family: ClassVar[str] = "halfstudentt"
    citation: ClassVar[str] = (
        "Gelman A. Bayesian Anal 2006;1:515-534 (half-t family for hierarchical scales)."
    )

    def __post_init__(self) -> None:
        _positive("nu", self.nu)
        _positive("scale", self.scale)

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        out = math.log(2) + stats.t.logpdf(tau, df=self.nu, scale=self.scale)
        return np.where(tau >= 0, out, -np.inf)

    def params(self) -> dict[str, float]:
        return {"nu": self.nu, "sigma": self.scale}

    def _frozen(self) -> Any:
        return _HalfT(self.nu, self.scale)

    def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        return pm.HalfStudentT(name, nu=values["nu"], sigma=values["sigma"])

    def _pymc_folded(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        return pm.StudentT(name, nu=values["nu"], mu=0.0, sigma=values["sigma"])


@dataclass(frozen=True)
class Exponential(TauPrior):
    """Exponential prior on tau with the given rate (a penalised-complexity prior; Simpson et al. 2017)."""

    rate: float = 2.0
    family: ClassVar[str] = "exponential"
    citation: ClassVar[str] = (
        "Simpson D, Rue H, Riebler A, Martins TG, Sørbye SH. Penalising model component "
        "complexity. Stat Sci 2017;32:1-28 (the exponential PC prior for a standard deviation)."
    )

    def __post_init__(self) -> None:
        _positive("rate", self.rate)

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        return np.where(tau >= 0, math.log(self.rate) - self.rate * tau, -np.inf)

    def params(self) -> dict[str, float]:
        return {"lam": self.rate}

    def _frozen(self) -> Any:
        return stats.expon(scale=1 / self.rate)

    def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        return pm.Exponential(name, lam=values["lam"])

    def _pymc_folded(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        return pm.Laplace(name, mu=0.0, b=1.0 / values["lam"])


@dataclass(frozen=True)
class Uniform(TauPrior):
    """Uniform prior on tau over (0, upper) (Gelman 2006; Spiegelhalter et al. 2004).

    ``Uniform(math.inf)`` is the improper flat prior on tau ≥ 0 (bayesmeta's "uniform"); the
    posterior is proper with at least 3 studies (flat mu) and it has no marginal likelihood.
    """

    upper: float = 2.0
    family: ClassVar[str] = "uniform"
    citation: ClassVar[str] = (
        "Gelman A. Bayesian Anal 2006;1:515-534; Spiegelhalter DJ, Abrams KR, Myles JP. "
        "Bayesian Approaches to Clinical Trials and Health-Care Evaluation. Wiley 2004, §5.7."
    )

    def __post_init__(self) -> None:
        if not float(self.upper) > 0:
            raise InputError(f"prior parameter upper must be positive; got {self.upper!r}")

    @property
    def proper(self) -> bool:  # type: ignore[override]
        return math.isfinite(self.upper)

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        density = 0.0 if math.isinf(self.upper) else -math.log(self.upper)
        return np.where((tau >= 0) & (tau <= self.upper), density, -np.inf)

    def params(self) -> dict[str, float]:
        return {"upper": self.upper}

    def _frozen(self) -> Any:
        return stats.uniform(0, self.upper)

    @property
    def name(self) -> str:
        return self.label or f"Uniform(0, {self.upper:g})"

    def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        if not self.proper:
            return pm.HalfFlat(name)
        return pm.Uniform(name, lower=0.0, upper=values["upper"])

    def _pymc_folded(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        if not self.proper:
            return pm.Flat(name)
        return pm.Uniform(name, lower=-values["upper"], upper=values["upper"])


@dataclass(frozen=True)
class LogNormalTau2(TauPrior):
    """Log-normal prior on tau², i.e. ln tau² ~ Normal(mean, sd) (Turner et al. 2015).

    Equivalently ln tau ~ Normal(mean/2, sd/2), which is how both engines implement it.
    Turner et al. derived their presets from Cochrane meta-analyses of *log odds ratios*.
    """

    mean: float = -2.56
    sd: float = 1.74
    family: ClassVar[str] = "lognormal_tau2"
    citation: ClassVar[str] = (
        "Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT. Predictive distributions "
        "for between-study heterogeneity and simple methods for their application in Bayesian "
        "meta-analysis. Stat Med 2015;34:984-998 (log-OR outcomes)."
    )

    def __post_init__(self) -> None:
        _positive("sd", self.sd)

    @classmethod
    def turner(
        cls, outcome: str = "any (marginal setting)", comparison: str = "any"
    ) -> LogNormalTau2:
        """A preset of Turner et al. (2015), Table IV, by outcome type and comparison.

        ``LogNormalTau2.turner("all-cause mortality", "pharmacological vs. placebo / control")``.
        The presets are for log odds ratios; :meth:`describe` says so when used for HRs.
        """
        from hiermeta.priors._turner2015 import TURNER2015

        key = (outcome, comparison)
        if key not in TURNER2015:
            outcomes = sorted({o for o, _ in TURNER2015})
            comparisons = sorted({c for o, c in TURNER2015 if o == outcome})
            if outcome not in outcomes:
                raise unknown_option("Turner outcome", outcome, outcomes)
            raise unknown_option(f"Turner comparison for {outcome!r}", comparison, comparisons)
        mean, sd = TURNER2015[key]
        return cls(
            mean,
            sd,
            label=f"Turner 2015 ({outcome}; {comparison}): LogNormal(tau²; {mean:g}, {sd:g}²)",
        )

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore"):
            out = stats.lognorm.logpdf(tau, s=self.sd / 2, scale=np.exp(self.mean / 2))
        return np.asarray(out, dtype=float)

    def params(self) -> dict[str, float]:
        return {"mu": self.mean / 2, "sigma": self.sd / 2}

    def _frozen(self) -> Any:
        return stats.lognorm(s=self.sd / 2, scale=np.exp(self.mean / 2))

    def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        return pm.LogNormal(name, mu=values["mu"], sigma=values["sigma"])

    @property
    def name(self) -> str:
        return self.label or f"LogNormal(tau²; {self.mean:g}, {self.sd:g}²)"


class _LogT:
    """tau with ln tau² ~ t_nu(location, scale): quantiles and draws for :class:`LogTTau2`."""

    def __init__(self, nu: float, location: float, scale: float) -> None:
        self.t = stats.t(nu, loc=location, scale=scale)

    def ppf(self, q: Any) -> Any:
        return np.exp(self.t.ppf(q) / 2)

    def rvs(self, size: int, random_state: np.random.Generator) -> Any:
        return np.exp(self.t.rvs(size=size, random_state=random_state) / 2)


@dataclass(frozen=True)
class LogTTau2(TauPrior):
    """Log-Student-t prior on tau²: ln tau² ~ t_nu(location, scale) (Rhodes et al. 2015).

    Rhodes, Turner and Higgins derived these predictive distributions (5 degrees of freedom)
    from Cochrane meta-analyses of *standardised mean differences*; :meth:`rhodes` gives
    their presets by outcome type and comparison.
    """

    location: float = -3.44
    scale: float = 2.59
    nu: float = 5.0
    family: ClassVar[str] = "logt_tau2"
    citation: ClassVar[str] = (
        "Rhodes KM, Turner RM, Higgins JPT. Predictive distributions were developed for the "
        "extent of heterogeneity in meta-analyses of continuous outcome data. J Clin Epidemiol "
        "2015;68:52-60 (SMD outcomes; table as in bayesmeta's RhodesEtAlPrior)."
    )

    def __post_init__(self) -> None:
        _positive("scale", self.scale)
        _positive("nu", self.nu)
        if not math.isfinite(float(self.location)):
            raise InputError(f"prior parameter location must be finite; got {self.location!r}")

    @classmethod
    def rhodes(
        cls,
        outcome: str = "any (general setting)",
        comparison: str = "any",
        area: str = "other",
    ) -> LogTTau2:
        """A preset of Rhodes et al. (2015) for SMDs, e.g.
        ``LogTTau2.rhodes("mental health outcome", "pharmacological vs. placebo / control")``;
        ``area`` is ``"other"``, ``"respiratory"`` or ``"cancer"``."""
        from hiermeta.priors._rhodes2015 import rhodes_parameters

        location, scale = rhodes_parameters(outcome, comparison, area)
        return cls(
            location,
            scale,
            label=f"Rhodes 2015 ({outcome}; {comparison}; {area}): log-t5(tau²; {location:g}, {scale:g})",
        )

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = 2 * np.log(tau)
            out = stats.t.logpdf(z, self.nu, loc=self.location, scale=self.scale) + np.log(2 / tau)
        return np.where(tau > 0, out, -np.inf)

    def params(self) -> dict[str, float]:
        return {"nu": self.nu, "location": self.location, "scale": self.scale}

    def _frozen(self) -> Any:
        return _LogT(self.nu, self.location, self.scale)

    def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        import pytensor.tensor as pt

        def dist(nu: Any, location: Any, scale: Any, size: Any) -> Any:
            return pt.exp(pm.StudentT.dist(nu=nu, mu=location, sigma=scale, size=size) / 2)

        return pm.CustomDist(
            name,
            values["nu"],
            values["location"],
            values["scale"],
            dist=dist,
            transform=pm.distributions.transforms.log,
        )

    @property
    def name(self) -> str:
        return self.label or f"log-t{self.nu:g}(tau²; {self.location:g}, {self.scale:g})"


@dataclass(frozen=True)
class InverseGamma(TauPrior):
    """Inverse-gamma prior on tau (shape, scale), e.g. the Cochrane empirical log-HR prior."""

    shape: float = 2.42
    scale: float = 0.30
    family: ClassVar[str] = "inversegamma"
    citation: ClassVar[str] = (
        "Bartoš F, Otte WM, Gronau QF, Timmers B, Ly A, Wagenmakers EJ. Empirical prior "
        "distributions for Bayesian meta-analyses of binary and time-to-event outcomes. "
        "Res Synth Methods 2023 (Cochrane time-to-event preset for log HR: tau ~ InvGamma(2.42, 0.30))."
    )

    def __post_init__(self) -> None:
        _positive("shape", self.shape)
        _positive("scale", self.scale)

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = stats.invgamma.logpdf(tau, a=self.shape, scale=self.scale)
        return np.where(tau > 0, out, -np.inf)

    def params(self) -> dict[str, float]:
        return {"alpha": self.shape, "beta": self.scale}

    def _frozen(self) -> Any:
        return stats.invgamma(a=self.shape, scale=self.scale)

    def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        return pm.InverseGamma(name, alpha=values["alpha"], beta=values["beta"])


@dataclass(frozen=True)
class Jeffreys(TauPrior):
    """Jeffreys' (improper) prior for tau in the normal–normal model (Bodnar et al. 2017).

    p(tau) ∝ sqrt(Σ_i (tau / (s_i² + tau²))²): it depends on the studies' standard errors, so
    it is available in the exact engine only, and needs at least two studies for a proper
    posterior. It has no prior statement on the ratio scale.
    """

    family: ClassVar[str] = "jeffreys"
    data_dependent: ClassVar[bool] = True
    proper: ClassVar[bool] = False
    pymc_ok: ClassVar[bool] = False
    citation: ClassVar[str] = (
        "Bodnar O, Link A, Arendacká B, Possolo A, Elster C. Bayesian estimation in "
        "random effects meta-analysis using a non-informative prior. Stat Med 2017;36:378-399; "
        "Röver C. J Stat Softw 2020;93(6)."
    )
    se: tuple[float, ...] = ()

    def with_se(self, se: np.ndarray) -> Jeffreys:
        """The prior for the given study standard errors."""
        return Jeffreys(se=tuple(float(s) for s in se))

    def for_data(self, se: np.ndarray) -> Jeffreys:
        if len(se) < 2:
            raise InputError("the Jeffreys prior needs at least 2 studies for a proper posterior")
        return self.with_se(se)

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        if not self.se:
            raise InputError("the Jeffreys prior needs the studies' standard errors (with_se)")
        tau = np.asarray(tau, dtype=float)
        s2 = np.asarray(self.se) ** 2
        terms = (tau[..., None] / (s2 + tau[..., None] ** 2)) ** 2
        with np.errstate(divide="ignore"):
            return 0.5 * np.log(terms.sum(axis=-1))

    def params(self) -> dict[str, float]:
        return {}

    def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
        raise InputError(
            "the Jeffreys prior is available in the exact engine only (engine='exact'); "
            "choose a proper tau prior for NUTS"
        )

    @property
    def name(self) -> str:
        return "Jeffreys"

    def describe(self, measure: str = "HR") -> str:
        return (
            f"Jeffreys prior on tau (improper, data-dependent; exact engine only). "
            f"Source: {self.citation}"
        )


# ================================================================== mu / coefficient priors
@dataclass(frozen=True)
class MuPrior(ABC):
    """A prior on the mean effect mu or a regression coefficient (analysis scale).

    What each engine needs from a family: :meth:`normal_moments` (the exact engine integrates
    conjugate priors analytically), :meth:`to_pymc` (NUTS) and :meth:`describe`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("family"):
            MU_FAMILIES[cls.family] = cls

    def __post_init__(self) -> None:
        return None

    #: Where this particular prior comes from (see :attr:`TauPrior.source`).
    source: str = field(default="", compare=False, kw_only=True, repr=False)
    family: ClassVar[str] = ""
    proper: ClassVar[bool] = True
    #: Conjugate in the exact engine (Normal, Flat).
    conjugate: ClassVar[bool] = True
    citation: ClassVar[str] = ""

    @abstractmethod
    def params(self) -> dict[str, float]:
        """Hyper-parameters by name."""

    def to_pymc(self, name: str, shape: Any = None, **tensors: Any) -> Any:
        """Create the PyMC random variable."""
        import pymc as pm

        return self._pymc(pm, name, {**self.params(), **tensors}, shape)

    @abstractmethod
    def _pymc(self, pm: Any, name: str, values: dict[str, Any], shape: Any) -> Any: ...

    @abstractmethod
    def describe(self, measure: str = "HR") -> str:
        """Plain-words meaning on the ratio scale."""

    @property
    def name(self) -> str:
        inner = ", ".join(f"{v:g}" for v in self.params().values())
        return f"{type(self).__name__}({inner})"

    def __repr__(self) -> str:
        return self.name

    def normal_moments(self) -> tuple[float, float]:
        """(mean, precision) of a conjugate prior, for the exact engine's analytic integration.

        A flat prior has precision 0. Non-conjugate families raise an :class:`InputError`.
        """
        raise InputError(
            f"the exact engine needs Normal or Flat priors on mu and coefficients; got "
            f"{self.name} (use engine='nuts' for it)"
        )


@dataclass(frozen=True)
class Normal(MuPrior):
    """Normal prior (conjugate: the exact engine integrates it analytically)."""

    mean: float = 0.0
    sd: float = 1.0
    family: ClassVar[str] = "normal"
    citation: ClassVar[str] = (
        "hiermeta's weakly informative default for a log ratio (95% of the prior mass on "
        "ratios 0.14-7.1); compare the empirical Cochrane log-HR prior t(0, 0.13, 2) of "
        "Bartoš et al. 2023 and the Normal(0, 4²) log-OR prior in Röver, J Stat Softw 2020;93(6)."
    )

    def __post_init__(self) -> None:
        _positive("sd", self.sd)
        check_number("prior mean", self.mean)
        if self.sd > MAX_PRIOR_SD:
            raise InputError(
                f"prior sd {self.sd:g} is too large to compute with (beyond {MAX_PRIOR_SD:g}, its "
                "square overflows); for a flat prior use Flat()"
            )

    def params(self) -> dict[str, float]:
        return {"mu": self.mean, "sigma": self.sd}

    def _pymc(self, pm: Any, name: str, values: dict[str, Any], shape: Any) -> Any:
        return pm.Normal(name, mu=values["mu"], sigma=values["sigma"], shape=shape)

    def normal_moments(self) -> tuple[float, float]:
        return self.mean, 1 / self.sd**2

    def describe(self, measure: str = "HR") -> str:
        lo, hi = self.mean - Z95 * self.sd, self.mean + Z95 * self.sd
        text = (
            f"Normal({self.mean:g}, {self.sd:g}) on {_scale_name(measure)}: 95% prior "
            f"probability that {_mean_span(measure, lo, hi)}."
        )
        return f"{text} Source: {self.source}" if self.source else text


@dataclass(frozen=True)
class StudentT(MuPrior):
    """Student-t prior (location ``mean``, scale ``sd``, ``nu`` degrees of freedom).

    Not conjugate: available in the NUTS engine. ``StudentT.cochrane_log_hr()`` is the empirical
    Cochrane prior for a mean log HR, t(0, 0.13, df 2) (Bartoš et al. 2023).
    """

    @classmethod
    def cochrane_log_hr(cls) -> StudentT:
        """Bartoš et al. (2023) Cochrane time-to-event preset: t(location 0, scale 0.13, df 2)."""
        return cls(nu=2.0, mean=0.0, sd=0.13)

    nu: float = 3.0
    mean: float = 0.0
    sd: float = 1.0
    family: ClassVar[str] = "studentt"
    conjugate: ClassVar[bool] = False
    citation: ClassVar[str] = (
        "Bartoš F, et al. Res Synth Methods 2023 (Cochrane time-to-event preset for log HR: t(0, 0.13, df 2))."
    )

    def __post_init__(self) -> None:
        _positive("nu", self.nu)
        _positive("sd", self.sd)

    def params(self) -> dict[str, float]:
        return {"nu": self.nu, "mu": self.mean, "sigma": self.sd}

    def _pymc(self, pm: Any, name: str, values: dict[str, Any], shape: Any) -> Any:
        return pm.StudentT(
            name, nu=values["nu"], mu=values["mu"], sigma=values["sigma"], shape=shape
        )

    def describe(self, measure: str = "HR") -> str:
        q = float(stats.t.ppf(0.975, self.nu))
        lo, hi = self.mean - q * self.sd, self.mean + q * self.sd
        text = (
            f"Student-t(nu={self.nu:g}, {self.mean:g}, {self.sd:g}) on {_scale_name(measure)}: "
            f"95% prior probability that {_mean_span(measure, lo, hi)}."
        )
        return f"{text} Source: {self.source}" if self.source else text


@dataclass(frozen=True)
class Flat(MuPrior):
    """Improper uniform prior on the whole real line.

    Allowed for mu and coefficients in both engines (it needs at least one study per
    coefficient); the marginal likelihood and Bayes factors are then undefined.
    """

    family: ClassVar[str] = "flat"
    proper: ClassVar[bool] = False
    citation: ClassVar[str] = "Improper uniform prior (Röver 2020, §2.2)."

    def params(self) -> dict[str, float]:
        return {}

    def _pymc(self, pm: Any, name: str, values: dict[str, Any], shape: Any) -> Any:
        return pm.Flat(name, shape=shape)

    def describe(self, measure: str = "HR") -> str:
        return (
            f"Flat (improper uniform) prior on {_scale_name(measure)}: no prior information "
            "on the mean."
        )

    def normal_moments(self) -> tuple[float, float]:
        return 0.0, 0.0

    @property
    def name(self) -> str:
        return "Flat()"


#: Default prior on the mean log HR.
DEFAULT_MU = Normal(0.0, 1.0)
#: Default prior on tau for log HR.
DEFAULT_TAU = HalfNormal(0.5)


def catalogue(scale: str = "logHR") -> dict[str, TauPrior]:
    """A named set of tau priors for sensitivity analyses on the given scale.

    Parameters
    ----------
    scale
        ``"logHR"`` (also used for other log-ratio measures).

    Returns
    -------
    dict
        Display name → prior; the first entry is the default.
    """
    if scale not in ("logHR", "logOR", "logRR"):
        raise unknown_option("catalogue scale", scale, ["logHR", "logOR", "logRR"])
    return {
        "HalfNormal(0.5) [default]": HalfNormal(0.5),
        "HalfNormal(1.0)": HalfNormal(1.0),
        "HalfCauchy(0.5)": HalfCauchy(0.5),
        "HalfStudentT(3, 0.5)": HalfStudentT(3.0, 0.5),
        "Exponential(2)": Exponential(2.0),
        "Uniform(0, 2)": Uniform(2.0),
        "InvGamma(2.42, 0.30) [Cochrane log-HR]": InverseGamma(2.42, 0.30),
        "LogNormal(tau²; -2.56, 1.74²) [Turner, log-OR]": LogNormalTau2(-2.56, 1.74),
        "Jeffreys [exact only]": Jeffreys(),
    }


def from_spec(spec: dict[str, Any] | str, kind: str = "tau") -> TauPrior | MuPrior:
    """Build a prior from a spec such as ``{"family": "halfnormal", "scale": 0.5}``.

    A string ``"halfnormal(0.5)"`` is accepted too. Unknown families or parameters raise an
    error listing the valid ones.
    """
    families: dict[str, Any] = TAU_FAMILIES if kind == "tau" else MU_FAMILIES
    if isinstance(spec, str):
        text = spec.strip().replace(" ", "")
        family, _, rest = text.partition("(")
        try:
            args = [float(a) for a in rest.rstrip(")").split(",") if a]
        except ValueError:
            raise InputError(
                f"{kind} prior {spec!r}: parameters must be numbers, e.g. 'halfnormal(0.5)'"
            ) from None
        key = family.lower()
        if key not in families:
            raise unknown_option(f"{kind} prior family", family, list(families))
        try:
            return families[key](*args)
        except TypeError:
            raise InputError(f"{kind} prior {spec!r}: wrong number of parameters") from None
    if not isinstance(spec, Mapping):
        raise InputError(
            f'{kind} prior {spec!r}: give a table such as {{ family = "halfnormal", scale = 0.5 }} '
            "or text such as 'halfnormal(0.5)'"
        )
    spec = dict(spec)
    family = str(spec.pop("family", "")).lower()
    if family not in families:
        raise unknown_option(f"{kind} prior family", family, list(families))
    cls = families[family]
    valid = [f.name for f in fields(cls) if f.name not in ("label", "se", "source")]
    for key in spec:
        if key not in valid:
            raise unknown_option(f"parameter of {family}", key, valid)
    return cls(**spec)


def _halfnormal_scale_for(upper: float, prob: float = 0.95) -> float:
    """Scale of the half-normal with P(tau < upper) = prob (used in docs)."""
    return upper / float(special.ndtri(0.5 + prob / 2))
