"""Domain events through a transactional outbox.

An action calls `emit()` inside its transaction; the event row commits (or rolls
back) with the data. After commit the event id is handed to the worker, which
calls every subscribed handler. Events that never reached the queue (a crash
between commit and enqueue) are picked up by the periodic outbox relay.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from guanxi.core.audit import json_value
from guanxi.core.context import current_causation_id, current_request_id, request_context
from guanxi.core.models import Event

log = logging.getLogger(__name__)

# Events caused by events caused by ... stop here: the loop guard for automation.
MAX_CAUSATION_DEPTH = 8

_handlers: dict[str, list[Callable[[Event], None]]] = defaultdict(list)


class EventName(models.TextChoices):
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_UPDATED = "customer.updated"
    CUSTOMER_DELETED = "customer.deleted"
    CUSTOMER_RESTORED = "customer.restored"
    CUSTOMER_MERGED = "customer.merged"
    CUSTOMER_UNMERGED = "customer.unmerged"
    ORDER_CREATED = "order.created"
    DEAL_CREATED = "deal.created"
    DEAL_UPDATED = "deal.updated"
    DEAL_STAGE_CHANGED = "deal.stage_changed"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    DEPARTMENT_CREATED = "department.created"


def subscribe(*names: str):
    """Register a handler for events by name ("*" for all). Handlers run in the worker."""

    def decorator(fn):
        for name in names:
            if fn not in _handlers[name]:
                _handlers[name].append(fn)
        return fn

    return decorator


def _causation(name: str) -> tuple[int | None, int | None]:
    """(causation id, depth) for events emitted now; depth None when the chain is too deep."""
    causation_id = current_causation_id()
    depth = 0
    if causation_id is not None:
        parent_depth = Event.objects.filter(pk=causation_id).values_list("depth", flat=True).first() or 0
        depth = parent_depth + 1
        if depth > MAX_CAUSATION_DEPTH:
            log.warning("event %s dropped: causation chain deeper than %s", name, MAX_CAUSATION_DEPTH)
            return causation_id, None
    return causation_id, depth


def emit_many(name: str, entries, *, actor=None) -> list[Event]:
    """One event per (obj, payload), like `emit`, written in bulk inserts and handed to the worker
    after commit (one on_commit callback for the whole list)."""
    causation_id, depth = _causation(name)
    if depth is None:
        return []
    request_id = current_request_id()
    user = actor if isinstance(actor, models.Model) else None
    types: dict[type, ContentType] = {}
    rows = []
    for obj, payload in entries:
        model = type(obj)
        if model not in types:
            types[model] = ContentType.objects.get_for_model(obj, for_concrete_model=True)
        rows.append(
            Event(
                name=name,
                content_type=types[model],
                object_id=obj.pk,
                payload=json_value(payload or {}),
                actor=user,
                request_id=request_id,
                causation_id=causation_id,
                depth=depth,
            )
        )
    events = Event.objects.bulk_create(rows, batch_size=1000)
    # SQLite 3.35+ and PostgreSQL return the ids; without them the outbox relay delivers the events.
    ids = [event.pk for event in events if event.pk is not None]
    if ids:
        transaction.on_commit(lambda: _enqueue_many(ids))
    return events


def emit(
    name: str, obj: models.Model | None = None, *, actor=None, payload: dict | None = None
) -> Event | None:
    causation_id, depth = _causation(name)
    if depth is None:
        return None
    event = Event.objects.create(
        name=name,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=True)
        if obj is not None
        else None,
        object_id=obj.pk if obj is not None else None,
        payload=json_value(payload or {}),
        actor=actor if isinstance(actor, models.Model) else None,
        request_id=current_request_id(),
        causation_id=causation_id,
        depth=depth,
    )
    transaction.on_commit(lambda: _enqueue(event.pk))
    return event


def _enqueue(event_id: int) -> None:
    from guanxi.core.tasks import process_event

    try:
        process_event(event_id)
    except Exception:  # the queue being down must not fail a committed request
        log.exception("could not enqueue event %s; the outbox relay will retry", event_id)


def _enqueue_many(event_ids: list[int], batch: int = 1000) -> None:
    from guanxi.core.tasks import process_events

    for start in range(0, len(event_ids), batch):
        try:
            process_events(event_ids[start : start + batch])
        except Exception:  # the queue being down must not fail a committed request
            log.exception("could not enqueue %d events; the outbox relay will retry", len(event_ids))


def process(event_id: int) -> bool:
    """Run the handlers of one event exactly once (the row lock makes concurrent workers safe)."""
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(pk=event_id, processed_at__isnull=True).first()
        if event is None:
            return False
        event.attempts += 1
        with request_context(event.request_id or None, causation_id=event.pk):
            for handler in [*_handlers.get(event.name, []), *_handlers.get("*", [])]:
                handler(event)
        event.processed_at = timezone.now()
        event.save(update_fields=["processed_at", "attempts"])
    return True


def relay_stale(older_than_seconds: int = 60, limit: int = 1000) -> int:
    """Re-enqueue committed events that no worker has processed yet."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    ids = list(
        Event.objects.filter(processed_at__isnull=True, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    for event_id in ids:
        _enqueue(event_id)
    return len(ids)
