"""How approvals hold records still: the edit guard (a record with a pending request is locked for
edits) and the stage-move gate (a deal matching a stage-change flow is sent for approval instead of
moving), registered with `guanxi.core.locks` from `ApprovalsConfig.ready()`; and the applier that
makes the held move once the request is approved."""

from __future__ import annotations

from django.utils.translation import gettext as _

from guanxi.approvals import actions
from guanxi.approvals.models import ApprovalRequest, FlowTrigger, RequestStatus
from guanxi.core import locks
from guanxi.sales import actions as sales


def refuse_edits_while_pending(obj, actor) -> None:
    object_type = actions.object_type_of(obj)
    if object_type is None:
        return
    pending = ApprovalRequest.objects.filter(
        object_type=object_type, object_id=obj.pk, status=RequestStatus.PENDING
    ).exists()
    if pending:
        raise locks.RecordLocked(
            _("This record is waiting for approval and cannot be changed until the approval is decided.")
        )


def send_stage_move_for_approval(obj, actor, changes: dict) -> str | None:
    """A move matching an enabled stage-change flow is submitted for approval instead, unless the same
    values were approved already (moving again after the approval goes through)."""
    for flow in actions.applicable_flows(obj, trigger=FlowTrigger.STAGE_CHANGE):
        snapshot = actions.snapshot_of(flow, obj)
        approved = ApprovalRequest.objects.filter(
            object_type=flow.object_type, object_id=obj.pk, flow=flow, status=RequestStatus.APPROVED
        ).values_list("snapshot", flat=True)
        if any(s == snapshot for s in approved):
            continue
        actions.submit(obj, actor=actor, flow=flow, reason=_("Stage change"), pending_change=changes)
        return _("Sent for approval (%(flow)s): the deal moves when it is approved.") % {"flow": flow.name}
    return None


def move_approved_deal(deal, change: dict, submitter) -> None:
    sales.update_deal(deal.pk, change, actor=submitter)


def register() -> None:
    locks.register_edit_guard(refuse_edits_while_pending)
    locks.register_transition_gate(send_stage_move_for_approval)
    actions.register_applier("deal", move_approved_deal)
