"""Worker tasks for customer import (Huey)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

log = logging.getLogger(__name__)


def _actor(actor_id: int | None):
    from guanxi.core.models import User

    return User.objects.filter(pk=actor_id).first() if actor_id is not None else None


@db_task()
def stage_import_task(job_id: int, actor_id: int | None) -> int:
    """Read a large upload into staging rows (the page then shows the preview)."""
    from guanxi.customers import importing

    return importing.stage_stored(job_id, actor=_actor(actor_id)).total_rows


@db_task()
def run_import_task(job_id: int, actor_id: int | None) -> int:
    """Process the pending rows of a confirmed import; a re-run continues where a crash stopped."""
    from guanxi.customers import importing

    return importing.run_import(job_id, actor=_actor(actor_id)).processed_rows


@db_periodic_task(crontab(minute="*/5"))
def resume_stalled_imports() -> int:
    """Re-queue imports whose worker died mid-run (no chunk finished for five minutes)."""
    from guanxi.customers import importing
    from guanxi.customers.models import ImportJob, ImportStatus

    resumed = 0
    for job in ImportJob.objects.filter(status=ImportStatus.RUNNING):
        if importing.is_stalled(job):
            log.warning("import %s stalled; resuming", job.pk)
            importing.resume_import(job.pk, actor=None)
            resumed += 1
    return resumed
