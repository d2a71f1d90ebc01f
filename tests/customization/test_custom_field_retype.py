"""Retyping a custom field is allowed only where every stored value stays valid without conversion."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from guanxi.customization import actions as customization
from guanxi.customization.models import CustomField

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        ("text", "long_text", True),
        ("money", "number", True),
        ("phone", "text", True),
        ("email", "long_text", True),
        ("long_text", "text", False),  # could exceed text's 200 characters
        ("number", "money", False),  # could have more than two decimals
        ("single_select", "multi_select", False),  # stored strings would need to become lists
        ("text", "number", False),
    ],
)
def test_only_value_preserving_retypes(org, old, new, allowed):
    extra = {"options": "甲|A\n乙|B"} if "select" in old else {}
    field = customization.create_custom_field(
        {"object_type": "customer", "key": "f", "label_zh": "字段", "type": old, **extra}, actor=org.admin
    )
    if allowed:
        customization.update_custom_field(field.pk, {"type": new}, actor=org.admin)
        assert CustomField.objects.get(pk=field.pk).type == new
    else:
        with pytest.raises(ValidationError) as exc:
            customization.update_custom_field(field.pk, {"type": new}, actor=org.admin)
        assert "type" in exc.value.message_dict
        assert CustomField.objects.get(pk=field.pk).type == old
