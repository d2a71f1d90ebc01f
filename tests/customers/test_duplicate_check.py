"""Duplicate check at creation (查重 / 撞单), the block / warn / merge policy, ingestion and API upsert."""

from __future__ import annotations

import pytest
from django.test import Client

from guanxi.core import settings_store
from guanxi.core.actions import create_api_token
from guanxi.core.models import AuditEntry, Event
from guanxi.customers import actions
from guanxi.customers.identity import DuplicateFound
from guanxi.customers.models import ContactPoint, Customer
from tests.factories import PASSWORD, make_customer

pytestmark = pytest.mark.django_db


def _counts():
    return (
        Customer.objects.count(),
        ContactPoint.objects.count(),
        AuditEntry.objects.count(),
        Event.objects.count(),
    )


@pytest.fixture
def api(org):
    _token, secret = create_api_token(org.rep_e1, "t", actor=None)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def page(org):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=org.rep_e1.username, password=PASSWORD)
    return client


def _form(**data):
    return {"kind": "person", "source": "manual", "lifecycle_stage": "potential", **data}


# c_s1 belongs to rep_s1 (South); rep_e1 (East, scope "own") cannot see it.
def test_api_warns_with_the_owner_of_an_invisible_duplicate(org, api):
    before = _counts()
    response = api.post("/api/customers", {"name": "另一个人", "phone": "+86 138-0000-0003"},
                        content_type="application/json")  # fmt: skip
    assert response.status_code == 409
    body = response.json()
    assert body["can_confirm"] is True and body["policy"] == "warn"
    [dup] = body["duplicates"]
    assert dup["owner_name"] == str(org.rep_s1) and dup["matched_on"] == "phone" and dup["exact"]
    assert dup["visible"] is False and dup["customer_id"] is None and dup["name"] == ""  # nothing leaks
    assert str(org.rep_s1) in dup["message"]
    assert _counts() == before
    # Confirmed: created (warn policy).
    response = api.post("/api/customers?confirm_duplicate=true", {"name": "另一个人", "phone": "13800000003"},
                        content_type="application/json")  # fmt: skip
    assert response.status_code == 201


def test_page_warns_with_the_owner_and_creates_only_when_confirmed(org, page):
    before = _counts()
    response = page.post("/customers/new/", _form(name="另一个人", phone="13800000003", owner=org.rep_e1.pk))
    html = response.content.decode()
    assert response.status_code == 200 and 'id="duplicate-warning"' in html
    assert str(org.rep_s1) in html and "客户丙" not in html
    assert _counts() == before
    response = page.post(
        "/customers/new/",
        _form(name="另一个人", phone="13800000003", owner=org.rep_e1.pk, confirm_duplicate="on"),
    )
    assert response.status_code == 302
    assert Customer.objects.filter(name="另一个人").count() == 1


def test_public_pool_duplicate_is_named_as_such(org, api):
    response = api.post(
        "/api/customers", {"name": "某人", "phone": "13800000007"}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["duplicates"][0]["owner_name"] == ""
    assert "public pool" in response.json()["duplicates"][0]["message"]


def test_block_policy_cannot_be_confirmed(org, api, page):
    settings_store.put("customers.duplicate_policy", "block", actor=None)
    before = _counts()
    response = api.post("/api/customers?confirm_duplicate=true", {"name": "另一个人", "email": "x@y.cn",
                        "phone": "13800000003"}, content_type="application/json")  # fmt: skip
    assert response.status_code == 409 and response.json()["can_confirm"] is False
    response = page.post(
        "/customers/new/",
        _form(name="另一个人", phone="13800000003", owner=org.rep_e1.pk, confirm_duplicate="on"),
    )
    assert "confirm_duplicate" not in response.content.decode()  # no checkbox offered
    assert _counts() == before


def test_merge_policy_attaches_to_the_existing_customer(org):
    settings_store.put("customers.duplicate_policy", "merge", actor=None)
    existing = org.customers["c_e1"]
    result = actions.create_customer(
        {"name": "客户甲", "phone": "138 0000 0001", "email": "jia@example.com", "city": "上海"},
        actor=org.rep_e1,
    )
    assert result.pk == existing.pk
    assert Customer.objects.filter(name="客户甲").count() == 1
    existing.refresh_from_db()
    assert existing.city == "上海"
    assert set(existing.contact_points.values_list("kind", flat=True)) == {"phone", "email"}
    assert existing.field_sources["city"]["channel"] == "manual"


def test_fuzzy_name_match_in_same_city_warns(org):
    make_customer(org.rep_s1, name="張偉", city="杭州")
    with pytest.raises(DuplicateFound) as exc:
        actions.create_customer({"name": "张伟先生", "city": "杭州"}, actor=org.rep_e1)
    [match] = exc.value.matches
    assert match.matched_on == "name" and not match.exact and match.score >= 0.85
    # Same name in another city is a different person.
    actions.create_customer({"name": "张伟", "city": "广州"}, actor=org.rep_e1)


def test_editing_into_someone_elses_phone_warns(org):
    with pytest.raises(DuplicateFound):
        actions.update_customer(org.customers["c_e1"].pk, {"phone": "13800000003"}, actor=org.rep_e1)
    # Re-saving one's own phone is not a duplicate.
    actions.update_customer(
        org.customers["c_e1"].pk, {"phone": "13800000001", "city": "苏州"}, actor=org.rep_e1
    )


def test_ingest_is_idempotent_and_attaches_by_strongest_identifier(org):
    data = {"name": "王五", "phone": "13911112222", "email": "wang5@example.com", "city": "南京"}
    c1, outcome1 = actions.ingest_customer(data, actor=None, channel="website", external_ref="F-1")
    c2, outcome2 = actions.ingest_customer(data, actor=None, channel="website", external_ref="F-1")
    assert (outcome1, outcome2) == ("created", "unchanged") and c1.pk == c2.pk
    # Another channel with only the email attaches to the same customer and adds its WeChat unionid.
    c3, outcome3 = actions.ingest_customer(
        {
            "email": "WANG5@example.com ",
            "contact_points": [{"kind": "wechat_unionid", "value": "oUnion123456"}],
        },
        actor=None,
        channel="mini_program",
    )
    assert c3.pk == c1.pk and outcome3 == "updated"
    kinds = set(c1.contact_points.values_list("kind", flat=True))
    assert kinds == {"phone", "email", "external_id", "wechat_unionid"}
    assert Customer.objects.filter(name="王五").count() == 1


def test_ingest_never_touches_a_record_the_actor_cannot_see(org):
    before = Customer.objects.filter(pk=org.customers["c_s1"].pk).values().get()
    with pytest.raises(DuplicateFound) as exc:
        actions.ingest_customer({"phone": "13800000003", "city": "成都"}, actor=org.rep_e1, channel="import")
    assert exc.value.matches[0].owner_name == str(org.rep_s1)
    assert Customer.objects.filter(pk=org.customers["c_s1"].pk).values().get() == before


def test_api_upsert_by_identifier(org):
    _token, secret = create_api_token(org.admin, "t", actor=None)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    url = "/api/customers/by-identifier/external_id/SHOP-77"
    body = {"name": "赵六", "phone": "13722223333", "source": "ecommerce"}
    first = client.put(url, body, content_type="application/json")
    second = client.put(url, body, content_type="application/json")
    assert first.status_code == 201 and first.json()["outcome"] == "created"
    assert second.status_code == 200 and second.json()["outcome"] == "unchanged"
    third = client.put("/api/customers/by-identifier/phone/137 2222 3333", {"city": "厦门"},
                       content_type="application/json")  # fmt: skip
    assert third.status_code == 200 and third.json()["outcome"] == "updated"
    assert third.json()["customer"]["id"] == first.json()["customer"]["id"]
    assert third.json()["customer"]["city"] == "厦门"
    assert (
        client.put(
            "/api/customers/by-identifier/shoe-size/42", {}, content_type="application/json"
        ).status_code
        == 422
    )
