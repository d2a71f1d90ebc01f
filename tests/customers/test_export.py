"""Export of the customer list view (CSV and XLSX): same rows, columns and order as the page, only
visible customers, phones masked as on the page, labels in the current language, audited, and in a
fixed number of queries however many rows."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from guanxi.core.models import AuditAction, AuditEntry, Role
from guanxi.core.permissions import DataScope, Perm
from guanxi.customers import actions
from guanxi.customers.models import Customer
from guanxi.customization import actions as customization
from guanxi.customization.models import CustomField, FieldType
from tests.factories import PASSWORD, make_customer, make_user

pytestmark = pytest.mark.django_db

GRADES = [
    {"key": "gold", "label_zh": "金牌", "label_en": "Gold"},
    {"key": "silver", "label_zh": "银牌", "label_en": "Silver"},
]
COLUMNS = ["name", "phone", "owner", "cf.grade", "cf.budget", "tags"]


@pytest.fixture
def setup(org):
    customization.create_custom_field(
        {"object_type": "customer", "key": "grade", "label_zh": "客户级别", "label_en": "Grade",
         "type": FieldType.SINGLE_SELECT, "options": GRADES}, actor=org.admin)  # fmt: skip
    customization.create_custom_field(
        {"object_type": "customer", "key": "budget", "label_zh": "预算", "label_en": "Budget",
         "type": FieldType.MONEY}, actor=org.admin)  # fmt: skip
    c = org.customers
    for key, grade, budget in (("c_e1", "gold", "1234.5"), ("c_e2", "silver", None), ("c_s1", "gold", "99"),
                               ("c_mgr", "gold", None), ("c_admin", "silver", "-7")):  # fmt: skip
        values = {"grade": grade, **({"budget": budget} if budget else {})}
        actions.update_customer(c[key].pk, {"custom_fields": values, "tags": ["重点"]}, actor=None)
    # A rep-like role that may export its department's customers but not see their phones in full.
    role = Role.objects.create(code="exporting_rep", name="Exporting rep", data_scope=DataScope.DEPARTMENT,
                               permissions=[Perm.CUSTOMER_VIEW, Perm.CUSTOMER_EXPORT])  # fmt: skip
    org.exporter = make_user("exporter", role=role, department=org.east)
    return org


def client_for(user, language="en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 byte order mark: Excel reads the Chinese right
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [["" if v is None else v for v in row] for row in workbook.active.iter_rows(values_only=True)]


def test_csv_has_the_custom_column_display_values_only_visible_customers_and_masked_phones(setup):
    org = setup
    client = client_for(org.exporter)
    params = {"fb": "1", "col": COLUMNS, "sort": "created_at"}
    rows = csv_rows(client.get("/customers/export.csv", params))
    assert rows[0] == ["Name", "Mobile / phone", "Owner", "Grade", "Budget", "Tags"]
    by_name = {row[0]: row for row in rows[1:]}
    # Department scope: the East team's customers (rep_e1, rep_e2, manager_e), never the others.
    assert set(by_name) == {"客户甲", "客户乙", "客户丁"}
    assert by_name["客户甲"] == ["客户甲", "138****0001", "rep_e1", "Gold", "1,234.50", "重点"]
    assert by_name["客户乙"][3:5] == ["Silver", ""]
    assert all("****" in row[1] for row in rows[1:])  # not an owner, no permission: masked
    assert [row[0] for row in rows[1:]] == ["客户甲", "客户乙", "客户丁"]  # the view's sort (creation)
    # In Chinese the headers and choice labels are Chinese.
    rows = csv_rows(client_for(org.exporter, "zh-hans").get("/customers/export.csv", params))
    assert rows[0][3] == "客户级别" and {row[3] for row in rows[1:]} == {"金牌", "银牌"}
    # Someone entitled to full phones gets them; filters of the page apply to the export.
    rows = csv_rows(client_for(org.director).get("/customers/export.csv", {**params, "f_field": "cf.grade",
                                                                          "f_op": "eq", "f_value": "gold"}))  # fmt: skip
    assert {row[0]: row[1] for row in rows[1:]} == {"客户甲": "138 0000 0001", "客户丙": "138 0000 0003",
                                                   "客户丁": "138 0000 0004"}  # fmt: skip


def test_xlsx_opens_and_has_the_same_rows_as_the_csv(setup):
    org = setup
    client = client_for(org.marketing)  # all customers, phones masked
    params = {"fb": "1", "col": COLUMNS, "sort": "-cf.budget"}
    text = csv_rows(client.get("/customers/export.csv", params))
    sheet = xlsx_rows(client.get("/customers/export.xlsx", params))
    assert sheet[0] == text[0]
    assert len(sheet) == len(text) == 1 + Customer.objects.alive().count()
    # Money stays a number in the workbook (formatted as text in the CSV).
    budgets = {row[0]: row[4] for row in sheet[1:]}
    assert budgets["客户甲"] == 1234.5 and budgets["客户己"] == -7 and budgets["客户乙"] == ""
    for xrow, crow in zip(sheet[1:], text[1:], strict=True):
        as_text = [f"{v:,.2f}" if isinstance(v, int | float) else str(v) for v in xrow]
        assert as_text == crow
    assert [row[0] for row in sheet[1:4]] == ["客户甲", "客户丙", "客户己"]  # sorted by budget, descending


def test_export_honours_a_saved_view_and_the_search(setup):
    org = setup
    view = customization.save_view("customer", {
        "name": "金牌客户", "visibility": "private", "columns": ["name", "cf.grade"],
        "filters": [{"field": "cf.grade", "op": "eq", "value": "gold"}], "sort": "-created_at",
    }, actor=org.marketing)  # fmt: skip
    client = client_for(org.marketing)
    rows = csv_rows(client.get("/customers/export.csv", {"view": view.pk}))
    assert rows == [["Name", "Grade"], ["客户丁", "Gold"], ["客户丙", "Gold"], ["客户甲", "Gold"]]
    rows = csv_rows(client.get("/customers/export.csv", {"view": view.pk, "q": "客户丙"}))
    assert rows == [["Name", "Grade"], ["客户丙", "Gold"]]
    # Someone else's private view is not theirs to use: the export falls back to the plain list.
    rows = csv_rows(client_for(org.admin).get("/customers/export.csv", {"view": view.pk}))
    assert rows[0][:3] == ["Name", "Company", "Mobile / phone"] and len(rows) == 8


def test_every_export_is_audited_and_needs_the_permission(setup):
    org = setup
    client = client_for(org.exporter)
    before = AuditEntry.objects.count()
    csv_rows(client.get("/customers/export.csv", {"q": "客户", "fb": "1", "col": ["name"], "tier": "A"}))
    entry = AuditEntry.objects.order_by("-id").first()
    assert AuditEntry.objects.count() == before + 1
    assert (
        entry.actor == org.exporter
        and entry.action == AuditAction.EXPORT
        and entry.object_id == org.exporter.pk
    )
    assert entry.after["export"] == "customer" and entry.after["format"] == "csv"
    assert entry.after["columns"] == ["name"] and entry.after["search"] == "客户"
    assert entry.after["conditions"] == [{"field": "tier", "op": "eq", "value": "A"}]
    xlsx_rows(client.get("/customers/export.xlsx"))
    assert AuditEntry.objects.order_by("-id").first().after["format"] == "xlsx"
    # A rep without customer.export gets a 403 and nothing is written.
    count = AuditEntry.objects.count()
    rep = client_for(org.rep_e1)
    assert rep.get("/customers/export.csv").status_code == 403
    assert rep.get("/customers/export.xlsx").status_code == 403
    assert AuditEntry.objects.count() == count
    assert Client().get("/customers/export.csv").status_code == 302  # to the login page


def test_formulas_in_data_are_never_formulas_in_the_files(setup):
    org = setup
    Customer.objects.filter(pk=org.customers["c_e1"].pk).update(
        name='=HYPERLINK("http://x","y")', city="@SUM(1)"
    )
    client = client_for(org.marketing)
    params = {"fb": "1", "col": ["name", "city", "cf.budget"], "sort": "cf.budget"}
    rows = csv_rows(client.get("/customers/export.csv", params))
    assert ['\'=HYPERLINK("http://x","y")', "'@SUM(1)", "1,234.50"] in rows
    assert ["客户己", "", "-7.00"] in rows  # a negative number is not a formula
    response = client.get("/customers/export.xlsx", params)
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    cells = [row for row in workbook.active.iter_rows() if row[0].value == '=HYPERLINK("http://x","y")']
    assert len(cells) == 1 and cells[0][0].data_type == "s"  # text, not a formula


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_export_does_not_grow_with_rows(setup):
    org = setup
    client = client_for(org.marketing)
    customization.create_custom_field(
        {"object_type": "customer", "key": "referrer", "label_zh": "介绍人", "type": FieldType.USER},
        actor=org.admin,
    )
    params = {"fb": "1", "col": [*COLUMNS, "company_name", "email", "cf.referrer", "created_at"]}
    actions.update_customer(
        org.customers["c_e1"].pk, {"custom_fields": {"referrer": org.admin.pk}}, actor=None
    )

    def export_csv():
        csv_rows(client.get("/customers/export.csv", params))

    def export_xlsx():
        xlsx_rows(client.get("/customers/export.xlsx", params))

    small_csv, small_xlsx = _queries(export_csv), _queries(export_xlsx)
    company = make_customer(org.rep_e1, name="大公司", kind="company")
    for i in range(30):
        customer = make_customer(org.rep_e1 if i % 2 else org.rep_s1, name=f"联系人{i}", phone=f"1390000{i:04d}",
                                 email=f"p{i}@example.com", tags=["VIP", f"t{i % 3}"], company_id=company.pk)  # fmt: skip
        actions.update_customer(customer.pk, {"custom_fields": {"grade": "gold", "budget": i,
                                "referrer": [org.director.pk, org.rep_e2.pk][i % 2]}}, actor=None)  # fmt: skip
    assert _queries(export_csv) == small_csv
    assert _queries(export_xlsx) == small_xlsx
    rows = csv_rows(client.get("/customers/export.csv", params))
    assert len(rows) == 1 + 7 + 31
    referrers = {row[0]: row[-2] for row in rows[1:]}
    assert referrers["联系人0"] == "director" and referrers["联系人1"] == "rep_e2"


def test_a_linked_customer_the_user_cannot_see_is_shown_by_id_in_the_list_and_the_export(setup):
    from guanxi.customers import actions
    from guanxi.customization.actions import create_custom_field

    org = setup
    create_custom_field(
        {"object_type": "customer", "key": "parent", "label_zh": "上级客户", "label_en": "Parent", "type": "linked_record",
         "linked_object": "customer"},
        actor=org.admin,
    )  # fmt: skip
    hidden = org.customers["c_s1"]  # South: outside the exporter's department
    shown = org.customers["c_e2"]
    actions.update_customer(
        org.customers["c_e1"].pk, {"custom_fields": {"parent": hidden.pk}}, actor=org.admin
    )
    actions.update_customer(
        org.customers["c_mgr"].pk, {"custom_fields": {"parent": shown.pk}}, actor=org.admin
    )
    params = {"fb": "1", "col": ["name", "cf.parent"], "sort": "created_at"}
    client = client_for(org.exporter)
    rows = {row[0]: row[1] for row in csv_rows(client.get("/customers/export.csv", params))[1:]}
    assert rows["客户甲"] == str(hidden.pk) and rows["客户丁"] == shown.name
    page = client.get("/customers/", params).content.decode()
    assert hidden.name not in page and shown.name in page


def test_formulas_in_header_labels_are_never_formulas_in_the_files(setup):
    """Hole (issue 9 §8): a custom field's label became the header cell as it was. The old code wrote
    `=HYPERLINK(...)` as a live formula into the XLSX header and unescaped into the CSV header row;
    headers are now neutralised as data cells are."""
    org = setup
    label = '=HYPERLINK("http://evil.example","Grade")'
    customization.update_custom_field(
        CustomField.objects.get(key="grade").pk,
        {"label_en": label, "label_zh": "@SUM(1)"},
        actor=org.admin,
    )
    client = client_for(org.marketing)
    params = {"fb": "1", "col": ["name", "cf.grade"]}
    header = csv_rows(client.get("/customers/export.csv", params))[0]
    assert header[1] == "'" + label
    response = client.get("/customers/export.xlsx", params)
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    cell = next(workbook.active.iter_rows(max_row=1))[1]
    assert (cell.value, cell.data_type) == (label, "s")  # text, not a formula
    zh = csv_rows(client_for(org.marketing, "zh-hans").get("/customers/export.csv", params))[0]
    assert zh[1] == "'@SUM(1)"
