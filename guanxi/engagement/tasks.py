"""Worker tasks of the follow-up engine (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from guanxi.core.events import subscribe
from guanxi.customers.events import CustomerEvent
from guanxi.customers.models import Customer
from guanxi.engagement import sweeps
from guanxi.engagement.actions import cadences
from guanxi.sales.events import SalesEvent
from guanxi.sales.models import StageOutcome


@db_periodic_task(crontab(minute="*/15"))
@lock_task("engagement-overdue-sweep")
def overdue_sweep_task() -> dict:
    return sweeps.overdue_sweep()


@subscribe(CustomerEvent.CREATED, CustomerEvent.ASSIGNED)
def start_cadence_for_new_customer(event) -> None:
    """A customer that gets an owner (created with one, or any owner change: assigned, claimed from
    the pool, transferred, handed over, edited) enters the cadence that matches its tier and stage
    (跟进规范) for the new owner."""
    customer = Customer.objects.filter(
        pk=event.object_id, owner__isnull=False, deleted_at__isnull=True
    ).first()
    if customer is not None:
        cadences.start_cadence(customer.pk, actor=None)


@subscribe(SalesEvent.DEAL_STAGE_CHANGED)
def stop_cadences_when_deal_won(event) -> None:
    """A deal that reaches a won stage ends the customer's running cadences (跟进规范 stop on a win)."""
    if event.payload.get("outcome") != StageOutcome.WON or not event.payload.get("customer_id"):
        return
    cadences.stop_cadences_on_won_deal(event.payload["customer_id"], actor=None)
