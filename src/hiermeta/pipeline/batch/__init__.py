"""Many meta-analyses at once: ``hm.batch`` (in this process or on a Dask cluster).

Layers: :mod:`~hiermeta.pipeline.batch.tasks` (what to run) → :mod:`~hiermeta.pipeline.batch.execute` (running
a unit of tasks) → :mod:`~hiermeta.pipeline.batch.schedulers` (where units run) →
:mod:`~hiermeta.pipeline.batch.store` (the resumable output folder) → :mod:`~hiermeta.pipeline.batch.api`.
"""

from hiermeta.pipeline.batch.api import BatchResult, BatchWarning, batch
from hiermeta.pipeline.batch.tasks import (
    Task,
    make_tasks,
    read_tasks,
    tasks_from_folder,
    tasks_from_frame,
)

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
