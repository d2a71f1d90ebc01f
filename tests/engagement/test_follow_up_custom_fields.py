"""Follow-ups carry custom fields: validated by the registry on the page and in the action."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from guanxi.customization.actions import create_custom_field
from guanxi.engagement.actions import follow_ups as actions
from guanxi.engagement.models import FollowUp

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit_quality(org):
    return create_custom_field(
        {"object_type": "follow_up", "key": "visit_quality", "label_zh": "拜访质量", "label_en": "Visit quality",
         "type": "single_select", "required": True, "options": "好|Good\n差|Poor"},
        actor=org.admin,
    )  # fmt: skip


def test_action_requires_and_stores_the_custom_field(org, visit_quality):
    customer = org.customers["c_e1"]
    with translation.override("en"), pytest.raises(actions.ValidationError) as exc:
        actions.log_follow_up(customer.pk, {"kind": "call", "content": "聊了需求"}, actor=org.rep_e1)
    assert exc.value.message_dict == {"custom_fields.visit_quality": ["This field is required."]}
    assert not FollowUp.objects.filter(customer=customer).exists()
    follow_up = actions.log_follow_up(
        customer.pk, {"kind": "call", "content": "聊了需求", "custom_fields": {"visit_quality": "Good"}},
        actor=org.rep_e1,
    )  # fmt: skip
    assert follow_up.custom_fields == {"visit_quality": "好"}


def test_page_shows_the_field_and_reports_its_error(client, org, visit_quality):
    customer = org.customers["c_e1"]
    client.force_login(org.rep_e1)
    page = client.get(reverse("customers:detail", args=[customer.pk]))
    assert b'name="cf_visit_quality"' in page.content
    url = reverse("engagement:log_follow_up", args=[customer.pk])
    response = client.post(url, {"kind": "call", "content": "拜访"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not FollowUp.objects.filter(customer=customer).exists()
    response = client.post(url, {"kind": "call", "content": "拜访", "cf_visit_quality": "差"})
    assert response.status_code == 302
    assert FollowUp.objects.get(customer=customer).custom_fields == {"visit_quality": "差"}


def test_follow_up_types_are_an_admin_editable_picklist(org):
    from guanxi.customization import actions as customization
    from guanxi.customization.models import Picklist, PicklistValue
    from guanxi.engagement.fields import ensure_follow_up_types, follow_up_types

    ensure_follow_up_types()
    ensure_follow_up_types()  # idempotent
    picklist = Picklist.objects.get(key="follow-up-type")
    assert [key for key, _zh, _en in follow_up_types()] == [
        "call",
        "visit",
        "wechat",
        "email",
        "meeting",
        "other",
    ]
    customer = org.customers["c_e1"]
    visit = actions.log_follow_up(customer.pk, {"kind": "visit", "content": "上门"}, actor=org.rep_e1)
    wechat = actions.log_follow_up(customer.pk, {"kind": "wechat", "content": "微信聊"}, actor=org.rep_e1)

    values = [{"key": k, "label_zh": zh, "label_en": en} for k, zh, en in follow_up_types()]
    customization.save_picklist(
        {"values": [*values, {"key": "fair", "label_zh": "展会交流", "label_en": "Trade fair"}]},
        actor=org.admin, picklist_id=picklist.pk,
    )  # fmt: skip
    fair = actions.log_follow_up(customer.pk, {"kind": "fair", "content": "展会上聊"}, actor=org.rep_e1)
    assert fair.kind == "fair"
    with translation.override("en"), pytest.raises(actions.ValidationError):
        actions.log_follow_up(customer.pk, {"kind": "fax", "content": "x"}, actor=org.rep_e1)

    # A type in use cannot simply be removed; merging moves its follow-ups.
    with pytest.raises(actions.ValidationError):
        customization.save_picklist(
            {"values": [v for v in values if v["key"] != "visit"]}, actor=org.admin, picklist_id=picklist.pk
        )
    assert PicklistValue.objects.get(picklist=picklist, key="visit").is_active
    source = PicklistValue.objects.get(picklist=picklist, key="wechat")
    target = PicklistValue.objects.get(picklist=picklist, key="call")
    customization.merge_picklist_value(source.pk, target.pk, actor=org.admin)
    assert FollowUp.objects.get(pk=wechat.pk).kind == "call"
    assert FollowUp.objects.get(pk=visit.pk).kind == "visit"
    assert "wechat" not in [key for key, _zh, _en in follow_up_types()]
