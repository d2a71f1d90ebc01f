"""Custom fields in the CSV / Excel import: mapping targets "cf.<key>", suggestions from labels,
stale saved mappings, typed values on both import paths, defaults, required and unique fields,
error reports with the field's label, one field registry per run."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from guanxi.customers import actions, importing
from guanxi.customers.models import Customer, ImportMapping, ImportRowStatus
from guanxi.customization import actions as customization
from guanxi.customization.models import CustomField
from tests.conftest import drain
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LEVELS = [
    {"key": "gold", "label_zh": "金卡", "label_en": "Gold"},
    {"key": "silver", "label_zh": "银卡", "label_en": "Silver"},
]
HOBBIES = [
    {"key": "golf", "label_zh": "高尔夫", "label_en": "Golf"},
    {"key": "tea", "label_zh": "茶", "label_en": "Tea"},
]


def define(actor, key, kind, zh, en="", **rules) -> CustomField:
    return customization.create_custom_field(
        {"object_type": "customer", "key": key, "type": kind, "label_zh": zh, "label_en": en, **rules},
        actor=actor,
    )


@pytest.fixture
def fields(org):
    return {
        "level": define(org.admin, "level", "single_select", "等级", "Level", required=True,
                        default="silver", options=LEVELS),
        "points": define(org.admin, "points", "number", "积分", "Points", min_value=0),
        "hobbies": define(org.admin, "hobbies", "multi_select", "爱好", "Hobbies", options=HOBBIES),
        "signed_on": define(org.admin, "signed_on", "date", "签约日期", "Signed on"),
        "vip": define(org.admin, "vip", "boolean", "是否VIP", "VIP"),
        "contact_user": define(org.admin, "contact_user", "user", "对接人", "Contact person"),
        "member_no": define(org.admin, "member_no", "text", "会员号", "Member number", unique=True),
    }  # fmt: skip


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def run(actor, data: bytes, *, bulk: bool = True, name: str = "a.csv", mapping=None, **options):
    job = importing.stage_import(name, data, actor=actor, options={"language": "en"})
    importing.confirm_import(
        job.pk, actor=actor, mapping=mapping if mapping is not None else job.mapping, enqueue=False, **options
    )
    return importing.run_import(job.pk, actor=actor, bulk=bulk)


def custom_of(phone: str) -> dict:
    digits = phone.replace(" ", "")
    return Customer.objects.get(contact_points__normalized=f"+86{digits}").custom_fields


# --------------------------------------------------------------------------- mapping


def test_targets_are_the_builtin_fields_and_every_live_custom_field(org, fields):
    with translation.override("zh-hans"):
        targets = importing.import_fields()
        assert targets["cf.level"] == "等级" and targets["cf.member_no"] == "会员号"
    with translation.override("en"):
        targets = importing.import_fields()
        assert targets["cf.level"] == "Level" and targets["cf.contact_user"] == "Contact person"
        assert targets["name"] == "Name" and targets["phone"] == "Phone"  # the built-ins stay
    assert list(targets)[: len(importing.IMPORT_FIELDS)] == list(importing.IMPORT_FIELDS)
    customization.delete_custom_field(fields["points"].pk, actor=org.admin)
    assert "cf.points" not in importing.import_fields()


def test_suggestions_match_labels_in_both_languages_and_keys(org, fields):
    define(org.admin, "customer_no", "text", "客户编号", "Customer no.")  # also an alias of external_id
    define(org.admin, "wx_group", "text", "微信群", "WeChat group")
    headers = [
        "姓名",
        "手机",
        "Level",
        "会员号",
        "客户编号",
        "wx_group",
        "签约 日期",
        "Points（分）",
        "不认识",
    ]
    assert importing.suggest_mapping(headers) == {
        "姓名": "name",
        "手机": "phone",
        "Level": "cf.level",  # English label
        "会员号": "cf.member_no",  # Chinese label
        "客户编号": "cf.customer_no",  # a custom field's exact label wins over the built-in alias
        "wx_group": "cf.wx_group",  # key
        "签约 日期": "cf.signed_on",  # compared as headers are: spaces and notes ignored
        "Points（分）": "cf.points",
    }
    # Each target at most once: the second column with the same label is left to the user.
    assert importing.suggest_mapping(["等级", "Level"]) == {"等级": "cf.level"}


def test_clean_mapping_accepts_live_custom_fields_and_names_the_problems(org, fields):
    headers = ["姓名", "等级", "级别", "旧字段"]
    assert importing.clean_mapping({"姓名": "name", "等级": "cf.level"}, headers, actor=org.admin) == {
        "姓名": "name",
        "等级": "cf.level",
    }
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        importing.clean_mapping(
            {"姓名": "name", "等级": "cf.level", "级别": "cf.level", "旧字段": "cf.gone"},
            headers,
            actor=org.admin,
        )
    assert caught.value.message_dict["mapping"] == [
        "Columns 等级 and 级别 are both mapped to Level.",
        "Column 旧字段 is mapped to the custom field gone, which no longer exists.",
    ]


def test_a_saved_mapping_follows_renames_and_reports_deleted_fields(org, fields):
    header = ["姓名", "手机", "积分", "等级"]
    data = csv_bytes(header, [["张伟", "13812345678", "10", "金卡"]])
    job = importing.stage_import("a.csv", data, actor=org.admin)
    mapping = {"姓名": "name", "手机": "phone", "积分": "cf.points", "等级": "cf.level"}
    importing.confirm_import(job.pk, actor=org.admin, mapping=mapping, save_as="会员名单", enqueue=False)
    saved = ImportMapping.objects.get(name="会员名单")
    assert saved.mapping == mapping  # custom targets are saved

    customization.rename_custom_field(fields["level"].pk, "card_level", actor=org.admin)
    customization.delete_custom_field(fields["points"].pk, actor=org.admin)
    again = importing.stage_import("b.csv", data, actor=org.admin, saved_mapping=saved)
    assert again.mapping == {**mapping, "等级": "cf.card_level"}  # renamed: followed to the new key
    message = "Column 积分 is mapped to the custom field points, which no longer exists."
    with translation.override("en"):
        assert importing.stale_targets(again.mapping) == [message]
        with pytest.raises(ValidationError) as caught:
            importing.confirm_import(again.pk, actor=org.admin, mapping=again.mapping, enqueue=False)
    assert caught.value.message_dict["mapping"] == [message]

    # The preview page shows the problem instead of failing, and no longer offers the field.
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=org.admin.username, password=PASSWORD)
    page = client.get(reverse("imports:preview", args=[again.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "mapping-errors" in html and "which no longer exists" in html
    assert 'value="cf.points"' not in html and 'value="cf.card_level" selected' in html


@pytest.mark.parametrize("bulk", [True, False])
def test_a_field_deleted_while_the_job_waits_fails_its_rows_clearly(org, fields, bulk):
    data = csv_bytes(["姓名", "手机", "积分"], [["张伟", "13812345678", "10"], ["李娜", "13912345678", ""]])
    job = importing.stage_import("a.csv", data, actor=org.admin, options={"language": "en"})
    importing.confirm_import(job.pk, actor=org.admin, mapping=job.mapping, enqueue=False)
    assert job.mapping["积分"] == "cf.points"
    customization.delete_custom_field(fields["points"].pk, actor=org.admin)
    job = importing.run_import(job.pk, actor=org.admin, bulk=bulk)
    assert (job.created_count, job.error_count) == (1, 1)  # 李娜's row has no value for it
    assert job.rows.get(row_number=2).errors == {"custom_fields.points": ["Unknown custom field."]}
    (number, _data, reasons), = importing.error_rows(job)  # fmt: skip
    assert (number, reasons) == (2, "积分: Unknown custom field.")


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_the_preview_page_offers_custom_fields_and_preselects_suggestions(org, fields, queue):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=org.admin.username, password=PASSWORD)
    data = csv_bytes(["姓名", "手机", "Level"], [["张伟", "13812345678", "Gold"]])
    client.post(reverse("imports:index"), {"file": _upload(data)})
    drain(queue)  # every upload is read by the worker
    job = importing.jobs_visible_to(org.admin).get()
    html = client.get(reverse("imports:preview", args=[job.pk])).content.decode()
    assert '<optgroup label="Custom fields">' in html
    assert 'value="cf.level" selected>Level</option>' in html and ">Member number</option>" in html
    response = client.post(
        reverse("imports:preview", args=[job.pk]), {"map-0": "name", "map-1": "phone", "map-2": "cf.level"}
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.mapping == {"姓名": "name", "手机": "phone", "Level": "cf.level"}


def _upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("list.csv", data)


# --------------------------------------------------------------------------- values


HEADER = ["姓名", "手机", "等级", "积分", "爱好", "签约日期", "是否VIP", "对接人", "会员号"]


@pytest.mark.parametrize("bulk", [True, False])
def test_values_are_typed_defaulted_and_validated(org, fields, bulk):
    rows = [
        ["张伟", "13812345678", "金卡", "1,200", "茶、高尔夫", "2026/3/1", "是", "rep_e2", "M-1"],
        ["李娜", "13912345678", "", "", "", "", "否", "", ""],  # the level's default
        ["王芳", "13712345678", "钻石", "-3", "", "2026-02-30", "", "nobody", ""],
        ["赵强", "13612345678", "", "", "", "", "", "", "M-1"],  # 张伟's member number
    ]
    job = run(org.admin, csv_bytes(HEADER, rows), bulk=bulk)
    assert (job.created_count, job.error_count) == (2, 2)
    assert custom_of("13812345678") == {
        "contact_user": org.rep_e2.pk,
        "hobbies": ["golf", "tea"],
        "level": "gold",
        "member_no": "M-1",
        "points": 1200,
        "signed_on": "2026-03-01",
        "vip": True,
    }
    assert custom_of("13912345678") == {"level": "silver", "vip": False}
    assert job.rows.get(row_number=4).errors == {
        "custom_fields.level": ["钻石 is not one of the choices: Gold、Silver."],
        "custom_fields.points": ["Must be at least 0."],
        "custom_fields.signed_on": ["Enter a date such as 2026-03-01."],
        "custom_fields.contact_user": ["No active user matches this value."],
    }
    assert job.rows.get(row_number=5).errors == {
        "custom_fields.member_no": ["Another record already has this value."]
    }
    # Error report: each custom field named by its label (the job's language), the rest by column.
    reasons = dict((n, r) for n, _d, r in importing.error_rows(job))
    assert reasons[5] == "Member number: Another record already has this value."
    assert "Level: 钻石 is not one of the choices: Gold、Silver." in reasons[4]
    assert "Points: Must be at least 0." in reasons[4] and "Contact person: No active user" in reasons[4]


@pytest.mark.parametrize("bulk", [True, False])
@pytest.mark.parametrize("overwrite", [False, True])
def test_known_customers_get_values_filled_or_overwritten(org, fields, bulk, overwrite):
    actions.create_customer(
        {"name": "张伟", "phone": "13812345678", "custom_fields": {"level": "gold", "member_no": "M-1"}},
        actor=org.admin,
    )
    actions.create_customer({"name": "李娜", "phone": "13912345678", "custom_fields": {}}, actor=org.admin)
    rows = [
        ["", "13812345678", "银卡", "5", "", "", "", "", "M-2"],  # has a level and a number already
        ["", "13912345678", "银卡", "", "", "", "", "", "M-1"],  # 张伟's number
        ["", "13912345678", "", "", "", "", "是", "", ""],
    ]
    job = run(org.admin, csv_bytes(HEADER, rows), bulk=bulk, update_existing=overwrite)
    zhang, li = custom_of("13812345678"), custom_of("13912345678")
    if overwrite:  # 张伟 gives up M-1 for M-2, so 李娜 may take it
        assert zhang == {"level": "silver", "member_no": "M-2", "points": 5}
        assert li == {"level": "silver", "member_no": "M-1", "vip": True}
        assert (job.updated_count, job.error_count) == (3, 0)
    else:
        assert zhang == {"level": "gold", "member_no": "M-1", "points": 5}
        assert job.rows.get(row_number=3).errors == {
            "custom_fields.member_no": ["Another record already has this value."]
        }
        assert li == {"level": "silver", "vip": True}  # the default it was created with, plus 是
        assert (job.updated_count, job.error_count) == (2, 1)
    customer = Customer.objects.get(name="李娜")
    assert customer.field_sources["custom_fields"]["channel"] == "import"


@pytest.mark.parametrize("bulk", [True, False])
def test_importing_the_same_file_again_changes_nothing(org, fields, bulk):
    rows = [
        ["张伟", "13812345678", "金卡", "10", "茶", "2026-03-01", "是", "rep_e2", "M-1"],
        ["李娜", "13912345678", "", "", "", "", "", "", "M-2"],
    ]
    data = csv_bytes(HEADER, rows)
    first = run(org.admin, data, bulk=bulk)
    assert (first.created_count, first.error_count) == (2, 0)
    second = run(org.admin, data, bulk=bulk)  # the unique numbers are held by the same customers
    assert (second.unchanged_count, second.error_count, second.created_count) == (2, 0, 0)


def test_excel_cells_become_the_same_values_as_text(org, fields):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["张伟", 13812345678, "Gold", 12.5, "Golf", dt.date(2026, 3, 1), True, "rep_e2", 1001])
    out = io.BytesIO()
    book.save(out)
    job = run(org.admin, out.getvalue(), name="a.xlsx")
    assert job.created_count == 1, list(job.rows.values_list("errors", flat=True))
    assert custom_of("13812345678") == {
        "contact_user": org.rep_e2.pk,
        "hobbies": ["golf"],
        "level": "gold",
        "member_no": "1001",
        "points": 12.5,
        "signed_on": "2026-03-01",
        "vip": True,
    }


@pytest.mark.parametrize("bulk", [True, False])
def test_a_required_field_without_default_fails_new_customers_and_new_companies(org, bulk):
    define(org.admin, "region", "text", "区域", "Region", required=True)
    rows = [
        ["张伟", "13812345678", "华东", ""],
        ["李娜", "13912345678", "", ""],
        ["王芳", "13712345678", "华南", "新公司有限公司"],  # the company would be created without one
        ["", "13800000001", "", ""],  # an existing customer (客户甲) is only updated: fine
    ]
    job = run(org.admin, csv_bytes(["姓名", "手机", "区域", "公司"], rows), bulk=bulk)
    assert (job.created_count, job.error_count) == (1, 2)
    assert custom_of("13812345678") == {"region": "华东"}
    required = {"custom_fields.region": ["This field is required."]}
    assert job.rows.get(row_number=3).errors == required
    assert job.rows.get(row_number=4).errors == required
    assert job.rows.get(row_number=5).status == ImportRowStatus.UNCHANGED
    assert not Customer.objects.filter(name="新公司有限公司").exists()


# --------------------------------------------------------------------------- speed


@pytest.mark.parametrize("bulk", [True, False])
def test_one_field_registry_per_run(org, fields, bulk):
    table = CustomField._meta.db_table

    def definition_queries(n: int) -> int:
        rows = [
            [
                f"客户{i}",
                f"139{n:02d}12{i:04d}",
                ["金卡", "银卡"][i % 2],
                str(i),
                "茶",
                "2026-03-01",
                "是",
                "",
                f"N-{n}-{i}",
            ]
            for i in range(n)
        ]
        with CaptureQueriesContext(connection) as queries:
            job = run(org.admin, csv_bytes(HEADER, rows), bulk=bulk)
        assert job.created_count == n
        return sum(1 for q in queries.captured_queries if f'FROM "{table}"' in q["sql"])

    assert definition_queries(3) == definition_queries(30) <= 3
