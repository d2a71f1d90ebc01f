"""Follow-ups carry custom fields: validated by the registry on the page and in the action."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from guanxi.core.customization import create_custom_field
from guanxi.engagement import actions
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
