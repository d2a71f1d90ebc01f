"""Worker tasks of the public pool (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from guanxi.engagement.actions import reclaim


@db_periodic_task(crontab(minute="7"))
@lock_task("engagement-pool-reclaim")
def reclaim_hourly() -> dict:
    """Hourly: return due customers to their pools and warn owners of customers due soon.
    The lock keeps two workers from sweeping at once (a second one skips this run)."""
    return reclaim.reclaim_sweep()
