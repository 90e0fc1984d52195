"""Many meta-analyses at once: ``hm.batch`` (in this process or on a Dask cluster).

Layers: :mod:`~hiermeta.batch.tasks` (what to run) → :mod:`~hiermeta.batch.execute` (running
a unit of tasks) → :mod:`~hiermeta.batch.schedulers` (where units run) →
:mod:`~hiermeta.batch.store` (the resumable output folder) → :mod:`~hiermeta.batch.api`.
"""

from hiermeta.batch.api import BatchResult, BatchWarning, batch
from hiermeta.batch.tasks import Task, make_tasks, read_tasks, tasks_from_folder, tasks_from_frame

__all__ = [
    "BatchResult",
    "BatchWarning",
    "Task",
    "batch",
    "make_tasks",
    "read_tasks",
    "tasks_from_folder",
    "tasks_from_frame",
]
