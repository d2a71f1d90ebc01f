"""Settings for the test suite: the real settings with an isolated data dir and queue."""

import os
import tempfile

os.environ.setdefault("GUANXI_DATA_DIR", tempfile.mkdtemp(prefix="guanxi-test-"))
# pytest-xdist: each worker of a run gets its own data dir under the run's (its SQLite database and
# queue, uploaded files). A worker process a test starts inherits the worker's dir as it is.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _xdist_worker and os.path.basename(os.environ["GUANXI_DATA_DIR"].rstrip("/")) != _xdist_worker:
    os.environ["GUANXI_DATA_DIR"] = os.path.join(os.environ["GUANXI_DATA_DIR"], _xdist_worker)
    os.makedirs(os.environ["GUANXI_DATA_DIR"], exist_ok=True)

from guanxi.settings import *  # noqa: E402, F403
from guanxi.settings import HUEY, QUEUE_URL  # noqa: E402

# The tests' webhook receivers listen on loopback (tests/webhooks/test_ssrf.py turns this off).
WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A worker process started by a test may be pointed at the test's real SMTP server instead.
EMAIL_BACKEND = os.environ.get("GUANXI_TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# Each test run gets its own queue name so runs never see each other's tasks. A worker process started
# by a test (tests/core/test_event_bus_worker_process.py) is given the run's name to share its queue.
HUEY = {**HUEY, "name": os.environ.get("GUANXI_TEST_QUEUE_NAME") or f"guanxi-test-{os.getpid()}"}
TEST_QUEUE_KIND = "redis" if QUEUE_URL.startswith("redis") else "sqlite"

# SQLite: a test database file instead of pytest-django's shared-cache in-memory database. In memory,
# a second connection touching a table another one writes fails at once with SQLITE_LOCKED (not
# retried by busy_timeout), so concurrency tests (threads, each with its own connection) could not
# run; a WAL file with IMMEDIATE transactions and busy_timeout (settings) queues writers like production.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(os.environ["GUANXI_DATA_DIR"], "test.sqlite3")
    }
