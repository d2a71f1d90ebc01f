"""Outgoing webhooks end to end: events → the real queue → a real receiver on loopback.

Given/when/then; nothing is mocked: tasks run through the real Huey queue (SQLite or Redis), calls
go over HTTP to a loopback server that verifies them with the `standardwebhooks` library.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from guanxi.core import events
from guanxi.core.models import Event, EventDelivery
from guanxi.customers.events import CustomerEvent
from guanxi.messaging.models import Notification
from guanxi.webhooks import actions
from guanxi.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.conftest import drain
from tests.factories import make_customer
from tests.webhooks.conftest import run_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def subscribed(receiver, admin, *, max_failures: int = 10, **data) -> WebhookEndpoint:
    endpoint = actions.create_endpoint(
        {
            "name": "ERP",
            "url": receiver.url,
            "event_types": [CustomerEvent.CREATED],
            "max_consecutive_failures": max_failures,
            **data,
        },
        actor=admin,
    )
    receiver.secret = endpoint.secret
    return endpoint


@pytest.fixture
def admin(org, queue):
    drain(queue)  # the set-up's own events
    return org.admin


def codes(delivery: WebhookDelivery) -> list[int | None]:
    return list(delivery.attempt_log.order_by("number").values_list("status_code", flat=True))


def test_every_delivery_verifies_with_the_standardwebhooks_library(admin, queue, receiver):
    endpoint = subscribed(receiver, admin)
    customer = make_customer(admin, name="张伟")
    event = Event.objects.get(name=CustomerEvent.CREATED, object_id=customer.pk)

    run_worker(queue)

    [request] = receiver.requests
    assert request.error == "" and request.verified is not None
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert request.message_id == delivery.message_id and delivery.message_id.startswith("msg_")
    body = request.json
    assert body["type"] == "customer.created"
    assert dt.datetime.fromisoformat(body["timestamp"]) == event.created_at
    assert body["data"] == {
        "event_id": event.pk,
        "object_type": "customer",
        "object_id": customer.pk,
        "payload": event.payload,
    }
    assert request.verified == body  # what the library verified is what was sent
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.SUCCEEDED,
        1,
        200,
    )
    assert delivery.response_excerpt == '{"ok":true}'
    assert codes(delivery) == [200]

    # After a rotation the new secret signs: the receiver with the new one verifies, the old fails.
    old = endpoint.secret
    rotated = actions.rotate_secret(endpoint.pk, actor=admin)
    receiver.secret = rotated.secret
    make_customer(admin, name="李娜")
    run_worker(queue)
    assert len(receiver.requests) == 2 and receiver.requests[1].verified is not None
    receiver.secret = old
    with pytest.raises(Exception):  # noqa: B017
        from standardwebhooks import Webhook

        Webhook(old).verify(receiver.requests[1].body, receiver.requests[1].headers)


def test_events_nobody_subscribes_to_send_nothing(admin, queue, receiver):
    subscribed(receiver, admin, event_types=["deal.created"])
    disabled = subscribed(receiver, admin)
    actions.disable_endpoint(disabled.pk, actor=admin)
    make_customer(admin)
    run_worker(queue)
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()


@override_settings(WEBHOOK_RETRY_BASE_SECONDS=0.5)
def test_a_500_is_retried_with_doubling_backoff_until_the_receiver_recovers(admin, queue, receiver):
    endpoint = subscribed(receiver, admin)
    receiver.fail_next = 3
    make_customer(admin)

    run_worker(queue)

    assert len(receiver.requests) == 4
    assert {r.message_id for r in receiver.requests} == {WebhookDelivery.objects.get().message_id}
    assert all(r.verified is not None for r in receiver.requests)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 4)
    assert codes(delivery) == [500, 500, 500, 200]
    attempts = list(delivery.attempt_log.order_by("number"))
    waits = [(a.next_attempt_at - a.finished_at).total_seconds() for a in attempts[:3]]
    assert waits == pytest.approx([0.5, 1.0, 2.0])
    # each retry ran when it was due, not before
    for failed, retry in zip(attempts, attempts[1:], strict=False):
        assert retry.started_at >= failed.next_attempt_at
    assert attempts[0].response_excerpt == '{"error":"boom"}'
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.is_enabled  # the success reset the count


@override_settings(WEBHOOK_RETRY_BASE_SECONDS=0.4, WEBHOOK_RETRY_WINDOW_SECONDS=1.0)
def test_retries_stop_when_the_window_is_over(admin, queue, receiver):
    subscribed(receiver, admin)
    receiver.always_fail = True
    make_customer(admin)

    run_worker(queue)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DEAD and delivery.next_attempt_at is None
    attempts = list(delivery.attempt_log.order_by("number"))
    # 0 s, +0.4 s, then +0.8 s capped at the window's end (1 s), then dead
    assert len(attempts) == len(receiver.requests) == 3
    assert attempts[-1].next_attempt_at is None
    assert attempts[1].next_attempt_at == delivery.window_started_at + dt.timedelta(seconds=1)


@override_settings(WEBHOOK_RETRY_BASE_SECONDS=0.2)
def test_consecutive_failures_disable_the_endpoint_and_notify_the_admins(org, admin, queue, receiver):
    endpoint = subscribed(receiver, admin, max_failures=3)
    receiver.always_fail = True
    make_customer(admin)

    run_worker(queue)

    assert len(receiver.requests) == 3  # nothing is sent once it is disabled
    endpoint.refresh_from_db()
    assert not endpoint.is_enabled and endpoint.disabled_at is not None
    assert endpoint.consecutive_failures == 3 and "3" in endpoint.disabled_reason
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILING  # waits for the endpoint to come back
    told = Notification.objects.filter(kind="webhook_disabled")
    assert set(told.values_list("recipient__username", flat=True)) == {org.admin.username}
    assert f"/settings/webhooks/{endpoint.pk}/" in told.get().url
    assert not Notification.objects.filter(kind="webhook_disabled", recipient=org.rep_e1).exists()

    # Re-enabling resets the count and sends what waited.
    receiver.always_fail = False
    actions.enable_endpoint(endpoint.pk, actor=admin)
    endpoint.refresh_from_db()
    assert endpoint.is_enabled and endpoint.consecutive_failures == 0 and endpoint.disabled_reason == ""
    run_worker(queue)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and codes(delivery) == [500, 500, 500, 200]
    assert Notification.objects.filter(kind="webhook_disabled").count() == 1


def test_an_event_processed_twice_is_sent_once(admin, queue, receiver):
    endpoint = subscribed(receiver, admin)
    customer = make_customer(admin)
    event = Event.objects.get(name=CustomerEvent.CREATED, object_id=customer.pk)
    run_worker(queue)
    assert len(receiver.requests) == 1

    # As if the worker had died after sending but before the event was marked processed.
    Event.objects.filter(pk=event.pk).update(processed_at=None)
    EventDelivery.objects.filter(event=event).delete()
    events.enqueue([event.pk])
    actions.deliver_event(event)  # and the subscriber called again directly
    run_worker(queue)

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1


def test_enqueue_delivery_for_automation_is_idempotent(admin, queue, receiver):
    endpoint = subscribed(receiver, admin, event_types=[])  # automation only
    customer = make_customer(admin)
    event_id = Event.objects.get(name=CustomerEvent.CREATED, object_id=customer.pk).pk
    first = actions.enqueue_delivery(
        endpoint, "rule.fired", {"rule": 7}, idempotency_key="rule:7:run:1:action:0", event_id=event_id,
        actor="rule:7",
    )  # fmt: skip
    again = actions.enqueue_delivery(
        endpoint.pk, "rule.fired", {"rule": 7}, idempotency_key="rule:7:run:1:action:0", event_id=event_id,
        actor=None,
    )  # fmt: skip
    assert again.pk == first.pk

    run_worker(queue)

    [request] = receiver.requests  # the customer.created event is not subscribed
    assert request.verified == {"type": "rule.fired", "timestamp": first.payload["timestamp"],
                                "data": {"rule": 7, "event_id": event_id}}  # fmt: skip
    first.refresh_from_db()
    assert (
        first.status == DeliveryStatus.SUCCEEDED and first.event_id == event_id and first.origin == "action"
    )


def test_the_sweep_sends_deliveries_whose_task_was_lost(admin, queue, receiver):
    subscribed(receiver, admin)
    customer = make_customer(admin)
    queue.flush()
    actions.deliver_event(Event.objects.get(name=CustomerEvent.CREATED, object_id=customer.pk))
    queue.flush()  # the send task is lost (a queue restarted without persistence, say)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and receiver.requests == []

    assert actions.queue_due_deliveries() == 1
    assert actions.queue_due_deliveries() == 0  # leased: a second sweep does not queue it again
    run_worker(queue)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and len(receiver.requests) == 1
    assert WebhookAttempt.objects.count() == 1
