"""Signatures of inbound webhook calls.

**Standard Webhooks** (https://www.standardwebhooks.com, the scheme senders should use; the
signing primitives live in `guanxi.core.standard_webhooks`, shared with the outgoing webhooks of the
webhooks app): three headers, and the signature covers the message id, so the id is the idempotency
key and a captured call cannot be re-sent under a new one. The HMAC and the key decoding are the
`standardwebhooks` package's; header parsing is ours, so malformed headers answer 401, not 500.

**Deprecated** (accepted until LEGACY_ACCEPTED_UNTIL, then refused): `X-Guanxi-Timestamp` and
`X-Guanxi-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` with a separate
`Idempotency-Key` that the signature does not cover. While it is accepted, a legacy call whose
signature was already seen is answered as a replay whatever its Idempotency-Key (the signature
covers timestamp and body, so only a captured copy repeats it), and each use is logged and shown on
the source's settings page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import NamedTuple

from django.utils.translation import gettext as _

from guanxi.core.standard_webhooks import (  # noqa: F401  (this module's public names)
    SECRET_PREFIX,
    WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    generate_secret,
    header,
    sign,
    standard_headers,
)

TIMESTAMP_TOLERANCE_SECONDS = 5 * 60
MAX_ID_LENGTH = 200  # InboundDelivery.idempotency_key

# Deprecated scheme.
TIMESTAMP_HEADER = "X-Guanxi-Timestamp"
SIGNATURE_HEADER = "X-Guanxi-Signature"
SIGNATURE_SCHEME = "sha256"
LEGACY_ACCEPTED_UNTIL = dt.date(2027, 6, 30)


class Verified(NamedTuple):
    """Outcome of a signature check: `failure` is the reason to answer 401 with (None when
    authentic and fresh); `message_id` the Standard Webhooks id (the idempotency key);
    `legacy_signature` the deprecated scheme's signature (to recognise a replayed copy)."""

    failure: str | None
    message_id: str = ""
    legacy_signature: str = ""


def uses_standard(headers: Mapping[str, str]) -> bool:
    return bool(header(headers, WEBHOOK_SIGNATURE_HEADER) or header(headers, WEBHOOK_ID_HEADER))


def _unix_seconds(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 12 else None


def _stale(timestamp: int, now: float | None) -> str | None:
    now = time.time() if now is None else now
    if abs(now - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
        return _(
            "The timestamp is more than %(minutes)d minutes away from our clock; check the sender's clock."
        ) % {"minutes": TIMESTAMP_TOLERANCE_SECONDS // 60}
    return None


# --------------------------------------------------------------------------- Standard Webhooks


def verify_standard(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> Verified:
    message_id = header(headers, WEBHOOK_ID_HEADER)
    timestamp = header(headers, WEBHOOK_TIMESTAMP_HEADER)
    provided = header(headers, WEBHOOK_SIGNATURE_HEADER)
    if not (message_id and timestamp and provided):
        return Verified(_("Missing webhook-id, webhook-timestamp or webhook-signature header."))
    seconds = _unix_seconds(timestamp)
    if seconds is None:
        return Verified(_("webhook-timestamp must be a Unix time in seconds."))
    if len(message_id) > MAX_ID_LENGTH or not message_id.isprintable():
        return Verified(
            _("webhook-id must be at most %(max)d printable characters.") % {"max": MAX_ID_LENGTH}
        )
    invalid = Verified(_("Invalid signature."))
    try:
        expected = base64.b64decode(sign(secret, message_id, seconds, body).partition(",")[2])
    except Exception:  # noqa: BLE001  (no usable secret, a body that is not UTF-8)
        return invalid
    for candidate in provided.split():
        version, _sep, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            continue
        if hmac.compare_digest(expected, given):
            stale = _stale(seconds, now)
            return Verified(stale) if stale else Verified(None, message_id=message_id)
    return invalid


# --------------------------------------------------------------------------- deprecated scheme


def signature(secret: str, timestamp: str | int, body: bytes) -> str:
    """Deprecated X-Guanxi-Signature: "sha256=" + hex HMAC-SHA256 of "<timestamp>.<body>"."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_SCHEME}={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Deprecated scheme's timestamp and signature headers (kept for tests of the deprecation)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: signature(secret, ts, body)}


def legacy_accepted(today: dt.date | None = None) -> bool:
    return (today or dt.date.today()) <= LEGACY_ACCEPTED_UNTIL


def verify_legacy(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> Verified:
    if not legacy_accepted(dt.datetime.fromtimestamp(time.time() if now is None else now).date()):
        return Verified(
            _(
                "The X-Guanxi-Signature scheme is no longer accepted (since %(date)s): sign with "
                "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)."
            )
            % {"date": LEGACY_ACCEPTED_UNTIL.isoformat()}
        )
    timestamp = header(headers, TIMESTAMP_HEADER)
    provided = header(headers, SIGNATURE_HEADER)
    if not timestamp or not provided:
        return Verified(_("Missing webhook-id, webhook-timestamp or webhook-signature header."))
    if _unix_seconds(timestamp) is None:
        return Verified(_("X-Guanxi-Timestamp must be a Unix time in seconds."))
    if not secret:
        return Verified(_("Invalid signature."))
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), provided.lower().encode("utf-8", "replace")):
        return Verified(_("Invalid signature."))
    stale = _stale(int(timestamp), now)
    if stale:
        return Verified(stale)
    return Verified(None, legacy_signature=expected.removeprefix(f"{SIGNATURE_SCHEME}="))


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> Verified:
    """Standard Webhooks when the call carries its headers, else the deprecated scheme."""
    if uses_standard(headers):
        return verify_standard(secret, headers, body, now=now)
    return verify_legacy(secret, headers, body, now=now)


def verify_signature(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> str | None:
    """None when the call is authentic and fresh (either scheme), else the reason to answer 401 with."""
    return verify(secret, headers, body, now=now).failure
