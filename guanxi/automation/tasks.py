"""Worker tasks of automation (Huey): time-rule sweeps, schedules, retries and waits."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from guanxi.automation.actions import engine, sweeps
from guanxi.automation.models import TriggerType


@db_periodic_task(crontab(minute="*"))
def run_schedules() -> dict:
    return sweeps.sweep(kinds=(TriggerType.SCHEDULE,))


@db_periodic_task(crontab(minute="*/10"))
@lock_task("automation-relative-time")
def run_relative_time_rules() -> dict:
    return sweeps.sweep(kinds=(TriggerType.RELATIVE_TIME,))


@db_task()
def run_relative_time_rules_now() -> dict:
    """The same sweep on demand (an administrator's "run now", tests with a real worker)."""
    return sweeps.sweep(kinds=(TriggerType.RELATIVE_TIME,))


@db_periodic_task(crontab(minute="*"))
def retry_runs() -> int:
    return engine.retry_due()
