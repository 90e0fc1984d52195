"""Hostile input and interruptions (issue 18): each test reproduces one failure of the
adversarial pass — it fails on the code before the fix — and checks the clear behaviour now."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hiermeta as hm
from conftest import make_iid_sampler
from hiermeta.cli import main

ROOT = Path(__file__).parents[1]
#: Ctrl-C must stop sampling within this many seconds (the samplers check for signals between
#: leapfrog steps; seconds leave room for a loaded CI machine).
STOP_WITHIN_S = 20.0


# ---------------------------------------------------------------------------- 1. interrupts
def test_a_truncated_sampling_run_is_never_a_result() -> None:
    """nutpie and PyMC catch Ctrl-C and return the draws made so far: that is an interruption."""
    _, full = make_iid_sampler()

    def interrupted(entry, draws, tune, chains, target_accept, seed, progressbar):  # type: ignore[no-untyped-def]
        return full(entry, draws // 4, tune, chains, target_accept, seed, progressbar)

    with pytest.raises(KeyboardInterrupt, match="sampling was interrupted: 4 chain"):
        hm.bayesian(hm.load_effects("bcg"), engine="nuts", random_seed=1, sampler=interrupted)


def _interrupt(command: list[str], after: float, cwd: Path) -> tuple[int, float, str]:
    """Run ``command``, wait for "START" on its stdout, send SIGINT ``after`` s later; return
    (exit code, seconds to stop, stderr)."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("START"):
            break
    time.sleep(after)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return -9, float("inf"), ""
    return process.returncode, time.monotonic() - sent, err


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["auto", "pymc"])
def test_ctrl_c_stops_a_nuts_fit_with_a_keyboard_interrupt(sampler: str, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import hiermeta as hm
            data = hm.load_effects("bcg")
            hm.bayesian(data, engine="nuts", draws=50, tune=50, chains=2, sampler={sampler!r},
                        random_seed=1, progressbar=False, remedies=False)
            print("START", flush=True)
            try:
                hm.bayesian(data, engine="nuts", draws=2_000_000, tune=100, chains=2,
                            sampler={sampler!r}, random_seed=1, progressbar=False)
                print("RETURNED A RESULT")
            except KeyboardInterrupt as err:
                print("INTERRUPTED", err)
                raise SystemExit(7)
            """
        )
    )
    code, seconds, err = _interrupt([sys.executable, str(script)], 2.0, tmp_path)
    assert code == 7 and seconds < STOP_WITHIN_S, err[-2000:]


@pytest.mark.slow
def test_ctrl_c_stops_a_nuts_batch_with_exit_130_and_keeps_the_folder(tmp_path: Path) -> None:
    effects = hm.load_effects("bcg").to_frame()[["study", "y", "se"]]
    table = pd.concat([effects.assign(analysis="a1"), effects.assign(analysis="a2")])
    table.to_csv(tmp_path / "tasks.csv", index=False)
    wrapper = tmp_path / "run.py"
    wrapper.write_text(
        "import sys\nfrom hiermeta.cli import main\nprint('START', flush=True)\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    command = [sys.executable, str(wrapper), "batch", "tasks.csv", "--out", "folder"]
    command += ["--engine", "nuts", "--draws", "2000000", "--tune", "100", "--chains", "2"]
    command += ["--no-progress"]
    code, seconds, err = _interrupt(command, 8.0, tmp_path)
    assert code == 130 and seconds < STOP_WITHIN_S, err
    assert "run the same command again to resume" in err
    rows = (tmp_path / "folder" / "rows.jsonl").read_text()
    assert rows == ""  # the interrupted fit is not recorded (the first task never finished)


# ---------------------------------------------------------------------------- 2. identifiers
def test_identifiers_are_text_exactly_as_written(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "study,hr,lo,hi\n001,0.8,0.6,1.1\n1.0,0.7,0.5,1.0\n1,0.9,0.7,1.2\nNA,0.6,0.4,0.9\n"
    )
    frame = hm.read_csv(labels)
    data = hm.from_ratio_ci(frame, "hr", "lo", "hi", study="study")
    assert data.study == ("001", "1.0", "1", "NA")
    ids = tmp_path / "ids.csv"
    ids.write_text(
        "analysis,study,y,se\n007,A,-0.2,0.1\n007,B,-0.1,0.2\n7,A,0.1,0.1\n7,B,0.3,0.2\n"
        "NA,A,0.0,0.1\nNA,B,0.1,0.2\n"
    )
    result = hm.batch(ids, progress=False).table
    assert sorted(result["analysis"]) == ["007", "7", "NA"] and (result["status"] == "ok").all()


def test_a_row_with_an_extra_field_is_an_error_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("study,hr,lo,hi\nSmith, Jones 2001,0.7,0.5,0.9\nB,0.8,0.6,1.0\n")
    with pytest.raises(
        hm.InputError, match=r"ragged.csv: line 2 has 5 fields but the header has 4"
    ):
        hm.read_csv(path)


# ---------------------------------------------------------------------------- 3. unstorable labels
def test_a_nul_character_in_a_label_is_refused_naming_the_study() -> None:
    frame = pd.DataFrame({"study": ["A\x00B", "C"], "y": [0.1, 0.2], "se": [0.1, 0.2]})
    with pytest.raises(hm.InputError, match=r"study 'A\\x00B': a label may not contain a NUL"):
        hm.from_log_se(frame, "y", "se", study="study")


# ---------------------------------------------------------------------------- 4. output folders
@pytest.mark.slow  # writes two reports
def test_two_specs_with_one_name_get_two_folders(tmp_path: Path) -> None:
    for folder, title in (("a", "first"), ("b", "second")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.toml").write_text(
            f'title = "{title}"\n[data]\ndataset = "bcg"\n[engines]\nfrequentist = ["REML"]\n'
        )
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                str(tmp_path / "a" / "x.toml"),
                str(tmp_path / "b" / "x.toml"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "first" in (out / "a-x" / "report.md").read_text()
    assert "second" in (out / "b-x" / "report.md").read_text()


# ---------------------------------------------------------------------------- 5. settings
def test_thresholds_that_print_alike_are_refused(tmp_path: Path) -> None:
    with pytest.raises(hm.InputError, match=r"0\.8 and 0\.8000001 print alike"):
        hm.batch(hm.load_effects("bcg"), thresholds=[0.8, 0.8000001], progress=False)
    spec = tmp_path / "s.toml"
    spec.write_text('[data]\ndataset = "bcg"\n[report]\nthresholds = [1.0, 0.8, 0.8000001]\n')
    with pytest.raises(hm.SpecError, match=r"s.toml: \[report\] thresholds 0.8 and 0.8000001"):
        hm.load_spec(spec)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[data]\ncsv = 123\n", r"\[data\] csv must be text"),
        (
            '[data]\ndataset = "bcg"\n[report]\nthresholds = "1"\n',
            r"thresholds must be a list of numbers",
        ),
        (
            '[data]\ndataset = "bcg"\n[engines]\nbayesian = [1]\n',
            r"bayesian must be a list of text",
        ),
    ],
)
def test_spec_values_of_the_wrong_type_are_named(tmp_path: Path, line: str, message: str) -> None:
    spec = tmp_path / "t.toml"
    spec.write_text(line)
    with pytest.raises(hm.SpecError, match=message):
        hm.load_spec(spec)


def test_a_single_engine_name_is_a_list_of_one_not_of_characters(tmp_path: Path) -> None:
    spec = tmp_path / "t.toml"
    spec.write_text('[data]\ndataset = "bcg"\n[engines]\nbayesian = "exact"\n')
    assert hm.load_spec(spec).engines["bayesian"] == ["exact"]


def test_batch_checks_the_ci_level_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = hm.load_effects("bcg").to_frame()[["study", "y", "se"]].assign(analysis="a")
    table.to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "out"
    code = main(
        ["batch", str(tmp_path / "t.csv"), "--out", str(out), "--ci-level", "95", "--no-progress"]
    )
    assert code == 2 and not out.exists()
    assert "--ci-level must lie in (0, 1); got 95" in capsys.readouterr().err


# ---------------------------------------------------------------------------- 6. every sink escaped
def test_results_csv_never_holds_a_spreadsheet_formula(tmp_path: Path) -> None:
    effects = hm.load_effects("bcg").to_frame()[["study", "y", "se"]]
    table = effects.assign(analysis='=HYPERLINK("http://evil","x")')
    result = hm.batch(table, out=tmp_path / "folder", progress=False)
    text = (tmp_path / "folder" / "results.csv").read_text()
    assert "'=HYPERLINK(" in text and '\n"=HYPERLINK' not in text and not text.startswith("=")
    assert result.table["task_id"].iloc[0].startswith("=")  # the table itself is unchanged


def test_terminal_escape_sequences_from_the_data_are_shown_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pd.DataFrame(
        {"analysis": "\x1b[31mRED", "study": ["A", "A"], "y": [0.1, 0.2], "se": [0.1, 0.2]}
    )
    table.to_csv(tmp_path / "t.csv", index=False)
    main(["batch", str(tmp_path / "t.csv"), "--out", str(tmp_path / "o"), "--no-progress"])
    captured = capsys.readouterr()
    assert "\x1b" not in captured.err + captured.out and "\\x1b[31mRED" in captured.err


def test_a_label_with_dollar_signs_is_drawn_as_written(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    frame = pd.DataFrame(
        {
            "study": ["Smith $x^$ 2019", "Jones $\\frac$ 2020", "C"],
            "y": [-0.2, -0.1, 0.1],
            "se": [0.1, 0.2, 0.15],
        }
    )
    fit = hm.bayesian(hm.from_log_se(frame, "y", "se", study="study"))
    from hiermeta.results import plots

    ax = plots.forest(fit)
    ax.figure.savefig(tmp_path / "forest.png")  # mathtext would raise here
    assert any("Smith $x^$ 2019" in t.get_text() for t in ax.get_yticklabels())


# ---------------------------------------------------------------------------- 7. files and values
def test_out_naming_a_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("x")
    csv = tmp_path / "ok.csv"
    csv.write_text("study,hr,lo,hi\nA,0.8,0.6,1.1\nB,0.7,0.5,1.0\nC,0.9,0.7,1.2\n")
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
            str(tmp_path / "afile"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "afile" in err and "Traceback" not in err


def test_a_damaged_rows_file_keeps_every_good_row(tmp_path: Path) -> None:
    effects = hm.load_effects("bcg").to_frame()[["study", "y", "se"]]
    table = pd.concat([effects.assign(analysis=a) for a in ("a1", "a2", "a3")])
    folder = tmp_path / "folder"
    hm.batch(table, out=folder, progress=False)
    rows = (folder / "rows.jsonl").read_bytes().splitlines(keepends=True)
    damaged = rows[0] + b"null\n" + b"[]\n" + b'{"status": "ok"}\n' + b"\xff\xfe{}\n" + rows[2]
    (folder / "rows.jsonl").write_bytes(damaged)  # a2's row is gone: it must run again
    with pytest.warns(hm.HiermetaWarning, match=r"line\(s\) \[2, 3, 4, 5\] are damaged"):
        again = hm.batch(table, out=folder, progress=False)
    assert again.ran == 1 and again.resumed == 2 and (again.table["status"] == "ok").all()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: hm.priors.Normal(0, 1e300), "prior sd 1e\\+300 is too large"),
        (
            lambda: hm.from_log_se(
                pd.DataFrame({"study": ["a", "b"], "y": [0.1, 0.2], "se": [1e200, 1e200]}),
                "y",
                "se",
                study="study",
            ),
            "study 'a': standard error 1e\\+200 is too large to be real",
        ),
        (
            lambda: hm.from_ratio_ci(
                pd.DataFrame(
                    {
                        "study": ["a", "b"],
                        "hr": [1e300, 0.5],
                        "lo": [1e299, 0.3],
                        "hi": [1e301, 0.9],
                    }
                ),
                "hr",
                "lo",
                "hi",
                study="study",
            ),
            "study 'a': HR 1e\\+300 \\(log 690.776\\) is not a plausible ratio",
        ),
    ],
)
def test_absurd_numbers_are_input_errors(make: object, message: str) -> None:
    with pytest.raises(hm.InputError, match=message):
        make()  # type: ignore[operator]


# ---------------------------------------------------------------------------- 6. large k
def test_the_forest_plot_of_thousands_of_studies_has_a_bounded_size() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from hiermeta.results import plots

    rng = np.random.default_rng(1)
    k = plots.FOREST_MAX_STUDIES + 250
    se = rng.uniform(0.05, 0.5, k)
    frame = pd.DataFrame(
        {"study": [f"S{i}" for i in range(k)], "y": rng.normal(-0.2, 0.2, k), "se": se}
    )
    ax = plots.forest(hm.bayesian(hm.from_log_se(frame, "y", "se", study="study")))
    assert tuple(ax.figure.get_size_inches()) == (10.5, 6.5)
    assert f"{k} studies, sorted by estimate" in ax.get_xlabel()


@pytest.mark.slow  # writes two reports
def test_a_report_in_an_earlier_reports_folder_holds_only_its_own_files(tmp_path: Path) -> None:
    first, second = tmp_path / "first.toml", tmp_path / "second.toml"
    first.write_text('[data]\ndataset = "bcg"\n[engines]\nfrequentist = ["REML"]\n[sensitivity]\n')
    second.write_text('[data]\ndataset = "bcg"\n[engines]\nfrequentist = ["REML"]\n')
    out = tmp_path / "out"
    assert main(["run", str(first), "--out", str(out)]) == 0
    assert (out / "sensitivity.png").exists()
    (out / "my notes.txt").write_text("mine")
    assert main(["run", str(second), "--out", str(out)]) == 0
    assert not (out / "sensitivity.png").exists()  # the earlier report's figure is gone
    assert (out / "my notes.txt").read_text() == "mine"  # files hiermeta did not write stay


# ---------------------------------------------------------------------------- 7. fuzzing
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hiermeta.pipeline.spec import _SCHEMA, spec_from_dict  # noqa: E402

HOSTILE_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "=HYPERLINK(1)",
            "\x1b[31m",
            "$x^$",
            "a|b",
            "\x00",
            "💥",
            "NA",
        ]
    ),
)
VALUE = st.one_of(
    HOSTILE_TEXT,
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.one_of(HOSTILE_TEXT, st.floats(), st.integers()), max_size=3),
    st.dictionaries(HOSTILE_TEXT, st.integers(), max_size=2),
)


@st.composite
def specs(draw: st.DrawFn) -> dict:
    raw: dict = {"data": {"dataset": "bcg"}}
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(sorted(s for s in _SCHEMA if s and "." not in s)))
        key = draw(st.sampled_from(sorted(_SCHEMA[section])))
        raw.setdefault(section, {})[key] = draw(VALUE)
    return raw


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_hostile_spec_values_give_spec_errors_or_a_spec(raw: dict) -> None:
    """Reading (not running) a spec with values of any type: a Spec or a SpecError/InputError."""
    try:
        spec = spec_from_dict(raw, Path("fuzz.toml"))
    except hm.InputError:
        return
    assert spec.engines["bayesian"] and all(isinstance(e, str) for e in spec.engines["bayesian"])


@pytest.mark.slow  # writes reports
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(labels=st.lists(HOSTILE_TEXT, min_size=3, max_size=3, unique=True))
def test_hostile_labels_never_reach_a_sink_raw(
    labels: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Labels with HTML, Markdown, formulas, escape sequences or mathtext: a report whose
    files hold none of them raw, or an InputError naming the label."""
    folder = tmp_path_factory.mktemp("fuzz")
    frame = pd.DataFrame({"study": labels, "y": [-0.3, -0.1, 0.2], "se": [0.1, 0.2, 0.15]})
    frame.to_csv(folder / "t.csv", index=False)
    out = folder / "out"
    code = main(["fit", str(folder / "t.csv"), "--y", "y", "--se", "se", "--out", str(out)])
    assert code in (0, 2)
    if code == 2:
        assert not out.exists()
        return
    html = (out / "report.html").read_text(encoding="utf-8")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in html and "<script>" not in markdown
    assert "\x1b" not in html + markdown


def test_the_stored_posterior_of_thousands_of_studies_has_no_per_study_draws() -> None:
    from hiermeta.pipeline.report.sections import POSTERIOR_MAX_STUDIES
    from hiermeta.pipeline.report.writer import stored_posterior

    rng = np.random.default_rng(2)
    k = POSTERIOR_MAX_STUDIES + 1
    frame = pd.DataFrame(
        {
            "study": [f"S{i}" for i in range(k)],
            "y": rng.normal(0, 0.2, k),
            "se": rng.uniform(0.1, 0.4, k),
        }
    )
    fit = hm.bayesian(hm.from_log_se(frame, "y", "se", study="study"))
    # the exact engine's own DataTree draws no study effects above the limit ...
    assert "theta" not in fit.idata.posterior
    # ... and a DataTree that has them (NUTS) is stored without them
    from hiermeta.results.idata import to_datatree

    d = fit.draws(200)
    idata = to_datatree(
        fit, d["tau"][None], d["beta"][None], d["theta"][None], d["predictive"][None]
    )
    stored = stored_posterior(idata, k)
    assert "theta" in idata.posterior and "theta" not in stored.posterior
    assert {"mu", "tau"} <= set(stored.posterior.data_vars)
    assert stored_posterior(idata, POSTERIOR_MAX_STUDIES) is idata


def test_large_k_draws_and_study_effects_stay_exact_and_bounded() -> None:
    """k = 10,000 made a report peak at 1.5 GB (4,000 × k conditional arrays) and the forest
    plot took 19 s (a parameter list rebuilt per study): the draws are now evaluated in blocks,
    study effects solved in one batch — with the same numbers."""
    from hiermeta.results.posterior import BayesianResult

    rng = np.random.default_rng(3)
    k = 400
    frame = pd.DataFrame(
        {
            "study": [f"S{i}" for i in range(k)],
            "y": rng.normal(0, 0.2, k),
            "se": rng.uniform(0.1, 0.4, k),
        }
    )
    fit = hm.bayesian(hm.from_log_se(frame, "y", "se", study="study"))
    with_studies, without = fit.draws(300, studies=True), fit.draws(300, studies=False)
    assert "theta" not in without
    for name in ("tau", "beta", "predictive"):
        np.testing.assert_array_equal(with_studies[name], without[name])
    batched = fit.study_effects().to_numpy()
    one_by_one = BayesianResult.study_effects(fit).to_numpy()
    np.testing.assert_allclose(batched, one_by_one, rtol=0, atol=1e-12)


def test_every_file_of_a_batch_folder_has_one_mode(tmp_path: Path) -> None:
    hm.batch(hm.load_effects("bcg"), out=tmp_path / "folder", progress=False)
    modes = {
        p.name: p.stat().st_mode & 0o777
        for p in (tmp_path / "folder").iterdir()
        if p.name != ".lock"
    }
    assert len(set(modes.values())) == 1, modes


def _disk_full_on(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make writing the file ``name`` fail as a full disk does (works as root, unlike a
    read-only folder, which root may write anyway)."""
    import errno

    real = Path.write_text

    def full(self: Path, *args: object, **kwargs: object) -> int:
        if self.name == name or self.name.startswith(f".{name}"):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", full)


@pytest.mark.slow  # writes a report or a batch folder (make test, CI)
def test_a_full_disk_during_a_report_is_one_line_and_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text('[data]\ndataset = "bcg"\n[engines]\nfrequentist = ["REML"]\n')
    _disk_full_on(monkeypatch, "summary.json")
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder


@pytest.mark.slow  # writes a report or a batch folder (make test, CI)
def test_a_full_disk_at_the_end_of_a_batch_keeps_every_finished_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "tasks.csv"
    frame = hm.load_effects("bcg").to_frame()
    pd.concat([frame.assign(analysis="a"), frame.assign(analysis="b")]).to_csv(csv, index=False)
    out = tmp_path / "out"
    args = ["batch", str(csv), "--out", str(out), "--y", "y", "--se", "se", "--measure", "RR"]
    _disk_full_on(monkeypatch, "results.csv")
    assert main([*args, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert sorted(r["analysis"] for r in rows) == ["a", "b"]
    monkeypatch.undo()  # space again: the same command finishes without refitting
    assert main([*args, "--no-progress"]) == 0
    assert (out / "results.csv").is_file()


#: Spec values that used to crash `hiermeta run` with a traceback (or be ignored): each must
#: stop before anything runs with one line naming the key.
BAD_SPEC_VALUES = [
    ('[data]\ndataset = "bcg"\nestimate = ["hr"]', "[data] estimate must be text"),
    ('[data]\ncsv = "x.csv"\nsep = 1', "[data] sep must be one character"),
    ('[data]\ncsv = "x.csv"\ndecimal = 1', "[data] decimal must be one character"),
    ('[data]\ncsv = "x.csv"\nsep = ";;"', "[data] sep must be one character"),
    ('[data]\ndataset = "bcg"\n[model]\nlevels = "rct"', "[model] levels must be a table"),
    (
        '[data]\ndataset = "bcg"\n[model]\nlevels = { alloc = 1 }',
        "[model] levels.alloc must be a list",
    ),
    ('[data]\ndataset = "bcg"\n[model]\ncoding = 1', "[model] coding must be a table"),
    (
        '[data]\ndataset = "bcg"\n[model]\nsubgroup_tau = "yes"',
        "[model] subgroup_tau must be true or false",
    ),
    (
        '[data]\ndataset = "bcg"\n[nuts]\nrandom_seed = "x"',
        "[nuts] random_seed must be a whole number",
    ),
    (
        '[data]\ndataset = "bcg"\n[nuts]\ntarget_accept = 1.5',
        "[nuts] target_accept must be a number between 0 and 1",
    ),
    ('[data]\ndataset = "bcg"\n[nuts]\ndraws = -1', "[nuts] draws must be a whole number ≥ 1"),
    ('[data]\ndataset = "bcg"\n[nuts]\ndraws = "100"', "[nuts] draws must be a whole number ≥ 1"),
    (
        '[data]\ndataset = "bcg"\n[influence]\ngosh_subsets = -5',
        "[influence] gosh_subsets must be a whole number ≥ 1",
    ),
    (
        '[data]\ndataset = "bcg"\n[influence]\nleave_one_out = "no"',
        "[influence] leave_one_out must be true or false",
    ),
    ('[data]\ndataset = "bcg"\n[cumulative]\norder = 1', "[cumulative] order must be text"),
    (
        '[data]\ndataset = "bcg"\n[cumulative]\nlevel = 95',
        "[cumulative] level must be a number between 0 and 1",
    ),
    (
        '[simulation]\nk = "x"\ntau = 0.1\nhr = { a = 0.8 }\nstrata = { a = 4 }\nrandom_seed = 1',
        "[simulation] k must be a whole number ≥ 1",
    ),
    (
        "[simulation]\nk = 4\ntau = -1\nhr = { a = 0.8 }\nstrata = { a = 4 }\nrandom_seed = 1",
        "[simulation] tau must be a number ≥ 0",
    ),
    (
        "[simulation]\nk = 4\ntau = 0.1\nhr = -1\nstrata = { a = 4 }\nrandom_seed = 1",
        "[simulation] hr must be a table",
    ),
    (
        "[simulation]\nk = 4\ntau = 0.1\nhr = { a = -0.8 }\nstrata = { a = 4 }\nrandom_seed = 1",
        "[simulation] hr.a must be a positive ratio",
    ),
    (
        "[simulation]\nk = 4\ntau = 0.1\nhr = { a = 0.8 }\nstrata = 3\nrandom_seed = 1",
        "[simulation] strata must be a table",
    ),
    (
        "[simulation]\nk = 4\ntau = 0.1\nhr = { a = 0.8 }\nstrata = { a = 4 }\nrandom_seed = -1",
        "[simulation] random_seed must be a whole number ≥ 0",
    ),
    (
        '[data]\ndataset = "bcg"\n[report]\nci_level = "0.9"',
        "[report] ci_level must be a finite number",
    ),
]


@pytest.mark.parametrize(("toml", "message"), BAD_SPEC_VALUES, ids=[m for _, m in BAD_SPEC_VALUES])
def test_bad_spec_values_stop_run_with_one_line_naming_the_key(
    tmp_path: Path, toml: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.csv").write_text("study,hr,lo,hi\nA,0.8,0.6,1.1\nB,0.7,0.5,0.9\n")
    spec = tmp_path / "bad.toml"
    spec.write_text(toml + "\n")
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_one_rule_for_seeds_and_draw_counts_on_every_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = hm.load_effects("bcg")
    for call in (
        lambda: hm.bayesian(data, random_seed=-1),  # the exact engine took it silently
        lambda: hm.bayesian(data, random_seed="x"),
        lambda: hm.bayesian(data).draws(-1),  # was numpy's "negative dimensions"
        lambda: hm.bayesian(data).draws(0),
        lambda: hm.bayesian(data).draws(10, random_seed=-2),
    ):
        with pytest.raises(hm.InputError, match="must be a whole number"):
            call()
    csv = tmp_path / "s.csv"
    data.to_frame().to_csv(csv, index=False)
    args = ["fit", str(csv), "--y", "y", "--se", "se", "--measure", "RR", "--study", "study"]
    assert main([*args, "--seed", "-3"]) == 2  # as `hiermeta batch --seed -3`
    assert "random_seed must be a whole number ≥ 0" in capsys.readouterr().err


@pytest.mark.slow  # a subprocess that starts sampling, then Ctrl-C
def test_ctrl_c_stops_hiermeta_fit_with_exit_130_and_no_output_folder(tmp_path: Path) -> None:
    hm.load_effects("bcg").to_frame().to_csv(tmp_path / "s.csv", index=False)
    wrapper = tmp_path / "run.py"
    wrapper.write_text(
        "import sys\nfrom hiermeta.cli import main\nprint('START', flush=True)\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    command = [sys.executable, str(wrapper), "fit", "s.csv", "--y", "y", "--se", "se"]
    command += ["--measure", "RR", "--study", "study", "--engine", "nuts", "--out", "report"]
    command += ["--no-progress"]
    # draws are the spec default; a fit of k = 13 takes a few seconds: interrupt early
    code, seconds, err = _interrupt(command, 4.0, tmp_path)
    assert code == 130 and seconds < STOP_WITHIN_S, err
    assert "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "report").exists()


def test_out_as_a_dangling_symlink_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere" / "at-all")
    csv = tmp_path / "s.csv"
    hm.load_effects("bcg").to_frame().assign(analysis="a").to_csv(csv, index=False)
    spec = tmp_path / "s.toml"
    spec.write_text('[data]\ndataset = "bcg"\n[engines]\nfrequentist = ["REML"]\n')
    fit = ["fit", str(csv), "--y", "y", "--se", "se", "--measure", "RR", "--study", "study"]
    batch = ["batch", str(csv), "--y", "y", "--se", "se", "--measure", "RR", "--no-progress"]
    for args in (
        [*fit, "--out", str(link)],
        ["run", str(spec), "--out", str(link)],
        [*batch, "--out", str(link)],
    ):
        assert main(args) == 2, args[0]
        err = capsys.readouterr().err
        assert str(link) in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert link.is_symlink() and not link.exists()  # nothing written through the link


@pytest.mark.slow  # writes two full reports
def test_hostile_spec_names_and_levels_are_escaped_at_every_sink(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text(
        "study,hr,lo,hi,design\nA,0.8,0.6,1.1,<b>rct</b>\nB,0.7,0.5,0.9,<b>rct</b>\n"
        "C,0.9,0.7,1.2,obs\nD,0.6,0.4,0.9,obs\n"
    )
    hostile = tmp_path / "<img src=x onerror=alert(1)>.toml"
    body = (
        '[data]\ncsv = "d.csv"\nestimate = "hr"\nlower = "lo"\nupper = "hi"\nstudy = "study"\n'
        'covariates = ["design"]\n[model]\nmoderators = ["design"]\n[engines]\nfrequentist = ["REML"]\n'
    )
    hostile.write_text(body)
    (tmp_path / "plain.toml").write_text(body)
    out = tmp_path / "out"
    assert main(["run", str(hostile), str(tmp_path / "plain.toml"), "--out", str(out)]) == 0
    pages = [out / "index.html", *out.glob("*/report.html"), *out.glob("*/report.md")]
    assert len(pages) == 5
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<img src=x" not in text and "<b>rct</b>" not in text, page


@pytest.mark.slow  # writes a report or a batch folder (make test, CI)
def test_a_nul_label_fails_only_its_own_analysis_in_a_posteriors_batch(tmp_path: Path) -> None:
    csv = tmp_path / "tasks.csv"
    csv.write_text(
        "analysis,study,y,se\na,A\x00B,-0.2,0.1\na,C,-0.1,0.2\nb,A,0.1,0.1\nb,B,0.3,0.2\n",
        encoding="utf-8",
    )
    for _ in range(2):  # and again: the resume keeps the good analysis, re-reports the bad one
        with pytest.warns(hm.BatchWarning, match="1 of 2 tasks failed"):
            table = hm.batch(csv, posteriors=True, out=tmp_path / "out", progress=False).table
        status = dict(zip(table["analysis"], table["status"], strict=True))
        assert status == {"a": "failed", "b": "ok"}
        error = table.set_index("analysis").loc["a", "error"]
        assert "NUL" in error
    assert (tmp_path / "out" / "posteriors").is_dir()


@pytest.mark.slow  # writes a report or a batch folder (make test, CI)
def test_non_bmp_characters_in_file_and_column_names_are_fine(tmp_path: Path) -> None:
    csv = tmp_path / "💥data.csv"
    csv.write_text(
        "study,hr💥,lo,hi\nA,0.8,0.6,1.1\nB,0.7,0.5,0.9\nC,0.9,0.7,1.2\n", encoding="utf-8"
    )
    args = [
        "fit",
        str(csv),
        "--estimate",
        "hr💥",
        "--lower",
        "lo",
        "--upper",
        "hi",
        "--study",
        "study",
    ]
    assert main([*args, "--out", str(tmp_path / "r💥")]) == 0
    assert "💥data" in (tmp_path / "r💥" / "report.md").read_text(encoding="utf-8")


def test_unknown_engine_options_through_the_api_are_named() -> None:
    data = hm.load_effects("bcg")
    with pytest.raises(hm.InputError, match=r"options \['foo'\] do not apply to engine='nuts'"):
        hm.bayesian(data, engine="nuts", foo=1)
    with pytest.raises(hm.InputError, match=r"options \['draws'\] do not apply to engine='exact'"):
        hm.bayesian(data, engine="exact", draws=100)
