"""One HTTP POST to a webhook endpoint (urllib: `httpx` is not installed). No database here.

Redirects are not followed (a 3xx answer is a failed attempt, as the Standard Webhooks senders do):
a redirected POST would lose its body or reach a host nobody configured.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import NamedTuple

from guanxi.webhooks.models import RESPONSE_EXCERPT_BYTES

USER_AGENT = "Guanxi-Webhooks/1"


class Answer(NamedTuple):
    """What came back: the HTTP status (None when no answer arrived), the first 2 KB of the body,
    the error (network failure, timeout) and how long the call took."""

    status_code: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx status


_opener = urllib.request.build_opener(_NoRedirect)


def _excerpt(raw: bytes) -> str:
    return raw[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST `body` to `url` (http or https only; the actions refuse anything else)."""
    if not url.lower().startswith(("http://", "https://")):
        return Answer(None, "", f"unsupported URL scheme: {url.split(':', 1)[0]}", 0)
    request = urllib.request.Request(  # noqa: S310  (scheme checked above)
        url,
        data=body,
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        method="POST",
    )
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with _opener.open(request, timeout=timeout) as response:
            raw = response.read(RESPONSE_EXCERPT_BYTES)
            return Answer(response.status, _excerpt(raw), "", took())
    except urllib.error.HTTPError as exc:
        raw = exc.read(RESPONSE_EXCERPT_BYTES) if exc.fp else b""
        return Answer(exc.code, _excerpt(raw), "", took())
    except urllib.error.URLError as exc:
        return Answer(None, "", f"connection failed: {exc.reason}", took())
    except (TimeoutError, OSError, ValueError) as exc:
        return Answer(None, "", f"connection failed: {type(exc).__name__}: {exc}", took())
