"""One attempt at one delivery (run by the worker): claim it, sign and POST it, record the outcome.

Claiming: a conditional UPDATE moves `next_attempt_at` forward by a lease; only the claimer sends,
so a task that arrives twice (re-queued, or the retry sweep racing the first send) never sends a
message twice, and a worker that dies mid-call leaves the row due again when the lease runs out.

Outcome: a 2xx answer succeeds and resets the endpoint's consecutive failures; anything else (other
status, network error, timeout) is a failed attempt: retried after base, 2 × base, 4 × base ...
until the retry window (24 h from the first attempt) is over, then the delivery is dead. Every
failed attempt counts towards the endpoint's `max_consecutive_failures`; reaching it disables the
endpoint (audit entry + `webhook.endpoint_disabled`, which messaging turns into notifications).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.standard_webhooks import standard_headers
from guanxi.webhooks import transport
from guanxi.webhooks.actions import common
from guanxi.webhooks.models import (
    SENDABLE,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)

SKIPPED = "skipped"
# While an attempt runs, the row is not due (longer than any timeout).
SENDING_LEASE = dt.timedelta(minutes=2)


def encode(payload: dict) -> bytes:
    """The bytes sent and signed: compact JSON, keys sorted (the same bytes on every attempt, even
    after PostgreSQL's jsonb reordered the stored keys)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def claim(delivery_id: int, lease: dt.datetime | None = None) -> bool:
    """Take the delivery for one attempt: sendable, its endpoint enabled, and due (or holding exactly
    the `lease` the retry sweep handed to this task)."""
    now = timezone.now()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    if lease is not None:
        due |= Q(next_attempt_at=lease)
    return bool(
        WebhookDelivery.objects.filter(
            due, pk=delivery_id, status__in=SENDABLE, endpoint__is_enabled=True
        ).update(next_attempt_at=now + SENDING_LEASE)
    )


def attempt(delivery_id: int, lease: dt.datetime | None = None) -> str:
    """Make one attempt; returns the delivery's status afterwards, or "skipped" when it was not
    ours to send (not due, already sent, dead, endpoint disabled, or being sent by another worker)."""
    if not claim(delivery_id, lease):
        return SKIPPED
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return SKIPPED
    endpoint = delivery.endpoint
    body = encode(delivery.payload)
    started = timezone.now()
    try:
        headers = standard_headers(
            endpoint.secret, body, message_id=delivery.message_id, timestamp=int(time.time())
        )
    except Exception as exc:  # noqa: BLE001  (an unusable secret is recorded like any failure)
        answer = transport.Answer(None, "", f"cannot sign: {type(exc).__name__}", 0)
    else:
        answer = transport.post(endpoint.url, body, headers, timeout=common.timeout_seconds())
    return record(delivery_id, started, answer)


def _failure_text(answer: transport.Answer) -> str:
    return answer.error or f"HTTP {answer.status_code}"


@transaction.atomic
def record(delivery_id: int, started: dt.datetime, answer: transport.Answer) -> str:
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None:
        return SKIPPED  # its endpoint was deleted while the call ran
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    now = timezone.now()
    window_start = delivery.window_started_at or started
    attempt_row = WebhookAttempt(
        delivery=delivery,
        number=delivery.attempts + 1,
        started_at=started,
        finished_at=now,
        duration_ms=answer.duration_ms,
        status_code=answer.status_code,
        response_excerpt=answer.excerpt,
        error=answer.error,
        succeeded=answer.ok,
    )
    delivery.attempts += 1
    delivery.window_started_at = window_start
    delivery.last_status_code = answer.status_code
    delivery.response_excerpt = answer.excerpt
    delivery.last_error = "" if answer.ok else _failure_text(answer)
    delivery.last_duration_ms = answer.duration_ms
    delivery.last_attempt_at = now
    delivery.updated_at = now
    if answer.ok:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.succeeded_at = now
        delivery.next_attempt_at = None
        if endpoint.consecutive_failures:
            endpoint.consecutive_failures = 0
            endpoint.save(update_fields=["consecutive_failures"])
    else:
        failures = delivery.attempt_log.filter(started_at__gte=window_start, succeeded=False).count() + 1
        window_end = window_start + common.retry_window()
        if now >= window_end:
            delivery.status = DeliveryStatus.DEAD
            delivery.next_attempt_at = None
        else:
            delivery.status = DeliveryStatus.FAILING
            delivery.next_attempt_at = min(now + common.backoff(failures), window_end)
            attempt_row.next_attempt_at = delivery.next_attempt_at
        endpoint.consecutive_failures += 1
        endpoint.save(update_fields=["consecutive_failures"])
        log.warning("webhook delivery %s to endpoint %s: attempt %d failed (%s)", delivery.pk, endpoint.pk,
                    attempt_row.number, delivery.last_error)  # fmt: skip
        if endpoint.is_enabled and endpoint.consecutive_failures >= endpoint.max_consecutive_failures:
            common.disable(
                endpoint,
                reason=_("Disabled after %(count)d consecutive failed attempts (last: %(error)s).")
                % {"count": endpoint.consecutive_failures, "error": delivery.last_error[:100]},
                actor=None,
                automatic=True,
            )
    attempt_row.save()
    delivery.save()
    return delivery.status
