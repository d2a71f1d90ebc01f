"""Phone-type custom fields of deals go through the same presenter as customers' (issue 9, section 3):
masked on the deal page, the API and its history for users who may not reveal them, stored protected
in audit entries, and refused as a filter."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from guanxi.core.models import AuditEntry
from guanxi.customization import actions as customization
from guanxi.customization.models import CustomObject, FieldType
from guanxi.sales import actions

pytestmark = pytest.mark.django_db

NUMBERS = ("13987654321", "13698761111")


def _leaks(text: str) -> list[str]:
    flat = re.sub(r"[\s\-()+]", "", text)
    return [n for n in NUMBERS if n in flat]


@pytest.fixture
def deal(org, pipeline):
    customization.create_custom_field(
        {"object_type": CustomObject.DEAL, "key": "site_phone", "label_zh": "现场电话", "label_en": "Site phone",
         "type": FieldType.PHONE}, actor=org.admin)  # fmt: skip
    deal = actions.create_deal(
        org.customers["c_e1"].pk,
        {"name": "项目甲", "custom_fields": {"site_phone": NUMBERS[1]}},
        actor=org.rep_e1,
    )
    actions.update_deal(deal.pk, {"custom_fields": {"site_phone": NUMBERS[0]}}, actor=org.rep_e1)
    return deal


def _seen(user, deal) -> dict[str, str]:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    urls = {
        "page": f"/deals/{deal.pk}/",
        "api detail": f"/api/deals/{deal.pk}",
        "api list": "/api/deals",
        "api history": f"/api/deals/{deal.pk}/history",
    }
    seen = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        seen[name] = response.content.decode()
    filtered = client.get(
        "/api/deals", {"filters": json.dumps([{"field": "cf.site_phone", "op": "contains", "value": "4321"}])}
    )
    seen["filter status"] = str(filtered.status_code)
    return seen


def test_a_viewer_without_the_right_sees_deal_phone_fields_masked_and_cannot_filter_on_them(org, deal):
    seen = _seen(org.viewer_e, deal)  # department scope: sees rep_e1's deal; not its owner
    assert {name: _leaks(text) for name, text in seen.items() if _leaks(text)} == {}
    assert "139****4321" in seen["page"] and "139****4321" in seen["api detail"]
    assert "136****1111" in seen["api history"]
    assert seen["filter status"] == "422"


def test_the_deal_owner_sees_them_in_full(org, deal):
    seen = _seen(org.rep_e1, deal)
    assert NUMBERS[0] in _leaks(seen["page"]) and NUMBERS[0] in _leaks(seen["api detail"])
    assert json.loads(seen["api detail"])["custom_fields"] == {"site_phone": f"+86{NUMBERS[0]}"}


def test_deal_audit_entries_hold_the_phone_protected(org, deal):
    stored = json.dumps([[e.before, e.after] for e in AuditEntry.objects.all()], ensure_ascii=False)
    assert _leaks(stored) == []
    assert "139****4321#" in stored  # protected (mask + keyed hash), not dropped
