"""Shared fixtures. Tests run against real SQLite/PostgreSQL and a real Huey queue (SQLite or Redis)."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


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


def drain(huey) -> list:
    """Run every task waiting in the real queue, as a worker would; returns their results."""
    results = []
    while (task := huey.dequeue()) is not None:
        results.append(huey.execute(task))
    return results


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip locally when a tool is missing; in CI a missing tool is a failure, never a skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
