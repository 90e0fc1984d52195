"""Default priors fit the measure's scale, say where they come from, or stop with an error
that names the priors to give (issue 14.1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import hiermeta as hm
from hiermeta.errors import InputError, SpecError
from hiermeta.priors import HalfNormal, InverseGamma, LogTTau2, Normal
from hiermeta.priors.defaults import catalogue_for, default_priors

#: (dataset, expected mu prior, expected tau prior, words the methods must use)
BUNDLED = [
    ("ptr_mbc", Normal(0, 1), HalfNormal(0.5), "Friede"),
    ("bcg", Normal(0, 1), HalfNormal(0.5), "mean RR lies between 0.14 and 7.1"),
    ("hackshaw1998", Normal(0, 1), HalfNormal(0.5), "log OR scale"),
    ("normand1999", Normal(0, 1), InverseGamma(1, 0.15), "in standard deviations"),
    ("molloy2014", Normal(0, 0.5), InverseGamma(1, 0.075), "mean r lies between -0.75 and 0.75"),
    ("pritz1997", Normal(0, 2), HalfNormal(1), "mean proportion lies between 0.019 and 0.98"),
    ("eight_schools", Normal(0, 100), InverseGamma(1, 15), "outcome's standard deviation S = 100"),
]


@pytest.mark.parametrize(("name", "mu", "tau", "words"), BUNDLED)
@pytest.mark.filterwarnings("ignore::hiermeta.ExcludedStudiesWarning")  # ptr_mbc lists 3 rows
def test_default_fit_states_a_prior_on_the_measures_scale(name, mu, tau, words) -> None:
    data = hm.load_effects(name)
    chosen = default_priors(data)
    assert (chosen.mu, chosen.tau) == (mu, tau)
    fit = hm.bayesian(data)
    assert (fit.mu_prior, fit.tau_prior) == (mu, tau)
    methods = " ".join(fit.methods())
    assert words in methods
    if not data.is_ratio:  # never a log-HR statement for another measure
        assert "HR" not in methods and "log scale" not in methods


def _from_log_se(measure: str) -> hm.EffectData:
    table = pd.DataFrame({"y": [0.1, 0.3, -0.2], "se": [0.1, 0.2, 0.15]})
    return hm.from_log_se(table, "y", "se", measure=measure)


@pytest.mark.parametrize(
    ("measure", "hint"),
    [("MD", "outcome's units"), ("PR", "'PLO'"), ("COR", "'ZCOR'"), ("GEN", "mu_prior")],
)
def test_measures_without_a_universal_scale_ask_for_priors(measure: str, hint: str) -> None:
    data = _from_log_se(measure)
    with pytest.raises(InputError, match="mu_prior") as err:
        hm.bayesian(data)
    assert hint in str(err.value)
    # given priors, the fit runs
    fit = hm.bayesian(data, mu_prior=Normal(0, 1), tau_prior=HalfNormal(0.5))
    assert np.isfinite(fit.pooled().estimate)


def test_rd_and_rom_have_their_defaults() -> None:
    rd = default_priors(_from_log_se("RD"))
    assert rd == (Normal(0, 0.5), HalfNormal(0.099))
    assert default_priors(_from_log_se("ROM")) == (Normal(0, 1), HalfNormal(0.5))


def test_md_from_means_scales_the_smd_defaults_by_the_outcome_sd() -> None:
    table = hm.load_dataset("normand1999")
    data = hm.from_means(table, "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "source", "MD")
    sd = data.outcome_sd
    assert default_priors(data) == (Normal(0, sd), InverseGamma(1, 0.15 * sd))


def test_a_spec_for_an_md_without_priors_is_a_spec_error(tmp_path) -> None:
    (tmp_path / "md.csv").write_text("study,y,se\nA,1.0,0.5\nB,2.0,0.7\n")
    spec = hm.spec_from_dict(
        {"data": {"csv": "md.csv", "input": "log_se", "y": "y", "se": "se", "measure": "MD"}},
        tmp_path / "md.toml",
    )
    with pytest.raises(SpecError, match=r"\[priors\] mu is needed: a mean difference"):
        hm.run_spec(spec)


def test_batch_tasks_use_each_datasets_default() -> None:
    from hiermeta.pipeline.batch.tasks import make_tasks

    tasks = make_tasks(
        {
            "smd": hm.load_effects("normand1999"),
            "rr": hm.load_effects("bcg"),
            "md": _from_log_se("MD"),
        }
    )
    by_id = {t.task_id: t for t in tasks}
    assert by_id["smd"].tau_prior == InverseGamma(1, 0.15)
    assert by_id["rr"].tau_prior == HalfNormal(0.5)
    assert by_id["md"].data is None and "mean difference" in by_id["md"].data_error


def test_rhodes_log_t_prior_is_a_density_and_matches_its_quantiles() -> None:
    prior = LogTTau2.rhodes()
    total, _ = integrate.quad(
        lambda t: np.exp(prior.logpdf(np.array([t]))[0]), 0, np.inf, limit=400
    )
    assert total == pytest.approx(1, abs=1e-6)  # quad's own error on a heavy-tailed density
    # the median of tau is exp(location / 2): ln tau² is symmetric around the location
    assert float(prior.ppf(0.5)) == pytest.approx(np.exp(-3.44 / 2), rel=1e-12)
    q = float(prior.ppf(0.975))
    assert q == pytest.approx(np.exp((-3.44 + 2.59 * stats.t.ppf(0.975, 5)) / 2), rel=1e-12)
    with pytest.raises(InputError, match="Rhodes outcome type"):
        LogTTau2.rhodes("surgery", "any comparison")


def test_smd_catalogue_lists_literature_presets() -> None:
    names = list(catalogue_for(hm.load_effects("normand1999")))
    assert names[0].endswith("[default]")
    assert any("Rhodes 2015" in n for n in names) and any("Bartoš 2021" in n for n in names)
    table = hm.sensitivity(hm.load_effects("normand1999"))
    assert len(table) == len(names)
