"""Worker tasks for duplicate detection and data quality (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from guanxi.customers import quality
from guanxi.customers.dedupe import run_batch_dedupe


@db_periodic_task(crontab(hour="3", minute="17"))
@lock_task("customers-cleanse")
def cleanse_daily() -> int:
    """Nightly cleansing sweep: recompute completeness, report invalid phones, contactless and stale
    duplicates. Reports only; never deletes."""
    return quality.cleanse().pk


@db_periodic_task(crontab(hour="2", minute="7"))
@lock_task("customers-dedupe")
def dedupe_nightly() -> int:
    """Nightly batch duplicate detection into the review queue (worker process, forked comparers)."""
    return run_batch_dedupe().pk
