"""Where units of tasks run: in this process, or on Dask (``dask.distributed``).

``scheduler=None`` runs every unit here, one after the other. ``"processes"`` starts an
embedded :class:`distributed.LocalCluster` (one single-threaded worker process per core, or
``n_workers``) for the duration of the batch. An address such as ``"tcp://10.0.0.5:8786"``
connects to a running ``dask.distributed`` scheduler (its workers need hiermeta installed);
a ``distributed.Client`` is used as it is. Dask retries a unit whose worker dies (up to its
``distributed.scheduler.allowed-failures`` setting, 3 by default); a unit that exhausts them is
recorded as failed, with the reason, for each of its tasks.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from hiermeta.errors import InputError
from hiermeta.pipeline.batch.execute import Outcome, run_unit
from hiermeta.pipeline.batch.rows import RowSettings, failed_row
from hiermeta.pipeline.batch.tasks import Task

__all__ = ["connect", "run_units"]

EXTRA_HINT = "install it with: pip install 'hiermeta[distributed]'"
#: How long to try reaching a scheduler at an address before giving up.
CONNECT_TIMEOUT = "10s"


def run_units(
    units: list[list[Task]], settings: RowSettings, posteriors: bool, client: Any = None
) -> Iterator[list[Outcome]]:
    """Run the units here (``client=None``) or on Dask; yield each unit's outcomes as it
    finishes (any order)."""
    if client is None:
        for unit in units:
            yield run_unit(unit, settings, posteriors)
        return
    yield from _run_on_dask(client, units, settings, posteriors)


@contextlib.contextmanager
def connect(scheduler: Any, n_workers: int | None = None) -> Iterator[Any]:
    """A Dask client for ``scheduler`` for the duration of the block (``None`` for none)."""
    if scheduler is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            f"scheduler={scheduler!r} needs Dask's distributed scheduler; {EXTRA_HINT}"
        ) from None
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "processes":
        if n_workers is not None and not (isinstance(n_workers, int) and n_workers >= 1):
            raise InputError(f"n_workers must be a positive whole number; got {n_workers!r}")
        workers = n_workers or os.cpu_count() or 1
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    if not isinstance(scheduler, str) or ("://" not in scheduler and ":" not in scheduler):
        raise InputError(
            f"scheduler {scheduler!r} is not understood; valid: None (this process), 'processes' "
            "(a local Dask cluster), an address such as 'tcp://127.0.0.1:8786', or a distributed.Client"
        )
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from None
    with client:
        yield client


def _run_on_dask(
    client: Any, units: list[list[Task]], settings: RowSettings, posteriors: bool
) -> Iterator[list[Outcome]]:
    from distributed import as_completed

    futures = {}
    # a deterministic key per unit (its first task and the settings): the same unit submitted
    # twice never runs twice at once, and batches with other settings never share a result
    run = hashlib.sha256(repr((settings, posteriors)).encode()).hexdigest()[:8]
    for unit in units:
        key = f"hiermeta-batch-{run}-{unit[0].fingerprint(settings.batch_seed)[:16]}-{len(unit)}"
        future = client.submit(
            run_unit, unit, settings, posteriors, threads=1, key=key, pure=False, retries=0
        )  # one thread: Dask already runs a worker per core
        futures[future] = unit
    try:
        for future in as_completed(list(futures)):
            unit = futures[future]
            try:
                outcomes = future.result()
            # the unit itself failed (its worker died too often, or Dask broke): record it
            except Exception as err:
                reason = f"{type(err).__name__} on the Dask cluster: {err}"
                outcomes = [Outcome(failed_row(task, settings, reason)) for task in unit]
            yield outcomes
            future.release()
    finally:
        for future in futures:
            future.cancel()
