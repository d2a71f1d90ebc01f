"""Date and time inputs show the page's language, not the browser's: a Chinese page in an English
browser shows 2027-03-02 (not 03/02/2027), a calendar with Chinese weekdays, and the value the user
picks is the value the server stores."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation
from playwright.sync_api import expect

from guanxi.customers.actions import update_customer
from guanxi.engagement.models import Task
from tests.factories import PASSWORD
from tests.web.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _hint(language: str, msgid: str) -> str:
    with translation.override(language):
        return translation.gettext(msgid)


def _english_browser(browser, live_server, language: str):
    """A browser whose own locale is en-US (native date inputs would show mm/dd/yyyy), with the
    CRM's language chosen as a user does with the language switch."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    page.set_default_timeout(10_000)
    return context, page


def test_dates_follow_the_page_language_in_an_english_browser(browser, live_server, org):
    customer = org.customers["c_e1"]
    update_customer(customer.pk, {"birthday": dt.date(1990, 5, 17)}, actor=org.rep_e1)
    context, page = _english_browser(browser, live_server, "zh-hans")
    try:
        login(page, org.rep_e1.username, PASSWORD)
        page.goto(f"/customers/{customer.pk}/")
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        when = page.locator("#id_next_follow_up_at")
        expect(when).to_have_attribute("type", "text")
        expect(when).to_have_attribute("placeholder", _hint("zh-hans", "yyyy-mm-dd hh:mm"))
        when.click()
        calendar = page.locator(".flatpickr-calendar.open")
        expect(calendar).to_be_visible()
        expect(calendar).to_contain_text("周一")  # weekdays in Chinese
        year = timezone.localdate().year + 1  # a next follow-up lies ahead
        when.fill(f"{year}/3/2 10:30")  # typed the way a Chinese user may write it
        when.press("Tab")  # leaving the field reads what was typed
        expect(when).to_have_value(f"{year}-03-02 10:30")
        page.screenshot(path="/tmp/guanxi-dates-zh.png")
        page.select_option("#follow-up-form select[name=kind]", "call")
        page.fill("#id_content", "约好下次拜访")
        page.fill("#id_next_step", "上门拜访")
        page.click("#save-follow-up")
        page.wait_for_selector("#customer-tasks")
        task = Task.objects.get(title="上门拜访")
        assert timezone.localtime(task.due_at).replace(tzinfo=None) == dt.datetime(year, 3, 2, 10, 30)

        page.goto(f"/customers/{customer.pk}/edit/")
        expect(page.locator("#id_birthday")).to_have_value("1990-05-17")  # a stored date, not 05/17/1990
        assert page.js_errors == []
    finally:
        context.close()

    context, page = _english_browser(browser, live_server, "en")
    try:
        login(page, org.rep_e1.username, PASSWORD)
        page.goto(f"/customers/{customer.pk}/edit/")
        assert page.locator("html").get_attribute("lang") == "en"
        birthday = page.locator("#id_birthday")
        expect(birthday).to_have_value("1990-05-17")
        expect(birthday).to_have_attribute("placeholder", _hint("en", "yyyy-mm-dd"))
        birthday.click()
        expect(page.locator(".flatpickr-calendar.open")).to_contain_text("Mon")
        assert page.js_errors == []
    finally:
        context.close()
