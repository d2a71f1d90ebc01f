"""Acceptance 6 in a real browser (Playwright + Debian chromium): a rep gives a 20 % discount on a deal;
moving the stage sends it for approval (the deal stays); a step timeout escalates to the next level once;
the manager approves; finance approves while the director rejects with a comment; the rep is notified
with the comment and the deal stays in its stage; a user outside the chain gets 403 and nothing changes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from guanxi.approvals import actions
from guanxi.approvals.models import ApprovalDecision, ApprovalRequest, Decision, RequestStatus
from guanxi.messaging.models import Notification
from guanxi.sales import actions as sales
from guanxi.sales.models import Deal
from tests.conftest import drain
from tests.factories import PASSWORD
from tests.web.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _as(page, user) -> None:
    page.context.clear_cookies()
    login(page, user.username, PASSWORD)


def test_discount_approval_from_stage_move_to_rejection(page, team, queue):
    deal = sales.create_deal(
        team.customers["c_e1"].pk, {"name": "浏览器大单", "amount": "50000"}, actor=team.rep_e1
    )
    first, second = team.stages["Qualification"], team.stages["Needs analysis"]
    drain(queue)

    # The rep gives a 20 % discount and moves the deal: it is sent for approval instead.
    _as(page, team.rep_e1)
    page.goto(f"/deals/{deal.pk}/edit/")
    page.fill("#id_discount_percent", "20")
    page.click("#save-deal")
    expect(page.locator("#deal-discount")).to_have_text("20%")
    page.locator("#detail-move-form select[name=stage_id]").select_option(str(second.pk))
    page.click("#detail-move-form button[type=submit]")
    expect(page.locator("#approval-pending")).to_be_visible()
    expect(page.locator(".alert", has_text="审批")).to_have_count(2)  # the message and the panel
    expect(page.locator("#deal-stage")).to_have_text(first.name_zh)
    request = ApprovalRequest.objects.get(object_id=deal.pk)
    drain(queue)

    # A step timeout escalates to the next level (the manager's manager, the director) once.
    later = timezone.now() + dt.timedelta(hours=25)
    assert actions.process_timeouts(later) == {"escalated": 1, "rejected": 0}
    assert actions.process_timeouts(later) == {"escalated": 0, "rejected": 0}
    drain(queue)
    assert Notification.objects.filter(recipient=team.director, kind="approval_escalated").count() == 1

    # The manager approves from "approvals waiting for me".
    _as(page, team.manager_e)
    page.goto("/approvals/")
    row = page.locator(f"#approvals-waiting tr[data-request='{request.pk}']")
    row.locator("button[value=approved]").click()
    expect(page.locator(f"#approvals-waiting tr[data-request='{request.pk}']")).to_have_count(0)
    drain(queue)

    # An outsider opening an approver's signed link gets 403; nothing changes.
    finance_link = Notification.objects.get(recipient=team.finance, kind="approval_requested").url
    _as(page, team.rep_e2)
    response = page.goto(finance_link)
    assert response.status == 403
    assert ApprovalDecision.objects.get(request=request, approver=team.finance).decision == Decision.PENDING

    # Finance approves from the signed link in the notification.
    _as(page, team.finance)
    page.goto(finance_link)
    page.click("#link-form button[value=approved]")
    expect(page.locator("#approval-status")).to_be_visible()

    # The director rejects with a comment on the deal page.
    _as(page, team.director)
    page.goto(f"/deals/{deal.pk}/")
    panel = page.locator("#approvals-panel")
    panel.locator("textarea[name=comment]").fill("折扣超过上限，请重新报价")
    panel.locator("button[value=rejected]").click()
    expect(page.locator("#approval-history .approval-request[data-status=rejected]")).to_have_count(1)
    expect(page.locator(".approval-comment")).to_have_text("折扣超过上限，请重新报价")
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED
    drain(queue)

    # The rep is notified, with the comment; the deal stayed in its stage.
    _as(page, team.rep_e1)
    page.goto("/notifications/")
    expect(page.get_by_text("折扣超过上限，请重新报价")).to_be_visible()
    assert Deal.objects.get(pk=deal.pk).stage_id == first.pk
    page.goto(f"/deals/{deal.pk}/")
    expect(page.locator("#deal-stage")).to_have_text(first.name_zh)
    expect(page.locator("#approval-pending")).to_have_count(0)
    assert page.js_errors == []
