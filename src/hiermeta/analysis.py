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

from hiermeta.bayesian import bayesian
from hiermeta.data.effects import EffectData
from hiermeta.diagnostics.sensitivity import sensitivity
from hiermeta.errors import HiermetaWarning, SpecError
from hiermeta.frequentist import FrequentistResult, SubgroupResult, frequentist, subgroups
from hiermeta.posterior import BayesianResult
from hiermeta.priors import catalogue
from hiermeta.spec import Spec, load_spec

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
    def failed_diagnostics(self) -> list[str]:
        """Failed NUTS checks and exact-vs-NUTS disagreements, in words."""
        out = []
        for engine, fit in self.bayes.items():
            attempts = getattr(fit, "attempts", None)
            if attempts and attempts[-1].failed:
                out += [f"{engine}: {f}" for f in attempts[-1].failed]
        if self.agreement is not None:
            bad = self.agreement[~self.agreement["agrees"]]
            out += [
                f"NUTS disagrees with the exact engine on {q} (z = {row.z:.1f})"
                for q, row in bad.iterrows()
            ]
        return out


def run_spec(path: str | Path, progressbar: bool | None = None) -> Analysis:
    """Load a TOML spec and run it (see :mod:`hiermeta.spec` for the format)."""
    return run(load_spec(path), progressbar=progressbar)


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
    levels = model.get("levels") or None
    coding = model.get("coding") or None
    missing = [m for m in moderators if m not in data.covariates.columns]
    if missing:
        raise SpecError(
            f"{spec.path.name}: [model] moderator {missing[0]!r} is not a covariate of the data; "
            f"covariates are {list(data.covariates.columns)}"
        )
    freq: dict[str, FrequentistResult] = {}
    for method in spec.engines["frequentist"]:
        for ci in spec.engines["ci"]:
            label = f"{method} ({'Knapp–Hartung' if ci == 'knapp-hartung' else 'Wald'})"
            freq[label] = frequentist(
                data,
                method=method,
                ci=ci,
                moderators=moderators or None,
                levels=levels,
                coding=coding,
            )
    group = None
    categorical = [t for t in freq[next(iter(freq))].design.terms if t.levels] if freq else []
    if len(moderators) == 1 and categorical:
        group = subgroups(
            data, by=moderators[0], method="REML", levels=(levels or {}).get(moderators[0])
        )
    nuts_opts = dict(spec.nuts)
    seed = nuts_opts.pop("random_seed", 2024)
    extra = {
        "random_effects": model.get("random_effects", "normal"),
        "subgroup_tau": model.get("subgroup_tau") or None,
        "multilevel": bool(model.get("multilevel", False)),
    }
    bayes: dict[str, BayesianResult] = {}
    for engine in spec.engines["bayesian"]:
        kwargs: dict[str, Any] = {}
        if engine == "nuts":
            kwargs = {**nuts_opts, **extra, "progressbar": progressbar}
        elif extra["subgroup_tau"] or extra["multilevel"] or extra["random_effects"] != "normal":
            raise SpecError(
                f"{spec.path.name}: subgroup_tau, multilevel and Student-t random effects need engine 'nuts' "
                "(the exact engine fits the normal–normal model)"
            )
        bayes[engine] = bayesian(
            data,
            mu_prior=spec.mu_prior(),
            tau_prior=spec.tau_prior(),
            engine=engine,
            moderators=moderators or None,
            beta_prior=spec.beta_prior(),
            levels=levels,
            coding=coding,
            random_seed=seed,
            **kwargs,
        )
    agreement_table = None
    if "exact" in bayes and "nuts" in bayes and not (extra["subgroup_tau"] or extra["multilevel"]):
        from hiermeta.diagnostics import agreement

        agreement_table = agreement(bayes["nuts"], bayes["exact"])
    sens = None
    if spec.sensitivity is not None:
        sens = sensitivity(
            data,
            catalogue(spec.sensitivity.get("catalogue", "logHR")),
            mu_prior=spec.mu_prior(),
            engine=spec.sensitivity.get("engine", "exact"),
            thresholds=tuple(spec.report.get("thresholds", (1.0, 0.8))),
        )
    truth = None
    if spec.simulation is not None:
        frame = spec.raw_table()
        truth = frame.groupby("n_organs", sort=False)["true_hr"].first().to_frame()
    return Analysis(
        spec=spec,
        data=data,
        frequentist=freq,
        bayes=bayes,
        subgroups=group,
        sensitivity=sens,
        agreement=agreement_table,
        truth=truth,
    )
