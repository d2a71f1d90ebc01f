"""Approvals endpoints: flows (settings.manage), my pending approvals, submit, approve, reject, cancel,
a request with its history. Thin callers of `guanxi.approvals.actions`. Mounted at `/api/approvals`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied
from ninja import Field, Router, Schema, Status

from guanxi.approvals import actions
from guanxi.approvals.models import ApprovalFlow, ApprovalRequest
from guanxi.core.exceptions import NotFound, require
from guanxi.core.permissions import Perm

router = Router(tags=["approvals"])


class StepIn(Schema):
    name: str = ""
    mode: str = Field("all", description="all: every approver (slot) must approve; any: the first decides.")
    approvers: list[dict[str, Any]] = Field(
        ...,
        description='Approver specs: {"kind": "user", "user_id": 3}, {"kind": "role", "role": "finance"}, '
        '{"kind": "manager", "levels": 1} (the submitter\'s manager N levels up), {"kind": "department_head"}.',
    )
    timeout_hours: int | None = None
    timeout_action: str = Field("", description='"" (nothing), "escalate" (once) or "reject".')


class FlowIn(Schema):
    name: str
    description: str = ""
    object_type: str = Field(..., description="A registered object type: customer, deal, order, follow_up.")
    trigger: str = Field(
        "manual", description="manual, or stage_change (deals: submitted instead of moving)."
    )
    conditions: list[dict[str, Any]] = Field(
        default_factory=list,
        description='Which records need this flow, in the list filters\' language: [{"field": '
        '"discount_percent", "op": "gt", "value": 15}].',
    )
    enabled: bool = True
    position: int = 0
    steps: list[StepIn]


class FlowPatch(Schema):
    name: str | None = None
    description: str | None = None
    trigger: str | None = None
    conditions: list[dict[str, Any]] | None = None
    enabled: bool | None = None
    position: int | None = None
    steps: list[StepIn] | None = None


class StepOut(Schema):
    id: int
    name: str
    mode: str
    approvers: list[dict[str, Any]]
    timeout_hours: int | None
    timeout_action: str


class FlowOut(Schema):
    id: int
    name: str
    description: str
    object_type: str
    trigger: str
    conditions: list[dict[str, Any]]
    enabled: bool
    position: int
    steps: list[StepOut]


class SubmitIn(Schema):
    object_type: str
    object_id: int
    flow_id: int | None = Field(None, description="Default: the first enabled flow whose condition matches.")
    reason: str = ""


class CommentIn(Schema):
    comment: str = ""


class RejectIn(Schema):
    comment: str = Field(..., description="Why (required).")


class UserRef(Schema):
    id: int
    name: str


class DecisionOut(Schema):
    step_id: int
    step: str
    slot: int
    approver: UserRef
    escalated: bool
    decision: str
    comment: str
    decided_at: dt.datetime | None
    delegated_from: UserRef | None = Field(None, description="Set when a delegate decided for the approver.")
    decided_by: UserRef | None
    via: str


class RequestOut(Schema):
    id: int
    object_type: str
    object_id: int
    record: str
    flow: UserRef
    submitter: UserRef | None
    status: str
    reason: str
    snapshot: dict[str, Any]
    pending_change: dict[str, Any]
    current_step: UserRef | None
    step_due_at: dt.datetime | None
    final_comment: str
    created_at: dt.datetime
    decided_at: dt.datetime | None
    can_decide: bool
    decisions: list[DecisionOut]


def _user(user) -> dict | None:
    return {"id": user.pk, "name": str(user)} if user is not None else None


def flow_out(flow: ApprovalFlow) -> dict:
    return {
        "id": flow.pk,
        "name": flow.name,
        "description": flow.description,
        "object_type": flow.object_type,
        "trigger": flow.trigger,
        "conditions": flow.conditions,
        "enabled": flow.enabled,
        "position": flow.position,
        "steps": [
            {"id": s.pk, "name": s.name, "mode": s.mode, "approvers": s.approvers,
             "timeout_hours": s.timeout_hours, "timeout_action": s.timeout_action}
            for s in actions.flow_steps(flow)
        ],
    }  # fmt: skip


def request_out(request: ApprovalRequest, user) -> dict:
    return {
        "id": request.pk,
        "object_type": request.object_type,
        "object_id": request.object_id,
        "record": request.object_repr,
        "flow": {"id": request.flow_id, "name": request.flow.name},
        "submitter": _user(request.submitter),
        "status": request.status,
        "reason": request.reason,
        "snapshot": request.snapshot,
        "pending_change": request.pending_change,
        "current_step": {"id": request.current_step_id, "name": str(request.current_step)}
        if request.current_step_id
        else None,
        "step_due_at": request.step_due_at,
        "final_comment": request.final_comment,
        "created_at": request.created_at,
        "decided_at": request.decided_at,
        "can_decide": actions.can_decide(request, user),
        "decisions": [
            {"step_id": d.step_id, "step": str(d.step), "slot": d.slot, "approver": _user(d.approver),
             "escalated": d.escalated, "decision": d.decision, "comment": d.comment, "decided_at": d.decided_at,
             "delegated_from": _user(d.delegated_from), "decided_by": _user(d.decided_by), "via": d.via}
            for d in actions.approver_rows(request)
        ],
    }  # fmt: skip


def _flow_data(payload: Schema) -> dict:
    return payload.model_dump(mode="json", exclude_unset=True)


def _viewable(request, request_id: int) -> ApprovalRequest:
    approval = actions.get_request(request_id)
    if not actions.may_view(approval, request.user):
        raise NotFound(request_id)
    return approval


@router.get("/flows", response=list[FlowOut], summary="Approval flows (settings.manage)")
def list_flows(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    return [flow_out(f) for f in ApprovalFlow.objects.all()]


@router.post("/flows", response={201: FlowOut}, summary="Create a flow (422 names each bad part)")
def create_flow(request, payload: FlowIn):
    return Status(201, flow_out(actions.save_flow(_flow_data(payload), actor=request.user)))


@router.get("/flows/{int:flow_id}", response=FlowOut, summary="One flow")
def get_flow(request, flow_id: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    flow = ApprovalFlow.objects.filter(pk=flow_id).first()
    if flow is None:
        raise NotFound(flow_id)
    return flow_out(flow)


@router.patch("/flows/{int:flow_id}", response=FlowOut, summary="Change a flow (steps: the full new list)")
def update_flow(request, flow_id: int, payload: FlowPatch):
    return flow_out(actions.save_flow(_flow_data(payload), actor=request.user, flow_id=flow_id))


@router.delete(
    "/flows/{int:flow_id}", response={204: None}, summary="Delete a flow (disabled if it has requests)"
)
def delete_flow(request, flow_id: int):
    actions.delete_flow(flow_id, actor=request.user)
    return Status(204, None)


@router.get("/mine", response=list[RequestOut], summary="Approvals waiting for me (or for whom I stand in)")
def waiting_for_me(request):
    return [request_out(r, request.user) for r in actions.waiting_for(request.user)[:200]]


@router.post("/requests", response={201: RequestOut}, summary="Submit a record for approval")
def submit(request, payload: SubmitIn):
    obj = actions.load_object(payload.object_type, payload.object_id)
    if obj is None:
        raise NotFound(payload.object_id)
    flow = None
    if payload.flow_id is not None:
        flow = ApprovalFlow.objects.filter(pk=payload.flow_id).first()
        if flow is None:
            raise NotFound(payload.flow_id)
    if not request.user.has_perm_code(Perm.CUSTOMER_VIEW):
        raise PermissionDenied(Perm.CUSTOMER_VIEW)
    approval = actions.submit(obj, actor=request.user, flow=flow, reason=payload.reason)
    return Status(201, request_out(approval, request.user))


@router.get("/requests/{int:request_id}", response=RequestOut, summary="A request with its decisions")
def get_request(request, request_id: int):
    return request_out(_viewable(request, request_id), request.user)


@router.get(
    "/records/{object_type}/{int:object_id}",
    response=list[RequestOut],
    summary="The approval history of a record (one you may see)",
)
def record_history(request, object_type: str, object_id: int):
    if actions.load_object(object_type, object_id) is None or not actions.visible(
        object_type, object_id, request.user
    ):
        raise NotFound(object_id)
    return [request_out(r, request.user) for r in actions.requests_for(object_type, object_id)]


@router.post("/requests/{int:request_id}/approve", response=RequestOut, summary="Approve (403 if not asked)")
def approve(request, request_id: int, payload: CommentIn):
    approval = actions.approve(request_id, actor=request.user, comment=payload.comment, via="api")
    return request_out(approval, request.user)


@router.post("/requests/{int:request_id}/reject", response=RequestOut, summary="Reject with a comment")
def reject(request, request_id: int, payload: RejectIn):
    approval = actions.reject(request_id, actor=request.user, comment=payload.comment, via="api")
    return request_out(approval, request.user)


@router.post("/requests/{int:request_id}/cancel", response=RequestOut, summary="Withdraw (the submitter)")
def cancel(request, request_id: int):
    return request_out(actions.cancel(request_id, actor=request.user), request.user)
