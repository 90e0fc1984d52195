"""Run an analysis spec end to end: data → frequentist and Bayesian fits → checks.

``run_spec(path)`` returns an :class:`Analysis` holding every fit; the report layer turns it
into files. Nothing here writes to disk.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hiermeta.analyses.influence import baujat, cumulative, gosh, influence, leave_one_out
from hiermeta.analyses.nested import DEFAULT_CONCENTRATION, NestedResult, nested_subgroups
from hiermeta.analyses.sensitivity import sensitivity
from hiermeta.analyses.small_study import SmallStudyEffects, small_study_effects
from hiermeta.analyses.subgroup_test import SubgroupTest, subgroup_test
from hiermeta.data.effects import EffectData
from hiermeta.engines.api import bayesian
from hiermeta.engines.frequentist import FrequentistResult, SubgroupResult, frequentist, subgroups
from hiermeta.engines.registry import BAYESIAN_ENGINES, get_engine
from hiermeta.errors import HiermetaWarning, InputError, SpecError
from hiermeta.pipeline.spec import Spec, load_spec
from hiermeta.priors import catalogue
from hiermeta.priors.defaults import catalogue_for
from hiermeta.results.contract import MetaResult
from hiermeta.results.posterior import BayesianResult

__all__ = ["Analysis", "run", "run_spec"]


@dataclass
class Analysis:
    """Everything an analysis produced (see :func:`run_spec`)."""

    spec: Spec
    data: EffectData
    frequentist: dict[str, FrequentistResult]
    bayes: dict[str, BayesianResult]
    subgroups: SubgroupResult | None = None
    sensitivity: pd.DataFrame | None = None
    agreement: pd.DataFrame | None = None
    truth: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    #: Tests for subgroup differences, one per categorical moderator.
    subgroup_tests: list[SubgroupTest] = field(default_factory=list)
    #: The primary engine's fit without moderators (the overall diamond of subgrouped plots).
    overall: BayesianResult | None = None
    #: Influence and cumulative analyses by name (tables; ``"gosh"`` is a :class:`Gosh`).
    robustness: dict[str, Any] = field(default_factory=dict)
    #: The nested organ-count subgroup model (``[nested]``), if the spec asks for it.
    nested: NestedResult | None = None
    #: Small-study effects and publication bias (``[small_study]``), if the spec asks for it.
    small_study: SmallStudyEffects | None = None

    @property
    def exact_fit(self) -> BayesianResult | None:
        """The Bayesian fit without Monte-Carlo error (for refitting subsets), if any."""
        return next((f for f in self.bayes.values() if not f.monte_carlo), None)

    @property
    def primary(self) -> BayesianResult:
        """The Bayesian fit the report's statements use (the first engine of the spec)."""
        return self.bayes[self.spec.engines["bayesian"][0]]

    @property
    def moderators(self) -> list[str]:
        """The spec's moderators."""
        return list(self.spec.model.get("moderators", []))

    @property
    def subgroup_by(self) -> str | None:
        """Categorical moderator used to group the forest plot, if any."""
        by = self.spec.report.get("subgroup")
        if by:
            return str(by)
        for term in self.primary.design.terms:
            if term.levels:
                return term.name
        return None

    @property
    def comparator(self) -> FrequentistResult | None:
        """The frequentist fit drawn beside the Bayesian one (REML when run, else the first)."""
        fits = list(self.frequentist.values())
        return next((f for f in fits if f.method == "REML"), fits[0] if fits else None)

    @property
    def comparator_label(self) -> str:
        """The comparator in words, for captions."""
        return (
            f"the frequentist {self.comparator.label} estimate"
            if self.comparator
            else "no frequentist fit"
        )

    @property
    def fits(self) -> list[MetaResult]:
        """Every fit, frequentist first (the order of comparison tables)."""
        return [*self.frequentist.values(), *self.bayes.values()]

    @property
    def failed_diagnostics(self) -> list[str]:
        """Failed sampler checks and disagreements with the exact engine, in words."""
        out = []
        for engine, fit in self.bayes.items():
            out += [f"{engine}: {f}" for f in fit.failed_diagnostics()]
        if self.nested is not None:
            out += [
                f"nested model ({self.nested.engine}): {f}" for f in self.nested.failed_checks()
            ]
        selection = self.small_study.bayesian_selection if self.small_study else None
        if selection is not None:
            out += [f"Bayesian selection model (nuts): {f}" for f in selection.failed()]
        if self.agreement is not None:
            bad = self.agreement[~self.agreement["agrees"]]
            out += [
                f"NUTS disagrees with the exact engine on {q} (z = {row.z:.1f})"
                for q, row in bad.iterrows()
            ]
        return out


def run_spec(spec: Spec | str | Path, progressbar: bool | None = None) -> Analysis:
    """Run a spec: a :class:`Spec` or the path of a TOML file (see docs/spec.md)."""
    return run(spec if isinstance(spec, Spec) else load_spec(spec), progressbar=progressbar)


def run(spec: Spec, progressbar: bool | None = None) -> Analysis:
    """Run a validated spec."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", HiermetaWarning)
        analysis = _run(spec, progressbar)
    ours = [r for r in records if issubclass(r.category, HiermetaWarning)]
    analysis.warnings = list(dict.fromkeys(f"{r.category.__name__}: {r.message}" for r in ours))
    for record in ours:  # never hide a warning: the report lists them and the caller sees them
        warnings.warn(record.message, record.category, stacklevel=2)
    for record in records:
        if not issubclass(record.category, HiermetaWarning):
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
    return analysis


def _run(spec: Spec, progressbar: bool | None) -> Analysis:
    data = spec.effects()
    model = spec.model
    moderators = list(model.get("moderators", []))
    missing = [m for m in moderators if m not in data.covariates.columns]
    if missing:
        raise SpecError(
            f"{spec.path.name}: [model] moderator {missing[0]!r} is not a covariate of the data; "
            f"covariates are {list(data.covariates.columns)}"
        )
    terms = {
        "moderators": moderators or None,
        "levels": model.get("levels") or None,
        "coding": model.get("coding") or None,
    }
    freq = _frequentist_fits(spec, data, terms)
    group = None
    categorical = [t for t in freq[next(iter(freq))].design.terms if t.levels] if freq else []
    if len(moderators) == 1 and categorical:
        levels: dict[str, Any] = model.get("levels") or {}
        group = subgroups(data, by=moderators[0], method="REML", levels=levels.get(moderators[0]))
    bayes = _bayesian_fits(spec, data, terms, progressbar)
    sens = None
    if spec.sensitivity is not None:
        sens = sensitivity(
            data,
            catalogue(spec.sensitivity["catalogue"])
            if "catalogue" in spec.sensitivity
            else catalogue_for(data),
            mu_prior=spec.mu_prior(data),
            engine=spec.sensitivity.get("engine", "exact"),
            thresholds=tuple(spec.report.get("thresholds", data.measure_info.default_thresholds)),
        )
    analysis = Analysis(
        spec=spec,
        data=data,
        frequentist=freq,
        bayes=bayes,
        subgroups=group,
        sensitivity=sens,
        agreement=_agreement(bayes, spec),
        truth=spec.truth(),
        subgroup_tests=_subgroup_tests(spec, data, categorical),
        overall=_overall(spec, data) if moderators else None,
    )
    analysis.robustness = _robustness(spec, analysis, progressbar)
    if spec.nested is not None:
        analysis.nested = _nested(spec, data)
    if spec.small_study is not None:
        analysis.small_study = _small_study(spec, analysis)
    return analysis


def _small_study(spec: Spec, analysis: Analysis) -> SmallStudyEffects:
    """The ``[small_study]`` analyses on the pooled effect (a model without moderators): the
    comparator's tau² estimator and interval; the spec's priors for the Bayesian parts when they
    allow Bayes factors (Normal on mu, proper on tau), else the measure's defaults."""
    from hiermeta.priors import Normal

    settings = spec.small_study or {}
    data = analysis.data
    comparator = analysis.comparator
    method = comparator.method if comparator is not None else "REML"
    ci = comparator.ci if comparator is not None else "wald"
    fit = frequentist(data, method=method, ci=ci, ci_level=spec.ci_level)
    favoured = settings.get("favoured", "auto")
    if favoured == "auto":
        benefit = spec.report.get("benefit")
        if benefit in ("lower", "higher"):  # selection favours significant benefit
            favoured = benefit
    mu, tau = spec.mu_prior(data), spec.tau_prior(data)
    priors = {
        "mu_prior": mu if isinstance(mu, Normal) else None,
        "tau_prior": tau if tau.proper else None,
    }
    nuts = {
        k: v
        for k, v in spec.nuts.items()
        if k in ("draws", "tune", "chains", "target_accept", "random_seed")
    }
    try:
        return small_study_effects(
            fit,
            predictor=settings.get("predictor", "sei"),
            trimfill_estimator=None
            if settings.get("trimfill") == "none"
            else settings.get("trimfill", "L0"),
            selection_type=None
            if settings.get("selection") == "none"
            else settings.get("selection", "stepfun"),
            selection_steps=settings.get("steps", (0.025,)),
            averaging=bool(settings.get("averaging", True)),
            bayesian_selection=bool(settings.get("bayesian_selection", False)),
            favoured=favoured,
            nuts=nuts,
            **priors,
        )
    except InputError as err:
        raise SpecError(f"{spec.path.name}: [small_study] {err}") from None


def _nested(spec: Spec, data: EffectData) -> NestedResult:
    """The ``[nested]`` model with the spec's priors and NUTS settings."""
    settings = spec.nested or {}
    nested = spec.nested_data()
    nuts = {k: v for k, v in spec.nuts.items() if k in ("draws", "tune", "chains", "target_accept")}
    engine = str(settings.get("engine", "nuts" if not nested.known.all() else "exact"))
    try:
        return nested_subgroups(
            nested,
            engine=engine,
            trend=bool(settings.get("trend", False)),
            mu_prior=spec.mu_prior(data),
            tau_prior=spec.tau_prior(data),
            concentration=float(settings.get("concentration", DEFAULT_CONCENTRATION)),
            compositions=str(settings.get("compositions", "marginal")),
            random_seed=spec.nuts.get("random_seed", 0),
            **nuts,
        )
    except InputError as err:
        raise SpecError(f"{spec.path.name}: [nested] {err}") from None


def _robustness(spec: Spec, analysis: Analysis, progressbar: bool | None) -> dict[str, Any]:
    """Leave-one-out, influence diagnostics, Baujat, GOSH and cumulative meta-analysis, as the
    spec's [influence] and [cumulative] tables ask (frequentist: the comparator fit; Bayesian:
    the fit without Monte-Carlo error)."""
    out: dict[str, Any] = {}
    freq, exact = analysis.comparator, analysis.exact_fit
    plain = not analysis.moderators
    thresholds = tuple(spec.report.get("thresholds", analysis.data.measure_info.default_thresholds))
    settings = spec.influence
    if settings is not None:
        if settings.get("leave_one_out", True) and plain:
            if freq is not None:
                out["leave_one_out_frequentist"] = leave_one_out(freq)
            if exact is not None:
                out["leave_one_out_bayesian"] = leave_one_out(exact, thresholds)
        if settings.get("diagnostics", True) and freq is not None:
            out["influence"] = influence(freq)
            out["baujat"] = baujat(freq)
        if settings.get("gosh", False) and freq is not None and plain:
            subsets = int(settings.get("gosh_subsets", 20_000))
            out["gosh"] = gosh(freq, max_subsets=subsets, progress=progressbar)
    if spec.cumulative is not None and plain:
        order = spec.cumulative.get("order", "year")
        if freq is not None:
            out["cumulative_frequentist"] = cumulative(freq, order)
        if exact is not None:
            out["cumulative_bayesian"] = cumulative(exact, order, thresholds)
    return out


def _subgroup_tests(spec: Spec, data: EffectData, terms: list[Any]) -> list[SubgroupTest]:
    """Frequentist and Bayesian (exact) tests for subgroup differences, when the model is
    one categorical moderator and the priors are conjugate (the exact engine's domain)."""
    model = spec.model
    if len(spec.model.get("moderators", [])) != 1 or not terms or spec.structure():
        return []
    if not (spec.mu_prior(data).conjugate and spec.beta_prior(data).conjugate):
        return []
    term = terms[0]
    levels = (model.get("levels") or {}).get(term.name)
    test = subgroup_test(
        data,
        term.name,
        mu_prior=spec.mu_prior(data),
        tau_prior=spec.tau_prior(data),
        beta_prior=spec.beta_prior(data),
        levels=levels,
    )
    return [test]


def _overall(spec: Spec, data: EffectData) -> BayesianResult | None:
    """The exact fit without moderators, for the overall diamond (None outside its domain)."""
    if spec.structure() or not spec.mu_prior(data).conjugate:
        return None
    fit = bayesian(
        data, mu_prior=spec.mu_prior(data), tau_prior=spec.tau_prior(data), engine="exact"
    )
    fit.ci_level = spec.ci_level
    return fit


def _frequentist_fits(
    spec: Spec, data: EffectData, terms: dict[str, Any]
) -> dict[str, FrequentistResult]:
    """One fit per tau² method × interval method, each reporting the spec's PI kind."""
    fits: dict[str, FrequentistResult] = {}
    for method in spec.engines["frequentist"]:
        for ci in spec.engines["ci"]:
            # the spec's [report] pi_kind, else metafor's default for the interval method
            fit = frequentist(
                data,
                method=method,
                ci=ci,
                pi_kind=spec.report.get("pi_kind"),
                ci_level=spec.ci_level,
                **terms,
            )
            fits[fit.label] = fit
    return fits


def _bayesian_fits(
    spec: Spec, data: EffectData, terms: dict[str, Any], progressbar: bool | None
) -> dict[str, BayesianResult]:
    """One fit per Bayesian engine of the spec; sampler settings go to the engines taking them."""
    options = dict(spec.nuts)
    seed = options.pop("random_seed", 2024)
    structure = spec.structure()
    fits: dict[str, BayesianResult] = {}
    for name in spec.engines["bayesian"]:
        engine = get_engine(name, "bayesian")
        unsupported = [k for k in structure if k not in engine.structures]
        if unsupported:
            able = [
                e.name for e in BAYESIAN_ENGINES.values() if set(structure) <= set(e.structures)
            ]
            raise SpecError(
                f"{spec.path.name}: {', '.join(unsupported)} need engine {' or '.join(map(repr, able))} "
                f"(the {name} engine fits the normal–normal model)"
            )
        kwargs: dict[str, Any] = {**structure}
        if "progressbar" in engine.options:
            kwargs.update(options, progressbar=progressbar)
        fits[name] = bayesian(
            data,
            mu_prior=spec.mu_prior(data),
            tau_prior=spec.tau_prior(data),
            engine=name,
            beta_prior=spec.beta_prior(data),
            random_seed=seed,
            **terms,
            **kwargs,
        )
        fits[name].ci_level = spec.ci_level  # every interval of the report at the spec's level
    return fits


def _agreement(bayes: dict[str, BayesianResult], spec: Spec) -> pd.DataFrame | None:
    """Sampled fits checked against an exact one of the same model (when both were run)."""
    exact = [f for f in bayes.values() if not f.monte_carlo]
    sampled = [f for f in bayes.values() if f.monte_carlo]
    if not exact or not sampled or spec.structure():
        return None
    from hiermeta.analyses import agreement

    return agreement(sampled[0], exact[0])
