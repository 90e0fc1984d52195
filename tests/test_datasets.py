"""Bundled datasets: provenance, and the flagship table against its quoted source."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.data.datasets import data_dir


def test_every_dataset_loads_with_a_card() -> None:
    listing = hm.datasets()
    for name in listing.index:
        frame = hm.load_dataset(name)
        assert len(frame) == listing.loc[name, "rows"]
        assert frame.attrs["card"].startswith("#")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", hm.errors.ExcludedStudiesWarning)
            assert hm.load_effects(name).k >= 8


def test_flagship_numbers_equal_the_quoted_source() -> None:
    ours = pd.read_csv(data_dir() / "ptr_mbc.csv")
    source = pd.read_csv(data_dir() / "sources" / "ptr_mbc_sources.csv")
    assert list(ours["row"]) == list(source["row"])
    for column in ("hr", "ci_low", "ci_high"):
        pd.testing.assert_series_equal(ours[column], source[column], check_names=False)
    assert list(ours["quote"]) == list(source["quote"])
    assert (ours["ci_level"].dropna() * 100).round().astype(int).tolist() == source[
        "ci_level"
    ].dropna().astype(int).tolist()


def test_primary_analysis_has_one_estimate_per_cohort() -> None:
    frame = hm.load_dataset("ptr_mbc")
    primary = frame[frame["primary"]]
    assert primary["cohort"].is_unique
    assert len(primary) == 10


def test_unknown_dataset_lists_the_valid_ones() -> None:
    with pytest.raises(hm.InputError, match=r"unknown dataset 'ptr'.*'ptr_mbc'"):
        hm.load_dataset("ptr")
