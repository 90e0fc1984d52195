"""Effect-size input: conversions and the forensic checks (every bad input gets a clear error)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hiermeta as hm
from hiermeta.errors import AsymmetricCIWarning, ExcludedStudiesWarning


def _table(**columns: list) -> pd.DataFrame:
    base = {
        "study": ["Soran 2018", "Khan 2022"],
        "hr": [0.66, 1.11],
        "lo": [0.49, 0.82],
        "hi": [0.88, 1.52],
    }
    base.update(columns)
    return pd.DataFrame(base)


def _convert(frame: pd.DataFrame, **kwargs: object) -> hm.EffectData:
    return hm.from_ratio_ci(frame, estimate="hr", lower="lo", upper="hi", study="study", **kwargs)  # type: ignore[arg-type]


def test_90_percent_ci_uses_z_1645() -> None:
    data = _convert(_table(), ci_level=0.90)
    expected = (math.log(1.52) - math.log(0.82)) / (2 * stats.norm.ppf(0.95))
    assert data.se[1] == pytest.approx(expected, rel=1e-12)


def test_inverted_study_swaps_bounds() -> None:
    data = _convert(_table(), invert=["Soran 2018"])
    assert data.y[0] == pytest.approx(-math.log(0.66))
    assert "direction inverted" in data.conversions[0]


def test_peto_oe_v() -> None:
    data = hm.from_oe_v(pd.DataFrame({"oe": [-5.0, 2.0], "v": [20.0, 10.0]}), o_minus_e="oe", v="v")
    np.testing.assert_allclose(data.y, [-0.25, 0.2])
    np.testing.assert_allclose(data.se, [1 / math.sqrt(20), 1 / math.sqrt(10)])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hr": ["0.66", "abc"]}, "study 'Khan 2022': 'hr' is 'abc', which is not a number"),
        ({"hr": [0.66, -1.11]}, "study 'Khan 2022': HR -1.11 must be positive"),
        ({"lo": [0.49, 1.6]}, "study 'Khan 2022': lower CI 1.6 is not below upper 1.52"),
        ({"hr": [0.66, 1.7]}, "study 'Khan 2022': HR 1.7 lies outside its own CI 0.82–1.52"),
        ({"lo": [0.49, 0.0]}, "study 'Khan 2022': CI bound 0 must be positive"),
        ({"study": ["A", "A"]}, "duplicate study labels \\['A'\\]"),
    ],
)
def test_bad_values_name_the_study_and_value(change: dict, message: str) -> None:
    with pytest.raises(hm.InputError, match=message):
        _convert(_table(**change))


def test_nan_estimate_is_reported_not_dropped() -> None:
    frame = _table(hr=[0.66, np.nan])
    with pytest.raises(hm.InputError, match="study 'Khan 2022': 'hr' is missing"):
        _convert(frame)
    with pytest.warns(ExcludedStudiesWarning, match="Khan 2022"):
        data = _convert(frame, on_unusable="exclude")
    assert data.k == 1
    assert list(data.excluded.study) == ["Khan 2022"]


def test_p_below_005_only_is_unusable_with_the_reason() -> None:
    frame = pd.DataFrame(
        {
            "study": ["A", "B"],
            "hr": [0.5, 0.83],
            "lo": [0.3, None],
            "hi": [0.8, None],
            "p": ["0.004", "<0.05"],
        }
    )
    with pytest.warns(ExcludedStudiesWarning):
        data = _convert(frame, p="p", on_unusable="exclude")
    assert (
        data.excluded.reason[0]
        == "no confidence interval and no exact p-value (reported p: '<0.05')"
    )


def test_exact_p_gives_the_se() -> None:
    frame = pd.DataFrame({"study": ["Yu"], "hr": [0.36], "lo": [None], "hi": [None], "p": [0.034]})
    data = _convert(frame, p="p")
    assert data.se[0] == pytest.approx(abs(math.log(0.36)) / stats.norm.isf(0.017), rel=1e-12)


def test_missing_column_lists_the_columns() -> None:
    with pytest.raises(
        hm.InputError,
        match="column 'upper' not found; the table has columns \\['study', 'hr', 'lo', 'hi'\\]",
    ):
        hm.from_ratio_ci(_table(), estimate="hr", lower="lo", upper="upper", study="study")


@pytest.mark.parametrize(
    ("level", "expected"),
    [(95, "got 95. Did you mean 0.95?"), (1.5, "got 1.5.$"), (0, "got 0.$")],
)
def test_ci_level_outside_0_1(level: float, expected: str) -> None:
    with pytest.raises(
        hm.InputError, match=r"ci_level must lie in \(0, 1\); " + expected.replace("?", r"\?")
    ):
        _convert(_table(), ci_level=level)


def test_empty_table() -> None:
    with pytest.raises(hm.InputError, match="the table is empty"):
        _convert(_table().iloc[0:0])


def test_zero_or_negative_se() -> None:
    with pytest.raises(hm.InputError, match="study 'B': standard error 0 in 'se' must be positive"):
        hm.from_log_se(
            pd.DataFrame({"s": ["A", "B"], "y": [0.1, 0.2], "se": [0.1, 0.0]}),
            y="y",
            se="se",
            study="s",
        )


def test_asymmetric_ci_warns_with_the_study() -> None:
    frame = _table(hi=[0.88, 3.5])  # 1.11 is far from the log-midpoint of 0.82–3.5
    with pytest.warns(AsymmetricCIWarning, match="study 'Khan 2022'"):
        _convert(frame)


def test_rounded_published_cis_do_not_warn() -> None:
    from hiermeta.data.datasets import data_dir

    frame = pd.read_csv(data_dir() / "ptr_mbc.csv")
    frame = frame[frame["ci_low"].notna()]
    with warnings.catch_warnings():
        warnings.simplefilter("error", AsymmetricCIWarning)
        hm.from_ratio_ci(frame, "hr", "ci_low", "ci_high", study="study", ci_level="ci_level")


def test_cis_computed_at_full_precision_do_not_warn() -> None:
    # found by the batch work: a CI computed as exp(y ± 1.96 se) and stored unrounded is
    # symmetric only up to the round-off of exp/log (~1e-16), which once counted as asymmetry
    rng = np.random.default_rng(0)
    y, se = rng.normal(-0.2, 0.3, 200), rng.uniform(0.1, 0.5, 200)
    frame = pd.DataFrame(
        {"hr": np.exp(y), "lo": np.exp(y - 1.96 * se), "hi": np.exp(y + 1.96 * se)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", AsymmetricCIWarning)
        hm.from_ratio_ci(frame, "hr", "lo", "hi")


def test_duplicates_can_be_numbered() -> None:
    data = _convert(_table(study=["Lane 2019", "Lane 2019"]), duplicates="suffix")
    assert data.study == ("Lane 2019 [1]", "Lane 2019 [2]")


def test_user_frame_is_not_modified() -> None:
    frame = _table()
    before = frame.copy()
    _convert(frame, invert=["Khan 2022"])
    pd.testing.assert_frame_equal(frame, before)


def test_2x2_rejects_negative_counts() -> None:
    frame = pd.DataFrame({"a": [3, -1], "b": [10, 10], "c": [4, 4], "d": [9, 9]})
    with pytest.raises(
        hm.InputError, match="study 'Study 2': count 'a' = -1 must be a whole number"
    ):
        hm.from_2x2(frame, "a", "b", "c", "d")


def test_unknown_measure_lists_valid_ones() -> None:
    with pytest.raises(
        hm.InputError, match="unknown measure 'hazard'; valid options are 'HR', 'OR'"
    ):
        _convert(_table(), measure="hazard")


def test_effectdata_is_immutable() -> None:
    data = _convert(_table())
    with pytest.raises(ValueError, match="read-only"):
        data.y[0] = 1.0
