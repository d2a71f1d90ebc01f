"""The approval engine through the actions: the shipped deal-discount flow (stage move held, manager,
then director and finance in parallel), any / all, approver kinds, delegation, rejection, timeouts
(escalate once, auto-reject), the lock while pending and outsiders refused with nothing changed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from guanxi.approvals import actions
from guanxi.approvals.models import ApprovalDecision, ApprovalRequest, Decision, RequestStatus
from guanxi.core import locks
from guanxi.core.actions import set_department_head
from guanxi.core.models import AuditEntry, Event
from guanxi.customers import actions as customer_actions
from guanxi.sales import actions as sales
from guanxi.sales.models import Deal
from tests.approvals.conftest import manual_flow
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _move(team, user=None):
    target = team.stages["Needs analysis"]
    with pytest.raises(locks.TransitionHeld) as held:
        sales.move_deal(team.deal.pk, target.pk, actor=user or team.rep_e1)
    return held.value, target


def _waiting(request) -> set[str]:
    request.refresh_from_db()
    return set(
        ApprovalDecision.objects.filter(
            request=request, step=request.current_step, decision=Decision.PENDING
        ).values_list("approver__username", flat=True)
    )


def test_a_discounted_deal_is_sent_for_approval_and_moves_after_both_steps(team):
    held, target = _move(team)
    assert "approval" in held.message.lower() or "审批" in held.message
    deal = Deal.objects.get(pk=team.deal.pk)
    assert deal.stage_id == team.stages["Qualification"].pk  # not moved
    request = ApprovalRequest.objects.get(object_type="deal", object_id=deal.pk)
    assert request.status == RequestStatus.PENDING and request.submitter == team.rep_e1
    assert request.snapshot == {"discount_percent": "20"}
    assert request.pending_change == {"stage_id": target.pk}
    assert _waiting(request) == {"manager_e"}

    # Locked while pending: edits and moves are refused with a message, nothing saved.
    with pytest.raises(locks.RecordLocked) as locked:
        sales.update_deal(deal.pk, {"name": "改名"}, actor=team.rep_e1)
    assert "approval" in " ".join(locked.value.messages)
    assert Deal.objects.get(pk=deal.pk).name == "大单"

    actions.approve(request.pk, actor=team.manager_e)
    assert _waiting(request) == {"director", "finance1"}  # step 2: both, in parallel
    actions.approve(request.pk, actor=team.director, comment="同意")
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING and _waiting(request) == {"finance1"}
    actions.approve(request.pk, actor=team.finance)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    deal.refresh_from_db()
    assert deal.stage_id == target.pk  # the held move was made
    names = list(
        Event.objects.filter(object_id=request.pk, name__startswith="approval.").values_list(
            "name", flat=True
        )
    )
    assert names.count("approval.step_started") == 2 and "approval.submitted" in names
    assert "approval.approved" in names and names.count("approval.decided") == 3
    assert AuditEntry.objects.filter(object_id=request.pk, content_type__model="approvalrequest").count() == 4

    # Approved values: moving again needs no new approval; a bigger discount needs one.
    sales.move_deal(deal.pk, team.stages["Proposal"].pk, actor=team.rep_e1)
    sales.update_deal(deal.pk, {"discount_percent": "30"}, actor=team.rep_e1)
    with pytest.raises(locks.TransitionHeld):
        sales.move_deal(deal.pk, team.stages["Negotiation"].pk, actor=team.rep_e1)


def test_a_small_discount_moves_at_once(team):
    sales.update_deal(team.deal.pk, {"discount_percent": "15"}, actor=team.rep_e1)
    sales.move_deal(team.deal.pk, team.stages["Proposal"].pk, actor=team.rep_e1)
    assert Deal.objects.get(pk=team.deal.pk).stage_id == team.stages["Proposal"].pk
    assert not ApprovalRequest.objects.exists()


def test_the_threshold_setting_changes_the_example_flow(team):
    actions.set_discount_threshold("25", actor=team.admin)
    sales.move_deal(team.deal.pk, team.stages["Proposal"].pk, actor=team.rep_e1)  # 20 % is now fine
    assert Deal.objects.get(pk=team.deal.pk).stage_id == team.stages["Proposal"].pk
    with pytest.raises(ValidationError) as bad:
        actions.set_discount_threshold("abc", actor=team.admin)
    assert "threshold" in bad.value.message_dict


def test_a_reject_ends_the_request_and_the_deal_stays(team):
    _move(team)
    request = ApprovalRequest.objects.get()
    actions.approve(request.pk, actor=team.manager_e)
    with pytest.raises(ValidationError) as no_comment:
        actions.reject(request.pk, actor=team.director, comment="")
    assert "comment" in no_comment.value.message_dict
    actions.approve(request.pk, actor=team.finance)
    actions.reject(request.pk, actor=team.director, comment="折扣太大")
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED and request.final_comment == "折扣太大"
    assert Deal.objects.get(pk=team.deal.pk).stage_id == team.stages["Qualification"].pk
    with pytest.raises(ValidationError):
        actions.approve(request.pk, actor=team.director)
    with pytest.raises(PermissionDenied):  # outside the chain: 403 after the decision too
        actions.approve(request.pk, actor=team.rep_e2)
    # Unlocked again: the rep may edit (and a new move is a new request).
    sales.update_deal(team.deal.pk, {"discount_percent": "10"}, actor=team.rep_e1)


def test_outsiders_get_permission_denied_and_nothing_changes(team):
    _move(team)
    request = ApprovalRequest.objects.get()
    audit_before, events_before = AuditEntry.objects.count(), Event.objects.count()
    for outsider in (team.rep_e2, team.director, team.admin, team.rep_e1):  # director: not in step 1 yet
        with pytest.raises(PermissionDenied):
            actions.approve(request.pk, actor=outsider)
        with pytest.raises(PermissionDenied):
            actions.reject(request.pk, actor=outsider, comment="no")
    assert AuditEntry.objects.count() == audit_before and Event.objects.count() == events_before
    assert set(ApprovalDecision.objects.values_list("decision", flat=True)) == {Decision.PENDING}


def test_any_mode_needs_the_first_approver_only(team):
    other = make_user("approver2", department=team.hq)
    flow = manual_flow(team, [{"mode": "any", "approvers": [{"kind": "user", "user_id": team.admin.pk},
                                                            {"kind": "user", "user_id": other.pk}]}])  # fmt: skip
    request = actions.submit(team.deal, actor=team.rep_e1, flow=flow, reason="test")
    actions.approve(request.pk, actor=other)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert ApprovalDecision.objects.get(request=request, approver=team.admin).decision == Decision.SKIPPED


def test_all_mode_with_a_role_slot_is_satisfied_by_any_member(team, roles):
    second_director = make_user("director2", role=roles["sales_director"], department=team.sales)
    flow = manual_flow(team, [{"mode": "all", "approvers": [{"kind": "role", "role": "sales_director"},
                                                            {"kind": "manager", "levels": 1}]}])  # fmt: skip
    request = actions.submit(team.deal, actor=team.rep_e1, flow=flow)
    assert _waiting(request) == {"director", "director2", "manager_e"}
    actions.approve(request.pk, actor=second_director)
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING and _waiting(request) == {"manager_e"}
    actions.approve(request.pk, actor=team.manager_e)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED


def test_manager_n_levels_up_and_department_head(team):
    two_up = manual_flow(team, [{"approvers": [{"kind": "manager", "levels": 2}]}], name="Two up")
    request = actions.submit(team.deal, actor=team.rep_e1, flow=two_up)
    assert _waiting(request) == {"director"}
    actions.cancel(request.pk, actor=team.rep_e1)

    head = make_user("east_head", department=team.east)
    set_department_head(team.east, head, actor=None)
    by_head = manual_flow(team, [{"approvers": [{"kind": "department_head"}]}], name="Head")
    request = actions.submit(team.deal, actor=team.rep_e1, flow=by_head)
    assert _waiting(request) == {"east_head"}
    actions.cancel(request.pk, actor=team.rep_e1)

    # Nobody to ask (three levels up from rep_e1 is nobody): refused, nothing saved.
    too_far = manual_flow(team, [{"approvers": [{"kind": "manager", "levels": 3}]}], name="Too far")
    with pytest.raises(ValidationError) as nobody:
        actions.submit(team.deal, actor=team.rep_e1, flow=too_far)
    assert "flow" in nobody.value.message_dict
    assert ApprovalRequest.objects.filter(status=RequestStatus.PENDING).count() == 0


def test_submit_without_a_flow_picks_the_first_matching_one(team):
    request = actions.submit(team.deal, actor=team.rep_e1)
    assert request.flow == team.flow
    actions.cancel(request.pk, actor=team.rep_e1)
    sales.update_deal(team.deal.pk, {"discount_percent": "5"}, actor=team.rep_e1)
    with pytest.raises(ValidationError) as none:
        actions.submit(Deal.objects.get(pk=team.deal.pk), actor=team.rep_e1)
    assert "flow" in none.value.message_dict


def test_a_delegate_decides_while_the_approver_is_away(team):
    today = timezone.localdate()
    actions.set_delegation(
        {"delegate_id": team.rep_e2.pk, "starts_on": today, "ends_on": today + dt.timedelta(days=3)},
        actor=team.manager_e,
    )
    _move(team)
    request = ApprovalRequest.objects.get()
    assert request in actions.waiting_for(team.rep_e2)
    actions.approve(request.pk, actor=team.rep_e2, comment="代批")
    row = ApprovalDecision.objects.get(request=request, approver=team.manager_e)
    assert row.decision == Decision.APPROVED and row.decided_by == team.rep_e2
    assert row.delegated_from == team.manager_e
    # A delegation outside its dates gives no right.
    with pytest.raises(ValidationError):
        actions.set_delegation({"delegate_id": team.rep_e2.pk, "starts_on": "2026-01-05", "ends_on": "2026-01-01"},
                               actor=team.director)  # fmt: skip
    actions.set_delegation(
        {"delegate_id": team.rep_e2.pk, "starts_on": today - dt.timedelta(days=9),
         "ends_on": today - dt.timedelta(days=2)}, actor=team.director,
    )  # fmt: skip
    with pytest.raises(PermissionDenied):
        actions.approve(request.pk, actor=team.rep_e2)


def test_timeout_escalates_to_the_next_manager_exactly_once(team):
    _move(team)
    request = ApprovalRequest.objects.get()
    assert request.step_due_at is not None
    early = actions.process_timeouts(request.step_due_at - dt.timedelta(minutes=1))
    assert early == {"escalated": 0, "rejected": 0}
    later = request.step_due_at + dt.timedelta(hours=1)
    assert actions.process_timeouts(later) == {"escalated": 1, "rejected": 0}
    assert actions.process_timeouts(later) == {"escalated": 0, "rejected": 0}
    assert actions.process_timeouts(later + dt.timedelta(days=5)) == {"escalated": 0, "rejected": 0}
    assert _waiting(request) == {"manager_e", "director"}
    escalated = ApprovalDecision.objects.get(request=request, approver=team.director)
    assert escalated.escalated
    assert Event.objects.filter(name="approval.escalated", object_id=request.pk).count() == 1
    actions.approve(request.pk, actor=team.director)  # the escalated manager decides the slot
    assert _waiting(request) == {"director", "finance1"}


def test_timeout_can_reject_automatically(team):
    flow = manual_flow(
        team,
        [{"approvers": [{"kind": "manager", "levels": 1}], "timeout_hours": 2, "timeout_action": "reject"}],
    )
    request = actions.submit(team.deal, actor=team.rep_e1, flow=flow)
    result = actions.process_timeouts(timezone.now() + dt.timedelta(hours=3))
    assert result == {"escalated": 0, "rejected": 1}
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED and request.final_comment
    assert Event.objects.get(name="approval.rejected", object_id=request.pk).payload["auto"] is True


def test_a_customer_is_locked_while_pending(team):
    flow = manual_flow(team, [{"approvers": [{"kind": "manager", "levels": 1}]}], object_type="customer")
    customer = team.customers["c_e1"]
    request = actions.submit(customer, actor=team.rep_e1, flow=flow)
    with pytest.raises(locks.RecordLocked) as locked:
        customer_actions.update_customer(customer.pk, {"name": "新名字"}, actor=team.rep_e1)
    assert locked.value.messages
    actions.approve(request.pk, actor=team.manager_e)
    customer_actions.update_customer(customer.pk, {"name": "新名字"}, actor=team.rep_e1)


def test_bad_flows_name_the_part_and_save_nothing(team):
    bad = {
        "name": "",
        "object_type": "deal",
        "conditions": [{"field": "nope", "op": "eq", "value": 1}, {"field": "name", "op": "gt", "value": 3}],
        "steps": [{"mode": "some", "approvers": [{"kind": "role", "role": "ghost"}, {"kind": "user", "user_id": 99999},
                                                  {"kind": "manager", "levels": 9}],
                   "timeout_action": "escalate"}],
    }  # fmt: skip
    count = actions.ApprovalFlow.objects.count()
    with pytest.raises(ValidationError) as exc:
        actions.save_flow(bad, actor=team.admin)
    errors = exc.value.message_dict
    assert {"name", "conditions", "steps.1.mode", "steps.1.approvers", "steps.1.timeout_hours"} <= set(errors)
    text = " ".join(errors["conditions"] + errors["steps.1.approvers"])
    assert "nope" in text and "ghost" in text and "99999" in text
    assert actions.ApprovalFlow.objects.count() == count
    with pytest.raises(PermissionDenied):
        actions.save_flow({**bad, "name": "x"}, actor=team.rep_e1)
