"""Batch throughput (tasks per second, per core): exact and NUTS, in-process and on Dask."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import hiermeta as hm
from hiermeta.pipeline.batch import read_tasks
from hiermeta.pipeline.batch.execute import MAX_THREADS, available_cores

N_EXACT = 10_000
N_NUTS = 16
NUTS_OPTIONS = {"draws": 1000, "tune": 1000, "chains": 2, "remedies": False, "sampler": "pymc"}


def long_table(n: int, seed: int, k_range: tuple[int, int] = (3, 14)) -> pd.DataFrame:
    """n meta-analyses of log HRs (k studies each), one row per study."""
    rng = np.random.default_rng(seed)
    ks = rng.integers(k_range[0], k_range[1] + 1, n)
    analysis = np.repeat([f"ma{i:05d}" for i in range(n)], ks)
    se = rng.uniform(0.1, 0.5, ks.sum())
    effect = np.repeat(-0.2 + 0.2 * rng.standard_normal(n), ks)
    y = effect + 0.15 * rng.standard_normal(ks.sum()) + se * rng.standard_normal(ks.sum())
    study = np.concatenate([[f"s{j}" for j in range(k)] for k in ks])
    return pd.DataFrame({"analysis": analysis, "study": study, "y": y, "se": se})


def _rate(n: int, seconds: float, cores: int) -> str:
    def fmt(x: float) -> str:
        return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"

    return (
        f"{seconds:.2f} s — {fmt(n / seconds)} tasks/s, {fmt(n / seconds / cores)} tasks/s per core"
    )


def _one_row(data: hm.EffectData) -> None:
    """The summaries of a batch row, computed one analysis at a time through hm.bayesian."""
    fit = hm.bayesian(data)
    for param in ("mu", "predictive", "tau"):
        fit.quantile(param, [0.025, 0.5, 0.975])
    for t in (1.0, 0.8):
        fit.prob(below=t)
        fit.prob(below=t, predictive=True)


def _cluster() -> Any:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=":0",
        silence_logs=50,
    )


def bench_batch_exact() -> list[tuple[str, str]]:
    from distributed import Client

    rows = []
    table = long_table(N_EXACT, 1)
    hm.batch(long_table(50, 2), progress=False)  # warm-up (imports, caches)
    converts, fits = [], []
    for _ in range(3):  # median of three runs
        start = time.perf_counter()
        datasets, _ = read_tasks(table)
        converts.append(time.perf_counter() - start)
        start = time.perf_counter()
        result = hm.batch(datasets, progress=False)
        fits.append(time.perf_counter() - start)
        assert (result.table["status"] == "ok").all()
    convert, fit = float(np.median(converts)), float(np.median(fits))
    totals = [c + f for c, f in zip(converts, fits, strict=True)]
    cores = min(available_cores(), MAX_THREADS)
    rows.append(
        (
            f"{N_EXACT:,} exact analyses (k = 3–14) from one long table, in this process "
            f"(median of 3; target ≤ 5 s on 2 cores)",
            _rate(N_EXACT, float(np.median(totals)), cores),
        )
    )
    rows.append(
        ("… of which converting and checking the table (grouped converters)", f"{convert:.2f} s")
    )
    rows.append(
        (
            f"… of which fitting (vectorised exact engine, 256 analyses per pass, {cores} threads)",
            _rate(N_EXACT, fit, cores),
        )
    )
    sample = list(datasets.values())[:500]
    per_call = min(_timed(lambda: [_one_row(d) for d in sample]) for _ in range(2)) / len(sample)
    rows.append(
        (
            "for comparison: hm.bayesian + the same summaries one analysis at a time",
            f"{per_call * 1e3:.2f} ms per analysis ({1 / per_call:,.0f} analyses/s)",
        )
    )
    with _cluster() as cluster:
        with Client(cluster) as client:
            hm.batch(long_table(50, 3), scheduler=client, progress=False)  # warm the workers
            start = time.perf_counter()
            on_dask = hm.batch(table, scheduler=client, progress=False)
            seconds = time.perf_counter() - start
    assert (on_dask.table["status"] == "ok").all()
    rows.append(
        (
            f"{N_EXACT:,} exact analyses, long table, Dask LocalCluster (2 worker processes; table "
            "converted by the client)",
            _rate(N_EXACT, seconds, 2),
        )
    )
    return rows


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _nuts_datasets() -> dict[str, hm.EffectData]:
    datasets, _ = read_tasks(long_table(N_NUTS, 4, k_range=(6, 6)))
    return datasets  # type: ignore[return-value]


def bench_batch_nuts() -> list[tuple[str, str]]:
    from distributed import Client

    rows = []
    datasets = _nuts_datasets()
    label = "2 chains × 1000 draws + 1000 tuning, PyMC sampler"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        here = hm.batch(datasets, engine="nuts", nuts=NUTS_OPTIONS, progress=False)
        seconds = time.perf_counter() - start
    assert (here.table["status"] == "ok").all()
    rows.append(
        (
            f"{N_NUTS} NUTS analyses (k = 6; {label}), in this process, incl. one compile",
            _rate(N_NUTS, seconds, 1),
        )
    )
    for kill in (False, True):
        with _cluster() as cluster, Client(cluster) as client, tempfile.TemporaryDirectory() as out:
            killed: dict[str, Any] = {}

            def progress(
                row: dict,
                done: int,
                total: int,
                client: Any = client,
                killed: dict = killed,
                kill: bool = kill,
            ) -> None:
                if kill and not killed:
                    busy = [a for a, keys in client.processing().items() if keys]
                    if busy:
                        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                        os.kill(pid, signal.SIGKILL)
                        killed.update(pid=pid, after=done)

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                result = hm.batch(
                    datasets,
                    engine="nuts",
                    nuts=NUTS_OPTIONS,
                    scheduler=client,
                    out=out,
                    progress=progress,
                )
                seconds = time.perf_counter() - start
            ids = [
                json.loads(line)["task_id"]
                for line in (Path(out) / "rows.jsonl").read_text().splitlines()
            ]
            # one row per task, none missing, none twice (ids: "<analysis>|nuts")
            once = sorted(ids) == sorted(f"{name}|nuts" for name in datasets)
            ok = bool((result.table["status"] == "ok").all())
        what = f"{N_NUTS} NUTS analyses on a Dask LocalCluster (2 workers, each compiling once)"
        if kill:
            what += f"; one worker SIGKILLed after {killed.get('after')} finished tasks (restarted by its nanny, recompiles)"
        verdict = f"every task exactly once: {'yes' if once else 'NO'}; all fitted: {'yes' if ok else 'NO'}"
        rows.append((what, f"{_rate(N_NUTS, seconds, 2)}; {verdict}"))
    return rows
