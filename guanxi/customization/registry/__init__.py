"""The field registry: one description of every field of an object, built-in or custom.

A `FieldSpec` says what a field is (type, label, choices), how a value is validated (`clean`),
how it is filtered (`filter_q`), sorted and displayed. Built-in fields are registered by their app
(`register_object` in the app's `fields.py`); custom fields come from `CustomField` rows. Pages,
the API, import, export, saved views and (later) automation conditions and dashboard filters all
ask this registry, so a custom field needs no extra code anywhere.

Custom values live in the object's `custom_fields` JSON column keyed by the field's key:
text-like types as strings, number and money as JSON numbers, date as "YYYY-MM-DD", datetime as
ISO 8601 in UTC, boolean as true/false, single select as the picklist value key, multi select as
a sorted list of keys, user and linked record as ids.

Validation accepts typed JSON (API) and text (pages, import files) through the same code, so the
three write paths give the same answer and the same message for the same value.

The package's `__init__` is the interface: callers write
`from guanxi.customization import registry as customfields` and use `customfields.Registry(...)`.
The modules inside, lower ones first (each imports only lower ones, never this package; an
import-linter contract checks it):

| module | what |
|---|---|
| `operators` | field refs and keys (`PREFIX`, `KEY_RE`), live statuses, type groups, `Op` and the operators per type |
| `spec` | `FieldSpec`, `ObjectSpec` and the object registry (`register_object`), the filter Q building |
| `definitions` | `custom_spec` (a `FieldSpec` from a `CustomField`), sensitive custom keys, `protect_custom_values` |
| `cleaning` | `clean_value`, `clean_filter_value` and the parsing of numbers, dates, choices, users, records |
| `object_fields` | `Registry` (every field of one object type), `field_choices_for_filters` |

Names with a leading underscore are helpers of the modules; the few that other code uses
(`_localized`, `_keys`, `_number`) are exported here too.
"""

from __future__ import annotations

from guanxi.customization.registry.cleaning import (
    DEFAULT_TEXT_LENGTH,
    FALSE_WORDS,
    MAX_NUMBER,
    MULTI_SEPARATORS,
    TRUE_WORDS,
    _number,
    clean_filter_value,
    clean_value,
)
from guanxi.customization.registry.definitions import (
    custom_spec,
    protect_custom_values,
    sensitive_custom_types,
)
from guanxi.customization.registry.object_fields import Registry, field_choices_for_filters
from guanxi.customization.registry.operators import (
    DATE_TYPES,
    DAY_COUNT_OPS,
    ID_TYPES,
    KEY_RE,
    LIVE_STATUSES,
    NO_VALUE_OPS,
    NUMERIC_TYPES,
    OPS_BY_TYPE,
    PREFIX,
    RELATIVE_OPS,
    TEXT_TYPES,
    Op,
)
from guanxi.customization.registry.spec import (
    FieldSpec,
    ObjectSpec,
    _keys,
    _localized,
    enum_choices,
    object_spec,
    register_object,
    registered_objects,
)

__all__ = [
    # the registry of one object type
    "Registry",
    "field_choices_for_filters",
    # fields and objects
    "FieldSpec",
    "ObjectSpec",
    "custom_spec",
    "enum_choices",
    "object_spec",
    "register_object",
    "registered_objects",
    # values
    "clean_filter_value",
    "clean_value",
    "protect_custom_values",
    "sensitive_custom_types",
    # constants
    "DATE_TYPES",
    "DAY_COUNT_OPS",
    "DEFAULT_TEXT_LENGTH",
    "FALSE_WORDS",
    "ID_TYPES",
    "KEY_RE",
    "LIVE_STATUSES",
    "MAX_NUMBER",
    "MULTI_SEPARATORS",
    "NO_VALUE_OPS",
    "NUMERIC_TYPES",
    "OPS_BY_TYPE",
    "PREFIX",
    "RELATIVE_OPS",
    "TEXT_TYPES",
    "TRUE_WORDS",
    "Op",
    # helpers other modules use (not the interface for new code)
    "_keys",
    "_localized",
    "_number",
]
