"""Issue 4, acceptance 6: in a real browser a rep logs a follow-up with a next step, sees the task on the
today page and completes it; a manager sees the team's overdue list."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from guanxi.engagement.actions import follow_ups as actions
from guanxi.engagement.models import Task, TaskStatus
from tests.factories import PASSWORD
from tests.web.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_follow_up_next_step_today_and_team_overdue(page, org, browser, live_server):
    customer = org.customers["c_e1"]
    login(page, org.rep_e1.username, PASSWORD)
    page.goto(f"/customers/{customer.pk}/")
    page.select_option("#follow-up-form select[name=kind]", "call")
    page.fill("#id_content", "电话沟通了新报价，客户有兴趣")
    page.fill("#id_next_step", "发送产品资料")
    # Due later today (the today page lists today's tasks): two hours ahead, but not past 23:59.
    now = timezone.localtime()
    end_of_day = now.replace(hour=23, minute=59, second=0, microsecond=0)
    soon = max(now + dt.timedelta(minutes=1), min(now + dt.timedelta(hours=2), end_of_day))
    soon = soon.strftime("%Y-%m-%dT%H:%M")
    page.fill("#id_next_follow_up_at", soon)
    page.click("#save-follow-up")
    page.wait_for_selector("#customer-tasks")
    assert "发送产品资料" in page.inner_text("#customer-tasks")
    assert "电话沟通了新报价" in page.inner_text("#tab-content")

    page.click("nav >> text=今日")
    page.wait_for_url("**/today/")
    row = page.locator("#my-tasks li", has_text="发送产品资料")
    expect(row).to_have_count(1)
    row.locator("button.complete-task").click()  # htmx swaps the row in place
    expect(page.locator("#my-tasks button.complete-task")).to_have_count(0)
    expect(page.locator("#my-tasks")).to_contain_text("✓")
    task = Task.objects.get(title="发送产品资料")
    assert task.status == TaskStatus.DONE and task.completed_by_id == org.rep_e1.pk

    # An overdue task of rep_e2 shows on their manager's today page.
    actions.create_task({"title": "逾期回访", "due_at": timezone.now() - dt.timedelta(days=1),
                         "customer_id": org.customers["c_e2"].pk}, actor=org.rep_e2)  # fmt: skip
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    manager = context.new_page()
    login(manager, org.manager_e.username, PASSWORD)
    expect(manager.locator("#team-overdue")).to_contain_text("逾期回访")
    expect(manager.locator("#team-overdue")).to_contain_text(str(org.rep_e2))
    context.close()
    assert page.js_errors == []
