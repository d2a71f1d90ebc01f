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
    from guanxi.engagement import pool as pool_actions

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
