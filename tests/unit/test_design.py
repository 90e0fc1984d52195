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


def test_intercept_only_design_is_shared_and_read_only(data) -> None:
    """Without moderators every fit of k studies shares one design (cached): its matrix is a
    read-only column of ones, so no fit can change another's; coding or levels without
    moderators are still checked against the covariates."""
    first, second = build_design(data), build_design(data, [], coding={}, levels={})
    assert first is second and first.names == ("intercept",) and first.terms == ()
    np.testing.assert_array_equal(first.X, np.ones((data.k, 1)))
    with pytest.raises(ValueError, match="read-only"):
        first.X[0, 0] = 2.0
    with pytest.raises(ValueError):  # a view of a read-only array cannot be made writable
        first.X.setflags(write=True)
    with pytest.raises(hm.InputError, match="covariates are"):
        build_design(data, coding={"nonexistent": "ordinal"})
