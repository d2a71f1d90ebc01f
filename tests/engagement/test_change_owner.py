"""One writer of ownership (customers.ownership.change_owner): every path that changes a customer's
owner gives the same result — owner, owned_since, pool, exactly one ownership-history row, one audit
entry and one `customer.assigned` event per customer — and taking a pool customer by any path is a
claim under the pool's rules."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from guanxi.core.actions import create_api_token
from guanxi.core.models import AuditEntry, Event
from guanxi.customers.models import Customer
from guanxi.engagement.models import OwnershipChange, OwnershipReason, Pool
from tests.factories import make_customer, make_user


def _api(user) -> Client:
    _token, secret = create_api_token(user, "test", actor=None)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")


def _patch(client, customer_id: int, body: dict):
    return client.patch(f"/api/customers/{customer_id}", json.dumps(body), content_type="application/json")


def _pool_customer(pool: Pool, name: str) -> Customer:
    customer = make_customer(None, name=name)
    Customer.objects.filter(pk=customer.pk).update(pool=pool)  # test setup: it sits in the pool
    return customer


@pytest.fixture
def east_pool(org):
    pool = Pool.objects.create(name="华东公海", claim_limit=2, cooldown_days=7)
    pool.departments.add(org.east)
    Pool.objects.create(name="公共公海", is_default=True)
    return pool


@pytest.fixture
def steward(org, roles):
    """May edit every customer (data scope: all) but may not assign owners."""
    return make_user("steward_e", role=roles["data_steward"], department=org.east)


@pytest.mark.django_db
def test_patch_owner_id_on_pool_customers_is_a_claim_with_the_pools_limit_cooldown_and_history(
    org, east_pool, steward
):
    """Section 8 hole: PATCH {"owner_id": me} by a user who may edit but not assign took pool
    customers past the claim limit and the cooldown, without ownership history."""
    api = _api(steward)
    ids = [_pool_customer(east_pool, f"池客户{i}").pk for i in range(3)]
    for customer_id in ids[:2]:
        response = _patch(api, customer_id, {"owner_id": steward.pk})
        assert response.status_code == 200, response.content
        customer = Customer.objects.get(pk=customer_id)
        assert (customer.owner_id, customer.pool_id) == (steward.pk, None)
        assert customer.owned_since is not None
        change = OwnershipChange.objects.get(customer_id=customer_id)
        assert (change.reason, change.pool_id, change.to_user_id) == (
            OwnershipReason.CLAIMED, east_pool.pk, steward.pk,
        )  # fmt: skip
    response = _patch(api, ids[2], {"owner_id": steward.pk})  # over the pool's claim limit of 2
    assert response.status_code == 422, response.content
    assert "claim limit" in response.content.decode()
    assert Customer.objects.get(pk=ids[2]).owner_id is None
    assert not OwnershipChange.objects.filter(customer_id=ids[2]).exists()


@pytest.mark.django_db
def test_patch_cannot_retake_a_customer_one_just_released(org, east_pool, steward):
    from guanxi.engagement.actions import pool as pool_actions

    customer = make_customer(steward, name="刚放弃的客户")
    pool_actions.release(customer.pk, actor=steward)
    response = _patch(_api(steward), customer.pk, {"owner_id": steward.pk})
    assert response.status_code == 422, response.content
    assert "claim it again" in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).owner_id is None


@pytest.mark.django_db
def test_patch_owner_change_keeps_owned_since_history_and_emits_customer_assigned(org):
    """update_customer changing the owner used to leave owned_since, the history and the event out."""
    customer = org.customers["c_e1"]
    before = timezone.now() - dt.timedelta(seconds=1)
    response = _patch(_api(org.manager_e), customer.pk, {"owner_id": org.rep_e2.pk})
    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert customer.owner_id == org.rep_e2.pk and customer.owned_since >= before
    change = OwnershipChange.objects.get(customer=customer)
    assert (change.from_user_id, change.to_user_id, change.actor_id) == (
        org.rep_e1.pk, org.rep_e2.pk, org.manager_e.pk,
    )  # fmt: skip
    event = Event.objects.get(name="customer.assigned", object_id=customer.pk)
    assert event.payload["from_owner_id"] == org.rep_e1.pk and event.payload["to_owner_id"] == org.rep_e2.pk
    assert AuditEntry.objects.filter(object_id=customer.pk, after__owner_id=org.rep_e2.pk).count() == 1


# --------------------------------------------------------------------------- every path, one result


def _browser(user) -> Client:
    from tests.factories import PASSWORD

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _edit_form(org, customer, to_user):
    client = _browser(org.manager_e)
    form = client.get(f"/customers/{customer.pk}/edit/").context["form"]
    data = {}
    for field in (f for section in form.layout_sections for f in section["fields"]):
        value = field.value()
        data[field.name] = (
            "" if value is None else value.isoformat() if hasattr(value, "isoformat") else value
        )
    data["owner"] = str(to_user.pk)
    assert client.post(f"/customers/{customer.pk}/edit/", data).status_code == 302


def _api_patch(org, customer, to_user):
    assert _patch(_api(org.manager_e), customer.pk, {"owner_id": to_user.pk}).status_code == 200


def _transfer(org, customer, to_user):
    from guanxi.engagement.actions import handover as handover_actions

    assert handover_actions.transfer_customers([customer.pk], to_user.pk, actor=org.manager_e) == 1


def _transfer_page(org, customer, to_user):
    response = _browser(org.manager_e).post(
        "/assignment/transfer/", {"customer_ids": [customer.pk], "to_user": to_user.pk}
    )
    assert response.status_code in (200, 302), response.content


def _handover(org, customer, to_user):
    from guanxi.engagement.actions import handover as handover_actions

    handover_actions.handover(customer.owner_id, to_user.pk, actor=org.manager_e)


OWNED_PATHS = {
    "edit form": (_edit_form, OwnershipReason.CHANGED),
    "API PATCH": (_api_patch, OwnershipReason.CHANGED),
    "bulk transfer": (_transfer, OwnershipReason.TRANSFER),
    "transfer page": (_transfer_page, OwnershipReason.TRANSFER),
    "handover": (_handover, OwnershipReason.HANDOVER),
}


def _assert_one_owner_change(customer_id, *, to_user, from_user, reason, pool_id=None, since=None):
    """The result every owner-changing path must give (issue 9, acceptance 2)."""
    customer = Customer.objects.get(pk=customer_id)
    assert customer.owner_id == (to_user.pk if to_user else None)
    if to_user is None:
        assert customer.owned_since is None and customer.pool_id == pool_id
    else:
        assert customer.owned_since >= since and customer.pool_id is None
    change = OwnershipChange.objects.get(customer_id=customer_id)  # exactly one history row
    assert (change.from_user_id, change.to_user_id, change.reason) == (
        from_user.pk if from_user else None, to_user.pk if to_user else None, reason,
    )  # fmt: skip
    entries = AuditEntry.objects.filter(
        content_type__model="customer", object_id=customer_id, action="update", after__has_key="owner_id"
    )
    assert entries.count() == 1
    assert entries.get().after["owner_id"] == (to_user.pk if to_user else None)
    event = Event.objects.get(name="customer.assigned", object_id=customer_id)  # exactly one
    assert event.payload == {
        "from_owner_id": from_user.pk if from_user else None,
        "to_owner_id": to_user.pk if to_user else None,
        "reason": reason,
        "pool_id": change.pool_id,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", list(OWNED_PATHS))
def test_every_path_changing_an_owned_customer_gives_the_same_result(org, path):
    change, reason = OWNED_PATHS[path]
    customer = org.customers["c_e1"]
    since = timezone.now() - dt.timedelta(seconds=1)
    change(org, customer, org.rep_e2)
    _assert_one_owner_change(
        customer.pk, to_user=org.rep_e2, from_user=org.rep_e1, reason=reason, since=since
    )


def _claim_button(org, customer, user):
    assert _browser(user).post(f"/pools/claim/{customer.pk}/").status_code in (200, 302)


def _claim_action(org, customer, user):
    from guanxi.engagement.actions import pool as pool_actions

    pool_actions.claim(customer.pk, actor=user)


def _claim_by_patch(org, customer, user):
    assert _patch(_api(user), customer.pk, {"owner_id": user.pk}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("take", [_claim_button, _claim_action, _claim_by_patch])
def test_every_path_taking_a_pool_customer_is_the_same_claim(org, east_pool, steward, take):
    customer = _pool_customer(east_pool, "公海客户")
    since = timezone.now() - dt.timedelta(seconds=1)
    take(org, customer, steward)
    _assert_one_owner_change(
        customer.pk, to_user=steward, from_user=None, reason=OwnershipReason.CLAIMED, since=since
    )
    assert OwnershipChange.objects.get(customer=customer).pool_id == east_pool.pk


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["release", "release page", "reclaim sweep"])
def test_every_path_returning_a_customer_to_the_pool_gives_the_same_result(org, east_pool, path):
    from guanxi.engagement.actions import pool as pool_actions
    from guanxi.engagement.actions import reclaim

    customer = make_customer(org.rep_e1, name="要回公海的客户")
    if path == "release":
        pool_actions.release(customer.pk, actor=org.rep_e1)
        reason = OwnershipReason.RELEASED
    elif path == "release page":
        assert _browser(org.rep_e1).post(f"/pools/release/{customer.pk}/", {"reason": ""}).status_code in (
            200,
            302,
        )
        reason = OwnershipReason.RELEASED
    else:
        Customer.objects.exclude(pk=customer.pk).update(locked=True)  # test set-up: only this one is due
        reclaim.reclaim_sweep(now=timezone.now() + dt.timedelta(days=east_pool.no_follow_up_days + 1))
        reason = OwnershipReason.RECLAIMED
    _assert_one_owner_change(
        customer.pk, to_user=None, from_user=org.rep_e1, reason=reason, pool_id=east_pool.pk
    )


@pytest.mark.django_db
def test_lead_assignment_gives_the_same_result(org):
    from guanxi.engagement.actions import assignment
    from guanxi.engagement.models import AssignmentRule

    rule = AssignmentRule.objects.create(name="全部线索")
    rule.members.add(org.rep_e2)
    lead = make_customer(None, name="新线索")
    since = timezone.now() - dt.timedelta(seconds=1)
    assignment.assign_lead(lead.pk, actor=None)
    _assert_one_owner_change(
        lead.pk, to_user=org.rep_e2, from_user=None, reason=OwnershipReason.ASSIGNED, since=since
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["action", "API", "import"])
def test_creation_with_an_owner_sets_owned_since_without_a_history_row(org, path):
    """Creating is not an owner change: owned_since = the creation time, no ownership history and no
    customer.assigned event (the creation's audit entry and customer.created carry the owner)."""
    since = timezone.now() - dt.timedelta(seconds=1)
    if path == "action":
        customer_id = make_customer(org.director, name="新建客户").pk
    elif path == "API":
        response = _api(org.director).post(
            "/api/customers", json.dumps({"name": "接口客户"}), content_type="application/json"
        )
        assert response.status_code == 201, response.content
        customer_id = response.json()["id"]
    else:
        from guanxi.customers import importing

        data = "name,phone\n导入客户,13911112222\n".encode()
        job = importing.stage_import("a.csv", data, actor=org.director, options={"language": "en"})
        importing.confirm_import(job.pk, actor=org.director, mapping=job.mapping, enqueue=False)
        importing.run_import(job.pk, actor=org.director)
        customer_id = Customer.objects.get(name="导入客户").pk
    customer = Customer.objects.get(pk=customer_id)
    assert customer.owner_id == org.director.pk and customer.owned_since >= since and customer.pool_id is None
    assert not OwnershipChange.objects.filter(customer_id=customer_id).exists()
    assert not Event.objects.filter(name="customer.assigned", object_id=customer_id).exists()


@pytest.mark.django_db(transaction=True)
def test_a_customer_taken_from_the_pool_by_patch_gets_the_cadence_through_the_real_queue(org, queue):
    """customer.assigned (replacing customer.claimed) is what the cadence subscriber listens to: the
    new owner gets the first step as a task, whichever path gave them the customer. The events of one
    change_owner call reach the worker as one queue message."""
    from guanxi.engagement.models import Cadence, CadenceEnrollment, CadenceStep, Task
    from tests.conftest import drain

    pool = Pool.objects.create(name="公共公海", is_default=True)
    cadence = Cadence.objects.create(name="公海回访")
    CadenceStep.objects.create(cadence=cadence, position=0, offset_hours=1, kind="call", title="认领后回访")
    customer = _pool_customer(pool, "待认领")
    drain(queue)  # the creation's own event (no owner: no cadence)
    assert not CadenceEnrollment.objects.filter(customer=customer).exists()
    response = _patch(_api(org.admin), customer.pk, {"owner_id": org.admin.pk})
    assert response.status_code == 200, response.content
    assert len(queue) == 1
    drain(queue)
    assert CadenceEnrollment.objects.filter(customer=customer, cadence=cadence).count() == 1
    assert Task.objects.get(customer=customer, title="认领后回访").owner == org.admin
    assert Event.objects.get(name="customer.assigned", object_id=customer.pk).processed_at is not None


def _side_rows(customer_id: int) -> dict:
    """What one move to the pool wrote about a customer, without ids and clocks."""
    customer = Customer.objects.get(pk=customer_id)
    change = OwnershipChange.objects.get(customer_id=customer_id)
    entry = AuditEntry.objects.get(
        content_type__model="customer", object_id=customer_id, before__has_key="owner_id"
    )
    event = Event.objects.get(name="customer.assigned", object_id=customer_id)
    return {
        "customer": (customer.owner_id, customer.owned_since, customer.pool_id),
        "history": (change.from_user_id, change.to_user_id, change.pool_id, change.reason, change.actor_id),
        "audit": (entry.actor_id, entry.actor_label, entry.request_id, entry.action, entry.object_repr,
                  entry.before, entry.after),
        "event": (event.payload, event.actor_id, event.causation_id, event.depth, event.attempts,
                  event.content_type_id),
    }  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_postgresql_statement_path_writes_what_the_general_path_writes(org, east_pool, queue):
    """On PostgreSQL, the system moving a queryset to a pool (the reclaim sweep) is one statement of
    data-modifying CTEs (`ownership._to_pool_postgresql`). It must write exactly the rows the general
    path writes for the same move, and its events must reach the worker after commit."""
    from django.db import connection, transaction

    from guanxi.customers import ownership
    from tests.conftest import drain

    if connection.vendor != "postgresql":
        pytest.skip("the statement path exists on PostgreSQL only; the PostgreSQL pass runs this test")
    drain(queue)
    by_statement = make_customer(org.rep_e1, name="语句路径客户")
    by_rows = make_customer(org.rep_e1, name="语句路径客户")
    drain(queue)
    Customer.objects.filter(pk__in=[by_statement.pk, by_rows.pk]).update(pool=None)
    now = timezone.now()
    note = {"note": "超过30天未跟进"}
    with transaction.atomic():
        moved = ownership.change_owner(
            Customer.objects.filter(pk=by_statement.pk), None, reason=OwnershipReason.RECLAIMED,
            actor=None, now=now, pool_id=east_pool.pk, skip_locked=True, check_permission=False,
            audit_note=note,
        )  # fmt: skip
        assert [
            (m.customer_id, m.from_owner_id, m.to_pool_id, m.involved_pool_id, m.reason) for m in moved
        ] == [(by_statement.pk, org.rep_e1.pk, east_pool.pk, east_pool.pk, OwnershipReason.RECLAIMED)]
        assert len(queue) == 0  # enqueued only after commit
    assert len(queue) == 1
    ownership.change_owner(
        [by_rows.pk], None, reason=OwnershipReason.RECLAIMED, actor=None, now=now, pool_id=east_pool.pk,
        check_permission=False, audit_note=note,
    )  # fmt: skip
    assert _side_rows(by_statement.pk) == _side_rows(by_rows.pk)
    assert Customer.objects.get(pk=by_statement.pk).updated_at == now
    drain(queue)
    assert Event.objects.get(name="customer.assigned", object_id=by_statement.pk).processed_at is not None
    # Moving it again changes nothing: it is already unowned in that pool.
    again = ownership.change_owner(
        Customer.objects.filter(pk=by_statement.pk), None, reason=OwnershipReason.RECLAIMED, actor=None,
        pool_id=east_pool.pk, check_permission=False,
    )  # fmt: skip
    assert again == [] and OwnershipChange.objects.filter(customer_id=by_statement.pk).count() == 1
