"""Worker tasks of the core app (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guanxi.core import events


@db_task(retries=3, retry_delay=10)
def process_event(event_id: int) -> bool:
    """Run the subscribers of one outbox event (each in its own transaction, see core/events.py)."""
    return events.process(event_id)


@db_task(retries=3, retry_delay=10)
def process_events(event_ids: list[int]) -> int:
    """Run the subscribers of many outbox events (`emit_many`, the outbox relay)."""
    return sum(1 for event_id in event_ids if events.process(event_id))


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
