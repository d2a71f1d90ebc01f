"""Events of the sales app: names and payload fields (the catalogue, see core/events.py)."""

from django.db import models

from guanxi.core.events import declare


class SalesEvent(models.TextChoices):
    ORDER_CREATED = "order.created"
    DEAL_CREATED = "deal.created"
    DEAL_UPDATED = "deal.updated"
    DEAL_STAGE_CHANGED = "deal.stage_changed"


declare(SalesEvent.ORDER_CREATED, "customer_id", "amount", "channel")
declare(SalesEvent.DEAL_CREATED, "customer_id", "stage_id")
declare(SalesEvent.DEAL_UPDATED, "changed", "before", "after")  # before/after as audited
# outcome: the StageOutcome of the new stage (open / won / lost).
declare(SalesEvent.DEAL_STAGE_CHANGED, "customer_id", "from_stage_id", "to_stage_id", "outcome")
