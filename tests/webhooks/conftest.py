"""A real receiver on loopback for the outgoing webhook tests: it records every request, verifies
each one with the `standardwebhooks` library (not with our code) and can be told to answer 500."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from standardwebhooks import Webhook, WebhookVerificationError

from tests.conftest import serving


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: dict | None  # the payload Webhook.verify returned, None when verification failed
    error: str

    @property
    def message_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver(ThreadingHTTPServer):
    """`secret` verifies; `fail_next` answers 500 that many times; `always_fail` answers 500."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.secret = ""
        self.fail_next = 0
        self.always_fail = False
        self.requests: list[Received] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            verified, error = Webhook(self.server.secret).verify(body, headers), ""
        except WebhookVerificationError as exc:
            verified, error = None, str(exc)
        with self.server.lock:
            self.server.requests.append(Received(headers, body, verified, error))
            failing = self.server.always_fail or self.server.fail_next > 0
            if self.server.fail_next > 0:
                self.server.fail_next -= 1
        status, answer = (500, b'{"error":"boom"}') if failing else (200, b'{"ok":true}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format, *args):  # keep the test output quiet
        pass


@pytest.fixture
def receiver(monkeypatch):
    with serving(Receiver(), monkeypatch) as server:
        yield server


def run_worker(huey, *, limit: int = 200) -> list:
    """Run the real queue as a worker would, honouring each task's ETA (a retry queued with its
    back-off runs when it is due, not before); returns the tasks' results."""
    results = []
    while (task := huey.dequeue()) is not None:
        if task.eta is not None:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None) if huey.utc else dt.datetime.now()
            wait = (task.eta - now).total_seconds()
            if wait > 0:
                time.sleep(wait)
        results.append(huey.execute(task))
        limit -= 1
        assert limit > 0, "the queue never ran dry"
    return results


@pytest.fixture
def client():
    """Pages in English, so assertions on text do not depend on the zh-hans catalogue."""
    return Client(HTTP_ACCEPT_LANGUAGE="en")
