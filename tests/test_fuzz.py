"""Bad-input fuzzing: malformed tables never crash hiermeta (issue 6).

The only allowed outcomes are a result, an ``InputError`` naming the problem, or one of
hiermeta's documented warnings — never an exception from inside numpy, scipy or PyMC, and
never a partial output folder.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hiermeta as hm
from hiermeta.cli import main
from hiermeta.errors import HiermetaWarning

CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1e-8, 1e8, 1.0, 0.5, 2.0, float("nan")]),
    st.text(max_size=6),
    st.none(),
)
LABEL = st.one_of(
    st.text(max_size=5), st.sampled_from(["A", "B", "A"]), st.none(), st.integers(-3, 3)
)


@st.composite
def tables(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 6))
    return pd.DataFrame(
        {
            "study": [draw(LABEL) for _ in range(n)],
            "hr": [draw(CELL) for _ in range(n)],
            "lo": [draw(CELL) for _ in range(n)],
            "hi": [draw(CELL) for _ in range(n)],
            "p": [draw(CELL) for _ in range(n)],
        },
        dtype=object,
    )


def _analyse(frame: pd.DataFrame, on_unusable: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HiermetaWarning)  # documented warnings are allowed
        try:
            data = hm.from_ratio_ci(
                frame, "hr", "lo", "hi", study="study", p="p", on_unusable=on_unusable
            )  # type: ignore[arg-type]
        except hm.InputError:
            return
        for method in ("REML", "DL"):
            hm.frequentist(data, method=method).to_dict()
        fit = hm.bayesian(data)
        fit.prob(1.0)
        fit.quantile("tau", [0.5])


@pytest.mark.slow  # property-based fuzzing with a fixed budget
@settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(frame=tables(), on_unusable=st.sampled_from(["raise", "exclude"]))
def test_malformed_tables_give_input_errors_or_results(
    frame: pd.DataFrame, on_unusable: str
) -> None:
    _analyse(frame, on_unusable)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    hr=st.floats(1e-8, 1e8),
    width=st.floats(1e-6, 20.0),
    k=st.integers(1, 8),
)
def test_extreme_but_valid_ratios_are_analysed(hr: float, width: float, k: int) -> None:
    lo, hi = hr * np.exp(-width), hr * np.exp(width)
    frame = pd.DataFrame(
        {"study": [f"S{i}" for i in range(k)], "hr": [hr] * k, "lo": [lo] * k, "hi": [hi] * k}
    )
    _analyse(frame, "raise")


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(content=st.binary(max_size=200))
def test_cli_rejects_arbitrary_bytes_cleanly(content: bytes, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    csv = folder / "input.csv"
    csv.write_bytes(content)
    out = folder / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HiermetaWarning)
        code = main(
            [
                "fit",
                str(csv),
                "--estimate",
                "hr",
                "--lower",
                "lo",
                "--upper",
                "hi",
                "--out",
                str(out),
            ]
        )
    assert code in (0, 2)
    if code == 2:
        assert not out.exists()
    assert (
        sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    )  # no temp folder left


@pytest.mark.slow  # a 10,000-study analysis
def test_ten_thousand_studies(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(-0.2, 0.3, 10_000)
    se = rng.uniform(0.05, 0.5, 10_000)
    frame = pd.DataFrame(
        {"hr": np.exp(y), "lo": np.exp(y - 1.96 * se), "hi": np.exp(y + 1.96 * se)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HiermetaWarning)
        data = hm.from_ratio_ci(frame, "hr", "lo", "hi")
    assert data.k == 10_000
    assert np.isfinite(hm.frequentist(data).tau2)
    assert 0 < hm.bayesian(data).prob(1.0) <= 1


def test_one_study_is_analysed_or_refused_clearly() -> None:
    frame = pd.DataFrame({"study": ["Only"], "hr": [0.7], "lo": [0.5], "hi": [0.98]})
    data = hm.from_ratio_ci(frame, "hr", "lo", "hi", study="study")
    fit = hm.frequentist(data)
    assert fit.tau2 == 0  # metafor: tau² = 0 for k = 1
    assert hm.bayesian(data).prob(1.0) > 0.5  # the prior on tau keeps the posterior proper


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    y=st.lists(CELL, min_size=0, max_size=6),
    se=st.lists(
        st.one_of(st.floats(-1, 1), st.sampled_from([0.0, -0.1, float("nan"), 1e-12, 1e6])),
        min_size=0,
        max_size=6,
    ),
)
def test_log_se_input_with_zero_negative_or_missing_se(y: list, se: list) -> None:
    n = min(len(y), len(se))
    frame = pd.DataFrame({"y": y[:n], "se": se[:n]}, dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HiermetaWarning)
        try:
            data = hm.from_log_se(frame, y="y", se="se")
        except hm.InputError:
            return
        assert (data.se > 0).all()
        hm.frequentist(data).to_dict()
        hm.bayesian(data).prob(1.0)


# ------------------------------------------------------------------ hiermeta batch
BATCH_OPTION = st.sampled_from(
    [
        [],
        ["--engine", "REML"],
        ["--engine", "DL", "--engine", "exact"],
        ["--engine", "bogus"],
        ["--tau-prior", "HalfNormal(0.5)"],
        ["--tau-prior", "HalfNormal(-1)"],
        ["--tau-prior", "nonsense("],
        ["--mu-prior", "normal(0, 1e400)"],
        ["--ci-level", "95"],
        ["--ci-level", "abc"],
        ["--draws", "-1"],
        ["--draws", "100"],
        ["--chains", "0"],
        ["--measure", "XYZ"],
        ["--measure", "OR"],
        ["--leave-one-out"],
        ["--small-study"],
        ["--seed", "-3"],
        ["--analysis", "missing_column"],
        ["--moderator", "nope"],
        ["--workers", "0"],
    ]
)
ID = st.one_of(
    st.sampled_from(["a", "b", "007", "7", "=HYPERLINK(1)", "\x1b[31m", "NA"]), st.text(max_size=4)
)


@st.composite
def batch_tables(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 8))
    return pd.DataFrame(
        {
            "analysis": [draw(ID) for _ in range(n)],
            "study": [draw(LABEL) for _ in range(n)],
            "y": [draw(CELL) for _ in range(n)],
            "se": [draw(CELL) for _ in range(n)],
        },
        dtype=object,
    )


@pytest.mark.slow  # property-based fuzzing with a fixed budget
@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=batch_tables(), options=st.lists(BATCH_OPTION, max_size=2))
def test_batch_cli_gives_rows_or_one_line_errors(
    frame: pd.DataFrame, options: list[list[str]], tmp_path_factory, capsys
) -> None:
    """Hostile tables and option values: exit 0 (a table, failed rows allowed) or exit 2 with
    one line naming the problem — never a traceback, never raw control characters, never a
    formula cell — and a refused batch writes no folder."""
    folder = tmp_path_factory.mktemp("batchfuzz")
    csv = folder / "tasks.csv"
    frame.to_csv(csv, index=False)
    out = folder / "out"
    args = ["batch", str(csv), "--out", str(out), "--y", "y", "--se", "se", "--study", "study"]
    args += ["--no-progress", *[item for option in options for item in option]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            code = main(args)
        except SystemExit as stop:  # argparse: an invalid choice or value
            code = stop.code
    err = capsys.readouterr().err
    assert code in (0, 2), err
    assert "Traceback" not in err and "\x1b" not in err
    if code == 2:
        assert err.strip(), "an error must say what was wrong"
        assert not (out / "results.csv").exists()
    if code == 0 and (out / "results.csv").exists():
        text = (out / "results.csv").read_text(encoding="utf-8")
        assert "\n=" not in text and ",=" not in text  # formulas neutralised
