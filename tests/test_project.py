"""Project-level checks: migrations in step, translations complete and compiled, `guanxi up` works end to end."""

from __future__ import annotations

import gettext
import http.cookiejar
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "guanxi" / "locale"


@pytest.mark.django_db
def test_migrations_are_in_step_with_models():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)


def _po_entries(path: Path) -> list[tuple[str, list[str], bool]]:
    """(msgid, msgstrs, fuzzy) for each entry of a .po file."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        if "msgid" not in block:
            continue
        fuzzy = "#, fuzzy" in block or re.search(r"^#,.*\bfuzzy\b", block, re.M) is not None
        parts: dict[str, list[str]] = {}
        key = None
        for line in block.splitlines():
            m = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) "(.*)"$', line)
            if m:
                key = m.group(1)
                parts[key] = [m.group(2)]
            elif line.startswith('"') and key:
                parts[key].append(line[1:-1])
        msgid = "".join(parts.get("msgid", []))
        strs = ["".join(v) for k, v in parts.items() if k.startswith("msgstr")]
        entries.append((msgid, strs, fuzzy))
    return entries


def test_simplified_chinese_catalogue_is_complete_and_compiled():
    po = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
    entries = [e for e in _po_entries(po) if e[0]]
    assert len(entries) > 100
    missing = [msgid for msgid, strs, fuzzy in entries if fuzzy or not all(strs)]
    assert missing == [], f"untranslated or fuzzy: {missing[:20]}"
    # The compiled catalogue holds every translation (i.e. `make messages` was run after editing).
    with open(po.with_suffix(".mo"), "rb") as fh:
        catalog = gettext.GNUTranslations(fh)._catalog
    for msgid, strs, _fuzzy in entries:
        decoded = msgid.encode().decode("unicode_escape").encode("latin-1").decode("utf-8")
        assert any(k == decoded or (isinstance(k, tuple) and k[0] == decoded) for k in catalog), decoded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.environ.get("GUANXI_TEST_BACKEND") == "postgresql", reason="`guanxi up` uses the embedded "
                    "SQLite default; it runs once, in the SQLite pass of the suite")  # fmt: skip
def test_guanxi_up_serves_demo_data_and_printed_admin_logs_in(tmp_path):
    """Acceptance 1: the README's first command, minus the virtualenv set-up, on an empty data dir."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUANXI_", "DJANGO_"))}
    env.update(GUANXI_DATA_DIR=str(tmp_path), GUANXI_PORT=str(port), GUANXI_DEMO_CUSTOMERS="300")
    proc = subprocess.Popen(
        [sys.executable, "-m", "guanxi.cli", "up"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output.append(line)
            if "on http://" in line or proc.poll() is not None:
                break
        text = "".join(output)
        assert f"on {base}/" in text, text
        match = re.search(r"Administrator: (\S+) / (\S+)", text)
        assert match, text
        username, password = match.groups()

        jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        raw = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar))
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        for _ in range(100):  # the server thread may need a moment after printing its address
            try:
                raw.open(base + "/healthz", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            raw.open(base + "/", timeout=10)
        assert redirect.value.code == 302 and redirect.value.headers["Location"].endswith("/accounts/login/")

        page = opener.open(base + "/accounts/login/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token}
        )
        request = urllib.request.Request(
            base + "/accounts/login/", data=form.encode(), headers={"Referer": base}
        )
        landing = opener.open(request, timeout=10)
        assert landing.url.endswith("/today/"), landing.url

        listing = opener.open(base + "/customers/", timeout=20).read().decode()
        assert 'lang="zh-hans"' in listing and "负责人" in listing
        customer_url = re.search(r'href="(/customers/\d+/)" class="customer-link"', listing).group(1)
        detail = opener.open(base + customer_url, timeout=20).read().decode()
        assert "联系方式" in detail and "变更记录" in detail
        english = urllib.request.Request(base + customer_url, headers={"Accept-Language": "en"})
        jar.set_cookie(
            http.cookiejar.Cookie(
                0,
                "django_language",
                "en",
                None,
                False,
                "127.0.0.1",
                False,
                False,
                "/",
                True,
                False,
                None,
                False,
                None,
                None,
                {},
            )  # fmt: skip
        )
        detail_en = opener.open(english, timeout=20).read().decode()
        assert 'lang="en"' in detail_en and "Contact points" in detail_en and "Change history" in detail_en

        # The public pool works out of the box: the demo's unowned customers can be claimed.
        pool_page = opener.open(base + "/pools/", timeout=20).read().decode()
        assert 'action="/pools/claim/' in pool_page

        # The worker started by `up` processes the demo and login events from the outbox.
        db = sqlite3.connect(tmp_path / "guanxi.sqlite3")
        for _ in range(100):
            pending = db.execute("SELECT count(*) FROM core_event WHERE processed_at IS NULL").fetchone()[0]
            if pending == 0:
                break
            time.sleep(0.2)
        assert pending == 0
        assert db.execute("SELECT count(*) FROM customers_customer").fetchone()[0] >= 300
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _worker_output(env: dict, until, *, queue_file: Path | None = None, timeout: float = 180) -> list[str]:
    """Run `guanxi worker` until `until(lines)` holds (and, given `queue_file`, its queue is empty),
    then stop it; returns every line it printed."""
    from huey import SqliteHuey

    proc = subprocess.Popen(
        [sys.executable, "-m", "guanxi.cli", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        if queue_file is not None:  # every queued job (the periodic ones included) has been taken
            queue = SqliteHuey("guanxi", filename=str(queue_file))
            empty_twice = 0
            while time.monotonic() < deadline and empty_twice < 2:
                empty_twice = empty_twice + 1 if queue.pending_count() == 0 else 0
                time.sleep(1)
            time.sleep(1)
    finally:
        proc.terminate()
        try:
            rest, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    return lines + rest.splitlines(keepends=True)


@pytest.mark.skipif(os.environ.get("GUANXI_TEST_BACKEND") == "postgresql", reason="`guanxi worker` on the "
                    "embedded SQLite default; it runs once, in the SQLite pass of the suite")  # fmt: skip
def test_the_worker_console_shows_each_line_once_and_keeps_the_periodic_relay_quiet(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUANXI_", "DJANGO_"))}
    env.update(GUANXI_DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    # a set-up database whose outbox holds the start-up events (the administrator's creation...)
    subprocess.run(
        [sys.executable, "-m", "guanxi.cli", "up", "--no-demo", "--no-serve"],
        env=env, cwd=tmp_path, check=True, capture_output=True, timeout=300,
    )  # fmt: skip

    def finished_event(lines):
        return any("process_event" in line and "executed in" in line for line in lines)

    quiet = _worker_output(env, finished_event, queue_file=tmp_path / "queue.sqlite3")
    text = "".join(quiet)
    shown = [line.rstrip() for line in quiet if line.strip()]
    assert len(shown) == len(set(shown)), text  # nothing printed twice
    assert sum("Huey consumer started" in line for line in shown) == 1, text  # start-up
    assert finished_event(shown), text  # one line per finished job
    for noise in ("relay_outbox", "Executing ", "Enqueueing periodic task", "The following commands"):
        assert noise not in text, text

    # --verbose (GUANXI_LOG_VERBOSE) shows the periodic relay, still once per line
    def relay_finished(lines):
        return any("relay_outbox" in line and "executed in" in line for line in lines)

    verbose = _worker_output({**env, "GUANXI_LOG_VERBOSE": "1"}, relay_finished)
    shown = [line.rstrip() for line in verbose if line.strip()]
    assert relay_finished(shown), "".join(verbose)
    assert sum("relay_outbox" in line and "executed in" in line for line in shown) == 1, "".join(verbose)
    assert len(shown) == len(set(shown)), "".join(verbose)
