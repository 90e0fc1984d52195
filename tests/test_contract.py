"""The result contract, checked on every engine (scikit-learn's common-estimator-checks idea).

Each engine of the registry is fitted to the same data, with and without a categorical
moderator; every check below runs on every fit. Numbers are compared with oracles where one
exists: Cochran's Q and the typical within-study variance behind I² are the data's statistics,
pinned from metafor for every engine; the frequentist pooled effect and prediction interval
are metafor's; the NUTS fit (iid exact draws injected as its sampler) agrees with the exact
engine within Monte-Carlo error.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import hiermeta as hm
from conftest import make_iid_sampler
from hiermeta.results.contract import Estimate, Heterogeneity, MetaResult

#: metafor pins Q and the typical variance at full precision; 1e-8 relative leaves room only
#: for floating-point summation order.
METAFOR_REL = 1e-8
#: 4000 iid draws: a quantile's MCSE is ~0.03 posterior sd; 0.15 sd is five of them.
IID_TOL_SD = 0.15

_, IID_SAMPLER = make_iid_sampler()

FITTERS: dict[str, Callable[[hm.EffectData, list[str] | None], MetaResult]] = {
    "REML-wald": lambda d, m: hm.frequentist(d, "REML", moderators=m),
    "DL-knapp-hartung": lambda d, m: hm.frequentist(d, "DL", ci="knapp-hartung", moderators=m),
    "FE": lambda d, m: hm.frequentist(d, "FE", moderators=m),
    "exact": lambda d, m: hm.bayesian(d, moderators=m),
    "nuts": lambda d, m: hm.bayesian(
        d, engine="nuts", moderators=m, random_seed=3, sampler=IID_SAMPLER, progressbar=False
    ),
}
MODELS = {"random-effects": None, "subgroups": ["alloc"]}
SUMMARY_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "p_value", "interval"]
RATIO_COLUMNS = ["RR", "RR ci_low", "RR ci_high"]


@pytest.fixture(scope="module")
def data() -> hm.EffectData:
    return hm.load_effects("bcg", covariates=["alloc"])


@pytest.fixture(scope="module")
def fits(data: hm.EffectData) -> dict[tuple[str, str], MetaResult]:
    return {(e, m): FITTERS[e](data, mods) for e in FITTERS for m, mods in MODELS.items()}


@pytest.fixture(scope="module")
def metafor(metafor_reference: dict) -> dict[str, dict]:
    return {f["id"]: f for f in metafor_reference["fits"]}


CASES = [(e, m) for e in FITTERS for m in MODELS]
IDS = [f"{e}-{m}" for e, m in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_engine_implements_the_contract(case, fits) -> None:
    fit = fits[case]
    assert isinstance(fit, MetaResult)
    assert fit.engine in hm.ENGINES
    assert fit.family == hm.ENGINES[fit.engine].family
    pooled = fit.pooled()
    assert isinstance(pooled, Estimate) and pooled.low < pooled.estimate < pooled.high
    assert pooled.level == 0.95 and pooled.interval.startswith("95%")
    het = fit.heterogeneity()
    assert isinstance(het, Heterogeneity)
    assert 0 <= het.i2 <= 100 and het.h2 >= 1
    assert fit.methods() and all(isinstance(line, str) and line for line in fit.methods())
    assert fit.label in repr(fit)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_summary_has_one_schema(case, fits) -> None:
    fit = fits[case]
    table = fit.summary()
    assert list(table.columns) == SUMMARY_COLUMNS + RATIO_COLUMNS
    assert {"mu", "tau", "tau2", "I2", "H2", "Q"} <= set(table.index)
    assert table.loc["mu", "estimate"] == fit.pooled().estimate
    np.testing.assert_allclose(table.loc["mu", "RR"], np.exp(fit.pooled().estimate), rtol=1e-15)
    assert np.isnan(table.loc["tau", "RR"])  # tau has no ratio-scale meaning
    if case[1] == "subgroups":
        levels = {"alloc=alternate", "alloc=random", "alloc=systematic"}
        assert levels <= set(table.index)
    else:
        assert "predictive" in table.index


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_summary_frame_is_the_public_constructors_and_owns_its_labels(
    case, fits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """summary() builds its frame through pandas' block manager from cached labels and text
    columns: the result must be the frame pandas' public constructor builds (values, dtypes,
    index name), and editing one summary must leave the next untouched."""
    fit = fits[case]
    table = fit.summary()
    with monkeypatch.context() as patch:  # the public constructor's frame, from the same rows
        patch.delattr(pd.DataFrame, "_from_arrays")
        pd.testing.assert_frame_equal(table, fit.summary())

    def other_signature(arrays, columns, index):  # a pandas whose classmethod changed
        raise TypeError("unexpected keyword argument 'verify_integrity'")

    with monkeypatch.context() as patch:
        patch.setattr(pd.DataFrame, "_from_arrays", other_signature)
        pd.testing.assert_frame_equal(table, fit.summary())
    table.loc["mu", "interval"] = "edited"
    table.loc["mu", "estimate"] = 99.0
    table.index.name = "renamed"
    table.columns.name = "renamed"
    again = fit.summary()
    assert again.loc["mu", "interval"] != "edited" and again.loc["mu", "estimate"] != 99.0
    assert again.index.name == "param" and again.columns.name is None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_to_dict_has_one_schema_and_the_same_numbers(case, fits) -> None:
    reference = fits[("REML-wald", case[1])].to_dict()
    out = fits[case].to_dict()
    assert set(out) == set(reference)
    json.dumps(out, allow_nan=False)  # plain JSON: NaN and inf are None
    fit = fits[case]
    assert out["estimate"] == fit.pooled().estimate
    assert out["tau"] == fit.tau_estimate().estimate
    assert out["ratio"]["estimate"] == pytest.approx(np.exp(out["estimate"]), rel=1e-15)
    assert (out["probabilities"] is None) == (fit.family == "frequentist")
    assert (out["diagnostics"] is None) == (not fit.monte_carlo)
    assert len(out["levels"]) == (3 if case[1] == "subgroups" else 0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_q_and_the_typical_variance_are_metafors_for_every_engine(case, fits, metafor) -> None:
    ref = metafor["bcg_REML_z" if case[1] == "random-effects" else "bcg_REML_z_factor_alloc"]
    het = fits[case].heterogeneity()
    assert het.q == pytest.approx(ref["q"], rel=METAFOR_REL)
    assert het.q_df == ref["q_df"]
    assert het.q_p == pytest.approx(ref["q_p"], rel=1e-6)
    assert fits[case].q_statistic().vt == pytest.approx(ref["vt"], rel=METAFOR_REL)


@pytest.mark.parametrize("kind", ["z", "t-k-1", "t-k-2"])
def test_frequentist_prediction_is_metafors_and_names_its_kind(data, metafor, kind) -> None:
    fit = hm.frequentist(data, "REML", pi_kind=kind)
    pred = fit.prediction()
    assert pred is not None and pred.kind == kind
    ref = metafor["bcg_REML_z"]["pi"][kind]
    assert (pred.low, pred.high) == pytest.approx(ref, rel=METAFOR_REL)
    assert fit.to_dict()["pi_kind"] == kind
    assert fit.summary().loc["predictive", "ci_low"] == pred.low


def test_nuts_contract_numbers_agree_with_the_exact_engine(fits) -> None:
    for model in MODELS:
        nuts, exact = fits[("nuts", model)], fits[("exact", model)]
        for param in nuts.effect_params():
            a, b = nuts.effect(param), exact.effect(param)
            assert abs(a.estimate - b.estimate) < IID_TOL_SD * b.se, param
            assert abs(a.low - b.low) < IID_TOL_SD * b.se, param


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forest_plot_draws_every_engine(case, fits) -> None:
    import matplotlib.pyplot as plt

    fit = fits[case]
    by = "alloc" if case[1] == "subgroups" else None
    ax = fit.plot_forest(by=by, comparator=fits[("REML-wald", case[1])])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert set(fit.data.study) <= set(labels)  # every study has its row
    plt.close(ax.get_figure(root=True))
    with pytest.raises(hm.InputError, match="no categorical moderator 'region'"):
        fit.plot_forest(by="region")
    plt.close("all")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_unknown_parameters_are_input_errors_listing_valid_names(case, fits) -> None:
    with pytest.raises(hm.InputError, match="valid options"):
        fits[case].effect("alloc=nonexistent" if case[1] == "subgroups" else "beta[9]")
    if case[1] == "subgroups" and fits[case].family == "bayesian":  # not a bare KeyError
        with pytest.raises(hm.InputError, match="valid options are 'alternate', 'random'"):
            fits[case].prob_contrast("alloc=nonexistent", "alloc=random")


def test_registry_lists_every_engine_once() -> None:
    assert {"exact", "nuts", "REML", "DL", "FE"} <= set(hm.ENGINES)
    assert all(e.name == name for name, e in hm.ENGINES.items())
    with pytest.raises(hm.InputError, match="Did you mean 'exact'"):
        hm.bayesian(hm.load_effects("bcg"), engine="exakt")


@pytest.mark.parametrize("engine", ["exact", "nuts", "REML-wald"])
def test_levels_ending_in_a_bracket_keep_their_name(engine: str) -> None:
    """pandas' interval labels end in ']' ("(0, 1]"): a new-study row is named
    "predictive[g=(0, 1]]", and only its outer brackets may be taken off (stripping every
    bracket made the level unknown and broke every summary of such a fit)."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "y": [-0.4, -0.1, -0.6, 0.1, -0.3, -0.2],
            "se": [0.2, 0.3, 0.25, 0.2, 0.3, 0.22],
            "g": ["(0, 1]", "(1, 2]"] * 3,
        }
    )
    data = hm.from_log_se(frame, "y", "se", covariates=["g"])
    fit = FITTERS[engine](data, ["g"])
    table = fit.summary()
    assert {"g=(0, 1]", "g=(1, 2]"} <= set(table.index)
    if engine != "REML-wald":
        row = table.loc["predictive[g=(0, 1]]"]
        effect = table.loc["g=(0, 1]"]
        # a new study's interval is wider than the subgroup mean's (it adds tau)
        assert row["ci_low"] < effect["ci_low"] and row["ci_high"] > effect["ci_high"]
    assert np.isfinite(fit.tau_estimate().estimate)


def test_predictive_target_takes_off_only_the_outer_brackets() -> None:
    from hiermeta.results.posterior import predictive_target

    assert predictive_target("predictive") == "mu"
    assert predictive_target("predictive[g=(0, 1]]") == "g=(0, 1]"
    assert predictive_target("predictive[design=RCT]") == "design=RCT"


@pytest.mark.parametrize("prob", [0.0, 1.0, float("nan"), -0.5])
def test_quantile_probabilities_outside_the_open_interval_are_input_errors(fits, prob) -> None:
    for engine in ("exact", "nuts"):
        with pytest.raises(hm.InputError, match=r"must lie in \(0, 1\)"):
            fits[(engine, "random-effects")].quantile("tau", [prob, 0.5])
