"""One HTTP POST to a webhook endpoint (urllib: `httpx` is not installed). No database here.

Redirects are not followed (a 3xx answer is a failed attempt, as the Standard Webhooks senders do):
a redirected POST would lose its body or reach a host nobody configured.

Server-side request forgery: unless `WEBHOOK_ALLOW_PRIVATE_NETWORKS`, the connection is refused
when the address actually connected to (checked on the socket, after DNS, so a name that resolves
to an inside address, or re-resolves to one later, is caught) is loopback, private, link-local,
multicast or reserved: an endpoint URL is data an administrator types, not a way into the
server's own network.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import NamedTuple

from django.conf import settings

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


class Refused(OSError):
    """The endpoint's address is inside (loopback, private, ...): no request was sent."""


def inside_address(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _guarded_create_connection(address, *args, **kwargs):
    sock = socket.create_connection(address, *args, **kwargs)
    peer = sock.getpeername()[0]
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS and inside_address(peer):
        sock.close()
        raise Refused(f"{address[0]} is at {peer}, an address inside the server's network")
    return sock


class _GuardedHTTP(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class _GuardedHTTPS(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection  # checked before the TLS handshake


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_GuardedHTTP, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_GuardedHTTPS, req, context=self._context)


_opener = urllib.request.build_opener(_NoRedirect, _HTTPHandler, _HTTPSHandler)
_proxied_opener = urllib.request.build_opener(_NoRedirect)  # the socket's peer is the proxy


def _through_proxy(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return bool(urllib.request.getproxies().get(parts.scheme)) and not urllib.request.proxy_bypass(
        parts.hostname or ""
    )


def _check_name(url: str) -> None:
    """Through a proxy the connected address is the proxy's: check what the name resolves to here."""
    host = urllib.parse.urlsplit(url).hostname or ""
    for *_rest, sockaddr in socket.getaddrinfo(host, None):
        if inside_address(sockaddr[0]):
            raise Refused(f"{host} is at {sockaddr[0]}, an address inside the server's network")


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

    opener = _opener
    try:
        if _through_proxy(url):
            opener = _proxied_opener
            if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
                _check_name(url)
        with opener.open(request, timeout=timeout) as response:
            raw = response.read(RESPONSE_EXCERPT_BYTES)
            return Answer(response.status, _excerpt(raw), "", took())
    except urllib.error.HTTPError as exc:
        raw = exc.read(RESPONSE_EXCERPT_BYTES) if exc.fp else b""
        return Answer(exc.code, _excerpt(raw), "", took())
    except Refused as exc:
        return Answer(None, "", f"refused: {exc}", took())
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, Refused):
            return Answer(None, "", f"refused: {exc.reason}", took())
        return Answer(None, "", f"connection failed: {exc.reason}", took())
    except (TimeoutError, OSError, ValueError) as exc:
        return Answer(None, "", f"connection failed: {type(exc).__name__}: {exc}", took())
