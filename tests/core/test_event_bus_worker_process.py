"""The event bus with a real worker process: `python -m guanxi.cli worker` (Huey's consumer) started as
a separate OS process on the test's database and queue (SQLite + SQLite queue, or PostgreSQL + Redis).

The worker is given the subscribers of tests/worker_subscribers.py through
`GUANXI_EXTRA_SUBSCRIBER_MODULES`, the run's queue name through `GUANXI_TEST_QUEUE_NAME`, and a short
back-off (1 s base, 3 attempts). It runs without periodic tasks (`--no-periodic`): where the outbox
relay is needed the test calls `events.relay_stale()` itself, the function the periodic task runs,
instead of waiting a minute for it.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections import Counter

import pytest
from django.db import transaction

from guanxi.core import events
from guanxi.core.models import Event, EventDelivery
from guanxi.customization.models import Tag
from tests import worker_subscribers as subs
from tests.worker_processes import Workers
from tests.worker_subscribers import WorkerTestEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

RETRY_BASE_SECONDS = 1
MAX_ATTEMPTS = 3

RECORD = f"{subs.__name__}.record"
ALWAYS_RAISE = f"{subs.__name__}.always_raise"
BLOCK = f"{subs.__name__}.block_until_released"


@pytest.fixture
def workers(queue):
    """Start real worker processes on the test's database and (emptied) queue, with the test
    subscribers and a short back-off; killed afterwards, before the database is flushed."""
    started = Workers(
        {
            "GUANXI_EXTRA_SUBSCRIBER_MODULES": subs.__name__,
            "GUANXI_EVENT_RETRY_BASE_SECONDS": str(RETRY_BASE_SECONDS),
            "GUANXI_EVENT_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        }
    )
    try:
        yield started
    finally:
        started.kill_all()


def _emit(name: str) -> tuple[Event, str]:
    run = uuid.uuid4().hex[:12]
    with transaction.atomic():  # handed to the worker when it commits, like an action's event
        event = events.emit(name, payload={"run": run})
    return event, run


def _deliveries(event: Event) -> dict[str, EventDelivery]:
    return {d.subscriber: d for d in EventDelivery.objects.filter(event=event)}


def _calls(run: str) -> Counter[str]:
    return Counter(call["subscriber"] for call in subs.calls(run))


def _tags(run: str) -> Counter[str]:
    return Counter(
        name.removesuffix(f"-{run}")
        for name in Tag.objects.filter(name__endswith=f"-{run}").values_list("name", flat=True)
    )


def test_a_raising_subscriber_does_not_stop_the_others_is_retried_with_backoff_then_dead(workers):
    workers.start()
    event, run = _emit(WorkerTestEvent.FLAKY)

    # first attempt: the other subscriber committed, the failure is counted and scheduled
    failed = workers.wait_for(
        "the first failure", lambda: (d := _deliveries(event).get(ALWAYS_RAISE)) and d.attempts >= 1 and d
    )
    done = _deliveries(event)[RECORD]
    assert (done.status, done.attempts) == ("done", 1)
    assert (failed.status, failed.attempts) == ("pending", 1)
    assert "subscriber always fails" in failed.last_error
    assert (failed.next_attempt_at - failed.updated_at).total_seconds() == pytest.approx(
        RETRY_BASE_SECONDS, abs=0.1
    )  # the next attempt is one back-off after the failure
    assert _tags(run) == {"record": 1}  # the failing subscriber's write was rolled back
    event.refresh_from_db()
    assert event.processed_at is None

    # the worker retries it on its own until the N-th failure makes it a dead letter
    dead = workers.wait_for(
        "the dead letter", lambda: (d := _deliveries(event)[ALWAYS_RAISE]).status == "dead" and d
    )
    assert dead.attempts == MAX_ATTEMPTS
    event.refresh_from_db()
    assert event.processed_at is not None  # every delivery is done or dead
    assert _deliveries(event)[RECORD].attempts == 1
    assert _calls(run) == {"record": 1, "always_raise": MAX_ATTEMPTS}
    assert _tags(run) == {"record": 1}

    # exponential back-off between the calls: at least base, then 2 x base
    times = [call["at"] for call in subs.calls(run) if call["subscriber"] == "always_raise"]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert gaps[0] >= RETRY_BASE_SECONDS and gaps[1] >= 2 * RETRY_BASE_SECONDS, gaps


def test_a_worker_killed_mid_event_reruns_only_the_deliveries_that_did_not_commit(workers):
    first = workers.start()
    event, run = _emit(WorkerTestEvent.SLOW)

    # the fast subscriber committed; the slow one is inside its transaction, waiting
    workers.wait_for(
        "the fast delivery", lambda: _deliveries(event).get(RECORD, EventDelivery()).status == "done"
    )
    workers.wait_for("the slow subscriber to start", lambda: _calls(run)["block_until_released"] == 1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)

    deliveries = _deliveries(event)
    assert (deliveries[BLOCK].status, deliveries[BLOCK].attempts) == ("pending", 0)  # died uncommitted
    assert _tags(run) == {"record": 1}  # the slow subscriber's write went with the process
    event.refresh_from_db()
    assert event.processed_at is None

    # its task died with it: the outbox relay hands the event to a new worker, which runs only
    # what did not commit
    second = workers.start()
    assert events.relay_stale(older_than_seconds=0) >= 1
    workers.wait_for("the slow subscriber to restart", lambda: _calls(run)["block_until_released"] == 2)
    subs.release_file(run).touch()
    workers.wait_for("the event to be processed", lambda: Event.objects.get(pk=event.pk).processed_at)

    assert {key: (d.status, d.attempts) for key, d in _deliveries(event).items()} == {
        RECORD: ("done", 1),
        BLOCK: ("done", 1),
    }
    assert _calls(run) == {"record": 1, "block_until_released": 2}
    assert [call["pid"] for call in subs.calls(run)] == [first.pid, first.pid, second.pid]
    assert _tags(run) == {"record": 1, "block_until_released": 1}  # each committed exactly once
