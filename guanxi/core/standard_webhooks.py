"""Standard Webhooks (https://www.standardwebhooks.com): the signing scheme shared by inbound
webhooks (customers/inbound, which verify it) and outgoing webhooks (the webhooks app, which sign
with it). Three headers; the signature covers the message id, so the id is the receiver's
idempotency key and a captured call cannot be re-sent under a new one:

    webhook-id: <unique per message; retries and redeliveries reuse it>
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>"> [v1,<another> ...]

The secret is `whsec_<base64 key>` as the spec and its libraries (the `standardwebhooks` package for
Python, equivalents for Node, Go, Java, PHP...) expect; the HMAC and the key decoding are that
package's.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
from collections.abc import Mapping

from standardwebhooks import Webhook

WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
MESSAGE_ID_PREFIX = "msg_"


def generate_secret() -> str:
    """A new secret in the Standard Webhooks form: whsec_ + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    """A new message id (`msg_` + 22 url-safe random characters)."""
    return MESSAGE_ID_PREFIX + secrets.token_urlsafe(16)


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value, whatever the case of its name ("" when absent)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), "")
    return str(value or "").strip()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature value ("v1,<base64>") for a call (raises ValueError for a body that is
    not UTF-8: the spec signs text)."""
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return Webhook(secret).sign(message_id, moment, body.decode("utf-8"))


def standard_headers(
    secret: str, body: bytes, *, message_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """webhook-id, webhook-timestamp and webhook-signature for a body."""
    message_id = message_id or new_message_id()
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        WEBHOOK_ID_HEADER: message_id,
        WEBHOOK_TIMESTAMP_HEADER: str(ts),
        WEBHOOK_SIGNATURE_HEADER: sign(secret, message_id, ts, body),
    }
