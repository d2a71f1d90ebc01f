"""Worker tasks of the customer import (Huey); registered through `guanxi.customers.tasks`.

Thin: each task runs one function of the import as the user who queued it. The actions that queue
them (`jobs`) import this module; these tasks import only the worker-side modules (`staging`,
`running`), never `jobs`, so there is no cycle.
"""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from guanxi.core.models import User
from guanxi.customers.importing.running import run_import
from guanxi.customers.importing.staging import stage_stored


def _actor(actor_id: int | None) -> User | None:
    return User.objects.filter(pk=actor_id).first() if actor_id is not None else None


@db_task()
def stage_import_task(job_id: int, actor_id: int | None) -> int:
    """Read an uploaded file into staging rows (the job page then moves on to the preview)."""
    return stage_stored(job_id, actor=_actor(actor_id)).total_rows


@db_task()
def run_import_task(job_id: int, actor_id: int | None) -> int:
    """Process the pending rows of a confirmed import; a re-run continues where a crash stopped."""
    return run_import(job_id, actor=_actor(actor_id)).processed_rows
