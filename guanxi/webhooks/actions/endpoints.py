"""Endpoint actions: create, update, delete, enable, disable, rotate the secret. Each checks
`settings.manage`, validates (a message per field), writes, audits (never the secret) and emits
its event in one transaction."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import audit, events
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction
from guanxi.core.permissions import Perm
from guanxi.core.standard_webhooks import generate_secret
from guanxi.webhooks.actions import common
from guanxi.webhooks.actions.sending import send_on_commit
from guanxi.webhooks.events import WebhookEvent
from guanxi.webhooks.models import (
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    SENDABLE,
    WebhookDelivery,
    WebhookEndpoint,
)

MAX_NAME = 100
MAX_URL = 500
MAX_DESCRIPTION = 2000
MAX_FAILURES_LIMIT = 1000
# Re-enabling an endpoint queues this many of its waiting deliveries at once; the sweep the rest.
REQUEUE_LIMIT = 1000
FIELDS = ("name", "url", "description", "event_types", "max_consecutive_failures")


def subscribable_events() -> list[str]:
    """Every declared event name an endpoint may subscribe to (the core.events catalogue)."""
    return list(events.catalogue())


def _storable(text: str, *, multiline: bool) -> str:
    """Text the databases can store: no NUL or other control characters (line breaks only when
    `multiline`), no lone surrogates."""
    if normalize.has_control_chars(text) or (not multiline and any(ord(ch) < 32 for ch in text)):
        raise ValidationError(_("Remove the control characters."))
    return text


def _clean_url(value: Any) -> str:
    url = _storable(str(value or "").strip(), multiline=False)
    if not url:
        raise ValidationError(_("Enter the endpoint's URL."))
    if len(url) > MAX_URL:
        raise ValidationError(_("The URL is longer than %(max)d characters.") % {"max": MAX_URL})
    if url.split(":", 1)[0].lower() not in ("http", "https"):
        raise ValidationError(_("The URL must start with http:// or https://."))
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError(_("Enter a valid http:// or https:// URL.")) from None
    return url


def _clean_event_types(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValidationError(_("Give the event types as a list of event names."))
    names = [_storable(str(v).strip(), multiline=False) for v in value if str(v).strip()]
    known = set(subscribable_events())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValidationError(
            _("Unknown event type(s): %(names)s.") % {"names": ", ".join(sorted(set(unknown)))[:300]}
        )
    return sorted(set(names))


def _clean_failures(value: Any) -> int:
    if value in (None, ""):
        return DEFAULT_MAX_CONSECUTIVE_FAILURES
    try:
        number = int(value)
        if isinstance(value, float) and number != value:
            raise ValueError
    except (TypeError, ValueError):
        number = -1
    if isinstance(value, bool) or not 1 <= number <= MAX_FAILURES_LIMIT:
        raise ValidationError(_("Give a whole number from 1 to %(max)d.") % {"max": MAX_FAILURES_LIMIT})
    return number


def _clean_text(value: Any, *, required: bool, max_length: int, multiline: bool = False) -> str:
    text = _storable(str(value or "").strip(), multiline=multiline)
    if required and not text:
        raise ValidationError(_("This field is required."))
    if len(text) > max_length:
        raise ValidationError(_("At most %(max)d characters.") % {"max": max_length})
    return text


CLEANERS = {
    "name": lambda v: _clean_text(v, required=True, max_length=MAX_NAME),
    "url": _clean_url,
    "description": lambda v: _clean_text(v, required=False, max_length=MAX_DESCRIPTION, multiline=True),
    "event_types": _clean_event_types,
    "max_consecutive_failures": _clean_failures,
}


def clean_endpoint_input(data: dict, *, partial: bool = False) -> dict:
    """Validated endpoint fields; a ValidationError names every field that is wrong."""
    cleaned, errors = {}, {}
    for field, cleaner in CLEANERS.items():
        if partial and field not in data:
            continue
        try:
            cleaned[field] = cleaner(data.get(field))
        except ValidationError as exc:
            errors[field] = exc.messages
    if "is_enabled" in data:
        if not isinstance(data["is_enabled"], bool):
            errors["is_enabled"] = [_("Give true or false.")]
        else:
            cleaned["is_enabled"] = data["is_enabled"]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _locked(endpoint_id) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound
    return endpoint


@transaction.atomic
def create_endpoint(data: dict, *, actor) -> WebhookEndpoint:
    """A new endpoint with a new secret (`endpoint.secret`: show it to the creator once)."""
    require(actor, Perm.SETTINGS_MANAGE)
    cleaned = clean_endpoint_input(data)
    now = timezone.now()
    endpoint = WebhookEndpoint.objects.create(
        **cleaned,
        secret=generate_secret(),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    audit.record(AuditAction.CREATE, endpoint, actor=actor, before=None, after=common.snapshot(endpoint))
    events.emit(WebhookEvent.ENDPOINT_CREATED, endpoint, actor=actor, payload={"name": endpoint.name})
    return endpoint


@transaction.atomic
def update_endpoint(endpoint_id: int, data: dict, *, actor) -> WebhookEndpoint:
    """Change the given fields; `is_enabled` enables (resetting the failure count) or disables."""
    require(actor, Perm.SETTINGS_MANAGE)
    endpoint = _locked(endpoint_id)
    cleaned = clean_endpoint_input(data, partial=True)
    enabled = cleaned.pop("is_enabled", None)
    before = common.snapshot(endpoint)
    changed = [f for f, v in cleaned.items() if getattr(endpoint, f) != v]
    if changed:
        for field in changed:
            setattr(endpoint, field, cleaned[field])
        endpoint.updated_at = timezone.now()
        endpoint.save(update_fields=[*changed, "updated_at"])
        after = common.snapshot(endpoint)
        audit.record(
            AuditAction.UPDATE,
            endpoint,
            actor=actor,
            before={f: before[f] for f in changed},
            after={f: after[f] for f in changed},
        )
        events.emit(WebhookEvent.ENDPOINT_UPDATED, endpoint, actor=actor, payload={"changed": changed})
    if enabled is True and not endpoint.is_enabled:
        _enable(endpoint, actor=actor)
    elif enabled is False and endpoint.is_enabled:
        common.disable(
            endpoint,
            reason=_("Disabled by %(user)s.")
            % {"user": actor if actor is not None else audit.actor_label(actor)},
            actor=actor,
            automatic=False,
        )
    return endpoint


@transaction.atomic
def delete_endpoint(endpoint_id: int, *, actor) -> None:
    """Delete an endpoint and its delivery log."""
    require(actor, Perm.SETTINGS_MANAGE)
    endpoint = _locked(endpoint_id)
    audit.record(AuditAction.DELETE, endpoint, actor=actor, before=common.snapshot(endpoint), after=None)
    events.emit(WebhookEvent.ENDPOINT_DELETED, endpoint, actor=actor, payload={"name": endpoint.name})
    endpoint.delete()


def _enable(endpoint: WebhookEndpoint, *, actor) -> None:
    before = common.snapshot(endpoint)
    now = timezone.now()
    endpoint.is_enabled = True
    endpoint.consecutive_failures = 0
    endpoint.disabled_at = None
    endpoint.disabled_reason = ""
    endpoint.updated_at = now
    endpoint.save(
        update_fields=["is_enabled", "consecutive_failures", "disabled_at", "disabled_reason", "updated_at"]
    )
    audit.record(AuditAction.UPDATE, endpoint, actor=actor, before=before, after=common.snapshot(endpoint))
    events.emit(WebhookEvent.ENDPOINT_ENABLED, endpoint, actor=actor, payload={"name": endpoint.name})
    # Deliveries held while it was disabled are due now.
    waiting = list(
        WebhookDelivery.objects.filter(endpoint=endpoint, status__in=SENDABLE)
        .order_by("pk")
        .values_list("pk", flat=True)[:REQUEUE_LIMIT]
    )
    WebhookDelivery.objects.filter(pk__in=waiting).update(next_attempt_at=now)
    send_on_commit(waiting)


@transaction.atomic
def enable_endpoint(endpoint_id: int, *, actor) -> WebhookEndpoint:
    """Enable an endpoint: its consecutive failures start again from 0, waiting deliveries are sent."""
    require(actor, Perm.SETTINGS_MANAGE)
    endpoint = _locked(endpoint_id)
    if not endpoint.is_enabled:
        _enable(endpoint, actor=actor)
    return endpoint


@transaction.atomic
def disable_endpoint(endpoint_id: int, *, actor, reason: str = "") -> WebhookEndpoint:
    """Disable an endpoint: nothing is sent to it (its deliveries wait) until it is enabled again."""
    require(actor, Perm.SETTINGS_MANAGE)
    endpoint = _locked(endpoint_id)
    if endpoint.is_enabled:
        text = str(reason or "").strip()[:300] or _("Disabled by %(user)s.") % {
            "user": actor if actor is not None else audit.actor_label(actor)
        }
        common.disable(endpoint, reason=text, actor=actor, automatic=False)
    return endpoint


@transaction.atomic
def rotate_secret(endpoint_id: int, *, actor) -> WebhookEndpoint:
    """A new signing secret (`endpoint.secret`: show it once); the old one stops signing at once."""
    require(actor, Perm.SETTINGS_MANAGE)
    endpoint = _locked(endpoint_id)
    now = timezone.now()
    endpoint.secret = generate_secret()
    endpoint.secret_rotated_at = now
    endpoint.updated_at = now
    endpoint.save(update_fields=["secret", "secret_rotated_at", "updated_at"])
    audit.record(AuditAction.UPDATE, endpoint, actor=actor, before=None, after={"secret_rotated_at": now})
    events.emit(WebhookEvent.SECRET_ROTATED, endpoint, actor=actor, payload={"name": endpoint.name})
    return endpoint
