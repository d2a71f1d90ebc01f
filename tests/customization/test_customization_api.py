"""The customisation API (/api/custom-fields, /picklists, /tags, /form-layouts, /views, /fields): thin
callers of guanxi.customization.actions. Writes need settings.manage (a denied call writes nothing),
reads need a signed-in user; rename/delete/restore rewrite stored values in the real worker queue."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from guanxi.core.actions import create_api_token
from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer
from guanxi.customization import actions as customization
from guanxi.customization.models import (
    CustomField,
    CustomFieldArchive,
    FieldStatus,
    FormLayout,
    Picklist,
    PicklistValue,
    SavedView,
    Tag,
)
from tests.conftest import drain
from tests.factories import make_customer
from tests.test_api_fuzz import fuzz_as

pytestmark = pytest.mark.django_db

GRADES = [
    {"key": "a", "label_zh": "甲级", "label_en": "Grade A"},
    {"key": "b", "label_zh": "乙级", "label_en": "Grade B"},
]


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def client_for(user) -> Client:
    _token, secret = create_api_token(user, "t", actor=None)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def admin(org):
    return client_for(org.admin)


@pytest.fixture
def rep(org):
    return client_for(org.rep_e1)


def _json(client, method, url, body=None, **extra):
    return getattr(client, method)(url, body, content_type="application/json", **extra)


def _state():
    return (
        CustomField.objects.count(),
        list(CustomField.objects.order_by("id").values_list("key", "label_zh", "status", "required")),
        Picklist.objects.count(),
        list(PicklistValue.objects.order_by("id").values_list("key", "label_zh", "is_active")),
        list(Tag.objects.order_by("id").values_list("name", "color")),
        list(FormLayout.objects.values_list("sections", flat=True)),
        list(SavedView.objects.order_by("id").values_list("name", "visibility")),
        AuditEntry.objects.count(),
    )


def _grade_field(admin) -> dict:
    response = _json(
        admin,
        "post",
        "/api/custom-fields",
        {
            "object_type": "customer",
            "key": "grade",
            "label_zh": "等级",
            "label_en": "Grade",
            "type": "single_select",
            "options": GRADES,
        },
    )
    assert response.status_code == 201, response.content
    return response.json()


# --------------------------------------------------------------------------- custom fields


def test_custom_field_crud(org, admin, rep):
    anonymous = Client()
    assert anonymous.get("/api/custom-fields").status_code == 401
    created = _grade_field(admin)
    assert created["key"] == "grade" and created["ref"] == "cf.grade" and created["status"] == "active"
    assert [(c["key"], c["label_en"], c["is_active"]) for c in created["choices"]] == [
        ("a", "Grade A", True),
        ("b", "Grade B", True),
    ]
    budget = _json(
        admin,
        "post",
        "/api/custom-fields",
        {"object_type": "customer", "key": "budget", "label_zh": "预算", "type": "money", "min_value": 0},
    ).json()
    assert budget["min_value"] == 0 and budget["max_value"] is None

    # reads: any signed-in user
    listed = rep.get("/api/custom-fields", {"object_type": "customer"})
    assert listed.status_code == 200
    assert [f["key"] for f in listed.json()] == ["grade", "budget"]
    assert rep.get("/api/custom-fields", {"object_type": "order"}).json() == []
    assert rep.get(f"/api/custom-fields/{created['id']}").json()["label_zh"] == "等级"

    # update
    response = _json(
        admin,
        "patch",
        f"/api/custom-fields/{created['id']}",
        {"label_en": "Customer grade", "required": True, "help_en": "How good", "options": [
            {"key": "c", "label_zh": "丙级"}
        ]},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["label_en"], body["required"], body["help_en"]) == ("Customer grade", True, "How good")
    assert [c["key"] for c in body["choices"]] == ["a", "b", "c"]
    assert CustomField.objects.get(pk=created["id"]).label_en == "Customer grade"

    # invalid input: 422 naming the property, nothing written
    before = _state()
    response = _json(
        admin,
        "post",
        "/api/custom-fields",
        {"object_type": "customer", "key": "Bad Key", "label_zh": "", "type": "text", "regex": "("},
    )
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert {("body", "key"), ("body", "label_zh"), ("body", "regex")} <= locs
    response = _json(admin, "post", "/api/custom-fields", {
        "object_type": "customer", "key": "grade", "label_zh": "重复", "type": "text"})  # fmt: skip
    assert response.status_code == 422 and "already has a field" in response.json()["detail"][0]["msg"]
    response = _json(admin, "patch", f"/api/custom-fields/{created['id']}", {"type": "number"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "type"]
    assert _state() == before

    # text no database can store is refused before the action (PostgreSQL refuses NUL)
    for body in (
        {"object_type": "customer", "key": "x", "label_zh": "a\x00", "type": "text"},
        {"object_type": "customer", "key": "x", "label_zh": "a", "type": "single_select",
         "options": [{"label_zh": "\ud800"}]},
    ):  # fmt: skip
        response = _json(admin, "post", "/api/custom-fields", body)
        assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"][:3] == ["body", "payload", "options"]
    response = _json(admin, "post", "/api/views", {"object_type": "customer", "name": "v", "filters": [
        {"field": "name", "op": "contains", "value": "\x00"}]})  # fmt: skip
    assert response.status_code == 422 and "NUL" in response.json()["detail"][0]["msg"]
    assert _state() == before

    # unknown ids: 404, also for numbers that cannot be a row id
    assert admin.get("/api/custom-fields/999999").status_code == 404
    assert admin.get(f"/api/custom-fields/{2**70}").status_code == 404
    assert _json(admin, "patch", f"/api/custom-fields/{2**70}", {"label_zh": "x"}).status_code == 404
    assert admin.delete("/api/custom-fields/999999").status_code == 404


def test_a_rep_cannot_change_definitions_and_nothing_is_written(org, admin, rep):
    field = _grade_field(admin)
    picklist = Picklist.objects.get(pk=field["picklist_id"])
    a, b = PicklistValue.objects.filter(picklist=picklist).order_by("position")
    tag = Tag.objects.create(name="重点")
    before = _state()
    attempts = [
        (
            "post",
            "/api/custom-fields",
            {"object_type": "customer", "key": "x", "label_zh": "x", "type": "text"},
        ),
        ("patch", f"/api/custom-fields/{field['id']}", {"label_zh": "改"}),
        ("post", f"/api/custom-fields/{field['id']}/rename", {"key": "level"}),
        ("delete", f"/api/custom-fields/{field['id']}", None),
        ("post", f"/api/custom-fields/{field['id']}/restore", None),
        ("post", "/api/picklists", {"key": "lost", "label_zh": "丢单原因"}),
        ("patch", f"/api/picklists/{picklist.pk}", {"label_zh": "改"}),
        ("post", f"/api/picklists/{picklist.pk}/values/{a.pk}/merge", {"into": b.pk}),
        ("post", "/api/tags", {"name": "新标签"}),
        ("patch", f"/api/tags/{tag.pk}", {"color": "danger"}),
        (
            "put",
            "/api/form-layouts/customer",
            {"sections": [{"title_zh": "全部", "fields": ["kind", "name"]}]},
        ),
        ("post", "/api/views", {"object_type": "customer", "name": "全员", "visibility": "everyone"}),
    ]
    for method, url, body in attempts:
        response = _json(rep, method, url, body)
        assert response.status_code in (403, 422), (method, url, response.status_code)
        if method != "post" or url != "/api/views":
            assert response.status_code == 403, (method, url, response.content)
        assert _state() == before, (method, url)
    # ...while reading is fine
    for url in ("/api/custom-fields", "/api/picklists", "/api/tags", "/api/form-layouts/customer",
                "/api/views", "/api/fields/customer", f"/api/picklists/{picklist.pk}"):  # fmt: skip
        assert rep.get(url).status_code == 200, url


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_rename_delete_restore_move_the_stored_values_in_the_worker(org, admin, queue):
    field = _grade_field(admin)
    customers = [make_customer(org.rep_e1, custom_fields={"grade": g}) for g in ("a", "b")]
    plain = make_customer(org.rep_e1)
    drain(queue)

    response = _json(admin, "post", f"/api/custom-fields/{field['id']}/rename", {"key": "level"})
    assert response.status_code == 202, response.content
    assert (response.json()["key"], response.json()["previous_key"]) == ("level", "grade")
    assert response.json()["status"] == "renaming"
    # both keys read while the worker has not run: the API already answers with the new key
    listed = admin.get("/api/customers", {"filters": '[{"field": "cf.level", "op": "eq", "value": "a"}]'})
    assert [c["id"] for c in listed.json()["items"]] == [customers[0].pk]
    drain(queue)
    assert [Customer.objects.get(pk=c.pk).custom_fields for c in customers] == [
        {"level": "a"},
        {"level": "b"},
    ]
    assert admin.get(f"/api/custom-fields/{field['id']}").json()["status"] == "active"

    response = admin.delete(f"/api/custom-fields/{field['id']}")
    assert response.status_code == 202 and response.json()["status"] == "deleting"
    drain(queue)
    assert [Customer.objects.get(pk=c.pk).custom_fields for c in customers] == [{}, {}]
    assert Customer.objects.get(pk=plain.pk).custom_fields == {}
    assert sorted(CustomFieldArchive.objects.values_list("value", flat=True)) == ["a", "b"]
    deleted = admin.get(f"/api/custom-fields/{field['id']}").json()
    assert deleted["status"] == FieldStatus.DELETED and deleted["purge_after"]
    assert [f["key"] for f in admin.get("/api/custom-fields", {"status": "active"}).json()] == []
    # a deleted field is no longer a filter
    response = admin.get("/api/customers", {"filters": '[{"field": "cf.level", "op": "empty"}]'})
    assert response.status_code == 422

    response = _json(admin, "post", f"/api/custom-fields/{field['id']}/restore")
    assert response.status_code == 202 and response.json()["status"] == "restoring"
    drain(queue)
    assert [Customer.objects.get(pk=c.pk).custom_fields for c in customers] == [
        {"level": "a"},
        {"level": "b"},
    ]
    assert not CustomFieldArchive.objects.exists()
    # restoring an active field is refused with a message
    response = _json(admin, "post", f"/api/custom-fields/{field['id']}/restore")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "status"]


def test_rename_to_a_bad_or_taken_key_is_refused(org, admin):
    field = _grade_field(admin)
    _json(admin, "post", "/api/custom-fields", {
        "object_type": "customer", "key": "budget", "label_zh": "预算", "type": "number"})  # fmt: skip
    for key in ("Budget!", "budget", ""):
        response = _json(admin, "post", f"/api/custom-fields/{field['id']}/rename", {"key": key})
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "key"]
    assert CustomField.objects.get(pk=field["id"]).key == "grade"


# --------------------------------------------------------------------------- picklists


def test_picklists_and_merging_a_value(org, admin, rep):
    response = _json(admin, "post", "/api/picklists", {
        "key": "lost-reasons", "label_zh": "丢单原因",
        "values": [{"key": "price", "label_zh": "价格"}, {"key": "cost", "label_zh": "太贵"},
                   {"label_zh": "竞品"}],
    })  # fmt: skip
    assert response.status_code == 201, response.content
    picklist = response.json()
    assert [v["key"] for v in picklist["values"]] == ["price", "cost", "竞品"]
    response = _json(admin, "post", "/api/custom-fields", {
        "object_type": "customer", "key": "lost", "label_zh": "丢单原因", "type": "single_select",
        "picklist_id": picklist["id"]})  # fmt: skip
    assert response.status_code == 201
    field = response.json()
    assert [c["key"] for c in field["choices"]] == ["price", "cost", "竞品"]
    assert rep.get(f"/api/picklists/{picklist['id']}").json()["field_ids"] == [field["id"]]

    with_cost = [make_customer(org.rep_e1, custom_fields={"lost": "cost"}) for _ in range(2)]
    with_price = make_customer(org.rep_e1, custom_fields={"lost": "price"})

    # a value in use cannot be dropped from the list
    response = _json(
        admin, "patch", f"/api/picklists/{picklist['id']}", {"values": [{"key": "price", "label_zh": "价格"}]}
    )
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "values"]
    # labels change freely
    response = _json(admin, "patch", f"/api/picklists/{picklist['id']}", {"label_en": "Lost reasons"})
    assert response.status_code == 200 and response.json()["label_en"] == "Lost reasons"

    cost, price = (PicklistValue.objects.get(picklist_id=picklist["id"], key=k) for k in ("cost", "price"))
    response = _json(
        admin, "post", f"/api/picklists/{picklist['id']}/values/{cost.pk}/merge", {"into": price.pk}
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"records": 2}
    assert [Customer.objects.get(pk=c.pk).custom_fields["lost"] for c in [*with_cost, with_price]] == [
        "price", "price", "price"
    ]  # fmt: skip
    values = {v["key"]: v for v in admin.get(f"/api/picklists/{picklist['id']}").json()["values"]}
    assert values["cost"]["is_active"] is False and values["cost"]["merged_into_id"] == price.pk
    assert "cost" not in [c["key"] for c in admin.get(f"/api/custom-fields/{field['id']}").json()["choices"]
                          if c["is_active"]]  # fmt: skip

    # into a value of another picklist, into itself, or a value not of this picklist
    other = _json(admin, "post", "/api/picklists", {"key": "other", "label_zh": "其他", "values": [
        {"key": "x", "label_zh": "X"}]}).json()  # fmt: skip
    x = other["values"][0]["id"]
    response = _json(admin, "post", f"/api/picklists/{picklist['id']}/values/{price.pk}/merge", {"into": x})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "into"]
    response = _json(
        admin, "post", f"/api/picklists/{picklist['id']}/values/{price.pk}/merge", {"into": price.pk}
    )
    assert response.status_code == 422
    response = _json(admin, "post", f"/api/picklists/{other['id']}/values/{price.pk}/merge", {"into": x})
    assert response.status_code == 404
    # a bad key or duplicate key for a new picklist
    response = _json(admin, "post", "/api/picklists", {"key": "Bad Key", "label_zh": "x"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "key"]
    response = _json(admin, "post", "/api/picklists", {"key": "other", "label_zh": "x"})
    assert response.status_code == 422


# --------------------------------------------------------------------------- tags


def test_tags(org, admin, rep):
    response = _json(
        admin, "post", "/api/tags", {"name": "重点", "color": "danger", "object_types": ["customer"]}
    )
    assert response.status_code == 201, response.content
    tag = response.json()
    assert tag == {"id": tag["id"], "name": "重点", "color": "danger", "object_types": ["customer"]}
    _json(admin, "post", "/api/tags", {"name": "回访"})
    assert [t["name"] for t in rep.get("/api/tags").json()] == ["回访", "重点"]
    assert [t["name"] for t in rep.get("/api/tags", {"object_type": "order"}).json()] == ["回访"]

    response = _json(admin, "patch", f"/api/tags/{tag['id']}", {"color": "#ff0000", "object_types": []})
    assert response.status_code == 200 and response.json()["color"] == "#ff0000"
    assert Tag.objects.get(pk=tag["id"]).object_types == []
    for body in ({"color": "pink; background: url(x)"}, {"name": "回访"}, {"name": ""}):
        response = _json(admin, "patch", f"/api/tags/{tag['id']}", body)
        assert response.status_code == 422, body
    response = _json(admin, "patch", f"/api/tags/{tag['id']}", {"object_types": ["planet"]})
    assert response.status_code == 422
    assert Tag.objects.get(pk=tag["id"]).name == "重点"
    assert _json(admin, "patch", "/api/tags/999999", {"color": "info"}).status_code == 404


# --------------------------------------------------------------------------- form layouts


def test_form_layouts_for_the_company_and_a_role(org, admin, rep, roles):
    _grade_field(admin)
    response = rep.get("/api/form-layouts/customer")
    assert response.status_code == 200
    layout = response.json()
    assert layout["source"] == "default"
    assert layout["sections"][0]["fields"][:2] == ["kind", "name"]
    assert layout["sections"][-1]["fields"] == ["cf.grade"]  # a custom field is never hidden

    sections = [{"title_zh": "基本", "title_en": "Basics", "fields": ["kind", "name", "cf.grade", "owner"]}]
    response = _json(admin, "put", "/api/form-layouts/customer", {"sections": sections})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "object_type": "customer",
        "role_id": None,
        "source": "company",
        "sections": sections,
    }

    role = roles["sales_rep"]
    role_sections = [{"title_zh": "简", "title_en": "", "fields": ["name", "kind"]}]
    response = _json(
        admin, "put", f"/api/form-layouts/customer?role_id={role.pk}", {"sections": role_sections}
    )
    assert response.status_code == 200
    body = admin.get("/api/form-layouts/customer", {"role_id": role.pk}).json()
    assert body["source"] == "role"
    assert body["sections"] == [
        *role_sections,
        {"title_zh": "其他信息", "title_en": "More", "fields": ["cf.grade"]},
    ]
    # a role without its own layout gets the company's
    assert (
        admin.get("/api/form-layouts/customer", {"role_id": roles["marketing"].pk}).json()["source"]
        == "company"
    )

    before = _state()
    bad = [
        [{"title_zh": "基本", "fields": ["kind", "name", "cf.nope"]}],  # unknown field
        [{"title_zh": "基本", "fields": ["kind"]}],  # the name must stay on the form
        [{"title_zh": "基本", "fields": ["kind", "name", "kind"]}],  # twice
        [{"title_zh": "", "fields": ["kind", "name"]}],  # no title
    ]
    for sections in bad:
        response = _json(admin, "put", "/api/form-layouts/customer", {"sections": sections})
        assert response.status_code == 422, sections
        assert response.json()["detail"][0]["loc"] == ["body", "sections"]
    assert _state() == before
    assert (
        _json(admin, "put", "/api/form-layouts/customer?role_id=999999", {"sections": sections}).status_code
        == 422
    )
    assert admin.get("/api/form-layouts/planet").status_code == 422
    assert admin.get("/api/form-layouts/customer", {"role_id": 999999}).status_code == 404


# --------------------------------------------------------------------------- saved views


def _view(client, name, **extra):
    body = {"object_type": "customer", "name": name, **extra}
    return _json(client, "post", "/api/views", body)


def test_saved_views_visibility_and_ownership(org, admin):
    _grade_field(admin)
    e1, e2, s1 = client_for(org.rep_e1), client_for(org.rep_e2), client_for(org.rep_s1)
    response = _view(e1, "我的甲级", columns=["name", "cf.grade"], sort="-created_at",
                     filters=[{"field": "cf.grade", "op": "eq", "value": "a"}, {"field": "owner", "op": "not_empty"}])  # fmt: skip
    assert response.status_code == 201, response.content
    private = response.json()
    assert private["owner"]["id"] == org.rep_e1.pk and private["editable"] is True
    assert private["filters"] == [
        {"field": "cf.grade", "op": "eq", "value": "a"},
        {"field": "owner", "op": "not_empty"},
    ]
    team = _view(e1, "华东组", visibility="team").json()
    assert team["department_id"] == org.east.pk
    everyone = _view(admin, "全公司", visibility="everyone").json()

    def names(client):
        response = client.get("/api/views", {"object_type": "customer"})
        assert response.status_code == 200
        return {v["name"]: v["editable"] for v in response.json()}

    assert names(e1) == {"我的甲级": True, "华东组": True, "全公司": False}
    assert names(e2) == {"华东组": False, "全公司": False}  # same department
    assert names(s1) == {"全公司": False}  # another department
    assert e1.get("/api/views", {"object_type": "order"}).json() == []

    # only the owner (or settings.manage) changes or deletes a view; others get 404
    response = _json(e2, "patch", f"/api/views/{team['id']}", {"name": "抢来的"})
    assert response.status_code == 404
    assert e2.delete(f"/api/views/{team['id']}").status_code == 404
    response = _json(e1, "patch", f"/api/views/{private['id']}", {"name": "甲级", "sort": "cf.grade"})
    assert response.status_code == 200 and (response.json()["name"], response.json()["sort"]) == (
        "甲级",
        "cf.grade",
    )
    assert response.json()["columns"] == ["name", "cf.grade"]  # untouched
    assert _json(admin, "patch", f"/api/views/{team['id']}", {"name": "华东"}).status_code == 200

    # a rep cannot share with everyone; bad columns / filters / sort / kanban are named
    before = _state()
    response = _view(e1, "全员", visibility="everyone")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "visibility"]
    response = _view(e1, "坏的", columns=["cf.nope"], sort="notes", kanban_field="name",
                     filters=[{"field": "cf.grade", "op": "gt", "value": "a"}])  # fmt: skip
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert locs == {("body", "columns"), ("body", "sort"), ("body", "kanban_field"), ("body", "filters")}
    assert _state() == before

    assert e1.delete(f"/api/views/{private['id']}").status_code == 204
    assert not SavedView.objects.filter(pk=private["id"]).exists()
    assert admin.delete(f"/api/views/{everyone['id']}").status_code == 204
    assert e1.delete(f"/api/views/{2**70}").status_code == 404


# --------------------------------------------------------------------------- the field registry


def test_field_registry(org, admin, rep):
    _grade_field(admin)
    response = rep.get("/api/fields/customer")
    assert response.status_code == 200
    fields = {f["ref"]: f for f in response.json()}
    owner = fields["owner"]
    assert (owner["type"], owner["custom"], owner["label_zh"], owner["label_en"]) == (
        "user",
        False,
        "负责人",
        "Owner",
    )
    assert [o["op"] for o in owner["ops"]] == ["eq", "ne", "in", "empty", "not_empty"]
    assert fields["name"]["required"] is True
    stage = fields["lifecycle_stage"]
    assert stage["choices"] and all(c["label_zh"] and c["label_en"] for c in stage["choices"])
    grade = fields["cf.grade"]
    assert grade["custom"] is True and grade["label"] == "Grade" and grade["type"] == "single_select"
    assert [(c["key"], c["label_zh"]) for c in grade["choices"]] == [("a", "甲级"), ("b", "乙级")]
    assert {"op": "eq", "label": "is"} in grade["ops"]
    assert fields["phone"]["filterable"] is False and fields["phone"]["ops"] == []
    assert rep.get("/api/fields/order").status_code == 200
    assert rep.get("/api/fields/planet").status_code == 422


# --------------------------------------------------------------------------- fuzzing as an administrator


def test_fuzzing_the_customisation_api_as_an_administrator_never_errors(org, keep_test_connection):
    """tests/test_api_fuzz.py runs as a sales manager (every write here is a 403); this runs the
    generated requests with settings.manage so the actions' validation is reached."""
    # Set up through the actions: django.test.Client would reconnect close_old_connections.
    field = customization.create_custom_field(
        {
            "object_type": "customer",
            "key": "grade",
            "label_zh": "等级",
            "type": "single_select",
            "options": GRADES,
        },
        actor=org.admin,
    )
    customization.save_view(
        "customer",
        {
            "name": "全部",
            "visibility": "everyone",
            "filters": [{"field": "cf.grade", "op": "eq", "value": "a"}],
        },
        actor=org.admin,
    )
    tag = customization.save_tag({"name": "重点"}, actor=org.admin)
    view = customization.save_view("customer", {"name": "我的"}, actor=org.admin)
    value = PicklistValue.objects.filter(picklist_id=field.picklist_id).first()
    known = {"field_id": field.pk, "picklist_id": field.picklist_id, "value_id": value.pk, "tag_id": tag.pk,
             "view_id": view.pk}  # fmt: skip
    prefixes = (
        "/api/custom-fields",
        "/api/picklists",
        "/api/tags",
        "/api/form-layouts",
        "/api/views",
        "/api/fields",
    )
    assert fuzz_as(org.admin, prefixes, known=known) == 22
