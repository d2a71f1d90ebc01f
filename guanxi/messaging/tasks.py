"""Periodic worker tasks of the notification centre (Huey). The task that sends one delivery is
`sending.send_delivery`, queued by the actions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task

from guanxi.messaging import actions

DIGEST_HOUR = 18  # local time (settings.TIME_ZONE)


def local_time_is(hour: int, minute: int = 0) -> Callable[[dt.datetime], bool]:
    """A periodic-task schedule for a wall-clock time in settings.TIME_ZONE.

    Huey runs its scheduler in UTC (`utc=True` in settings.HUEY), so `crontab(hour=18)` would mean
    18:00 UTC; this converts the scheduler's naive timestamp to local time first.
    """

    def validate(timestamp: dt.datetime) -> bool:
        if timestamp.tzinfo is None:
            if not HUEY.utc:
                return timestamp.hour == hour and timestamp.minute == minute
            timestamp = timestamp.replace(tzinfo=dt.UTC)
        local = timestamp.astimezone(ZoneInfo(settings.TIME_ZONE))
        return local.hour == hour and local.minute == minute

    return validate


@db_periodic_task(crontab(minute="*"))
def retry_due_deliveries() -> dict[str, int]:
    """Every minute: release deliveries whose quiet hours are over, then queue every due delivery
    (first attempts whose enqueue was lost, retries whose backoff has passed). Overlapping runs are
    harmless: deliveries are leased row by row (no task lock that a crashed worker could leave)."""
    released = actions.release_quiet_hours()
    queued = actions.queue_due_deliveries()
    return {"released": released, "queued": queued}


@db_periodic_task(local_time_is(DIGEST_HOUR))
def send_digests() -> int:
    """Daily at 18:00 local time: one combined message per user and channel for the held digest
    deliveries (rows are locked per user and channel, so overlapping runs never double a digest).
    Run it by hand with `send_digests.call_local()`."""
    return actions.send_digests()
