"""Orders have their own action (sales.actions.create_order): validation, audit, order.created."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from guanxi.core.models import AuditEntry, Event
from guanxi.sales.actions import create_order
from guanxi.sales.models import Order

pytestmark = pytest.mark.django_db


def test_create_order_writes_the_order_an_audit_entry_and_one_event_once(org):
    customer = org.customers["c_e1"]
    data = {"number": "shop:1001", "amount": "199.5", "ordered_at": timezone.now(), "channel": "ecommerce"}
    order, created = create_order(customer, data, actor=None)
    assert created and (order.customer, order.amount, order.currency) == (customer, 199.5, "CNY")
    assert (
        AuditEntry.objects.filter(content_type__model="order", object_id=order.pk, action="create").count()
        == 1
    )
    assert Event.objects.filter(name="order.created", object_id=order.pk).count() == 1
    again, created = create_order(customer, data, actor=None)  # idempotent by its number
    assert again == order and not created
    assert Event.objects.filter(name="order.created").count() == 1


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"number": ""}, "number"),
        ({"number": "x" * 41}, "number"),
        ({"number": "a\x00b"}, "number"),
        ({"amount": "lots"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "1e20"}, "amount"),
        ({"ordered_at": "yesterday"}, "ordered_at"),
        ({"currency": "yuan"}, "currency"),
        ({"channel": "fax"}, "channel"),
        ({"status": "stolen"}, "status"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_order_input_is_a_field_error_and_writes_nothing(org, bad, field):
    data = {"number": "shop:1", "amount": "10", "ordered_at": timezone.now() - dt.timedelta(days=1), **bad}
    with pytest.raises(ValidationError) as exc:
        create_order(org.customers["c_e1"], data, actor=None)
    assert field in exc.value.message_dict
    assert not Order.objects.exists() and not Event.objects.filter(name="order.created").exists()
