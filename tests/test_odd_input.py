"""Holes (issue 9 §8, "500s on odd input"): each of these answered 500 before.

- `/customers/kanban/?sort=cf.<key>` (and a shared saved view with that sort): the board's
  queryset ordered by an annotation it had not added (FieldError).
- `GET /api/deals?filters=[{"field":"pipeline","op":"empty"}]` (also stage, not_empty): the filter
  compiled to a lookup on a relation that does not exist (FieldError).
- A lone surrogate ("\\ud800") in customer notes, a deal name or a contact point's source_ref,
  and NUL in notes/source_ref: stored as they were, so PostgreSQL (and the JSON audit) refused them.
- `/data-quality/merge/a/b/?survivor=abc`: `int("abc")` raised ValueError; `/pools/?pool=²` too
  (`"²".isdigit()` is True, `int("²")` fails).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from guanxi.core.actions import create_api_token
from guanxi.core.models import AuditEntry
from guanxi.customers.models import ContactPoint, Customer
from guanxi.customization import actions as customization
from guanxi.customization.models import FieldType, SavedView
from guanxi.sales.actions import ensure_default_pipeline
from guanxi.sales.models import Deal
from tests.factories import PASSWORD, make_customer, make_user

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def api(org):
    _token, secret = create_api_token(org.admin, "t", actor=None)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def _patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


# --------------------------------------------------------------------------- kanban sorted by a custom field


@pytest.fixture
def score(org):
    return customization.create_custom_field(
        {"object_type": "customer", "key": "score", "label_zh": "分数", "label_en": "Score",
         "type": FieldType.NUMBER}, actor=org.admin)  # fmt: skip


@pytest.mark.parametrize("sort", ["cf.score", "-cf.score", "cf.nosuchfield", "-cf."])
def test_kanban_sorted_by_a_custom_field(org, score, sort):
    response = _client(org.admin).get("/customers/kanban/", {"sort": sort})
    assert response.status_code == 200


def test_a_shared_saved_view_with_a_custom_sort_opens_as_a_board(org, score):
    admin = _client(org.admin)
    query = urlencode({"fb": "1", "sort": "-cf.score", "layout": "kanban"})
    response = admin.post(
        "/customers/views/save/", {"name": "按分数", "visibility": "everyone", "query": query}
    )
    assert response.status_code == 302
    view = SavedView.objects.get(name="按分数")
    for user in (org.admin, org.rep_e1):
        assert _client(user).get("/customers/kanban/", {"view": view.pk}).status_code == 200


# --------------------------------------------------------------------------- deal filters on relations


@pytest.mark.parametrize("field", ["pipeline", "stage"])
@pytest.mark.parametrize("op", ["empty", "not_empty"])
def test_deal_filters_empty_on_pipeline_and_stage(org, api, field, op):
    pipeline = ensure_default_pipeline()
    customer = make_customer(org.admin, name="客户")
    Deal.objects.create(customer=customer, name="一单", pipeline=pipeline, stage=pipeline.stages.first(),
                        owner=org.admin)  # fmt: skip
    filters = json.dumps([{"field": field, "op": op}])
    response = api.get("/api/deals", {"filters": filters})
    assert response.status_code in (200, 422), response.content
    if response.status_code == 200:
        assert response.json()["count"] == (0 if op == "empty" else 1)


# --------------------------------------------------------------------------- unstorable text


SURROGATE = "\ud800"


@pytest.mark.parametrize("notes", [f"备注{SURROGATE}", "备注\x00后面"])
def test_customer_notes_with_a_lone_surrogate_or_nul(org, api, notes):
    before = (Customer.objects.count(), AuditEntry.objects.count())
    response = _post(api, "/api/customers", {"name": "张三", "notes": notes})
    assert response.status_code == 422, response.content
    assert any("notes" in d["loc"] for d in response.json()["detail"])
    customer = make_customer(org.admin, name="李四")
    before = (Customer.objects.count(), AuditEntry.objects.count())
    response = _patch(api, f"/api/customers/{customer.pk}", {"notes": notes})
    assert response.status_code == 422, response.content
    assert (Customer.objects.count(), AuditEntry.objects.count()) == before


@pytest.mark.parametrize("ref", [f"ref{SURROGATE}", "ref\x00"])
def test_contact_point_source_ref_with_a_lone_surrogate_or_nul(org, api, ref):
    before = (Customer.objects.count(), ContactPoint.objects.count())
    body = {
        "name": "张三",
        "contact_points": [{"kind": "email", "value": "z@example.com", "source_ref": ref}],
    }
    response = _post(api, "/api/customers", body)
    assert response.status_code == 422, response.content
    assert any("contact_points" in d["loc"] for d in response.json()["detail"])
    assert (Customer.objects.count(), ContactPoint.objects.count()) == before


@pytest.mark.parametrize("name", [f"大单{SURROGATE}", "大单\x00"])
def test_deal_name_with_a_lone_surrogate_or_nul(org, api, name):
    pipeline = ensure_default_pipeline()
    customer = make_customer(org.admin, name="客户")
    before = Deal.objects.count()
    response = _post(
        api, "/api/deals", {"customer_id": customer.pk, "name": name, "pipeline_id": pipeline.pk}
    )
    assert response.status_code == 422, response.content
    assert Deal.objects.count() == before


def test_free_text_keeps_newlines_markup_and_chinese(org, api):
    notes = "第一行\n第二行\t<b>不是标签</b>"
    response = _post(api, "/api/customers", {"name": "张三", "notes": notes})
    assert response.status_code == 201, response.content
    assert Customer.objects.get(pk=response.json()["id"]).notes == notes


# --------------------------------------------------------------------------- ints parsed from a request


@pytest.mark.parametrize("survivor", ["abc", "²", "1" * 40, "-1", ""])
def test_merge_page_with_a_bad_survivor(org, roles, survivor):
    steward = make_user("steward_o", role=roles["data_steward"], department=org.hq)
    a = make_customer(org.rep_e1, name="王小明")
    b = make_customer(org.rep_e1, name="王晓明")
    response = _client(steward).get(f"/data-quality/merge/{a.pk}/{b.pk}/", {"survivor": survivor})
    assert response.status_code in (200, 400)


def test_pool_page_with_a_digit_that_is_not_a_number(org):
    """`"²".isdigit()` is True but `int("²")` raises: the pool page answered 500 for ?pool=²."""
    from guanxi.engagement.models import Pool

    Pool.objects.create(name="公共公海", is_default=True, no_follow_up_days=30, warn_days=3)
    assert _client(org.rep_e1).get("/pools/", {"pool": "²"}).status_code == 200
