"""In a real browser: the notification centre marks read through htmx (no inline script, strict CSP)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from guanxi.messaging.actions import notify
from guanxi.messaging.models import Notification
from tests.factories import PASSWORD
from tests.web.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_mark_read_in_place_and_open(page, org):
    rep = org.rep_e1
    notify(rep, kind="t", title="第一条提醒")
    notify(rep, kind="t", title="第二条提醒", url="/customers/")
    login(page, rep.username, PASSWORD)
    page.goto("/notifications/")
    unread = page.locator("#notification-list [data-unread='1']")
    expect(unread).to_have_count(2)
    page.evaluate("window.stillSamePage = true")

    page.locator("#notification-list [data-unread='1'] button[type=submit]:not(.btn-link)").first.click()
    expect(unread).to_have_count(1)
    page.click("#mark-all-read")
    expect(unread).to_have_count(0)
    assert page.evaluate("window.stillSamePage") is True  # swapped by htmx, not reloaded
    assert Notification.objects.filter(recipient=rep, read_at__isnull=True).count() == 0

    page.click("text=第二条提醒")
    page.wait_for_url("**/customers/")
    assert page.js_errors == []
