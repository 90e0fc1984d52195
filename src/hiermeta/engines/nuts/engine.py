"""``hm.bayesian(..., engine="nuts")``: PyMC's NUTS, diagnosed with ArviZ, with remedies."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from hiermeta.data.design import Coding, Design, build_design
from hiermeta.data.effects import EffectData
from hiermeta.engines.nuts.checks import failed_checks
from hiermeta.engines.nuts.kernel import (
    KERNEL_TAU,
    kernel_buffer,
    kernel_inputs,
    kernel_supports,
    nutpie_model,
)
from hiermeta.engines.nuts.models import (
    PARAMETERISATIONS,
    SWITCHABLE_TAU,
    ModelInputs,
    Parameterisation,
    Structure,
    build_model,
    structure_of,
)
from hiermeta.errors import (
    ConvergenceWarning,
    InputError,
    RemedyWarning,
    check_count,
    check_number,
    check_seed,
    unknown_option,
)
from hiermeta.priors import MuPrior, TauPrior
from hiermeta.priors.defaults import default_beta, default_mu, default_tau
from hiermeta.results.contract import summary_row
from hiermeta.results.posterior import (
    BayesianResult,
    SamplePosterior,
    ScalarPosterior,
    predictive_target,
)

__all__ = ["NutsResult", "fit_nuts", "sweep_options"]


#: One built model per structure (and dimension lengths); its compiled NUTS steps (PyMC, per
#: target_accept) and nutpie model are kept with it, so later fits — of other priors, or of
#: other analyses with as many studies — only swap the pm.Data values and coordinate labels.
_MODEL_CACHE: dict[tuple[Structure, tuple[tuple[str, int], ...]], dict[str, Any]] = {}
#: Default target acceptance of the compiled kernel. Measured first attempts needing a remedy
#: (one divergence is enough): on the flagship studies (ptr_mbc, k = 10), 9 of 20 seeds at 0.95
#: and 0 of 20 at 0.98; on the k = 4 example with one dominant study
#: (docs/validation/nuts_small_k.md; 100 seeds under each of two mu priors), 2 of 200 at 0.95
#: and 0 of 200 at 0.98, with agreement z-scores within the criterion at both; median time per
#: fit 0.30 s → 0.32 s.
KERNEL_TARGET_ACCEPT = 0.98
#: Default target acceptance of PyMC's own sampler (PyMC's default 0.8 is raised for the
#: funnel-shaped posteriors of small meta-analyses).
PYMC_TARGET_ACCEPT = 0.9
SAMPLERS = ("auto", "kernel", "pymc", "nutpie")
#: How tau enters the sampler: folded where the prior allows it ("auto"), or always log tau.
TAU_PARAMETERISATIONS = ("auto", "log")
#: One line per sampling attempt (the CLI shows them when there is no progress bar).
LOG = logging.getLogger("hiermeta")


def _progress_default() -> bool:
    env = os.environ.get("HIERMETA_PROGRESS")
    if env is not None:
        return env not in ("0", "false", "no")
    return sys.stderr.isatty()


@dataclass
class Attempt:
    """One sampling attempt: its settings, its diagnostics and its time."""

    parameterisation: str
    target_accept: float
    tune: int
    seconds: float
    failed: list[str] = field(default_factory=list)


class NutsResult(BayesianResult):
    """A NUTS fit: the common API plus ``idata`` (ArviZ DataTree), ``model`` and ``check()``."""

    engine = "nuts"
    monte_carlo = True

    def __init__(
        self,
        data: EffectData,
        design: Design,
        idata: Any,
        model: Any,
        structure: Structure,
        mu_prior: MuPrior,
        tau_prior: TauPrior,
        attempts: list[Attempt],
        tau_group_levels: tuple[str, ...],
        random_seed: int | None,
        sampler: str = "pymc",
    ) -> None:
        self.data, self.design, self.idata, self.model = data, design, idata, model
        self.structure, self.mu_prior, self.tau_prior = structure, mu_prior, tau_prior
        self.attempts = attempts
        self.tau_group_levels = tau_group_levels
        self.random_seed = random_seed
        self.sampler = sampler
        self.parameterisation = structure.parameterisation
        notes = [
            f"NUTS ({structure.parameterisation} parameterisation, {structure.random_effects} random effects)"
        ]
        if len(attempts) > 1:
            notes.append(
                "remedies tried: "
                + "; ".join(
                    f"{a.parameterisation}, target_accept={a.target_accept}, tune={a.tune}"
                    + (f" → failed {', '.join(a.failed)}" if a.failed else " → passed")
                    for a in attempts
                )
            )
        failed = attempts[-1].failed
        if failed:
            notes.append("DIAGNOSTICS FAILED: " + ", ".join(failed))
        self.notes = tuple(notes)

    # ------------------------------------------------------------------ draws
    def _draws(self, name: str) -> np.ndarray:
        return np.asarray(self.idata.posterior[name].values)

    def _chain_draw(self, param: str) -> np.ndarray:
        """(chain, draw) array of a named scalar quantity."""
        post = self.idata.posterior
        if param == "tau":
            if "tau" not in post:
                raise InputError(
                    "this model has one tau per subgroup; ask for "
                    + ", ".join(f"'tau[{g}]'" for g in self.tau_group_levels)
                )
            return self._draws("tau")
        if param.startswith("tau[") and param.endswith("]"):
            level = param[4:-1]
            return np.asarray(post["tau_by_group"].sel(subgroup=level).values)
        if param == "tau_cohort":
            return self._draws("tau_cohort")
        if param.startswith("predictive"):
            target = self._vector(predictive_target(param))
            return np.einsum("cdp,p->cd", self._beta(), target) + self._re_noise()
        if param.startswith("theta[") and param.endswith("]"):
            return np.asarray(post["theta"].sel(study=param[6:-1]).values)
        return np.einsum("cdp,p->cd", self._beta(), self._vector(param))

    def _beta(self) -> np.ndarray:
        mu = self._draws("mu")[..., None]
        if self.design.p == 1:
            return mu
        return np.concatenate([mu, self._draws("beta")], axis=-1)

    def _re_noise(self) -> np.ndarray:
        """Draws of a new study's random effect (tau × a standard normal or t draw)."""
        return np.asarray(self.idata.posterior["new_study_deviation"].values)

    def parameters(self) -> list[str]:
        names = super().parameters()
        if self.structure.tau_groups > 1:  # one tau per subgroup instead of one tau
            names = [n for n in names if n != "tau"] + [f"tau[{g}]" for g in self.tau_group_levels]
        else:  # a new study in each subgroup (its deviation from the mean is the same draw)
            names += [f"predictive[{level}]" for level in self.level_params()]
        if self.structure.clusters:
            names.append("tau_cohort")
        return names

    def posterior(self, param: str) -> ScalarPosterior:
        draws = self._chain_draw(param)
        return SamplePosterior(draws, _mcse_table(draws))

    def linear(self, c: np.ndarray) -> ScalarPosterior:
        draws = np.einsum("cdp,p->cd", self._beta(), np.asarray(c, dtype=float))
        return SamplePosterior(draws, _mcse_table(draws))

    def default_summary_params(self) -> list[str]:
        names = super().default_summary_params()
        if self.structure.tau_groups > 1:
            names = [n for n in names if n != "tau"] + [f"tau[{g}]" for g in self.tau_group_levels]
        if self.structure.clusters:
            names.append("tau_cohort")
        return names

    # ------------------------------------------------------------------ the result contract
    def diagnostics(self) -> pd.DataFrame:
        """R-hat, bulk/tail ESS, MCSE per parameter and the sampler checks (:meth:`check`)."""
        return self.check()

    def failed_diagnostics(self) -> list[str]:
        return list(self.attempts[-1].failed)

    def _extra_summary_rows(self, level: float) -> list[dict[str, Any]]:
        """One tau per subgroup (``tau[<level>]``) and the between-cohort SD ``tau_cohort``."""
        text = f"{level:.0%} CrI (central; value = median)"
        return [
            summary_row(name, self._estimate_of(name, level, text))
            for name in self.default_summary_params()
            if name.startswith("tau") and name != "tau"
        ]

    @property
    def attempts_made(self) -> int:
        return len(self.attempts)

    def methods(self) -> list[str]:
        s = self.structure
        post = self.idata.posterior
        model = (
            "hiermeta's compiled log density, nutpie sampler"
            if self.sampler == "kernel"
            else f"PyMC model, {self.sampler} sampler"
        )
        tau = "tau = |z|, folded" if s.tau_folded and self.tau_prior.foldable else "log tau"
        text = (
            f"NUTS engine ({model}; {tau}): {s.parameterisation} "
            f"parameterisation, {s.random_effects} random effects"
            + (", between- and within-cohort heterogeneity" if s.clusters else "")
            + (
                " (study and cohort effects integrated out, drawn afterwards from their exact "
                "conditional posterior)"
                if s.clusters and s.parameterisation == "marginal"
                else ""
            )
            + (", one tau per subgroup" if s.tau_groups > 1 else "")
            + f"; {post.sizes['chain']} chains × {post.sizes['draw']} draws, "
            f"random_seed = {self.random_seed}. Priors: {self.priors_text()}"
        )
        return [text, *self.notes[1:]]

    # ------------------------------------------------------------------ diagnostics
    def check(self) -> Any:
        """Diagnostics table: R-hat, bulk/tail ESS, MCSE per parameter, and sampler checks."""
        from hiermeta.engines.nuts.checks import check

        return check(self)

    @property
    def converged(self) -> bool:
        """True when every diagnostic passed on the final attempt."""
        return not self.attempts[-1].failed

    def prob_mcse(self, below: float, predictive: bool = False) -> float:
        """Monte-Carlo standard error of :meth:`prob`."""
        import arviz_stats as azs

        draws = self._chain_draw("predictive" if predictive else "mu")
        indicator = (draws < float(self.data.from_natural(below))).astype(float)
        p = float(indicator.mean())
        if p in (0.0, 1.0):
            # no draw on one side: the resolution of the estimate is about one draw in ESS; use
            # the MCSE of a probability 1/N (N = number of draws) rather than a misleading 0
            n = indicator.size
            return float(np.sqrt((1 / n) * (1 - 1 / n) / n))
        ess = float(azs.ess(indicator, method="mean"))
        return float(np.sqrt(p * (1 - p) / ess))


def _mcse_table(draws: np.ndarray) -> dict[str, float]:
    import arviz_stats as azs

    if draws.ndim != 2 or draws.shape[1] < 4:
        return {}
    return {"mean": float(azs.mcse(draws, method="mean"))}


def _inputs(
    data: EffectData,
    design: Design,
    mu_prior: MuPrior,
    tau_prior: TauPrior,
    beta_prior: MuPrior,
    subgroup_tau: str | None,
    multilevel: bool,
    nu: float,
) -> tuple[ModelInputs, dict[str, list[str]], tuple[str, ...]]:
    coords: dict[str, list[str]] = {"study": list(data.study)}
    group_levels: tuple[str, ...] = ()
    tau_group = np.zeros(data.k, dtype=int)
    if subgroup_tau:
        if subgroup_tau not in data.covariates.columns:
            raise InputError(
                f"subgroup_tau {subgroup_tau!r} is not a covariate; covariates are {list(data.covariates.columns)}"
            )
        text = data.covariates[subgroup_tau].astype(str).to_numpy()
        try:
            group_levels = design.term(subgroup_tau).levels
        except InputError:
            group_levels = tuple(sorted(set(text)))
        tau_group = np.array([group_levels.index(t) for t in text])
        coords["subgroup"] = list(group_levels)
    cluster = np.full(data.k, -1, dtype=int)
    if multilevel:
        if data.cluster is None:
            raise InputError("multilevel=True needs a cluster column (cluster= in the converter)")
        cohorts = sorted(set(data.cluster))
        cluster = np.array([cohorts.index(c) for c in data.cluster])
        coords["cohort"] = cohorts
    coords["coefficient"] = list(design.names[1:])
    inputs = ModelInputs(
        y=np.asarray(data.y),
        se=np.asarray(data.se),
        X=design.X,
        tau_group=tau_group,
        cluster=cluster,
        tau_prior=tau_prior,
        mu_prior=mu_prior,
        beta_prior=beta_prior,
        nu=nu,
    )
    return inputs, coords, group_levels


def _model_for(
    structure: Structure, inputs: ModelInputs, coords: dict[str, list[str]]
) -> dict[str, Any]:
    """The cached entry (model, compiled samplers) for a structure, with this fit's data set."""
    import pymc as pm

    # the key holds the dimension lengths, not the labels: analyses with other study (or level)
    # names but the same structure share the compiled model; their labels are set below
    key = (structure, tuple((name, len(values)) for name, values in sorted(coords.items())))
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = {
            "model": build_model(structure, inputs, coords),
            "steps": {},
            "nutpie": None,
        }
    entry = _MODEL_CACHE[key]
    model = entry["model"]
    for name, values in coords.items():
        if tuple(model.coords.get(name) or ()) != tuple(values):
            model.set_dim(name, len(values), coord_values=values)
    with model:
        pm.set_data(inputs.data_values())
    entry["values"] = inputs.data_values()
    return entry


def _pymc_step(
    entry: dict[str, Any], chains: int, target_accept: float, seed: int | None
) -> tuple[Any, Any]:
    """PyMC's ``init_nuts("jitter+adapt_diag")``, reusing the structure's compiled logp/dlogp.

    A fresh adaptive mass matrix and jittered starting points for every fit (exactly what
    ``pm.sample`` does), without recompiling the model's gradient.
    """
    import pymc as pm
    from pymc.blocking import DictToArrayBijection
    from pymc.sampling.mcmc import _init_jitter
    from pymc.step_methods.hmc import quadpotential
    from pymc.util import _get_seeds_per_chain

    model = entry["model"]
    if entry.get("logp_dlogp") is None:
        func = model.logp_dlogp_function(ravel_inputs=True)
        func.trust_input = True
        entry["logp_dlogp"] = func
    func = entry["logp_dlogp"]
    seeds = _get_seeds_per_chain(seed, chains)

    def logp(point: Any) -> Any:
        q, _ = DictToArrayBijection.map(point)
        return func([q], extra_vars={})[0]

    points = _init_jitter(
        model, None, seeds=seeds, jitter=True, jitter_max_retries=10, logp_fn=logp
    )
    data = [DictToArrayBijection.map(p).data for p in points]
    mean = np.mean(data, axis=0)
    potential = quadpotential.QuadPotentialDiagAdapt(
        len(mean), mean, np.ones_like(mean), 10, rng=seeds[0]
    )
    step = pm.NUTS(
        potential=potential,
        model=model,
        rng=seeds[0],
        initial_point=points[0],
        logp_dlogp_func=func,
        target_accept=target_accept,
    )
    names = {v.name for v in model.value_vars}
    return [{k: v for k, v in p.items() if k in names} for p in points], step


def _sampler_for(chosen: Any, structure: Structure, inputs: ModelInputs) -> Any:
    """ "auto": the compiled kernel where it covers the model (nutpie installed), else PyMC's
    sampler on the PyMC graph; an explicit "kernel" outside its domain is an error."""
    covered = (
        _nutpie_available()
        and kernel_supports(
            structure.parameterisation,
            structure.random_effects,
            structure.tau_groups,
            inputs.tau_prior,
            inputs.mu_prior,
            inputs.beta_prior,
            structure.tau_folded or not inputs.tau_prior.foldable,
        )
        and not inputs.switch_tau
    )
    if chosen == "auto":
        return "kernel" if covered else "pymc"
    if chosen == "kernel" and not covered:
        raise InputError(
            "sampler='kernel' covers the marginal normal model with one tau, normal or flat "
            f"priors on the coefficients and a tau prior of {sorted(KERNEL_TAU)}; use "
            "sampler='pymc' or 'nutpie' for this model"
        )
    return chosen


def _sample_kernel(
    structure: Structure,
    inputs: ModelInputs,
    design: Design,
    tune: int,
    draws: int,
    chains: int,
    target_accept: float,
    seed: int | None,
    progressbar: bool,
) -> Any:
    """nutpie on hiermeta's compiled log density (:mod:`hiermeta.engines.nuts.kernel`)."""
    import nutpie

    kin = kernel_inputs(
        inputs.y,
        inputs.se,
        design.X,
        inputs.cluster,
        structure.clusters,
        inputs.tau_prior,
        inputs.mu_prior,
        inputs.beta_prior,
    )
    p = design.p
    ndim = p + 1 + (structure.clusters > 0)
    folded = KERNEL_TAU[inputs.tau_prior.family][1]

    centre = float(np.average(inputs.y, weights=1 / inputs.se**2))
    spread = float(np.median(inputs.se))

    def initial_point(point_seed: int) -> np.ndarray:
        rng = np.random.default_rng(point_seed)
        x = np.zeros(ndim)
        x[0] = centre + rng.uniform(-1, 1) * spread
        x[1:p] = rng.uniform(-0.1, 0.1, p - 1)
        scale = rng.uniform(0.1, 1.0, ndim - p) * spread
        x[p:] = scale if folded else np.log(scale)
        return x

    # the expanded order of the C callback: mu, tau, beta…, tau_cohort
    names = (
        ["mu", "tau"] + (["beta"] if p > 1 else []) + (["tau_cohort"] if structure.clusters else [])
    )
    shapes = [(), ()] + ([(p - 1,)] if p > 1 else []) + ([()] if structure.clusters else [])
    model = nutpie_model(
        kernel_buffer(kin, folded),
        ndim,
        names,
        shapes,
        {"coefficient": list(design.names[1:])} if p > 1 else {},
        {"beta": ("coefficient",)} if p > 1 else {},
        initial_point,
    )
    return nutpie.sample(
        model,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed if seed is not None else int(np.random.default_rng().integers(2**32)),
        progress_bar=progressbar,
        save_warmup=False,
        target_accept=target_accept,
    )


def _nutpie_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nutpie") is not None


def _sample(
    entry: dict[str, Any],
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    seed: int | None,
    progressbar: bool,
    sampler: str = "pymc",
) -> Any:
    model = entry["model"]
    if sampler == "nutpie":
        import nutpie

        if entry["nutpie"] is None:
            entry["nutpie"] = nutpie.compile_pymc_model(model)
        # nutpie keeps only the shared variables the graph uses (e.g. no X without moderators)
        known = {var.name for var in getattr(entry["nutpie"], "shared_var_keys", {})}
        compiled = entry["nutpie"].with_data(
            **{k: v for k, v in entry["values"].items() if k in known}
        )
        return nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            progress_bar=progressbar,
            save_warmup=False,
            target_accept=target_accept,
        )
    with pymc_silenced(), model, abort_on_ctrl_c():
        initial_points, step = _pymc_step(entry, chains, target_accept, seed)
        return pymc_sample(
            draws, tune, chains, seed, progressbar, step=step, initvals=initial_points
        )


def _relabel(idata: Any, coords: dict[str, list[str]]) -> Any:
    """This fit's labels on every group (a reused compiled model may carry another analysis's)."""
    for group in list(idata.children):
        dataset = idata[group].to_dataset()
        labels = {name: list(values) for name, values in coords.items() if name in dataset.dims}
        if labels:
            idata[group] = dataset.assign_coords(labels)
    return idata


def _add_derived(
    idata: Any,
    structure: Structure,
    inputs: ModelInputs,
    design: Design,
    data: EffectData,
    seed: int | None,
) -> Any:
    """Study effects (marginal model), a new study's effect, log-likelihood, predictive, prior."""
    rng = np.random.default_rng(None if seed is None else [seed, 1])
    post = idata.posterior.to_dataset()
    mu = np.asarray(post["mu"].values)
    beta = (
        mu[..., None]
        if design.p == 1
        else np.concatenate([mu[..., None], np.asarray(post["beta"].values)], -1)
    )
    fitted = beta @ design.X.T  # (c, d, k)
    tau_i, tau_new = _study_taus(post, structure, inputs, data.k)
    if structure.clusters:
        if "u_cohort" not in post:  # integrated out while sampling: drawn here
            u = _cohort_effects(post, inputs, fitted, tau_i, structure.clusters, rng)
            post = post.assign(u_cohort=(("chain", "draw", "cohort"), u))
            post = post.assign_coords(cohort=sorted(set(data.cluster or ())))
        fitted = fitted + np.asarray(post["u_cohort"].values)[..., inputs.cluster]
    theta, loglik = _study_effects(post, structure, inputs, fitted, tau_i, rng)
    post = post.assign(theta=(("chain", "draw", "study"), theta))
    deviation = _new_study_deviation(post, structure, inputs, tau_new, rng)
    # the true effect in a new study (at the intercept, as the exact engine's "predictive"),
    # and its random deviation from the mean, kept for the per-subgroup predictives
    post = post.assign(
        predictive=(("chain", "draw"), beta[..., 0] + deviation),
        new_study_deviation=(("chain", "draw"), deviation),
    )
    idata["posterior"] = post.assign_coords(study=list(data.study))
    _add_data_groups(idata, post, inputs, data, theta, loglik, rng)
    chains, n = mu.shape
    prior = _prior_draws(inputs, chains, n, seed)
    if prior:
        import xarray as xr

        coords = {"chain": post["chain"].values, "draw": post["draw"].values}
        idata["prior"] = xr.Dataset(prior, coords=coords)
    return idata


def _study_taus(
    post: Any, structure: Structure, inputs: ModelInputs, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """tau of each study (chain, draw, k) and of a new study (chain, draw)."""
    if structure.tau_groups > 1:
        tau_all = np.asarray(post["tau_by_group"].values)  # (c, d, g)
        return tau_all[..., inputs.tau_group], tau_all[..., 0]
    tau_new = np.asarray(post["tau"].values)
    return tau_new[..., None] * np.ones(k), tau_new


def _cohort_effects(
    post: Any,
    inputs: ModelInputs,
    fitted: np.ndarray,
    tau_i: np.ndarray,
    clusters: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Cohort effects from their exact conditional posterior given each draw.

    u_c ~ N(0, t²) a priori and y_i ~ N(fitted_i + u_c, s_i² + tau²) for the cohort's studies,
    so u_c | rest ~ N(v_c b_c, v_c) with v_c = 1/(1/t² + a_c), a_c = Σ_c 1/d_i and
    b_c = Σ_c (y_i − fitted_i)/d_i.
    """
    d = inputs.se**2 + tau_i**2  # (c, d, k)
    onehot = np.eye(clusters)[inputs.cluster]  # (k, C)
    a = (1 / d) @ onehot
    b = ((inputs.y - fitted) / d) @ onehot
    t2 = np.asarray(post["tau_cohort"].values)[..., None] ** 2
    with np.errstate(divide="ignore"):
        v = 1 / (1 / t2 + a)  # t² = 0 gives v = 0: no cohort effect
    return np.asarray(v * b + np.sqrt(v) * rng.standard_normal(v.shape))


def _study_effects(
    post: Any,
    structure: Structure,
    inputs: ModelInputs,
    fitted: np.ndarray,
    tau_i: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Study effects theta and the pointwise log-likelihood of the observed estimates.

    The marginal model integrates theta out, so it is drawn here from its exact conditional
    posterior given each draw of (beta, tau); the other structures sample theta themselves.
    """
    from scipy import stats

    s2 = inputs.se**2
    if structure.parameterisation != "marginal":
        theta = np.asarray(post["theta"].values)
        return theta, stats.norm.logpdf(inputs.y, theta, np.sqrt(s2))
    t2 = tau_i**2
    mean = (inputs.y * t2 + fitted * s2) / (t2 + s2)
    sd = np.sqrt(t2 * s2 / (t2 + s2))
    theta = mean + sd * rng.standard_normal(mean.shape)
    return theta, stats.norm.logpdf(inputs.y, fitted, np.sqrt(s2 + t2))


def _new_study_deviation(
    post: Any,
    structure: Structure,
    inputs: ModelInputs,
    tau_new: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """A new study's random deviation from the mean (plus a new cohort's, for multilevel)."""
    chains, n = tau_new.shape
    noise = (
        rng.standard_normal((chains, n))
        if structure.random_effects == "normal"
        else rng.standard_t(inputs.nu, (chains, n))
    )
    effect = tau_new * noise
    if structure.clusters:  # a new study comes from a new cohort: add a new cohort effect
        effect = effect + np.asarray(post["tau_cohort"].values) * rng.standard_normal((chains, n))
    return np.asarray(effect)


def _add_data_groups(
    idata: Any,
    post: Any,
    inputs: ModelInputs,
    data: EffectData,
    theta: np.ndarray,
    loglik: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """observed_data, log_likelihood (for LOO) and posterior_predictive groups."""
    import xarray as xr

    y_rep = theta + inputs.se * rng.standard_normal(theta.shape)
    coords = {"chain": post["chain"].values, "draw": post["draw"].values, "study": list(data.study)}
    if "observed_data" not in idata.children:
        idata["observed_data"] = xr.Dataset(
            {"y_obs": (("study",), inputs.y)}, coords={"study": list(data.study)}
        )
    dims = ("chain", "draw", "study")
    idata["log_likelihood"] = xr.Dataset({"y_obs": (dims, loglik)}, coords=coords)
    idata["posterior_predictive"] = xr.Dataset({"y_obs": (dims, y_rep)}, coords=coords)


def _prior_draws(
    inputs: ModelInputs, chains: int, n: int, seed: int | None
) -> dict[str, tuple[tuple[str, str], np.ndarray]]:
    """Draws from the proper priors of tau and mu, shaped (chain, draw)."""
    prior: dict[str, tuple[tuple[str, str], np.ndarray]] = {}
    size = chains * n
    rng = np.random.default_rng(None if seed is None else [seed, 2])
    if inputs.tau_prior.proper:
        prior["tau"] = (("chain", "draw"), inputs.tau_prior.rvs(size, rng).reshape(chains, n))
    mu_prior = inputs.mu_prior
    if mu_prior.proper and hasattr(mu_prior, "sd"):
        if mu_prior.family == "normal":
            draws = np.asarray(rng.normal(mu_prior.mean, mu_prior.sd, size))  # type: ignore[attr-defined]
        else:
            draws = mu_prior.mean + mu_prior.sd * rng.standard_t(mu_prior.nu, size)  # type: ignore[attr-defined]
        prior["mu"] = (("chain", "draw"), draws.reshape(chains, n))
    return prior


def fit_nuts(
    data: EffectData,
    mu_prior: MuPrior | None = None,
    tau_prior: TauPrior | None = None,
    moderators: Sequence[str] | str | None = None,
    *,
    beta_prior: MuPrior | Mapping[str, MuPrior] | None = None,
    coding: Mapping[str, Coding] | None = None,
    levels: Mapping[str, Sequence[str]] | None = None,
    random_seed: int | None = None,
    parameterisation: Parameterisation | str = "auto",
    random_effects: str = "normal",
    nu: float = 4.0,
    subgroup_tau: str | None = None,
    multilevel: bool = False,
    draws: int | None = None,
    tune: int = 1000,
    chains: int = 4,
    target_accept: float | None = None,
    remedies: bool = True,
    progressbar: bool | None = None,
    sampler: str | Callable[..., Any] = "auto",
    shared_tau_model: bool = False,
    tau_parameterisation: str = "auto",
) -> NutsResult:
    """Fit a random-effects model with PyMC's NUTS (see :func:`hiermeta.engines.api`).

    Parameters
    ----------
    parameterisation
        ``"auto"`` (marginal for normal random effects, else non-centred), ``"marginal"``,
        ``"noncentred"`` or ``"centred"``.
    random_effects
        ``"normal"`` or ``"student_t"`` (robust; ``nu`` degrees of freedom).
    subgroup_tau
        A categorical covariate with one tau per level.
    multilevel
        Add between-cohort heterogeneity ``tau_cohort`` using ``data.cluster``.
    draws, tune, chains, target_accept
        Sampler settings (per chain). ``draws`` and ``target_accept`` default to 2,000 and
        :data:`KERNEL_TARGET_ACCEPT` (0.98) with the compiled kernel (a fraction of a second
        per fit), and to 1,000 and 0.9 with PyMC's sampler.
    remedies
        When a diagnostic fails, retry with target_accept 0.99 and doubled tuning, then (centred
        ↔ non-centred models) with the other parameterisation, or (marginal models) with
        target_accept 0.999 and four times the tuning; every attempt is recorded in
        ``result.attempts``.
    sampler
        ``"pymc"`` (PyMC's NUTS, C backend: quickest for a single small fit), ``"nutpie"``
        (numba: a ~3 s compile per model structure, then ~0.1 s per fit — for prior sweeps and
        batches) or ``"auto"`` (PyMC). A callable ``f(entry, draws, tune, chains,
        target_accept, seed, progressbar)`` returning an ArviZ DataTree is used as the
        sampler itself (injected in tests; ``entry["model"]`` is the PyMC model).
    shared_tau_model
        With nutpie: compile one model whose tau prior *family* is also a pm.Data switch
        (half-normal, half-Cauchy, half-t, exponential, log-normal, inverse-gamma), so a sweep
        across families compiles once. Its graph is larger (a cold compile of ~15 s instead of
        ~4–8 s), so it pays from about three families on; ``hm.sensitivity`` decides.
    tau_parameterisation
        ``"auto"`` (default): tau = |u| with u symmetric about 0 for half-normal, half-Cauchy,
        half-t, exponential and uniform priors (no divergences near tau = 0; diagnostics are
        computed on tau itself), log tau for priors that vanish at 0 (log-normal, inverse
        gamma, log-t). ``"log"`` forces PyMC's log transform (for comparisons).
    """
    if tau_parameterisation not in TAU_PARAMETERISATIONS:
        raise unknown_option("tau_parameterisation", tau_parameterisation, TAU_PARAMETERISATIONS)
    draws, tune, chains, target_accept, random_seed = check_sampler_settings(
        draws, tune, chains, target_accept, random_seed
    )
    mu_prior = mu_prior or default_mu(data)
    tau_prior = tau_prior or default_tau(data)
    if isinstance(beta_prior, Mapping):
        raise InputError("the NUTS engine takes one beta_prior for all coefficients")
    chosen = _check_options(parameterisation, random_effects, sampler)
    design = build_design(data, moderators, coding=coding, levels=levels)
    inputs, coords, group_levels = _inputs(
        data,
        design,
        mu_prior,
        tau_prior,
        beta_prior or default_beta(data, mu_prior),
        subgroup_tau,
        multilevel,
        nu,
    )
    if (
        shared_tau_model
        and chosen == "nutpie"
        and tau_prior.family in SWITCHABLE_TAU
        and not subgroup_tau
    ):
        # one compiled nutpie model for every switchable tau prior: sweeps compile once
        inputs = replace(inputs, switch_tau=True)
    if parameterisation == "auto":
        parameterisation = "marginal" if random_effects == "normal" else "noncentred"
    first = structure_of(
        inputs,
        parameterisation,  # type: ignore[arg-type]
        random_effects,
        folded=tau_parameterisation == "auto",
    )
    fast = _sampler_for(chosen, first, inputs) == "kernel"
    draws = draws if draws is not None else (2000 if fast else 1000)
    default_accept = KERNEL_TARGET_ACCEPT if fast else PYMC_TARGET_ACCEPT
    target_accept = target_accept if target_accept is not None else default_accept
    plan = _remedy_plan(str(parameterisation), target_accept, tune, remedies)
    progress = _progress_default() if progressbar is None else progressbar

    def make_result(
        idata: Any, model: Any, structure: Structure, tried: list[Attempt], used: Any
    ) -> NutsResult:
        name = used if isinstance(used, str) else getattr(used, "__name__", "custom")
        return NutsResult(
            data,
            design,
            idata,
            model,
            structure,
            mu_prior,
            tau_prior,
            tried,
            group_levels,
            random_seed,
            sampler=name,
        )

    attempts: list[Attempt] = []
    result: NutsResult | None = None
    for param_name, accept, n_tune in plan:
        structure = structure_of(
            inputs,
            param_name,  # type: ignore[arg-type]
            random_effects,
            folded=tau_parameterisation == "auto",
        )
        use = _sampler_for(chosen, structure, inputs)
        start = time.perf_counter()
        entry: dict[str, Any] = {"model": None}
        with interruptible():
            if use == "kernel":
                idata = _sample_kernel(
                    structure, inputs, design, n_tune, draws, chains, accept, random_seed, progress
                )
            else:
                entry = _model_for(structure, inputs, coords)
                if callable(use):  # an injected sampler (tests, other backends)
                    idata = use(entry, draws, n_tune, chains, accept, random_seed, progress)
                else:
                    idata = _sample(
                        entry, draws, n_tune, chains, accept, random_seed, progress, use
                    )
        raise_if_truncated(idata, draws, chains)
        idata = _relabel(idata, coords)
        idata = _add_derived(idata, structure, inputs, design, data, random_seed)
        attempt = Attempt(param_name, accept, n_tune, time.perf_counter() - start)
        attempts.append(attempt)
        result = make_result(idata, entry["model"], structure, attempts, use)
        attempt.failed = failed_checks(result)
        _announce(attempt, len(attempts), plan)
        if not attempt.failed:
            break
    assert result is not None  # the plan has at least one attempt
    # rebuilt so that its notes describe every attempt, the last one's diagnostics included
    result = make_result(result.idata, result.model, result.structure, attempts, result.sampler)
    if attempts[-1].failed:
        warnings.warn(
            f"NUTS diagnostics failed after {len(attempts)} attempt(s): {', '.join(attempts[-1].failed)}. "
            "See result.check() and result.attempts.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return result


class SamplingInterrupted(KeyboardInterrupt):
    """Sampling stopped before every draw was made (Ctrl-C): never a result."""


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C during sampling stays a KeyboardInterrupt: numba-compiled code can turn it into a
    SystemError, which would otherwise read as a failed fit."""
    try:
        yield
    except SystemError as err:
        cause = err.__context__
        if isinstance(cause, KeyboardInterrupt | _Abort) or "KeyboardInterrupt" in str(err):
            raise SamplingInterrupted("sampling was interrupted") from err
        raise


class _Abort(BaseException):
    """Ctrl-C raised past PyMC's sampler, which catches KeyboardInterrupt and goes on with the
    next chain."""


def pymc_sample(
    draws: int, tune: int, chains: int, seed: int | None, progressbar: bool, **options: Any
) -> Any:
    """``pm.sample`` in the current model as hiermeta calls it: ``cores=1`` (no worker
    processes), PyMC's own convergence checks off (hiermeta's diagnostics replace them), quiet
    unless a progress bar is asked for; ``options`` such as ``step`` or ``nuts_sampler`` pass
    through."""
    import pymc as pm

    return pm.sample(
        draws=draws,
        tune=tune,
        chains=chains,
        cores=1,
        random_seed=seed,
        progressbar=progressbar,
        compute_convergence_checks=False,
        quiet=not progressbar,
        **options,
    )


@contextlib.contextmanager
def pymc_silenced() -> Iterator[None]:
    """PyMC's own convergence messages and notices silenced: hiermeta's diagnostics (R-hat,
    ESS, divergences, judged on the final attempt) replace them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(divergen|r_hat|rhat|effective sample|ESS).*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="pymc")
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="pymc")
        yield


@contextlib.contextmanager
def abort_on_ctrl_c() -> Iterator[None]:
    """While PyMC's own NUTS runs: Ctrl-C stops it at once (main thread only; elsewhere the
    default handling stays)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C is an ordinary one
        raise _Abort

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    except _Abort:
        raise SamplingInterrupted("sampling was interrupted") from None
    finally:
        signal.signal(signal.SIGINT, previous)


def raise_if_truncated(idata: Any, draws: int, chains: int) -> None:
    """Samplers (nutpie, PyMC) catch Ctrl-C and return the draws made so far; a run with fewer
    draws or chains than asked for is an interruption, never a result."""
    posterior = idata.posterior
    got_chains = int(posterior.sizes.get("chain", 0))
    got_draws = int(posterior.sizes.get("draw", 0))
    if got_chains < chains or got_draws < draws:
        raise SamplingInterrupted(
            f"sampling was interrupted: {got_chains} chain(s) × {got_draws} draws of "
            f"{chains} × {draws}; nothing is returned"
        )


def sample_model(
    model: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    random_seed: int | None,
    sampler: str,
) -> Any:
    """``pm.sample`` of a ready model for the analyses' own models (nested subgroups, the
    selection model): PyMC's messages silenced (hiermeta's diagnostics replace them), chains in
    sequence, Ctrl-C stopping promptly with either sampler, and a truncated run raised as
    :class:`SamplingInterrupted` instead of returned."""

    guard = abort_on_ctrl_c() if sampler == "pymc" else contextlib.nullcontext()
    with pymc_silenced(), model, interruptible(), guard:
        idata = pymc_sample(
            draws,
            tune,
            chains,
            random_seed,
            False,
            target_accept=target_accept,
            nuts_sampler=sampler,
        )
    raise_if_truncated(idata, draws, chains)
    return idata


def _announce(attempt: Attempt, number: int, plan: list[tuple[str, float, int]]) -> None:
    """One log line per sampling attempt; a retry is also a :class:`RemedyWarning`."""
    outcome = "failed: " + ", ".join(attempt.failed) if attempt.failed else "passed"
    LOG.info(
        "NUTS attempt %d of at most %d (%s, target_accept %g, tune %d): %.1f s, %s",
        number,
        len(plan),
        attempt.parameterisation,
        attempt.target_accept,
        attempt.tune,
        attempt.seconds,
        outcome,
    )
    if attempt.failed and number < len(plan):
        param, accept, tune = plan[number]
        warnings.warn(
            f"NUTS attempt {number} failed ({', '.join(attempt.failed)}); retrying with the "
            f"{param} parameterisation, target_accept={accept}, tune={tune}",
            RemedyWarning,
            stacklevel=5,  # the caller of hm.bayesian
        )


def check_sampler_settings(
    draws: Any, tune: Any, chains: Any, target_accept: Any, random_seed: Any
) -> tuple[int | None, int, int, float | None, int | None]:
    """The sampler settings, checked before anything runs (the API, specs and batches all pass
    through here): whole numbers for draws ≥ 1, tune ≥ 0, chains ≥ 1, target_accept in (0, 1),
    a seed ≥ 0 or None."""
    return (
        None if draws is None else check_count("draws", draws, 1),
        check_count("tune", tune, 0),
        check_count("chains", chains, 1),
        None if target_accept is None else check_number("target_accept", target_accept, 0, 1),
        check_seed(random_seed),
    )


def _check_options(parameterisation: str, random_effects: str, sampler: Any) -> Any:
    """Validate the structural options; returns the sampler to use (a name or a callable)."""
    if parameterisation not in ("auto", *PARAMETERISATIONS):
        raise unknown_option("parameterisation", parameterisation, ("auto", *PARAMETERISATIONS))
    if random_effects not in ("normal", "student_t"):
        raise unknown_option("random_effects", random_effects, ("normal", "student_t"))
    if callable(sampler):
        return sampler
    if sampler not in SAMPLERS:
        raise unknown_option("sampler", sampler, SAMPLERS)
    if sampler in ("nutpie", "kernel") and not _nutpie_available():
        raise InputError(f"sampler={sampler!r} needs the nutpie package")
    return sampler


def _remedy_plan(
    parameterisation: str, target_accept: float, tune: int, remedies: bool
) -> list[tuple[str, float, int]]:
    """The attempts to make, in order: (parameterisation, target_accept, tune)."""
    plan: list[tuple[str, float, int]] = [(parameterisation, target_accept, tune)]
    if not remedies:
        return plan
    # 1) smaller steps and longer adaptation; 2) the other explicit parameterisation. The
    # marginal model has no latent study effects to re-parameterise: swapping it for a
    # non-centred one only adds a funnel (measured: 8 minutes and worse diagnostics with one
    # dominant study), so its remedy is a still longer, more careful adaptation.
    plan.append((parameterisation, 0.99, 2 * tune))
    if parameterisation == "marginal":
        plan.append(("marginal", 0.999, 4 * tune))
    else:
        other = "centred" if parameterisation == "noncentred" else "noncentred"
        plan.append((other, 0.99, 2 * tune))
    return plan


def sweep_options(priors: Any) -> dict[str, Any]:
    """A prior sweep: the compiled kernel needs no compilation per prior at all; outside its
    families, nutpie reuses compiled PyMC models, from three tau-prior families on one model
    whose family is itself a switch (measured in docs/benchmarks.md)."""
    families = {p.family for p in priors if p.pymc_ok}
    if families <= set(KERNEL_TAU) and _nutpie_available():
        return {"sampler": "auto"}
    return {"sampler": "nutpie", "shared_tau_model": len(families) >= 3}
