"""Events of the customers app: names and payload fields (the catalogue, see core/events.py)."""

from django.db import models

from guanxi.core.events import declare


class CustomerEvent(models.TextChoices):
    CREATED = "customer.created"
    UPDATED = "customer.updated"
    DELETED = "customer.deleted"
    RESTORED = "customer.restored"
    MERGED = "customer.merged"
    UNMERGED = "customer.unmerged"
    # The one event of every owner change (assignment, claim, release, reclaim, handover, transfer,
    # edit). The lead-assignment fields (rule_id ... first_response_due_at) are set by rule assignment.
    ASSIGNED = "customer.assigned"


declare(CustomerEvent.CREATED, "owner_id", "source")
# before/after: the changed values as the audit entry stores them (sensitive ones protected), so
# automation can test "changed from -> to".
declare(CustomerEvent.UPDATED, "changed", "channel", "before", "after")
declare(CustomerEvent.DELETED)
declare(CustomerEvent.RESTORED)
declare(CustomerEvent.MERGED, "merged_id", "merge_id")
declare(CustomerEvent.UNMERGED, "merged_id", "merge_id")
declare(
    CustomerEvent.ASSIGNED,
    "from_owner_id",
    "to_owner_id",
    "reason",
    "pool_id",
    "owner_id",
    "rule_id",
    "strategy",
    "assignment_id",
    "first_response_due_at",
)
