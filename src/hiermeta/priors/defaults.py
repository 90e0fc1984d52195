"""The priors a fit uses when the user gives none: one set per measure family.

A prior is only "weakly informative" on a stated scale: Normal(0, 1) is vague for a log hazard
ratio and absurdly tight for a mean difference in test points. So the defaults are looked up
from the data's measure (:data:`hiermeta.data.measures.MEASURES` names each measure's
family), every default says where it comes from (:attr:`MuPrior.source` /
:attr:`TauPrior.source`, printed in the methods), and a measure without a universal scale (a
raw mean difference whose outcome SD is unknown, a raw proportion or correlation, a generic
effect) stops with an error saying which priors to give — never a log-HR prior in silence.

=================  ==============================  ===========================================
family             mu (and coefficients)           tau
=================  ==============================  ===========================================
log ratio          Normal(0, 1)                    HalfNormal(0.5)  (Friede et al. 2017)
SMD                Normal(0, 1)                    InvGamma(1, 0.15)  (Bartoš et al. 2023)
MD                 Normal(0, S)                    InvGamma(1, 0.15·S); S = the outcome's SD
correlation (z)    Normal(0, 0.5)                  InvGamma(1, 0.075)  (SMD priors, z ≈ d/2)
proportion (logit) Normal(0, 2)  (RBesT)           HalfNormal(1)  (RBesT, Weber et al. 2021)
risk difference    Normal(0, 0.5)                  HalfNormal(0.099)  (Bartoš et al. 2023)
=================  ==============================  ===========================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from hiermeta.data.effects import EffectData
from hiermeta.data.measures import get_measure
from hiermeta.errors import InputError
from hiermeta.priors.families import (
    DEFAULT_MU,
    DEFAULT_TAU,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    InverseGamma,
    LogTTau2,
    MuPrior,
    Normal,
    TauPrior,
    catalogue,
)

__all__ = [
    "DefaultPriors",
    "catalogue_for",
    "default_beta",
    "default_mu",
    "default_priors",
    "default_tau",
]

#: Bartoš, Maier, Wagenmakers, Doucouliagos & Stanley (2023): RoBMA's default priors for a
#: standardised mean difference (Cohen's d), set from the 705 meta-analyses of van Erp et al.
ROBMA = (
    "Bartoš F, Maier M, Wagenmakers E-J, Doucouliagos H, Stanley TD. Res Synth Methods "
    "2023;14:99-116 (RoBMA's default priors for Cohen's d, set from the 705 meta-analyses of "
    "van Erp et al., J Open Psychol Data 2017;5:4)"
)
RBEST = (
    "Weber S, Li Y, Seaman JW, Kakizume T, Schmidli H. J Stat Softw 2021;100(19) (RBesT: "
    "prior sd 2 for a logit intercept; 'for binary endpoints a conservative choice for tau is "
    "a HalfNormal(0,1) as long as the mean response rate is in the range of 0.2 to 0.8')"
)
BARTOS_SMD = (
    "Bartoš F, Gronau QF, Timmers B, Otte WM, Ly A, Wagenmakers E-J. Bayesian model-averaged "
    "meta-analysis in medicine. Stat Med 2021;40:6743-6761 (empirical Cochrane prior for "
    "SMDs: tau ~ InvGamma(1.71, 0.40))"
)
BARTOS_BINARY = (
    "Bartoš F, Otte WM, Gronau QF, Timmers B, Ly A, Wagenmakers E-J. Empirical prior "
    "distributions for Bayesian meta-analyses of binary and time-to-event outcomes "
    "(arXiv:2306.11468, 2023): Cochrane-wide RD heterogeneity prior HalfNormal(0.099)"
)


class DefaultPriors(NamedTuple):
    """The default priors for one dataset: on mu (and every coefficient) and on tau."""

    mu: MuPrior
    tau: TauPrior


def _log_ratio(data: EffectData) -> DefaultPriors:
    return DefaultPriors(DEFAULT_MU, DEFAULT_TAU)


def _smd(data: EffectData) -> DefaultPriors:
    return DefaultPriors(
        Normal(0.0, 1.0, source=ROBMA),
        InverseGamma(1.0, 0.15, source=ROBMA),
    )


def _correlation(data: EffectData) -> DefaultPriors:
    source = (
        f"{ROBMA}, rescaled to Fisher z with z ≈ d/2 as RoBMA does (so mu ~ Normal(0, 0.5), "
        "tau ~ InvGamma(1, 0.075))"
    )
    return DefaultPriors(Normal(0.0, 0.5, source=source), InverseGamma(1.0, 0.075, source=source))


def _mean_difference(data: EffectData) -> DefaultPriors:
    sd = data.outcome_sd
    if sd is None:
        raise InputError(
            "a mean difference has no universal scale, so hiermeta has no default prior for "
            "it. Give priors in the outcome's units, e.g. mu_prior='normal(0, S)' and "
            "tau_prior='halfnormal(S/2)' with S a plausible standard deviation of the outcome "
            "(written as a number), or convert the data with hm.from_means so that hiermeta "
            "knows the outcome's SD and scales its SMD defaults by it"
        )
    source = (
        f"the SMD defaults (mu ~ Normal(0, 1), tau ~ InvGamma(1, 0.15); {ROBMA}) scaled by the "
        f"outcome's standard deviation S = {sd:.4g} (given with the data, or the median of the "
        "studies' pooled SDs when converted from means and SDs), i.e. MD = S × SMD"
    )
    return DefaultPriors(
        Normal(0.0, sd, source=source), InverseGamma(1.0, 0.15 * sd, source=source)
    )


def _proportion(data: EffectData) -> DefaultPriors:
    return DefaultPriors(Normal(0.0, 2.0, source=RBEST), HalfNormal(1.0, source=RBEST))


def _risk_difference(data: EffectData) -> DefaultPriors:
    mu_source = (
        "hiermeta's weakly informative choice (a conjugate prior for the exact engine): mean "
        "RD within ±0.98 with 95% prior probability"
    )
    return DefaultPriors(
        Normal(0.0, 0.5, source=mu_source), HalfNormal(0.099, source=BARTOS_BINARY)
    )


def _no_default(data: EffectData) -> DefaultPriors:
    better = {"PR": " (or analyse logit proportions, measure 'PLO')", "COR": " (or 'ZCOR')"}
    raise InputError(
        f"hiermeta has no default prior for the measure {data.measure!r} "
        f"({get_measure(data.measure).title}): its scale is not universal. Give mu_prior and "
        "tau_prior on the measure's own scale, e.g. mu_prior='normal(0, 1)', "
        f"tau_prior='halfnormal(0.5)' with numbers that fit your outcome"
        f"{better.get(data.measure, '')}"
    )


#: Default priors by measure family (the families are named in ``data/measures.py``).
DEFAULTS: dict[str, Callable[[EffectData], DefaultPriors]] = {
    "log ratio": _log_ratio,
    "SMD": _smd,
    "MD": _mean_difference,
    "correlation": _correlation,
    "proportion": _proportion,
    "risk difference": _risk_difference,
    "generic": _no_default,
}


def default_priors(data: EffectData) -> DefaultPriors:
    """The default priors for ``data``'s measure (an :class:`InputError` when it has none)."""
    return DEFAULTS[get_measure(data.measure).family](data)


def default_mu(data: EffectData) -> MuPrior:
    """Default prior on mu and on each coefficient for ``data``'s measure."""
    return default_priors(data).mu


def default_tau(data: EffectData) -> TauPrior:
    """Default prior on tau for ``data``'s measure."""
    return default_priors(data).tau


def default_beta(data: EffectData, mu_prior: MuPrior) -> MuPrior:
    """Default prior on the coefficients other than the intercept: the measure's default on
    mu, or — for a measure without defaults — the given prior on mu (it is on the same scale)."""
    try:
        return default_mu(data)
    except InputError:
        return mu_prior


def catalogue_for(data: EffectData) -> dict[str, TauPrior]:
    """A named set of tau priors fitting ``data``'s measure, its default first.

    Log ratios get :func:`hiermeta.priors.catalogue`; SMDs the RoBMA default, the Rhodes et
    al. (2015) presets and half-normal/half-Cauchy choices; other families their default and
    alternatives on the same scale.
    """
    family = get_measure(data.measure).family
    if family == "log ratio":
        return catalogue("logHR")
    default = default_tau(data)
    unit = data.outcome_sd if family == "MD" and data.outcome_sd else 1.0
    half = {"correlation": 0.5}.get(family, 1.0) * unit
    entries: dict[str, TauPrior] = {f"{default.name} [default]": default}
    if family in ("SMD", "MD", "correlation"):
        entries[f"HalfNormal({0.5 * half:.3g})"] = HalfNormal(0.5 * half)
        entries[f"HalfNormal({half:.3g})"] = HalfNormal(half)
        entries[f"HalfCauchy({0.5 * half:.3g})"] = HalfCauchy(0.5 * half)
        entries[f"HalfStudentT(3, {0.5 * half:.3g})"] = HalfStudentT(3.0, 0.5 * half)
    if family == "SMD":
        entries.update(rhodes_presets())
    if family == "proportion":
        entries["HalfNormal(0.5)"] = HalfNormal(0.5)
        entries["HalfNormal(2)"] = HalfNormal(2.0)
        entries["HalfCauchy(1)"] = HalfCauchy(1.0)
    if family == "risk difference":
        entries["HalfNormal(0.05)"] = HalfNormal(0.05)
        entries["HalfNormal(0.2)"] = HalfNormal(0.2)
        entries["HalfCauchy(0.1)"] = HalfCauchy(0.1)
    return entries


def rhodes_presets() -> dict[str, TauPrior]:
    """SMD heterogeneity priors from the literature: Rhodes, Turner & Higgins (2015), general
    setting and the widest and narrowest comparison of the general area, and the empirical
    Cochrane SMD prior of Bartoš et al. (2021)."""
    general = LogTTau2.rhodes()
    return {
        "Rhodes 2015 general: log-t5(tau²; -3.44, 2.59)": general,
        "Rhodes 2015 pharma vs placebo, physical health: log-t5(tau²; -3.16, 2.5)": LogTTau2.rhodes(
            "general physical health and adverse event and pain and quality of life / functioning",
            "pharmacological vs. placebo / control",
        ),
        "InvGamma(1.71, 0.40) [Bartoš 2021, Cochrane SMD]": InverseGamma(
            1.71, 0.40, source=BARTOS_SMD
        ),
    }
