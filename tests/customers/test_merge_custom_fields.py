"""Custom fields take part in merge survivorship and come back exactly on unmerge."""

from __future__ import annotations

import pytest

from guanxi.customers import actions
from guanxi.customers.models import Customer
from guanxi.customization.actions import create_custom_field
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


def _fields(admin):
    create_custom_field(
        {"object_type": "customer", "key": "budget", "label_zh": "预算", "type": "money"}, actor=admin
    )
    create_custom_field(
        {"object_type": "customer", "key": "channel_detail", "label_zh": "来源细分", "type": "single_select",
         "options": "展会|Trade fair\n官网|Website"},
        actor=admin,
    )  # fmt: skip


def test_empty_custom_values_are_filled_from_the_merged_record_and_unmerge_restores(org):
    _fields(org.admin)
    a = make_customer(org.rep_e1, name="韩梅梅", phone="13911112001")
    b = make_customer(org.rep_e1, name="韩梅梅", phone="13911112002")
    actions.update_customer(a.pk, {"custom_fields": {"budget": "5000"}}, actor=org.admin)
    actions.update_customer(
        b.pk, {"custom_fields": {"channel_detail": "官网", "budget": 9000}}, actor=org.admin
    )
    # a is now the older record: its filled budget would lose to the newer b by default; pick a's.
    record = actions.merge_customers(a.pk, b.pk, actor=org.admin, field_choices={"cf.budget": "survivor"})
    survivor = Customer.objects.get(pk=a.pk)
    assert survivor.custom_fields == {"budget": 5000, "channel_detail": "官网"}
    assert record.field_choices["cf.channel_detail"] == "merged"

    actions.unmerge(record.pk, actor=org.admin)
    assert Customer.objects.get(pk=a.pk).custom_fields == {"budget": 5000}
    assert Customer.objects.get(pk=b.pk).custom_fields == {"budget": 9000, "channel_detail": "官网"}


def test_unknown_custom_override_is_refused(org):
    a = make_customer(org.rep_e1, name="韩梅梅", phone="13911112001")
    b = make_customer(org.rep_e1, name="韩梅梅", phone="13911112002")
    with pytest.raises(actions.ValidationError):
        actions.merge_customers(a.pk, b.pk, actor=org.admin, field_choices={"cf.nope": "merged"})
    assert Customer.objects.get(pk=b.pk).deleted_at is None
