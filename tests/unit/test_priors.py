"""hiermeta.priors: the family registry, the string parser, describe(), engine hooks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
from scipy import stats

import hiermeta as hm
from hiermeta.priors import families


@pytest.mark.parametrize("name", sorted(families.TAU_FAMILIES))
def test_every_registered_tau_family_is_built_from_its_name(name: str) -> None:
    cls = families.TAU_FAMILIES[name]
    assert cls.family == name
    defaults = {"halfstudentt": "(3, 0.5)", "lognormal_tau2": "(-2.56, 1.74)"}
    args = defaults.get(name, "(2.42, 0.30)" if name == "inversegamma" else "(0.5)")
    if name == "jeffreys":
        args = "()"
    prior = hm.priors.from_spec(f"{name}{args}")
    assert type(prior) is cls


def test_a_new_family_is_one_class() -> None:
    @dataclass(frozen=True)
    class HalfLogistic(hm.priors.TauPrior):
        family: ClassVar[str] = "test_halflogistic"
        scale: float = 1.0

        def logpdf(self, tau: np.ndarray) -> np.ndarray:
            return np.asarray(stats.halflogistic.logpdf(tau, scale=self.scale))

        def params(self) -> dict[str, float]:
            return {"scale": self.scale}

        def _pymc(self, pm: Any, name: str, values: dict[str, Any]) -> Any:
            raise NotImplementedError

    try:
        prior = hm.priors.from_spec("test_halflogistic(0.4)")
        assert prior == HalfLogistic(0.4)
        fit = hm.bayesian(hm.load_effects("bcg"), tau_prior=prior)  # the exact engine takes it
        assert 0 < fit.prob(1.0) < 1
    finally:
        del families.TAU_FAMILIES["test_halflogistic"]


def test_prior_strings_work_in_the_python_api_as_in_specs() -> None:
    data = hm.load_effects("bcg")
    by_string = hm.bayesian(data, tau_prior="halfcauchy(0.5)", mu_prior="normal(0, 2)")
    by_object = hm.bayesian(
        data, tau_prior=hm.priors.HalfCauchy(0.5), mu_prior=hm.priors.Normal(0, 2)
    )
    assert by_string.to_dict() == by_object.to_dict()


def test_unknown_family_lists_the_valid_ones() -> None:
    with pytest.raises(hm.InputError, match=r"valid options are .*'halfnormal'"):
        hm.priors.from_spec("halfnormol(0.5)")


def test_describe_states_quantiles_on_the_ratio_scale() -> None:
    text = hm.priors.HalfNormal(0.5).describe("HR")
    # oracle: scipy's half-normal quantiles
    assert f"prior median tau = {stats.halfnorm.ppf(0.5, scale=0.5):.2f}" in text
    assert f"95% below {stats.halfnorm.ppf(0.95, scale=0.5):.2f}" in text
    low, high = np.exp(stats.norm.ppf([0.025, 0.975]))
    assert f"between {low:.2f} and {high:.2g}" in hm.priors.Normal(0, 1).describe("HR")


def test_engine_hooks() -> None:
    assert hm.priors.Normal(1.0, 2.0).normal_moments() == (1.0, 0.25)
    assert hm.priors.Flat().normal_moments() == (0.0, 0.0)
    with pytest.raises(hm.InputError, match="engine='nuts'"):
        hm.priors.StudentT(3, 0, 1).normal_moments()
    assert hm.priors.Jeffreys().data_dependent and not hm.priors.HalfNormal(0.5).data_dependent
    with pytest.raises(hm.InputError, match="at least 2 studies"):
        hm.priors.Jeffreys().for_data(np.array([0.1]))
