"""Lookup oracles on masked values (issue 9, section 8).

- A rep who sees `158****6108` must not be able to confirm a guessed digit by searching (the
  last-digits or full-number search on the customer list, the API and the public pool).
- Filters and sorts on a phone-type custom field (filter builder, saved views, the API `filters=`)
  are refused for users who may not reveal it, with a clear message, not answered.
"""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from guanxi.core.models import Role
from guanxi.core.permissions import Perm
from guanxi.customers import actions, queries
from guanxi.customers.models import Customer
from guanxi.customization import actions as customization
from guanxi.engagement.models import Pool
from tests.factories import make_user, masked_phone_team

pytestmark = pytest.mark.django_db

PHONE = "15812346108"
CUSTOM_PHONE = "13987654321"


@pytest.fixture
def world(roles):
    team = masked_phone_team(roles)
    east, admin, owner, rep = team.department, team.admin, team.owner, team.rep
    customer = actions.create_customer(
        {
            "name": "王敏",
            "owner_id": owner.pk,
            "phone": PHONE,
            "custom_fields": {"backup_phone": CUSTOM_PHONE},
        },
        actor=owner,
    )
    pool = Pool.objects.create(name="华东公海")
    pool.departments.add(east)
    pooled = actions.create_customer(
        {"name": "赵云", "owner_id": None, "phone": "15912346109"}, actor=None, confirm_duplicate=True
    )
    Customer.objects.filter(pk=pooled.pk).update(pool=pool)
    return {"admin": admin, "owner": owner, "rep": rep, "customer": customer, "pool": pool, "pooled": pooled}


def client_for(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def _names(user, q: str) -> set[str]:
    return set(queries.customer_list(user, queries.CustomerFilters(q=q)).values_list("name", flat=True))


def test_guessing_the_hidden_digits_by_searching_confirms_nothing(world):
    rep, client = world["rep"], client_for(world["rep"])
    assert _names(rep, "王敏") == {"王敏"}  # the rep may see the customer (department scope)
    for digit in "0123456789":
        for guess in (f"{digit}6108", f"158123{digit}6108", f"+86 158 123{digit} 6108"):
            assert _names(rep, guess) == set(), guess
            page = client.get(reverse("customers:list"), {"q": guess}).content.decode()
            assert "王敏" not in page, guess
            api = client.get("/api/customers", {"q": guess}).json()
            assert api["count"] == 0, guess
    # The owner (and holders of view_sensitive) still find it by any part of the number.
    assert _names(world["owner"], "46108") == {"王敏"} and _names(world["owner"], PHONE) == {"王敏"}
    assert _names(world["admin"], "6108") == {"王敏"}


def test_the_pool_search_does_not_confirm_digits_of_a_masked_number(world):
    client, pool = client_for(world["rep"]), world["pool"]
    page = client.get(reverse("pool:index"), {"pool": pool.pk, "q": "赵云"}).content.decode()
    assert "赵云" in page  # the rep may claim from this pool and sees the customer
    for digit in "0123456789":
        page = client.get(reverse("pool:index"), {"pool": pool.pk, "q": f"{digit}6109"}).content.decode()
        assert "赵云" not in page, digit
    # A pool member who may see phones in full finds the customer by its last digits.
    role = world["rep"].role
    lead_role = Role.objects.create(code="lead", name="Lead", data_scope=role.data_scope,
                                    permissions=[*role.permissions, Perm.CUSTOMER_VIEW_SENSITIVE])  # fmt: skip
    lead = make_user("lead", role=lead_role, department=world["rep"].department)
    lead_page = client_for(lead).get(reverse("pool:index"), {"pool": pool.pk, "q": "46109"})
    assert "赵云" in lead_page.content.decode()


def _api_filter(client, conditions, **params):
    return client.get("/api/customers", {"filters": json.dumps(conditions), **params})


def test_api_filters_and_sort_on_a_masked_custom_phone_are_refused_with_422(world):
    client = client_for(world["rep"])
    for op, value in (("eq", CUSTOM_PHONE), ("contains", "4321"), ("starts", "139"), ("ne", CUSTOM_PHONE)):
        response = _api_filter(client, [{"field": "cf.backup_phone", "op": op, "value": value}])
        assert response.status_code == 422, op
        assert "masked" in json.dumps(response.json()), op
    assert client.get("/api/customers", {"sort": "cf.backup_phone"}).status_code == 422
    # Whether it is filled in is visible anyway (the mask shows it): that filter stays allowed.
    response = _api_filter(client, [{"field": "cf.backup_phone", "op": "not_empty"}])
    assert response.status_code == 200 and response.json()["count"] == 1
    # A user who may reveal the value filters on it as before.
    admin = client_for(world["admin"])
    response = _api_filter(admin, [{"field": "cf.backup_phone", "op": "contains", "value": "4321"}])
    assert response.status_code == 200 and response.json()["count"] == 1


def test_the_filter_builder_and_saved_views_refuse_a_masked_custom_phone(world):
    rep, client = world["rep"], client_for(world["rep"])
    page = client.get(
        reverse("customers:list"),
        {"fb": "1", "f_field": "cf.backup_phone", "f_op": "contains", "f_value": "4321"},
    ).content.decode()
    assert "masked for you" in page and "王敏" in page  # the condition is dropped, with its message
    # Saving a view with such a filter is refused (form error / 422), also through the API.
    with pytest.raises(ValidationError) as excinfo:
        customization.save_view(
            "customer",
            {"name": "guess", "filters": [{"field": "cf.backup_phone", "op": "eq", "value": CUSTOM_PHONE}]},
            actor=rep,
        )
    assert "masked" in str(excinfo.value)
    response = client.post(
        "/api/views",
        json.dumps({"object_type": "customer", "name": "guess",
                    "filters": [{"field": "cf.backup_phone", "op": "eq", "value": CUSTOM_PHONE}]}),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 422 and "masked" in response.content.decode()
    # A view shared by someone who may use the filter does not answer it for the rep either.
    shared = customization.save_view(
        "customer",
        {"name": "everyone", "visibility": "everyone",
         "filters": [{"field": "cf.backup_phone", "op": "eq", "value": "13900000000"}]},
        actor=world["admin"],
    )  # fmt: skip
    response = client.get("/api/customers", {"view": shared.pk})
    assert response.status_code == 422
    page = client.get(reverse("customers:list"), {"view": shared.pk}).content.decode()
    assert "masked for you" in page
