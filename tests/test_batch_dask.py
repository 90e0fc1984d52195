"""hm.batch on a real dask.distributed LocalCluster of two worker processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import hiermeta as hm
from hiermeta.pipeline.batch import BatchWarning, read_tasks

distributed = pytest.importorskip("distributed", reason="needs hiermeta[distributed]")

#: Columns that describe where and how long a task ran, not its result.
RUN_COLUMNS = ["seconds", "worker"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        silence_logs=50,
    ) as local:
        yield local


def _kill_a_busy_worker(client: Any) -> int | None:
    """SIGKILL a worker that is running (or holds) a task; its pid, or None if all are idle."""
    busy = [address for address, keys in client.processing().items() if keys]
    if not busy:
        return None
    pid = int(client.run(os.getpid, workers=[busy[0]])[busy[0]])
    os.kill(pid, signal.SIGKILL)  # its nanny restarts it; Dask reschedules what it held
    return pid


def _long_table(n: int, k: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for a in range(n):
        se = rng.uniform(0.1, 0.4, k)
        y = -0.2 + 0.15 * rng.standard_normal(k) + se * rng.standard_normal(k)
        parts.append(pd.DataFrame({"analysis": f"ma{a:03d}", "y": y, "se": se}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.slow  # starts a real two-worker cluster (~11 s)
def test_exact_batch_at_a_scheduler_address_equals_the_in_process_batch(
    cluster: Any, tmp_path: Path
) -> None:
    table = _long_table(600, k=6, seed=1)
    engines = ["exact", "REML"]
    here = hm.batch(table, engine=engines, progress=False).table
    there = hm.batch(
        table, engine=engines, scheduler=cluster.scheduler_address, out=tmp_path, progress=False
    )
    pd.testing.assert_frame_equal(
        here.drop(columns=RUN_COLUMNS), there.table.drop(columns=RUN_COLUMNS)
    )
    assert there.table["worker"].nunique() == 2  # both workers took units
    # random draws too: seeds come from task ids, not from where or in which order tasks ran
    small = _long_table(6, k=4, seed=4)
    local = hm.batch(small, posteriors=True, random_seed=7, progress=False)
    remote = hm.batch(
        small, posteriors=True, random_seed=7, scheduler=cluster.scheduler_address, progress=False
    )
    for task_id in local.table["task_id"]:
        np.testing.assert_array_equal(
            local.posterior(task_id).posterior["tau"].values,
            remote.posterior(task_id).posterior["tau"].values,
        )


def test_an_unreachable_scheduler_is_reported_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hiermeta.pipeline.batch import schedulers

    monkeypatch.setattr(schedulers, "CONNECT_TIMEOUT", "1s")
    out = tmp_path / "out"
    with pytest.raises(
        hm.InputError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:9'"
    ):
        hm.batch(
            _long_table(2, k=3, seed=3), scheduler="tcp://127.0.0.1:9", out=out, progress=False
        )
    assert not out.exists()


@pytest.mark.slow
def test_nuts_batch_survives_a_killed_worker_and_runs_every_task_once(
    cluster: Any, tmp_path: Path
) -> None:
    datasets, _ = read_tasks(_long_table(8, k=5, seed=2))
    options = {"draws": 1000, "tune": 1000, "chains": 2, "remedies": False, "sampler": "pymc"}
    killed: dict[str, Any] = {}
    with distributed.Client(cluster) as client:

        def progress(row: dict, done: int, total: int) -> None:
            if not killed:
                pid = _kill_a_busy_worker(client)
                if pid is not None:
                    killed.update(pid=pid, after=done)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BatchWarning)
            result = hm.batch(
                datasets,
                engine="nuts",
                nuts=options,
                scheduler=client,
                out=tmp_path,
                progress=progress,
            )
    assert killed and killed["after"] < 8, "no worker was killed mid-batch"
    table = result.table
    assert (table["status"] == "ok").all(), table[["task_id", "error"]]
    assert not [w for w in caught if "failed" in str(w.message)]
    lines = (tmp_path / "rows.jsonl").read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["task_id"] for line in lines]
    expected = sorted(f"{name}|nuts" for name in datasets)
    assert sorted(ids) == expected  # every task exactly once: none lost, none twice
    # rows are appended in the order tasks finish: after the kill, none comes from the dead
    # process — the tasks it held were run again by another worker (or its restarted self)
    after_kill = [json.loads(line)["worker"] for line in lines[killed["after"] :]]
    assert after_kill and not any(w.endswith(f":{killed['pid']}") for w in after_kill)
    assert (table["rhat_max"] < 1.05).all()


@pytest.mark.slow
def test_a_unit_whose_worker_keeps_dying_is_recorded_as_failed_and_rerun_on_resume(
    tmp_path: Path,
) -> None:
    import dask

    datasets, _ = read_tasks(_long_table(3, k=5, seed=5))
    options = {"draws": 300, "tune": 300, "chains": 1, "remedies": False, "sampler": "pymc"}
    killed: list[int] = []
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),  # no retry at all
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=50,
        ) as local,
        distributed.Client(local) as client,
    ):

        def kill_first_busy_worker() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                pid = _kill_a_busy_worker(client)
                if pid is None:
                    time.sleep(0.05)
                else:
                    killed.append(pid)

        killer = threading.Thread(target=kill_first_busy_worker)
        killer.start()
        # the tasks the dead worker held (running or queued there) fail: no retry allowed
        with pytest.warns(BatchWarning, match="of 3 tasks failed"):
            first = hm.batch(
                datasets,
                engine="nuts",
                nuts=options,
                scheduler=client,
                out=tmp_path,
                progress=False,
            )
        killer.join()
    assert killed
    failed = first.failures
    assert 1 <= len(failed) < 3
    assert failed["error"].str.contains("KilledWorker on the Dask cluster").all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BatchWarning)  # short chains: not converged, by design
        again = hm.batch(datasets, engine="nuts", nuts=options, out=tmp_path, progress=False)
    assert (again.ran, again.resumed) == (len(failed), 3 - len(failed))
    assert (again.table["status"] == "ok").all()
