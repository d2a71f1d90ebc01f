"""The queue side of sending: the worker task that makes one attempt (and queues the retry of a
failed one with the back-off as its delay), and `send_on_commit()`, which the actions call. Below
`deliveries` and `endpoints`, above `attempts`: every import in the package points down."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone
from huey.contrib.djhuey import db_task

from guanxi.webhooks.actions import attempts
from guanxi.webhooks.models import DeliveryStatus, WebhookDelivery

log = logging.getLogger(__name__)


@db_task()
def send_delivery(delivery_id: int, lease: dt.datetime | None = None) -> str:
    status = attempts.attempt(delivery_id, lease)
    if status == DeliveryStatus.FAILING:
        _schedule_retry(delivery_id)
    return status


def _schedule_retry(delivery_id: int) -> None:
    """Queue the retry for when it is due (Huey ETA); the periodic sweep is the safety net when the
    queue loses it, and a retry that arrives early is skipped (not due)."""
    at = WebhookDelivery.objects.filter(pk=delivery_id).values_list("next_attempt_at", flat=True).first()
    if at is None:
        return
    try:
        send_delivery.schedule((delivery_id,), delay=max(0.0, (at - timezone.now()).total_seconds()))
    except Exception:  # the sweep picks it up when it is due
        log.exception("could not schedule the retry of webhook delivery %s", delivery_id)


def enqueue_send(delivery_id: int, lease: dt.datetime | None = None) -> None:
    """Queue one attempt at a delivery (after commit). A queue that is down does not fail the
    committed request: the periodic sweep sends it later."""
    try:
        if lease is None:
            send_delivery(delivery_id)
        else:
            send_delivery(delivery_id, lease)
    except Exception:  # the queue being down must not fail a committed request
        log.exception("could not enqueue webhook delivery %s; the sweep will send it", delivery_id)


def send_on_commit(delivery_ids: list[int], lease: dt.datetime | None = None) -> None:
    """Queue an attempt at each delivery once the caller's transaction commits."""
    for pk in delivery_ids:
        transaction.on_commit(lambda pk=pk: enqueue_send(pk, lease))
