"""Worker tasks for duplicate detection and data quality (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from guanxi.customers import quality


@db_periodic_task(crontab(hour="3", minute="17"))
@lock_task("customers-cleanse")
def cleanse_daily() -> int:
    """Nightly cleansing sweep: recompute completeness, report invalid phones, contactless and stale
    duplicates. Reports only; never deletes."""
    return quality.cleanse().pk
