"""Custom fields as the registry sees them: a `FieldSpec` from a `CustomField` row and its
picklist values, and which stored keys hold sensitive values (what audit entries and event payloads
store protected).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from guanxi.core import sensitive as sensitive_values
from guanxi.customization.models import CustomField, PicklistValue
from guanxi.customization.registry.operators import PREFIX
from guanxi.customization.registry.spec import FieldSpec


def _choices_for(definitions: list[CustomField]) -> dict[int, list[PicklistValue]]:
    ids = {d.picklist_id for d in definitions if d.picklist_id}
    by_list: dict[int, list[PicklistValue]] = {}
    for value in PicklistValue.objects.filter(picklist_id__in=ids).order_by("position", "id"):
        by_list.setdefault(value.picklist_id, []).append(value)
    return by_list


def custom_spec(definition: CustomField, values: list[PicklistValue] | None = None) -> FieldSpec:
    values = values or []
    return FieldSpec(
        ref=PREFIX + definition.key,
        type=definition.type,
        label_zh=definition.label_zh,
        label_en=definition.label_en,
        required=definition.required,
        help_zh=definition.help_zh,
        help_en=definition.help_en,
        choices=[(v.key, v.label_zh, v.label_en) for v in values if v.is_active and v.merged_into_id is None],
        all_choices={v.key: (v.label_zh, v.label_en) for v in values},
        custom=definition,
        sensitive=sensitive_values.DEFAULT_PERMISSION
        if definition.type in sensitive_values.SENSITIVE_TYPES
        else "",
    )


def sensitive_custom_types(object_type: str) -> dict[str, str]:
    """key -> type of every custom field of a sensitive type (live, being renamed or deleted, and
    previous keys): what `protect_custom_values` masks in audit entries and event payloads."""
    return _sensitive_types_of(
        CustomField.objects.filter(object_type=object_type, type__in=sensitive_values.SENSITIVE_TYPES).only(
            "key", "previous_key", "type"
        )
    )


def _sensitive_types_of(definitions: Iterable[CustomField]) -> dict[str, str]:
    result: dict[str, str] = {}
    for definition in definitions:
        if definition.type in sensitive_values.SENSITIVE_TYPES:
            result[definition.key] = definition.type
            if definition.previous_key:
                result[definition.previous_key] = definition.type
    return result


def protect_custom_values(values: Any, sensitive_types: dict[str, str]) -> Any:
    """A custom-field map as audit entries and event payloads store it: sensitive values protected
    ("<mask>#<keyed hash>", `core.sensitive.protect`), the others as they are."""
    if not isinstance(values, dict) or not sensitive_types:
        return values
    return {
        key: sensitive_values.protect(sensitive_types[key], value) if key in sensitive_types else value
        for key, value in values.items()
    }
