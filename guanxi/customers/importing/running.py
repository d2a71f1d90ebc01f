"""Running a confirmed job: chunk after chunk in its own transaction, resumable after a crash."""

from __future__ import annotations

import gc
import itertools
import logging
import time
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.context import request_context
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction
from guanxi.core.permissions import Perm
from guanxi.customers.importing.rows import _Result
from guanxi.customers.importing.runner import _Runner
from guanxi.customers.importing.staging import _language, _may_see_job, is_staging
from guanxi.customers.importing.writing import _unlock_identities, _write_row_results
from guanxi.customers.models import (
    ImportJob,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
)

log = logging.getLogger(__name__)

# Rows per transaction. On PostgreSQL every identifier of a chunk is locked (the identity lock
# of actions.ingest_customer) until commit, and advisory locks share the server's lock table
# (max_locks_per_transaction x max_connections, 6,400 by default): keep chunks small there.
CHUNK_SIZE = {"postgresql": 500}
DEFAULT_CHUNK_SIZE = 2000


def _pending_rows(job_id: int, limit: int, after: int) -> list[tuple[int, int, dict]]:
    """The next pending rows after row `after`: a range scan from there, never over the entries that
    processed rows leave behind in the (job, status, row_number) index until it is vacuumed."""
    return list(
        ImportRow.objects.filter(job_id=job_id, status=ImportRowStatus.PENDING, row_number__gt=after)
        .order_by("row_number")
        .values_list("id", "row_number", "data")[:limit]
    )


def _count(results: list[_Result], status: str) -> int:
    return sum(1 for r in results if r.status == status)


def _run_chunk(runner: _Runner, job_id: int, chunk_size: int, after: int, *, bulk: bool) -> int | None:
    """One transaction: the next pending rows, their customers, audit entries, events, row results
    and the job's counters commit together. Returns the last row number done (None: nothing left)."""
    with transaction.atomic():
        # One chunk at a time per job, whichever worker runs it.
        locked = ImportJob.objects.select_for_update().get(pk=job_id)
        t = time.perf_counter()
        rows = _pending_rows(job_id, chunk_size, after)
        if not rows:
            return None
        t = runner._tick("db: read staged rows", t)
        results = runner.bulk_chunk(rows) if bulk else runner.rows_chunk(rows)
        t = time.perf_counter()
        _write_row_results(results)
        ImportJob.objects.filter(pk=job_id).update(
            processed_rows=F("processed_rows") + len(results),
            created_count=F("created_count") + _count(results, ImportRowStatus.CREATED),
            updated_count=F("updated_count") + _count(results, ImportRowStatus.UPDATED),
            unchanged_count=F("unchanged_count") + _count(results, ImportRowStatus.UNCHANGED),
            error_count=F("error_count") + _count(results, ImportRowStatus.ERROR),
            options={**locked.options, "heartbeat": time.time()},
        )
        t = runner._tick("db: row results, counters", t)
    runner._tick("db: commit", t)
    return rows[len(results) - 1][1]  # the bulk path may leave a tail of the rows for the next chunk


def chunk_size_default() -> int:
    return CHUNK_SIZE.get(connection.vendor, DEFAULT_CHUNK_SIZE)


def run_import(
    job_id: int,
    *,
    actor,
    chunk_size: int | None = None,
    bulk: bool = True,
    progress: Callable[[ImportJob], None] | None = None,
) -> ImportJob:
    """Process the pending rows of a job. Safe to re-run after a crash: finished chunks stay done."""
    require(actor, Perm.CUSTOMER_IMPORT)
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or not _may_see_job(actor, job):
        raise NotFound(job_id)
    if job.status == ImportStatus.DONE:
        return job
    if job.status == ImportStatus.STAGED or is_staging(job):
        raise ValidationError({"status": [_("This import has not been confirmed yet.")]})
    chunk_size = chunk_size or chunk_size_default()
    with request_context(job.options.get("request_id")), translation.override(_language(job)):
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportStatus.RUNNING, started_at=job.started_at or timezone.now(), failure=""
        )
        job.refresh_from_db()
        runner = _Runner(job, actor=actor)
        # Millions of short-lived objects: the cyclic GC would walk the whole heap again and again.
        # Reference counting frees them; young generations are collected once per chunk.
        gc_enabled = gc.isenabled()
        gc.disable()
        try:
            after = 0  # rows are processed in row order; a re-run starts again from the first pending one
            for chunk_number in itertools.count():
                if chunk_number % 10 == 0:
                    gc.collect(1)
                try:
                    after = _run_chunk(runner, job_id, chunk_size, after, bulk=bulk)
                finally:
                    _unlock_identities(runner.locked)
                    runner.locked = []
                if after is None:
                    break
                if progress:
                    job.refresh_from_db()
                    progress(job)
        except Exception as exc:
            ImportJob.objects.filter(pk=job_id).update(status=ImportStatus.FAILED, failure=repr(exc)[:2000])
            raise
        finally:
            if gc_enabled:
                gc.enable()
        log.info("import %s timings: %s", job_id, {k: round(v, 2) for k, v in runner.timings.items()})
        with transaction.atomic():
            job = ImportJob.objects.select_for_update().get(pk=job_id)
            if job.status != ImportStatus.DONE:
                job.status = ImportStatus.DONE
                job.finished_at = timezone.now()
                job.save(update_fields=["status", "finished_at"])
                audit.record(
                    AuditAction.UPDATE,
                    job,
                    actor=actor,
                    before={"status": ImportStatus.RUNNING},
                    after={
                        "status": ImportStatus.DONE,
                        "created": job.created_count,
                        "updated": job.updated_count,
                        "unchanged": job.unchanged_count,
                        "errors": job.error_count,
                    },
                )
    return job
