"""The event bus (core/events.py): a typed catalogue, one delivery per (event, subscriber) with its own
transaction, attempts, back-off and dead letter, retry from the settings page, a killed worker re-running
only what did not commit, emit_many / record_many. Through the real queue (SQLite or Redis)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guanxi.core import audit, events
from guanxi.core.actions import create_department
from guanxi.core.context import request_context
from guanxi.core.events import CoreEvent, UndeclaredEvent
from guanxi.core.models import AuditAction, AuditEntry, Department, Event, EventDelivery
from guanxi.customization.models import Tag
from tests.conftest import drain
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

EVENT = CoreEvent.DEPARTMENT_CREATED  # an event no app subscribes to: the tests' subscribers are alone


@pytest.fixture
def bus(monkeypatch):
    """Subscribers registered by a test are forgotten after it."""
    monkeypatch.setattr(events, "_subscribers", {k: dict(v) for k, v in events._subscribers.items()})
    monkeypatch.setattr(events, "_conditions", dict(events._conditions))
    monkeypatch.setattr(events, "_name_conditions", dict(events._name_conditions))
    monkeypatch.setattr(events, "_batch", set(events._batch))
    # Subscribers to every event that want none of these (outgoing webhooks with no endpoint) stay.
    conditional = set(events._conditions) | set(events._name_conditions)
    unconditional = {k for k in events.subscribers_for(EVENT) if k not in conditional}
    assert not unconditional


def _deliveries(event) -> dict[str, EventDelivery]:
    return {d.subscriber: d for d in EventDelivery.objects.filter(event=event)}


def _due_ids() -> list[int]:
    return list(events.due_events().values_list("pk", flat=True))


def _age(event) -> None:
    """Pretend the event was committed five minutes ago (what the relay looks for)."""
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - dt.timedelta(minutes=5))


# --------------------------------------------------------------------------- the catalogue


def test_undeclared_names_and_payload_fields_fail_at_once(bus):
    with pytest.raises(UndeclaredEvent):
        events.subscribe("customer.creatd")(lambda event: None)  # a typo fails when the module loads
    with pytest.raises(UndeclaredEvent):
        events.emit("customer.creatd")
    with pytest.raises(UndeclaredEvent):
        events.emit(CoreEvent.USER_UPDATED, payload={"chnaged": ["name"]})
    with pytest.raises(UndeclaredEvent):
        events.emit_many("deal.won", [(None, {})])
    assert not Event.objects.exists()  # nothing was written


def test_every_subscribed_and_emitted_name_is_declared():
    catalogue = events.catalogue()
    for name in events._subscribers:
        assert name == events.ALL or name in catalogue
    # the owner-change event other apps build on, with its payload fields
    assert {"from_owner_id", "to_owner_id", "reason", "pool_id"} <= catalogue["customer.assigned"].fields
    # subscribers are registered at start-up, by their dotted path
    assert "guanxi.messaging.subscribers.tell_rep_about_assigned_lead" in events.subscribers_for(
        "customer.assigned"
    )
    assert "guanxi.engagement.tasks.stop_cadences_when_deal_won" in events.subscribers_for(
        "deal.stage_changed"
    )


# --------------------------------------------------------------------------- failures, back-off, dead letters


def test_a_conditional_subscriber_gets_a_delivery_only_for_events_it_wants(org, queue, bus, monkeypatch):
    monkeypatch.setattr(events, "_conditions", dict(events._conditions))
    seen: list[str] = []

    @events.subscribe(
        events.ALL, name="tests.picky", when=lambda event: event.payload.get("changed") == ["name"]
    )
    def picky(event):
        seen.append(event.name)

    drain(queue)
    dept = create_department("挑剔部", actor=org.admin)
    created = Event.objects.get(name=EVENT, object_id=dept.pk)
    drain(queue)
    assert seen == [] and "tests.picky" not in _deliveries(created)  # no row, no run
    assert Event.objects.get(pk=created.pk).processed_at is not None

    updated = events.emit(CoreEvent.USER_UPDATED, org.admin, payload={"changed": ["name"]})
    drain(queue)
    assert seen == [CoreEvent.USER_UPDATED] and _deliveries(updated)["tests.picky"].status == "done"


def test_a_failing_subscriber_is_retried_with_backoff_then_dead_lettered_and_retried_from_the_page(
    org, queue, bus, settings
):
    settings.EVENT_MAX_ATTEMPTS = 3
    settings.EVENT_RETRY_BASE_SECONDS = 60
    calls: Counter[str] = Counter()
    broken = {"on": True}

    @events.subscribe(EVENT, name="tests.good")
    def good(event):
        Tag.objects.create(name=f"good-{event.pk}")
        calls["good"] += 1

    @events.subscribe(EVENT, name="tests.bad")
    def bad(event):
        Tag.objects.create(name=f"bad-{event.pk}")  # rolled back with the failure
        calls["bad"] += 1
        if broken["on"]:
            raise RuntimeError("mail server down")

    drain(queue)
    dept = create_department("新部门", actor=org.admin)
    event = Event.objects.get(name=EVENT, object_id=dept.pk)
    drain(queue)

    # the failing subscriber did not stop (or roll back) the other one
    deliveries = _deliveries(event)
    assert (deliveries["tests.good"].status, deliveries["tests.good"].attempts) == ("done", 1)
    assert Tag.objects.filter(name=f"good-{event.pk}").exists()
    failed = deliveries["tests.bad"]
    assert (failed.status, failed.attempts) == ("pending", 1)  # the attempt survived the rollback
    assert "mail server down" in failed.last_error
    assert not Tag.objects.filter(name=f"bad-{event.pk}").exists()
    wait = (failed.next_attempt_at - timezone.now()).total_seconds()
    assert 50 < wait <= 60  # back-off: the base delay after the first failure
    event.refresh_from_db()
    assert event.processed_at is None

    # before the back-off has passed, neither a duplicate delivery nor the relay runs it again
    events.process(event.pk)
    _age(event)
    assert event.pk not in _due_ids()
    assert _deliveries(event)["tests.bad"].attempts == 1 and calls == {"good": 1, "bad": 1}

    # when it is due, the relay hands it to the worker: the second failure doubles the wait
    EventDelivery.objects.filter(pk=failed.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert event.pk in _due_ids()
    assert events.relay_stale() >= 1
    drain(queue)
    failed.refresh_from_db()
    assert failed.attempts == 2 and failed.status == "pending"
    assert 110 < (failed.next_attempt_at - timezone.now()).total_seconds() <= 120

    # the N-th failure makes it a dead letter; the event is processed (done or dead) and never re-queued
    EventDelivery.objects.filter(pk=failed.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )
    events.relay_stale()
    drain(queue)
    failed.refresh_from_db()
    event.refresh_from_db()
    assert (failed.status, failed.attempts) == ("dead", 3)
    assert event.processed_at is not None
    assert event.pk not in _due_ids()
    assert calls == {"good": 1, "bad": 3}

    # a rep may not see or retry dead letters
    rep = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert rep.login(username=org.rep_e1.username, password=PASSWORD)
    assert rep.get("/settings/events/").status_code == 403
    assert rep.post("/settings/events/retry/", {"delivery_ids": [failed.pk]}).status_code == 403
    failed.refresh_from_db()
    assert failed.status == "dead"

    # an administrator sees it on the page and retries it once the cause is fixed
    admin = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert admin.login(username=org.admin.username, password=PASSWORD)
    page = admin.get("/settings/events/").content.decode()
    assert "tests.bad" in page and "mail server down" in page and "tests.good" not in page
    broken["on"] = False
    response = admin.post("/settings/events/retry/", {"delivery_ids": [failed.pk]})
    assert response.status_code == 302 and response["Location"] == "/settings/events/"
    entry = AuditEntry.objects.get(content_type__model="eventdelivery", object_id=failed.pk)
    assert entry.actor == org.admin and entry.before == {"status": "dead", "attempts": 3}
    drain(queue)
    failed.refresh_from_db()
    event.refresh_from_db()
    assert (failed.status, failed.attempts) == ("done", 1)
    assert Tag.objects.filter(name=f"bad-{event.pk}").exists()
    assert event.processed_at is not None
    assert calls == {"good": 1, "bad": 4}  # the subscriber that had succeeded did not run again
    assert "No failed deliveries" in admin.get("/settings/events/").content.decode()
    # retrying something that is not a dead letter changes nothing; garbage is a form error, not a 500
    assert admin.post("/settings/events/retry/", {"delivery_ids": [failed.pk]}).status_code == 302
    assert admin.post("/settings/events/retry/", {"delivery_ids": ["x; drop"]}).status_code == 302
    failed.refresh_from_db()
    assert failed.status == "done"


class WorkerKilled(BaseException):
    """What a worker killed mid-task looks like to the code (like KeyboardInterrupt / SystemExit)."""


def test_a_worker_killed_mid_event_reruns_only_the_deliveries_that_did_not_commit(org, queue, bus):
    runs: Counter[str] = Counter()
    crash = {"on": True}

    @events.subscribe(EVENT, name="tests.first")
    def first(event):
        Tag.objects.create(name=f"first-{event.pk}")
        runs["first"] += 1

    @events.subscribe(EVENT, name="tests.second")
    def second(event):
        runs["second"] += 1
        Tag.objects.create(name=f"second-{event.pk}")
        if crash["on"]:
            raise WorkerKilled

    drain(queue)
    dept = create_department("被杀的部门", actor=org.admin)
    event = Event.objects.get(name=EVENT, object_id=dept.pk)
    with pytest.raises(WorkerKilled):
        drain(queue)  # the worker dies inside the second subscriber; its task is gone with it

    deliveries = _deliveries(event)
    assert deliveries["tests.first"].status == "done"  # committed before the crash
    assert (deliveries["tests.second"].status, deliveries["tests.second"].attempts) == ("pending", 0)
    assert not Tag.objects.filter(name=f"second-{event.pk}").exists()  # its work rolled back
    event.refresh_from_db()
    assert event.processed_at is None

    # the relay finds the unfinished event and a new worker completes it
    crash["on"] = False
    _age(event)
    assert events.relay_stale() >= 1
    drain(queue)
    event.refresh_from_db()
    assert event.processed_at is not None
    assert runs == {"first": 1, "second": 2}  # the committed delivery ran exactly once
    assert Tag.objects.filter(name=f"first-{event.pk}").count() == 1
    assert {d.status for d in _deliveries(event).values()} == {"done"}


def test_relay_leaves_processed_and_waiting_events_alone(org, queue, bus):
    drain(queue)
    dept = create_department("无人订阅", actor=org.admin)
    event = Event.objects.get(name=EVENT, object_id=dept.pk)
    _age(event)
    assert event.pk in _due_ids()  # committed but never run (e.g. the enqueue was lost)
    drain(queue)
    event.refresh_from_db()
    assert event.processed_at is not None and event.attempts == 1  # no subscribers: processed at once
    assert event.pk not in _due_ids()
    assert events.process(event.pk) is False  # a duplicate delivery does nothing


# --------------------------------------------------------------------------- batches


def test_a_batch_subscriber_gets_the_events_together_and_a_failure_stays_with_its_event(org, queue, bus):
    """`process_many`: a batch subscriber is called once for a chunk of events (one transaction); when
    that raises, it is rolled back and each event is handed over alone, so only the bad one fails.
    `when_name` is asked once per event name and batch."""
    calls: list[list[int]] = []
    asked: list[str] = []
    depts = [Department.objects.create(name=f"批量部门{i}") for i in range(4)]
    drain(queue)

    def handler(batch):
        calls.append([event.object_id for event in batch])
        for event in batch:
            Tag.objects.create(name=f"batch-{event.pk}")  # rolled back with a failing batch
            if event.object_id == depts[2].pk:
                raise RuntimeError("this one is bad")

    events.subscribe(
        EVENT, name="tests.batch", batch=True, when_name=lambda name: asked.append(name) or True
    )(handler)
    with transaction.atomic():
        emitted = events.emit_many(EVENT, [(d, None) for d in depts])
    assert len(queue) == 1
    drain(queue)

    assert asked == [EVENT]  # once for the four events
    ids = [d.pk for d in depts]
    assert calls[0] == ids  # all four at once; it raised, so one at a time:
    assert calls[1:] == [[i] for i in ids]
    deliveries = {d.event.object_id: d for d in EventDelivery.objects.filter(subscriber="tests.batch")}
    assert {i: deliveries[i].status for i in ids} == {
        ids[0]: "done",
        ids[1]: "done",
        ids[2]: "pending",
        ids[3]: "done",
    }
    assert "this one is bad" in deliveries[ids[2]].last_error and deliveries[ids[2]].attempts == 1
    made = set(Tag.objects.filter(name__startswith="batch-").values_list("name", flat=True))
    assert made == {f"batch-{pk}" for pk in emitted if pk != emitted[2]}
    processed = dict(Event.objects.filter(pk__in=emitted).values_list("object_id", "processed_at"))
    assert processed[ids[2]] is None and all(processed[i] for i in ids if i != ids[2])


def test_events_processed_in_a_batch_cost_a_few_queries_whatever_their_number(org, queue, bus):
    """No per-event query in the bus itself: 40 events with a batch subscriber cost what 4 cost."""
    events.subscribe(EVENT, name="tests.batch-quiet", batch=True)(lambda batch: None)
    drain(queue)

    def cost(n: int) -> int:
        depts = [Department.objects.create(name=f"计数{n}-{i}") for i in range(n)]
        with transaction.atomic():
            emitted = events.emit_many(EVENT, [(d, None) for d in depts])
        queue.flush()
        with CaptureQueriesContext(connection) as queries:
            assert events.process_many(emitted) == n
        assert not Event.objects.filter(pk__in=emitted, processed_at__isnull=True).exists()
        return len(queries.captured_queries)

    assert cost(40) == cost(4)


# --------------------------------------------------------------------------- emit_many / record_many


def test_emit_many_and_record_many_write_in_bulk_and_enqueue_once(org, queue, bus):
    seen = []
    events.subscribe(EVENT, name="tests.seen")(lambda event: seen.append(event.object_id))
    depts = [Department.objects.create(name=f"部门{i}") for i in range(5)]
    parent = Event.objects.create(name="user.created", depth=3)
    drain(queue)

    with transaction.atomic(), request_context("req-bulk", causation_id=parent.pk):
        with CaptureQueriesContext(connection) as queries:
            emitted = events.emit_many(EVENT, [(d, None) for d in depts], actor=org.admin)
            entries = audit.record_many(
                AuditAction.UPDATE, [(d, {"name": "旧"}, {"name": d.name}) for d in depts], actor=org.admin
            )
        # one bulk write each: an INSERT … RETURNING (SQLite; PostgreSQL up to bulk.COPY_FROM_ROWS rows),
        # or ids reserved in one query, then a COPY (PostgreSQL, more rows)
        writes = [
            q["sql"]
            for q in queries.captured_queries
            if q["sql"].lstrip().upper().startswith(("INSERT", "SELECT NEXTVAL"))
        ]
        assert len(writes) == 2
        assert len(queue) == 0  # nothing enqueued inside the transaction
    assert len(queue) == 1  # one task for all the events

    assert list(Event.objects.filter(pk__in=emitted).order_by("id").values_list("object_id", flat=True)) == [
        d.pk for d in depts
    ]
    stored = Event.objects.filter(pk__in=emitted)
    assert {(e.causation_id, e.depth, e.actor_id, e.request_id) for e in stored} == {
        (parent.pk, 4, org.admin.pk, "req-bulk")
    }
    entries = list(AuditEntry.objects.filter(pk__in=entries).order_by("id"))
    assert [(e.object_id, e.object_repr, e.before, e.after) for e in entries] == [
        (d.pk, d.name, {"name": "旧"}, {"name": d.name}) for d in depts
    ]
    assert {(e.actor_id, e.actor_label, e.request_id, e.action, e.content_type.model) for e in entries} == {
        (org.admin.pk, org.admin.username, "req-bulk", "update", "department")
    }
    drain(queue)
    assert sorted(seen) == sorted(d.pk for d in depts)
    assert not Event.objects.filter(pk__in=emitted, processed_at__isnull=True).exists()

    # the loop guard: too deep a causation chain writes nothing
    Event.objects.filter(pk=parent.pk).update(depth=events.MAX_CAUSATION_DEPTH)
    with transaction.atomic(), request_context("req-deep", causation_id=parent.pk):
        assert events.emit_many(EVENT, [(d, None) for d in depts]) == []
    assert not Event.objects.filter(request_id="req-deep").exists()
    # an undeclared payload field refuses the whole batch
    with pytest.raises(UndeclaredEvent), transaction.atomic():
        events.emit_many(CoreEvent.USER_UPDATED, [(org.admin, {"changed": []}), (org.admin, {"oops": 1})])
    assert not Event.objects.filter(name="user.updated").exists()
