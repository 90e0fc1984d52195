"""Bayesian model averaging over small-study-effect models, computed exactly.

The ensemble crosses {fixed, random effects} × {no effect (mu = 0), effect} × {no bias term,
PET, PEESE} — twelve normal–normal meta-regressions, each integrated by quadrature
(:mod:`hiermeta.engines.exact.averaging`), in milliseconds and without Monte-Carlo error. It is
the exact counterpart of the PET-PEESE part of RoBMA (Bartoš et al., Res Synth Methods
2023;14:99; Maier, Bartoš & Wagenmakers, Psychol Methods 2023;28:107), which samples instead.

Priors (stated in every output):

* mu: the analysis's prior (Normal; a flat prior leaves Bayes factors undefined);
* tau: the analysis's prior (proper);
* PET slope: half-normal(0, 1) and PEESE slope: half-normal(0, 5), on the side where small
  studies show larger effects in the favoured direction — RoBMA's scales, with half-normal in
  place of its half-Cauchy so that every model stays conjugate given tau;
* model probabilities: effect ½ / no effect ½, random ½ / fixed ½, no bias term ½ / PET ¼ /
  PEESE ¼ (RoBMA's defaults), multiplied across the three choices.

PET and PEESE model *small-study effects* of any cause (publication bias among them); the
inclusion Bayes factor for "bias" measures evidence for that asymmetry, not proof of suppressed
studies.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, cast

import numpy as np
import pandas as pd

from hiermeta.analyses.small_study import effect_row, favoured_direction
from hiermeta.data.effects import EffectData
from hiermeta.engines.exact.averaging import BIAS_TERMS, AveragedModel, Mixture, fit_model
from hiermeta.errors import InputError, check_level, unknown_option
from hiermeta.priors import Normal
from hiermeta.priors.defaults import default_mu, default_tau
from hiermeta.priors.families import MuPrior, TauPrior
from hiermeta.results.contract import MetaResult
from hiermeta.results.intervals import format_probability, probability_text

__all__ = ["DEFAULT_MODEL_PRIORS", "BiasAveraging", "bias_averaging"]

#: Prior probability of each choice (RoBMA's defaults; products give the models' priors).
DEFAULT_MODEL_PRIORS: dict[str, dict[str, float]] = {
    "effect": {"yes": 0.5, "no": 0.5},
    "heterogeneity": {"yes": 0.5, "no": 0.5},
    "bias": {"none": 0.5, "PET": 0.25, "PEESE": 0.25},
}
#: Prior standard deviations of the half-normal priors on the PET and PEESE slopes (RoBMA's
#: half-Cauchy scales 1 and 5, as half-normal scales).
PET_SD = 1.0
PEESE_SD = 5.0
#: Words for inclusion Bayes factors (Lee & Wagenmakers 2013, after Jeffreys).
BF_WORDS = ((1, "no"), (3, "weak"), (10, "moderate"), (30, "strong"), (100, "very strong"))


def _bf_words(bf: float) -> str:
    """ "weak", "moderate", … for a Bayes factor either side of 1."""
    if not np.isfinite(bf) and not bf > 0:
        return "undefined"
    strength = bf if bf >= 1 else 1 / bf
    if strength < 1 + 1e-12:
        return "no"
    return next((name for bound, name in BF_WORDS[1:] if strength < bound), "extreme")


class BiasAveraging:
    """The fitted ensemble: model table, inclusion Bayes factors, model-averaged posterior.

    Build it with :func:`bias_averaging`.
    """

    def __init__(
        self,
        data: EffectData,
        models: list[AveragedModel],
        prior_probs: np.ndarray,
        mu_prior: MuPrior,
        tau_prior: TauPrior,
        favoured: str,
        favoured_how: str,
        pet_sd: float,
        peese_sd: float,
        ci_level: float,
        default_model_priors: bool = True,
    ) -> None:
        self.data, self._models = data, models
        self.prior_probs = prior_probs
        self.mu_prior, self.tau_prior = mu_prior, tau_prior
        self.favoured, self.favoured_how = favoured, favoured_how
        self.pet_sd, self.peese_sd = pet_sd, peese_sd
        self.ci_level = ci_level
        self._default_priors = default_model_priors
        log_ml = np.array([m.log_ml for m in models])
        with np.errstate(divide="ignore"):
            log_post = np.log(prior_probs) + log_ml
        log_post -= np.max(log_post[np.isfinite(log_post)])
        post = np.exp(log_post)
        self.posterior_probs = post / post.sum()

    # ------------------------------------------------------------------ tables
    def models(self) -> pd.DataFrame:
        """One row per model: its choices, prior and posterior probability, log marginal
        likelihood, and its own posterior median and interval of mu (analysis scale)."""
        rows = []
        lo_q, hi_q = 0.5 - self.ci_level / 2, 0.5 + self.ci_level / 2
        for m, prior, post in zip(
            self._models, self.prior_probs, self.posterior_probs, strict=True
        ):
            row: dict[str, Any] = {
                "model": m.name,
                "random": m.random,
                "effect": m.effect,
                "bias": m.bias,
                "prior": prior,
                "posterior": post,
                "log_ml": m.log_ml,
            }
            if m.effect:
                mix = m.pieces()
                row.update(
                    median=mix.quantile(0.5), ci_low=mix.quantile(lo_q), ci_high=mix.quantile(hi_q)
                )
            else:
                row.update(median=0.0, ci_low=0.0, ci_high=0.0)
            rows.append(row)
        return pd.DataFrame(rows).set_index("model")

    def inclusion(self) -> pd.DataFrame:
        """Prior and posterior probability of each component and its inclusion Bayes factor
        (posterior odds over prior odds): effect, heterogeneity, bias (PET or PEESE)."""
        masks = {
            "effect": np.array([m.effect for m in self._models]),
            "heterogeneity": np.array([m.random for m in self._models]),
            "bias": np.array([m.bias != "none" for m in self._models]),
        }
        rows = []
        for name, mask in masks.items():
            prior = float(self.prior_probs[mask].sum())
            post = float(self.posterior_probs[mask].sum())
            if 0 < prior < 1:
                with np.errstate(divide="ignore"):
                    bf = (post / (1 - post)) / (prior / (1 - prior)) if post < 1 else math.inf
            else:
                bf = math.nan
            rows.append(
                {
                    "component": name,
                    "prior": prior,
                    "posterior": post,
                    "BF_inclusion": bf,
                    "evidence": _bf_words(bf)
                    + (" (for)" if bf > 1 else " (against)" if bf < 1 else ""),
                }
            )
        return pd.DataFrame(rows).set_index("component")

    # ------------------------------------------------------------------ averaged posterior
    def _mixture(self, predictive: bool, conditional: bool = False) -> Mixture:
        parts = []
        for m, post in zip(self._models, self.posterior_probs, strict=True):
            if conditional and not m.effect:
                continue
            mix = m.pieces(predictive)
            parts.append((post, mix))
        total = sum(p for p, _ in parts)
        if total <= 0:
            raise InputError("no model with an effect has posterior probability")
        return Mixture(
            np.concatenate([p / total * mix.weight for p, mix in parts]),
            np.concatenate([mix.mean for _, mix in parts]),
            np.concatenate([mix.sd for _, mix in parts]),
            np.concatenate([mix.b for _, mix in parts]),
            np.concatenate([mix.rho for _, mix in parts]),
        )

    @cached_property
    def _mu(self) -> Mixture:
        return self._mixture(False)

    @cached_property
    def _new(self) -> Mixture:
        return self._mixture(True)

    @cached_property
    def _mu_effect(self) -> Mixture:
        return self._mixture(False, conditional=True)

    def _target(self, param: str) -> Mixture:
        targets = {"mu": "_mu", "predictive": "_new", "mu | effect": "_mu_effect"}
        if param not in targets:
            raise unknown_option("parameter", param, list(targets))
        return getattr(self, targets[param])

    def prob(self, below: float, param: str = "mu") -> float:
        """Model-averaged P(param < below), ``below`` on the analysis scale (log for ratios):
        ``param`` is ``"mu"``, ``"predictive"`` (a new study's true effect) or ``"mu | effect"``
        (averaged over the models with an effect only)."""
        if not isinstance(below, int | float) or not np.isfinite(below):
            raise InputError(f"below must be a finite number; got {below!r}")
        mix = self._target(param)
        return float(mix.cdf(np.nextafter(float(below), -np.inf))[0])

    def quantile(self, q: float, param: str = "mu") -> float:
        """Model-averaged quantile (analysis scale)."""
        return self._target(param).quantile(q)

    def summary(self, thresholds: Sequence[float] = (1.0, 0.8)) -> pd.DataFrame:
        """Model-averaged median, interval and P(< threshold) for the mean effect, a new
        study and the mean effect given that there is one; thresholds on the reporting scale
        (ratios for ratio measures)."""
        lo_q, hi_q = 0.5 - self.ci_level / 2, 0.5 + self.ci_level / 2
        rows = []
        for param in ("mu", "predictive", "mu | effect"):
            mix = self._target(param)
            values = [mix.quantile(0.5), mix.quantile(lo_q), mix.quantile(hi_q)]
            below = functools.partial(self.prob, param=param)
            rows.append(effect_row(param, values, self.data, thresholds, below))
        return pd.DataFrame(rows).set_index("param")

    # ------------------------------------------------------------------ words
    def describe(self, thresholds: Sequence[float] = (1.0,)) -> str:
        """The result in plain words, with its caveat."""
        incl = self.inclusion()
        s = self.summary(thresholds)
        m = self.data.measure
        ratio = self.data.is_ratio
        row = s.loc["mu"]
        if ratio:
            est = f"{m} {row[m]:.2f} ({row[f'{m} ci_low']:.2f}–{row[f'{m} ci_high']:.2f})"
        else:
            est = f"{row['median']:.3g} ({row['ci_low']:.3g}–{row['ci_high']:.3g})"
        label = m if ratio else "effect"
        probs = "; ".join(
            probability_text(f"P({label} < {t:g})", cast(float, row[f"P({label} < {t:g})"]))
            for t in thresholds
        )
        parts = [
            f"Averaged over {len(self._models)} models (fixed/random effects × effect/no effect "
            f"× no bias term/PET/PEESE), the mean effect is {est} (median and "
            f"{self.ci_level:.0%} credible interval, including the models without an effect); {probs}."
        ]
        for name, label in (
            ("effect", "an effect"),
            ("heterogeneity", "heterogeneity"),
            ("bias", "small-study effects (PET/PEESE)"),
        ):
            bf = cast(float, incl.at[name, "BF_inclusion"])
            side = "for" if bf >= 1 else "against"
            parts.append(
                f"Evidence {side} {label}: inclusion Bayes factor {_bf_text(bf)} "
                f"({_bf_words(bf)}; posterior probability "
                f"{format_probability(cast(float, incl.at[name, 'posterior']))})."
            )
        parts.append(
            "PET and PEESE adjust for small-study effects of any cause (publication bias, but also "
            "heterogeneity related to study size); the result depends on the prior model "
            "probabilities and priors stated in the methods."
        )
        return " ".join(parts)

    def methods(self) -> list[str]:
        """Every assumption of the ensemble, for the methods section."""
        direction = "lower" if self.favoured == "lower" else "higher"
        return [
            "Bayesian model averaging over 12 models: fixed or random effects × no effect (mu = 0) "
            "or an effect × no bias term, PET (the standard error as predictor) or PEESE (the "
            "variance), each integrated exactly by quadrature (marginal likelihoods checked "
            "against brute-force integration).",
            f"Priors: mu {self.mu_prior.describe(self.data.measure).rstrip('.')}; tau "
            f"{self.tau_prior.describe(self.data.measure).rstrip('.')}; PET slope half-normal(0, "
            f"{self.pet_sd:g}) and PEESE slope half-normal(0, {self.peese_sd:g}) on the side "
            f"where small studies show {direction} effects ({self.favoured_how}); scales as "
            "RoBMA's (Bartoš et al. 2023), half-normal instead of half-Cauchy so that each "
            "model stays exact.",
            "Prior model probabilities: effect ½, heterogeneity ½, no bias term ½ / PET ¼ / "
            "PEESE ¼ (RoBMA's defaults)."
            if self._default_priors
            else "Prior model probabilities as given by the user (see the model table).",
        ]


def _bf_text(bf: float) -> str:
    if not np.isfinite(bf):
        return "∞" if bf > 0 else "undefined"
    if bf >= 1000:
        return f"{bf:.3g}".replace("e+0", "e").replace("e+", "e")
    if bf < 0.001:
        return f"1/{1 / bf:.3g}"
    return f"{bf:.2f}"


def _model_priors(given: Mapping[str, Mapping[str, float]] | None) -> dict[str, dict[str, float]]:
    priors = {k: dict(v) for k, v in DEFAULT_MODEL_PRIORS.items()}
    if given is None:
        return priors
    if not isinstance(given, Mapping):
        raise InputError(
            "model_priors must be a table like {'bias': {'none': 0.5, 'PET': 0.25, 'PEESE': 0.25}}"
        )
    for part, values in given.items():
        if part not in priors:
            raise unknown_option("model-prior component", part, list(priors))
        if not isinstance(values, Mapping) or set(values) != set(priors[part]):
            raise InputError(
                f"model_priors[{part!r}] needs probabilities for exactly {sorted(priors[part])}; got {values!r}"
            )
        probs = {}
        for key, value in values.items():
            if (
                not isinstance(value, int | float)
                or not (0 <= value <= 1)
                or not math.isfinite(value)
            ):
                raise InputError(
                    f"model_priors[{part!r}][{key!r}] must be a probability; got {value!r}"
                )
            probs[key] = float(value)
        if abs(sum(probs.values()) - 1) > 1e-9:
            raise InputError(f"model_priors[{part!r}] must sum to 1; got {sum(probs.values()):g}")
        priors[part] = probs
    return priors


def bias_averaging(
    data: EffectData | MetaResult,
    mu_prior: MuPrior | None = None,
    tau_prior: TauPrior | None = None,
    *,
    favoured: str = "auto",
    pet_sd: float = PET_SD,
    peese_sd: float = PEESE_SD,
    model_priors: Mapping[str, Mapping[str, float]] | None = None,
    ci_level: float = 0.95,
) -> BiasAveraging:
    """Exact Bayesian model averaging over small-study-effect models (see the module docs).

    Parameters
    ----------
    data
        The studies, or a fitted result (its data, and for a Bayesian fit its priors, are used).
    mu_prior, tau_prior
        Priors on the mean effect (Normal) and on tau (proper); default: the fit's, else the
        measure's defaults.
    favoured
        Which estimates the publication process favours: ``"lower"`` (e.g. HR < 1 as benefit),
        ``"higher"``, or ``"auto"`` — the direction of the random-effects (REML) estimate. The PET and
        PEESE slopes' half-normal priors point that way.
    pet_sd, peese_sd
        Scales of the half-normal priors on the PET and PEESE slopes.
    model_priors
        Prior probabilities per component, e.g. ``{"bias": {"none": 0.5, "PET": 0.25,
        "PEESE": 0.25}}``; components not given keep the defaults.
    ci_level
        Level of the credible intervals.
    """
    fit_mu = fit_tau = None
    if isinstance(data, MetaResult):
        fit_mu = getattr(data, "mu_prior", None)
        fit_tau = getattr(data, "tau_prior", None)
        data = data.data
    if not isinstance(data, EffectData):
        raise InputError(
            f"data must be an EffectData or a fitted result; got {type(data).__name__}"
        )
    if data.k < 3:
        raise InputError(f"model averaging over bias models needs at least 3 studies; got {data.k}")
    mu_prior = mu_prior or fit_mu or default_mu(data)
    tau_prior = tau_prior or fit_tau or default_tau(data)
    if not isinstance(mu_prior, Normal):
        raise InputError(
            f"model averaging needs a Normal prior on mu (Bayes factors need a proper, conjugate "
            f"prior); got {mu_prior!r}"
        )
    if not isinstance(tau_prior, TauPrior) or not tau_prior.proper:
        raise InputError(f"model averaging needs a proper prior on tau; got {tau_prior!r}")
    tau_prior = tau_prior.for_data(np.asarray(data.se))
    for name, value in (("pet_sd", pet_sd), ("peese_sd", peese_sd)):
        if not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a positive number; got {value!r}")
    ci_level = check_level(ci_level)
    y, se = np.asarray(data.y, dtype=float), np.asarray(data.se, dtype=float)
    if favoured == "auto":
        favoured, how = favoured_direction(data), "the direction of the random-effects estimate"
    elif favoured in ("lower", "higher"):
        how = "as specified"
    else:
        raise unknown_option("favoured", favoured, ["lower", "higher", "auto"])
    direction = -1.0 if favoured == "lower" else 1.0
    probs = _model_priors(model_priors)
    models, prior_probs = [], []
    for random, effect, bias in itertools.product((False, True), (False, True), BIAS_TERMS):
        prior = (
            probs["heterogeneity"]["yes" if random else "no"]
            * probs["effect"]["yes" if effect else "no"]
            * probs["bias"][bias]
        )
        models.append(
            fit_model(
                y,
                se,
                random=random,
                effect=effect,
                bias=bias,
                mu_prior=mu_prior,
                tau_prior=tau_prior,
                bias_sd={"none": 1.0, "PET": pet_sd, "PEESE": peese_sd}[bias],
                direction=direction,
            )
        )
        prior_probs.append(prior)
    return BiasAveraging(
        data,
        models,
        np.array(prior_probs),
        mu_prior,
        tau_prior,
        favoured,
        how,
        float(pet_sd),
        float(peese_sd),
        float(ci_level),
        default_model_priors=model_priors is None,
    )
