"""The company's live custom fields in the OpenAPI document.

`describe_custom_fields(schema)` fills the `<Object>CustomFields` components of the document from the
live definitions at request time (see `guanxi.api.GuanxiAPI`), so generated clients know each field's
type, choices and limits.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError

from guanxi.core.converters import MAX_ID
from guanxi.customization import registry as customfields
from guanxi.customization.models import (
    FieldType,
)

log = logging.getLogger(__name__)


def _nullable(schema: dict) -> dict:
    """Input may send null to clear a value (responses leave empty values out)."""
    schema = dict(schema)
    schema["type"] = [schema["type"], "null"]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def value_schema(spec: customfields.FieldSpec) -> dict:
    """The JSON Schema of one custom field's value, as sent and returned by the API."""
    definition = spec.custom
    kind = spec.type
    schema: dict[str, Any]
    if kind in (FieldType.TEXT, FieldType.LONG_TEXT, FieldType.PHONE, FieldType.URL):
        limit = (definition.max_length if definition and definition.max_length else None) or (
            customfields.DEFAULT_TEXT_LENGTH.get(kind, 200)
        )
        schema = {"type": "string", "maxLength": limit}
        if kind == FieldType.URL:
            schema["format"] = "uri"
    elif kind == FieldType.EMAIL:
        schema = {"type": "string", "format": "email"}
    elif kind in customfields.NUMERIC_TYPES:
        schema = {"type": "number"}
        if definition is not None and definition.min_value is not None:
            schema["minimum"] = float(definition.min_value)
        if definition is not None and definition.max_value is not None:
            schema["maximum"] = float(definition.max_value)
    elif kind == FieldType.DATE:
        schema = {"type": "string", "format": "date"}
    elif kind == FieldType.DATETIME:
        schema = {"type": "string", "format": "date-time"}
    elif kind == FieldType.BOOLEAN:
        schema = {"type": "boolean"}
    elif kind == FieldType.SINGLE_SELECT:
        schema = {"type": "string", "enum": [key for key, _zh, _en in spec.choices]}
    elif kind == FieldType.MULTI_SELECT:
        schema = {
            "type": "array",
            "items": {"type": "string", "enum": [key for key, _zh, _en in spec.choices]},
            "uniqueItems": True,
        }
    elif kind in customfields.ID_TYPES:
        schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    else:
        schema = {"type": "string"}
    return schema


def _description(spec: customfields.FieldSpec) -> str:
    label = " / ".join(t for t in (spec.label_zh, spec.label_en) if t)
    notes = [label]
    help_text = " / ".join(t for t in (spec.help_zh, spec.help_en) if t)
    if help_text:
        notes.append(help_text)
    definition = spec.custom
    if spec.type in customfields.ID_TYPES:
        target = "user" if spec.type == FieldType.USER else definition.linked_object
        notes.append(f"Id of a {target}.")
    if spec.type == FieldType.MONEY:
        notes.append("At most two decimal places.")
    if spec.type == FieldType.PHONE:
        notes.append("A phone number (stored in E.164 form).")
    if spec.choices:
        notes.append(
            "Choices: " + ", ".join(f"{k} = {zh}" + (f" / {en}" if en else "") for k, zh, en in spec.choices)
        )
    if definition is not None and definition.regex:
        notes.append(f"Must match: {definition.regex}")
    if definition is not None and definition.unique:
        notes.append("Unique among records.")
    if spec.required:
        notes.append("Required.")
    return "\n\n".join(notes)


def custom_fields_schema(object_type: str) -> tuple[dict[str, dict], list[str]]:
    """(properties, keys required on creation) for the live custom fields of an object."""
    registry = customfields.Registry(object_type)
    properties: dict[str, dict] = {}
    required: list[str] = []
    for key, spec in registry.custom.items():
        properties[key] = {
            **_nullable(value_schema(spec)),
            "title": spec.label_zh,
            "description": _description(spec),
            "x-field-type": spec.type,
            "x-ref": spec.ref,
        }
        if spec.required and spec.custom.default in (None, "", []):
            required.append(key)
    return properties, required


# Component name -> (object type, the body schema whose `custom_fields` is a creation). An API
# declares `custom_fields: <Name>` with `class <Name>(RootModel[dict[str, Any]])` to be described;
# names whose component does not exist are skipped.
CUSTOM_FIELD_COMPONENTS = {
    "CustomerCustomFields": ("customer", "CustomerIn"),
    "DealCustomFields": ("deal", "DealIn"),
    "OrderCustomFields": ("order", "OrderIn"),
    "FollowUpCustomFields": ("follow_up", "FollowUpIn"),
}


def describe_custom_fields(openapi: dict) -> None:
    """Fill the custom-field map components of an OpenAPI document from the live definitions."""
    components = openapi.get("components", {}).get("schemas", {})
    for name, (object_type, create_schema) in CUSTOM_FIELD_COMPONENTS.items():
        if name not in components:
            continue
        try:
            properties, required = custom_fields_schema(object_type)
        except DatabaseError:  # no database yet (e.g. exporting the schema before `migrate`)
            log.warning("custom fields left out of the OpenAPI document", exc_info=True)
            continue
        component = dict(components[name])
        component["type"] = "object"
        component["properties"] = properties
        components[name] = component
        body = components.get(create_schema, {}).get("properties", {})
        if "custom_fields" in body:
            create_name = f"{name}Create"
            components[create_name] = {
                "title": create_name,
                "description": f"{name} when creating: fields marked required (without a default) must be given.",
                "allOf": [{"$ref": f"#/components/schemas/{name}"}],
                **({"required": required} if required else {}),
            }
            prop = {k: v for k, v in body["custom_fields"].items() if k not in ("$ref", "anyOf", "allOf")}
            body["custom_fields"] = {**prop, "$ref": f"#/components/schemas/{create_name}"}
