"""Worker tasks of the core app (Huey): running the subscribers of outbox events.

Loaded by `CoreConfig.ready()`, which hands the tasks to the event bus (`events.use_worker_queue`).
"""

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
    return events.process_many(event_ids)


@db_periodic_task(crontab(minute="*"))
def relay_outbox() -> int:
    return events.relay_stale()


def _run_later(event_id: int, delay: int) -> None:
    process_event.schedule(args=(event_id,), delay=delay)


events.use_worker_queue(events.WorkerQueue(run=process_event, run_many=process_events, run_later=_run_later))
