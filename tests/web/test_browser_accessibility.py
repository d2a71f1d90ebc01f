"""Accessibility: axe-core (vendored in guanxi/web/static/vendor/axe-core, WCAG 2 A/AA rules) runs in
Chromium over every main page, the customer page with each of its tabs; any violation fails."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from guanxi.customers import quality
from guanxi.customers.models import DuplicateCandidate
from guanxi.customers.views import TABS
from guanxi.engagement import actions as engagement
from guanxi.engagement.pool import ensure_default_pool, release
from guanxi.messaging.actions import notify
from guanxi.sales.actions import create_deal, ensure_default_pipeline
from tests.factories import PASSWORD, make_customer
from tests.web.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = "/static/vendor/axe-core/axe.min.js"
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page) -> list[dict]:
    """Inject the vendored axe-core (same origin: the Content-Security-Policy allows it) and run it."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)
    result = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_A_AA,
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:5]],
            "count": len(v["nodes"]),
        }
        for v in result["violations"]
    ]


def check_page(page, label: str, found: dict) -> None:
    violations = axe_violations(page)
    if violations:
        found[label] = violations


@pytest.fixture
def world(org):
    """Something on every page: a deal, a task, a pool customer, a duplicate pair, a quality report,
    a notification."""
    ensure_default_pool()
    ensure_default_pipeline()
    customer = make_customer(org.admin, name="无障碍客户", phone="13911112345", email="a11y@example.com")
    deal = create_deal(customer.pk, {"name": "无障碍商机", "amount": "5000"}, actor=org.admin)
    engagement.log_follow_up(customer.pk, {"kind": "call", "content": "电话沟通", "next_step": "回访",
                                            "next_follow_up_at": "2030-01-02T10:00"}, actor=org.admin)  # fmt: skip
    pooled = make_customer(org.rep_e1, name="公海客户", phone="13911116789")
    release(pooled.pk, actor=org.rep_e1, reason="测试")
    twin_a = make_customer(org.admin, name="重复客户", phone="13922223333")
    twin_b = make_customer(org.admin, name="重複客户", email="dup@example.com")
    DuplicateCandidate.objects.create(customer_a=twin_a, customer_b=twin_b, cluster_key=twin_a.pk, score=0.95)
    quality.cleanse()
    notify(org.admin, kind="info", title="无障碍通知", body="正文", url=f"/customers/{customer.pk}/")
    return {"customer": customer, "deal": deal, "twins": (twin_a, twin_b)}


def main_pages(world) -> dict[str, str]:
    customer, deal = world["customer"], world["deal"]
    twin_a, twin_b = world["twins"]
    return {
        "today": reverse("today"),
        "customers": reverse("customers:list"),
        "customers kanban": reverse("customers:kanban"),
        "new customer": reverse("customers:create"),
        "edit customer": reverse("customers:edit", args=[customer.pk]),
        "recycle bin": reverse("customers:recycle_bin"),
        "pool": reverse("pool:index"),
        "pool at risk": reverse("pool:at_risk"),
        "deals board": reverse("deals:board"),
        "deals list": reverse("deals:board") + "?layout=list",
        "deal": reverse("deals:detail", args=[deal.pk]),
        "edit deal": reverse("deals:edit", args=[deal.pk]),
        "new deal": reverse("deals:create") + f"?customer={customer.pk}",
        "data quality": reverse("quality:overview"),
        "duplicates": reverse("quality:duplicates"),
        "merge": reverse("quality:merge", args=[twin_a.pk, twin_b.pk]),
        "import": reverse("imports:index"),
        "inbound webhooks": reverse("inbound:sources"),
        "notifications": reverse("messaging:center"),
        "notification settings": reverse("messaging:preferences"),
        "delivery log": reverse("messaging:deliveries"),
        "assignment rules": reverse("assignment:rules"),
        "new assignment rule": reverse("assignment:rule_create"),
        "handover": reverse("assignment:handover"),
        "API tokens": reverse("api_tokens"),
        "customisation": reverse("customization:index"),
        "custom fields": reverse("customization:fields"),
        "new custom field": reverse("customization:field_create"),
        "picklists": reverse("customization:picklists"),
        "new picklist": reverse("customization:picklist_create"),
        "tags": reverse("customization:tags"),
        "new tag": reverse("customization:tag_create"),
        "layouts": reverse("customization:layouts"),
        "pipelines": reverse("pipelines:list"),
        "new pipeline": reverse("pipelines:create"),
    }


def test_every_main_page_passes_axe(page, org, world):
    found: dict[str, list] = {}
    page.goto(reverse("login"))
    check_page(page, "login", found)
    login(page, org.admin.username, PASSWORD)
    for label, url in main_pages(world).items():
        response = page.goto(url)
        assert response is not None and response.status == 200, (label, url)
        check_page(page, label, found)

    # the customer page, each tab loaded as a user does (htmx)
    customer = world["customer"]
    page.goto(reverse("customers:detail", args=[customer.pk]))
    check_page(page, "customer", found)
    for key, _label in TABS:
        page.click(f"a[data-tab={key}]")
        expect(page.locator(f"a[data-tab={key}]")).to_have_attribute("aria-selected", "true")
        page.wait_for_load_state("networkidle")
        expect(page.locator("#tab-content")).to_have_attribute("aria-labelledby", f"tab-{key}")
        check_page(page, f"customer, tab {key}", found)
    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)
    assert page.js_errors == []


def test_a_reps_pages_pass_axe(page, org, world):
    """What a sales rep sees differs (masked phones, claim buttons, no settings): checked too."""
    found: dict[str, list] = {}
    login(page, org.rep_e1.username, PASSWORD)
    for label, url in {
        "today": reverse("today"),
        "customers": reverse("customers:list"),
        "customer": reverse("customers:detail", args=[org.customers["c_e1"].pk]),
        "pool": reverse("pool:index"),
        "deals board": reverse("deals:board"),
        "deals list": reverse("deals:board") + "?layout=list",
        "notifications": reverse("messaging:center"),
    }.items():
        assert page.goto(url).status == 200, (label, url)
        check_page(page, label, found)
    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)
    assert page.js_errors == []
