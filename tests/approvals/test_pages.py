"""Approvals pages: the deal page's panel (decide, history), "waiting for me", the request page, the
locked deal's edit form (message, not a 500), outsiders refused, delegation, and the flow settings
(install the example, the threshold, a bad flow refused with messages and nothing saved)."""

from __future__ import annotations

import pytest
from django.test import Client

from guanxi.approvals import actions
from guanxi.approvals.models import ApprovalDecision, ApprovalFlow, ApprovalRequest, Decision, Delegation
from guanxi.core import settings_store
from guanxi.sales.models import Deal
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_moving_on_the_page_sends_for_approval_and_the_panel_decides(team):
    rep = _client(team.rep_e1)
    target = team.stages["Proposal"]
    moved = rep.post(f"/deals/{team.deal.pk}/move/", {"stage_id": target.pk}, follow=True)
    assert moved.status_code == 200
    assert b"Sent for approval" in moved.content and b'id="approval-pending"' in moved.content
    assert Deal.objects.get(pk=team.deal.pk).stage_id == team.stages["Qualification"].pk
    request = ApprovalRequest.objects.get()

    # Locked: the edit form answers with the message, nothing saved.
    edit = rep.post(f"/deals/{team.deal.pk}/edit/", {"name": "改了", "pipeline": team.pipeline.pk,
                                                       "stage": team.stages["Qualification"].pk})  # fmt: skip
    assert edit.status_code == 200 and b"waiting for approval" in edit.content
    assert Deal.objects.get(pk=team.deal.pk).name == "大单"

    # An outsider: 403 and nothing changes.
    outsider = _client(team.rep_e2)
    assert outsider.post(f"/approvals/{request.pk}/decide/", {"decision": "approved"}).status_code == 403
    assert set(ApprovalDecision.objects.values_list("decision", flat=True)) == {Decision.PENDING}

    manager = _client(team.manager_e)
    page = manager.get(f"/deals/{team.deal.pk}/")
    assert b"approval-decide-form" in page.content
    waiting = manager.get("/approvals/")
    assert f'data-request="{request.pk}"'.encode() in waiting.content
    manager.post(
        f"/approvals/{request.pk}/decide/", {"decision": "approved", "next": f"/deals/{team.deal.pk}/"}
    )
    assert manager.get("/approvals/").content.count(b"data-request=") == 0
    detail = rep.get(f"/approvals/{request.pk}/")
    assert detail.status_code == 200 and b"manager_e" in detail.content
    assert outsider.get(f"/approvals/{request.pk}/").status_code == 404


def test_submit_from_the_panel_and_withdraw(team):
    flow = actions.save_flow({"name": "Customer check", "object_type": "customer",
                              "steps": [{"approvers": [{"kind": "manager", "levels": 1}]}]}, actor=team.admin)  # fmt: skip
    customer = team.customers["c_e1"]
    rep = _client(team.rep_e1)
    page = rep.get(f"/customers/{customer.pk}/")
    assert b"Submit for approval" in page.content
    rep.post("/approvals/submit/", {"object_type": "customer", "object_id": customer.pk, "flow_id": flow.pk,
                                     "next": f"/customers/{customer.pk}/"})  # fmt: skip
    request = ApprovalRequest.objects.get(object_type="customer")
    assert b'id="approval-pending"' in rep.get(f"/customers/{customer.pk}/").content
    rep.post(f"/approvals/{request.pk}/cancel/", {"next": f"/customers/{customer.pk}/"})
    request.refresh_from_db()
    assert request.status == "cancelled"
    # Someone who may not see the record cannot submit it.
    assert _client(team.rep_e2).post("/approvals/submit/", {"object_type": "customer", "object_id": customer.pk,
                                                             "flow_id": flow.pk}).status_code == 404  # fmt: skip


def test_delegation_page(team):
    manager = _client(team.manager_e)
    bad = manager.post("/approvals/delegation/", {"delegate_id": team.rep_e2.pk, "starts_on": "2026-13-01",
                                                   "ends_on": ""})  # fmt: skip
    assert bad.status_code == 422 and not Delegation.objects.exists()
    ok = manager.post("/approvals/delegation/", {"delegate_id": team.rep_e2.pk, "starts_on": "2026-01-01",
                                                  "ends_on": "2026-01-31"})  # fmt: skip
    assert ok.status_code == 302 and Delegation.objects.get().delegate == team.rep_e2


def test_flow_settings_pages(team):
    admin = _client(team.admin)
    ApprovalFlow.objects.filter(key=actions.EXAMPLE_KEY).update(key=None)  # as if never installed
    page = admin.get("/approvals/settings/")
    assert page.status_code == 200 and b"install-example" in page.content
    admin.post("/approvals/settings/", {"install_example": "1"})
    assert ApprovalFlow.objects.filter(key=actions.EXAMPLE_KEY).exists()
    admin.post("/approvals/settings/", {"threshold": "12.5"})
    assert settings_store.get(actions.THRESHOLD_SETTING) == 12.5
    assert admin.post("/approvals/settings/", {"threshold": "lots"}).status_code == 422

    count = ApprovalFlow.objects.count()
    bad = admin.post("/approvals/settings/new/", {"name": "x", "object_type": "deal", "trigger": "manual",
                                                  "conditions": '[{"field": "ghost", "op": "eq", "value": 1}]',
                                                  "steps": "not json"})  # fmt: skip
    assert bad.status_code == 422 and b"JSON" in bad.content
    bad = admin.post("/approvals/settings/new/", {"name": "x", "object_type": "deal", "trigger": "manual",
                                                  "conditions": '[{"field": "ghost", "op": "eq", "value": 1}]',
                                                  "steps": '[{"approvers": [{"kind": "role", "role": "nobody"}]}]'})  # fmt: skip
    assert bad.status_code == 422 and b"ghost" in bad.content and b"nobody" in bad.content
    assert ApprovalFlow.objects.count() == count
    good = admin.post("/approvals/settings/new/", {"name": "Big deals", "object_type": "deal", "trigger": "manual",
                                                   "enabled": "1", "conditions": "[]",
                                                   "steps": '[{"approvers": [{"kind": "manager", "levels": 1}]}]'})  # fmt: skip
    assert good.status_code == 302
    flow = ApprovalFlow.objects.get(name="Big deals")
    assert admin.get(f"/approvals/settings/{flow.pk}/").status_code == 200
    assert _client(team.rep_e1).get("/approvals/settings/").status_code == 403


def test_odd_text_is_refused_not_a_500(team, api_for):
    from tests.approvals.conftest import post_json

    admin = api_for(team.admin)
    body = {"name": "bad\x00name", "object_type": "deal", "steps": [{"approvers": [{"kind": "manager"}]}]}
    assert post_json(admin, "/api/approvals/flows", body).status_code == 422
    body = {"name": "ok", "object_type": "deal", "conditions": [{"field": "name", "op": "eq", "value": "\x00"}],
            "steps": [{"approvers": [{"kind": "manager"}]}]}  # fmt: skip
    assert post_json(admin, "/api/approvals/flows", body).status_code == 422
    request = actions.submit(team.deal, actor=team.rep_e1)
    manager = api_for(team.manager_e)
    response = post_json(manager, f"/api/approvals/requests/{request.pk}/approve", {"comment": "a\x00b"})
    assert response.status_code == 422
    assert ApprovalDecision.objects.filter(decision=Decision.APPROVED).count() == 0
