"""The automation API: CRUD with versions, 422 naming the part at fault with nothing saved, 403 for
users without settings.manage, preview, dry run, manual runs, the run log; and a fuzz run of every
automation endpoint as an administrator (no input gives a server error)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from guanxi.automation.actions import rules
from guanxi.automation.models import Rule, RuleRun, RuleVersion
from guanxi.core.actions import create_api_token
from tests.conftest import drain
from tests.factories import make_customer
from tests.test_api_fuzz import fuzz_as

RULE = {
    "name": "新客户打标签", "object_type": "customer", "enabled": True, "trigger": {"type": "created"},
    "conditions": {"all": [{"field": "city", "op": "eq", "value": "上海"}]},
    "actions": [{"type": "add_tag", "tag": "上海客户"},
                {"type": "notify", "to": ["owner"], "title": "新客户 {{ customer.name }}"}],
}  # fmt: skip


def _api(user) -> Client:
    _token, secret = create_api_token(user, "test", actor=None)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")


def _post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_rules_crud_versions_preview_dry_run_and_manual_run(org):
    api = _api(org.admin)
    created = _post(api, "/api/automation/rules", RULE)
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    patched = api.patch(f"/api/automation/rules/{rule_id}", json.dumps({"description": "上海的新客户"}),
                        content_type="application/json")  # fmt: skip
    assert patched.json()["version"] == 2
    assert [v["version"] for v in api.get(f"/api/automation/rules/{rule_id}/versions").json()] == [2, 1]
    shanghai = make_customer(org.rep_e1, name="沪上客户", city="上海")
    preview = api.get(f"/api/automation/rules/{rule_id}/preview").json()
    assert shanghai.pk in [row["id"] for row in preview["sample"]] and preview["count"] >= 1
    dry = _post(api, f"/api/automation/rules/{rule_id}/dry-run", {"object_id": shanghai.pk}).json()
    assert dry["matches"] is True and dry["seen"] == {"city": "上海"}
    assert [s["type"] for s in dry["steps"]] == ["add_tag", "notify"] and "沪上客户" in dry["steps"][1][
        "would"
    ]
    assert not shanghai.tags.exists()  # a dry run does nothing
    ran = _post(api, f"/api/automation/rules/{rule_id}/run", {"object_ids": [shanghai.pk, 10**15]}).json()
    assert ran == {"selected": 2, "matched": 1, "fired": 1}
    assert list(shanghai.tags.values_list("name", flat=True)) == ["上海客户"]
    runs = api.get(f"/api/automation/rules/{rule_id}/runs").json()
    assert len(runs) == 1 and runs[0]["occurrence"].startswith("manual:") and runs[0]["version"] == 2
    assert api.get("/api/automation/rules").json()[0]["stats"]["fired"] == 1
    assert _post(api, f"/api/automation/rules/{rule_id}/disable", {}).json()["enabled"] is False
    assert api.delete(f"/api/automation/rules/{rule_id}").status_code == 204
    assert api.get(f"/api/automation/rules/{rule_id}").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, loc, message",
    [
        ({"conditions": {"all": [{"field": "nope", "op": "eq", "value": 1}]}}, "conditions", "unknown field nope"),
        ({"conditions": {"all": [{"field": "tier", "op": "gt", "value": 1}]}}, "conditions", "cannot be filtered with gt"),
        ({"actions": [{"type": "notify", "title": "{{ customer.nmae }}"}]}, "actions", "unknown variable"),
        ({"trigger": {"type": "relative_time", "field": "city", "days": 3}}, "trigger", "choose a date field"),
        ({"actions": [{"type": "webhook", "url": "ftp://example.com/hook"}]}, "actions", "must start with http"),
        ({"object_type": "spaceship"}, "object_type", "Choose what the rule is about"),
    ],
)  # fmt: skip
def test_bad_rules_get_422_naming_the_part_and_nothing_is_saved(org, change, loc, message):
    response = _post(_api(org.admin), "/api/automation/rules", {**RULE, **change})
    assert response.status_code == 422, response.content
    details = response.json()["detail"]
    assert any(d["loc"] == ["body", loc] and message in d["msg"] for d in details), details
    assert not Rule.objects.exists() and not RuleVersion.objects.exists()


@pytest.mark.django_db
def test_a_rep_gets_403_and_nothing_changes(org):
    rule_id = _post(_api(org.admin), "/api/automation/rules", RULE).json()["id"]
    rep = _api(org.rep_e1)
    assert _post(rep, "/api/automation/rules", RULE).status_code == 403
    assert rep.get("/api/automation/rules").status_code == 403
    assert _post(rep, f"/api/automation/rules/{rule_id}/disable", {}).status_code == 403
    assert _post(rep, f"/api/automation/rules/{rule_id}/run", {"object_ids": [1]}).status_code == 403
    assert Rule.objects.get().enabled is True and Rule.objects.count() == 1 and not RuleRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_enabled_rule_from_the_api_fires_through_the_worker(org, queue):
    _post(_api(org.admin), "/api/automation/rules", RULE)
    customer = make_customer(org.rep_e1, name="新沪客", city="上海")
    drain(queue)
    assert list(customer.tags.values_list("name", flat=True)) == ["上海客户"]


@pytest.mark.django_db
def test_automation_endpoints_never_error_for_an_administrator(org, keep_test_connection):
    rule = rules.save_rule(RULE, actor=org.admin)  # (not through the test Client: it reconnects the signal)
    assert fuzz_as(org.admin, ("/api/automation",), known={"rule_id": rule.pk}, max_examples=25) == 13
