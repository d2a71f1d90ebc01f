"""Events of the approvals app: names and payload fields (the catalogue, see core/events.py).

The event's object is the `ApprovalRequest`; `object_type` / `object_id` name the record it is about."""

from django.db import models

from guanxi.core.events import declare


class ApprovalEvent(models.TextChoices):
    SUBMITTED = "approval.submitted"
    STEP_STARTED = "approval.step_started"
    DECIDED = "approval.decided"
    ESCALATED = "approval.escalated"
    APPROVED = "approval.approved"
    REJECTED = "approval.rejected"
    CANCELLED = "approval.cancelled"
    FLOW_SAVED = "approval.flow_saved"


_RECORD = ("object_type", "object_id", "flow_id", "submitter_id")
declare(ApprovalEvent.SUBMITTED, *_RECORD)
# approver_ids: who is asked now (escalated: the managers added to the waiting slots).
declare(ApprovalEvent.STEP_STARTED, *_RECORD, "step_id", "approver_ids")
declare(ApprovalEvent.DECIDED, *_RECORD, "step_id", "approver_id", "decided_by_id", "decision")
declare(ApprovalEvent.ESCALATED, *_RECORD, "step_id", "approver_ids")
declare(ApprovalEvent.APPROVED, *_RECORD)
# comment: the rejecting approver's comment; auto: rejected by the timeout.
declare(ApprovalEvent.REJECTED, *_RECORD, "decided_by_id", "comment", "auto")
declare(ApprovalEvent.CANCELLED, *_RECORD)
declare(ApprovalEvent.FLOW_SAVED, "name", "enabled")
