"""RevMan 5 import (issue 14.5): every outcome kind of the example file, the round trip to the
equivalent CSV analyses, and errors that name the file and outcome."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.cli import main
from hiermeta.data.revman import read_revman, revman_effects
from hiermeta.errors import InputError

EXAMPLES = Path(__file__).parents[1] / "data" / "examples"
RM5 = EXAMPLES / "revman_example.rm5"
#: RevMan writes its per-study SE at double precision; the conversions are closed-form.
SE_TOL = 1e-12


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return read_revman(RM5)


def test_every_outcome_kind_is_read(table: pd.DataFrame) -> None:
    kinds = dict(zip(table.outcome_id, table.kind, strict=False))
    assert kinds == {
        "CMP-001.01": "dichotomous",
        "CMP-001.02": "continuous",
        "CMP-001.03": "generic",
        "CMP-001.04": "o-e and variance",
    }
    assert table.attrs["title"].startswith("Drug X")
    # identifiers are decoded (_x002d_ is '-') and the study names come from the study list
    assert "Dupont-Moreau 2018" in set(table.study)
    assert set(table.loc[table.outcome_id == "CMP-001.01", "subgroup"]) == {
        "Low dose (up to 10 mg/day)",
        "High dose (more than 10 mg/day)",
    }


@pytest.mark.parametrize("outcome", ["CMP-001.01", "CMP-001.02", "CMP-001.03"])
def test_study_standard_errors_match_the_file(table: pd.DataFrame, outcome: str) -> None:
    """The SE RevMan stored for each study (an independent computation) equals ours."""
    data = revman_effects(table, outcome)
    tree = ET.parse(RM5).getroot()
    element = next(e for e in tree.iter() if e.get("ID") == outcome)
    stored = [float(d.get("SE")) for d in element.iter() if d.tag.endswith("_DATA")]
    np.testing.assert_allclose(data.se, stored, rtol=SE_TOL)


def _same(a: hm.EffectData, b: hm.EffectData) -> None:
    assert a.study == b.study and a.measure == b.measure
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.se, b.se)


def test_round_trip_into_the_same_analysis_as_the_csv(table: pd.DataFrame) -> None:
    events = pd.read_csv(EXAMPLES / "mortality_events.csv")
    _same(
        revman_effects(table, "CMP-001.01"),
        hm.from_events(
            events, "deaths_drug", "n_drug", "deaths_placebo", "n_placebo", "study", "RR"
        ),
    )
    means = hm.read_csv(EXAMPLES / "blood_pressure_semicolon.csv")
    _same(
        revman_effects(table, "CMP-001.02"),
        hm.from_means(
            means,
            "mean_drug",
            "sd_drug",
            "n_drug",
            "mean_placebo",
            "sd_placebo",
            "n_placebo",
            "study",
            "MD",
        ),
    )
    log_hr = pd.read_csv(EXAMPLES / "hospitalisation_log_hr.csv")
    _same(
        revman_effects(table, "CMP-001.03"), hm.from_log_se(log_hr, "log_hr", "se", study="study")
    )
    logrank = pd.read_csv(EXAMPLES / "survival_logrank.csv")
    _same(revman_effects(table, "CMP-001.04"), hm.from_oe_v(logrank, "o_minus_e", "v", "study"))
    # and the whole analysis agrees
    a = hm.frequentist(revman_effects(table, "CMP-001.02"))
    b = hm.frequentist(
        hm.from_means(
            means,
            "mean_drug",
            "sd_drug",
            "n_drug",
            "mean_placebo",
            "sd_placebo",
            "n_placebo",
            "study",
            "MD",
        )
    )
    assert a.to_dict() == b.to_dict()


def test_the_cli_fits_a_revman_outcome_like_the_csv(tmp_path: Path, capsys) -> None:
    assert main(["fit", str(RM5), "--outcome", "CMP-001.03", "--json"]) == 0
    from_rm5 = capsys.readouterr().out
    assert (
        main(
            [
                "fit",
                str(EXAMPLES / "hospitalisation_log_hr.csv"),
                "--y",
                "log_hr",
                "--se",
                "se",
                "--study",
                "study",
                "--json",
            ]
        )
        == 0
    )
    from_csv = capsys.readouterr().out
    strip = lambda text: re.sub(r"hospitalisation_log_hr(\.csv)?|revman_example(\.rm5)?", "X", text)  # noqa: E731
    assert strip(from_rm5) == strip(from_csv)


def test_unknown_outcome_lists_the_outcomes(table: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"CMP-001\.02 \(Systolic blood pressure"):
        revman_effects(table, "CMP-009.01")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not xml at all", "invalid XML"),
        ("<?xml version='1.0'?><OTHER/>", "root element is <OTHER>"),
    ],
)
def test_files_that_are_not_revman_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.rm5"
    path.write_text(content)
    with pytest.raises(InputError, match=f"bad.rm5: .*{message}"):
        read_revman(path)


def test_a_bad_number_names_the_outcome_and_study(tmp_path: Path) -> None:
    text = RM5.read_text(encoding="utf-8").replace('MEAN_1="128.4"', 'MEAN_1="12x"')
    path = tmp_path / "typo.rm5"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"CMP-001\.02.*Alvarez 2009.*MEAN_1 = '12x'"):
        read_revman(path)
