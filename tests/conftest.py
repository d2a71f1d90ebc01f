"""Shared fixtures. Tests run against real SQLite/PostgreSQL and a real Huey queue (SQLite or Redis)."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


CHROMIUM = os.environ.get("GUANXI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    return [f"guanxi: database={db['ENGINE'].rsplit('.', 1)[-1]} queue={settings.TEST_QUEUE_KIND}"]


@pytest.fixture(autouse=True)
def _check_backend():
    """The suite runs once per backend; make sure the one asked for is the one in use."""
    wanted = os.environ.get("GUANXI_TEST_BACKEND")
    if wanted:
        assert connection.vendor == wanted, f"asked for {wanted}, running on {connection.vendor}"


@pytest.fixture
def roles(db):
    from guanxi.core.actions import ensure_default_roles

    return ensure_default_roles()


@pytest.fixture
def org(roles):
    from tests.factories import build_org

    return build_org(roles)


@pytest.fixture
def queue():
    """The real Huey queue configured for this run (SQLite file or Redis), emptied around the test."""
    from huey.contrib.djhuey import HUEY

    HUEY.flush()
    yield HUEY
    HUEY.flush()


@pytest.fixture
def keep_test_connection():
    """Like Django's test Client: requests served through the WSGI app (schemathesis fuzzing) must
    not close the test transaction's connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def drain(huey) -> list:
    """Run every task waiting in the real queue, as a worker would; returns their results."""
    results = []
    while (task := huey.dequeue()) is not None:
        results.append(huey.execute(task))
    return results


@pytest.fixture
def worker(queue):
    """`with worker():` runs the block, then the real queue is drained as a worker would (what the
    block committed is processed: use it in `django_db(transaction=True)` tests)."""

    @contextmanager
    def run():
        yield
        drain(queue)

    return run


@contextmanager
def serving(server, monkeypatch):
    """Run a `ThreadingHTTPServer` on loopback in a thread for the block (no proxy for loopback)."""
    import threading

    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def api_for():
    """`api_for(user)`: a test client calling the API with a new token of that user (English)."""
    from django.test import Client

    from guanxi.core.actions import create_api_token

    def make(user):
        _token, secret = create_api_token(user, "test", actor=None)
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")

    return make


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip locally when a tool is missing; in CI a missing tool is a failure, never a skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


# --- real browser (one Playwright session for the whole run) -----------------------------


@pytest.fixture(scope="session")
def browser():
    require_or_skip(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} not installed (run `make browser`)")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls made by the
    # tests themselves are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}") or dialog.dismiss())
    page.js_errors = errors
    page.set_default_timeout(10_000)
    yield page
    context.close()


def login(page, username: str, password: str) -> None:
    page.goto("/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")
    try:
        page.wait_for_url("**/today/")
    except Exception:
        page.screenshot(path="/tmp/login-fail.png")
        print(page.content()[:3000])
        raise
