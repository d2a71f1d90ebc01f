"""Outgoing channels: email (Django mail backend), SMS (pluggable backend), WeCom and DingTalk group
robots (JSON webhooks). `send()` makes one attempt at one Delivery and records its outcome.

Claiming: an attempt first "claims" the row with a conditional UPDATE that moves `next_attempt_at`
forward by a lease. Only the claimer sends, so a task that arrives twice (a re-queued task, the
retry sweep racing the first send) never sends a message twice; a worker that dies mid-send leaves
the row due again when the lease runs out, and the sweep picks it up.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, ClassVar

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from guanxi.messaging.models import ChannelKind, Delivery, DeliveryStatus, RobotEndpoint

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = 5  # seconds, robot webhooks
EMAIL_TIMEOUT = 10  # seconds, SMTP (unless settings.EMAIL_TIMEOUT says otherwise)
MAX_ATTEMPTS = 5
# Wait after the 1st, 2nd, 3rd and 4th failed attempt; the 5th failure is final.
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
)
# While an attempt runs, the row is not due (longer than any timeout above).
SENDING_LEASE = dt.timedelta(minutes=2)
WECOM_MAX_BYTES = 2048  # WeCom robot: text.content is at most 2048 bytes of UTF-8
DEFAULT_SMS_BACKEND = "guanxi.messaging.channels.LogSmsBackend"
SENDABLE = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class DeliveryError(Exception):
    """An attempt failed; it will be retried with backoff."""


class PermanentDeliveryError(DeliveryError):
    """An attempt failed in a way retrying cannot fix (e.g. the robot endpoint was deleted)."""


# --- SMS ----------------------------------------------------------------------------------------


class SmsBackend:
    """Interface of an SMS provider. `send` returns normally when the provider accepted the message
    and raises (any exception) otherwise; the delivery is then retried.

    Configure with `GUANXI_SMS_BACKEND = "dotted.path.to.Class"`; the class is instantiated without
    arguments for every message, so read credentials from settings in `__init__`.
    """

    def send(self, phone: str, text: str) -> None:
        raise NotImplementedError


class LogSmsBackend(SmsBackend):
    """Development backend: logs the message and keeps it in `outbox` (this process only)."""

    outbox: ClassVar[list[tuple[str, str]]] = []
    logger = logging.getLogger("guanxi.messaging.sms")

    def send(self, phone: str, text: str) -> None:
        self.logger.info("SMS to %s: %s", phone, text)
        self.outbox.append((phone, text))
        del self.outbox[:-1000]  # bounded: a long-running dev server must not grow without limit


def sms_backend() -> SmsBackend:
    path = getattr(settings, "GUANXI_SMS_BACKEND", DEFAULT_SMS_BACKEND) or DEFAULT_SMS_BACKEND
    return import_string(path)()


# --- Robots -------------------------------------------------------------------------------------


def robot_payload(text: str) -> dict[str, Any]:
    """The text message body of both WeCom and DingTalk group robots."""
    return {"msgtype": "text", "text": {"content": text}}


def truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[: max_bytes - 3].decode("utf-8", errors="ignore") + "…"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")).

    Returned unquoted; `signed_dingtalk_url` URL-encodes it as a query parameter.
    """
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_dingtalk_url(url: str, secret: str, timestamp_ms: int | None = None) -> str:
    timestamp_ms = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k not in ("timestamp", "sign")]
    query += [("timestamp", str(timestamp_ms)), ("sign", dingtalk_sign(secret, timestamp_ms))]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST JSON and return the JSON answer; raise DeliveryError on anything but HTTP 200 + JSON."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise PermanentDeliveryError(f"unsupported URL scheme: {url.split(':', 1)[0]}")
    request = urllib.request.Request(  # noqa: S310  (scheme checked above)
        url,
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            status, raw = response.status, response.read(65536)
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", errors="replace") if exc.fp else ""
        raise DeliveryError(f"HTTP {exc.code}: {detail}".strip()) from exc
    except urllib.error.URLError as exc:
        raise DeliveryError(f"connection failed: {exc.reason}") from exc
    except (TimeoutError, OSError) as exc:
        raise DeliveryError(f"connection failed: {exc}") from exc
    if status != 200:
        raise DeliveryError(f"HTTP {status}")
    try:
        answer = json.loads(raw)
    except ValueError as exc:
        raise DeliveryError(f"not a JSON answer: {raw[:200]!r}") from exc
    if not isinstance(answer, dict):
        raise DeliveryError(f"unexpected answer: {raw[:200]!r}")
    return answer


def _send_robot(delivery: Delivery) -> None:
    endpoint_id = delivery.payload.get("endpoint_id")
    endpoint = RobotEndpoint.objects.filter(pk=endpoint_id).first() if endpoint_id else None
    if endpoint is None or not endpoint.is_active:
        raise PermanentDeliveryError("robot endpoint deleted or inactive")
    if endpoint.channel != delivery.channel:
        raise PermanentDeliveryError("robot endpoint changed its type")
    text = delivery.payload.get("text", "")
    url = endpoint.url
    if delivery.channel == ChannelKind.WECOM:
        text = truncate_utf8(text, WECOM_MAX_BYTES)
    elif endpoint.secret:
        url = signed_dingtalk_url(url, endpoint.secret)
    answer = post_json(url, robot_payload(text))
    if answer.get("errcode") != 0:
        raise DeliveryError(f"errcode {answer.get('errcode')}: {answer.get('errmsg', '')}")


# --- Email --------------------------------------------------------------------------------------


def _send_email(delivery: Delivery) -> None:
    payload = delivery.payload
    subject = " ".join(str(payload.get("subject", "")).split())[:200]  # no newlines in headers
    text = payload.get("text", "")
    site = getattr(settings, "GUANXI_SITE_URL", "")
    if site and payload.get("url", "").startswith("/"):
        text = f"{text}\n\n{site.rstrip('/')}{payload['url']}"
    timeout = getattr(settings, "EMAIL_TIMEOUT", None) or EMAIL_TIMEOUT
    send_mail(
        subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [delivery.target],
        connection=get_connection(timeout=timeout),
    )


def _send_sms(delivery: Delivery) -> None:
    sms_backend().send(delivery.target, delivery.payload.get("text", ""))


SENDERS = {
    ChannelKind.EMAIL: _send_email,
    ChannelKind.SMS: _send_sms,
    ChannelKind.WECOM: _send_robot,
    ChannelKind.DINGTALK: _send_robot,
}


# --- One attempt --------------------------------------------------------------------------------


def claim(delivery_id: int, lease: dt.datetime | None = None) -> bool:
    """Take the delivery for one attempt. True when this caller may send it now.

    Claimable: pending/retrying and due (no `next_attempt_at`, or it has passed), or holding exactly
    the `lease` the retry sweep handed to this task.
    """
    now = timezone.now()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    if lease is not None:
        due |= Q(next_attempt_at=lease)
    return bool(
        Delivery.objects.filter(due, pk=delivery_id, status__in=SENDABLE).update(
            next_attempt_at=now + SENDING_LEASE
        )
    )


def send(delivery_id: int, lease: dt.datetime | None = None) -> str:
    """Make one attempt at a delivery; returns its status afterwards, or "skipped" when it was not
    due for sending (already sent, failed for good, held, or being sent by someone else)."""
    if not claim(delivery_id, lease):
        return "skipped"
    delivery = Delivery.objects.get(pk=delivery_id)
    sender = SENDERS.get(delivery.channel)
    try:
        if sender is None:
            raise PermanentDeliveryError(f"no sender for channel {delivery.channel}")
        sender(delivery)
    except Exception as exc:
        return record_failure(delivery, exc)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), attempts=F("attempts") + 1, next_attempt_at=None
    )
    return DeliveryStatus.SENT


def record_failure(delivery: Delivery, exc: BaseException) -> str:
    attempts = delivery.attempts + 1
    error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
    final = attempts >= MAX_ATTEMPTS or isinstance(exc, PermanentDeliveryError)
    status = DeliveryStatus.FAILED if final else DeliveryStatus.RETRYING
    next_attempt_at = None if final else timezone.now() + BACKOFF[min(attempts, len(BACKOFF)) - 1]
    logger.warning("delivery %s (%s) attempt %s failed: %s", delivery.pk, delivery.channel, attempts, error)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=status, attempts=attempts, last_error=error[:2000], next_attempt_at=next_attempt_at
    )
    return status
