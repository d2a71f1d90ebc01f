"""Notification actions: the only code that writes notifications and deliveries.

`notify()` always creates the in-app notification (idempotent through `dedupe_key`) and one
Delivery per external channel the recipient wants; deliveries are sent by the worker after commit
(`messaging.channels`), retried with backoff, and every attempt is visible in the delivery log.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guanxi.core import audit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, Department, User
from guanxi.core.permissions import Perm
from guanxi.messaging.models import (
    ChannelKind,
    ChannelPreference,
    Delivery,
    DeliveryStatus,
    Notification,
    RobotEndpoint,
)
from guanxi.messaging.sending import enqueue_send

log = logging.getLogger(__name__)

# Channels used when a user has set no preference for them.
DEFAULT_CHANNELS = {ChannelKind.IN_APP: True, ChannelKind.EMAIL: True, ChannelKind.SMS: False}
# External channels a user sets preferences for (in-app notifications are always on).
PREFERENCE_CHANNELS = [c for c in DEFAULT_CHANNELS if c != ChannelKind.IN_APP]
# payload["hold"] of a SUPPRESSED delivery: why it waits.
HOLD_DIGEST = "digest"
HOLD_QUIET = "quiet"
SENDABLE = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
# The retry sweep hands a due delivery to a task with this lease (see channels.claim).
QUEUED_LEASE = dt.timedelta(minutes=10)
# A pending delivery whose on-commit enqueue was lost is picked up by the sweep after this long.
STALE_PENDING = dt.timedelta(minutes=2)
SWEEP_CHUNK = 500
DIGEST_MAX_ITEMS = 50
SMS_DIGEST_MAX_CHARS = 300


def wanted_channels(user) -> dict[str, bool]:
    """{channel: digest?} for the external channels this user receives."""
    prefs = {p.channel: p for p in ChannelPreference.objects.filter(user=user)}
    wanted: dict[str, bool] = {}
    for channel, default in DEFAULT_CHANNELS.items():
        if channel == ChannelKind.IN_APP:
            continue
        pref = prefs.get(channel)
        enabled = pref.enabled if pref else default
        if not enabled:
            continue
        if channel == ChannelKind.EMAIL and not user.email:
            continue
        if channel == ChannelKind.SMS and not user.mobile:
            continue
        wanted[channel] = bool(pref and pref.digest)
    return wanted


def in_quiet_hours(user, now=None) -> bool:
    if user.quiet_start is None or user.quiet_end is None:
        return False
    local = timezone.localtime(now or timezone.now()).time()
    start, end = user.quiet_start, user.quiet_end
    return start <= local < end if start < end else (local >= start or local < end)


def notify(
    recipient, *, kind: str, title: str, body: str = "", url: str = "", dedupe_key: str | None = None
) -> Notification | None:
    """Tell a user something. Returns None when `dedupe_key` was used before (nothing is sent twice)."""
    if recipient is None or not recipient.is_active:
        return None
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                recipient=recipient,
                kind=kind,
                title=title[:200],
                body=body,
                url=url[:300],
                dedupe_key=dedupe_key,
            )
    except IntegrityError:
        if dedupe_key and Notification.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        raise
    quiet = in_quiet_hours(recipient)
    for channel, digest in wanted_channels(recipient).items():
        target = recipient.email if channel == ChannelKind.EMAIL else recipient.mobile
        held = digest or quiet
        delivery = Delivery.objects.create(
            notification=notification,
            channel=channel,
            target=target,
            payload={
                "subject": title,
                "text": f"{title}\n\n{body}".strip(),
                "url": url,
                # Why it is held: digests go out at the digest hour, quiet-hour holds when they end.
                **({"hold": HOLD_DIGEST if digest else HOLD_QUIET} if held else {}),
            },
            status=DeliveryStatus.SUPPRESSED if held else DeliveryStatus.PENDING,
        )
        if not held:
            transaction.on_commit(lambda pk=delivery.pk: enqueue_send(pk))
    return notification


def mark_read(user, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all when no ids are given); returns how many changed."""
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        qs = qs.filter(pk__in=notification_ids)
    return qs.update(read_at=timezone.now())


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


# --- Group robots -------------------------------------------------------------------------------


def _department_and_ancestor_ids(department: Department | int) -> list[int]:
    if not isinstance(department, Department):
        department = Department.objects.get(pk=department)
    ids = [int(part) for part in department.path.strip("/").split("/") if part.isdigit()]
    return ids or [department.pk]


def notify_robots(
    text: str, *, department: Department | int | None = None, title: str = ""
) -> list[Delivery]:
    """Post a team-level alert (escalation, SLA breach) to the active WeCom/DingTalk group robots.

    Robots without a department are company-wide and get every alert; a robot of a department gets
    the alerts of that department and of the departments below it (a sales group hears its teams).
    Deliveries are enqueued after commit and retried like any other.
    """
    endpoints = RobotEndpoint.objects.filter(is_active=True)
    if department is None:
        endpoints = endpoints.filter(department__isnull=True)
    else:
        endpoints = endpoints.filter(
            Q(department__isnull=True) | Q(department_id__in=_department_and_ancestor_ids(department))
        )
    content = f"{title}\n{text}".strip() if title else text
    deliveries = []
    for endpoint in endpoints.order_by("pk"):
        delivery = Delivery.objects.create(
            channel=endpoint.channel,
            target=endpoint.name[:500],
            payload={"subject": title, "text": content, "endpoint_id": endpoint.pk},
            status=DeliveryStatus.PENDING,
        )
        transaction.on_commit(lambda pk=delivery.pk: enqueue_send(pk))
        deliveries.append(delivery)
    return deliveries


# --- Preferences --------------------------------------------------------------------------------


def preference_snapshot(user) -> dict[str, Any]:
    """The user's notification settings as one flat dict (the shape `update_preferences` takes)."""
    prefs = {p.channel: p for p in ChannelPreference.objects.filter(user=user)}
    snapshot: dict[str, Any] = {"quiet_start": user.quiet_start, "quiet_end": user.quiet_end}
    for channel in PREFERENCE_CHANNELS:
        pref = prefs.get(channel)
        snapshot[f"{channel}_enabled"] = pref.enabled if pref else DEFAULT_CHANNELS[channel]
        snapshot[f"{channel}_digest"] = bool(pref and pref.digest)
    return snapshot


def _as_time(value: Any, field: str) -> dt.time | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    try:
        return dt.time.fromisoformat(str(value)).replace(second=0, microsecond=0)
    except ValueError:
        raise ValidationError({field: _("Enter a time such as 22:00.")})


def clean_preferences(data: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Validate a (partial) preferences dict against the current settings; returns the new settings."""
    cleaned = dict(current)
    for key in current:
        if key not in data:
            continue
        if key in ("quiet_start", "quiet_end"):
            cleaned[key] = _as_time(data[key], key)
        else:
            cleaned[key] = bool(data[key])
    start, end = cleaned["quiet_start"], cleaned["quiet_end"]
    if (start is None) != (end is None):
        field = "quiet_end" if end is None else "quiet_start"
        raise ValidationError({field: _("Set both the start and the end of quiet hours, or neither.")})
    if start is not None and start == end:
        raise ValidationError({"quiet_end": _("Quiet hours must end at a different time than they start.")})
    return cleaned


@transaction.atomic
def update_preferences(user, data: dict[str, Any], *, actor) -> bool:
    """Change a user's channel preferences and quiet hours; returns False when nothing changed.

    `data` holds any of the keys of `preference_snapshot`. Users change their own settings; changing
    someone else's needs the org-management permission.
    """
    if actor is not None and getattr(actor, "pk", None) != user.pk:
        require(actor, Perm.ORG_MANAGE)
    user = User.objects.select_for_update().get(pk=user.pk)
    before = preference_snapshot(user)
    after = clean_preferences(data, before)
    changed_before, changed_after = audit.diff(before, after)
    if not changed_after:
        return False
    if "quiet_start" in changed_after or "quiet_end" in changed_after:
        user.quiet_start, user.quiet_end = after["quiet_start"], after["quiet_end"]
        user.save(update_fields=["quiet_start", "quiet_end"])
    for channel in PREFERENCE_CHANNELS:
        keys = (f"{channel}_enabled", f"{channel}_digest")
        if any(k in changed_after for k in keys):
            ChannelPreference.objects.update_or_create(
                user=user, channel=channel, defaults={"enabled": after[keys[0]], "digest": after[keys[1]]}
            )
    audit.record(AuditAction.UPDATE, user, actor=actor, before=changed_before, after=changed_after)
    return True


# --- Sweeps (run by the worker, see tasks.py) ---------------------------------------------------


def release_quiet_hours(now: dt.datetime | None = None) -> int:
    """Deliveries held for quiet hours become pending once their recipient's quiet hours are over."""
    now = now or timezone.now()
    held = Delivery.objects.filter(status=DeliveryStatus.SUPPRESSED, payload__hold=HOLD_QUIET)
    user_ids = sorted(
        set(held.filter(notification__isnull=False).values_list("notification__recipient_id", flat=True))
    )
    released = 0
    for start in range(0, len(user_ids), SWEEP_CHUNK):
        users = User.objects.filter(pk__in=user_ids[start : start + SWEEP_CHUNK]).only(
            "pk", "quiet_start", "quiet_end"
        )
        awake = [u.pk for u in users if not in_quiet_hours(u, now)]
        if awake:
            released += held.filter(notification__recipient_id__in=awake).update(
                status=DeliveryStatus.PENDING, next_attempt_at=now
            )
    return released


def queue_due_deliveries(now: dt.datetime | None = None) -> int:
    """Hand every due pending/retrying delivery to the worker (chunks by id); returns how many.

    Each chunk is leased with one UPDATE; a task only sends a delivery that still holds its lease,
    so overlapping sweeps or a task still waiting in the queue never send a message twice.
    """
    now = now or timezone.now()
    due = Q(status__in=SENDABLE) & (
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lte=now - STALE_PENDING)
    )
    queued, last_id = 0, 0
    while True:
        ids = list(
            Delivery.objects.filter(due, pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:SWEEP_CHUNK]
        )
        if not ids:
            return queued
        last_id = ids[-1]
        lease = timezone.now() + QUEUED_LEASE
        with transaction.atomic():
            Delivery.objects.filter(due, pk__in=ids).update(next_attempt_at=lease)
            mine = list(
                Delivery.objects.filter(pk__in=ids, status__in=SENDABLE, next_attempt_at=lease).values_list(
                    "pk", flat=True
                )
            )
            for pk in mine:
                transaction.on_commit(lambda pk=pk, lease=lease: enqueue_send(pk, lease))
        queued += len(mine)


def _held_for_digest() -> Q:
    # Rows without a recorded reason count as digest holds (they are never released otherwise).
    return Q(status=DeliveryStatus.SUPPRESSED, notification__isnull=False) & (
        Q(payload__hold=HOLD_DIGEST) | Q(payload__hold__isnull=True)
    )


def _digest_message(channel: str, payloads: list[dict[str, Any]]) -> tuple[str, str]:
    count = len(payloads)
    subject = ngettext(
        "Daily digest: %(count)d notification", "Daily digest: %(count)d notifications", count
    ) % {"count": count}
    shown = payloads[:DIGEST_MAX_ITEMS]
    more = count - len(shown)
    if channel == ChannelKind.SMS:
        text = "; ".join(p.get("subject") or p.get("text", "")[:50] for p in shown)
        text = f"{subject}: {text}"
        if len(text) > SMS_DIGEST_MAX_CHARS:
            text = text[: SMS_DIGEST_MAX_CHARS - 1] + "…"
        return subject, text
    parts = [p.get("text") or p.get("subject", "") for p in shown]
    if more:
        parts.append(
            ngettext(
                "…and %(count)d more notification. Open the notification centre to see it.",
                "…and %(count)d more notifications. Open the notification centre to see them all.",
                more,
            )
            % {"count": more}
        )
    return subject, "\n\n----\n\n".join(parts)


def send_digests(now: dt.datetime | None = None) -> int:
    """Combine each user's held digest deliveries into one message per channel; returns how many
    digests were made. The combined originals are marked sent; the digest is a delivery of its own
    (retried, in the delivery log). A digest falling in the user's quiet hours waits for their end."""
    now = now or timezone.now()
    pairs = sorted(
        set(Delivery.objects.filter(_held_for_digest()).values_list("notification__recipient_id", "channel"))
    )
    users = User.objects.in_bulk({user_id for user_id, _channel in pairs})
    made = 0
    with translation.override(settings.LANGUAGE_CODE):
        for user_id, channel in pairs:
            if _make_digest(users[user_id], channel, now):
                made += 1
    return made


@transaction.atomic
def _make_digest(user, channel: str, now: dt.datetime) -> bool:
    rows = list(
        Delivery.objects.select_for_update(of=("self",))
        .filter(_held_for_digest(), notification__recipient_id=user.pk, channel=channel)
        .order_by("pk")
        .values("pk", "target", "payload", "notification_id")
    )
    if not rows:
        return False  # another sweep took them meanwhile
    subject, text = _digest_message(channel, [r["payload"] for r in rows])
    quiet = in_quiet_hours(user, now)
    digest = Delivery.objects.create(
        notification_id=rows[-1]["notification_id"],  # the newest; shows the recipient in the log
        channel=channel,
        target=rows[-1]["target"],
        payload={
            "subject": subject,
            "text": text,
            "url": reverse("messaging:center"),
            "digest_of": [r["pk"] for r in rows],
            **({"hold": HOLD_QUIET} if quiet else {}),
        },
        status=DeliveryStatus.SUPPRESSED if quiet else DeliveryStatus.PENDING,
    )
    Delivery.objects.filter(pk__in=[r["pk"] for r in rows]).update(
        status=DeliveryStatus.SENT, sent_at=now, next_attempt_at=None
    )
    if not quiet:
        transaction.on_commit(lambda: enqueue_send(digest.pk))
    return True


# --- Delivery log -------------------------------------------------------------------------------


@transaction.atomic
def retry_delivery(delivery_id: int, *, actor) -> Delivery:
    """Send a failed delivery once more now (e.g. after the robot's URL was fixed)."""
    require(actor, Perm.SETTINGS_MANAGE)
    delivery = (
        Delivery.objects.select_for_update().filter(pk=delivery_id, status=DeliveryStatus.FAILED).first()
    )
    if delivery is None:
        raise NotFound(delivery_id)
    before = {"status": delivery.status, "next_attempt_at": delivery.next_attempt_at}
    delivery.status, delivery.next_attempt_at = DeliveryStatus.RETRYING, timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at"])
    audit.record(
        AuditAction.UPDATE,
        delivery,
        actor=actor,
        before=before,
        after={"status": delivery.status, "next_attempt_at": delivery.next_attempt_at},
    )
    transaction.on_commit(lambda: enqueue_send(delivery.pk))
    return delivery
