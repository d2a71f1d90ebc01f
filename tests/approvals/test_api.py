"""Approvals API: flows CRUD (settings.manage; 422 naming the bad part), mine, submit, approve, reject,
detail with history, 403 for outsiders with nothing changed, and the paths in the OpenAPI document."""

from __future__ import annotations

import pytest

from guanxi.approvals.models import ApprovalDecision, ApprovalFlow, ApprovalRequest, Decision
from tests.approvals.conftest import post_json

pytestmark = pytest.mark.django_db


def test_flow_crud_and_bad_flows_are_422_with_field_messages(team, api_for):
    admin = api_for(team.admin)
    good = {"name": "大额审批", "object_type": "deal", "conditions": [{"field": "amount", "op": "gte", "value": 50000}],
            "steps": [{"mode": "any", "approvers": [{"kind": "role", "role": "sales_director"}],
                       "timeout_hours": 8, "timeout_action": "reject"}]}  # fmt: skip
    created = post_json(admin, "/api/approvals/flows", good)
    assert created.status_code == 201, created.content
    flow_id = created.json()["id"]
    assert created.json()["steps"][0]["approvers"] == [{"kind": "role", "role": "sales_director"}]
    patched = admin.patch(
        f"/api/approvals/flows/{flow_id}", '{"enabled": false}', content_type="application/json"
    )
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert admin.get(f"/api/approvals/flows/{flow_id}").json()["name"] == "大额审批"
    assert {f["id"] for f in admin.get("/api/approvals/flows").json()} >= {flow_id, team.flow.pk}

    count = ApprovalFlow.objects.count()
    cases = {
        "unknown field": ({"conditions": [{"field": "ghost", "op": "eq", "value": 1}]}, "conditions", "ghost"),
        "op not fitting": ({"conditions": [{"field": "amount", "op": "contains", "value": "1"}]}, "conditions",
                           "contains"),
        "unknown role": ({"steps": [{"approvers": [{"kind": "role", "role": "nobody"}]}]}, "steps", "nobody"),
        "unknown user": ({"steps": [{"approvers": [{"kind": "user", "user_id": 987654}]}]}, "steps", "987654"),
        "unknown object": ({"object_type": "spaceship"}, "object_type", ""),
    }  # fmt: skip
    for label, (change, loc, word) in cases.items():
        response = post_json(admin, "/api/approvals/flows", {**good, **change})
        assert response.status_code == 422, label
        details = response.json()["detail"]
        assert any(d["loc"][1] == loc and word in d["msg"] for d in details), (label, details)
    assert ApprovalFlow.objects.count() == count

    rep = api_for(team.rep_e1)
    assert post_json(rep, "/api/approvals/flows", good).status_code == 403
    assert rep.get("/api/approvals/flows").status_code == 403
    assert admin.delete(f"/api/approvals/flows/{flow_id}").status_code == 204
    assert not ApprovalFlow.objects.filter(pk=flow_id).exists()


def test_submit_mine_approve_reject_and_detail(team, api_for):
    rep, manager, director, finance = (
        api_for(u) for u in (team.rep_e1, team.manager_e, team.director, team.finance)
    )
    submitted = post_json(rep, "/api/approvals/requests", {"object_type": "deal", "object_id": team.deal.pk,
                                                           "reason": "客户要求"})  # fmt: skip
    assert submitted.status_code == 201, submitted.content
    request_id = submitted.json()["id"]
    assert submitted.json()["snapshot"] == {"discount_percent": "20"}
    again = post_json(rep, "/api/approvals/requests", {"object_type": "deal", "object_id": team.deal.pk})
    assert again.status_code == 422

    # The deal is locked: the deal API answers 422 with the message.
    locked = rep.patch(f"/api/deals/{team.deal.pk}", '{"name": "x"}', content_type="application/json")
    assert locked.status_code == 422 and "approval" in locked.content.decode()

    assert [r["id"] for r in manager.get("/api/approvals/mine").json()] == [request_id]
    assert director.get("/api/approvals/mine").json() == []

    # An outsider: 403 and nothing changes.
    outsider = api_for(team.rep_e2)
    assert post_json(outsider, f"/api/approvals/requests/{request_id}/approve", {}).status_code == 403
    assert (
        post_json(outsider, f"/api/approvals/requests/{request_id}/reject", {"comment": "x"}).status_code
        == 403
    )
    assert outsider.get(f"/api/approvals/requests/{request_id}").status_code == 404
    assert set(ApprovalDecision.objects.values_list("decision", flat=True)) == {Decision.PENDING}

    assert (
        post_json(manager, f"/api/approvals/requests/{request_id}/approve", {"comment": "ok"}).status_code
        == 200
    )
    assert post_json(finance, f"/api/approvals/requests/{request_id}/approve", {}).status_code == 200
    no_comment = post_json(director, f"/api/approvals/requests/{request_id}/reject", {"comment": ""})
    assert no_comment.status_code == 422 and no_comment.json()["detail"][0]["loc"] == ["body", "comment"]
    rejected = post_json(director, f"/api/approvals/requests/{request_id}/reject", {"comment": "不行"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"

    detail = rep.get(f"/api/approvals/requests/{request_id}").json()
    assert detail["final_comment"] == "不行"
    decided = {(d["approver"]["name"], d["decision"]) for d in detail["decisions"]}
    assert {("manager_e", "approved"), ("finance1", "approved"), ("director", "rejected")} <= decided
    history = rep.get(f"/api/approvals/records/deal/{team.deal.pk}").json()
    assert [h["id"] for h in history] == [request_id]
    assert outsider.get(f"/api/approvals/records/deal/{team.deal.pk}").status_code == 404
    assert ApprovalRequest.objects.get().status == "rejected"


def test_moving_through_the_deal_api_answers_202_when_held(team, api_for):
    rep = api_for(team.rep_e1)
    response = post_json(rep, f"/api/deals/{team.deal.pk}/move", {"stage_id": team.stages["Proposal"].pk})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["held"] is True and body["deal"]["stage"]["id"] == team.stages["Qualification"].pk
    assert body["deal"]["discount_percent"] == "20.00"


def test_openapi_lists_the_approvals_paths(team, api_for):
    schema = api_for(team.admin).get("/api/openapi.json").json()
    for path in (
        "/api/approvals/flows",
        "/api/approvals/mine",
        "/api/approvals/requests",
        "/api/approvals/requests/{request_id}/approve",
        "/api/approvals/requests/{request_id}/reject",
    ):
        assert path in schema["paths"], path
