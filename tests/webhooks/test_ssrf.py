"""Outgoing webhooks do not reach the server's own network (server-side request forgery): with
`WEBHOOK_ALLOW_PRIVATE_NETWORKS` off (the default outside the test suite), a delivery to an endpoint
whose address is loopback, private, link-local or reserved is refused before anything is sent, and
recorded as a failed attempt saying why. Against a real HTTP server on loopback."""

from __future__ import annotations

import pytest

from guanxi.core.models import Event
from guanxi.customers.events import CustomerEvent
from guanxi.webhooks import transport
from guanxi.webhooks.models import WebhookDelivery
from tests.conftest import drain
from tests.factories import make_customer
from tests.webhooks.test_delivery import admin, subscribed  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.mark.parametrize(
    ("ip", "inside"),
    [
        ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.9", True), ("192.168.1.1", True),
        ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.1", True),
        ("::1", True), ("fc00::1", True), ("fe80::1%eth0", True), ("::ffff:127.0.0.1", True),
        ("8.8.8.8", False), ("223.5.5.5", False), ("2400:3200::1", False),
    ],
)  # fmt: skip
def test_which_addresses_are_inside(ip, inside):
    assert transport.inside_address(ip) is inside


def test_a_delivery_to_a_loopback_endpoint_is_refused_unless_allowed(admin, queue, receiver, settings):  # noqa: F811
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    endpoint = subscribed(receiver, admin)
    customer = make_customer(admin, name="内网客户")
    drain(queue)  # the attempt (its retry waits in the schedule)
    assert receiver.requests == []  # nothing was sent
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    attempt = delivery.attempt_log.order_by("number").first()
    assert attempt.status_code is None and attempt.error.startswith("refused: 127.0.0.1 is at 127.0.0.1")

    answer = transport.post(receiver.url, b"{}", {}, timeout=5)  # the same through the transport
    assert (answer.status_code, answer.error[:8]) == (None, "refused:")
    assert receiver.requests == []

    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # a receiver on the company LAN, when allowed
    answer = transport.post(receiver.url, b"{}", {}, timeout=5)
    assert answer.status_code == 200 and len(receiver.requests) == 1
    assert Event.objects.filter(name=CustomerEvent.CREATED, object_id=customer.pk).exists()
