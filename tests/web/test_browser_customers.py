"""Acceptance 5: in a real browser, log in, create a customer with a Chinese name and a mobile,
find it by pinyin initials, open it, switch language."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from guanxi.customers.models import ContactPoint, Customer
from tests.factories import PASSWORD
from tests.web.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_find_open_switch_language(page, org):
    login(page, org.rep_e1.username, PASSWORD)
    assert page.locator("html").get_attribute("lang") == "zh-hans"

    page.click("nav >> text=客户")
    page.wait_for_url("**/customers/")
    page.click("#new-customer")
    page.fill("#id_name", "欧阳晓峰")
    page.fill("#id_phone", "139-1234-5678")
    page.fill("#id_city", "苏州")
    page.click("#save-customer")
    page.wait_for_selector("#customer-name")
    assert page.inner_text("#customer-name") == "欧阳晓峰"
    customer = Customer.objects.get(name="欧阳晓峰")
    assert customer.owner_id == org.rep_e1.pk
    assert ContactPoint.objects.get(customer=customer).normalized == "+8613912345678"

    # Find it by pinyin initials from the customer list (htmx search as you type).
    page.goto("/customers/")
    page.fill("#q", "oyxf")
    links = page.locator("#customer-table a.customer-link")
    expect(links).to_have_count(1)  # the htmx search replaced the two-row list
    expect(links.first).to_have_text("欧阳晓峰")
    assert "q=oyxf" in page.url  # the search is in the address bar (shareable, back button works)
    links.first.click()
    page.wait_for_url(f"**/customers/{customer.pk}/")
    assert "139 1234 5678" in page.inner_text("#contact-points")

    # Tabs load through htmx.
    page.click("a[data-tab=history]")
    page.wait_for_selector("#history-table")
    assert "欧阳晓峰" in page.inner_text("#history-table")

    # Switch to English and back.
    assert "编辑" in page.inner_text("#edit-customer")
    page.click("#language-switch button[data-lang=en]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.inner_text("#edit-customer") == "Edit"
    assert page.inner_text("#customer-name") == "欧阳晓峰"
    page.click("#language-switch button[data-lang=zh-hans]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.js_errors == []


def test_stored_script_never_runs_in_the_browser(page, org):
    evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
    customer = org.customers["c_e1"]
    Customer.objects.filter(pk=customer.pk).update(name=evil, notes=evil, city=evil[:50])
    login(page, org.rep_e1.username, PASSWORD)
    for url in ["/customers/", f"/customers/{customer.pk}/", f"/customers/{customer.pk}/edit/", "/today/",
                f"/customers/{customer.pk}/?tab=history"]:  # fmt: skip
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__pwned") is None, url
    page.goto(f"/customers/{customer.pk}/")
    assert page.inner_text("#customer-name") == evil  # shown as text, not run as markup
    assert page.js_errors == []


def test_bad_input_in_the_form_shows_errors(page, org):
    login(page, org.rep_e1.username, PASSWORD)
    page.goto("/customers/new/")
    page.fill("#id_name", "")
    page.fill("#id_phone", "12345")
    page.click("#save-customer")
    page.wait_for_selector(".invalid-feedback")
    text = page.inner_text("#customer-form")
    assert "必填" in text or "required" in text.lower()
    assert Customer.objects.filter(owner=org.rep_e1).count() == 1
