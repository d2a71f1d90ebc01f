"""Settings pages and API of outgoing webhooks: CRUD, secret shown once, redelivery (same
webhook-id), bad input refused with a message naming the field (nothing saved), and permissions
(a rep gets 403 and nothing changes)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from guanxi.core.models import AuditEntry, Event
from guanxi.customers.events import CustomerEvent
from guanxi.webhooks import actions
from guanxi.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.conftest import drain
from tests.factories import make_customer
from tests.webhooks.conftest import run_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def _patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def admin(org, queue):
    drain(queue)
    return org.admin


@pytest.fixture
def admin_page(client, admin):
    client.force_login(admin)
    return client


def _endpoint(receiver, admin, **data) -> WebhookEndpoint:
    endpoint = actions.create_endpoint(
        {"name": "ERP", "url": receiver.url, "event_types": [CustomerEvent.CREATED], **data}, actor=admin
    )
    receiver.secret = endpoint.secret
    return endpoint


# --- pages --------------------------------------------------------------------------------------


def test_pages_create_show_the_secret_once_and_list_the_deliveries(admin_page, admin, queue, receiver):
    response = admin_page.post(
        "/settings/webhooks/new/",
        {"name": "ERP", "url": receiver.url, "event_types": ["customer.created", "deal.created"],
         "max_consecutive_failures": "5", "description": "订单同步"},
    )  # fmt: skip
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in response.content.decode()
    assert endpoint.event_types == ["customer.created", "deal.created"]
    assert endpoint.max_consecutive_failures == 5 and endpoint.created_by == admin
    receiver.secret = endpoint.secret

    detail = admin_page.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert endpoint.secret not in detail and endpoint.secret[-4:] in detail  # masked from now on
    assert "ERP" in admin_page.get("/settings/webhooks/").content.decode()
    assert 'href="/settings/webhooks/"' in admin_page.get("/today/").content.decode()  # in the navigation

    make_customer(admin)
    run_worker(queue)
    delivery = WebhookDelivery.objects.get()
    page = admin_page.get(f"/settings/webhooks/{endpoint.pk}/?status=succeeded").content.decode()
    assert delivery.message_id in page and "200" in page
    assert (
        delivery.message_id
        not in admin_page.get(f"/settings/webhooks/{endpoint.pk}/?status=dead").content.decode()
    )
    detail = admin_page.get(f"/settings/webhooks/deliveries/{delivery.pk}/").content.decode()
    assert "customer.created" in detail and '{"ok":true}' in detail.replace("&quot;", '"')

    # edit, rotate (the new secret is shown once), disable, enable, delete
    response = admin_page.post(
        f"/settings/webhooks/{endpoint.pk}/edit/",
        {
            "name": "ERP 2",
            "url": receiver.url,
            "event_types": ["deal.created"],
            "max_consecutive_failures": "7",
        },
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.event_types, endpoint.max_consecutive_failures) == (
        "ERP 2",
        ["deal.created"],
        7,
    )
    old = endpoint.secret
    response = admin_page.post(f"/settings/webhooks/{endpoint.pk}/rotate-secret/")
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.secret in response.content.decode()
    admin_page.post(f"/settings/webhooks/{endpoint.pk}/disable/")
    endpoint.refresh_from_db()
    assert not endpoint.is_enabled
    admin_page.post(f"/settings/webhooks/{endpoint.pk}/enable/")
    endpoint.refresh_from_db()
    assert endpoint.is_enabled
    assert admin_page.post(f"/settings/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()


def test_redeliver_from_the_page_and_the_api_sends_the_same_webhook_id(
    admin_page, admin, api_for, queue, receiver
):
    endpoint = _endpoint(receiver, admin)
    make_customer(admin)
    run_worker(queue)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED

    response = admin_page.post(f"/settings/webhooks/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 302 and response.url == f"/settings/webhooks/{endpoint.pk}/"
    run_worker(queue)
    response = _post(api_for(admin), f"/api/webhooks/deliveries/{delivery.pk}/redeliver")
    assert response.status_code == 200 and response.json()["status"] == "pending"
    run_worker(queue)

    assert [r.message_id for r in receiver.requests] == [delivery.message_id] * 3
    assert all(r.verified is not None for r in receiver.requests)
    delivery.refresh_from_db()
    assert delivery.attempts == 3 and delivery.status == DeliveryStatus.SUCCEEDED
    log = api_for(admin).get(f"/api/webhooks/endpoints/{endpoint.pk}/deliveries").json()
    assert [a["status_code"] for a in log["items"][0]["attempt_log"]] == [200, 200, 200]
    assert Event.objects.filter(name="webhook.delivery_redelivered").count() == 2


def test_redelivering_a_dead_delivery_makes_it_pending_again(admin, api_for, queue, receiver):
    _endpoint(receiver, admin)
    make_customer(admin)
    run_worker(queue)
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.DEAD, next_attempt_at=None)

    client = api_for(admin)
    assert (
        client.get(f"/api/webhooks/endpoints/{delivery.endpoint_id}/deliveries?status=dead").json()["count"]
        == 1
    )
    assert _post(client, f"/api/webhooks/deliveries/{delivery.pk}/redeliver").json()["status"] == "pending"
    run_worker(queue)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and len(receiver.requests) == 2


# --- API ----------------------------------------------------------------------------------------


def test_api_crud_enable_disable_rotate(admin, api_for, receiver):
    client = api_for(admin)
    response = _post(client, "/api/webhooks/endpoints",
                     {"name": "BI", "url": receiver.url, "event_types": ["deal.created"]})  # fmt: skip
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_") and created["secret_hint"].endswith(created["secret"][-4:])
    endpoint_url = f"/api/webhooks/endpoints/{created['id']}"
    shown = client.get(endpoint_url).json()
    assert "secret" not in shown and shown["event_types"] == ["deal.created"]
    assert [e["id"] for e in client.get("/api/webhooks/endpoints").json()] == [created["id"]]
    assert "customer.created" in client.get("/api/webhooks/event-types").json()

    patched = _patch(client, endpoint_url, {"event_types": [], "max_consecutive_failures": 3}).json()
    assert patched["event_types"] == [] and patched["max_consecutive_failures"] == 3
    assert _post(client, f"{endpoint_url}/disable").json()["is_enabled"] is False
    WebhookEndpoint.objects.filter(pk=created["id"]).update(consecutive_failures=2)
    enabled = _post(client, f"{endpoint_url}/enable").json()
    assert enabled["is_enabled"] is True and enabled["consecutive_failures"] == 0
    rotated = _post(client, f"{endpoint_url}/rotate-secret").json()
    assert rotated["secret"] != created["secret"]
    assert WebhookEndpoint.objects.get().secret == rotated["secret"]
    assert client.delete(endpoint_url).status_code == 204
    assert client.get(endpoint_url).status_code == 404
    assert not WebhookEndpoint.objects.exists()


def test_the_api_is_in_the_openapi_document(admin, api_for):
    paths = api_for(admin).get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/webhooks/endpoints",
        "/api/webhooks/endpoints/{endpoint_id}",
        "/api/webhooks/endpoints/{endpoint_id}/enable",
        "/api/webhooks/endpoints/{endpoint_id}/disable",
        "/api/webhooks/endpoints/{endpoint_id}/rotate-secret",
        "/api/webhooks/endpoints/{endpoint_id}/deliveries",
        "/api/webhooks/deliveries/{delivery_id}",
        "/api/webhooks/deliveries/{delivery_id}/redeliver",
    ):
        assert path in paths, path


# --- bad input ----------------------------------------------------------------------------------

BAD_URLS = ["ftp://example.com/hook", "javascript:alert(1)", "file:///etc/passwd", "example.com/hook", "",
            "http://example.com/\x00"]  # fmt: skip


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_url_that_is_not_http_is_refused_by_the_api_and_the_page(admin, admin_page, api_for, url):
    response = _post(api_for(admin), "/api/webhooks/endpoints", {"name": "X", "url": url})
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [["body", "url"]]
    message = response.json()["detail"][0]["msg"].lower()
    assert ("control characters" if "\x00" in url else "url") in message

    page = admin_page.post(
        "/settings/webhooks/new/", {"name": "X", "url": url, "max_consecutive_failures": "10"}
    )
    assert page.status_code == 422
    assert 'id="error-url"' in page.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_an_unknown_event_name_is_refused_by_the_api_and_the_page(admin, admin_page, api_for, receiver):
    body = {"name": "X", "url": receiver.url, "event_types": ["customer.created", "customer.exploded"]}
    response = _post(api_for(admin), "/api/webhooks/endpoints", body)
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "event_types"] and "customer.exploded" in detail["msg"]

    page = admin_page.post("/settings/webhooks/new/", {**body, "max_consecutive_failures": "10"})
    assert page.status_code == 422
    content = page.content.decode()
    assert 'id="error-event_types"' in content and "customer.exploded" in content
    assert not WebhookEndpoint.objects.exists()

    endpoint = _endpoint(receiver, admin)
    response = _patch(api_for(admin), f"/api/webhooks/endpoints/{endpoint.pk}",
                      {"url": "gopher://x", "max_consecutive_failures": 0})  # fmt: skip
    assert response.status_code == 422
    assert sorted(d["loc"][-1] for d in response.json()["detail"]) == ["max_consecutive_failures", "url"]
    endpoint.refresh_from_db()
    assert endpoint.url == receiver.url and endpoint.max_consecutive_failures == 10


def test_text_the_database_cannot_store_is_refused(admin, api_for, receiver):
    response = _post(api_for(admin), "/api/webhooks/endpoints",
                     {"name": "E\x00RP", "url": receiver.url, "description": "a\ud800"})  # fmt: skip
    assert response.status_code == 422
    assert sorted(d["loc"][-1] for d in response.json()["detail"]) == ["description", "name"]
    assert not WebhookEndpoint.objects.exists()
    endpoint = _endpoint(receiver, admin, event_types=[])
    with pytest.raises(ValidationError) as refused:
        actions.enqueue_delivery(endpoint, "x\ny", {"a": "\x00"}, idempotency_key=" ", actor=None)
    assert sorted(refused.value.message_dict) == ["data", "event_type", "idempotency_key"]
    assert not WebhookDelivery.objects.exists()


# --- permissions --------------------------------------------------------------------------------


def test_a_rep_gets_403_and_nothing_changes(org, admin, client, api_for, queue, receiver):
    endpoint = _endpoint(receiver, admin)
    make_customer(admin)
    run_worker(queue)
    delivery = WebhookDelivery.objects.get()
    rep = org.rep_e1
    client.force_login(rep)
    api = api_for(rep)
    before = (list(WebhookEndpoint.objects.values()), list(WebhookDelivery.objects.values()))
    audit_count, event_count = AuditEntry.objects.count(), Event.objects.count()

    assert 'href="/settings/webhooks/"' not in client.get("/today/").content.decode()
    for url in ("/settings/webhooks/", "/settings/webhooks/new/", f"/settings/webhooks/{endpoint.pk}/",
                f"/settings/webhooks/deliveries/{delivery.pk}/"):  # fmt: skip
        assert client.get(url).status_code == 403, url
    for url in ("/settings/webhooks/new/", f"/settings/webhooks/{endpoint.pk}/edit/",
                f"/settings/webhooks/{endpoint.pk}/disable/", f"/settings/webhooks/{endpoint.pk}/rotate-secret/",
                f"/settings/webhooks/{endpoint.pk}/delete/", f"/settings/webhooks/deliveries/{delivery.pk}/redeliver/"):  # fmt: skip
        assert client.post(url, {"name": "x", "url": "http://evil.example/"}).status_code == 403, url
    assert api.get("/api/webhooks/endpoints").status_code == 403
    assert api.get(f"/api/webhooks/deliveries/{delivery.pk}").status_code == 403
    assert (
        _post(api, "/api/webhooks/endpoints", {"name": "x", "url": "http://evil.example/"}).status_code == 403
    )
    assert (
        _patch(api, f"/api/webhooks/endpoints/{endpoint.pk}", {"url": "http://evil.example/"}).status_code
        == 403
    )
    assert _post(api, f"/api/webhooks/endpoints/{endpoint.pk}/rotate-secret").status_code == 403
    assert _post(api, f"/api/webhooks/endpoints/{endpoint.pk}/disable").status_code == 403
    assert _post(api, f"/api/webhooks/deliveries/{delivery.pk}/redeliver").status_code == 403
    assert api.delete(f"/api/webhooks/endpoints/{endpoint.pk}").status_code == 403
    with pytest.raises(PermissionDenied):
        actions.enqueue_delivery(endpoint, "x.y", {}, idempotency_key="k", actor=rep)

    run_worker(queue)
    assert (list(WebhookEndpoint.objects.values()), list(WebhookDelivery.objects.values())) == before
    assert (AuditEntry.objects.count(), Event.objects.count()) == (audit_count, event_count)
    assert len(receiver.requests) == 1


def test_the_pages_speak_chinese_by_default(admin, receiver):
    from django.test import Client

    endpoint = _endpoint(receiver, admin)
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(admin)
    assert "出站 Webhook" in client.get("/settings/webhooks/").content.decode()
    page = client.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert "轮换密钥" in page and "连续失败次数" in page
    response = client.post(
        "/settings/webhooks/new/", {"name": "X", "url": "ftp://x", "max_consecutive_failures": "3"}
    )
    assert "网址必须以 http:// 或 https:// 开头。" in response.content.decode()
