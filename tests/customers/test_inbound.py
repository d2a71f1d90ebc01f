"""Inbound webhooks: signature, replay protection, idempotency, payload mapping and the identity pipeline.

Every call goes through the real URL with a raw body and headers (Django's test client), against the
real database; the threaded tests run real concurrent requests with one connection per thread.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from guanxi.core.models import AuditEntry, Event
from guanxi.customers import inbound
from guanxi.customers.admin import InboundSourceForm
from guanxi.customers.models import (
    Channel,
    ContactKind,
    ContactPoint,
    Customer,
    InboundDelivery,
    InboundKind,
    InboundSource,
)
from guanxi.sales.events import SalesEvent
from guanxi.sales.models import Order
from tests.factories import PASSWORD, make_user

WEB_FORM = {
    "name": "王小明",
    "phone": "138 1234 5678",
    "email": "Wang.XM@Example.com",
    "city": "杭州",
    "message": "想了解企业版报价",
}
ORDER = {
    "order_id": "T20261123001",
    "amount": "1299.50",
    "paid_at": "2026-11-20T10:15:00+08:00",
    "buyer": {"id": "buyer-778", "name": "李娜", "mobile": "+86 139-0000-1111"},
    "address": {"province": "浙江省", "city": "宁波", "detail": "海曙区中山西路 1 号"},
}


def make_source(kind: str = InboundKind.WEB_FORM, slug: str = "site", **kwargs) -> InboundSource:
    return InboundSource.objects.create(
        slug=slug, name=slug.title(), kind=kind, secret=inbound.generate_secret(), **kwargs
    )


def deliver(
    source: InboundSource,
    payload=None,
    *,
    key: str | None = "evt-1",
    raw: bytes | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
    headers: dict | None = None,
    client: Client | None = None,
    path: str | None = None,
):
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    sent = inbound.signed_headers(secret or source.secret, body, timestamp=timestamp)
    if key is not None:
        sent[inbound.IDEMPOTENCY_HEADER] = key
    sent.update(headers or {})
    return (client or Client(HTTP_ACCEPT_LANGUAGE="en")).post(
        path or f"/inbound/{source.slug}/", data=body, content_type="application/json", headers=sent
    )


def counts() -> dict[str, int]:
    return {
        "customers": Customer.objects.count(),
        "contacts": ContactPoint.objects.count(),
        "deliveries": InboundDelivery.objects.count(),
        "orders": Order.objects.count(),
        "audit": AuditEntry.objects.count(),
        "events": Event.objects.count(),
    }


NOTHING = {"customers": 0, "contacts": 0, "deliveries": 0, "orders": 0, "audit": 0, "events": 0}


# --------------------------------------------------------------------------- the happy path


@pytest.mark.django_db
def test_signed_web_form_creates_a_customer_with_contact_points_from_the_channel():
    source = make_source()
    response = deliver(source, WEB_FORM)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["outcome"] == "created" and body["request_id"]
    assert inbound.REPLAYED_HEADER not in response
    customer = Customer.objects.get(pk=body["customer_id"])
    assert customer.name == "王小明" and customer.city == "杭州" and customer.notes == "想了解企业版报价"
    assert customer.source == Channel.WEBSITE and customer.owner_id is None
    points = {(p.kind, p.normalized): p.source for p in customer.contact_points.all()}
    assert points == {
        (ContactKind.PHONE, "+8613812345678"): Channel.WEBSITE,
        (ContactKind.EMAIL, "wang.xm@example.com"): Channel.WEBSITE,
    }
    delivery = InboundDelivery.objects.get()
    assert (delivery.source, delivery.idempotency_key, delivery.status_code) == (source, "evt-1", 201)
    assert delivery.customer == customer and delivery.response == body and delivery.payload == WEB_FORM
    assert body["delivery_id"] == delivery.pk
    # Written through the action: audited and evented like any other customer creation.
    assert AuditEntry.objects.filter(object_id=customer.pk, action="create").count() == 1
    assert Event.objects.filter(name="customer.created", object_id=customer.pk).count() == 1


@pytest.mark.django_db
def test_the_same_delivery_three_times_creates_one_customer_and_replays_the_first_answer():
    source = make_source()
    first = deliver(source, WEB_FORM)
    after_first = counts()
    # A real retry signs again with a fresh timestamp; the key is what makes it the same delivery.
    second = deliver(source, WEB_FORM, timestamp=int(time.time()) + 2)
    third = deliver(source, WEB_FORM)
    assert first.status_code == second.status_code == third.status_code == 201
    assert first.content == second.content == third.content  # byte for byte
    assert inbound.REPLAYED_HEADER not in first
    assert second[inbound.REPLAYED_HEADER] == third[inbound.REPLAYED_HEADER] == "true"
    assert counts() == after_first  # no new customer, contact, delivery, audit entry or event
    assert after_first["customers"] == 1 and after_first["deliveries"] == 1


@pytest.mark.django_db
def test_a_new_key_with_the_same_data_attaches_to_the_same_customer():
    source = make_source()
    first = deliver(source, WEB_FORM, key="a").json()
    response = deliver(source, {**WEB_FORM, "city": "上海"}, key="b")
    assert response.status_code == 200
    assert response.json()["outcome"] == "unchanged"  # city only fills an empty field
    assert response.json()["customer_id"] == first["customer_id"]
    assert Customer.objects.count() == 1 and InboundDelivery.objects.count() == 2


@pytest.mark.django_db
def test_a_web_form_company_links_the_new_customer_to_a_company_customer():
    source = make_source()
    response = deliver(source, {**WEB_FORM, "company": "杭州云栈科技有限公司"})
    assert response.status_code == 201, response.content
    person = Customer.objects.get(pk=response.json()["customer_id"])
    assert person.company.name == "杭州云栈科技有限公司" and person.company.kind == "company"


@pytest.mark.django_db
def test_default_owner_and_a_trailing_slash_less_url(roles):
    owner = make_user(role=roles["sales_rep"])
    source = make_source(default_owner=owner)
    response = deliver(source, WEB_FORM, path=f"/inbound/{source.slug}")
    assert response.status_code == 201
    assert Customer.objects.get().owner == owner


# --------------------------------------------------------------------------- refused calls


@pytest.mark.django_db
@pytest.mark.parametrize(
    "how",
    ["wrong secret", "tampered body", "no signature", "no timestamp", "other scheme", "junk timestamp"],
)
def test_a_bad_signature_gets_401_and_stores_nothing(how):
    source = make_source()
    body = json.dumps(WEB_FORM, ensure_ascii=False).encode()
    sent = inbound.signed_headers(source.secret, body)
    if how == "wrong secret":
        sent = inbound.signed_headers("not-the-secret-at-all", body)
    elif how == "tampered body":
        body = body.replace("王小明".encode(), "王大明".encode())
    elif how == "no signature":
        del sent[inbound.SIGNATURE_HEADER]
    elif how == "no timestamp":
        del sent[inbound.TIMESTAMP_HEADER]
    elif how == "other scheme":
        sent[inbound.SIGNATURE_HEADER] = sent[inbound.SIGNATURE_HEADER].replace("sha256=", "sha1=")
    elif how == "junk timestamp":
        sent[inbound.TIMESTAMP_HEADER] = "１７００"  # full-width digits are not a Unix time
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        f"/inbound/{source.slug}/",
        data=body,
        content_type="application/json",
        headers={**sent, inbound.IDEMPOTENCY_HEADER: "evt-1"},
    )
    assert response.status_code == 401
    assert response.json()["detail"]
    assert counts() == NOTHING


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_a_stale_or_future_timestamp_gets_401(offset):
    source = make_source()
    response = deliver(source, WEB_FORM, timestamp=int(time.time()) + offset)
    assert response.status_code == 401
    assert "clock" in response.json()["detail"]
    assert counts() == NOTHING
    assert deliver(source, WEB_FORM, timestamp=int(time.time()) - 240).status_code == 201  # within 5 minutes


@pytest.mark.django_db
def test_unknown_or_inactive_source_gets_404():
    source = make_source(is_active=False)
    assert deliver(source, WEB_FORM).status_code == 404
    assert Client().post("/inbound/nope/", data=b"{}", content_type="application/json").status_code == 404
    assert counts() == NOTHING


@pytest.mark.django_db
def test_only_post_is_accepted():
    source = make_source()
    response = Client().get(f"/inbound/{source.slug}/")
    assert response.status_code == 405 and response["Allow"] == "POST"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b'"text"',
        "名字".encode("gb18030"),
        b'{"name": NaN}',
        b'{"name": 1e999}',
        b'{"name": "\\u0000x"}',
        b'{"name": "\\ud800"}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_a_body_that_is_not_a_json_object_gets_400(raw):
    source = make_source()
    response = deliver(source, raw=raw)
    assert response.status_code == 400, response.content
    assert counts() == NOTHING


@pytest.mark.django_db
def test_a_missing_idempotency_key_gets_400():
    source = make_source()
    response = deliver(source, WEB_FORM, key=None)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert deliver(source, WEB_FORM, key="k" * 201).status_code == 400
    assert counts() == NOTHING


@pytest.mark.django_db
def test_a_body_over_256_kb_gets_413():
    source = make_source()
    response = deliver(source, {**WEB_FORM, "padding": "x" * (256 * 1024)})
    assert response.status_code == 413
    assert counts() == NOTHING


@pytest.mark.django_db
def test_an_invalid_phone_gets_422_naming_the_field_and_only_the_delivery_is_stored():
    source = make_source()
    bad = {**WEB_FORM, "phone": "12345"}
    response = deliver(source, bad)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "phone"] and error["field"] == "phone" and error["msg"]
    assert counts() == {**NOTHING, "deliveries": 1}
    delivery = InboundDelivery.objects.get()
    assert delivery.status_code == 422 and delivery.customer is None and delivery.payload == bad
    # The same key again (same bad payload): the same 422, replayed, still nothing else stored.
    again = deliver(source, bad)
    assert again.status_code == 422 and again.json() == response.json()
    assert again[inbound.REPLAYED_HEADER] == "true"
    # Even a corrected payload under the same key replays the 422: a correction needs a new key.
    assert deliver(source, WEB_FORM).status_code == 422
    assert deliver(source, WEB_FORM, key="evt-1-fixed").status_code == 201
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_422_locations_follow_the_mapping_into_nested_payloads():
    source = make_source(InboundKind.ECOMMERCE, slug="shop")
    bad = {**ORDER, "amount": "lots", "buyer": {**ORDER["buyer"], "name": "", "mobile": "0"}}
    response = deliver(source, bad, key="o-1")
    assert response.status_code == 422
    locs = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert locs == {("body", "amount")}  # mapping errors stop before the pipeline runs
    response = deliver(source, {**ORDER, "buyer": {"mobile": "0"}}, key="o-2")
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {("body", "buyer", "mobile")}
    response = deliver(source, {**ORDER, "buyer": {"id": ""}}, key="o-3")
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {("body", "buyer", "name")}
    assert Customer.objects.count() == 0 and Order.objects.count() == 0


# --------------------------------------------------------------------------- kinds and mappings


@pytest.mark.django_db
def test_an_ecommerce_order_creates_the_customer_and_the_order_once():
    source = make_source(InboundKind.ECOMMERCE, slug="tmall")
    # No Idempotency-Key header: the e-commerce mapping takes the order id as the key.
    first = deliver(source, ORDER, key=None)
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["order"]["number"] == "tmall:T20261123001" and body["order"]["outcome"] == "created"
    customer = Customer.objects.get(pk=body["customer_id"])
    assert (customer.name, customer.province, customer.city) == ("李娜", "浙江省", "宁波")
    assert customer.source == Channel.ECOMMERCE
    external = customer.contact_points.get(kind=ContactKind.EXTERNAL_ID)
    assert external.normalized == "ecommerce:tmall:buyer-778" and external.source == Channel.ECOMMERCE
    order = Order.objects.get()
    assert order.customer == customer and order.number == "tmall:T20261123001"
    assert order.amount == decimal.Decimal("1299.50") and order.channel == Channel.ECOMMERCE
    assert order.ordered_at == dt.datetime(2026, 11, 20, 2, 15, tzinfo=dt.UTC)
    assert InboundDelivery.objects.get().idempotency_key == "T20261123001"
    assert (
        AuditEntry.objects.filter(object_id=order.pk, object_repr=order.number, action="create").count() == 1
    )
    assert Event.objects.filter(name=SalesEvent.ORDER_CREATED, object_id=order.pk).count() == 1
    # Retried twice: replayed. Sent again later under another key (a platform's "order updated"
    # event): processed, but the order number is unique, so still one order and one customer.
    # (Issue 9 rewrote this: it sent the *same signed copy* under a new key, which is the replay
    # attack the deprecated scheme now refuses; a real second event carries its own timestamp.)
    assert deliver(source, ORDER, key=None).json() == body
    assert deliver(source, ORDER, key=None).json() == body
    other = deliver(source, ORDER, key="order-updated-1", timestamp=int(time.time()) + 1)
    assert other.status_code == 200
    assert other.json()["order"] == {**body["order"], "outcome": "unchanged"}
    assert Customer.objects.count() == 1 and Order.objects.count() == 1
    assert Event.objects.filter(name=SalesEvent.ORDER_CREATED).count() == 1


@pytest.mark.django_db
def test_the_buyer_id_finds_the_customer_again_even_without_a_phone():
    source = make_source(InboundKind.ECOMMERCE, slug="jd")
    first = deliver(source, ORDER, key=None).json()
    second_order = {"order_id": "T2", "amount": 10, "paid_at": 1763600000, "buyer": {"id": "buyer-778"}}
    response = deliver(source, second_order, key=None)
    assert response.status_code == 200
    assert response.json()["customer_id"] == first["customer_id"]
    assert Order.objects.filter(customer_id=first["customer_id"]).count() == 2
    # Buyer ids are scoped by source: buyer-778 of another shop is somebody else.
    other_shop = make_source(InboundKind.ECOMMERCE, slug="pdd")
    response = deliver(
        other_shop, {**second_order, "order_id": "T3", "buyer": {"id": "buyer-778", "name": "别人"}}, key=None
    )
    assert response.status_code == 201 and response.json()["customer_id"] != first["customer_id"]


@pytest.mark.django_db
def test_a_mini_program_user_with_the_same_phone_joins_the_web_form_customer():
    site = make_source()
    mini = make_source(InboundKind.MINI_PROGRAM, slug="mini")
    created = deliver(site, WEB_FORM).json()
    response = deliver(
        mini,
        {
            "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL",
            "nickName": "小明",
            "phoneNumber": "+86 13812345678",
        },
        key="mini-1",
    )
    assert response.status_code == 200
    assert response.json() == {**response.json(), "outcome": "updated", "customer_id": created["customer_id"]}
    customer = Customer.objects.get()
    assert customer.name == "王小明"  # a filled field is not overwritten by a nickname
    sources = {p.kind: p.source for p in customer.contact_points.all()}
    assert sources[ContactKind.PHONE] == Channel.WEBSITE
    assert sources[ContactKind.WECHAT_OPENID] == sources[ContactKind.WECHAT_UNIONID] == Channel.MINI_PROGRAM
    # Later the mini program knows the user by openid alone.
    again = deliver(mini, {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, key="mini-2")
    assert again.status_code == 200 and again.json()["customer_id"] == created["customer_id"]


@pytest.mark.django_db
def test_a_mini_program_openid_that_is_not_one_gets_422():
    mini = make_source(InboundKind.MINI_PROGRAM, slug="mini")
    response = deliver(mini, {"openid": "bad id!", "nickName": "x"})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "openid"]]


@pytest.mark.django_db
def test_a_pos_member_gets_an_external_id_and_a_store_tag():
    pos = make_source(InboundKind.POS, slug="store")
    response = deliver(pos, {"member_no": 80012, "phone": 13700001111, "name": "赵敏", "store": "静安店"})
    assert response.status_code == 201, response.content
    customer = Customer.objects.get()
    assert customer.source == Channel.POS
    assert list(customer.tags.values_list("name", flat=True)) == ["静安店"]
    assert customer.contact_points.get(kind=ContactKind.EXTERNAL_ID).normalized == "pos:store:80012"
    assert customer.contact_points.get(kind=ContactKind.PHONE).normalized == "+8613700001111"
    again = deliver(pos, {"member_no": "80012", "store": "徐汇店"}, key="evt-2")
    assert again.json()["customer_id"] == customer.pk and again.json()["outcome"] == "updated"
    assert sorted(customer.tags.values_list("name", flat=True)) == ["徐汇店", "静安店"]


@pytest.mark.django_db
def test_the_source_mapping_overrides_the_default_per_field():
    source = make_source(mapping={"phone": "contact.tel", "notes": None, "city": "", "name": "who"})
    payload = {"who": "陈静", "contact": {"tel": "13911112222"}, "message": "ignored", "city": "ignored"}
    response = deliver(source, payload)
    assert response.status_code == 201, response.content
    customer = Customer.objects.get()
    assert (customer.name, customer.notes, customer.city) == ("陈静", "", "")
    assert customer.contact_points.get().normalized == "+8613911112222"
    assert inbound.effective_mapping(source)["email"] == "email"  # untouched defaults stay


def test_resolve_dotted_paths():
    payload = {"a": {"b": [{"c": 1}, {"c": 2}]}, "x": None}
    assert inbound.resolve(payload, "a.b.1.c") == 2
    assert inbound.resolve(payload, "a.b.5.c") is None
    assert inbound.resolve(payload, "a.z") is None
    assert inbound.resolve(payload, "x.y") is None
    assert inbound.resolve(payload, "a.b.c") is None


def test_mapping_errors_name_unknown_fields_and_bad_paths():
    assert inbound.mapping_errors({"phone": "buyer.mobile", "notes": None}) == []
    assert len(inbound.mapping_errors({"mobile": "x", "phone": 3, "city": "a..b"})) == 3
    assert inbound.mapping_errors(["phone"])


def test_signature_matches_the_documented_recipe():
    import hashlib
    import hmac

    body = b'{"name":"x"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert inbound.signature("s3cret", 1700000000, body) == f"sha256={expected}"
    headers = {"x-guanxi-timestamp": "1700000000", "X-GUANXI-SIGNATURE": f"SHA256={expected.upper()}"}
    assert inbound.verify_signature("s3cret", headers, body, now=1700000100) is None
    assert inbound.verify_signature("", headers, body, now=1700000100)  # no secret: nothing passes


# --------------------------------------------------------------------------- concurrency


# pytest-django makes the SQLite test database in memory with a shared cache: there a second
# connection that touches a table another one is writing gets "database table is locked" at once
# (SQLITE_LOCKED is not retried by busy_timeout). Production SQLite is a WAL file with IMMEDIATE
# transactions, where writers queue up instead; these tests run for real on PostgreSQL.
@pytest.fixture
def concurrent_writers(transactional_db):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "SQLite in-memory test database (shared cache) fails concurrent writers with SQLITE_LOCKED "
            "instead of waiting; runs on PostgreSQL (and on a file SQLite database)"
        )


def _concurrently(n: int, fn) -> list:
    """Run fn(i) in n threads released together; each thread uses (and closes) its own connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_the_same_key_from_several_threads_creates_one_customer(concurrent_writers, queue):
    source = make_source()
    body = json.dumps(WEB_FORM).encode()
    headers = {**inbound.signed_headers(source.secret, body), inbound.IDEMPOTENCY_HEADER: "evt-race"}

    def post(_i):
        response = Client().post(
            f"/inbound/{source.slug}/", data=body, content_type="application/json", headers=headers
        )
        return response.status_code, response.json(), response.get(inbound.REPLAYED_HEADER)

    results = _concurrently(6, post)
    assert {(status, json.dumps(body, sort_keys=True)) for status, body, _r in results} == {
        (201, json.dumps(results[0][1], sort_keys=True))
    }
    assert sum(1 for *_rest, replayed in results if replayed is None) == 1  # one did the work
    assert Customer.objects.count() == 1 and InboundDelivery.objects.count() == 1
    assert Event.objects.filter(name="customer.created").count() == 1


@pytest.mark.django_db(transaction=True)
def test_different_keys_for_one_new_buyer_from_several_threads_create_one_customer(concurrent_writers, queue):
    source = make_source(InboundKind.ECOMMERCE, slug="shop")

    def post(i):
        payload = {**ORDER, "order_id": f"T-{i}"}
        body = json.dumps(payload).encode()
        headers = {**inbound.signed_headers(source.secret, body), inbound.IDEMPOTENCY_HEADER: f"evt-{i}"}
        response = Client().post(
            f"/inbound/{source.slug}/", data=body, content_type="application/json", headers=headers
        )
        return response.status_code, response.json()

    results = _concurrently(5, post)
    assert sorted(status for status, _b in results) == [200, 200, 200, 200, 201]
    assert len({b["customer_id"] for _s, b in results}) == 1
    assert Customer.objects.count() == 1 and Order.objects.count() == 5


# --------------------------------------------------------------------------- pages and admin


@pytest.mark.django_db
def test_the_sources_page_lists_sources_and_deliveries_for_settings_managers(org):
    source = make_source()
    created = deliver(source, WEB_FORM).json()
    deliver(source, {**WEB_FORM, "phone": "1"}, key="bad")
    admin = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert admin.login(username=org.admin.username, password=PASSWORD)
    page = admin.get("/inbound/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "http://testserver/inbound/site/" in html
    assert f'href="/customers/{created["customer_id"]}/"' in html and "王小明" in html
    assert "422" in html and "phone" in html
    failed = admin.get("/inbound/?failed=1").content.decode()
    assert "王小明" not in failed and "422" in failed
    rep = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert rep.login(username=org.rep_e1.username, password=PASSWORD)
    assert rep.get("/inbound/").status_code == 403


@pytest.mark.django_db
def test_the_sources_page_runs_a_fixed_number_of_queries(org):
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    sources = [make_source(slug="site"), make_source(InboundKind.POS, slug="pos")]
    admin = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert admin.login(username=org.admin.username, password=PASSWORD)

    def queries() -> int:
        with CaptureQueriesContext(conn) as ctx:
            assert admin.get("/inbound/").status_code == 200
        return len(ctx.captured_queries)

    deliver(sources[0], WEB_FORM, key="k0")
    few = queries()
    for i in range(1, 8):
        deliver(sources[i % 2], {**WEB_FORM, "phone": f"1390000000{i}", "member_no": i}, key=f"k{i}")
    assert queries() == few


@pytest.mark.django_db
def test_the_admin_form_generates_a_secret_and_checks_the_mapping(org):
    form = InboundSourceForm(
        data={
            "name": "官网",
            "slug": "web",
            "kind": InboundKind.WEB_FORM,
            "is_active": True,
            "secret": "",
            "mapping": "",
        }
    )
    assert form.is_valid(), form.errors
    source = form.save()
    assert len(source.secret) >= 32 and source.mapping == {}
    bad = InboundSourceForm(
        data={
            "name": "x",
            "slug": "x",
            "kind": InboundKind.POS,
            "secret": "short",
            "mapping": '{"mobile": "a"}',
        }
    )
    assert not bad.is_valid() and set(bad.errors) == {"secret", "mapping"}
    admin = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert admin.login(username=org.admin.username, password=PASSWORD)
    response = admin.post(
        "/admin/customers/inboundsource/add/",
        {
            "name": "门店",
            "slug": "pos",
            "kind": InboundKind.POS,
            "is_active": "on",
            "secret": "",
            "mapping": "{}",
        },
        follow=True,
    )
    assert response.status_code == 200
    created = InboundSource.objects.get(slug="pos")
    assert created.secret and created.secret in response.content.decode()  # shown once added
    entry = AuditEntry.objects.get(object_id=created.pk, action="create", object_repr="门店")
    assert created.secret not in json.dumps(entry.after) and entry.after["secret"].startswith("sha256:")
    assert admin.get(f"/admin/customers/inboundsource/{created.pk}/change/").status_code == 200
    assert admin.get("/admin/customers/inbounddelivery/").status_code == 200


# --------------------------------------------------------------------------- custom fields


@pytest.mark.django_db
def test_custom_fields_of_the_customer_and_the_order_are_mapped_and_validated(roles):
    from guanxi.customization.actions import create_custom_field

    admin = make_user("cf_admin", role=roles["admin"], is_superuser=True)
    create_custom_field({"object_type": "customer", "key": "member_level", "label_zh": "会员等级",
                         "type": "single_select", "options": "金卡|Gold\n银卡|Silver"}, actor=admin)  # fmt: skip
    create_custom_field({"object_type": "order", "key": "invoice_no", "label_zh": "发票号", "type": "text",
                         "required": True, "regex": "INV-[0-9]+"}, actor=admin)  # fmt: skip
    mapping = {"cf.member_level": "buyer.level", "order.cf.invoice_no": "invoice"}
    source = make_source(InboundKind.ECOMMERCE, slug="tmall", mapping=mapping)
    assert inbound.mapping_errors({**mapping, "cf.Bad-Key": "x"}) != []
    assert inbound.mapping_errors(mapping) == []

    bad = deliver(
        source, {**ORDER, "invoice": "12345", "buyer": {**ORDER["buyer"], "level": "Gold"}}, key="a"
    )
    assert bad.status_code == 422
    assert [(d["field"], d["loc"]) for d in bad.json()["detail"]] == [
        ("order.cf.invoice_no", ["body", "invoice"])
    ]
    assert Customer.objects.count() == 0 and Order.objects.count() == 0  # nothing but the delivery

    wrong_level = deliver(
        source, {**ORDER, "invoice": "INV-1", "buyer": {**ORDER["buyer"], "level": "钻石"}}, key="b"
    )
    assert wrong_level.status_code == 422
    assert wrong_level.json()["detail"][0]["loc"] == ["body", "buyer", "level"]
    assert Customer.objects.count() == 0 and Order.objects.count() == 0

    good = deliver(
        source, {**ORDER, "invoice": "INV-778", "buyer": {**ORDER["buyer"], "level": "Gold"}}, key="c"
    )
    assert good.status_code == 201, good.content
    assert Customer.objects.get().custom_fields == {"member_level": "金卡"}
    assert Order.objects.get().custom_fields == {"invoice_no": "INV-778"}
