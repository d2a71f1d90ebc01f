"""Worker tasks of the customisation app (Huey): the background rewrite of custom-field values."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guanxi.customization.actions import rewrite


@db_task(retries=3, retry_delay=10)
def rewrite_custom_field(field_id: int) -> dict:
    """Move stored values after a custom field's rename, delete or restore (short batches)."""
    return rewrite.run_field_rewrite(field_id)


@db_periodic_task(crontab(minute="17", hour="3"))
def purge_deleted_custom_fields() -> int:
    return rewrite.purge_deleted_fields()
