"""Notifications through the real queue (approvers when a step starts, with a signed link; the
submitter on the result, with the comment; escalated managers), and the signed link: valid, used by
someone else, reused, expired."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client, override_settings

from guanxi.approvals import actions
from guanxi.approvals.models import ApprovalDecision, ApprovalRequest, Decision, RequestStatus
from guanxi.core import locks
from guanxi.messaging.models import Notification
from guanxi.sales import actions as sales
from tests.conftest import drain
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _held_move(team):
    with pytest.raises(locks.TransitionHeld):
        sales.move_deal(team.deal.pk, team.stages["Needs analysis"].pk, actor=team.rep_e1)
    return ApprovalRequest.objects.get()


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_approvers_and_the_submitter_are_notified_through_the_queue(team, queue):
    drain(queue)  # set-up events
    request = _held_move(team)
    drain(queue)
    asked = Notification.objects.get(recipient=team.manager_e, kind="approval_requested")
    assert "/approvals/link/" in asked.url and team.deal.name in asked.title
    actions.approve(request.pk, actor=team.manager_e)
    drain(queue)
    assert set(Notification.objects.filter(kind="approval_requested").values_list("recipient__username", flat=True)) == {
        "manager_e", "director", "finance1"
    }  # fmt: skip
    actions.approve(request.pk, actor=team.finance)
    actions.reject(request.pk, actor=team.director, comment="折扣超过公司上限")
    drain(queue)
    result = Notification.objects.get(recipient=team.rep_e1, kind="approval_result")
    assert "折扣超过公司上限" in result.body and str(team.director) in result.body
    assert result.url == f"/deals/{team.deal.pk}/"
    drain(queue)
    assert Notification.objects.filter(kind="approval_result").count() == 1  # once


def test_an_escalated_manager_is_notified_once(team, queue):
    drain(queue)
    request = _held_move(team)
    drain(queue)
    later = request.step_due_at + dt.timedelta(minutes=5)
    actions.process_timeouts(later)
    actions.process_timeouts(later)
    drain(queue)
    assert Notification.objects.filter(recipient=team.director, kind="approval_escalated").count() == 1


def test_a_delegate_is_notified_too(team, queue):
    today = dt.date.today()
    actions.set_delegation({"delegate_id": team.rep_e2.pk, "starts_on": today - dt.timedelta(days=1),
                            "ends_on": today + dt.timedelta(days=1)}, actor=team.manager_e)  # fmt: skip
    drain(queue)
    _held_move(team)
    drain(queue)
    assert Notification.objects.filter(recipient=team.rep_e2, kind="approval_requested").exists()


def test_signed_link_valid_wrong_user_reused_and_expired(team, queue):
    drain(queue)
    request = _held_move(team)
    drain(queue)
    url = Notification.objects.get(recipient=team.manager_e, kind="approval_requested").url

    # Used by someone else: 403, nothing changes (also for a would-be approver of a later step).
    for other in (team.director, team.rep_e1):
        client = _client(other)
        assert client.get(url).status_code == 403
        assert client.post(url, {"decision": "approved"}).status_code == 403
    assert ApprovalDecision.objects.get(request=request, approver=team.manager_e).decision == Decision.PENDING

    manager = _client(team.manager_e)
    page = manager.get(url)
    assert page.status_code == 200 and b'id="link-form"' in page.content
    response = manager.post(url, {"decision": "approved", "comment": "ok"})
    assert response.status_code == 302
    row = ApprovalDecision.objects.get(request=request, approver=team.manager_e)
    assert row.decision == Decision.APPROVED and row.via == "link"

    # Reused after the decision: does nothing.
    again = manager.post(url, {"decision": "rejected", "comment": "changed my mind"})
    assert again.status_code == 409 and b"link-used" in again.content
    row.refresh_from_db()
    assert row.decision == Decision.APPROVED
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING and request.current_step.position == 1

    # Expired: does nothing.
    drain(queue)
    director_url = Notification.objects.get(recipient=team.director, kind="approval_requested").url
    with override_settings(GUANXI_APPROVAL_LINK_MAX_AGE=-1):
        director = _client(team.director)
        expired = director.post(director_url, {"decision": "approved"})
        assert expired.status_code == 409 and b"link-invalid" in expired.content
    assert ApprovalDecision.objects.get(request=request, approver=team.director).decision == Decision.PENDING
    # Not logged in: the login page first.
    assert Client().get(director_url).status_code == 302


def test_the_periodic_timeout_task_escalates_once_through_the_queue(team, queue):
    from guanxi.approvals.tasks import approval_timeouts

    drain(queue)
    request = _held_move(team)
    drain(queue)
    # Test set-up: the step's due time has passed.
    ApprovalRequest.objects.filter(pk=request.pk).update(
        step_due_at=request.step_due_at - dt.timedelta(days=2)
    )
    approval_timeouts()
    approval_timeouts()  # two runs queued, as two workers or an overlapping minute would
    results = drain(queue)
    assert {"escalated": 1, "rejected": 0} in results and {"escalated": 0, "rejected": 0} in results
    assert ApprovalDecision.objects.filter(request=request, escalated=True).count() == 1
    assert Notification.objects.filter(recipient=team.director, kind="approval_escalated").count() == 1
