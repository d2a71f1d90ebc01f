"""Channels end to end: notify / notify_robots → the real queue → real SMTP and HTTP servers.

Given/when/then; nothing is mocked: emails go through Django's SMTP backend to aiosmtpd, robot
payloads over HTTP to a loopback server, tasks through the real Huey queue (SQLite or Redis).
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import time

import pytest
from django.test import override_settings
from django.utils import timezone

from guanxi.core.models import User
from guanxi.messaging import actions, channels
from guanxi.messaging.actions import notify, notify_robots
from guanxi.messaging.models import (
    ChannelKind,
    ChannelPreference,
    Delivery,
    DeliveryStatus,
    Notification,
    RobotEndpoint,
)
from guanxi.messaging.sending import send_delivery
from guanxi.messaging.tasks import local_time_is, retry_due_deliveries, send_digests
from tests.conftest import drain
from tests.factories import PASSWORD, make_user
from tests.messaging.conftest import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

WECOM_PATH = "/cgi-bin/webhook/send"
DINGTALK_PATH = "/robot/send"


def smtp_settings(server):
    return override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=server.host,
        EMAIL_PORT=server.port,
        EMAIL_USE_TLS=False,
        EMAIL_USE_SSL=False,
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
        DEFAULT_FROM_EMAIL="crm@example.com",
    )


def parsed(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def quiet_around_now(user: User) -> None:
    """Quiet hours from an hour ago to an hour from now (local time)."""
    local = timezone.localtime()
    user.quiet_start = (local - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    user.quiet_end = (local + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    user.save(update_fields=["quiet_start", "quiet_end"])


def quiet_later(user: User) -> None:
    local = timezone.localtime()
    user.quiet_start = (local + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)
    user.quiet_end = (local + dt.timedelta(hours=3)).time().replace(second=0, microsecond=0)
    user.save(update_fields=["quiet_start", "quiet_end"])


def make_due(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


@pytest.fixture
def alice(roles, queue):
    user = make_user("alice", role=roles["sales_rep"], email="alice@example.com")
    User.objects.filter(pk=user.pk).update(mobile="+8613800138000")
    user.refresh_from_db()
    drain(queue)  # set-up events
    return user


# --- (a) email over real SMTP -------------------------------------------------------------------


def test_email_reaches_a_real_smtp_server(alice, queue, smtp_server):
    with smtp_settings(smtp_server):
        notification = notify(alice, kind="test", title="新线索分配给你", body="客户：张伟", url="/today/")
        delivery = notification.deliveries.get()
        assert delivery.channel == ChannelKind.EMAIL and delivery.status == DeliveryStatus.PENDING

        assert drain(queue) == [DeliveryStatus.SENT]

    assert len(smtp_server.messages) == 1
    envelope = smtp_server.messages[0]
    assert envelope.rcpt_tos == ["alice@example.com"]
    assert envelope.mail_from == "crm@example.com"
    message = parsed(envelope)
    assert message["Subject"] == "新线索分配给你"
    assert "客户：张伟" in message.get_content()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 1, "")
    assert delivery.sent_at is not None


def test_a_sent_delivery_is_never_sent_twice(alice, queue, smtp_server):
    with smtp_settings(smtp_server):
        delivery = notify(alice, kind="test", title="Once").deliveries.get()
        send_delivery(delivery.pk)  # a duplicate task (e.g. re-queued after a worker restart)
        results = drain(queue)
    assert sorted(results) == ["sent", "skipped"]
    assert len(smtp_server.messages) == 1


def test_nothing_is_enqueued_inside_an_open_transaction(alice, queue):
    from django.db import transaction

    with transaction.atomic():
        notify(alice, kind="test", title="Later")
        assert len(queue) == 0
    assert len(queue) == 1


# --- (b) WeCom and DingTalk robots --------------------------------------------------------------


def test_robot_payloads_arrive_in_the_documented_shape(org, queue, robot_server):
    drain(queue)
    wecom = RobotEndpoint.objects.create(
        name="销售群", channel=ChannelKind.WECOM, url=robot_server.url(f"{WECOM_PATH}?key=wecom-key")
    )
    secret = "SEC0123456789abcdef"
    ding = RobotEndpoint.objects.create(
        name="服务群",
        channel=ChannelKind.DINGTALK,
        url=robot_server.url(f"{DINGTALK_PATH}?access_token=ding-token"),
        secret=secret,
    )
    before_ms = int(time.time() * 1000)

    deliveries = notify_robots("工单 #42 已超时未响应", title="SLA 超时")

    assert {d.channel for d in deliveries} == {ChannelKind.WECOM, ChannelKind.DINGTALK}
    assert sorted(drain(queue)) == ["sent", "sent"]
    content = "SLA 超时\n工单 #42 已超时未响应"

    [wecom_call] = robot_server.received(WECOM_PATH)
    assert wecom_call.query == {"key": ["wecom-key"]}
    assert wecom_call.headers["Content-Type"].startswith("application/json")
    assert wecom_call.body == {"msgtype": "text", "text": {"content": content}}

    [ding_call] = robot_server.received(DINGTALK_PATH)
    assert ding_call.body == {"msgtype": "text", "text": {"content": content}}
    assert ding_call.query["access_token"] == ["ding-token"]
    [timestamp] = ding_call.query["timestamp"]
    [sign] = ding_call.query["sign"]  # parse_qs has undone the URL encoding
    assert before_ms <= int(timestamp) <= int(time.time() * 1000)
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert hmac.compare_digest(sign, expected)

    for endpoint in (wecom, ding):
        delivery = Delivery.objects.get(payload__endpoint_id=endpoint.pk)
        assert (delivery.status, delivery.attempts, delivery.target) == (
            DeliveryStatus.SENT,
            1,
            endpoint.name,
        )


def test_dingtalk_sign_is_url_encoded_in_the_query():
    url = channels.signed_dingtalk_url(
        "https://oapi.dingtalk.com/robot/send?access_token=t", "s", 1700000000000
    )
    sign = channels.dingtalk_sign("s", 1700000000000)
    assert ("+" in sign or "/" in sign or "=" in sign) and sign not in url
    assert url.startswith("https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000000&sign=")


def test_wecom_text_is_cut_to_2048_bytes(org, queue, robot_server):
    drain(queue)
    RobotEndpoint.objects.create(name="w", channel=ChannelKind.WECOM, url=robot_server.url(WECOM_PATH))
    notify_robots("长" * 2000)
    drain(queue)
    [call] = robot_server.received(WECOM_PATH)
    assert len(call.body["text"]["content"].encode("utf-8")) <= 2048


def test_robots_by_department(org, queue, robot_server):
    drain(queue)
    for name, department in [
        ("global", None),
        ("sales", org.sales),
        ("east", org.east),
        ("south", org.south),
    ]:
        RobotEndpoint.objects.create(
            name=name, channel=ChannelKind.WECOM, url=robot_server.url(f"/{name}"), department=department
        )
    RobotEndpoint.objects.create(
        name="off", channel=ChannelKind.WECOM, url=robot_server.url("/off"), is_active=False
    )

    assert {d.target for d in notify_robots("east alert", department=org.east)} == {"global", "sales", "east"}
    assert {d.target for d in notify_robots("company alert")} == {"global"}
    drain(queue)
    assert sorted(r.path for r in robot_server.requests) == ["/east", "/global", "/global", "/sales"]


# --- (c) failures, retries, the delivery log ----------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((500, {"error": "boom"}), "HTTP 500"),
        ((200, {"errcode": 310000, "errmsg": "sign not match"}), "errcode 310000: sign not match"),
        (None, "connection failed"),
    ],
    ids=["http-500", "errcode", "connection-refused"],
)
def test_failing_endpoint_is_retried_with_backoff_then_fails(org, queue, robot_server, client, answer, error):
    drain(queue)
    if answer is None:
        url = f"http://127.0.0.1:{free_port()}{DINGTALK_PATH}"  # nothing listens there
    else:
        url = robot_server.url(DINGTALK_PATH)
        robot_server.answers[DINGTALK_PATH] = answer
    RobotEndpoint.objects.create(name="钉钉群", channel=ChannelKind.DINGTALK, url=url)
    [delivery] = notify_robots("alert")

    # First attempt fails: retrying, counted, error kept, next attempt after 1 minute.
    started = timezone.now()
    assert drain(queue) == [DeliveryStatus.RETRYING]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRYING, 1)
    assert error in delivery.last_error
    assert (
        started + dt.timedelta(seconds=55)
        <= delivery.next_attempt_at
        <= timezone.now() + dt.timedelta(minutes=1)
    )

    # The failure is visible in the delivery log.
    client.login(username=org.admin.username, password=PASSWORD)
    page = client.get("/notifications/deliveries/", {"status": "retrying"}).content.decode()
    assert f'id="delivery-{delivery.pk}"' in page and error in page

    # Not due yet: the sweep leaves it alone.
    assert retry_due_deliveries.call_local() == {"released": 0, "queued": 0}

    backoff = [dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2)]
    for attempt, wait in enumerate(backoff, start=2):
        make_due(delivery)
        assert retry_due_deliveries.call_local() == {"released": 0, "queued": 1}
        assert drain(queue) == [DeliveryStatus.RETRYING]
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRYING, attempt)
        remaining = delivery.next_attempt_at - timezone.now()
        assert wait - dt.timedelta(seconds=10) <= remaining <= wait

    make_due(delivery)
    retry_due_deliveries.call_local()
    assert drain(queue) == [DeliveryStatus.FAILED]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 5, None)
    assert error in delivery.last_error
    assert retry_due_deliveries.call_local() == {"released": 0, "queued": 0}
    page = client.get("/notifications/deliveries/", {"status": "failed"}).content.decode()
    assert f'id="delivery-{delivery.pk}"' in page


def test_a_retry_succeeds_once_the_endpoint_recovers(org, queue, robot_server):
    drain(queue)
    robot_server.answers[WECOM_PATH] = (502, {})
    RobotEndpoint.objects.create(name="w", channel=ChannelKind.WECOM, url=robot_server.url(WECOM_PATH))
    [delivery] = notify_robots("alert")
    assert drain(queue) == [DeliveryStatus.RETRYING]

    del robot_server.answers[WECOM_PATH]
    make_due(delivery)
    retry_due_deliveries.call_local()
    assert drain(queue) == [DeliveryStatus.SENT]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.SENT, 2, None)
    assert "HTTP 502" in delivery.last_error  # the history of the failed attempt stays visible
    assert len(robot_server.requests) == 2


def test_overlapping_sweeps_send_once(org, queue, robot_server):
    drain(queue)
    robot_server.answers[WECOM_PATH] = (500, {})
    RobotEndpoint.objects.create(name="w", channel=ChannelKind.WECOM, url=robot_server.url(WECOM_PATH))
    [delivery] = notify_robots("alert")
    drain(queue)
    del robot_server.answers[WECOM_PATH]
    make_due(delivery)

    assert retry_due_deliveries.call_local()["queued"] == 1
    assert retry_due_deliveries.call_local()["queued"] == 0  # leased: not queued again
    send_delivery(delivery.pk)  # a stray task without the lease
    assert sorted(drain(queue)) == ["sent", "skipped"]
    assert len(robot_server.requests) == 2  # the failed first attempt + one retry


def test_a_lost_enqueue_is_recovered_by_the_sweep(alice, queue, mailoutbox):
    delivery = notify(alice, kind="test", title="Lost").deliveries.get()
    queue.flush()  # the enqueue was lost (queue restarted between commit and push)
    assert retry_due_deliveries.call_local()["queued"] == 0  # too fresh: its task may still come
    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - dt.timedelta(minutes=3))
    assert retry_due_deliveries.call_local()["queued"] == 1
    assert drain(queue) == [DeliveryStatus.SENT]
    assert [m.subject for m in mailoutbox] == ["Lost"]


def test_deleted_robot_endpoint_fails_at_once(org, queue, robot_server):
    drain(queue)
    endpoint = RobotEndpoint.objects.create(
        name="w", channel=ChannelKind.WECOM, url=robot_server.url(WECOM_PATH)
    )
    [delivery] = notify_robots("alert")
    endpoint.delete()
    assert drain(queue) == [DeliveryStatus.FAILED]
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and "endpoint" in delivery.last_error


def test_failed_delivery_can_be_retried_from_the_log(org, queue, robot_server, client):
    drain(queue)
    endpoint = RobotEndpoint.objects.create(
        name="w", channel=ChannelKind.WECOM, url=f"http://127.0.0.1:{free_port()}/x"
    )
    [delivery] = notify_robots("alert")
    Delivery.objects.filter(pk=delivery.pk).update(attempts=4)
    assert drain(queue) == [DeliveryStatus.FAILED]
    endpoint.url = robot_server.url(WECOM_PATH)  # the admin fixes the address
    endpoint.save()

    client.login(username=org.rep_e1.username, password=PASSWORD)
    assert client.post(f"/notifications/deliveries/{delivery.pk}/retry/").status_code == 403
    assert len(queue) == 0
    client.login(username=org.admin.username, password=PASSWORD)
    response = client.post(
        f"/notifications/deliveries/{delivery.pk}/retry/", {"next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == "/notifications/deliveries/"
    assert drain(queue) == [DeliveryStatus.SENT]
    assert client.post(f"/notifications/deliveries/{delivery.pk}/retry/").status_code == 404  # not failed now


# --- SMS ----------------------------------------------------------------------------------------


class BrokenSms(channels.SmsBackend):
    def send(self, phone: str, text: str) -> None:
        raise ConnectionError("provider down")


def test_sms_goes_through_the_configured_backend(alice, queue, sms_outbox):
    ChannelPreference.objects.create(user=alice, channel=ChannelKind.SMS, enabled=True)
    ChannelPreference.objects.create(user=alice, channel=ChannelKind.EMAIL, enabled=False)
    notify(alice, kind="test", title="验证码", body="123456")
    assert drain(queue) == [DeliveryStatus.SENT]
    assert sms_outbox == [("+8613800138000", "验证码\n\n123456")]

    with override_settings(GUANXI_SMS_BACKEND="tests.messaging.test_channels.BrokenSms"):
        delivery = notify(alice, kind="test", title="again").deliveries.get()
        assert drain(queue) == [DeliveryStatus.RETRYING]
    delivery.refresh_from_db()
    assert delivery.last_error == "ConnectionError: provider down"


# --- (d) dedupe ---------------------------------------------------------------------------------


def test_dedupe_key_gives_one_notification_and_one_delivery(alice, queue, mailoutbox):
    first = notify(alice, kind="sla", title="SLA breached", dedupe_key="sla:ticket:7")
    second = notify(alice, kind="sla", title="SLA breached", dedupe_key="sla:ticket:7")
    assert first is not None and second is None
    assert Notification.objects.filter(dedupe_key="sla:ticket:7").count() == 1
    assert Delivery.objects.filter(notification=first).count() == 1
    drain(queue)
    assert len(mailoutbox) == 1


# --- (e) quiet hours and digests ----------------------------------------------------------------


def test_quiet_hours_hold_deliveries_until_they_end(alice, queue, mailoutbox):
    quiet_around_now(alice)
    delivery = notify(alice, kind="test", title="Overnight").deliveries.get()
    assert (delivery.status, delivery.payload["hold"]) == (DeliveryStatus.SUPPRESSED, "quiet")
    assert len(queue) == 0

    assert retry_due_deliveries.call_local() == {"released": 0, "queued": 0}  # still quiet

    quiet_later(alice)  # the quiet hours are over
    assert retry_due_deliveries.call_local() == {"released": 1, "queued": 1}
    assert drain(queue) == [DeliveryStatus.SENT]
    assert [m.subject for m in mailoutbox] == ["Overnight"]


def test_digest_combines_held_deliveries_into_one_message(alice, queue, smtp_server):
    ChannelPreference.objects.create(user=alice, channel=ChannelKind.EMAIL, enabled=True, digest=True)
    other = make_user("bob", email="bob@example.com")
    held = [
        notify(alice, kind="test", title=f"提醒 {i}", body=f"内容 {i}").deliveries.get() for i in range(3)
    ]
    assert {(d.status, d.payload["hold"]) for d in held} == {(DeliveryStatus.SUPPRESSED, "digest")}
    notify(other, kind="test", title="for bob")  # not a digest user: sent at once
    drain(queue)
    assert retry_due_deliveries.call_local() == {"released": 0, "queued": 0}  # digests are not released

    with smtp_settings(smtp_server):
        smtp_server.messages.clear()
        assert send_digests.call_local() == 1
        assert drain(queue) == [DeliveryStatus.SENT]
        assert send_digests.call_local() == 0  # nothing left to combine

    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["alice@example.com"]
    text = parsed(envelope).get_content()
    for i in range(3):
        assert f"提醒 {i}" in text and f"内容 {i}" in text
    for delivery in held:
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SENT
    digest = Delivery.objects.get(payload__digest_of__isnull=False)
    assert sorted(digest.payload["digest_of"]) == sorted(d.pk for d in held)
    assert digest.notification.recipient == alice


def test_a_digest_in_quiet_hours_waits_for_their_end(alice, queue, mailoutbox):
    ChannelPreference.objects.create(user=alice, channel=ChannelKind.EMAIL, enabled=True, digest=True)
    notify(alice, kind="test", title="one")
    quiet_around_now(alice)
    notify(alice, kind="test", title="two")  # digest wins over quiet: both wait for the digest
    assert send_digests.call_local() == 1
    assert len(queue) == 0
    digest = Delivery.objects.get(payload__digest_of__isnull=False)
    assert (digest.status, digest.payload["hold"]) == (DeliveryStatus.SUPPRESSED, "quiet")

    quiet_later(alice)
    retry_due_deliveries.call_local()
    assert drain(queue) == [DeliveryStatus.SENT]
    assert len(mailoutbox) == 1 and "one" in mailoutbox[0].body and "two" in mailoutbox[0].body


def test_sms_digest_is_short(alice, queue, sms_outbox):
    ChannelPreference.objects.create(user=alice, channel=ChannelKind.SMS, enabled=True, digest=True)
    ChannelPreference.objects.create(user=alice, channel=ChannelKind.EMAIL, enabled=False)
    for i in range(40):
        notify(alice, kind="test", title=f"任务 {i} 已逾期", body="x" * 200)
    send_digests.call_local()
    drain(queue)
    [(phone, text)] = sms_outbox
    assert phone == alice.mobile and len(text) <= actions.SMS_DIGEST_MAX_CHARS and "任务 0" in text


def test_digest_runs_at_18_local_time():
    at = local_time_is(18)
    # The scheduler passes naive UTC timestamps (HUEY utc=True); Asia/Shanghai is UTC+8.
    with override_settings(TIME_ZONE="Asia/Shanghai"):
        assert at(dt.datetime(2025, 3, 1, 10, 0))
        assert not at(dt.datetime(2025, 3, 1, 18, 0))
        assert not at(dt.datetime(2025, 3, 1, 10, 1))


def test_long_email_digest_lists_the_first_50():
    from django.utils import translation

    with translation.override("en"):
        subject, text = actions._digest_message(
            ChannelKind.EMAIL, [{"subject": f"t{i}", "text": f"t{i}\n\nbody"} for i in range(60)]
        )
    assert subject == "Daily digest: 60 notifications"
    assert "t49\n\nbody" in text and "t50" not in text and "…and 10 more notifications" in text
