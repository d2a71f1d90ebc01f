"""Acceptance 4: create / update (two fields) / delete through page, API and action each write exactly
the expected audit entries and one domain event; the worker gets events after commit, never on rollback."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from guanxi.core import sensitive
from guanxi.core.actions import create_api_token
from guanxi.core.events import subscribe
from guanxi.core.models import AuditEntry, Event
from guanxi.customers import actions
from guanxi.customers.models import Customer
from guanxi.customization.models import FieldType
from tests.conftest import drain
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def rep(org):
    return org.manager_e  # may create, change and assign; cannot delete


@pytest.fixture
def director(org):
    return org.director  # may also delete


def _audit(customer_id):
    return list(
        AuditEntry.objects.filter(object_id=customer_id, content_type__model="customer").order_by("id")
    )


def _events(customer_id):
    return list(Event.objects.filter(object_id=customer_id, name__startswith="customer.").order_by("id"))


def _via_action(actor):
    def create(data):
        return actions.create_customer(data, actor=actor).pk

    def update(pk, data):
        actions.update_customer(pk, data, actor=actor)

    def delete(pk):
        actions.delete_customer(pk, actor=actor)

    return create, update, delete


def _via_api(actor):
    _token, secret = create_api_token(actor, "audit", actor=None)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def create(data):
        response = client.post("/api/customers", data, content_type="application/json")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    def update(pk, data):
        response = client.patch(f"/api/customers/{pk}", data, content_type="application/json")
        assert response.status_code == 200, response.content

    def delete(pk):
        assert client.delete(f"/api/customers/{pk}").status_code == 204

    return create, update, delete


def _via_page(actor):
    client = Client()
    assert client.login(username=actor.username, password=PASSWORD)
    base = {"kind": "person", "source": "manual", "lifecycle_stage": "potential", "gender": "", "tier": ""}

    def create(data):
        response = client.post("/customers/new/", {**base, "owner": actor.pk, **data})
        assert response.status_code == 302, response.content.decode()[:2000]
        return int(response["Location"].rstrip("/").rsplit("/", 1)[-1])

    def update(pk, data):
        customer = Customer.objects.get(pk=pk)
        form = {**base, "name": customer.name, "city": customer.city, "phone": "13912345678",
                "owner": customer.owner_id or "", **data}  # fmt: skip
        response = client.post(f"/customers/{pk}/edit/", form)
        assert response.status_code == 302, response.content.decode()[:3000]

    def delete(pk):
        assert client.post(f"/customers/{pk}/delete/").status_code == 302

    return create, update, delete


@pytest.mark.parametrize("path", [_via_action, _via_api, _via_page], ids=["action", "api", "page"])
def test_create_update_delete_audit_and_events(org, director, queue, path):
    create, update, delete = path(director)
    handled = []
    subscribe("customer.created", "customer.updated", "customer.deleted")(lambda e: handled.append(e.name))
    drain(queue)  # org set-up events
    handled.clear()

    pk = create({"name": "王小明", "phone": "13912345678", "city": "杭州"})
    entries = _audit(pk)
    assert [e.action for e in entries] == ["create"]
    assert entries[0].after["name"] == "王小明"
    assert entries[0].after["city"] == "杭州"
    # Phones are stored protected (mask + keyed hash), never in clear (issue 9).
    assert entries[0].after["contact_points"] == [
        f"phone:{sensitive.protect(FieldType.PHONE, '+8613912345678')}"
    ]
    assert "13912345678" not in str(entries[0].after)
    assert entries[0].actor_id == director.pk and entries[0].request_id
    assert [e.name for e in _events(pk)] == ["customer.created"]

    update(pk, {"name": "王晓明", "city": "宁波"})
    entries = _audit(pk)
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].before == {"name": "王小明", "city": "杭州"}
    assert entries[1].after == {"name": "王晓明", "city": "宁波"}
    assert [e.name for e in _events(pk)] == ["customer.created", "customer.updated"]

    # A no-op update writes nothing.
    update(pk, {"name": "王晓明", "city": "宁波"})
    assert len(_audit(pk)) == 2 and len(_events(pk)) == 2

    delete(pk)
    entries = _audit(pk)
    assert [e.action for e in entries] == ["create", "update", "delete"]
    assert entries[2].before == {"deleted_at": None} and entries[2].after["deleted_at"]
    assert [e.name for e in _events(pk)] == ["customer.created", "customer.updated", "customer.deleted"]
    assert Customer.objects.get(pk=pk).deleted_at is not None  # soft delete: recoverable

    # The worker receives each event exactly once, after commit.
    results = drain(queue)
    assert handled == ["customer.created", "customer.updated", "customer.deleted"]
    assert results.count(True) >= 3
    assert all(e.processed_at for e in _events(pk))
    assert drain(queue) == []


def test_worker_never_sees_rolled_back_events(org, queue):
    drain(queue)
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.create_customer({"name": "回滚客户"}, actor=org.rep_e1)
        assert len(queue) == 0  # nothing is enqueued inside an open transaction
        raise RuntimeError("boom")
    assert not Customer.objects.filter(name="回滚客户").exists()
    assert not AuditEntry.objects.filter(object_repr="回滚客户").exists()
    assert len(queue) == 0 and drain(queue) == []

    actions.create_customer({"name": "提交客户"}, actor=org.rep_e1)
    assert len(queue) == 1
    assert drain(queue) == [True]


def test_outbox_relay_recovers_events_that_missed_the_queue(org, queue):
    from django.utils import timezone

    from guanxi.core import events

    drain(queue)
    customer = actions.create_customer({"name": "丢失事件"}, actor=org.rep_e1)
    queue.flush()  # the enqueue was lost (e.g. Redis restarted between commit and push)
    event = Event.objects.get(object_id=customer.pk, name="customer.created")
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - timezone.timedelta(minutes=5))
    assert events.relay_stale() >= 1
    drain(queue)
    event.refresh_from_db()
    assert event.processed_at is not None and event.attempts == 1
    # Processing is idempotent: a duplicate delivery does nothing.
    assert events.process(event.pk) is False


def test_audit_failure_rolls_back_the_write(org, monkeypatch):
    from guanxi.core import audit

    def broken(*args, **kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        actions.create_customer({"name": "无审计"}, actor=org.rep_e1)
    assert not Customer.objects.filter(name="无审计").exists()


def test_recycle_bin_restore_through_the_page(org, queue):
    from tests.factories import make_customer

    customer = make_customer(org.rep_e1, name="回收客户")
    client = Client()
    assert client.login(username=org.director.username, password=PASSWORD)
    assert client.post(f"/customers/{customer.pk}/delete/").status_code == 302
    assert client.get(f"/customers/{customer.pk}/").status_code == 404
    assert "回收客户" in client.get("/customers/recycle-bin/").content.decode()
    assert client.post(f"/customers/{customer.pk}/restore/").status_code == 302
    assert client.get(f"/customers/{customer.pk}/").status_code == 200
    assert [e.action for e in _audit(customer.pk)] == ["create", "delete", "restore"]
    assert [e.name for e in _events(customer.pk)][-1] == "customer.restored"
    # Reps may not delete, so they have no recycle bin.
    rep = Client()
    assert rep.login(username=org.rep_e1.username, password=PASSWORD)
    assert rep.get("/customers/recycle-bin/").status_code == 403
