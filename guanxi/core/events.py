"""Domain events: a typed catalogue, a transactional outbox and one delivery per subscriber.

- **Catalogue.** Every app declares its event names and payload fields in its `events.py`
  (`declare("customer.created", "owner_id", "source")`, usually from a `TextChoices` of names).
  `subscribe()` refuses an undeclared name when the subscriber module is imported (start-up), and
  `emit()` refuses an undeclared name or payload field at once: a typo never passes silently.
- **Outbox.** An action calls `emit()` (or `emit_many()`) inside its transaction; the event row
  commits or rolls back with the data. After commit the event id is handed to the worker
  (`transaction.on_commit`); events that never reached the queue are re-enqueued by the periodic
  relay (`relay_stale`).
- **Deliveries.** The worker writes one `EventDelivery` row per (event, subscriber) and runs each
  subscriber in its own transaction: a failing subscriber rolls back only its own work, its failure
  (attempts, error, next attempt) is written in a separate transaction after the rollback, and it is
  retried with exponential back-off until `EVENT_MAX_ATTEMPTS`, then kept as a dead letter that an
  administrator can retry. A worker killed mid-event re-runs only the deliveries that did not commit.
  An event is processed when every delivery is done or dead.
- **Causation.** Events emitted by a subscriber carry the causing event and its depth + 1; deeper than
  `MAX_CAUSATION_DEPTH` they are dropped (the loop guard for automation).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from guanxi.core.audit import json_value
from guanxi.core.bulk import Column, ObjectRef, Sql, insert_rows, insert_select, json_object_sql, model_of
from guanxi.core.context import (
    current_causation_depth,
    current_causation_id,
    current_request_id,
    request_context,
)
from guanxi.core.models import Event, EventDelivery, EventDeliveryStatus

log = logging.getLogger(__name__)

# Events caused by events caused by ... stop here: the loop guard for automation.
MAX_CAUSATION_DEPTH = 8
ALL = "*"  # subscribe to every event (e.g. an automation engine)
LAST_ERROR_MAX = 4000


class UndeclaredEvent(ValueError):
    """An event name, or a payload field, that no app declared in its `events.py`."""


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class EventSpec:
    name: str
    fields: frozenset[str]
    module: str


_catalogue: dict[str, EventSpec] = {}
_discovered = False


def declare(name: str, *fields: str) -> EventSpec:
    """Declare an event and the fields its payload may carry (from the owning app's `events.py`)."""
    name = str(name)
    spec = EventSpec(name, frozenset(fields), _caller_module())
    existing = _catalogue.get(name)
    if existing is not None and existing.module != spec.module:
        raise UndeclaredEvent(f"event {name!r} is declared twice ({existing.module}, {spec.module})")
    _catalogue[name] = spec
    return spec


def _caller_module() -> str:
    frame = sys._getframe(2)
    return frame.f_globals.get("__name__", "?")


def _discover() -> None:
    """Import every installed app's `events` module once, so all declarations are known."""
    global _discovered
    if not _discovered:
        autodiscover_modules("events")
        _discovered = True


def catalogue() -> dict[str, EventSpec]:
    _discover()
    return dict(sorted(_catalogue.items()))


def spec_for(name: str) -> EventSpec:
    name = str(name)
    spec = _catalogue.get(name)
    if spec is None:
        _discover()
        spec = _catalogue.get(name)
    if spec is None:
        raise UndeclaredEvent(f"undeclared event {name!r}: declare it in the owning app's events.py")
    return spec


def _check_payload(spec: EventSpec, payload: dict | None) -> dict:
    payload = payload or {}
    unknown = set(payload) - spec.fields
    if unknown:
        raise UndeclaredEvent(
            f"event {spec.name!r} has no payload field(s) {sorted(unknown)} (declared: {sorted(spec.fields)})"
        )
    return json_value(payload)


# --------------------------------------------------------------------------- subscribers

_subscribers: dict[str, dict[str, Callable[[Event], None]]] = {}
# subscriber key -> predicate: the subscriber gets a delivery (and runs) only for events it wants.
_conditions: dict[str, Callable[[Event], bool]] = {}
_name_conditions: dict[str, Callable[[str], bool]] = {}
_batch: set[str] = set()


def subscriber_name(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def subscribe(
    *names: str,
    name: str | None = None,
    when: Callable[[Event], bool] | None = None,
    when_name: Callable[[str], bool] | None = None,
    batch: bool = False,
):
    """Register a handler for events by name ("*" for all); it runs in the worker, in its own
    transaction, with its own attempts. Its delivery rows are keyed by `name` (default: the dotted
    path of the function); registering the same name again replaces the handler.

    `when(event)`, if given, is asked by the worker before the delivery row is written: a subscriber
    to "*" that cares about few events (outgoing webhooks: only the names some endpoint subscribes
    to) then costs one cheap check per event instead of a delivery row and a transaction.
    `when_name(name)` is the same check when it depends on the event's name alone: the worker asks
    it once per name in a batch of events.

    `batch=True`: the handler takes a list of events. The worker hands it every due event of a batch
    in one transaction (one lock and one update for all their delivery rows); if that raises, it is
    rolled back and the events are handed over one at a time, each in its own transaction, so a
    failure stays with its event. A batch handler sets the request context of each event itself."""
    for event_name in names:
        if event_name != ALL:
            spec_for(event_name)

    def decorator(fn):
        key = name or subscriber_name(fn)
        for event_name in names:
            _subscribers.setdefault(str(event_name), {})[key] = fn
        _conditions.pop(key, None)
        _name_conditions.pop(key, None)
        _batch.discard(key)
        if when is not None:
            _conditions[key] = when
        if when_name is not None:
            _name_conditions[key] = when_name
        if batch:
            _batch.add(key)
        return fn

    return decorator


def subscribers_for(event_name: str) -> dict[str, Callable[[Event], None]]:
    return {**_subscribers.get(event_name, {}), **_subscribers.get(ALL, {})}


def _wants(key: str, event: Event, memo: dict[tuple[str, str], bool] | None = None) -> bool:
    by_name = _name_conditions.get(key)
    if by_name is not None:
        memo = {} if memo is None else memo
        if (key, event.name) not in memo:
            memo[(key, event.name)] = bool(by_name(event.name))
        if not memo[(key, event.name)]:
            return False
    condition = _conditions.get(key)
    return condition is None or bool(condition(event))


# --------------------------------------------------------------------------- emitting


def _causation() -> tuple[int | None, int | None]:
    """(causing event id, depth of a new event); depth None when the loop guard drops it."""
    causation_id = current_causation_id()
    if causation_id is None:
        return None, 0
    parent_depth = current_causation_depth()
    if parent_depth is None:
        parent_depth = Event.objects.filter(pk=causation_id).values_list("depth", flat=True).first() or 0
    depth = parent_depth + 1
    return causation_id, (depth if depth <= MAX_CAUSATION_DEPTH else None)


def emit(
    name: str, obj: models.Model | None = None, *, actor=None, payload: dict | None = None
) -> Event | None:
    """Record a declared event in the outbox (inside the caller's transaction)."""
    spec = spec_for(name)
    data = _check_payload(spec, payload)
    causation_id, depth = _causation()
    if depth is None:
        log.warning("event %s dropped: causation chain deeper than %s", name, MAX_CAUSATION_DEPTH)
        return None
    event = Event.objects.create(
        name=spec.name,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=True)
        if obj is not None
        else None,
        object_id=obj.pk if obj is not None else None,
        payload=data,
        actor=actor if isinstance(actor, models.Model) else None,
        request_id=current_request_id(),
        causation_id=causation_id,
        depth=depth,
    )
    transaction.on_commit(lambda: enqueue([event.pk]))
    return event


def emit_many(
    name: str, entries: Iterable[tuple[models.Model | ObjectRef | None, dict | None]], *, actor=None
) -> list[int]:
    """One event per (obj, payload) entry (`obj` a model instance, an `ObjectRef` or None): one bulk
    write, causation and depth computed once, one enqueue after commit for all of them. Returns the
    new events' ids (an empty list when the loop guard dropped them)."""
    spec = spec_for(name)
    entries = list(entries)
    if not entries:
        return []
    causation_id, depth = _causation()
    if depth is None:
        log.warning(
            "%d %s events dropped: causation chain deeper than %s", len(entries), name, MAX_CAUSATION_DEPTH
        )
        return []
    now, request_id = timezone.now(), current_request_id()
    actor_id = actor.pk if isinstance(actor, models.Model) else None
    content_types: dict[type, int] = {}
    rows = []
    for obj, payload in entries:
        content_type_id = None
        if obj is not None:
            model = model_of(obj)
            content_type_id = content_types.get(model)
            if content_type_id is None:
                content_type_id = ContentType.objects.get_for_model(model, for_concrete_model=True).pk
                content_types[model] = content_type_id
        rows.append(
            (
                now,
                spec.name,
                content_type_id,
                obj.pk if obj is not None else None,
                _check_payload(spec, payload),
                actor_id,
                request_id,
                causation_id,
                depth,
                0,
            )
        )
    ids = insert_rows(Event, EVENT_COLUMNS, rows, return_ids=True)
    transaction.on_commit(lambda: enqueue(ids))
    return ids


def emit_many_sql(
    name: str, model: type[models.Model], source: str, *, pk: Column, payload: dict[str, Any], actor=None
) -> Sql | None:
    """`emit_many` for rows that never come to Python (PostgreSQL): an INSERT ... SELECT of one event
    per row of `source` (a CTE) about the `model` row `pk`, RETURNING (id, object_id). `payload` maps
    declared fields to a `Column` of the source or a constant. The caller hands the returned ids to
    `enqueue_on_commit`. None when the loop guard drops the events."""
    spec = spec_for(name)
    _check_payload(spec, dict.fromkeys(payload))  # refuses an undeclared field
    constants = {k: json_value(v) for k, v in payload.items() if not isinstance(v, Column)}
    causation_id, depth = _causation()
    if depth is None:
        log.warning("%s events dropped: causation chain deeper than %s", name, MAX_CAUSATION_DEPTH)
        return None
    return insert_select(
        Event,
        {
            "created_at": timezone.now(),
            "name": spec.name,
            "content_type_id": ContentType.objects.get_for_model(model, for_concrete_model=True).pk,
            "object_id": pk,
            "payload": json_object_sql({k: constants.get(k, v) for k, v in payload.items()}),
            "actor_id": actor.pk if isinstance(actor, models.Model) else None,
            "request_id": current_request_id(),
            "causation_id": causation_id,
            "depth": depth,
            "attempts": 0,
        },
        source,
        returning=("id", "object_id"),
    )


def enqueue_on_commit(event_ids: list[int]) -> None:
    """Hand events written by `emit_many_sql` to the worker once the transaction commits."""
    if event_ids:
        transaction.on_commit(lambda: enqueue(event_ids))


EVENT_COLUMNS = (
    "created_at",
    "name",
    "content_type_id",
    "object_id",
    "payload",
    "actor_id",
    "request_id",
    "causation_id",
    "depth",
    "attempts",
)


# --------------------------------------------------------------------------- the worker queue


@dataclass(frozen=True)
class WorkerQueue:
    """How events are handed to the worker: run one now, run many now, run one after a delay."""

    run: Callable[[int], Any]
    run_many: Callable[[list[int]], Any]
    run_later: Callable[[int, int], Any]  # (event id, delay in seconds)


_worker_queue: WorkerQueue | None = None


def use_worker_queue(queue: WorkerQueue) -> None:
    """Called by `core.tasks` when it is loaded (`CoreConfig.ready()`): the tasks sit above this
    module and import it, so this module does not import them back."""
    global _worker_queue
    _worker_queue = queue


def worker_queue() -> WorkerQueue:
    if _worker_queue is None:
        raise RuntimeError("No worker queue: guanxi.core.tasks is not loaded (is guanxi.core installed?).")
    return _worker_queue


def enqueue(event_ids: list[int]) -> None:
    try:
        queue = worker_queue()
        if len(event_ids) == 1:
            queue.run(event_ids[0])
        else:
            queue.run_many(event_ids)
    except Exception:  # the queue being down must not fail a committed request
        log.exception("could not enqueue %d event(s); the outbox relay will retry", len(event_ids))


# --------------------------------------------------------------------------- processing


def max_attempts() -> int:
    return max(1, int(getattr(settings, "EVENT_MAX_ATTEMPTS", 5)))


def backoff(attempts: int) -> dt.timedelta:
    """Wait before attempt `attempts + 1`: base, 2 x base, 4 x base ... capped."""
    base = int(getattr(settings, "EVENT_RETRY_BASE_SECONDS", 30))
    cap = int(getattr(settings, "EVENT_RETRY_MAX_SECONDS", 6 * 3600))
    return dt.timedelta(seconds=min(cap, base * 2 ** max(attempts - 1, 0)))


BATCH_SIZE = 500


def process(event_id: int) -> bool:
    """Run every subscriber of one event that has not succeeded yet, each in its own transaction.
    Returns False when the event is unknown or already processed (a duplicate delivery)."""
    return process_many([event_id]) == 1


def process_many(event_ids: Iterable[int]) -> int:
    """`process` for many events (what `emit_many` and the outbox relay hand the worker), in chunks
    of `BATCH_SIZE`: the events, their delivery rows and their settling cost a few queries per chunk,
    and a batch subscriber gets the chunk's events at once. Returns how many events it ran."""
    ids = list(dict.fromkeys(event_ids))
    return sum(_process_chunk(ids[i : i + BATCH_SIZE]) for i in range(0, len(ids), BATCH_SIZE))


def _process_chunk(event_ids: list[int]) -> int:
    found = {
        e.pk: e for e in Event.objects.filter(pk__in=event_ids, processed_at__isnull=True).order_by("id")
    }
    if not found:
        return 0
    now = timezone.now()
    memo: dict[tuple[str, str], bool] = {}
    with transaction.atomic():
        Event.objects.filter(pk__in=found).update(attempts=F("attempts") + 1)
        rows = [
            EventDelivery(event_id=event.pk, subscriber=key, created_at=now, next_attempt_at=now)
            for event in found.values()
            for key in subscribers_for(event.name)
            if _wants(key, event, memo)
        ]
        if rows:
            EventDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    due = EventDelivery.objects.filter(
        event_id__in=found, status=EventDeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
    ).order_by("id")
    batches: dict[str, tuple[Callable, list[tuple[Event, int]]]] = {}
    for delivery_id, event_id, key in due.values_list("pk", "event_id", "subscriber"):
        event = found[event_id]
        handler = subscribers_for(event.name).get(key)
        if key in _batch and handler is not None:
            batches.setdefault(key, (handler, []))[1].append((event, delivery_id))
        else:
            _deliver(event, delivery_id, handler)
    for handler, items in batches.values():
        _deliver_batch(items, handler)
    _settle(list(found))
    return len(found)


def _deliver_batch(items: list[tuple[Event, int]], handler: Callable[[list[Event]], None]) -> None:
    """Run a batch subscriber on many events in one transaction; on failure, one event at a time."""
    if len(items) > 1:
        try:
            with transaction.atomic():
                wanted = [delivery_id for _event, delivery_id in items]
                qs = EventDelivery.objects.filter(pk__in=wanted, status=EventDeliveryStatus.PENDING)
                if connection.features.has_select_for_update_skip_locked:
                    qs = qs.select_for_update(skip_locked=True)
                else:
                    qs = qs.select_for_update()
                locked = set(qs.values_list("pk", flat=True))
                batch = [(event, delivery_id) for event, delivery_id in items if delivery_id in locked]
                if batch:
                    handler([event for event, _delivery in batch])
                    now = timezone.now()
                    EventDelivery.objects.filter(pk__in=[d for _e, d in batch]).update(
                        status=EventDeliveryStatus.DONE, attempts=F("attempts") + 1, done_at=now, updated_at=now,
                        last_error="",
                    )  # fmt: skip
            return
        except Exception:  # noqa: BLE001  (rolled back whole: each event again, alone, below)
            log.warning(
                "batch of %d deliveries failed; delivering them one at a time", len(items), exc_info=True
            )
    for event, delivery_id in items:
        _deliver(event, delivery_id, lambda one: handler([one]))


def _lock_pending(delivery_id: int):
    qs = EventDelivery.objects.filter(pk=delivery_id, status=EventDeliveryStatus.PENDING)
    if connection.features.has_select_for_update_skip_locked:
        return qs.select_for_update(skip_locked=True).first()  # another worker runs it right now
    return qs.select_for_update().first()  # SQLite: write transactions are serialised anyway


def _deliver(event: Event, delivery_id: int, handler: Callable | None) -> None:
    try:
        with transaction.atomic():
            delivery = _lock_pending(delivery_id)
            if delivery is None:
                return  # done or being done by another worker meanwhile
            if handler is None:
                raise LookupError(f"no subscriber {delivery.subscriber!r} is registered in this worker")
            with request_context(
                event.request_id or None, causation_id=event.pk, causation_depth=event.depth
            ):
                handler(event)
            now = timezone.now()
            EventDelivery.objects.filter(pk=delivery_id).update(
                status=EventDeliveryStatus.DONE,
                attempts=F("attempts") + 1,
                done_at=now,
                updated_at=now,
                last_error="",
            )
    except Exception as exc:  # noqa: BLE001  (any failure of a subscriber is recorded, never lost)
        _record_failure(delivery_id, exc)


def _record_failure(delivery_id: int, exc: Exception) -> None:
    """After the subscriber's transaction rolled back: count the attempt, schedule or bury it."""
    error = "".join(traceback.format_exception(exc))[-LAST_ERROR_MAX:]
    with transaction.atomic():
        delivery = EventDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != EventDeliveryStatus.PENDING:
            return
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_error = error
        delivery.updated_at = now
        if delivery.attempts >= max_attempts():
            delivery.status = EventDeliveryStatus.DEAD
            log.error("event %s: subscriber %s failed %d times; dead letter", delivery.event_id,
                      delivery.subscriber, delivery.attempts)  # fmt: skip
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
            log.warning("event %s: subscriber %s failed (attempt %d), retry at %s", delivery.event_id,
                        delivery.subscriber, delivery.attempts, delivery.next_attempt_at)  # fmt: skip
        delivery.save(update_fields=["attempts", "last_error", "updated_at", "status", "next_attempt_at"])


def _settle(event_ids: list[int]) -> None:
    """Mark events processed when nothing is pending; else schedule each one's next due retry."""
    pending = dict(
        EventDelivery.objects.filter(event_id__in=event_ids, status=EventDeliveryStatus.PENDING)
        .order_by()
        .values("event_id")
        .annotate(at=Min("next_attempt_at"))
        .values_list("event_id", "at")
    )
    done = [event_id for event_id in event_ids if event_id not in pending]
    if done:
        Event.objects.filter(pk__in=done, processed_at__isnull=True).update(processed_at=timezone.now())
    for event_id, at in pending.items():
        _schedule(event_id, at)


def _schedule(event_id: int, at: dt.datetime) -> None:
    delay = max(1, int((at - timezone.now()).total_seconds()) + 1)
    try:
        worker_queue().run_later(event_id, delay)
    except Exception:  # the relay picks it up when it is due
        log.exception("could not schedule the retry of event %s", event_id)


def due_events(older_than_seconds: int = 60, now: dt.datetime | None = None):
    """Unprocessed events the relay should hand to a worker: committed a while ago and either never
    run (no pending delivery yet) or with a pending delivery whose back-off has passed. Events whose
    only pending deliveries wait for a later attempt are left alone; dead letters are never due."""
    now = now or timezone.now()
    pending = EventDelivery.objects.filter(event=OuterRef("pk"), status=EventDeliveryStatus.PENDING)
    return Event.objects.filter(
        processed_at__isnull=True, created_at__lt=now - dt.timedelta(seconds=older_than_seconds)
    ).filter(Q(Exists(pending.filter(next_attempt_at__lte=now))) | ~Q(Exists(pending)))


def relay_stale(older_than_seconds: int = 60, limit: int = 1000) -> int:
    """Re-enqueue committed events that are due and that no worker has processed yet."""
    ids = list(due_events(older_than_seconds).order_by("id").values_list("id", flat=True)[:limit])
    if ids:
        enqueue(ids)
    return len(ids)


# --------------------------------------------------------------------------- core's own events


class CoreEvent(models.TextChoices):
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    DEPARTMENT_CREATED = "department.created"


declare(CoreEvent.USER_CREATED)
declare(CoreEvent.USER_UPDATED, "changed")
declare(CoreEvent.DEPARTMENT_CREATED)


def delivery_error_summary(delivery: EventDelivery) -> str:
    """The last line of the stored traceback (what the dead-letter page shows)."""
    lines = [line for line in (delivery.last_error or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
