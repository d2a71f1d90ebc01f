"""The customer form and detail page driven by form layouts, with custom fields (issue 5).

Custom fields are created through the real action; the pages are driven through the Django test
client as a browser would: what the edit page renders is what gets posted back.
"""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from guanxi.core.models import AuditEntry, Event
from guanxi.customers import actions
from guanxi.customers.models import Customer
from guanxi.customization.actions import create_custom_field, save_form_layout
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def rep(org):
    """rep_e1: scope "own", may create and change customers, may not assign owners."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=org.rep_e1.username, password=PASSWORD)
    return client


def _field(org, key, kind, **extra):
    data = {
        "object_type": "customer",
        "key": key,
        "label_zh": f"{key}中文",
        "label_en": f"{key} label",
        "type": kind,
        **extra,
    }
    return create_custom_field(data, actor=org.admin)


def _form(**data):
    return {"kind": "person", "source": "manual", "lifecycle_stage": "potential", **data}


def _as_posted(form) -> dict:
    """What a browser submits for the rendered form (the fields the page shows) left as it is."""
    data = {}
    for field in (f for section in form.layout_sections for f in section["fields"]):
        name, value = field.name, field.value()
        if value is None:
            value = ""
        elif isinstance(value, dt.date):
            value = value.isoformat()
        data[name] = value
    return data


def _counts():
    return Customer.objects.count(), AuditEntry.objects.count(), Event.objects.count()


def _input_tag(html: str, name: str) -> str:
    match = re.search(rf'<(input|select|textarea)[^>]*name="{name}"[^>]*>', html)
    assert match, f"no form control named {name}"
    return match.group(0)


# --------------------------------------------------------------------------- required rule


def test_required_single_select_blocks_create_until_given(org, rep):
    _field(org, "level", "single_select", required=True, options="金牌|Gold\n银牌|Silver")
    page = rep.get("/customers/new/")
    html = page.content.decode()
    tag = _input_tag(html, "cf_level")
    assert tag.startswith("<select")
    assert "required" not in tag.replace("aria-required", "")  # the browser does not stop the post
    assert re.search(r'for="id_cf_level">level label <span class="text-danger required-marker"', html)
    assert '<option value="金牌">Gold</option>' in html and '<option value="银牌">Silver</option>' in html

    before = _counts()
    response = rep.post("/customers/new/", _form(name="王小明", cf_level=""))
    assert response.status_code == 200
    assert response.context["form"].errors["cf_level"] == ["This field is required."]
    assert 'class="form-select is-invalid"' in _input_tag(response.content.decode(), "cf_level")
    assert _counts() == before

    response = rep.post("/customers/new/", _form(name="王小明", cf_level="银牌"))
    assert response.status_code == 302
    customer = Customer.objects.get(name="王小明")
    assert customer.custom_fields == {"level": "银牌"}
    assert customer.owner_id == org.rep_e1.pk


def test_bad_custom_value_is_shown_on_its_field_and_nothing_is_stored(org, rep):
    _field(org, "score", "number", max_value="100")
    _field(org, "site", "url")
    before = _counts()
    response = rep.post("/customers/new/", _form(name="李四", cf_score="120", cf_site="ftp://x"))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["cf_score"] == ["Must be at most 100."]
    assert errors["cf_site"] == ["Enter a web address starting with http:// or https://."]
    assert _counts() == before


def test_a_new_record_starts_with_the_default_which_may_be_cleared(org, rep):
    _field(org, "channel_note", "text", default="展会")
    form = rep.get("/customers/new/").context["form"]
    assert form["cf_channel_note"].value() == "展会"
    assert rep.post("/customers/new/", _form(name="甲", cf_channel_note="展会")).status_code == 302
    assert rep.post("/customers/new/", _form(name="乙", cf_channel_note="")).status_code == 302
    assert Customer.objects.get(name="甲").custom_fields == {"channel_note": "展会"}
    assert Customer.objects.get(name="乙").custom_fields == {}


# --------------------------------------------------------------------------- edit


def test_edit_keeps_untouched_values_and_clears_emptied_ones(org, rep):
    _field(org, "hobby", "text")
    _field(org, "budget", "money")
    _field(org, "colors", "multi_select", options="红|Red\n蓝|Blue")
    customer = org.customers["c_e1"]
    actions.update_customer(
        customer.pk,
        {"custom_fields": {"hobby": "钓鱼", "budget": "5000", "colors": ["红", "蓝"]}},
        actor=org.rep_e1,
    )
    form = rep.get(f"/customers/{customer.pk}/edit/").context["form"]
    data = _as_posted(form)
    assert (data["cf_hobby"], data["cf_budget"], data["cf_colors"]) == ("钓鱼", "5000", ["红", "蓝"])

    # Saved as it is: nothing changes, nothing is audited.
    before = _counts()
    assert rep.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    assert _counts() == before

    # Emptying one value and unselecting all options clears them; the rest stays.
    data.update(cf_budget="")
    data.pop("cf_colors")  # a select multiple with nothing selected is not posted at all
    assert rep.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert customer.custom_fields == {"hobby": "钓鱼"}
    entry = AuditEntry.objects.filter(object_id=str(customer.pk)).order_by("-id").first()
    assert entry.after["custom_fields"] == {"hobby": "钓鱼"}


def test_required_field_cannot_be_emptied_but_does_not_block_unrelated_edits(org, rep):
    customer = org.customers["c_e1"]
    _field(org, "level", "single_select", required=True, options="金牌|Gold\n银牌|Silver")
    # The customer was created before the field became required: editing its city still works.
    data = _as_posted(rep.get(f"/customers/{customer.pk}/edit/").context["form"])
    assert data["cf_level"] == ""
    assert rep.post(f"/customers/{customer.pk}/edit/", {**data, "city": "南京"}).status_code == 302
    customer.refresh_from_db()
    assert customer.city == "南京" and customer.custom_fields == {}

    data = _as_posted(rep.get(f"/customers/{customer.pk}/edit/").context["form"])
    assert rep.post(f"/customers/{customer.pk}/edit/", {**data, "cf_level": "金牌"}).status_code == 302
    customer.refresh_from_db()
    assert customer.custom_fields == {"level": "金牌"}

    before = _counts()
    data = _as_posted(rep.get(f"/customers/{customer.pk}/edit/").context["form"])
    response = rep.post(f"/customers/{customer.pk}/edit/", {**data, "cf_level": "", "city": "苏州"})
    assert response.status_code == 200
    assert response.context["form"].errors["cf_level"] == ["This field is required."]
    customer.refresh_from_db()
    assert customer.city == "南京" and customer.custom_fields == {"level": "金牌"}
    assert _counts() == before


# --------------------------------------------------------------------------- layouts


def test_layout_orders_sections_and_hides_builtin_fields_without_blanking_them(org, rep):
    level = _field(org, "level", "single_select", options="金牌|Gold")
    _field(org, "hobby", "text")
    save_form_layout(
        "customer",
        [
            {"title_zh": "资质", "title_en": "Qualification", "fields": ["cf.level", "name", "kind"]},
            {"title_zh": "联系", "title_en": "Reach", "fields": ["phone", "city", "owner"]},
        ],
        actor=org.admin,
    )
    customer = org.customers["c_e1"]
    actions.update_customer(
        customer.pk,
        {"industry": "制造业", "notes": "老客户", "tier": "A", "custom_fields": {"hobby": "钓鱼"}},
        actor=org.rep_e1,
    )
    response = rep.get(f"/customers/{customer.pk}/edit/")
    html = response.content.decode()
    fields = re.findall(r'data-field="([^"]+)"', html)
    # Layout order; owner is skipped (rep_e1 may not assign); unplaced custom fields come last.
    assert fields == ["cf_level", "name", "kind", "phone", "city", "cf_hobby"]
    legends = re.findall(r"<legend[^>]*>([^<]*)</legend>", html)
    assert legends == ["Qualification", "Reach", "More"]
    for hidden in ("industry", "notes", "tier", "source", "lifecycle_stage"):
        assert f'name="{hidden}"' not in html

    data = _as_posted(response.context["form"])
    data.update(city="杭州", cf_level="金牌")
    assert rep.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert (customer.city, customer.industry, customer.notes, customer.tier) == (
        "杭州",
        "制造业",
        "老客户",
        "A",
    )
    assert customer.custom_fields == {"hobby": "钓鱼", level.key: "金牌"}

    # A Chinese page shows the Chinese titles.
    zh = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    zh.force_login(org.rep_e1)
    html = zh.get(f"/customers/{customer.pk}/edit/").content.decode()
    assert re.findall(r"<legend[^>]*>([^<]*)</legend>", html) == ["资质", "联系", "其他信息"]


def test_create_without_hidden_builtin_fields_uses_their_defaults(org, rep):
    save_form_layout("customer", [{"title_zh": "基本", "fields": ["kind", "name", "phone"]}], actor=org.admin)
    response = rep.post("/customers/new/", {"kind": "person", "name": "赵六", "phone": "13912340000"})
    assert response.status_code == 302
    customer = Customer.objects.get(name="赵六")
    assert (customer.source, customer.lifecycle_stage, customer.owner_id) == (
        "manual",
        "potential",
        org.rep_e1.pk,
    )


def test_duplicate_warning_still_works_with_custom_fields(org, rep):
    _field(org, "hobby", "text")
    data = _form(name="另一个人", phone="13800000003", cf_hobby="钓鱼")
    response = rep.post("/customers/new/", data)
    assert 'id="duplicate-warning"' in response.content.decode()
    assert rep.post("/customers/new/", {**data, "confirm_duplicate": "on"}).status_code == 302
    assert Customer.objects.get(name="另一个人").custom_fields == {"hobby": "钓鱼"}


# --------------------------------------------------------------------------- every widget


def _all_types(org):
    _field(org, "f_text", "text")
    _field(org, "f_long", "long_text")
    _field(org, "f_number", "number")
    _field(org, "f_money", "money")
    _field(org, "f_date", "date")
    _field(org, "f_datetime", "datetime")
    _field(org, "f_bool", "boolean")
    _field(org, "f_single", "single_select", options="金牌|Gold\n银牌|Silver")
    _field(org, "f_multi", "multi_select", options="甲|A\n乙|B\n丙|C")
    _field(org, "f_user", "user")
    _field(org, "f_phone", "phone")
    _field(org, "f_email", "email")
    _field(org, "f_url", "url")
    _field(org, "f_linked", "linked_record", linked_object="customer")


def test_each_widget_type_round_trips(org, rep):
    _all_types(org)
    linked = org.customers["c_e1"]
    html = rep.get("/customers/new/").content.decode()
    assert _input_tag(html, "cf_f_text").startswith('<input type="text"')
    assert _input_tag(html, "cf_f_long").startswith("<textarea")
    assert 'inputmode="decimal"' in _input_tag(html, "cf_f_number")
    assert 'inputmode="decimal"' in _input_tag(html, "cf_f_money")
    assert _input_tag(html, "cf_f_date").startswith('<input type="date"')
    assert _input_tag(html, "cf_f_datetime").startswith('<input type="datetime-local"')
    assert _input_tag(html, "cf_f_bool").startswith("<select")
    assert "multiple" in _input_tag(html, "cf_f_multi")
    assert _input_tag(html, "cf_f_user").startswith("<select")
    assert f'<option value="{org.rep_e2.pk}">{org.rep_e2}</option>' in html
    assert _input_tag(html, "cf_f_linked").startswith('<input type="number"')

    posted = {
        "cf_f_text": "蓝色",
        "cf_f_long": "第一行\n第二行",
        "cf_f_number": "42.5",
        "cf_f_money": "1,234.50",
        "cf_f_date": "2026-03-01",
        "cf_f_datetime": "2026-03-01T14:30",
        "cf_f_bool": "true",
        "cf_f_single": "金牌",
        "cf_f_multi": ["丙", "甲"],
        "cf_f_user": str(org.rep_e2.pk),
        "cf_f_phone": "139 1234 5678",
        "cf_f_email": "Li@Example.COM",
        "cf_f_url": "https://example.com/a",
        "cf_f_linked": str(linked.pk),
    }
    response = rep.post("/customers/new/", _form(name="周七", **posted))
    assert response.status_code == 302, response.context["form"].errors
    customer = Customer.objects.get(name="周七")
    moment = timezone.make_aware(dt.datetime(2026, 3, 1, 14, 30)).astimezone(dt.UTC)
    assert customer.custom_fields == {
        "f_text": "蓝色",
        "f_long": "第一行\n第二行",
        "f_number": 42.5,
        "f_money": 1234.5,
        "f_date": "2026-03-01",
        "f_datetime": moment.isoformat(),
        "f_bool": True,
        "f_single": "金牌",
        "f_multi": ["丙", "甲"],
        "f_user": org.rep_e2.pk,
        "f_phone": "+8613912345678",
        "f_email": "li@example.com",
        "f_url": "https://example.com/a",
        "f_linked": linked.pk,
    }

    # The edit page shows every value as it was typed (in local time), so saving it unchanged
    # changes nothing.
    form = rep.get(f"/customers/{customer.pk}/edit/").context["form"]
    shown = {k: v for k, v in _as_posted(form).items() if k.startswith("cf_")}
    assert shown == {
        **posted,
        "cf_f_long": "第一行\n第二行",
        "cf_f_money": "1234.5",
        "cf_f_multi": ["丙", "甲"],
        "cf_f_phone": "+8613912345678",
        "cf_f_email": "li@example.com",
    }
    before = _counts()
    assert rep.post(f"/customers/{customer.pk}/edit/", _as_posted(form)).status_code == 302
    assert _counts() == before

    # Changing a few values through the same widgets.
    data = {
        **_as_posted(form),
        "cf_f_bool": "false",
        "cf_f_datetime": "2026-12-31T23:59",
        "cf_f_multi": ["乙"],
        "cf_f_user": "",
        "cf_f_date": "",
    }
    assert rep.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    values = customer.custom_fields
    assert values["f_bool"] is False and values["f_multi"] == ["乙"]
    assert "f_user" not in values and "f_date" not in values
    local = timezone.localtime(dt.datetime.fromisoformat(values["f_datetime"]))
    assert (local.date(), local.hour, local.minute) == (dt.date(2026, 12, 31), 23, 59)


# --------------------------------------------------------------------------- detail page


def test_detail_page_shows_labels_names_and_dashes(org, rep):
    _field(org, "level", "single_select", options="金牌|Gold\n银牌|Silver")
    _field(org, "vip", "boolean")
    _field(org, "helper", "user")
    _field(org, "referrer", "linked_record", linked_object="customer")
    _field(org, "hobby", "text")
    save_form_layout(
        "customer",
        [
            {"title_zh": "基本", "title_en": "Basics", "fields": ["kind", "name"]},
            {"title_zh": "等级", "title_en": "Grading", "fields": ["cf.level", "cf.vip"]},
        ],
        actor=org.admin,
    )
    customer = org.customers["c_e1"]
    hidden = org.customers["c_s1"]  # rep_e1 cannot see it
    actions.update_customer(
        customer.pk,
        {"custom_fields": {"level": "银牌", "vip": True, "helper": org.rep_e2.pk}},
        actor=org.rep_e1,
    )
    Customer.objects.filter(pk=customer.pk).update(
        custom_fields={**Customer.objects.get(pk=customer.pk).custom_fields, "referrer": hidden.pk}
    )
    html = rep.get(f"/customers/{customer.pk}/").content.decode()
    cards = re.findall(r'custom-field-section"><div class="card-header">([^<]*)</div>', html)
    assert cards == ["Grading", "More"]

    def shown(key):
        match = re.search(rf'data-custom-field="{key}">(.*?)</dd>', html, re.S)
        return unescape(match.group(1)).strip()

    assert shown("level") == "Silver"
    assert shown("vip") == "Yes"
    assert shown("helper") == str(org.rep_e2)
    assert shown("hobby") == "—"
    assert shown("referrer") == str(hidden.pk)  # the id only: the name of an invisible record never leaks
    assert hidden.name not in html

    # A visible linked record is named and linked.
    actions.update_customer(
        customer.pk, {"custom_fields": {"referrer": org.customers["c_e1"].pk}}, actor=org.rep_e1
    )
    html = rep.get(f"/customers/{customer.pk}/").content.decode()
    link = f'data-custom-field="referrer"><a href="/customers/{customer.pk}/">{customer.name}</a></dd>'
    assert link in html


def test_detail_page_without_custom_fields_has_no_extra_card(org, rep):
    html = rep.get(f"/customers/{org.customers['c_e1'].pk}/").content.decode()
    assert "custom-field-section" not in html
