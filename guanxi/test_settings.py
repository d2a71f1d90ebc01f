"""Settings for the test suite: the real settings with an isolated data dir and queue."""

import os
import tempfile

os.environ.setdefault("GUANXI_DATA_DIR", tempfile.mkdtemp(prefix="guanxi-test-"))

from guanxi.settings import *  # noqa: E402, F403
from guanxi.settings import HUEY, QUEUE_URL  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Each test run gets its own queue name so runs never see each other's tasks.
HUEY = {**HUEY, "name": f"guanxi-test-{os.getpid()}"}
TEST_QUEUE_KIND = "redis" if QUEUE_URL.startswith("redis") else "sqlite"
