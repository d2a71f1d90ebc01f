"""Deal and pipeline API: create, read, patch, move (422 naming the missing field), 404 outside the data
scope, list filters (incl. registry `filters` JSON) and pipelines (settings.manage to write)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import translation

from guanxi.core.models import AuditEntry, Event
from guanxi.sales import actions
from guanxi.sales.models import Deal, Pipeline
from tests.sales.conftest import require_fields

pytestmark = pytest.mark.django_db


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def _patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


def test_create_get_patch_and_move(org, pipeline, stages, budget_field, api_for):
    client = api_for(org.rep_e1)
    customer = org.customers["c_e1"]
    response = _post(client, "/api/deals", {"customer_id": customer.pk, "name": "API 商机", "amount": 1200.5,
                                            "custom_fields": {"budget": 3000}})  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    deal_id = body["id"]
    assert body["stage"] == {"id": stages["Qualification"].pk, "name": "Qualification", "outcome": "open",
                             "probability": 10}  # fmt: skip
    assert body["customer"] == {"id": customer.pk, "name": customer.name}
    assert body["owner"]["id"] == org.rep_e1.pk and body["custom_fields"] == {"budget": 3000}
    assert float(body["amount"]) == 1200.5

    assert client.get(f"/api/deals/{deal_id}").json()["name"] == "API 商机"
    response = _patch(client, f"/api/deals/{deal_id}", {"expected_close_date": "2026-06-30"})
    assert response.status_code == 200 and response.json()["expected_close_date"] == "2026-06-30"

    require_fields(stages["Proposal"], ["cf.budget", "expected_close_date"])
    response = _post(client, f"/api/deals/{deal_id}/move", {"stage_id": stages["Proposal"].pk})
    assert response.status_code == 200 and response.json()["stage"]["id"] == stages["Proposal"].pk

    response = _post(client, f"/api/deals/{deal_id}/move", {"stage_id": stages["Won"].pk})
    assert response.status_code == 200 and response.json()["closed_at"] is not None
    history = client.get(f"/api/deals/{deal_id}/history").json()
    assert [h["action"] for h in history] == ["update", "update", "update", "create"]
    assert Event.objects.filter(object_id=deal_id, name="deal.stage_changed").count() == 2


def test_move_422_names_the_missing_field_and_changes_nothing(org, pipeline, stages, budget_field, api_for):
    client = api_for(org.rep_e1)
    deal = actions.create_deal(org.customers["c_e1"].pk, {"name": "缺字段"}, actor=org.rep_e1)
    require_fields(stages["Negotiation"], ["amount", "cf.budget"])
    audit_before = AuditEntry.objects.count()
    response = _post(client, f"/api/deals/{deal.pk}/move", {"stage_id": stages["Negotiation"].pk})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "stage_id"] and "Amount" in error["msg"] and "Budget" in error["msg"]

    response = _post(client, f"/api/deals/{deal.pk}/move", {"stage_id": stages["Lost"].pk})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "lost_reason"]

    response = _patch(client, f"/api/deals/{deal.pk}", {"custom_fields": {"budget": "lots"}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "custom_fields", "budget"]
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"] and AuditEntry.objects.count() == audit_before

    response = _post(
        client, f"/api/deals/{deal.pk}/move", {"stage_id": stages["Lost"].pk, "lost_reason": "price"}
    )
    assert response.status_code == 200 and response.json()["lost_reason"] == "price"


def test_not_found_outside_the_scope_and_forbidden_without_permission(org, pipeline, stages, api_for):
    deal = actions.create_deal(org.customers["c_e1"].pk, {"name": "甲的"}, actor=org.rep_e1)
    other = api_for(org.rep_e2)
    assert other.get(f"/api/deals/{deal.pk}").status_code == 404
    assert _patch(other, f"/api/deals/{deal.pk}", {"name": "改"}).status_code == 404
    assert _post(other, f"/api/deals/{deal.pk}/move", {"stage_id": stages["Won"].pk}).status_code == 404
    assert other.get("/api/deals/99999999").status_code == 404
    response = _post(other, "/api/deals", {"customer_id": org.customers["c_e1"].pk, "name": "抢"})
    assert response.status_code == 404
    assert other.get("/api/deals").json()["count"] == 0
    response = _post(
        api_for(org.marketing), "/api/deals", {"customer_id": org.customers["c_e1"].pk, "name": "x"}
    )
    assert response.status_code == 403
    deal.refresh_from_db()
    assert deal.name == "甲的" and Deal.objects.count() == 1


def test_list_filters_and_pagination(org, pipeline, stages, budget_field, api_for):
    rep = org.rep_e1
    for n in range(3):
        actions.create_deal(org.customers["c_e1"].pk, {"name": f"甲{n}", "amount": 100 * (n + 1),
                                                       "custom_fields": {"budget": n}}, actor=rep)  # fmt: skip
    actions.create_deal(org.customers["c_e2"].pk, {"name": "乙", "stage_id": stages["Proposal"].pk},
                        actor=org.rep_e2)  # fmt: skip
    client = api_for(org.manager_e)
    assert client.get("/api/deals").json()["count"] == 4
    page = client.get("/api/deals?page_size=2&page=2&sort=amount").json()
    assert page["count"] == 4 and [d["name"] for d in page["items"]] == ["甲2", "乙"]  # no amount: last
    assert client.get(f"/api/deals?stage_id={stages['Proposal'].pk}").json()["count"] == 1
    assert client.get(f"/api/deals?owner_id={org.rep_e2.pk}").json()["count"] == 1
    assert client.get(f"/api/deals?customer_id={org.customers['c_e1'].pk}").json()["count"] == 3
    assert client.get(f"/api/deals?pipeline_id={pipeline.pk}&q=甲").json()["count"] == 3
    filters = json.dumps([{"field": "cf.budget", "op": "gte", "value": 1}])
    assert {d["name"] for d in client.get("/api/deals", {"filters": filters}).json()["items"]} == {
        "甲1",
        "甲2",
    }
    with translation.override("en"):
        bad = client.get("/api/deals", {"filters": json.dumps([{"field": "nope", "op": "eq", "value": 1}])})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "filters"]
    assert client.get("/api/deals", {"filters": "not json"}).status_code == 422
    assert client.get("/api/deals?sort=nope").status_code == 422


def test_pipelines(org, pipeline, stages, api_for):
    rep = api_for(org.rep_e1)
    listed = rep.get("/api/pipelines").json()
    assert [p["id"] for p in listed] == [pipeline.pk] and len(listed[0]["stages"]) == 6
    body = {"name_zh": "渠道", "stages": [{"name_zh": "开始"}, {"name_zh": "成交", "outcome": "won"}]}
    assert _post(rep, "/api/pipelines", body).status_code == 403
    assert _patch(rep, f"/api/pipelines/{pipeline.pk}", {"name_en": "x"}).status_code == 403

    admin = api_for(org.admin)
    response = _post(admin, "/api/pipelines", body)
    assert response.status_code == 201 and [s["name_zh"] for s in response.json()["stages"]] == [
        "开始",
        "成交",
    ]
    stages_in = [
        {"id": s["id"], "name_zh": s["name_zh"], "outcome": s["outcome"]} for s in listed[0]["stages"]
    ]
    stages_in[1]["required_fields"] = ["amount"]
    response = _patch(admin, f"/api/pipelines/{pipeline.pk}", {"name_en": "Main", "stages": stages_in[::-1]})
    assert response.status_code == 200
    assert response.json()["name_en"] == "Main" and response.json()["stages"][0]["name_zh"] == "输单"
    assert response.json()["stages"][4]["required_fields"] == ["amount"]
    response = _patch(
        admin, f"/api/pipelines/{pipeline.pk}", {"stages": [{"name_zh": "x", "required_fields": ["nope"]}]}
    )
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "stages"]
    assert _patch(admin, "/api/pipelines/99999999", {"name_en": "x"}).status_code == 404
    assert Pipeline.objects.count() == 2


def test_openapi_describes_the_deal_custom_fields(org, budget_field):
    schema = Client().get("/api/openapi.json").json()
    component = schema["components"]["schemas"]["DealCustomFields"]
    assert component["properties"]["budget"]["type"] == ["number", "null"]
    refs = json.dumps(schema["components"]["schemas"]["DealIn"]["properties"]["custom_fields"])
    assert "DealCustomFields" in refs
