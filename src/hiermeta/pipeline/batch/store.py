"""The output folder of a batch: written as tasks finish, resumable after an interruption.

::

    OUT/
      manifest.json   the batch settings and every task's fingerprint (what makes a result)
      rows.jsonl      one JSON line per finished task, appended and synced as tasks finish
      posteriors/     <task>.nc, one ArviZ DataTree per task (when posteriors are asked for)
      results.csv     the tidy table, written once every task has a row

Only the process that runs :func:`hiermeta.pipeline.batch` writes here (Dask workers return their
results to it), so a row is appended once. A row line is complete or absent: a run killed
while writing leaves a partial last line, which the next run discards. A posterior file is
written to a temporary name and renamed before its row is appended, so a row never points at a
half-written file. A re-run with the same folder skips every task that has a successful row there, and runs
the others (new tasks, and failed ones: the cause may have passed or been fixed); a finished
task whose data or settings changed is an error (its row would be stale), as is a second batch
writing to the folder at the same time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import socket
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from hiermeta.errors import HiermetaWarning, InputError, spreadsheet_safe
from hiermeta.pipeline.batch.rows import clean

__all__ = ["BatchStore"]

FORMAT = "hiermeta-batch/1"


def posterior_name(task_id: str) -> str:
    """File name of a task's posterior: readable, unique, safe on every file system."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", task_id).strip("._")[:80] or "task"
    return f"{safe}-{hashlib.sha1(task_id.encode()).hexdigest()[:8]}.nc"


class BatchStore:
    """An output folder (see the module docstring). Use as a context manager."""

    def __init__(self, folder: str | Path, settings: dict[str, Any], fingerprints: dict[str, str]):
        self.folder = Path(folder)
        self.settings = settings
        self.fingerprints = fingerprints
        self.rows: dict[str, dict[str, Any]] = {}
        self._lock = self.folder / ".lock"
        self._handle: Any = None
        self._lock_handle: Any = None

    # ------------------------------------------------------------------ opening
    def __enter__(self) -> BatchStore:
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(f"output {str(self.folder)!r} exists and is not a folder")
        self._refuse_foreign_folder()  # before anything is written to it
        self.folder.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self.rows = self._read_rows()
            self._check_manifest()
            self._drop_partial_line()
            # keep only rows of this batch's tasks (all of them, once the manifest agrees)
            self.rows = {
                t: r
                for t, r in self.rows.items()
                if r.get("fingerprint") == self.fingerprints.get(t)
            }
            self._write_manifest()
            self._handle = open(self.folder / "rows.jsonl", "a", encoding="utf-8")
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
        self._release()

    def _release(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def _take_lock(self) -> None:
        """An exclusive lock on ``.lock`` for as long as the store is open.

        ``flock`` is released by the kernel when the process ends, however it ends, so a lock
        is never stale; the file keeps the holder's host and pid for the message.
        """
        # held open until __exit__: closing it would release the lock
        handle = open(self._lock, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise InputError(
                f"{self.folder}: another batch ({holder}) is writing to this folder; wait for it "
                "to finish or choose another output folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{socket.gethostname()} pid {os.getpid()}")
        handle.flush()
        self._lock_handle = handle

    def _refuse_foreign_folder(self) -> None:
        if not self.folder.is_dir() or (self.folder / "manifest.json").exists():
            return
        if any(p.name != ".lock" for p in self.folder.iterdir()):
            raise InputError(
                f"{self.folder}: the folder is not empty and holds no batch manifest; "
                "choose an empty or new output folder"
            )

    def _check_manifest(self) -> None:
        path = self.folder / "manifest.json"
        if not path.exists():
            self._refuse_foreign_folder()  # again, now that the folder is locked
            return
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(
                f"{path}: not a valid batch manifest (delete the folder to start over)"
            ) from None
        if old.get("format") != FORMAT:
            raise InputError(
                f"{path}: written by another format ({old.get('format')!r}); expected {FORMAT!r}"
            )
        if old.get("settings") != self.settings:
            raise InputError(
                f"{self.folder}: holds a batch run with other settings ({old.get('settings')}); "
                f"this run has {self.settings}. Use another output folder, or delete this one to start over"
            )
        previous: dict[str, str] = old.get("tasks", {})
        # only finished tasks count: a failed one may change (its data fixed) and simply runs again
        finished = {
            t: fp for t, fp in previous.items() if self.rows.get(t, {}).get("fingerprint") == fp
        }
        changed = [t for t, fp in finished.items() if self.fingerprints.get(t, fp) != fp]
        dropped = [t for t in finished if t not in self.fingerprints]
        if changed or dropped:
            what = (
                f"task(s) {changed[:3]} changed (data, priors, engine options or seed differ)"
                if changed
                else f"task(s) {dropped[:3]} of the earlier run are not in this one"
            )
            raise InputError(
                f"{self.folder}: holds results of another batch: {what}. Use another output "
                "folder, or delete this one to start over"
            )

    def _write_manifest(self) -> None:
        manifest = {"format": FORMAT, "settings": self.settings, "tasks": self.fingerprints}
        _atomic_write(self.folder / "manifest.json", json.dumps(manifest, indent=1))

    def _read_rows(self) -> dict[str, dict[str, Any]]:
        path = self.folder / "rows.jsonl"
        if not path.exists():
            return {}
        data = path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]  # a last line cut off mid-write is ignored
        rows: dict[str, dict[str, Any]] = {}
        damaged = []
        for number, raw in enumerate(complete.splitlines(), start=1):
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                row = None
            if not (isinstance(row, dict) and isinstance(row.get("task_id"), str)):
                damaged.append(number)  # its task simply runs again
                continue
            if row.get("status") != "ok":
                continue  # failed tasks run again (the cause may have passed, or been fixed)
            file = row.get("posterior_file")
            if file and not (self.folder / file).exists():
                continue  # its posterior file is gone: run the task again
            rows[row["task_id"]] = row
        if damaged:
            warnings.warn(
                f"{path}: line(s) {damaged[:10]} are damaged (not a row of this batch) and are "
                "skipped; their tasks run again, every other finished row is kept",
                HiermetaWarning,
                stacklevel=4,
            )
        return rows

    def _drop_partial_line(self) -> None:
        """Cut a last line left unfinished by a killed run (once the folder is known ours)."""
        path = self.folder / "rows.jsonl"
        if path.exists():
            data = path.read_bytes()
            complete = data.rfind(b"\n") + 1
            if complete != len(data):
                with open(path, "r+b") as handle:
                    handle.truncate(complete)

    # ------------------------------------------------------------------ writing
    @property
    def done(self) -> set[str]:
        """Ids of the tasks that already have a row."""
        return set(self.rows)

    def append(self, outcomes: Iterable[Any]) -> list[dict[str, Any]]:
        """Record finished tasks (posterior files first, then their rows, then one sync).

        A task that already has a row is not recorded again; returns the rows recorded.
        """
        written = []
        lines = []
        for outcome in outcomes:
            row = dict(outcome.row)
            task_id = row["task_id"]
            if task_id in self.rows:
                continue
            if outcome.posterior is not None:
                name = f"posteriors/{posterior_name(task_id)}"
                (self.folder / "posteriors").mkdir(exist_ok=True)
                with _temporary(self.folder / name) as tmp:
                    outcome.posterior.to_netcdf(tmp, engine="h5netcdf")
                row["posterior_file"] = name
            row["fingerprint"] = self.fingerprints[task_id]
            row = {key: clean(value) for key, value in row.items()}
            lines.append(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
            self.rows[task_id] = row
            written.append(row)
        if lines:
            self._handle.write("".join(lines))
            self._handle.flush()
            os.fsync(self._handle.fileno())
        return written

    def write_results(self, table: pd.DataFrame) -> Path:
        """Write the final table (atomically) and return its path."""
        path = self.folder / "results.csv"
        text = table.select_dtypes(exclude="number").columns
        safe = table.copy()
        safe[text] = safe[text].map(spreadsheet_safe)  # a spreadsheet must not run a label
        _atomic_write(path, safe.to_csv(index=False))
        return path


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    """A temporary file next to ``path``, renamed to it on success and removed on failure.

    Created with ``os.open(…, 0o666)`` so that the umask sets its mode, as for rows.jsonl
    (``mkstemp`` would make it 0600)."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_write(path: Path, text: str) -> None:
    with _temporary(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
