"""Worker tasks of lead assignment (Huey): assign new leads, retry waiting ones, first-response alerts."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from guanxi.core.events import subscribe
from guanxi.core.exceptions import NotFound
from guanxi.customers.events import CustomerEvent
from guanxi.customers.models import Customer
from guanxi.engagement.actions import assignment

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*/5"))
@lock_task("engagement-assignment-breach-sweep")
def breach_sweep_task() -> dict:
    """Every 5 minutes: tell managers about leads not contacted by their first-response target."""
    return assignment.breach_sweep()


@db_periodic_task(crontab(minute="*/5"))
@lock_task("engagement-assignment-waiting-leads")
def assign_waiting_leads_task() -> dict:
    """Every 5 minutes: assign recent leads that found nobody on duty when they arrived."""
    return assignment.assign_waiting_leads()


@subscribe(CustomerEvent.CREATED)
def assign_new_lead(event) -> None:
    """A new unowned customer in a lead stage is assigned by the rules (runs in the worker, inside the
    event's transaction: if assignment fails the event is retried, never lost)."""
    is_new_lead = Customer.objects.filter(
        pk=event.object_id,
        owner__isnull=True,
        pool__isnull=True,
        deleted_at__isnull=True,
        lifecycle_stage__in=assignment.LEAD_STAGES,
    ).exists()
    if not is_new_lead:
        return
    try:
        assignment.assign_lead(event.object_id, actor=None)
    except NotFound:
        log.info("lead %s vanished before it could be assigned", event.object_id)
