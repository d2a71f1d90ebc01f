"""Staging: a file's rows into ImportRow (status pending) in short transactions, the job's
initial mapping, the worker side of an upload, and what a job's state allows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage, storages
from django.db import transaction
from django.utils import timezone, translation

from guanxi.core import audit
from guanxi.core.context import request_context
from guanxi.core.exceptions import require
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import DataScope, Perm
from guanxi.customers.importing.fields import customer_registry, resolve_target, suggest_mapping
from guanxi.customers.importing.reading import Table, _sha256, read_table
from guanxi.customers.importing.writing import _insert_import_rows
from guanxi.customers.models import (
    ImportJob,
    ImportMapping,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
)

log = logging.getLogger(__name__)

PREVIEW_ROWS = 20
# Staging rows per transaction: every upload is read by the worker, and each batch commits on its
# own, so that the SQLite write lock is held for a moment at a time, never for the whole file.
STAGE_BATCH = 2000


def _user(actor) -> User | None:
    return actor if isinstance(actor, User) else None


def _job_options(options: dict | None) -> dict:
    return {
        "update_existing": False,
        "language": translation.get_language() or settings.LANGUAGE_CODE,
        **(options or {}),
    }


def _initial_mapping(headers: list[str], *, actor, mapping, saved_mapping) -> dict[str, str]:
    allow_owner = actor is None or actor.has_perm_code(Perm.CUSTOMER_ASSIGN)
    if mapping is not None:
        return {h: f for h, f in mapping.items() if h in headers}
    if saved_mapping is not None:
        registry = customer_registry()
        # A custom field renamed since the mapping was saved is followed to its new key; a deleted
        # one stays, so that the preview (stale_targets) and confirm_import report it.
        known = {
            h: resolve_target(f, registry) or f for h, f in saved_mapping.mapping.items() if h in headers
        }
        if allow_owner:
            return known
        return {h: f for h, f in known.items() if f != "owner"}
    return suggest_mapping(headers, allow_owner=allow_owner)


def _stage_rows(job: ImportJob, table: Table, progress: Callable[[int], None] | None = None) -> int:
    """Insert the file's rows, STAGE_BATCH per transaction (the job's row count follows, for the page)."""
    headers = table.headers
    width = len(headers)
    batch: list[tuple] = []
    total = 0

    def commit() -> None:
        nonlocal total, batch
        with transaction.atomic():
            total += _insert_import_rows(batch)
            ImportJob.objects.filter(pk=job.pk).update(total_rows=total)
        batch = []
        if progress:
            progress(total)

    for number, cells in table.rows:
        data = {headers[i]: cell for i, cell in enumerate(cells[:width]) if cell and cell.strip()}
        if not data:
            continue
        batch.append((job.pk, number, data, ImportRowStatus.PENDING))
        if len(batch) >= STAGE_BATCH:
            commit()
    if batch or progress:
        commit()
    return total


def stage_import(
    file_name: str,
    source: bytes | str | Path,
    *,
    actor,
    mapping: dict[str, str] | None = None,
    saved_mapping: ImportMapping | None = None,
    options: dict | None = None,
    progress: Callable[[int], None] | None = None,
    job: ImportJob | None = None,
) -> ImportJob:
    """Read a file into staging rows (status pending); returns the job, waiting for confirmation.

    The mapping is the given one, else the saved mapping's, else suggested from the headers.
    `job`: the job `stage_later` created for an upload (the worker stages it). Rows are streamed
    from the file and committed in batches (`_stage_rows`); a file found unreadable or too large
    part-way leaves no rows behind (nor the job, unless it was given) and raises ValidationError.
    """
    require(actor, Perm.CUSTOMER_IMPORT)
    if isinstance(source, str):
        source = Path(source)
    table = read_table(file_name, source)
    created = job is None
    with transaction.atomic():
        if job is None:
            job = ImportJob(
                created_by=_user(actor), file_name=Path(file_name).name[:255], options=_job_options(options)
            )
        job.file_sha256 = _sha256(source)
        job.encoding = table.encoding
        job.headers = table.headers
        job.saved_mapping = saved_mapping or job.saved_mapping
        job.mapping = _initial_mapping(
            table.headers, actor=actor, mapping=mapping, saved_mapping=job.saved_mapping
        )
        job.status = ImportStatus.QUEUED  # still being read: is_staging() until the last batch is in
        job.options = {**job.options, "staging": True}
        job.save()
    if not created:
        _discard_rows(job)  # a worker killed while staging this job left a part of it: start over
    try:
        total = _stage_rows(job, table, progress)
    except BaseException:
        _discard_rows(job)
        if created:  # a direct call (`guanxi import`) leaves no job behind; the worker marks its own failed
            job.delete()
        raise
    with transaction.atomic():
        job.total_rows = total
        job.status = ImportStatus.STAGED
        job.options = {k: v for k, v in job.options.items() if k != "staging"}
        job.save(update_fields=["total_rows", "status", "options"])
        audit.record(
            AuditAction.CREATE,
            job,
            actor=actor,
            before=None,
            after={"file_name": job.file_name, "file_sha256": job.file_sha256, "rows": job.total_rows},
        )
    return job


def _discard_rows(job: ImportJob) -> None:
    """Remove the rows staged so far of a file that turned out unreadable, batch by batch."""
    while True:
        with transaction.atomic():
            ids = list(job.rows.values_list("pk", flat=True)[:STAGE_BATCH])
            if not ids:
                return
            ImportRow.objects.filter(pk__in=ids).delete()


def _upload_storage():
    if getattr(settings, "MEDIA_ROOT", ""):
        return storages["default"]
    return FileSystemStorage(location=settings.DATA_DIR / "uploads")


def stage_stored(job_id: int, *, actor) -> ImportJob:
    """Worker side of `stage_later`: read the stored upload into staging rows."""
    job = ImportJob.objects.get(pk=job_id)
    stored = job.options.get("staging_file")
    if job.status != ImportStatus.QUEUED or not stored:
        return job
    storage = _upload_storage()
    try:
        with request_context(job.options.get("request_id")), translation.override(_language(job)):
            try:
                path = Path(storage.path(stored))
            except NotImplementedError:  # remote storage: read it into memory
                with storage.open(stored, "rb") as fh:
                    path = fh.read()
            job = stage_import(job.file_name, path, actor=actor, saved_mapping=job.saved_mapping, job=job)
    except ValidationError as exc:  # not a readable CSV / Excel file, or too large
        storage.delete(stored)
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportStatus.FAILED,
            failure=" ".join(exc.messages),
            finished_at=timezone.now(),
            options={k: v for k, v in job.options.items() if k not in ("staging_file", "staging")},
        )
        return ImportJob.objects.get(pk=job_id)
    storage.delete(stored)
    job.options = {k: v for k, v in job.options.items() if k != "staging_file"}
    job.save(update_fields=["options"])
    return job


def _language(job: ImportJob) -> str:
    return job.options.get("language") or settings.LANGUAGE_CODE


def is_staging(job: ImportJob) -> bool:
    """Uploaded and not read yet, or being read (by the worker or `guanxi import`)."""
    return job.status == ImportStatus.QUEUED and bool(
        job.options.get("staging_file") or job.options.get("staging")
    )


def preview_rows(job: ImportJob, limit: int = PREVIEW_ROWS) -> list[tuple[int, list[str]]]:
    rows = job.rows.order_by("row_number").values_list("row_number", "data")[:limit]
    return [(number, [data.get(h, "") for h in job.headers]) for number, data in rows]


def _may_see_job(actor, job: ImportJob) -> bool:
    return actor is None or job.created_by_id == actor.pk or actor.data_scope == DataScope.ALL


def jobs_visible_to(actor):
    jobs = ImportJob.objects.all()
    if actor is not None and actor.data_scope != DataScope.ALL:
        jobs = jobs.filter(created_by=actor)
    return jobs


def can_resume(job: ImportJob) -> bool:
    """A failed or stalled run of a staged file (a file that could not be read has nothing to resume)."""
    return bool(job.headers) and (job.status == ImportStatus.FAILED or is_stalled(job))


def is_stalled(job: ImportJob, *, seconds: int = 300) -> bool:
    """A running job whose worker has not finished a chunk for a while (killed, most likely)."""
    if job.status != ImportStatus.RUNNING:
        return False
    beat = job.options.get("heartbeat") or (job.started_at.timestamp() if job.started_at else 0)
    return time.time() - beat > seconds
