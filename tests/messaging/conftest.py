"""Real servers for the channel tests: an SMTP server (aiosmtpd) and a loopback HTTP server that
plays the WeCom / DingTalk robot APIs and records every request."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from guanxi.messaging.channels import LogSmsBackend
from tests.conftest import serving


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SmtpRecorder:
    host: str
    port: int
    messages: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    recorder = SmtpRecorder("127.0.0.1", free_port())
    controller = Controller(recorder, hostname=recorder.host, port=recorder.port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


@dataclass
class RecordedRequest:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict


class RobotServer(ThreadingHTTPServer):
    """Answers like a robot API: `answers[path]` is (HTTP status, JSON body); default errcode 0."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RobotHandler)
        self.requests: list[RecordedRequest] = []
        self.answers: dict[str, tuple[int, dict]] = {}
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def received(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]


class RobotHandler(BaseHTTPRequestHandler):
    server: RobotServer

    def do_POST(self):
        parts = urllib.parse.urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.requests.append(
                RecordedRequest(
                    parts.path, urllib.parse.parse_qs(parts.query), dict(self.headers), json.loads(raw)
                )
            )
        status, answer = self.server.answers.get(parts.path, (200, {"errcode": 0, "errmsg": "ok"}))
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # keep the test output quiet
        pass


@pytest.fixture
def robot_server(monkeypatch):
    with serving(RobotServer(), monkeypatch) as server:
        yield server


@pytest.fixture
def sms_outbox():
    LogSmsBackend.outbox.clear()
    yield LogSmsBackend.outbox
    LogSmsBackend.outbox.clear()


@pytest.fixture
def client():
    """Pages in English, so assertions on text do not depend on the zh-hans catalogue."""
    from django.test import Client

    return Client(HTTP_ACCEPT_LANGUAGE="en")
