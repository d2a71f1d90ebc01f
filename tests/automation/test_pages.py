"""The automation pages: rules with statistics, templates, one rule with its run log and retry;
settings.manage only."""

from __future__ import annotations

import pytest
from django.test import Client

from guanxi.automation.actions import rules
from guanxi.automation.models import Rule, RuleRun, RunStatus
from tests.factories import PASSWORD, make_customer

pytestmark = pytest.mark.django_db


def _browser(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_install_a_template_enable_it_run_it_and_read_the_run_log(org):
    admin = _browser(org.admin)
    page = admin.get("/settings/automation/")
    assert page.status_code == 200 and 'id="install-win_back_90_days"' in page.content.decode()
    response = admin.post("/settings/automation/install/", {"key": "win_back_90_days"})
    rule = Rule.objects.get(template_key="win_back_90_days")
    assert response.status_code == 302 and response.url == f"/settings/automation/{rule.pk}/"
    assert rule.enabled is False
    admin.post(f"/settings/automation/{rule.pk}/enabled/", {"enabled": "1", "next": "detail"})
    assert Rule.objects.get(pk=rule.pk).enabled is True and Rule.objects.get(pk=rule.pk).version == 2
    customer = make_customer(org.rep_e1, name="页面客户")
    run = RuleRun.objects.create(rule=rule, version=2, object_type="customer", object_id=customer.pk,
                                 occurrence="at:x", status=RunStatus.DEAD, error="step 1: boom")  # fmt: skip
    detail = admin.get(f"/settings/automation/{rule.pk}/").content.decode()
    assert "step 1: boom" in detail and f'id="retry-{run.pk}"' in detail and "v2" in detail
    admin.post(f"/settings/automation/{rule.pk}/retry/", {"run_ids": [run.pk]})
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and customer.tasks.filter(title="挽回：页面客户").exists()


def test_a_rep_gets_403_on_every_automation_page(org):
    rule = rules.install_template("win_back_90_days", actor=org.admin)
    rep = _browser(org.rep_e1)
    for path in ("/settings/automation/", f"/settings/automation/{rule.pk}/"):
        assert rep.get(path).status_code == 403
    assert rep.post(f"/settings/automation/{rule.pk}/enabled/", {"enabled": "1"}).status_code == 403
    assert rep.post("/settings/automation/install/", {"key": "thank_you_after_purchase"}).status_code == 403
    assert Rule.objects.get().enabled is False and Rule.objects.count() == 1


def test_run_a_manual_rule_on_the_customers_selected_in_the_list(org):
    """The manual trigger, bulk: "Run rule" in the customer list's bar of actions on the selected
    customers (settings.manage), firing once per selected customer that matches the conditions."""
    from guanxi.engagement.models import Task

    manual = rules.save_rule({
        "name": "手动回访", "object_type": "customer", "enabled": True, "trigger": {"type": "manual"},
        "conditions": {"all": [{"field": "city", "op": "eq", "value": "上海"}]},
        "actions": [{"type": "create_task", "title": "回访 {{ customer.name }}"}]}, actor=org.admin)  # fmt: skip
    rules.save_rule({"name": "新建即任务", "object_type": "customer", "enabled": True, "trigger": {"type": "created"},
                     "actions": [{"type": "create_task", "title": "新客户"}]}, actor=org.admin)  # fmt: skip
    shanghai = make_customer(org.rep_e1, name="上海客户", city="上海")
    beijing = make_customer(org.rep_e1, name="北京客户", city="北京")
    admin = _browser(org.admin)
    page = admin.get("/customers/").content.decode()
    assert (
        'id="bulk-run-rule"' in page and "手动回访" in page and "新建即任务" not in page
    )  # manual rules only
    rep_page = _browser(org.rep_e1).get("/customers/").content.decode()
    assert 'id="bulk-run-rule"' not in rep_page

    back = "/customers/?tier=A"
    response = admin.post("/settings/automation/run-selected/",
                          {"rule_id": manual.pk, "customer_ids": [shanghai.pk, beijing.pk], "next": back})  # fmt: skip
    assert response.status_code == 302 and response.url == back
    assert list(Task.objects.filter(title__startswith="回访").values_list("customer_id", flat=True)) == [
        shanghai.pk
    ]
    assert RuleRun.objects.filter(rule=manual).count() == 1
    # a rep may not, an unknown or non-manual rule runs nothing, and an outside `next` is not followed
    assert _browser(org.rep_e1).post("/settings/automation/run-selected/",
                                     {"rule_id": manual.pk, "customer_ids": [beijing.pk]}).status_code == 403  # fmt: skip
    other = Rule.objects.get(name="新建即任务")
    response = admin.post("/settings/automation/run-selected/",
                          {"rule_id": other.pk, "customer_ids": [beijing.pk], "next": "https://evil.example/"})  # fmt: skip
    assert (
        response.url == "/customers/"
        and not RuleRun.objects.filter(rule=other, object_id=beijing.pk).exists()
    )
