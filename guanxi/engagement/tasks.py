"""Worker tasks of the follow-up engine (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from guanxi.core.events import EventName, subscribe
from guanxi.customers.ownership import CUSTOMER_ASSIGNED
from guanxi.engagement import sweeps


@db_periodic_task(crontab(minute="*/15"))
@lock_task("engagement-overdue-sweep")
def overdue_sweep_task() -> dict:
    return sweeps.overdue_sweep()


@subscribe(EventName.CUSTOMER_CREATED, CUSTOMER_ASSIGNED)
def start_cadence_for_new_customer(event) -> None:
    """A customer that gets an owner (created with one, or any owner change: assigned, claimed from
    the pool, transferred, handed over, edited) enters the cadence that matches its tier and stage
    (跟进规范) for the new owner."""
    from guanxi.customers.models import Customer
    from guanxi.engagement import actions

    customer = Customer.objects.filter(
        pk=event.object_id, owner__isnull=False, deleted_at__isnull=True
    ).first()
    if customer is not None:
        actions.start_cadence(customer.pk, actor=None)
