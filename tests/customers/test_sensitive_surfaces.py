"""Sensitive values are presented in one place (issue 9, section 3 and section 8).

A rep who may view a customer through the data scope, but neither owns it nor holds
`customer.view_sensitive`, must never meet its full phone number or the full value of a phone-type
custom field: not on the customer page (every tab), the edit form, the list, the kanban, search
results (page and API), exports (CSV and XLSX), the API (detail, list, history) or notifications.
The owner, with the same role, is the positive control: they see the full number on the same
surfaces, so the checks below can fail.

Audit entries and event payloads hold the values protected (mask + keyed hash); entries written
before that (raw values) are masked when shown to the rep.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from guanxi.core.models import AuditAction, AuditEntry, Event
from guanxi.core.permissions import Perm
from guanxi.customers import actions
from guanxi.customers.models import Customer
from guanxi.customization.models import FieldType
from guanxi.messaging.actions import notify
from tests.factories import PASSWORD, masked_phone_team

pytestmark = pytest.mark.django_db

PHONE = "15812346108"  # the rep sees 158****6108
OLD_PHONE = "13712345555"  # replaced: only in the change history
CUSTOM_PHONE = "13987654321"  # a phone-type custom field: 139****4321
OLD_CUSTOM_PHONE = "13698761111"
SECRETS = (PHONE, OLD_PHONE, CUSTOM_PHONE, OLD_CUSTOM_PHONE)
COLUMNS = ["name", "phone", "email", "cf.backup_phone", "owner"]


def _digits(text: str) -> str:
    """Text with the separators people put in phone numbers removed ("158 1234 6108" -> digits)."""
    return re.sub(r"[\s\-()+]", "", text)


def leaked(text: str, secrets=SECRETS) -> list[str]:
    flat = _digits(text)
    return [s for s in secrets if s in flat]


@pytest.fixture
def world(roles):
    team = masked_phone_team(roles)
    admin, owner, rep = team.admin, team.owner, team.rep
    customer = actions.create_customer(
        {"name": "王敏", "owner_id": owner.pk, "phone": OLD_PHONE, "email": "wm@example.com",
         "custom_fields": {"backup_phone": OLD_CUSTOM_PHONE}}, actor=owner)  # fmt: skip
    actions.update_customer(
        customer.pk, {"phone": PHONE, "custom_fields": {"backup_phone": CUSTOM_PHONE}}, actor=owner
    )
    # An entry written before values were protected holds them in clear: shown masked to the rep.
    legacy = AuditEntry.objects.create(
        actor_label="legacy",
        action=AuditAction.UPDATE,
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=customer.pk,
        object_repr=customer.name,
        before={"contact_points": [f"phone:+86{OLD_PHONE}"], "custom_fields": {"backup_phone": f"+86{OLD_CUSTOM_PHONE}"}},
        after={"contact_points": [f"phone:+86{PHONE}"], "custom_fields": {"backup_phone": f"+86{CUSTOM_PHONE}"}},
    )  # fmt: skip
    for person in (owner, rep):
        notify(
            person,
            kind="mention",
            title=f"请跟进 {customer.name}",
            body=f"{customer.name} 留言了",
            url=reverse("customers:detail", args=[customer.pk]),
        )
    return {"admin": admin, "owner": owner, "rep": rep, "customer": customer, "legacy": legacy}


def client_for(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _text(response) -> str:
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return response.content.decode()


def _xlsx_text(response) -> str:
    assert response.status_code == 200
    sheet = load_workbook(
        io.BytesIO(b"".join(response.streaming_content if response.streaming else [response.content]))
    ).active
    return "\n".join(
        " ".join(str(v) for v in row if v is not None) for row in sheet.iter_rows(values_only=True)
    )


def surfaces(client: Client, customer: Customer) -> dict[str, str]:
    """Every place a user meets this customer, as text."""
    pk = customer.pk
    detail = reverse("customers:detail", args=[pk])
    columns = "&".join(f"col={c}" for c in COLUMNS)
    listing = reverse("customers:list")
    pages = {
        "detail": detail,
        "detail history tab": f"{detail}?tab=history",
        "timeline tab": reverse("customers:tab", args=[pk, "timeline"]),
        "history tab": reverse("customers:tab", args=[pk, "history"]),
        "edit form": reverse("customers:edit", args=[pk]),
        "list": f"{listing}?fb=1&{columns}",
        "kanban": f"{reverse('customers:kanban')}?fb=1&{columns}",
        "search by name": f"{listing}?fb=1&{columns}&q=王敏",
        "search by last digits": f"{listing}?fb=1&{columns}&q=6108",
        "search by full number": f"{listing}?fb=1&{columns}&q={PHONE}",
        "notifications": reverse("messaging:center"),
        "api detail": f"/api/customers/{pk}",
        "api list": "/api/customers",
        "api search": "/api/customers?q=%E7%8E%8B%E6%95%8F",
        "api history": f"/api/customers/{pk}/history",
    }
    result = {name: _text(client.get(url)) for name, url in pages.items()}
    csv_response = client.get(f"{reverse('customers:export_csv')}?fb=1&{columns}")
    assert csv_response.status_code == 200
    result["export csv"] = b"".join(csv_response.streaming_content).decode("utf-8-sig")
    result["export xlsx"] = _xlsx_text(client.get(f"{reverse('customers:export_xlsx')}?fb=1&{columns}"))
    return result


def test_a_rep_who_may_not_reveal_phones_never_meets_the_full_value_anywhere(world):
    customer = world["customer"]
    seen = surfaces(client_for(world["rep"]), customer)
    # The full-number search page echoes what the rep typed; its results are checked below.
    leaks = {
        name: leaked(text) for name, text in seen.items() if leaked(text) and name != "search by full number"
    }
    assert leaks == {}
    # The rep does meet the customer, with masked values, where the customer is shown.
    for name in ("detail", "list", "export csv", "export xlsx", "api detail", "api list"):
        assert "158****6108" in seen[name], name
        assert "139****4321" in seen[name], name
    assert "王敏" in seen["kanban"] and "王敏" in seen["search by name"] and "王敏" in seen["notifications"]
    assert "137****5555" in seen["history tab"] and "136****1111" in seen["history tab"]
    api_customer = json.loads(seen["api detail"])
    assert api_customer["phone"] == "158****6108"
    assert api_customer["custom_fields"] == {"backup_phone": "139****4321"}
    # A phone search cannot match a number the rep sees masked.
    assert "王敏" not in seen["search by last digits"] and "王敏" not in seen["search by full number"]


def test_the_owner_sees_the_full_values_on_the_same_surfaces(world):
    """Positive control: the same role, but owning the customer."""
    customer = world["customer"]
    seen = surfaces(client_for(world["owner"]), customer)
    for name in ("detail", "edit form", "list", "search by last digits", "export csv", "export xlsx",
                 "api detail", "api list", "api search"):  # fmt: skip
        assert PHONE in leaked(seen[name]) and CUSTOM_PHONE in leaked(seen[name]), name
    assert "王敏" in seen["search by last digits"] and "王敏" in seen["search by full number"]
    # Old entries that held values in clear are shown to those who may reveal them.
    assert OLD_PHONE in leaked(seen["history tab"]) and OLD_CUSTOM_PHONE in leaked(seen["api history"])
    assert json.loads(seen["api detail"])["custom_fields"] == {"backup_phone": f"+86{CUSTOM_PHONE}"}


def test_holders_of_view_sensitive_see_the_full_values(world):
    customer = world["customer"]
    role = world["rep"].role
    role.permissions = [*role.permissions, Perm.CUSTOMER_VIEW_SENSITIVE]
    role.save()
    seen = surfaces(client_for(world["rep"]), customer)
    assert PHONE in leaked(seen["detail"]) and CUSTOM_PHONE in leaked(seen["api detail"])
    assert "王敏" in seen["search by last digits"]


def test_audit_entries_and_event_payloads_never_hold_the_values_in_clear(world):
    customer = world["customer"]
    actions.ingest_customer(
        {"name": "王敏", "phone": PHONE, "contact_points": [{"kind": "phone", "value": "13511112222"}]},
        actor=world["owner"],
        channel="api",
    )
    # An export is audited with its search text and conditions: a phone in them is protected too.
    export = client_for(world["admin"]).get(
        reverse("customers:export_csv"),
        {"q": PHONE, "fb": "1", "f_field": "cf.backup_phone", "f_op": "eq", "f_value": CUSTOM_PHONE},
    )
    assert "王敏" in b"".join(export.streaming_content).decode("utf-8-sig")
    other = actions.create_customer(
        {"name": "李雷", "owner_id": world["owner"].pk, "phone": "13611112222",
         "custom_fields": {"backup_phone": "13511113333"}}, actor=world["owner"], confirm_duplicate=True)  # fmt: skip
    actions.merge_customers(customer.pk, other.pk, actor=world["admin"])
    secrets = (*SECRETS, "13511112222", "13611112222", "13511113333")
    entries = AuditEntry.objects.exclude(pk=world["legacy"].pk)
    stored = json.dumps([[e.before, e.after] for e in entries], ensure_ascii=False)
    assert leaked(stored, secrets) == []
    events = json.dumps([e.payload for e in Event.objects.all()], ensure_ascii=False)
    assert leaked(events, secrets) == []
    # Protected, not dropped: the change is visible and equal values compare equal.
    from guanxi.core import sensitive  # (here, so that the checks above also run on the code before it)

    update = entries.filter(object_id=customer.pk, action=AuditAction.UPDATE).order_by("pk").first()
    (before,) = update.before["custom_fields"].values()
    (after,) = update.after["custom_fields"].values()
    assert sensitive.mask(FieldType.PHONE, after) == "139****4321" and before != after
    assert after == sensitive.protect(FieldType.PHONE, f"+86{CUSTOM_PHONE}")
    assert f"phone:{sensitive.protect(FieldType.PHONE, f'+86{PHONE}')}" in update.after["contact_points"]


def test_a_rep_edits_a_customer_without_seeing_or_losing_its_masked_values(world):
    """The edit form shows the masks; left as they are they are not sent, so the numbers stay."""
    customer = world["customer"]
    client = client_for(world["rep"])
    page = _text(client.get(reverse("customers:edit", args=[customer.pk])))
    assert 'value="158****6108"' in page and 'value="139****4321"' in page and leaked(page) == []
    data = {
        "kind": customer.kind, "name": customer.name, "phone": "158****6108", "email": "wm@example.com",
        "gender": customer.gender, "source": customer.source, "lifecycle_stage": customer.lifecycle_stage,
        "tier": customer.tier, "city": "上海", "cf_backup_phone": "139****4321",
    }  # fmt: skip
    response = client.post(reverse("customers:edit", args=[customer.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert customer.city == "上海"
    assert customer.custom_fields == {"backup_phone": f"+86{CUSTOM_PHONE}"}
    assert set(customer.contact_points.values_list("normalized", flat=True)) >= {f"+86{PHONE}"}
