"""Notification centre, preferences and delivery log pages (and the admin of the messaging app)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import RequestFactory

from guanxi.core.models import AuditEntry
from guanxi.messaging import actions
from guanxi.messaging.actions import notify
from guanxi.messaging.context_processors import unread
from guanxi.messaging.models import (
    ChannelKind,
    ChannelPreference,
    Delivery,
    DeliveryStatus,
    Notification,
    RobotEndpoint,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def rep(org, client):
    client.login(username=org.rep_e1.username, password=PASSWORD)
    return org.rep_e1


def unread_of(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


# --- (f) notification centre --------------------------------------------------------------------


def test_centre_lists_own_notifications_unread_first(org, rep, client):
    old = notify(rep, kind="t", title="Old and read")
    actions.mark_read(rep, [old.pk])
    notify(rep, kind="t", title="New one", body="details")
    notify(rep, kind="t", title="Another new one")
    notify(org.rep_e2, kind="t", title="Someone else's")

    page = client.get("/notifications/").content.decode()
    assert "Someone else&#x27;s" not in page and "Someone else's" not in page
    assert page.index("Another new one") < page.index("New one") < page.index("Old and read")
    assert 'id="unread-count"' in page and "2 unread notifications" in page


def test_mark_one_and_all_read(org, rep, client):
    first = notify(rep, kind="t", title="one")
    notify(rep, kind="t", title="two")
    response = client.post(f"/notifications/{first.pk}/read/")
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    assert unread_of(rep) == 1

    response = client.post("/notifications/read-all/", {"unread": "1"})
    assert response["Location"] == "/notifications/?unread=1"
    assert unread_of(rep) == 0


def test_mark_read_with_htmx_returns_the_list_and_the_badge(org, rep, client):
    first = notify(rep, kind="t", title="one")
    notify(rep, kind="t", title="two")
    response = client.post(f"/notifications/{first.pk}/read/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith('<div id="notification-list">')
    assert 'id="notification-badge"' in html and 'hx-swap-oob="true"' in html
    assert "1 unread notification" in html


def test_another_users_notification_is_not_visible(org, rep, client):
    theirs = notify(org.rep_e2, kind="t", title="private", url="/today/")
    assert client.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    assert client.post(f"/notifications/{theirs.pk}/open/").status_code == 404
    assert unread_of(org.rep_e2) == 1
    # Marking "all" read touches only one's own.
    client.post("/notifications/read-all/")
    assert unread_of(org.rep_e2) == 1


def test_open_marks_read_and_follows_only_local_links(org, rep, client):
    local = notify(rep, kind="t", title="local", url="/customers/?q=1")
    external = notify(rep, kind="t", title="external", url="https://evil.example/phish")
    assert client.post(f"/notifications/{local.pk}/open/")["Location"] == "/customers/?q=1"
    assert client.post(f"/notifications/{external.pk}/open/")["Location"] == "/notifications/"
    assert unread_of(rep) == 0


def test_pages_need_login_and_post(org, client):
    assert client.get("/notifications/").status_code == 302
    assert client.get("/notifications/badge/").status_code == 286  # htmx stops polling
    client.login(username=org.rep_e1.username, password=PASSWORD)
    assert client.get("/notifications/read-all/").status_code == 405


def test_badge_and_context_processor(org, rep, client):
    assert "d-none" in client.get("/notifications/badge/").content.decode()
    for i in range(3):
        notify(rep, kind="t", title=f"n{i}")
    html = client.get("/notifications/badge/").content.decode()
    assert "d-none" not in html and ">3<" in html

    request = RequestFactory().get("/")
    request.user = rep
    context = unread(request)
    assert context["unread_notifications"] == 3 and str(context["unread_notifications"]) == "3"
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    assert unread(request) == {}


def test_centre_query_count_does_not_grow(org, rep, client, django_assert_max_num_queries):
    for i in range(30):
        notify(rep, kind="t", title=f"n{i}")
    with django_assert_max_num_queries(12):
        assert client.get("/notifications/").status_code == 200


# --- preferences --------------------------------------------------------------------------------


def test_preferences_are_saved_through_the_action_with_audit(org, rep, client):
    assert client.get("/notifications/preferences/").status_code == 200
    response = client.post(
        "/notifications/preferences/",
        {
            "email_enabled": "on",
            "email_digest": "on",
            "sms_enabled": "on",
            "quiet_start": "22:00",
            "quiet_end": "08:00",
        },
    )
    assert response.status_code == 302
    rep.refresh_from_db()
    assert (rep.quiet_start, rep.quiet_end) == (dt.time(22), dt.time(8))
    prefs = {p.channel: (p.enabled, p.digest) for p in ChannelPreference.objects.filter(user=rep)}
    assert prefs == {ChannelKind.EMAIL: (True, True), ChannelKind.SMS: (True, False)}
    entry = AuditEntry.objects.filter(object_id=rep.pk, actor=rep).latest("id")
    assert entry.after == {
        "quiet_start": "22:00:00",
        "quiet_end": "08:00:00",
        "email_digest": True,
        "sms_enabled": True,
    }
    assert entry.before == {
        "quiet_start": None,
        "quiet_end": None,
        "email_digest": False,
        "sms_enabled": False,
    }

    # Saving the same again changes nothing and writes no audit entry.
    count = AuditEntry.objects.count()
    client.post(
        "/notifications/preferences/",
        {
            "email_enabled": "on",
            "email_digest": "on",
            "sms_enabled": "on",
            "quiet_start": "22:00",
            "quiet_end": "08:00",
        },
    )
    assert AuditEntry.objects.count() == count


def test_preferences_reject_half_quiet_hours(org, rep, client):
    response = client.post("/notifications/preferences/", {"email_enabled": "on", "quiet_start": "22:00"})
    assert response.status_code == 200
    assert "Set both the start and the end of quiet hours" in response.content.decode()
    rep.refresh_from_db()
    assert rep.quiet_start is None and not ChannelPreference.objects.filter(user=rep).exists()


def test_preferences_of_someone_else_need_org_management(org):
    with pytest.raises(PermissionDenied):
        actions.update_preferences(org.rep_e2, {"email_enabled": False}, actor=org.rep_e1)
    assert actions.update_preferences(org.rep_e2, {"email_enabled": False}, actor=org.admin)
    assert actions.wanted_channels(org.rep_e2) == {}
    with pytest.raises(ValidationError):
        actions.update_preferences(org.rep_e2, {"quiet_start": "9", "quiet_end": "9"}, actor=None)


# --- delivery log -------------------------------------------------------------------------------


def _delivery(status: str, channel: str = ChannelKind.EMAIL, error: str = "") -> Delivery:
    return Delivery.objects.create(
        channel=channel,
        target="x@example.com",
        payload={"subject": f"s-{status}"},
        status=status,
        last_error=error,
    )


def test_delivery_log_is_for_settings_managers(org, client):
    client.login(username=org.rep_e1.username, password=PASSWORD)
    assert client.get("/notifications/deliveries/").status_code == 403
    client.login(username=org.admin.username, password=PASSWORD)
    assert client.get("/notifications/deliveries/").status_code == 200


def test_delivery_log_filters(org, client, django_assert_max_num_queries):
    client.login(username=org.admin.username, password=PASSWORD)
    for i in range(10):
        notify(org.rep_e1, kind="t", title=f"n{i}")
    failed = _delivery(DeliveryStatus.FAILED, ChannelKind.WECOM, "errcode 93000: invalid webhook url")
    sent = _delivery(DeliveryStatus.SENT)
    with django_assert_max_num_queries(10):
        page = client.get("/notifications/deliveries/", {"status": "failed"}).content.decode()
    assert f'id="delivery-{failed.pk}"' in page and f'id="delivery-{sent.pk}"' not in page
    assert "errcode 93000: invalid webhook url" in page and "Retry now" in page
    page = client.get("/notifications/deliveries/", {"channel": "email"}).content.decode()
    assert f'id="delivery-{failed.pk}"' not in page and f'id="delivery-{sent.pk}"' in page
    page = client.get("/notifications/deliveries/", {"status": "bogus"}).content.decode()
    assert f'id="delivery-{failed.pk}"' in page and f'id="delivery-{sent.pk}"' in page


# --- admin --------------------------------------------------------------------------------------


def test_admin_pages(org, client):
    client.login(username=org.admin.username, password=PASSWORD)
    endpoint = RobotEndpoint.objects.create(
        name="群",
        channel=ChannelKind.DINGTALK,
        url="https://oapi.dingtalk.com/robot/send?access_token=t",
        secret="SEC1",
    )
    delivery = _delivery(DeliveryStatus.SENT)
    for url in (
        "/admin/messaging/robotendpoint/",
        f"/admin/messaging/robotendpoint/{endpoint.pk}/change/",
        "/admin/messaging/delivery/",
        f"/admin/messaging/delivery/{delivery.pk}/change/",
        "/admin/messaging/notification/",
        "/admin/messaging/channelpreference/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/messaging/delivery/add/").status_code == 403
    response = client.post(
        f"/admin/messaging/robotendpoint/{endpoint.pk}/change/",
        {
            "name": "服务群",
            "channel": "dingtalk",
            "url": "https://oapi.dingtalk.com/robot/send?access_token=new-token",
            "secret": "SEC2",
            "department": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(object_id=endpoint.pk, object_repr="服务群").latest("id")
    assert entry.after == {"name": "服务群"}  # the token in the URL and the secret stay out of the log
