"""The queue side of sending: the worker task that makes one attempt at one delivery, and
`enqueue_send()`, which the actions call after commit.

A module of its own (not `tasks.py`) so that the actions can enqueue a send without importing the
periodic tasks, which call the actions: every import points down (tasks → actions → sending →
channels → models).
"""

from __future__ import annotations

import datetime as dt
import logging

from huey.contrib.djhuey import db_task

from guanxi.messaging import channels

log = logging.getLogger(__name__)


@db_task()
def send_delivery(delivery_id: int, lease: dt.datetime | None = None) -> str:
    return channels.send(delivery_id, lease)


def enqueue_send(delivery_id: int, lease: dt.datetime | None = None) -> None:
    """Queue one attempt at a delivery (call it on commit). A queue that is down does not fail the
    committed request: the retry sweep (`tasks.retry_due_deliveries`) sends it later."""
    try:
        if lease is None:
            send_delivery(delivery_id)
        else:
            send_delivery(delivery_id, lease)
    except Exception:  # the queue being down must not fail a committed request
        log.exception("could not enqueue delivery %s; the retry sweep will send it", delivery_id)
