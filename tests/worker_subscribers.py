"""Subscribers for the worker-process tests (tests/core/test_event_bus_worker_process.py).

The real worker loads this module through `GUANXI_EXTRA_SUBSCRIBER_MODULES` (settings); the tests
import it for the event names. Every event carries a `run` id (one per test): each subscriber appends
one line per call to `<data dir>/worker-test-runs/<run>.jsonl` (outside any transaction, so calls
that rolled back are counted too) and creates the tag `<subscriber>-<run>` inside its transaction
(so only calls that committed leave a row).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from django.conf import settings
from django.db import models

from guanxi.core import events
from guanxi.customization.models import Tag

BLOCK_LIMIT_SECONDS = 120  # a blocked subscriber gives up (and fails) if the test never releases it


class WorkerTestEvent(models.TextChoices):
    FLAKY = "tests.worker.flaky"  # `record` and `always_raise`
    SLOW = "tests.worker.slow"  # `record` and `block_until_released`


events.declare(WorkerTestEvent.FLAKY, "run")
events.declare(WorkerTestEvent.SLOW, "run")


def runs_dir() -> Path:
    path = Path(settings.DATA_DIR) / "worker-test-runs"
    path.mkdir(exist_ok=True)
    return path


def calls_file(run: str) -> Path:
    return runs_dir() / f"{run}.jsonl"


def release_file(run: str) -> Path:
    """`block_until_released` returns once this file exists."""
    return runs_dir() / f"{run}.release"


def calls(run: str) -> list[dict]:
    """Every call of a subscriber for this run, in order: {"subscriber", "pid", "at"}."""
    path = calls_file(run)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _called(subscriber: str, event) -> str:
    run = event.payload["run"]
    line = json.dumps({"subscriber": subscriber, "pid": os.getpid(), "at": time.time()}) + "\n"
    with open(calls_file(run), "a") as handle:  # one short append: atomic between processes
        handle.write(line)
    return run


@events.subscribe(WorkerTestEvent.FLAKY, WorkerTestEvent.SLOW)
def record(event) -> None:
    run = _called("record", event)
    Tag.objects.create(name=f"record-{run}")


@events.subscribe(WorkerTestEvent.FLAKY)
def always_raise(event) -> None:
    run = _called("always_raise", event)
    Tag.objects.create(name=f"always_raise-{run}")  # rolled back with the failure
    raise RuntimeError("subscriber always fails")


@events.subscribe(WorkerTestEvent.SLOW)
def block_until_released(event) -> None:
    run = _called("block_until_released", event)
    Tag.objects.create(name=f"block_until_released-{run}")  # uncommitted while it waits
    deadline = time.monotonic() + BLOCK_LIMIT_SECONDS
    while not release_file(run).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run} was never released")
        time.sleep(0.05)
