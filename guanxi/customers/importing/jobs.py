"""Import actions that queue work for the worker: an upload (stored, staged by the worker), the
confirmation of a staged job, and the resumption of a failed or stalled one.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core.context import current_request_id
from guanxi.core.exceptions import NotFound, require
from guanxi.core.permissions import Perm
from guanxi.customers.importing import tasks
from guanxi.customers.importing.fields import clean_mapping, save_mapping
from guanxi.customers.importing.staging import _job_options, _may_see_job, _upload_storage, _user, can_resume
from guanxi.customers.models import (
    ImportJob,
    ImportStatus,
)

log = logging.getLogger(__name__)


@transaction.atomic
def stage_later(
    file_name: str, uploaded, *, actor, saved_mapping=None, options: dict | None = None
) -> ImportJob:
    """An upload: keep the file in storage and let the worker stage it (`stage_stored`). The web
    request never reads an uploaded file (an .xlsx of 1 MB can unpack to hundreds of MB)."""
    require(actor, Perm.CUSTOMER_IMPORT)
    job = ImportJob.objects.create(
        created_by=_user(actor),
        file_name=Path(file_name).name[:255],
        status=ImportStatus.QUEUED,
        saved_mapping=saved_mapping,
        options=_job_options(options),
    )
    suffix = Path(file_name).suffix.lower() or ".csv"
    stored = _upload_storage().save(f"imports/{job.pk}/upload{suffix}", uploaded)
    job.options = {**job.options, "staging_file": stored, "request_id": current_request_id()}
    job.save(update_fields=["options"])
    actor_id = actor.pk if actor is not None else None
    transaction.on_commit(lambda: tasks.stage_import_task(job.pk, actor_id))
    return job


@transaction.atomic
def confirm_import(
    job_id: int,
    *,
    actor,
    mapping: dict[str, str],
    update_existing: bool = False,
    save_as: str = "",
    enqueue: bool = True,
) -> ImportJob:
    """Fix the mapping and options of a staged job and queue it for the worker."""
    require(actor, Perm.CUSTOMER_IMPORT)
    job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or not _may_see_job(actor, job):
        raise NotFound(job_id)
    if job.status != ImportStatus.STAGED:
        raise ValidationError({"status": [_("This import was already started.")]})
    job.mapping = clean_mapping(mapping, job.headers, actor=actor)
    if save_as.strip():
        job.saved_mapping = save_mapping(save_as, job.mapping, actor=actor)
    job.options = {
        **job.options,
        "update_existing": bool(update_existing),
        "request_id": current_request_id(),
        "actor_id": actor.pk if actor is not None else None,
    }
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["mapping", "saved_mapping", "options", "status"])
    if enqueue:
        actor_id = actor.pk if actor is not None else None
        transaction.on_commit(lambda: tasks.run_import_task(job.pk, actor_id))
    return job


@transaction.atomic
def resume_import(job_id: int, *, actor) -> ImportJob:
    """Queue a failed or stalled job again: only its pending rows are processed."""
    require(actor, Perm.CUSTOMER_IMPORT)
    job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or not _may_see_job(actor, job):
        raise NotFound(job_id)
    if not can_resume(job):
        raise ValidationError({"status": [_("Only a failed or stalled import can be resumed.")]})
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["status"])
    # The run continues as the user who confirmed it, whoever resumes it.
    actor_id = job.options.get("actor_id", job.created_by_id)
    transaction.on_commit(lambda: tasks.run_import_task(job.pk, actor_id))
    return job
