"""What the endpoint actions and the worker's attempts share: disabling an endpoint, settings."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from guanxi.core import audit, events
from guanxi.core.models import AuditAction
from guanxi.webhooks.events import WebhookEvent
from guanxi.webhooks.models import WebhookEndpoint

DEFAULT_RETRY_BASE_SECONDS = 30.0
DEFAULT_RETRY_WINDOW_SECONDS = 24 * 3600
DEFAULT_TIMEOUT_SECONDS = 10.0


def retry_base_seconds() -> float:
    return max(0.0, float(getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", DEFAULT_RETRY_BASE_SECONDS)))


def retry_window() -> dt.timedelta:
    seconds = float(getattr(settings, "WEBHOOK_RETRY_WINDOW_SECONDS", DEFAULT_RETRY_WINDOW_SECONDS))
    return dt.timedelta(seconds=max(0.0, seconds))


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))


def backoff(failures: int) -> dt.timedelta:
    """Wait after the `failures`-th failed attempt in a row: base, 2 × base, 4 × base ... (the
    retry window caps the total)."""
    return dt.timedelta(seconds=retry_base_seconds() * 2 ** max(failures - 1, 0))


def snapshot(endpoint: WebhookEndpoint) -> dict:
    """The audited fields of an endpoint (never the secret)."""
    return {
        "name": endpoint.name,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types or []),
        "is_enabled": endpoint.is_enabled,
        "max_consecutive_failures": endpoint.max_consecutive_failures,
    }


def disable(endpoint: WebhookEndpoint, *, reason: str, actor, automatic: bool) -> None:
    """Disable a locked endpoint row (inside the caller's transaction): audit entry and event
    (messaging tells the administrators when `automatic`)."""
    before = snapshot(endpoint)
    now = timezone.now()
    endpoint.is_enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:300]
    endpoint.updated_at = now
    endpoint.save(update_fields=["is_enabled", "disabled_at", "disabled_reason", "updated_at"])
    audit.record(AuditAction.UPDATE, endpoint, actor=actor, before=before, after=snapshot(endpoint))
    events.emit(
        WebhookEvent.ENDPOINT_DISABLED,
        endpoint,
        actor=actor,
        payload={
            "name": endpoint.name,
            "reason": endpoint.disabled_reason,
            "automatic": automatic,
            "failures": endpoint.consecutive_failures,
        },
    )
