"""Worker tasks of the core app (Huey)."""

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guanxi.core import events

log = logging.getLogger(__name__)


@db_task(retries=3, retry_delay=10)
def process_event(event_id: int) -> bool:
    return events.process(event_id)


@db_task(retries=3, retry_delay=10)
def process_events(event_ids: list[int]) -> int:
    """A batch of events emitted together (`events.emit_many`): one queue message for the batch. An
    event whose handler fails stays unprocessed and is re-enqueued alone by the outbox relay."""
    done = 0
    for event_id in event_ids:
        try:
            done += events.process(event_id)
        except Exception:
            log.exception("event %s failed; the outbox relay will retry it", event_id)
    return done


@db_periodic_task(crontab(minute="*"))
def relay_outbox() -> int:
    return events.relay_stale()


@db_task(retries=3, retry_delay=10)
def rewrite_custom_field(field_id: int) -> dict:
    """Move stored values after a custom field's rename, delete or restore (short batches)."""
    from guanxi.core.customization import run_field_rewrite

    return run_field_rewrite(field_id)


@db_periodic_task(crontab(minute="17", hour="3"))
def purge_deleted_custom_fields() -> int:
    from guanxi.core.customization import purge_deleted_fields

    return purge_deleted_fields()
