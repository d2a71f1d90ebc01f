"""Real-browser fixtures: Playwright driving Debian's /usr/bin/chromium (never a downloaded browser)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import require_or_skip

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
