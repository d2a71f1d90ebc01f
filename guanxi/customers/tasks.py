"""Worker tasks for customer import (Huey).

The import's own tasks live in `guanxi.customers.importing.tasks` (imported here so the consumer
registers them); the periodic check for stalled imports is here, above the import's actions.
"""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.customers.importing.jobs import resume_import
from guanxi.customers.importing.staging import is_stalled
from guanxi.customers.importing.tasks import run_import_task, stage_import_task
from guanxi.customers.models import ImportJob, ImportStatus

log = logging.getLogger(__name__)

__all__ = ["resume_stalled_imports", "run_import_task", "stage_import_task"]


@db_periodic_task(crontab(minute="*/5"))
def resume_stalled_imports() -> int:
    """Re-queue imports whose worker died mid-run (no chunk finished for five minutes)."""
    resumed = 0
    for job in ImportJob.objects.filter(status=ImportStatus.RUNNING):
        if is_stalled(job):
            log.warning("import %s stalled; resuming", job.pk)
            resume_import(job.pk, actor=None)
            resumed += 1
    return resumed
