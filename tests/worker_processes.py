"""Real worker processes for tests: `python -m guanxi.cli worker` (Huey's consumer) started as a
separate OS process on the test's database and queue (SQLite + SQLite queue, or PostgreSQL + Redis),
killed at the end of the test (or by the test, with SIGKILL, to prove a crash loses nothing).

The worker gets the run's queue name through `GUANXI_TEST_QUEUE_NAME`; a test adds what it needs
(extra subscriber modules, retry settings, an SMTP server) through `Workers(env)`. It runs without
periodic tasks (`--no-periodic`): a test enqueues the task it wants, or calls the function itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60  # seconds: the longest any wait for the worker may take by default


def database_url() -> str:
    """The test database pytest-django created, as a URL for the worker's settings."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"  # a file in GUANXI_DATA_DIR (test_settings)
    return urlsplit(settings.DATABASE_URL)._replace(path="/" + quote(name)).geturl()


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "guanxi.test_settings",
        "GUANXI_DATA_DIR": str(settings.DATA_DIR),
        "GUANXI_DATABASE_URL": database_url(),
        "GUANXI_QUEUE_URL": settings.QUEUE_URL,
        "GUANXI_TEST_QUEUE_NAME": settings.HUEY["name"],
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


class Workers:
    """Worker processes started by one test; every one still alive is killed at the end."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = env or {}
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    def start(self, *args: str) -> subprocess.Popen:
        log = Path(settings.DATA_DIR) / f"worker-{uuid.uuid4().hex[:8]}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "guanxi.cli", "worker", "--no-periodic", *args],
                cwd=ROOT,
                env=worker_env(self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed with everything it started
            )
        self.procs.append((proc, log))
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def kill_all(self) -> None:
        for proc, _log in self.procs:
            self.kill(proc)

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {proc.pid} ({log.name}):\n{log.read_text()[-3000:]}" for proc, log in self.procs
        )

    def wait_for(self, what: str, condition, timeout: float = TIMEOUT):
        """Poll `condition()` until it returns something truthy; fail with the workers' logs."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            for proc, _log in self.procs:
                assert proc.poll() is None or proc.returncode == -signal.SIGKILL, (
                    f"worker {proc.pid} exited ({proc.returncode})\n{self.logs()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for: {what}\n{self.logs()}")
            time.sleep(0.05)
