"""Deals in a real browser: a rep creates a deal from a customer's page (deals tab) and moves it to the
next stage on the board (htmx, no inline script); the column counts follow."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from guanxi.sales.actions import ensure_default_pipeline
from guanxi.sales.models import Deal
from tests.factories import PASSWORD
from tests.web.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_deal_from_the_customer_page_and_move_it_on_the_board(page, org):
    pipeline = ensure_default_pipeline()
    first, second = list(pipeline.stages.order_by("position"))[:2]
    customer = org.customers["c_e1"]
    login(page, org.rep_e1.username, PASSWORD)
    page.goto(f"/customers/{customer.pk}/")
    page.click("a[data-tab=deals]")
    expect(page.locator("#customer-deals")).to_be_visible()
    page.click("#new-deal")
    page.wait_for_url(f"**/deals/new/?customer={customer.pk}")
    page.fill("#id_name", "浏览器商机")
    page.fill("#id_amount", "12000")
    page.click("#save-deal")
    page.wait_for_selector("#deal-name")
    deal = Deal.objects.get(name="浏览器商机")
    assert deal.customer == customer and deal.stage == first and deal.owner == org.rep_e1

    page.click("nav >> text=商机")
    page.wait_for_url("**/deals/")
    card = page.locator(f"#deal-{deal.pk}")
    expect(page.locator(f"section[data-stage='{first.pk}'] #deal-{deal.pk}")).to_have_count(1)
    expect(page.locator(f"section[data-stage='{first.pk}'] .column-total")).to_have_text("12,000.00")
    page.evaluate("window.notReloaded = true")
    card.locator("select[name=stage_id]").select_option(str(second.pk))
    card.locator("button.move-deal").click()  # htmx swaps the board
    expect(page.locator(f"section[data-stage='{second.pk}'] #deal-{deal.pk}")).to_have_count(1)
    expect(page.locator(f"section[data-stage='{first.pk}'] .column-count")).to_have_text("0")
    expect(page.locator(f"section[data-stage='{second.pk}'] .column-total")).to_have_text("12,000.00")
    assert page.evaluate("window.notReloaded === true")  # swapped by htmx, not a full page load
    deal.refresh_from_db()
    assert deal.stage == second
    assert page.js_errors == []
