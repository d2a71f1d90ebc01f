"""What a field and an object are: `FieldSpec` (label, choices, display, presenting, filter Q,
sort order) and `ObjectSpec` with the object registry (`register_object`), then the Q building
behind `FieldSpec.filter_q` (built-in columns, and custom values in the `custom_fields` JSON column).

The Q building sits here, not in a module of its own: `FieldSpec.filter_q` calls it, and it takes
a `FieldSpec` (and, for a multi-select value, the model from the object registry), so in two modules
each would import the other.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.core import sensitive as sensitive_values
from guanxi.customization.models import CustomField, CustomObject, FieldType
from guanxi.customization.registry.operators import (
    DATE_TYPES,
    ID_TYPES,
    OPS_BY_TYPE,
    PREFIX,
    RELATIVE_OPS,
    TEXT_TYPES,
    Op,
)


def enum_choices(enum: type[models.TextChoices]) -> list[tuple[str, str, str]]:
    """(key, zh, en) choices of a TextChoices enum, for built-in select fields."""
    result = []
    for value, label in enum.choices:
        if not value:
            continue
        with translation.override("zh-hans"):
            zh = str(label)
        with translation.override("en"):
            en = str(label)
        result.append((value, zh, en))
    return result


def _localized(zh: str, en: str) -> str:
    return en if (translation.get_language() or "").startswith("en") and en else zh


@dataclass
class FieldSpec:
    """One field of an object as every layer sees it."""

    ref: str  # "owner", "lifecycle_stage", "cf.source_detail"
    type: str  # a FieldType value
    label_zh: str
    label_en: str = ""
    required: bool = False
    help_zh: str = ""
    help_en: str = ""
    choices: list[tuple[str, str, str]] = field(default_factory=list)  # (key, zh, en); live values
    # Built-in fields: the ORM path filtered and sorted on, and how to read a value for display.
    path: str = ""
    getter: Callable[[Any], Any] | None = None
    sortable: bool = True
    filterable: bool = True
    # A to-many path (tags): filtered through a subquery so rows are not repeated.
    multi_valued: bool = False
    custom: CustomField | None = None
    all_choices: dict[str, tuple[str, str]] = field(default_factory=dict)  # incl. inactive/merged
    # The permission that reveals the value ("" = not sensitive): others see it masked everywhere
    # (`present`), may not filter or sort on it, and audit/events store it protected.
    sensitive: str = ""
    # A select stored in an integer column (an IntegerChoices field such as a task's priority): its
    # keys are the numbers as text, and "is empty" never compares the column with "".
    numeric_keys: bool = False

    def __post_init__(self) -> None:
        if self.choices and not self.all_choices:
            self.all_choices = {key: (zh, en) for key, zh, en in self.choices}

    @property
    def label(self) -> str:
        return _localized(self.label_zh, self.label_en)

    @property
    def help(self) -> str:
        return _localized(self.help_zh, self.help_en)

    @property
    def is_custom(self) -> bool:
        return self.custom is not None

    @property
    def key(self) -> str:
        return self.ref[len(PREFIX) :] if self.is_custom else self.ref

    @property
    def ops(self) -> list[str]:
        return [str(o) for o in OPS_BY_TYPE.get(self.type, [Op.EQ])]

    def choice_label(self, key: str) -> str:
        zh, en = self.all_choices.get(key, (key, key))
        return _localized(zh, en)

    def value_of(self, obj: Any) -> Any:
        if self.is_custom:
            data = getattr(obj, "custom_fields", None) or {}
            if self.key in data:
                return data[self.key]
            previous = self.custom.previous_key
            return data.get(previous) if previous else None
        if self.getter is not None:
            return self.getter(obj)
        return getattr(obj, self.path or self.ref, None)

    def display(self, value: Any, *, names: dict[tuple[str, int], str] | None = None) -> str:
        """Human text for a value (lists, exports, kanban); `names` maps (kind, id) to a name."""
        if value is None or value == "" or value == []:
            return ""
        if self.type == FieldType.BOOLEAN:
            return _("Yes") if value else _("No")
        if self.type == FieldType.SINGLE_SELECT:
            return self.choice_label(str(value))
        if self.type == FieldType.MULTI_SELECT:
            items = [value] if isinstance(value, str) else value  # a getter may give joined text
            return "、".join(self.choice_label(str(v)) for v in items)
        if self.type in ID_TYPES and names is not None:
            kind = (
                "user" if self.type == FieldType.USER else (self.custom.linked_object if self.custom else "")
            )
            return names.get((kind, value), str(value))
        if self.type == FieldType.DATETIME and isinstance(value, dt.datetime) and timezone.is_aware(value):
            return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
        if self.type == FieldType.DATETIME and isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value)
                return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
            except ValueError:
                return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if self.type == FieldType.MONEY:
            return f"{decimal.Decimal(str(value)):,.2f}"
        if isinstance(value, models.Model):
            return str(value)
        if hasattr(value, "label") and hasattr(value, "value"):
            return str(value.label)
        return str(value)

    # -- presenting -----------------------------------------------------------------------

    def may_reveal(self, user, obj: Any = None) -> bool:
        """Whether `user` sees this field's value on `obj` in full (always, unless it is sensitive)."""
        if not self.sensitive:
            return True
        return sensitive_values.may_reveal(user, self.sensitive, getattr(obj, "owner_id", None))

    def present(self, value: Any, *, user, obj: Any = None, names: dict | None = None) -> str:
        """The one presenter: the text of a value as `user` may see it on `obj` (pages, the API,
        exports, kanban, history). Sensitive values are masked for users who may not reveal them."""
        if self.sensitive:
            return sensitive_values.present(
                self.type, self.sensitive, value, user=user, owner_id=getattr(obj, "owner_id", None)
            )
        return self.display(value, names=names)

    def may_query(self, user) -> bool:
        """Whether `user` may filter or sort on this field's values: a sensitive field only with the
        permission that reveals it (else a filter or a sort order would be an oracle for the value)."""
        return not self.sensitive or user is None or user.has_perm_code(self.sensitive)

    # -- filtering ------------------------------------------------------------------------

    def filter_q(self, op: str, value: Any) -> Q:
        """The Q for `op value` on this field; `value` is already cleaned by `clean_filter_value`."""
        if self.is_custom:
            return _custom_q(self, op, value)
        return _builtin_q(self, op, value)

    def order_expression(self, descending: bool) -> Any:
        expr = KeyTransform(self.key, "custom_fields") if self.is_custom else models.F(self.path or self.ref)
        if self.is_custom and self.custom.previous_key:  # during a rename rows may hold either key
            expr = Coalesce(expr, KeyTransform(self.custom.previous_key, "custom_fields"))
        return expr.desc(nulls_last=True) if descending else expr.asc(nulls_last=True)


@dataclass
class ObjectSpec:
    """An object type that carries fields: its model, base queryset and built-in fields.

    Objects of a `CustomObject` type also carry custom fields (a `custom_fields` JSON column), form
    layouts and saved views. An app may register an object outside `CustomObject` (engagement's
    "task"): it has built-in fields only, so that automation rules can be about it, and
    `registered_objects()` (what the customisation pages, layouts, saved views and approvals offer)
    leaves it out."""

    object_type: str
    model: type[models.Model]
    builtin: Callable[[], list[FieldSpec]]
    # Rows counted by `unique` checks (e.g. customers that are not deleted).
    unique_scope: Callable[[], models.QuerySet] | None = None
    # For linked-record fields pointing at this object: id -> display name, limited to the user.
    names: Callable[[Iterable[int]], dict[int, str]] | None = None
    visible_ids: Callable[[Any, Iterable[int]], set[int]] | None = None
    # Form sections used until an admin saves a layout: [{"title_zh", "title_en", "fields": [refs]}].
    default_layout: Callable[[], list[dict]] | None = None
    # Refs every form layout must keep (the form cannot be saved without them).
    required_refs: tuple[str, ...] = ()


_OBJECTS: dict[str, ObjectSpec] = {}


def register_object(spec: ObjectSpec) -> None:
    _OBJECTS[spec.object_type] = spec


def object_spec(object_type: str) -> ObjectSpec:
    return _OBJECTS[object_type]


def registered_objects() -> list[str]:
    """The registered objects that carry custom fields, layouts and saved views (`CustomObject`)."""
    return [o for o in CustomObject.values if o in _OBJECTS]


def carries_custom_fields(object_type: str) -> bool:
    return object_type in CustomObject.values


# --------------------------------------------------------------------------- filters


def _day_bounds(op: str, days: int | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end) in the current time zone for a relative-date operator."""
    now = timezone.localtime()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    one_day = dt.timedelta(days=1)
    if op == Op.TODAY:
        return today, today + one_day
    if op == Op.THIS_WEEK:
        start = today - dt.timedelta(days=today.weekday())
        return start, start + dt.timedelta(days=7)
    if op == Op.THIS_MONTH:
        start = today.replace(day=1)
        return start, (start + dt.timedelta(days=32)).replace(day=1)
    if op == Op.LAST_MONTH:
        end = today.replace(day=1)
        return (end - one_day).replace(day=1), end
    if op == Op.THIS_YEAR:
        start = today.replace(month=1, day=1)
        return start, start.replace(year=start.year + 1)
    if op == Op.LAST_DAYS:
        return today - dt.timedelta(days=days or 0), today + one_day
    if op == Op.NEXT_DAYS:
        return today, today + dt.timedelta(days=(days or 0) + 1)
    if op == Op.OLDER_THAN_DAYS:
        return None, today - dt.timedelta(days=days or 0)
    raise ValueError(op)


def _date_range_q(spec: FieldSpec, lookup: str, op: str, value: Any, *, as_text: bool) -> Q:
    """Range filters on a date/datetime stored as a real column or as ISO text in JSON."""

    def bound(moment: dt.datetime) -> Any:
        if spec.type == FieldType.DATE:
            return moment.date().isoformat() if as_text else moment.date()
        return moment.astimezone(dt.UTC).isoformat() if as_text else moment

    if op in RELATIVE_OPS:
        start, end = _day_bounds(op, value)
    elif isinstance(value, dt.datetime):
        start, end = (value, value + dt.timedelta(seconds=1)) if op == Op.EQ else (value, value)
    else:  # a date
        start = timezone.make_aware(dt.datetime.combine(value, dt.time.min))
        end = start + dt.timedelta(days=1)
    if op == Op.BEFORE:
        return Q(**{f"{lookup}__lt": bound(start)})
    if op == Op.AFTER:
        return Q(**{f"{lookup}__gte": bound(end)})
    q = Q()
    if start is not None:
        q &= Q(**{f"{lookup}__gte": bound(start)})
    if end is not None:
        q &= Q(**{f"{lookup}__lt": bound(end)})
    return q


def _builtin_q(spec: FieldSpec, op: str, value: Any) -> Q:
    path = spec.path or spec.ref
    if op == Op.EMPTY:
        q = Q(**{f"{path}__isnull": True})
        # A select stored as a foreign key (a deal's pipeline_id, stage_id) is never "": comparing the
        # id column with "" raised ValueError (a 500 on filters=[{"field": "pipeline", "op": "empty"}]).
        stored_as_text = spec.type in TEXT_TYPES or (
            spec.choices and not path.endswith("_id") and not spec.numeric_keys
        )
        return q | Q(**{path: ""}) if stored_as_text else q
    if op == Op.NOT_EMPTY:
        return ~_builtin_q(spec, Op.EMPTY, None)
    if spec.type in DATE_TYPES:
        return _date_range_q(spec, path, op, value, as_text=False)
    lookups = {
        Op.EQ: "", Op.GT: "__gt", Op.GTE: "__gte", Op.LT: "__lt", Op.LTE: "__lte",
        Op.CONTAINS: "__icontains", Op.STARTS: "__istartswith", Op.IN: "__in", Op.HAS: "",
    }  # fmt: skip
    if op == Op.NE:
        return ~Q(**{path: value})
    return Q(**{f"{path}{lookups[op]}": value})


def _keys(spec: FieldSpec) -> list[str]:
    keys = [spec.key]
    if spec.custom is not None and spec.custom.previous_key:
        keys.append(spec.custom.previous_key)
    return keys


def _json_equals(key: str, value: Any) -> Q:
    """custom_fields[key] == value: containment on PostgreSQL (served by the GIN index).

    Never NULL on SQLite either (has_key first), so that its negation keeps records without the key.
    """
    if connection.vendor == "postgresql":
        return Q(custom_fields__contains={key: value})
    return Q(custom_fields__has_key=key) & Q(**{f"custom_fields__{key}": value})


def _json_has(model: type[models.Model], key: str, value: Any) -> Q:
    """A multi-select list at custom_fields[key] includes value."""
    if connection.vendor == "postgresql":
        return Q(custom_fields__contains={key: [value]})
    table = model._meta.db_table
    sql = f'SELECT t.id FROM "{table}" t, json_each(t.custom_fields, %s) j WHERE j.value = %s'  # noqa: S608
    # The table name comes from the model, the key and value are parameters.
    return Q(pk__in=RawSQL(sql, (f'$."{key}"', value)))  # noqa: S611


def _custom_q(spec: FieldSpec, op: str, value: Any) -> Q:
    """Any key (the new one or, during a rename, the previous one) holding a matching value; for
    the negative operators no key may hold one ("is not X" and "is empty" include missing values)."""
    q = Q()
    if op == Op.NE:
        for key in _keys(spec):
            q |= _custom_key_q(spec, key, Op.EQ, value)
        return ~q
    if op == Op.EMPTY:
        for key in _keys(spec):
            q &= _custom_key_q(spec, key, Op.EMPTY, value)
        return q
    for key in _keys(spec):
        q |= _custom_key_q(spec, key, op, value)
    return q


def _custom_key_q(spec: FieldSpec, key: str, op: str, value: Any) -> Q:
    model = _OBJECTS[spec.custom.object_type].model if spec.custom.object_type in _OBJECTS else None
    path = f"custom_fields__{key}"
    if op == Op.EMPTY:
        return ~Q(custom_fields__has_key=key) | Q(**{path: None}) | Q(**{path: ""}) | Q(**{path: []})
    if op == Op.NOT_EMPTY:
        return Q(custom_fields__has_key=key) & ~Q(**{path: None}) & ~Q(**{path: ""}) & ~Q(**{path: []})
    if spec.type in DATE_TYPES:
        return _date_range_q(spec, path, op, value, as_text=True)
    if op == Op.EQ:
        return _json_equals(key, value)
    if op == Op.NE:
        return ~_json_equals(key, value)
    if op == Op.IN:
        q = Q()
        for item in value:
            q |= (
                _json_has(model, key, item)
                if spec.type == FieldType.MULTI_SELECT
                else _json_equals(key, item)
            )
        return q
    if op == Op.HAS:
        return _json_has(model, key, value)
    if op in (Op.CONTAINS, Op.STARTS):
        lookup = "icontains" if op == Op.CONTAINS else "istartswith"
        return Q(**{f"{path}__{lookup}": value})
    return Q(**{f"{path}__{op}": value})
