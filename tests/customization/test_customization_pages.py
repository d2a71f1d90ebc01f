"""Settings pages of the customisation layer: custom fields, picklists, tags and form layouts.

Every page is a thin caller of `guanxi.customization.actions`; these tests drive the pages with the
Django test client (English, so messages can be asserted) and check the rows the actions wrote.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer
from guanxi.customization import actions as customization
from guanxi.customization import registry as customfields
from guanxi.customization.models import (
    CustomField,
    FieldStatus,
    FieldType,
    FormLayout,
    Picklist,
    PicklistValue,
    Tag,
)
from tests.conftest import drain
from tests.factories import PASSWORD, make_customer

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def admin(org):
    return _client(org.admin)


@pytest.fixture
def rep(org):
    return _client(org.rep_e1)


FIELD_FORM = {
    "object_type": "customer",
    "key": "region",
    "label_zh": "大区",
    "label_en": "Region",
    "type": "single_select",
    "required": "on",
    "options": "华东|East China\n华南|South China\n华北",
}


def _select_field(org, key="region", **extra) -> CustomField:
    data = {
        "object_type": "customer",
        "key": key,
        "label_zh": "大区",
        "label_en": "Region",
        "type": "single_select",
        "options": "华东|East China\n华南|South China\n华北",
        **extra,
    }
    return customization.create_custom_field(data, actor=org.admin)


def _text_field(org, key="wechat_group") -> CustomField:
    return customization.create_custom_field(
        {"object_type": "customer", "key": key, "label_zh": "微信群", "type": "text"}, actor=org.admin
    )


# --------------------------------------------------------------------------- access


def test_menu_entry_only_for_settings_managers(org, admin, rep):
    assert 'id="menu-customization"' in admin.get(reverse("today")).content.decode()
    assert 'id="menu-customization"' not in rep.get(reverse("today")).content.decode()


def test_rep_without_settings_manage_gets_403_and_nothing_is_written(org, rep):
    field = _select_field(org)
    tag = Tag.objects.create(name="VIP", color="danger")
    audit_before = AuditEntry.objects.count()
    for name, args in [
        ("customization:index", []),
        ("customization:fields", []),
        ("customization:field_create", []),
        ("customization:field_edit", [field.pk]),
        ("customization:field_rename", [field.pk]),
        ("customization:field_delete", [field.pk]),
        ("customization:field_row", [field.pk]),
        ("customization:picklists", []),
        ("customization:picklist_edit", [field.picklist_id]),
        ("customization:tags", []),
        ("customization:tag_edit", [tag.pk]),
        ("customization:layouts", []),
    ]:
        assert rep.get(reverse(name, args=args)).status_code == 403, name
    posts = [
        (reverse("customization:field_create"), {**FIELD_FORM, "key": "sneaky"}),
        (reverse("customization:field_edit", args=[field.pk]), {"label_zh": "改了", "type": "single_select"}),
        (reverse("customization:field_rename", args=[field.pk]), {"key": "renamed"}),
        (reverse("customization:field_delete", args=[field.pk]), {}),
        (reverse("customization:field_restore", args=[field.pk]), {}),
        (reverse("customization:picklist_create"), {"key": "x", "label_zh": "X", "values": "a"}),
        (reverse("customization:tag_create"), {"name": "新标签", "color": "danger"}),
        (reverse("customization:tag_edit", args=[tag.pk]), {"name": "VIP", "color": "success"}),
        (
            reverse("customization:layouts") + "?object=customer",
            {
                "object": "customer",
                "section_count": "1",
                "section-1-title_zh": "全部",
                "place-name-section": "1",
            },
        ),
    ]
    for url, data in posts:
        assert rep.post(url, data).status_code == 403, url
    field.refresh_from_db()
    tag.refresh_from_db()
    assert (field.key, field.label_zh, field.status) == ("region", "大区", FieldStatus.ACTIVE)
    assert list(CustomField.objects.values_list("key", flat=True)) == ["region"]
    assert (tag.name, tag.color) == ("VIP", "danger") and Tag.objects.count() == 1
    assert not Picklist.objects.filter(key="x").exists() and not FormLayout.objects.exists()
    assert AuditEntry.objects.count() == audit_before


def test_anonymous_is_sent_to_login(db):
    response = Client().get(reverse("customization:fields"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --------------------------------------------------------------------------- custom fields


def test_admin_creates_required_single_select_with_options(org, admin):
    form = admin.get(reverse("customization:field_create") + "?object=customer").content.decode()
    for element in ('id="id_key"', 'id="id_label_zh"', 'id="id_type"', 'id="id_required"', 'id="id_options"'):
        assert element in form
    response = admin.post(reverse("customization:field_create") + "?object=customer", FIELD_FORM)
    assert response.status_code == 302
    assert response["Location"] == reverse("customization:fields") + "?object=customer"
    field = CustomField.objects.get(object_type="customer", key="region")
    assert (field.type, field.required, field.label_en) == (FieldType.SINGLE_SELECT, True, "Region")
    values = list(field.picklist.values.order_by("position").values_list("key", "label_zh", "label_en"))
    assert values == [("华东", "华东", "East China"), ("华南", "华南", "South China"), ("华北", "华北", "")]
    page = admin.get(response["Location"]).content.decode()
    assert "Custom field “大区” created." in page and f'id="field-{field.pk}"' in page
    assert 'data-key="region"' in page and 'id="rename-region"' in page


def test_create_with_an_existing_picklist_and_a_linked_record(org, admin):
    picklist = customization.save_picklist(
        {"key": "industry", "label_zh": "行业", "values": "制造\n零售"}, actor=org.admin
    )
    response = admin.post(
        reverse("customization:field_create"),
        {"object_type": "order", "key": "industry", "label_zh": "行业", "type": "multi_select",
         "picklist_id": str(picklist.pk)},
    )  # fmt: skip
    assert response.status_code == 302
    assert CustomField.objects.get(object_type="order", key="industry").picklist == picklist
    response = admin.post(
        reverse("customization:field_create"),
        {"object_type": "follow_up", "key": "about", "label_zh": "关联客户", "type": "linked_record",
         "linked_object": "customer"},
    )  # fmt: skip
    assert response.status_code == 302
    assert CustomField.objects.get(object_type="follow_up", key="about").linked_object == "customer"


def test_bad_key_and_missing_options_are_shown_on_the_form(org, admin):
    response = admin.post(
        reverse("customization:field_create"),
        {**FIELD_FORM, "key": "1 Bad-Key", "options": "", "label_zh": "", "regex": "(["},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Use 1-40 lowercase letters, digits and underscores, starting with a letter." in html
    assert "A select field needs options or a picklist." in html
    assert "This is not a valid regular expression." in html
    assert 'value="1 Bad-Key"' in html  # the typed input is kept
    assert not CustomField.objects.exists()


def test_duplicate_key_and_bad_default_come_back_from_the_action(org, admin):
    _text_field(org, key="source_detail")
    html = admin.post(
        reverse("customization:field_create"),
        {"object_type": "customer", "key": "source_detail", "label_zh": "来源明细", "type": "text"},
    ).content.decode()
    assert "This object already has a field with this key." in html
    html = admin.post(
        reverse("customization:field_create"),
        {"object_type": "customer", "key": "budget", "label_zh": "预算", "type": "number", "default": "lots"},
    ).content.decode()
    assert 'id="id_default"' in html and "invalid-feedback" in html
    assert not CustomField.objects.filter(key="budget").exists()


def test_edit_changes_labels_and_offers_only_safe_retypes(org, admin):
    field = _text_field(org)
    url = reverse("customization:field_edit", args=[field.pk])
    html = admin.get(url).content.decode()
    assert 'value="long_text"' in html and 'value="number"' not in html and 'id="id_key"' not in html
    response = admin.post(url, {"label_zh": "微信群名", "label_en": "WeChat group", "type": "long_text",
                                "required": "on", "max_length": "500"})  # fmt: skip
    assert response.status_code == 302
    field.refresh_from_db()
    assert (field.label_zh, field.type, field.required, field.max_length) == (
        "微信群名",
        FieldType.LONG_TEXT,
        True,
        500,
    )
    html = admin.post(url, {"label_zh": "微信群名", "type": "number"}).content.decode()
    assert "Select a valid choice." in html  # not offered, so refused before the action
    html = admin.post(url, {"label_zh": "微信群名", "type": "long_text", "max_length": "0"}).content.decode()
    assert "Enter a length between 1 and 5000." in html


def test_edit_adds_options_to_a_select_field(org, admin):
    field = _select_field(org)
    response = admin.post(
        reverse("customization:field_edit", args=[field.pk]),
        {"label_zh": "大区", "label_en": "Region", "type": "single_select", "options": "西南|South West"},
    )
    assert response.status_code == 302
    keys = list(field.picklist.values.order_by("position").values_list("key", flat=True))
    assert keys == ["华东", "华南", "华北", "西南"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_rename_through_the_page_then_the_worker_moves_the_values(org, admin, queue):
    field = _text_field(org)
    customer = make_customer(org.rep_e1, custom_fields={"wechat_group": "上海客户群"})
    drain(queue)
    response = admin.post(reverse("customization:field_rename", args=[field.pk]), {"key": "group_name"})
    assert response.status_code == 302
    field.refresh_from_db()
    assert (field.status, field.key, field.previous_key) == (
        FieldStatus.RENAMING,
        "group_name",
        "wechat_group",
    )
    page = admin.get(response["Location"]).content.decode()
    assert "Renaming…" in page and 'hx-trigger="every 2s"' in page and "was wechat_group" in page
    drain(queue)
    field.refresh_from_db()
    assert (field.status, field.key, field.previous_key) == (FieldStatus.ACTIVE, "group_name", "")
    customer.refresh_from_db()
    assert customer.custom_fields == {"group_name": "上海客户群"}
    row = admin.get(reverse("customization:field_row", args=[field.pk])).content.decode()
    assert "every 2s" not in row and "Active" in row


@pytest.mark.django_db(transaction=True)
def test_rename_with_a_bad_key_shows_the_error(org, admin):
    field = _text_field(org)
    _text_field(org, key="taken")
    url = reverse("customization:field_rename", args=[field.pk])
    assert "Use 1-40 lowercase letters" in admin.post(url, {"key": "Bad Key"}).content.decode()
    assert "already has a field with this key" in admin.post(url, {"key": "taken"}).content.decode()
    field.refresh_from_db()
    assert (field.key, field.status) == ("wechat_group", FieldStatus.ACTIVE)


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_delete_and_restore_through_the_pages(org, admin, queue):
    field = _text_field(org)
    customer = make_customer(org.rep_e1, custom_fields={"wechat_group": "北京客户群"})
    drain(queue)
    confirm = admin.get(reverse("customization:field_delete", args=[field.pk])).content.decode()
    assert 'id="delete-field"' in confirm and "30 days" in confirm
    response = admin.post(reverse("customization:field_delete", args=[field.pk]))
    assert response.status_code == 302
    field.refresh_from_db()
    assert field.status == FieldStatus.DELETING and field.purge_after is not None
    assert "Deleting…" in admin.get(response["Location"]).content.decode()
    drain(queue)
    field.refresh_from_db()
    customer.refresh_from_db()
    assert field.status == FieldStatus.DELETED and customer.custom_fields == {}
    page = admin.get(reverse("customization:fields") + "?object=customer").content.decode()
    assert f'id="restore-{field.pk}"' in page and "restorable until" in page
    assert 'id="rename-wechat_group"' not in page

    response = admin.post(reverse("customization:field_restore", args=[field.pk]))
    assert response.status_code == 302
    field.refresh_from_db()
    assert field.status == FieldStatus.RESTORING
    drain(queue)
    field.refresh_from_db()
    customer.refresh_from_db()
    assert field.status == FieldStatus.ACTIVE and customer.custom_fields == {"wechat_group": "北京客户群"}


def test_restore_refused_when_the_key_was_reused(org, admin):
    field = _text_field(org)
    field.status = FieldStatus.DELETED  # as the worker leaves it
    field.save(update_fields=["status"])
    _text_field(org)  # a new field with the same key
    response = admin.post(reverse("customization:field_restore", args=[field.pk]), follow=True)
    assert "Another field now uses this key; rename that one first." in response.content.decode()
    field.refresh_from_db()
    assert field.status == FieldStatus.DELETED


def test_second_change_while_one_runs_is_refused(org, admin):
    field = _text_field(org)
    customization.rename_custom_field(field.pk, "group_name", actor=org.admin)
    html = admin.post(reverse("customization:field_delete", args=[field.pk])).content.decode()
    assert "Wait until the field&#x27;s previous change has finished." in html
    field.refresh_from_db()
    assert field.status == FieldStatus.RENAMING


def test_unknown_ids_are_404(org, admin):
    for name in ("field_edit", "field_rename", "field_delete", "picklist_edit", "tag_edit"):
        assert admin.get(reverse(f"customization:{name}", args=[999999])).status_code == 404
    assert admin.post(reverse("customization:field_restore", args=[999999])).status_code == 404


# --------------------------------------------------------------------------- picklists


def _formset_data(picklist: Picklist, rows: list[dict], **header) -> dict:
    data = {
        "label_zh": picklist.label_zh,
        "label_en": picklist.label_en,
        "values-TOTAL_FORMS": str(len(rows)),
        "values-INITIAL_FORMS": "0",
        **header,
    }
    for n, row in enumerate(rows):
        for name, value in row.items():
            data[f"values-{n}-{name}"] = value
    return data


def test_picklist_page_edits_labels_order_and_colour(org, admin):
    field = _select_field(org)
    url = reverse("customization:picklist_edit", args=[field.picklist_id])
    html = admin.get(url).content.decode()
    assert 'id="id_values-0-label_zh"' in html and 'data-key="华东"' in html
    rows = [
        {"existing": "1", "key": "华东", "label_zh": "华东区", "label_en": "East", "position": "2", "color": "danger"},
        {"existing": "1", "key": "华南", "label_zh": "华南", "label_en": "South China", "position": "1",
         "color": "success"},
        {"existing": "1", "key": "华北", "label_zh": "华北", "label_en": "", "position": "3", "color": "secondary"},
        {"key": "", "label_zh": "西北", "label_en": "North West", "position": "", "color": "info"},
        {"key": "", "label_zh": "", "label_en": "", "position": "", "color": "secondary"},
    ]  # fmt: skip
    response = admin.post(url, _formset_data(field.picklist, rows, label_en="Regions"))
    assert response.status_code == 302
    values = list(
        PicklistValue.objects.filter(picklist=field.picklist)
        .order_by("position")
        .values_list("key", "label_zh", "color", "is_active")
    )
    assert values == [
        ("华南", "华南", "success", True),
        ("华东", "华东区", "danger", True),
        ("华北", "华北", "secondary", True),
        ("西北", "西北", "info", True),
    ]
    field.picklist.refresh_from_db()
    assert field.picklist.label_en == "Regions"


def test_removing_a_value_in_use_shows_the_error_and_changes_nothing(org, admin):
    field = _select_field(org)
    make_customer(org.rep_e1, custom_fields={"region": "华南"})
    url = reverse("customization:picklist_edit", args=[field.picklist_id])
    rows = [
        {"existing": "1", "key": "华东", "label_zh": "华东改", "position": "1", "color": "secondary"},
        {
            "existing": "1",
            "key": "华南",
            "label_zh": "华南",
            "position": "2",
            "color": "secondary",
            "remove": "on",
        },
        {
            "existing": "1",
            "key": "华北",
            "label_zh": "华北",
            "position": "3",
            "color": "secondary",
            "remove": "on",
        },
    ]
    html = admin.post(url, _formset_data(field.picklist, rows)).content.decode()
    assert "华南 is used by 1 records: merge it into another value instead." in html
    assert set(
        PicklistValue.objects.filter(picklist=field.picklist, is_active=True).values_list("key", flat=True)
    ) == {
        "华东",
        "华南",
        "华北",
    }
    assert PicklistValue.objects.get(picklist=field.picklist, key="华东").label_zh == "华东"
    # An unused value can go.
    rows[1].pop("remove")
    assert admin.post(url, _formset_data(field.picklist, rows)).status_code == 302
    assert not PicklistValue.objects.get(picklist=field.picklist, key="华北").is_active


def test_merge_value_through_the_page(org, admin):
    field = _select_field(org)
    first = make_customer(org.rep_e1, custom_fields={"region": "华北"})
    second = make_customer(org.rep_e2, custom_fields={"region": "华东"})
    north = PicklistValue.objects.get(picklist=field.picklist, key="华北")
    east = PicklistValue.objects.get(picklist=field.picklist, key="华东")
    page = admin.get(reverse("customization:picklist_edit", args=[field.picklist_id])).content.decode()
    assert 'id="merge-value"' in page
    response = admin.post(
        reverse("customization:picklist_merge", args=[field.picklist_id]),
        {"value": str(north.pk), "into": str(east.pk)},
        follow=True,
    )
    assert "华北 merged into 华东: 1 record(s) changed." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.custom_fields == {"region": "华东"} and second.custom_fields == {"region": "华东"}
    north.refresh_from_db()
    assert not north.is_active and north.merged_into == east
    assert "merged into 华东" in response.content.decode()  # listed under retired values
    response = admin.post(
        reverse("customization:picklist_merge", args=[field.picklist_id]),
        {"value": str(east.pk), "into": str(east.pk)},
        follow=True,
    )
    assert "Choose another value of the same picklist." in response.content.decode()


def test_create_picklist_and_list_it(org, admin):
    response = admin.post(
        reverse("customization:picklist_create"),
        {
            "key": "lost-reasons",
            "label_zh": "输单原因",
            "label_en": "Lost reasons",
            "values": "价格|Price\n时机",
        },
    )
    picklist = Picklist.objects.get(key="lost-reasons")
    assert response["Location"] == reverse("customization:picklist_edit", args=[picklist.pk])
    assert list(picklist.values.values_list("key", flat=True)) == ["价格", "时机"]
    html = admin.get(reverse("customization:picklists")).content.decode()
    assert 'id="picklist-lost-reasons"' in html and "输单原因" in html
    html = admin.post(
        reverse("customization:picklist_create"), {"key": "Bad Key", "label_zh": "X"}
    ).content.decode()
    assert "Use 1-50 lowercase letters, digits and dashes." in html


# --------------------------------------------------------------------------- tags


def test_tag_create_and_colour_edit(org, admin):
    response = admin.post(
        reverse("customization:tag_create"),
        {"name": "重点客户", "color": "warning", "object_types": ["customer"]},
    )
    assert response.status_code == 302
    tag = Tag.objects.get(name="重点客户")
    assert (tag.color, tag.object_types) == ("warning", ["customer"])
    url = reverse("customization:tag_edit", args=[tag.pk])
    assert 'id="id_color"' in admin.get(url).content.decode()
    response = admin.post(url, {"name": "重点客户", "color": "custom", "custom_color": "#ff8800"})
    assert response.status_code == 302
    tag.refresh_from_db()
    assert (tag.color, tag.object_types) == ("#ff8800", [])
    html = admin.get(reverse("customization:tags")).content.decode()
    assert "background-color: #ff8800" in html and 'data-color="#ff8800"' in html
    response = admin.post(url, {"name": "重点客户", "color": "danger"})
    tag.refresh_from_db()
    assert tag.color == "danger"
    assert (
        'class="badge tag-badge text-bg-danger"' in admin.get(reverse("customization:tags")).content.decode()
    )


def test_tag_errors_are_shown(org, admin):
    Tag.objects.create(name="VIP")
    html = admin.post(reverse("customization:tag_create"), {"name": "VIP", "color": "info"}).content.decode()
    assert "A tag with this name exists." in html
    html = admin.post(
        reverse("customization:tag_create"), {"name": "新", "color": "custom", "custom_color": "red;x"}
    ).content.decode()
    assert "Choose a colour." in html
    assert Tag.objects.count() == 1


# --------------------------------------------------------------------------- form layouts


def test_layout_page_places_a_custom_field_in_a_named_section(org, admin):
    field = _text_field(org)
    url = reverse("customization:layouts") + "?object=customer"
    html = admin.get(url).content.decode()
    # The default layout is shown, and the unplaced custom field in the trailing "More" section.
    assert 'value="基本信息"' in html and 'id="id_place-cf-wechat_group-section"' in html
    data = {
        "object": "customer",
        "section_count": "3",
        "section-1-title_zh": "基本信息",
        "section-1-title_en": "Basics",
        "section-2-title_zh": "社群",
        "section-2-title_en": "Community",
        "section-3-title_zh": "",
        "place-kind-section": "1",
        "place-kind-position": "2",
        "place-name-section": "1",
        "place-name-position": "1",
        "place-phone-section": "1",
        "place-phone-position": "3",
        "place-cf-wechat_group-section": "2",
        "place-cf-wechat_group-position": "1",
        "place-owner-section": "2",
        "place-owner-position": "2",
    }
    response = admin.post(url, data)
    assert response.status_code == 302
    layout = customization.layout_for("customer", org.rep_e1)
    assert layout == [
        {"title_zh": "基本信息", "title_en": "Basics", "fields": ["name", "kind", "phone"]},
        {"title_zh": "社群", "title_en": "Community", "fields": [f"cf.{field.key}", "owner"]},
    ]
    html = admin.get(url).content.decode()
    assert 'value="社群"' in html and "Form layout saved." in html


def test_a_field_moved_to_a_taken_position_goes_first(org, admin):
    field = _text_field(org)
    url = reverse("customization:layouts") + "?object=customer"
    data = {
        "object": "customer",
        "section_count": "1",
        "section-1-title_zh": "客户",
        # kind and name stay where they were (the page sends their previous place in "-was").
        "place-kind-section": "1",
        "place-kind-position": "1",
        "place-kind-was": "1:1",
        "place-name-section": "1",
        "place-name-position": "2",
        "place-name-was": "1:2",
        # The custom field comes from "More" (section 4) to position 1 of section 1.
        "place-cf-wechat_group-section": "1",
        "place-cf-wechat_group-position": "1",
        "place-cf-wechat_group-was": "4:1",
    }
    assert admin.post(url, data).status_code == 302
    assert customization.layout_for("customer")[0]["fields"] == [f"cf.{field.key}", "kind", "name"]


def test_layout_for_a_role_and_errors_from_the_action(org, admin, roles):
    field = _text_field(org)
    rep_role = roles["sales_rep"]
    url = reverse("customization:layouts") + f"?object=customer&role={rep_role.pk}"
    assert "has no layout of its own yet" in admin.get(url).content.decode()
    bad = {
        "object": "customer",
        "role": str(rep_role.pk),
        "section_count": "2",
        "section-1-title_zh": "",
        "place-name-section": "1",
        "section-2-title_zh": "其他",
        "place-cf-wechat_group-section": "2",
    }
    html = admin.post(url, bad).content.decode()
    assert "Section 1 needs a Chinese title." in html and "These fields must stay on the form: kind" in html
    assert not FormLayout.objects.exists()
    good = {**bad, "section-1-title_zh": "客户", "place-kind-section": "1"}
    response = admin.post(url, good)
    assert response.status_code == 302 and response["Location"].endswith(f"role={rep_role.pk}")
    assert FormLayout.objects.get().role == rep_role
    assert customization.layout_for("customer", org.rep_e1) == [
        {"title_zh": "客户", "title_en": "", "fields": ["kind", "name"]},
        {"title_zh": "其他", "title_en": "", "fields": [f"cf.{field.key}"]},
    ]
    # Other roles still see the standard layout.
    assert customization.layout_for("customer", org.director)[0]["title_zh"] == "基本信息"
    assert admin.get(reverse("customization:layouts") + "?role=999999").status_code == 404


def test_field_list_tabs_per_object(org, admin):
    _text_field(org)
    customization.create_custom_field(
        {"object_type": "order", "key": "invoice_no", "label_zh": "发票号", "type": "text"}, actor=org.admin
    )
    customers = admin.get(reverse("customization:fields")).content.decode()
    orders = admin.get(reverse("customization:fields") + "?object=order").content.decode()
    assert 'data-key="wechat_group"' in customers and 'data-key="invoice_no"' not in customers
    assert 'data-key="invoice_no"' in orders and 'data-key="wechat_group"' not in orders
    assert 'id="object-follow_up"' in orders
    assert Customer.objects.count() == 7  # the org's customers are untouched by all this


# --------------------------------------------------------------------------- in a real browser


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_browser_create_rename_and_watch_the_progress(page, org, queue):
    from playwright.sync_api import expect

    from tests.conftest import login

    login(page, org.admin.username, PASSWORD)
    page.click("#user-menu")
    page.click("#menu-customization")
    page.wait_for_url("**/settings/customization/fields/")
    page.click("#new-field")
    page.fill("#id_key", "region")
    page.fill("#id_label_zh", "大区")
    page.select_option("#id_type", "single_select")
    page.check("#id_required")
    page.fill("#id_options", "华东|East China\n华南|South China")
    page.click("#save-field")
    row = page.locator("#field-table tr[data-key=region]")
    expect(row).to_contain_text("大区")
    field = CustomField.objects.get(key="region")
    assert field.required and field.picklist.values.count() == 2

    page.click("#rename-region")
    page.fill("#id_key", "sales_region")
    page.click("#rename-field")
    row = page.locator(f"#field-{field.pk}")
    expect(row).to_have_attribute("data-status", "renaming")
    drain(queue)
    # The row polls itself (htmx) and shows the end of the rewrite without a reload.
    expect(row).to_have_attribute("data-status", "active", timeout=8000)
    expect(row).to_have_attribute("data-key", "sales_region")

    page.click("#tab-layouts")
    page.select_option("#id_place-cf-sales_region-section", "1")
    page.fill("#id_place-cf-sales_region-position", "1")
    page.click("#save-layout")
    expect(page.locator(".alert-success")).to_be_visible()
    assert customization.layout_for("customer")[0]["fields"][0] == "cf.sales_region"
    assert page.js_errors == []


def test_every_page_renders_for_every_object(org, admin):
    field = _select_field(org)
    Tag.objects.create(name="VIP", color="#123456")
    for object_type in customfields.registered_objects():
        for name in ("customization:fields", "customization:field_create", "customization:layouts"):
            response = admin.get(reverse(name) + f"?object={object_type}")
            assert response.status_code == 200, (name, object_type)
    for name, args in [
        ("customization:field_edit", [field.pk]),
        ("customization:field_rename", [field.pk]),
        ("customization:field_delete", [field.pk]),
        ("customization:picklists", []),
        ("customization:picklist_create", []),
        ("customization:picklist_edit", [field.picklist_id]),
        ("customization:tags", []),
        ("customization:tag_create", []),
    ]:
        assert admin.get(reverse(name, args=args)).status_code == 200, name
    assert admin.get(reverse("customization:index"))["Location"] == reverse("customization:fields")
