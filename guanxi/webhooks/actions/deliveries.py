"""Deliveries: created for subscribed events (the subscriber), by automation rules
(`enqueue_delivery`), redelivered by hand, and re-queued when due (the periodic sweep)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import audit, events
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, Event, User
from guanxi.core.permissions import Perm
from guanxi.core.standard_webhooks import new_message_id
from guanxi.webhooks.actions.sending import send_on_commit
from guanxi.webhooks.events import WebhookEvent
from guanxi.webhooks.models import (
    SENDABLE,
    DeliveryOrigin,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

# The sweep hands a due delivery to a task with this lease (see attempts.claim).
QUEUED_LEASE = dt.timedelta(minutes=10)
SWEEP_CHUNK = 500
MAX_KEY_LENGTH = 200
MAX_TYPE_LENGTH = 100


def body(event_type: str, data: dict, at: dt.datetime) -> dict:
    """The JSON body of a message: {"type", "timestamp" (ISO 8601), "data"}."""
    return {"type": event_type, "timestamp": at.isoformat(), "data": data}


def event_data(event: Event) -> dict:
    """`data` of a subscription message: the event id, the object it is about and its payload
    (payloads are protected when emitted: no sensitive value in clear is added here)."""
    return {
        "event_id": event.pk,
        "object_type": event.content_type.model if event.content_type_id else None,
        "object_id": event.object_id,
        "payload": event.payload or {},
    }


def event_key(event_id: int) -> str:
    return f"event:{event_id}"


def subscribed_endpoints(event_name: str) -> list[WebhookEndpoint]:
    """Enabled endpoints subscribed to an event name (endpoints are few: filtered in Python, the
    same on SQLite, where JSON `contains` does not exist, and PostgreSQL)."""
    return [
        e
        for e in WebhookEndpoint.objects.filter(is_enabled=True).only("pk", "event_types")
        if event_name in (e.event_types or [])
    ]


def is_subscribed(event_name: str) -> bool:
    """Whether some enabled endpoint subscribes to this event name."""
    return bool(subscribed_endpoints(event_name))


@transaction.atomic
def deliver_event(event: Event) -> list[int]:
    """One delivery per subscribed endpoint for an event, queued on commit. Unique per (endpoint,
    event): processing the event again creates nothing and sends nothing twice. A reaction to an
    event, not a change anyone made: no audit entry, no event. Returns the queued delivery ids."""
    endpoints = subscribed_endpoints(event.name)
    if not endpoints:
        return []
    key, now = event_key(event.pk), timezone.now()
    message = body(event.name, event_data(event), event.created_at)
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint_id=endpoint.pk,
                event_id=event.pk,
                event_type=event.name,
                origin=DeliveryOrigin.SUBSCRIPTION,
                idempotency_key=key,
                message_id=new_message_id(),
                payload=message,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            for endpoint in endpoints
        ],
        ignore_conflicts=True,
    )
    ids = list(
        WebhookDelivery.objects.filter(
            idempotency_key=key, endpoint_id__in=[e.pk for e in endpoints], status__in=SENDABLE
        ).values_list("pk", flat=True)
    )
    send_on_commit(ids)  # a delivery already sent is not sendable; one sent twice is skipped (claim)
    return ids


def _check_actor(actor) -> None:
    """A user must hold settings.manage; None or a label (an automation rule) is the system."""
    if isinstance(actor, User):
        require(actor, Perm.SETTINGS_MANAGE)


def _one_line(value, max_length: int) -> bool:
    return (
        isinstance(value, str)
        and bool(value.strip())
        and len(value) <= max_length
        and not normalize.has_control_chars(value)
        and all(ord(ch) >= 32 for ch in value)
    )


def _clean_ad_hoc(event_type, data, idempotency_key) -> dict:
    errors: dict[str, str] = {}
    if not _one_line(event_type, MAX_TYPE_LENGTH):
        errors["event_type"] = _("Give an event type of at most %(max)d characters.") % {
            "max": MAX_TYPE_LENGTH
        }
    if not isinstance(data, dict):
        errors["data"] = _("The data must be a JSON object.")
    else:
        try:
            encoded = json.dumps(data, allow_nan=False)
            encoded.encode("utf-8")  # lone surrogates are not storable
        except (TypeError, ValueError):
            errors["data"] = _("The data must be a JSON object.")
        else:
            if "\\u0000" in encoded:  # PostgreSQL's jsonb refuses NUL
                errors["data"] = _("Remove the control characters.")
    if (
        not isinstance(idempotency_key, str)
        or not idempotency_key.strip()
        or len(idempotency_key) > MAX_KEY_LENGTH
    ):
        errors["idempotency_key"] = _("Give an idempotency key of at most %(max)d characters.") % {
            "max": MAX_KEY_LENGTH
        }
    if errors:
        raise ValidationError(errors)
    return data


def enqueue_delivery(
    endpoint: WebhookEndpoint | int,
    event_type: str,
    data: dict[str, Any],
    *,
    idempotency_key: str,
    event_id: int | None = None,
    actor,
) -> WebhookDelivery:
    """Send `data` to an endpoint as a message of `event_type` (the automation engine's "call an
    outgoing webhook" action). Idempotent: the delivery with the same (endpoint, idempotency_key)
    is returned as it is if it exists; a new one is queued on commit. `event_id` (the triggering
    event) is recorded and added to the data as "event_id" unless the data has one. An endpoint that
    is disabled keeps the delivery pending until it is enabled again."""
    _check_actor(actor)
    data = _clean_ad_hoc(event_type, data, idempotency_key)
    endpoint_id = endpoint.pk if isinstance(endpoint, WebhookEndpoint) else endpoint
    if not WebhookEndpoint.objects.filter(pk=endpoint_id).exists():
        raise ValidationError({"endpoint": _("This webhook endpoint does not exist.")})
    if event_id is not None and not Event.objects.filter(pk=event_id).exists():
        raise ValidationError({"event_id": _("There is no event %(id)s.") % {"id": event_id}})
    if event_id is not None and "event_id" not in data:
        data = {**data, "event_id": event_id}
    with transaction.atomic():
        existing = WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return existing
        now = timezone.now()
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    endpoint_id=endpoint_id,
                    event_id=event_id,
                    event_type=event_type.strip(),
                    origin=DeliveryOrigin.ACTION,
                    idempotency_key=idempotency_key,
                    message_id=new_message_id(),
                    payload=body(event_type.strip(), data, now),
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:  # the same key committed meanwhile by another worker
            return WebhookDelivery.objects.get(endpoint_id=endpoint_id, idempotency_key=idempotency_key)
        audit.record(
            AuditAction.CREATE,
            delivery,
            actor=actor,
            before=None,
            after={
                "event_type": delivery.event_type,
                "message_id": delivery.message_id,
                "key": idempotency_key,
            },
        )
        send_on_commit([delivery.pk])
    return delivery


@transaction.atomic
def redeliver(delivery_id: int, *, actor) -> WebhookDelivery:
    """Send a delivery again with the same message id (receivers deduplicate on webhook-id): a new
    attempt now, whatever its status; a dead or succeeded delivery becomes pending again and its
    retry window restarts."""
    require(actor, Perm.SETTINGS_MANAGE)
    delivery = (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("endpoint")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        raise NotFound
    if not delivery.endpoint.is_enabled:
        raise ValidationError(
            {
                "endpoint": _("The endpoint %(name)s is disabled: enable it first.")
                % {"name": delivery.endpoint.name}
            }
        )
    before = {"status": delivery.status, "attempts": delivery.attempts}
    now = timezone.now()
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now
    delivery.window_started_at = None
    delivery.updated_at = now
    delivery.save(update_fields=["status", "next_attempt_at", "window_started_at", "updated_at"])
    audit.record(AuditAction.UPDATE, delivery, actor=actor, before=before, after={"status": delivery.status})
    events.emit(
        WebhookEvent.DELIVERY_REDELIVERED,
        delivery,
        actor=actor,
        payload={"endpoint_id": delivery.endpoint_id, "message_id": delivery.message_id},
    )
    send_on_commit([delivery.pk])
    return delivery


def queue_due_deliveries(now: dt.datetime | None = None) -> int:
    """Hand every due delivery of an enabled endpoint to the worker, a chunk at a time; returns how
    many. Each chunk is locked (PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, so several workers
    share the rows; SQLite: the IMMEDIATE write transaction serialises them) and leased with one
    UPDATE; a task only sends a delivery that still holds its lease or is due again."""
    now = now or timezone.now()
    due = Q(status__in=SENDABLE, next_attempt_at__lte=now, endpoint__is_enabled=True)
    queued, last_id = 0, 0
    while True:
        with transaction.atomic():
            rows = WebhookDelivery.objects.filter(due, pk__gt=last_id).order_by("pk")
            if connection.features.has_select_for_update_skip_locked:
                rows = rows.select_for_update(skip_locked=True, of=("self",))
            ids = list(rows.values_list("pk", flat=True)[:SWEEP_CHUNK])
            if not ids:
                return queued
            lease = timezone.now() + QUEUED_LEASE
            WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=lease)
            send_on_commit(ids, lease)
        queued += len(ids)
        last_id = ids[-1]
