"""Worker tasks of the core app (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guanxi.core import events


@db_task(retries=3, retry_delay=10)
def process_event(event_id: int) -> bool:
    return events.process(event_id)


@db_periodic_task(crontab(minute="*"))
def relay_outbox() -> int:
    return events.relay_stale()
