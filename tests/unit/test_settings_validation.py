"""Sampler settings, probability thresholds and prior parameters: one check per value, the same
on every path (API, batch tasks, command line), before anything runs (issue 18, item 4)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.cli import main
from hiermeta.errors import InputError
from hiermeta.pipeline.batch.tasks import make_tasks

BAD_SETTINGS = [
    ({"target_accept": 1.5}, "target_accept must be strictly between 0 and 1"),
    ({"tune": -1}, "tune must be a whole number ≥ 0"),
    ({"chains": 0}, "chains must be a whole number ≥ 1"),
    ({"draws": 0}, "draws must be a whole number ≥ 1"),
    ({"draws": 2.5}, "draws must be a whole number ≥ 1"),
    ({"chains": True}, "chains must be a whole number ≥ 1"),
    ({"random_seed": -1}, "random_seed must be a whole number ≥ 0"),
]


def _never(*_: object) -> None:  # a sampler that must not be reached
    raise AssertionError("sampling started despite bad settings")


@pytest.mark.parametrize(("settings", "message"), BAD_SETTINGS)
def test_bad_sampler_settings_stop_before_sampling(settings: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        hm.bayesian(hm.load_effects("bcg"), engine="nuts", sampler=_never, **settings)


@pytest.mark.parametrize(("settings", "message"), BAD_SETTINGS[:-1])
def test_batch_tasks_check_the_same_settings_up_front(settings: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_tasks({"bcg": hm.load_effects("bcg")}, engine="nuts", nuts=settings)


def test_the_command_line_batch_exits_2_on_bad_settings(tmp_path: Path, capsys) -> None:
    data = hm.load_effects("bcg")
    table = pd.DataFrame({"analysis": "bcg", "study": data.study, "y": data.y, "se": data.se})
    table.to_csv(tmp_path / "long.csv", index=False)
    out = tmp_path / "out"
    code = main(
        [
            "batch",
            str(tmp_path / "long.csv"),
            "--out",
            str(out),
            "--engine",
            "nuts",
            "--draws",
            "-1",
        ]
    )
    assert code == 2
    assert "draws must be a whole number" in capsys.readouterr().err
    assert not (out / "results.csv").exists()  # nothing written


@pytest.mark.parametrize("below", [math.nan, math.inf, [0.5, 1.0], "1", None])
def test_prob_takes_one_finite_number(below: object) -> None:
    fit = hm.bayesian(hm.load_effects("bcg"))
    with pytest.raises(InputError, match="must be a finite number"):
        fit.prob(below)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [
        lambda: hm.priors.HalfNormal("0.5"),
        lambda: hm.priors.Normal(0, 1e400),
        lambda: hm.priors.Normal("a", 1),
        lambda: hm.priors.HalfCauchy(True),
        lambda: hm.priors.InverseGamma(2.0, -1.0),
    ],
)
def test_prior_parameters_are_finite_numbers(make) -> None:
    with pytest.raises(InputError, match="prior"):
        make()
