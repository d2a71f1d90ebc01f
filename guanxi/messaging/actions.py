"""Notification actions: the only code that writes notifications and deliveries.

`notify()` always creates the in-app notification (idempotent through `dedupe_key`) and one
Delivery per external channel the recipient wants; deliveries are sent by the worker after commit
(`messaging.channels`), retried with backoff, and every attempt is visible in the delivery log.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from guanxi.messaging.models import ChannelKind, ChannelPreference, Delivery, DeliveryStatus, Notification

# Channels used when a user has set no preference for them.
DEFAULT_CHANNELS = {ChannelKind.IN_APP: True, ChannelKind.EMAIL: True, ChannelKind.SMS: False}


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
                recipient=recipient, kind=kind, title=title[:200], body=body, url=url[:300], dedupe_key=dedupe_key
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
            payload={"subject": title, "text": f"{title}\n\n{body}".strip(), "url": url},
            status=DeliveryStatus.SUPPRESSED if held else DeliveryStatus.PENDING,
        )
        if not held:
            transaction.on_commit(lambda pk=delivery.pk: _enqueue_send(pk))
    return notification


def _enqueue_send(delivery_id: int) -> None:
    from guanxi.messaging.tasks import send_delivery

    send_delivery(delivery_id)


def mark_read(user, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all when no ids are given); returns how many changed."""
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        qs = qs.filter(pk__in=notification_ids)
    return qs.update(read_at=timezone.now())
