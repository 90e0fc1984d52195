"""hm.batch in this process: numbers against oracles, failures, the resumable folder, the CLI.

Oracles: every exact-engine row must equal hm.bayesian(engine="exact") on the same data (whose
own accuracy is proven against bayesmeta and brute force in test_exact_*); every frequentist
row must equal metafor (tests/reference/metafor_reference.json); every converted analysis must
equal converting that analysis alone.
"""

from __future__ import annotations

import fcntl
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.cli import main
from hiermeta.engines.exact import fit_exact
from hiermeta.engines.exact.vectorised import summarise_many
from hiermeta.pipeline.batch import BatchWarning, Task, read_tasks
from hiermeta.pipeline.batch import api as batch_api

#: The vectorised engine runs fit_exact's algorithm on arrays (same nodes, same formulas);
#: they differ only by floating-point order and by fit_exact dropping nodes with weight
#: < 1e-18 of the largest — far below this.
VECTOR_TOL = 1e-9
#: hm.sensitivity integrates every prior on one shared 64-panel grid, the batch on each prior's
#: own grid: both are accurate to < 1e-6 (test_exact_accuracy), so they agree to about that.
SHARED_GRID_TOL = 2e-6
#: metafor writes 15 significant digits and converges to 1e-12 (as in test_frequentist_metafor).
METAFOR_REL = 1e-6
#: Columns that describe where and how long a task ran, not its result.
RUN_COLUMNS = ["seconds", "worker"]

REFERENCE = json.loads((Path(__file__).parent / "reference" / "metafor_reference.json").read_text())
TAU_PRIORS = [
    hm.priors.HalfNormal(0.5),
    hm.priors.HalfCauchy(1.0),
    hm.priors.LogNormalTau2(-2.56, 1.74),
    hm.priors.InverseGamma(2.42, 0.30),
    hm.priors.Exponential(2.0),
]


def _long_table(n: int, seed: int, k_range: tuple[int, int] = (1, 20)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for a in range(n):
        k = int(rng.integers(k_range[0], k_range[1] + 1))
        se = rng.uniform(0.05, 0.8, k)
        y = -0.2 + rng.uniform(0, 0.6) * rng.standard_normal(k) + se * rng.standard_normal(k)
        parts.append(
            pd.DataFrame(
                {"analysis": f"ma{a:03d}", "study": [f"s{j}" for j in range(k)], "y": y, "se": se}
            )
        )
    return pd.concat(parts, ignore_index=True)


def _numbers(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=RUN_COLUMNS).reset_index(drop=True)


# ---------------------------------------------------------------------------- oracles
def test_vectorised_engine_equals_fit_exact() -> None:
    table = _long_table(120, seed=1)
    datasets, _ = read_tasks(table, y="y", se="se")
    names = list(datasets)
    taus = [TAU_PRIORS[i % len(TAU_PRIORS)] for i in range(len(names))]
    mus = [hm.priors.Flat() if i % 4 == 0 else hm.priors.Normal(0, 1) for i in range(len(names))]
    probs = (0.025, 0.5, 0.975)
    thresholds = np.log([1.0, 0.8])
    datas = [datasets[n] for n in names]
    got = summarise_many([d.y for d in datas], [d.se for d in datas], mus, taus, probs, thresholds)
    for i, data in enumerate(datas):
        assert got.error[i] is None, names[i]
        fit = fit_exact(data, mus[i], taus[i])
        np.testing.assert_allclose(got.mu_q[i], fit.quantile("mu", probs), atol=VECTOR_TOL)
        np.testing.assert_allclose(got.new_q[i], fit.quantile("predictive", probs), atol=VECTOR_TOL)
        np.testing.assert_allclose(got.tau_q[i], fit.quantile("tau", probs), atol=VECTOR_TOL)
        expected = [fit.prob(below=t) for t in (1.0, 0.8)]
        np.testing.assert_allclose(got.p_mu[i], expected, atol=VECTOR_TOL)
        expected = [fit.prob(below=t, predictive=True) for t in (1.0, 0.8)]
        np.testing.assert_allclose(got.p_new[i], expected, atol=VECTOR_TOL)


def test_vectorised_engine_reports_an_improper_posterior_as_fit_exact_does() -> None:
    # one study, flat mu prior and an improper tau prior: no posterior (fit_exact raises)
    y, se = [np.array([-0.3])], [np.array([0.2])]
    with pytest.raises(hm.InputError) as expected:
        fit_exact(
            hm.from_log_se(pd.DataFrame({"y": y[0], "se": se[0]}), y="y", se="se"),
            hm.priors.Flat(),
            hm.priors.Uniform(np.inf),
        )
    got = summarise_many(y, se, [hm.priors.Flat()], [hm.priors.Uniform(np.inf)], (0.5,), [0.0])
    assert got.error[0] == str(expected.value)
    assert np.isnan(got.mu_q[0]).all()


def test_batch_rows_equal_single_exact_fits() -> None:
    table = _long_table(30, seed=2)
    result = hm.batch(table, tau_prior=["HalfNormal(0.5)", "HalfCauchy(1)"], progress=False)
    datasets, _ = read_tasks(table, y="y", se="se")
    assert len(result.table) == 60 and (result.table["status"] == "ok").all()
    for row in result.table.itertuples():
        prior = hm.priors.from_spec(row.tau_prior)
        fit = hm.bayesian(datasets[row.analysis], tau_prior=prior)
        low, mid, high = fit.quantile("mu", [0.025, 0.5, 0.975])
        assert (row.mu_low, row.mu, row.mu_high) == pytest.approx((low, mid, high), abs=VECTOR_TOL)
        assert row.effect == pytest.approx(np.exp(mid), rel=VECTOR_TOL)
        low, high = fit.quantile("predictive", [0.025, 0.975])
        assert (row.pred_low, row.pred_high) == pytest.approx(
            (np.exp(low), np.exp(high)), rel=VECTOR_TOL
        )
        assert row.tau == pytest.approx(fit.quantile("tau", 0.5), abs=VECTOR_TOL)
        assert row.p_mean_below_1 == pytest.approx(fit.prob(below=1.0), abs=VECTOR_TOL)
    probs = result.table["p_new_below_0.8"].to_numpy()  # (a dotted name: not an attribute)
    expected = [
        hm.bayesian(datasets[a], tau_prior=hm.priors.from_spec(t)).prob(below=0.8, predictive=True)
        for a, t in zip(result.table["analysis"], result.table["tau_prior"], strict=True)
    ]
    np.testing.assert_allclose(probs, expected, atol=VECTOR_TOL)


def test_a_prior_catalogue_batch_equals_hm_sensitivity() -> None:
    data = hm.load_effects("ptr_mbc", subset="primary")
    catalogue = hm.priors.catalogue("logHR")
    result = hm.batch({"ptr": data}, tau_prior=catalogue, progress=False)
    expected = hm.sensitivity(data, catalogue)
    assert len(result.table) == len(catalogue)
    for row, (_, ref) in zip(result.table.itertuples(), expected.iterrows(), strict=True):
        assert row.effect == pytest.approx(ref["estimate"], abs=SHARED_GRID_TOL)
        assert (row.effect_low, row.effect_high) == pytest.approx(
            (ref["ci_low"], ref["ci_high"]), abs=SHARED_GRID_TOL
        )
        assert (row.pred_low, row.pred_high) == pytest.approx(
            (ref["pi_low"], ref["pi_high"]), abs=SHARED_GRID_TOL
        )
        assert row.tau == pytest.approx(ref["tau"], abs=SHARED_GRID_TOL)
        assert row.p_mean_below_1 == pytest.approx(ref["P(HR < 1)"], abs=SHARED_GRID_TOL)
        assert row.p_new_below_1 == pytest.approx(ref["P(new HR < 1)"], abs=SHARED_GRID_TOL)


def test_vectorised_and_per_analysis_paths_agree() -> None:
    table = _long_table(12, seed=3)
    fast = hm.batch(table, progress=False).table
    slow = hm.batch(table, posteriors=True, progress=False)  # posteriors: per-analysis fits
    cols = [
        "mu",
        "mu_low",
        "mu_high",
        "pred_low",
        "pred_high",
        "tau",
        "tau_low",
        "tau_high",
        "p_mean_below_1",
        "p_new_below_1",
    ]
    np.testing.assert_allclose(
        fast[cols].to_numpy(float), slow.table[cols].to_numpy(float), atol=VECTOR_TOL
    )
    assert slow.posterior("ma000").posterior["mu"].shape == (1, 4000)


def _metafor_table(name: str) -> pd.DataFrame:
    raw = REFERENCE["datasets"][name]
    frame = pd.DataFrame({k: v for k, v in raw.items() if isinstance(v, list)})
    return pd.DataFrame(
        {
            "analysis": name,
            "study": [f"{s} #{i}" for i, s in enumerate(frame["study"])],
            "yi": frame["yi"],
            "sei": np.sqrt(frame["vi"]),
        }
    )


@pytest.mark.parametrize("ci, test", [("wald", "z"), ("knapp-hartung", "knha")])
def test_frequentist_rows_equal_metafor(ci: str, test: str) -> None:
    table = pd.concat([_metafor_table("bcg"), _metafor_table("hackshaw1998")], ignore_index=True)
    result = hm.batch(
        table,
        engine=["REML", "DL", "PM"],
        frequentist={"ci": ci, "pi_kind": "t-k-2"},
        columns={"measure": "RR"},
        progress=False,
    )
    fits = {f["id"]: f for f in REFERENCE["fits"]}
    checked = 0
    for row in result.table.itertuples():
        ref = fits.get(f"{row.analysis}_{row.engine}_{test}")
        if ref is None:
            continue
        checked += 1
        assert row.mu == pytest.approx(ref["estimate"], rel=METAFOR_REL)
        assert (row.mu_low, row.mu_high) == pytest.approx(
            (ref["ci_low"], ref["ci_high"]), rel=METAFOR_REL
        )
        assert row.tau == pytest.approx(np.sqrt(ref["tau2"]), rel=METAFOR_REL)
        low, high = ref["pi"]["t-k-2"]
        assert (row.pred_low, row.pred_high) == pytest.approx(
            (np.exp(low), np.exp(high)), rel=METAFOR_REL
        )
        assert row.pred_kind == "t-k-2"  # the kind, as every output names it
        if ref.get("tau2_ci") and test == "z":
            assert row.tau_low == pytest.approx(
                np.sqrt(ref["tau2_ci"][0]), rel=METAFOR_REL, abs=1e-9
            )
        assert np.isnan(row.p_mean_below_1)  # a frequentist fit states no probability
    assert checked >= 4


# ---------------------------------------------------------------------------- inputs
def test_grouped_conversion_equals_converting_each_analysis_alone() -> None:
    table = _long_table(40, seed=4)
    ratio = pd.DataFrame(
        {
            "analysis": table["analysis"],
            "study": table["study"],
            "hr": np.exp(table["y"]).round(2),
            "lower": np.exp(table["y"] - 1.959964 * table["se"]).round(2),
            "upper": np.exp(table["y"] + 1.959964 * table["se"]).round(2),
        }
    )
    ratio.loc[ratio.index[7], "lower"] = 0.0  # one analysis with a bad row
    datasets, found = read_tasks(ratio)
    for name, rows in ratio.groupby("analysis"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                alone = hm.from_ratio_ci(
                    rows.reset_index(drop=True), "hr", "lower", "upper", study="study"
                )
            except hm.InputError as err:
                assert isinstance(datasets[name], hm.InputError)
                assert str(err) in str(datasets[name])
                continue
        got = datasets[name]
        assert isinstance(got, hm.EffectData)
        assert got.study == alone.study
        np.testing.assert_array_equal(got.y, alone.y)
        np.testing.assert_array_equal(got.se, alone.se)
        assert found.get(name, []) == [f"{w.category.__name__}: {w.message}" for w in caught]


def test_tasks_from_a_folder_of_csvs(tmp_path: Path) -> None:
    table = _long_table(3, seed=5, k_range=(3, 5))
    for name, rows in table.groupby("analysis"):
        rows.drop(columns="analysis").to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "broken.csv").write_text("study,y,se\nA,0.1,-0.2\n", encoding="utf-8")
    with pytest.warns(BatchWarning, match="1 of 4 tasks failed"):
        result = hm.batch(tmp_path, progress=False)
    assert list(result.table["analysis"]) == ["broken", "ma000", "ma001", "ma002"]
    assert "standard error -0.2" in result.table.loc[0, "error"]
    inline = hm.batch(table, progress=False).table
    np.testing.assert_array_equal(result.table["mu"].iloc[1:], inline["mu"])


def test_bad_batch_arguments_are_clear() -> None:
    table = _long_table(2, seed=6)
    with pytest.raises(hm.InputError, match="analysis-id column 'trial' not found"):
        hm.batch(table, analysis="trial")
    with pytest.raises(hm.InputError, match=r"unknown engine 'nut'.*Did you mean 'nuts'"):
        hm.batch(table, engine="nut")
    with pytest.raises(hm.InputError, match="cannot tell which columns hold the effects"):
        hm.batch(table.rename(columns={"y": "logrr"}))
    with pytest.raises(hm.InputError, match="scheduler 'bogus' is not understood"):
        hm.batch(table, scheduler="bogus", progress=False)
    with pytest.raises(hm.InputError, match="ci_level must lie strictly between 0 and 1"):
        hm.batch(table, ci_level=95)
    with pytest.raises(hm.InputError, match="must be positive for ratio measures"):
        hm.batch(table, thresholds=(1.0, 0.0))
    with pytest.raises(hm.InputError, match="exact engine takes no options"):
        Task("t", None, data_error="x", options={"draws": 10})
    with pytest.raises(hm.InputError, match="task id 'x' occurs more than once"):
        hm.batch([Task("x", None, data_error="a"), Task("x", None, data_error="b")])


def test_one_failing_task_never_stops_the_batch() -> None:
    table = _long_table(4, seed=7, k_range=(1, 1))
    tasks = [
        Task("ok", read_tasks(table)[0]["ma000"]),
        # an improper posterior (1 study, flat mu prior, improper tau prior)
        Task(
            "improper",
            read_tasks(table)[0]["ma001"],
            mu_prior=hm.priors.Flat(),
            tau_prior=hm.priors.Uniform(np.inf),
        ),
        # a Student-t prior on mu is not conjugate: the exact engine refuses it
        Task(
            "student", read_tasks(table)[0]["ma002"], mu_prior=hm.priors.StudentT.cochrane_log_hr()
        ),
        Task(
            "no data",
            None,
            data_error="InputError: analysis 'x': study 'A': standard error 0 must be positive",
        ),
    ]
    with pytest.warns(BatchWarning, match="3 of 4 tasks failed"):
        result = hm.batch(tasks, progress=False)
    status = dict(zip(result.table["task_id"], result.table["status"], strict=True))
    assert status == {"ok": "ok", "improper": "failed", "student": "failed", "no data": "failed"}
    errors = dict(zip(result.table["task_id"], result.table["error"], strict=True))
    assert "improper" in errors["improper"]
    assert "Normal or Flat priors" in errors["student"]
    assert "standard error 0" in errors["no data"]
    assert list(result.failures["task_id"]) == ["improper", "student", "no data"]


def test_same_seed_same_numbers_whatever_the_task_order() -> None:
    table = _long_table(6, seed=8)
    datasets, _ = read_tasks(table)
    tasks = [Task(name, data) for name, data in datasets.items()]
    first = hm.batch(tasks, posteriors=True, random_seed=3, progress=False)
    second = hm.batch(tasks[::-1], posteriors=True, random_seed=3, progress=False)
    for task in tasks:
        a = first.posterior(task.task_id).posterior["tau"].values
        b = second.posterior(task.task_id).posterior["tau"].values
        np.testing.assert_array_equal(a, b)
    other = hm.batch(tasks, posteriors=True, random_seed=4, progress=False)
    assert not np.array_equal(
        other.posterior("ma000").posterior["tau"].values,
        first.posterior("ma000").posterior["tau"].values,
    )


# ---------------------------------------------------------------------------- the folder
class Interrupt(Exception):
    pass


def _interrupt_after(n: int) -> Any:
    def progress(row: dict, done: int, total: int) -> None:
        if done >= n:
            raise KeyboardInterrupt

    return progress


def test_interrupted_batch_resumes_without_redoing_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_api, "EXACT_UNIT", 7)  # small units: several writes per batch
    table = _long_table(40, seed=9)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        hm.batch(table, out=out, progress=_interrupt_after(15))
    lines = (out / "rows.jsonl").read_text(encoding="utf-8").splitlines()
    assert 15 <= len(lines) < 40 and not (out / "results.csv").exists()
    seen: list[str] = []
    resumed = hm.batch(
        table, out=out, progress=lambda row, done, total: seen.append(row["task_id"])
    )
    assert resumed.resumed == len(lines) and resumed.ran == 40 - len(lines)
    assert not set(seen) & {json.loads(line)["task_id"] for line in lines}
    ids = [json.loads(line)["task_id"] for line in (out / "rows.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 40  # every task exactly once
    whole = hm.batch(table, out=tmp_path / "whole", progress=False)
    pd.testing.assert_frame_equal(_numbers(resumed.table), _numbers(whole.table))
    written = pd.read_csv(out / "results.csv")
    assert list(written["task_id"]) == list(whole.table["task_id"])
    again = hm.batch(table, out=out, progress=False)
    assert again.ran == 0 and again.resumed == 40


def test_a_row_cut_off_mid_write_is_discarded(tmp_path: Path) -> None:
    table = _long_table(5, seed=10)
    hm.batch(table, out=tmp_path, progress=False)
    rows = tmp_path / "rows.jsonl"
    lines = rows.read_text(encoding="utf-8").splitlines(keepends=True)
    rows.write_text("".join(lines[:-1]) + lines[-1][:40], encoding="utf-8")  # killed mid-line
    result = hm.batch(table, out=tmp_path, progress=False)
    assert result.ran == 1 and result.resumed == 4
    assert all(json.loads(line) for line in rows.read_text(encoding="utf-8").splitlines())


def test_a_changed_task_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    table = _long_table(3, seed=11)
    hm.batch(table, out=tmp_path, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    changed = table.copy()
    changed.loc[0, "y"] += 0.1
    with pytest.raises(hm.InputError, match=r"task\(s\) \['ma000'\] changed"):
        hm.batch(changed, out=tmp_path, progress=False)
    with pytest.raises(hm.InputError, match="other settings"):
        hm.batch(table, out=tmp_path, ci_level=0.9, progress=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    bigger = pd.concat(
        [table, _long_table(4, seed=11).assign(analysis=lambda f: f["analysis"] + "-new")]
    )
    grown = hm.batch(bigger, out=tmp_path, progress=False)  # new analyses: a living review
    assert grown.resumed == 3 and grown.ran == 4


def test_failed_tasks_run_again_when_resumed(tmp_path: Path) -> None:
    table = _long_table(3, seed=12)
    bad = table.copy()
    bad.loc[0, "se"] = -1.0
    with pytest.warns(BatchWarning):
        first = hm.batch(bad, out=tmp_path, progress=False)
    assert first.table["status"].tolist() == ["failed", "ok", "ok"]
    fixed = hm.batch(table, out=tmp_path, progress=False)  # the data were corrected
    assert fixed.ran == 1 and fixed.table["status"].tolist() == ["ok"] * 3


def test_the_folder_is_guarded(tmp_path: Path) -> None:
    table = _long_table(2, seed=13)
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(hm.InputError, match="not empty and holds no batch manifest"):
        hm.batch(table, out=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "rows.jsonl").write_text('{"a": 1}\npartial', encoding="utf-8")
    with pytest.raises(hm.InputError, match="holds no batch manifest"):
        hm.batch(table, out=foreign, progress=False)
    assert (foreign / "rows.jsonl").read_text(encoding="utf-8") == '{"a": 1}\npartial'
    assert sorted(p.name for p in foreign.iterdir()) == ["rows.jsonl"]
    busy = tmp_path / "busy"
    busy.mkdir()
    with open(busy / ".lock", "a+", encoding="utf-8") as held:  # another batch holds the lock
        held.write("host pid 1")
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(hm.InputError, match=r"another batch \(host pid 1\) is writing"):
            hm.batch(table, out=busy, progress=False)
    assert hm.batch(table, out=busy, progress=False).ran == 2  # released: free again
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / ".lock").write_text("host pid 999999999", encoding="utf-8")  # a killed run's file
    assert hm.batch(table, out=stale, progress=False).ran == 2


def test_posteriors_are_written_next_to_their_rows(tmp_path: Path) -> None:
    table = _long_table(2, seed=14)
    result = hm.batch(table, out=tmp_path, posteriors=True, progress=False)
    files = sorted(p.name for p in (tmp_path / "posteriors").iterdir())
    assert len(files) == 2 and all(f.endswith(".nc") and not f.startswith(".") for f in files)
    tree = result.posterior("ma001")
    assert tree.posterior["mu"].shape == (1, 4000)


# ---------------------------------------------------------------------------- the CLI
def test_cli_batch_writes_a_resumable_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "tasks.csv"
    _long_table(4, seed=15).to_csv(csv, index=False)
    out = tmp_path / "out"
    command = ["batch", str(csv), "--out", str(out), "--engine", "exact", "--engine", "REML"]
    assert main([*command, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "8 tasks: 8 fitted, 0 failed (8 run now, 0 already done)" in printed
    table = pd.read_csv(out / "results.csv")
    assert set(table["engine"]) == {"exact", "REML"}
    assert main([*command, "--no-progress"]) == 0
    assert "(0 run now, 8 already done)" in capsys.readouterr().out


def test_cli_batch_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "tasks.csv"
    _long_table(2, seed=16).to_csv(csv, index=False)
    out = tmp_path / "out"
    assert main(["batch", str(csv), "--out", str(out), "--analysis", "trial"]) == 2
    assert "analysis-id column 'trial' not found" in capsys.readouterr().err
    assert main(["batch", str(csv), "--out", str(out), "--tau-prior", "halfnormall(0.5)"]) == 2
    assert "Did you mean 'halfnormal'" in capsys.readouterr().err
    assert main(["batch", str(csv), "--out", str(out), "--tau-catalogue", "logHRR"]) == 2
    assert "unknown" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow  # compiles and samples a PyMC model
def test_nuts_tasks_of_one_structure_share_one_compiled_model() -> None:
    from hiermeta.engines.nuts import engine as nuts

    nuts._MODEL_CACHE.clear()
    rng = np.random.default_rng(17)
    datasets = {
        name: hm.from_log_se(
            pd.DataFrame(
                {"s": labels, "y": rng.normal(-0.2, 0.3, 5), "se": rng.uniform(0.1, 0.3, 5)}
            ),
            y="y",
            se="se",
            study="s",
        )
        for name, labels in [
            ("first", list("ABCDE")),
            ("second", list("VWXYZ")),
            ("third", list("PQRST")),
        ]
    }
    # the PyMC graph path (structures outside the compiled kernel take it); the kernel path
    # compiles nothing per structure, and its labels are checked below the same way
    options = {"draws": 200, "tune": 200, "chains": 1, "remedies": False, "sampler": "pymc"}
    with pytest.warns(BatchWarning, match="did not pass their diagnostics"):  # short chains
        result = hm.batch(datasets, engine="nuts", nuts=options, posteriors=True, progress=False)
    assert len(nuts._MODEL_CACHE) == 1  # built and compiled once, data and labels swapped after
    for name, data in datasets.items():
        tree = result.posterior(f"{name}|nuts")
        assert list(tree.posterior["study"].values) == list(data.study)
        assert list(tree.observed_data["study"].values) == list(data.study)
        np.testing.assert_array_equal(tree.observed_data["y_obs"].values, data.y)
    options["sampler"] = "auto"  # the compiled kernel: no PyMC model at all, the same labels
    with pytest.warns(BatchWarning, match="did not pass their diagnostics"):
        kernel = hm.batch(datasets, engine="nuts", nuts=options, posteriors=True, progress=False)
    assert len(nuts._MODEL_CACHE) == 1
    for name, data in datasets.items():
        tree = kernel.posterior(f"{name}|nuts")
        assert list(tree.posterior["study"].values) == list(data.study)


def test_a_growing_grid_resumes_into_the_same_folder(tmp_path: Path) -> None:
    # task ids name only what differs from the defaults, so adding priors, engines or analyses
    # keeps every finished task's id (found by review: ids once depended on the grid's size)
    table = _long_table(3, seed=18)
    first = hm.batch(table, out=tmp_path, progress=False)
    assert list(first.table["task_id"]) == ["ma000", "ma001", "ma002"]
    grid = {"engine": ["exact", "REML"], "tau_prior": ["HalfNormal(0.5)", "HalfCauchy(1)"]}
    second = hm.batch(table, out=tmp_path, progress=False, **grid)
    assert (second.resumed, second.ran) == (3, 6)
    grid["tau_prior"].append("Exponential(2)")
    third = hm.batch(table, out=tmp_path, progress=False, **grid)
    assert (third.resumed, third.ran) == (9, 3)  # REML rows kept: they take no prior
    assert "ma000|REML" in set(third.table["task_id"])
    assert "ma000|HalfCauchy(1)" in set(third.table["task_id"])


def test_engine_options_are_checked_when_the_task_is_made() -> None:
    table = _long_table(2, seed=19)
    with pytest.raises(hm.InputError, match="Did you mean 'draws'"):
        hm.batch(table, engine="nuts", nuts={"draw": 10})
    with pytest.raises(hm.InputError, match=r"unknown pi_kind .* valid options are 'z'"):
        hm.batch(table, engine="REML", frequentist={"pi_kind": "t"})
    with pytest.raises(hm.InputError, match="must be a number, text"):
        hm.batch(table, engine="nuts", nuts={"draws": [10]})
    data = read_tasks(table)[0]["ma000"]
    task = Task("t", data, engine="nuts", options={"draws": np.int64(10)})
    assert task.options == (("draws", 10),) and type(task.options[0][1]) is int


def test_bad_inputs_never_surface_as_bare_python_errors() -> None:
    table = _long_table(2, seed=20)
    with pytest.raises(hm.InputError, match="column 'nope' not found"):
        hm.batch(table, columns={"study": "nope"})
    with pytest.raises(hm.InputError, match="column 'logse' not found"):
        hm.batch(table, columns={"y": "y", "se": "logse"})
    with pytest.raises(hm.InputError, match="random_seed must be a whole number >= 0"):
        hm.batch(table, random_seed=-1)
    with pytest.raises(hm.InputError, match="thresholds must be finite numbers"):
        hm.batch(table, thresholds="0.8")  # type: ignore[arg-type]
    with pytest.raises(hm.InputError, match="parameters must be numbers"):
        hm.batch(table, tau_prior="halfnormal(x)")
    with pytest.raises(hm.InputError, match="data must be an EffectData"):
        hm.batch({"a": table})
    with pytest.raises(hm.InputError, match="n_workers must be a positive whole number"):
        hm.batch(table, n_workers=0)


def test_a_failing_vectorised_pass_falls_back_to_one_task_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hiermeta.pipeline.batch import execute

    table = _long_table(5, seed=21)
    expected = hm.batch(table, progress=False).table

    def out_of_memory(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError

    monkeypatch.setattr(execute, "summarise_many", out_of_memory)
    fallback = hm.batch(table, progress=False).table
    cols = ["mu", "mu_low", "mu_high", "tau", "p_mean_below_1", "p_new_below_0.8"]
    np.testing.assert_allclose(
        fallback[cols].to_numpy(float), expected[cols].to_numpy(float), atol=VECTOR_TOL
    )


def test_the_vectorised_chunks_give_the_same_rows_on_one_thread_or_two(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hiermeta.pipeline.batch import execute

    table = _long_table(600, seed=22, k_range=(2, 6))  # three chunks of 256
    monkeypatch.setattr(execute, "available_cores", lambda: 1)
    one = hm.batch(table, progress=False).table
    monkeypatch.setattr(execute, "available_cores", lambda: 2)
    two = hm.batch(table, progress=False).table
    pd.testing.assert_frame_equal(_numbers(one), _numbers(two))


def test_a_slice_of_a_checked_table_equals_a_dataset_built_from_it() -> None:
    import dataclasses

    whole = hm.from_log_se(
        pd.DataFrame(
            {
                "study": [f"s{i}" for i in range(6)],
                "y": np.linspace(-0.5, 0.3, 6),
                "se": np.linspace(0.1, 0.4, 6),
                "organs": [1, 2, 3, 1, 2, 3],
            }
        ),
        "y",
        "se",
        study="study",
        covariates=["organs"],
    )
    part = hm.EffectData.part_of_checked(whole, slice(2, 5), ["a", "b", "c"], whole.excluded)
    built = hm.EffectData(
        study=("a", "b", "c"),
        y=whole.y[2:5],
        se=whole.se[2:5],
        measure=whole.measure,
        covariates=whole.covariates.iloc[2:5],
        conversions=whole.conversions[2:5],
        excluded=whole.excluded,
    )
    for field in dataclasses.fields(hm.EffectData):
        got, expected = getattr(part, field.name), getattr(built, field.name)
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(got, expected)
        elif isinstance(expected, np.ndarray):
            np.testing.assert_array_equal(got, expected)
        else:
            assert got == expected, field.name
    with pytest.raises(hm.InputError, match="duplicate study labels"):
        hm.EffectData.part_of_checked(whole, slice(0, 2), ["a", "a"], whole.excluded)
