"""Console logging of `guanxi up` and `guanxi worker`: what a person needs to see.

By default the console shows the worker's start-up line, one line per finished job and every warning
or error. The periodic sweeps (the outbox relay every minute, reclaim, digests...) only show when
they fail; "Executing ..." and scheduler lines are left out. `guanxi up --verbose` (or
GUANXI_LOG_VERBOSE=1) shows everything at INFO and above.

The `huey` logger gets its own handler here (settings.LOGGING) and does not propagate: Huey's
`run_huey` only adds a handler of its own when the logger has none, so every line is printed once.
"""

from __future__ import annotations

import logging
import os

from huey.api import PeriodicTask

VERBOSE_ENV = "GUANXI_LOG_VERBOSE"

# Huey's own message formats (huey/consumer.py, huey/api.py) that the quiet console keeps.
_STARTED = "Huey consumer started with %s %s, PID %s at %s"
_FINISHED = "%s executed in %0.3fs"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").lower() in {"1", "true", "yes"}


def _is_periodic(task) -> bool:
    return isinstance(task, PeriodicTask)


class ConsoleFilter(logging.Filter):
    """Keep warnings, errors and non-worker lines; of the worker's INFO lines keep start-up and
    finished queued jobs (not periodic ones) unless verbose."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or verbose() or not record.name.startswith("huey"):
            return True
        if record.msg == _STARTED:
            return True
        if record.msg == _FINISHED and record.args:
            return not _is_periodic(record.args[0])
        return False
