"""The rule builder in a real browser (Playwright + Debian chromium): a customer rule on a field
change, one condition through the list view's filter builder, a task whose title uses the variable
picker; saved, it shows its definition and preview count, then a dry run on one record."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from guanxi.automation.models import Rule
from tests.factories import PASSWORD, make_customer
from tests.web.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_build_a_rule_in_the_browser_preview_and_dry_run(page, org):
    shanghai = make_customer(org.rep_e1, name="沪上浏览器客户", city="上海")
    make_customer(org.rep_e1, name="京城浏览器客户", city="北京")
    login(page, org.admin.username, PASSWORD)
    page.goto("/settings/automation/")
    page.click("#new-rule")
    page.fill("#id_name", "城市变更回访")
    page.select_option("#id_object_type", "customer")

    # Trigger: a field changed (its options appear for that type only).
    page.select_option("#id_trigger_type", "field_changed")
    expect(page.locator("#id_trigger_field")).to_be_visible()
    page.select_option("#id_trigger_field", "city")

    # One condition through the filter builder the customer list uses.
    page.click("#add-condition")
    page.wait_for_selector("#filter-rows .filter-row:not(.htmx-added)")
    page.locator("#filter-rows .filter-row select[name=f_field]").select_option("city")
    page.wait_for_selector("#filter-rows .filter-row select[name=f_op]")
    page.locator("#filter-rows .filter-row input[name=f_value]").fill("上海")

    # The action: a task whose title takes the customer's name from the variable picker.
    card = page.locator("#steps .step-card").first
    expect(card.locator("select.step-type")).to_have_value("create_task")
    title = card.locator("input[name$=_title]")
    title.fill("回访 ")
    card.locator("select.var-picker").first.select_option("customer.name")
    expect(title).to_have_value("回访 {{ customer.name }}")

    page.click("#save-rule")
    expect(page.locator("#rule-definition")).to_contain_text('"field": "city"')
    rule = Rule.objects.get()
    assert page.url.endswith(f"/settings/automation/{rule.pk}/")
    assert rule.trigger == {"type": "field_changed", "field": "city"}
    assert rule.conditions == {"all": [{"field": "city", "op": "eq", "value": "上海"}]}
    assert rule.actions[0]["title"] == "回访 {{ customer.name }}"
    expect(page.locator("#preview-count")).to_contain_text("1")
    expect(page.locator("#preview-sample")).to_contain_text("沪上浏览器客户")
    expect(page.locator("#preview-sample")).not_to_contain_text("京城浏览器客户")

    # Dry run on one record: what the task would be, nothing done.
    page.fill("#dry-run-record", str(shanghai.pk))
    page.click("#dry-run-button")
    expect(page.locator("#dry-run-result")).to_contain_text("回访 沪上浏览器客户")
    assert not shanghai.tasks.exists()
