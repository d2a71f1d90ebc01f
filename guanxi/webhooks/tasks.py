"""Periodic worker task of outgoing webhooks (Huey). The task that sends one delivery is
`actions.sending.send_delivery`, queued by the actions."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.webhooks import actions


@db_periodic_task(crontab(minute="*"))
def queue_due_webhook_deliveries() -> int:
    """Every minute: queue every due delivery (retries whose back-off has passed, first attempts whose
    enqueue was lost, deliveries held while their endpoint was disabled). Safe with several workers:
    rows are locked and leased chunk by chunk."""
    return actions.queue_due_deliveries()
