"""Periodic worker task of approvals (Huey): step timeouts."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.approvals import actions


@db_periodic_task(crontab(minute="*"))
def approval_timeouts() -> dict[str, int]:
    """Every minute: escalate or auto-reject the steps past their timeout, each exactly once (the
    overdue set is one query; each request is locked, re-checked and marked in its own transaction, so
    overlapping runs and several workers never handle a step twice)."""
    return actions.process_timeouts()
