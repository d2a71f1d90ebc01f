"""The customer page in a real browser: every registered tab (customers.panels) loads in place with
htmx, can be opened directly by its URL, and nothing logs a console error or a failed request."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from guanxi.customers import panels
from guanxi.sales.actions import create_order
from tests.factories import PASSWORD
from tests.web.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Something in each built-in tab: the world has a deal, a follow-up (with a task) and its history.
EXPECTED = {
    "timeline": "电话沟通",
    "deals": "无障碍商机",
    "orders": "SO-TABS-1",
    "history": "#history-table",
}


def test_every_tab_of_the_customer_page_loads_without_console_errors(page, org, world):
    customer = world["customer"]
    create_order(
        customer, {"number": "SO-TABS-1", "amount": "88", "ordered_at": customer.created_at}, actor=None
    )
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}") if msg.type == "error" else None)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    login(page, org.admin.username, PASSWORD)
    url = reverse("customers:detail", args=[customer.pk])
    page.goto(url)
    # the cards other apps registered are on the page
    expect(page.locator("#follow-up-form")).to_be_visible()
    expect(page.locator("#customer-tasks")).to_contain_text("回访")

    tabs = [tab.key for tab in panels.shown_tabs(org.admin)]
    assert set(EXPECTED) <= set(tabs)
    for key in [*tabs[1:], tabs[0]]:  # away from the default tab and back to it
        with page.expect_response(lambda r, key=key: r.url.endswith(f"/tab/{key}/")) as response:
            page.click(f"a[data-tab={key}]")
        assert response.value.status == 200
        expect(page.locator(f"a[data-tab={key}]")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#tab-content")).to_have_attribute("aria-labelledby", f"tab-{key}")
        expect(page).to_have_url(re.compile(rf"\?tab={key}$"))
        _expect_content(page, key)

    for key in tabs:  # a tab's own URL (a bookmark, a reload) renders it server-side
        page.goto(f"{url}?tab={key}")
        expect(page.locator(f"a[data-tab={key}]")).to_have_attribute("aria-selected", "true")
        _expect_content(page, key)

    assert page.js_errors == []
    assert console == []
    assert failed == []


def _expect_content(page, key: str) -> None:
    expected = EXPECTED.get(key)
    if expected is None:
        return
    if expected.startswith("#"):
        expect(page.locator(f"#tab-content {expected}")).to_be_visible()
    else:
        expect(page.locator("#tab-content")).to_contain_text(expected)
