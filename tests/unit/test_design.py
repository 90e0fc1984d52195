"""hiermeta.data.design: indicator, ordinal and continuous coding."""

from __future__ import annotations

import numpy as np
import pytest

import hiermeta as hm
from hiermeta.data.design import build_design


@pytest.fixture(scope="module")
def data() -> hm.EffectData:
    return hm.load_effects("bcg", covariates=["alloc", "ablat"])


def test_indicator_coding_sorts_levels_with_the_first_as_reference(data) -> None:
    design = build_design(data, ["alloc"])
    assert design.names == ("intercept", "alloc[random]", "alloc[systematic]")
    term = design.term("alloc")
    assert term.levels == ("alternate", "random", "systematic") and term.reference == "alternate"
    alloc = data.covariates["alloc"].to_numpy()
    np.testing.assert_array_equal(design.X[:, 1], alloc == "random")
    np.testing.assert_array_equal(design.level_vectors("alloc")["systematic"], [1, 0, 1])


def test_levels_choose_the_reference(data) -> None:
    design = build_design(data, ["alloc"], levels={"alloc": ["random", "alternate", "systematic"]})
    assert design.term("alloc").reference == "random"
    assert design.names[1] == "alloc[alternate]"


def test_ordinal_coding_is_one_trend_column(data) -> None:
    design = build_design(data, ["alloc"], coding={"alloc": "ordinal"})
    assert design.p == 2
    steps = {"alternate": 0, "random": 1, "systematic": 2}
    expected = [steps[a] for a in data.covariates["alloc"]]
    np.testing.assert_array_equal(design.X[:, 1], expected)


def test_continuous_moderator_is_one_column(data) -> None:
    design = build_design(data, ["ablat"])
    assert design.names == ("intercept", "ablat")
    np.testing.assert_array_equal(design.X[:, 1], data.covariates["ablat"].to_numpy(float))


def test_unknown_moderator_lists_the_covariates(data) -> None:
    with pytest.raises(hm.InputError, match="alloc"):
        build_design(data, ["region"])
