"""On a phone (390 px wide): no main page scrolls sideways, the customer and pool lists show each row
as a card, and a phone number the user may see in full is a tap-to-call link (a masked one is not)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.factories import PASSWORD, make_customer
from tests.web.conftest import login
from tests.web.pages import main_pages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone_page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    page.set_default_timeout(10_000)
    yield page
    context.close()


def overflow(page) -> int:
    """How many pixels the page is wider than the screen (0: nothing to scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_no_main_page_scrolls_sideways_and_lists_are_cards(phone_page, org, world):
    page = phone_page
    login(page, org.admin.username, PASSWORD)
    too_wide = {}
    for label, url in {
        **main_pages(world),
        "customer": reverse("customers:detail", args=[world["customer"].pk]),
    }.items():
        assert page.goto(url).status == 200, (label, url)
        if overflow(page) > 0:
            too_wide[label] = overflow(page)
    assert too_wide == {}

    for url, table in (
        (reverse("customers:list"), "#customer-table"),
        (reverse("pool:index"), "#pool-table"),
    ):
        page.goto(url)
        rows = page.locator(f"{table} tbody tr")
        assert rows.count() >= 1
        first = rows.first
        assert first.evaluate("tr => getComputedStyle(tr).display") == "block", url  # a card, not a table row
        assert (
            page.locator(f"{table} thead").evaluate("h => h.getBoundingClientRect().height") <= 1
        )  # header hidden
        box = first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], url
        # a long company name stays on one or two lines instead of one character per line
        name = (
            page.locator(f"{table} tbody tr", has_text="有限公司")
            .first.locator("td")
            .nth(1 if table == "#customer-table" else 0)
        )
        lines = name.evaluate(
            "td => Math.round(td.getBoundingClientRect().height / parseFloat(getComputedStyle(td).lineHeight))"
        )
        assert lines <= 2, (url, lines)
        # the table keeps its semantics for screen readers
        assert page.locator(table).get_attribute("role") == "table"
        assert first.get_attribute("role") == "row"
    page.screenshot(path="/tmp/guanxi-phone-pool.png", full_page=False)
    page.goto(reverse("customers:list"))
    page.screenshot(path="/tmp/guanxi-phone-customers.png", full_page=False)
    assert page.js_errors == []


def test_a_phone_the_user_may_see_is_a_tap_to_call_link_and_a_masked_one_is_not(phone_page, org):
    page = phone_page
    own = make_customer(org.viewer_e, name="自己的客户", phone="13955556666")
    masked = org.customers["c_e1"]  # in viewer_e's department, owned by rep_e1: the phone is masked
    login(page, org.viewer_e.username, PASSWORD)

    page.goto(reverse("customers:list"))
    own_row = page.locator("#customer-table tbody tr", has_text="自己的客户")
    expect(own_row.locator("a[href='tel:+8613955556666']")).to_have_count(1)
    masked_row = page.locator("#customer-table tbody tr", has_text=masked.name)
    expect(masked_row.locator("td[data-ref=phone]")).to_contain_text("****")
    expect(masked_row.locator("a[href^='tel:']")).to_have_count(0)

    page.goto(reverse("customers:detail", args=[own.pk]))
    expect(page.locator("#contact-points a[href='tel:+8613955556666']")).to_have_count(1)
    page.goto(reverse("customers:detail", args=[masked.pk]))
    expect(page.locator("#contact-points")).to_contain_text("****")
    expect(page.locator("#contact-points a[href^='tel:']")).to_have_count(0)
    assert page.js_errors == []
