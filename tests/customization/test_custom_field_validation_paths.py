"""Acceptance: custom field validation is identical on the page, in the API and in imports.

Every case (one per field type and rule) sends the same input through the three write paths —
the customer create page (form field "cf_<key>"), POST /api/customers ({"custom_fields": {key: value}})
and a CSV import with a column mapped to "cf.<key>" (bulk path and per-row path) — and requires the
same stored value, or nothing stored and the same message everywhere. Each path runs in its own
rolled-back savepoint, so the paths cannot see each other's customers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import translation

from guanxi.core.actions import create_api_token
from guanxi.customers import actions, importing
from guanxi.customers.models import Customer, ImportRowStatus
from guanxi.customization import actions as customization

pytestmark = pytest.mark.django_db

NAME, PHONE = "路径测试", "13912340000"
REQUIRED = "This field is required."
TAKEN = "Another record already has this value."
SELECT_OPTIONS = [
    {"key": "gold", "label_zh": "金卡", "label_en": "Gold"},
    {"key": "silver", "label_zh": "银卡", "label_en": "Silver"},
]
MULTI_OPTIONS = [
    {"key": "golf", "label_zh": "高尔夫", "label_en": "Golf"},
    {"key": "tea", "label_zh": "茶", "label_en": "Tea"},
]


@dataclass
class Case:
    definition: dict  # type and rules of the field (key "f")
    value: Any  # the input: text, or a list of keys for a multi select
    stored: Any = None  # the stored value when valid
    error: str | None = None  # the message when invalid (English)
    setup: dict = field(default_factory=dict)  # {"holder": value} for unique, {"link": True}


def _case(kind: str, value, stored=None, error=None, **rules) -> Case:
    setup = {k: rules.pop(k) for k in ("holder", "link") if k in rules}
    return Case({"type": kind, **rules}, value, stored, error, setup)


CASES = {
    "required: given": _case("text", "abc", "abc", required=True),
    "required: empty": _case("text", "", error=REQUIRED, required=True),
    "required: blank": _case("text", "   ", error=REQUIRED, required=True),
    "unique: free": _case("text", "M-2", "M-2", unique=True, holder="M-1"),
    "unique: taken": _case("text", "M-1", error=TAKEN, unique=True, holder="M-1"),
    "regex: matches": _case("text", "AB1234", "AB1234", regex=r"[A-Z]{2}\d{4}"),
    "regex: does not match": _case(
        "text", "ab12", error=r"Does not match the required format: [A-Z]{2}\d{4}", regex=r"[A-Z]{2}\d{4}"
    ),
    "min: at least": _case("number", "0", 0, min_value=0),
    "min: below": _case("number", "-1", error="Must be at least 0.", min_value=0),
    "max: thousands separator": _case("number", "1,000", 1000, max_value=1000),
    "max: above": _case("number", "1000.5", error="Must be at most 1000.", max_value=1000),
    "number: not a number": _case("number", "abc", error="Enter a number."),
    "max_length: fits": _case("text", "abcde", "abcde", max_length=5),
    "max_length: too long": _case(
        "text", "abcdef", error="At most 5 characters (this has 6).", max_length=5
    ),
    "select: by label": _case("single_select", "Gold", "gold", options=SELECT_OPTIONS),
    "select: by Chinese label": _case("single_select", "银卡", "silver", options=SELECT_OPTIONS),
    "select: by key": _case("single_select", "silver", "silver", options=SELECT_OPTIONS),
    "select: not a choice": _case(
        "single_select", "钻石", error="钻石 is not one of the choices: Gold、Silver.", options=SELECT_OPTIONS
    ),
    "multi select: keys": _case("multi_select", ["tea", "golf"], ["golf", "tea"], options=MULTI_OPTIONS),
    "multi select: one not a choice": _case(
        "multi_select", ["golf", "ski"], error="ski is not one of the choices: Golf、Tea.", options=MULTI_OPTIONS
    ),
    "user: by username": _case("user", "rep_e2", "<rep_e2>"),
    "user: unknown": _case("user", "nobody", error="No active user matches this value."),
    "linked record: existing id": _case("linked_record", "<link>", "<link>", linked_object="customer", link=True),
    "linked record: unknown id": _case(
        "linked_record", "999999999", error="Enter the id of an existing record.", linked_object="customer"
    ),
    "linked record: not an id": _case(
        "linked_record", "abc", error="Enter the id of an existing record.", linked_object="customer"
    ),
    "phone: normalised": _case("phone", "138 1234 5678", "+8613812345678"),
    "phone: international": _case("phone", "+1 650 253 0000", "+16502530000"),
    "phone: invalid": _case("phone", "12345", error="<phone error>"),
    "email: normalised": _case("email", " Zhang.Wei@Example.COM ", "<email>"),
    "email: invalid": _case("email", "zhang@", error="<email error>"),
    "url: valid": _case("url", "https://example.com/a?b=1", "https://example.com/a?b=1"),
    "url: no scheme": _case("url", "example.com", error="Enter a web address starting with http:// or https://."),
    "boolean: 是": _case("boolean", "是", True),
    "boolean: 否": _case("boolean", "否", False),
    "boolean: yes": _case("boolean", "Yes", True),
    "boolean: not a yes or no": _case("boolean", "也许", error="Enter yes or no."),
    "date: ISO": _case("date", "2026-03-01", "2026-03-01"),
    "date: slashes": _case("date", "2026/3/1", "2026-03-01"),
    "date: Chinese": _case("date", "2026年3月1日", "2026-03-01"),
    "date: digits": _case("date", "20260301", "2026-03-01"),
    "date: no such day": _case("date", "2026-02-30", error="Enter a date such as 2026-03-01."),
    "date: words": _case("date", "next monday", error="Enter a date such as 2026-03-01."),
    "datetime: local time": _case("datetime", "2026-03-01 14:30", "2026-03-01T06:30:00+00:00"),
    "datetime: T and offset": _case("datetime", "2026-03-01T14:30:00+08:00", "2026-03-01T06:30:00+00:00"),
    "datetime: invalid hour": _case(
        "datetime", "2026-03-01 25:00", error="Enter a date and time such as 2026-03-01 14:30."
    ),
    "money: two decimals": _case("money", "1,234.50", 1234.5),
    "money: three decimals": _case("money", "12.345", error="Money has at most two decimal places."),
}  # fmt: skip


class Rollback(Exception):
    pass


def _in_savepoint(fn):
    """Run fn() and undo everything it wrote; returns its result."""
    box = {}
    with pytest.raises(Rollback), transaction.atomic():
        box["result"] = fn()
        raise Rollback
    return box["result"]


def _resolve(value, org, link_id):
    if value == "<rep_e2>":
        return org.rep_e2.pk
    if value == "<link>":
        return link_id
    return value


def _expected_error(case: Case) -> str:
    from guanxi import text as normalize

    if case.error == "<phone error>":
        try:
            normalize.normalize_phone(case.value)
        except normalize.NormalizationError as exc:
            return str(exc)
    if case.error == "<email error>":
        try:
            normalize.normalize_email(case.value)
        except normalize.NormalizationError as exc:
            return str(exc)
    return case.error


def _page(org, key: str, value) -> tuple[dict | None, list[str]]:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.admin)
    form = {
        "kind": "person",
        "name": NAME,
        "phone": PHONE,
        "source": "manual",
        "lifecycle_stage": "potential",
        "owner": org.admin.pk,
        f"cf_{key}": value,
    }
    before = Customer.objects.count()
    response = client.post(reverse("customers:create"), form)
    if response.status_code == 302:
        customer = Customer.objects.get(name=NAME)
        return customer.custom_fields, []
    assert response.status_code == 200, response.status_code
    page_form = response.context["form"]
    assert f"cf_{key}" in page_form.fields, "the create page has no form field for the custom field"
    messages = list(page_form.errors.get(f"cf_{key}", []))
    assert set(page_form.errors) == {f"cf_{key}"}, page_form.errors
    html = response.content.decode()
    for message in messages:
        assert _html_escaped(message) in html  # shown on the page
    assert Customer.objects.count() == before
    return None, messages


def _html_escaped(text: str) -> str:
    from django.utils.html import escape

    return escape(text)


def _api(org, key: str, value) -> tuple[dict | None, list[str]]:
    _token, secret = create_api_token(org.admin, "paths", actor=None)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")
    before = Customer.objects.count()
    response = client.post(
        "/api/customers",
        {"name": NAME, "phone": PHONE, "custom_fields": {key: value}},
        content_type="application/json",
    )
    if response.status_code == 201:
        return Customer.objects.get(pk=response.json()["id"]).custom_fields, []
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert all(d["loc"] == ["body", "custom_fields", key] for d in detail), detail
    assert Customer.objects.count() == before
    return None, [d["msg"] for d in detail]


def _import(org, key: str, value, *, bulk: bool) -> tuple[dict | None, list[str]]:
    cell = "、".join(value) if isinstance(value, list) else value
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["姓名", "手机", "字段"])
    writer.writerow([NAME, PHONE, cell])
    before = Customer.objects.count()
    job = importing.stage_import(
        "paths.csv", out.getvalue().encode("utf-8"), actor=org.admin, options={"language": "en"}
    )
    mapping = {"姓名": "name", "手机": "phone", "字段": f"cf.{key}"}
    importing.confirm_import(job.pk, actor=org.admin, mapping=mapping, enqueue=False)
    job = importing.run_import(job.pk, actor=org.admin, bulk=bulk)
    row = job.rows.get()
    if row.status == ImportRowStatus.CREATED:
        return Customer.objects.get(pk=row.customer_id).custom_fields, []
    assert row.status == ImportRowStatus.ERROR and job.error_count == 1
    assert set(row.errors) == {f"custom_fields.{key}"}, row.errors
    messages = row.errors[f"custom_fields.{key}"]
    # The error report names the field by its label and gives the same message.
    (_number, _data, reasons), *_rest = list(importing.error_rows(job))
    assert reasons == "; ".join(f"Field {key}: {m}" for m in messages)
    assert Customer.objects.count() == before
    return None, messages


@pytest.mark.parametrize("name", list(CASES))
def test_page_api_and_import_validate_alike(org, name):
    case = CASES[name]
    key = "f"
    link_id = None
    with translation.override("en"):
        customization.create_custom_field(
            {"object_type": "customer", "key": key, "label_zh": "字段", "label_en": f"Field {key}",
             **case.definition},
            actor=org.admin,
        )  # fmt: skip
        if "holder" in case.setup:
            actions.create_customer(
                {"name": "持有人", "phone": "13700000001", "custom_fields": {key: case.setup["holder"]}},
                actor=org.admin,
            )
        if "link" in case.setup:
            link_id = actions.create_customer({"name": "被链接", "phone": "13700000002"}, actor=org.admin).pk
        value = _resolve(case.value, org, link_id)
        outcomes = {
            "page": _in_savepoint(lambda: _page(org, key, value)),
            "api": _in_savepoint(lambda: _api(org, key, value)),
            "import (bulk)": _in_savepoint(lambda: _import(org, key, value, bulk=True)),
            "import (per row)": _in_savepoint(lambda: _import(org, key, value, bulk=False)),
        }
    stored = {path: outcome[0] for path, outcome in outcomes.items()}
    messages = {path: outcome[1] for path, outcome in outcomes.items()}
    if case.error is None:
        expected = case.stored
        if expected == "<email>":
            from guanxi import text as normalize

            expected = normalize.normalize_email(case.value)
        expected = _resolve(expected, org, link_id)
        assert stored == dict.fromkeys(outcomes, {key: expected}), messages
        assert set(map(tuple, messages.values())) == {()}
    else:
        assert stored == dict.fromkeys(outcomes), stored
        assert messages == dict.fromkeys(outcomes, [_expected_error(case)]), messages
