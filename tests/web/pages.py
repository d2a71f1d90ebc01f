"""The main pages the browser tests walk (accessibility, phone layout), with something on each."""

from __future__ import annotations

from django.urls import reverse

from guanxi.customers import quality
from guanxi.customers.models import DuplicateCandidate
from guanxi.engagement.actions import follow_ups as engagement
from guanxi.engagement.actions.pool import ensure_default_pool, release
from guanxi.messaging.actions import notify
from guanxi.sales.actions import create_deal, ensure_default_pipeline
from tests.factories import make_customer


def build_world(org) -> dict:
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
    # long company names: the ones that wrapped one character per line on a phone
    make_customer(org.admin, name="上海恒泰国际贸易有限公司", kind="company", city="上海")
    pooled_company = make_customer(
        org.rep_e1, name="杭州西子湖畔电子商务有限公司", kind="company", city="杭州"
    )
    release(pooled_company.pk, actor=org.rep_e1, reason="测试")
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
