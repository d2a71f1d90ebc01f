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
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from guanxi import text as normalize
from guanxi.core import sensitive as sensitive_values
from guanxi.core.models import User
from guanxi.customization.models import CustomField, CustomObject, FieldStatus, FieldType, PicklistValue

PREFIX = "cf."
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LIVE_STATUSES = (FieldStatus.ACTIVE, FieldStatus.RENAMING)
TEXT_TYPES = {FieldType.TEXT, FieldType.LONG_TEXT, FieldType.PHONE, FieldType.EMAIL, FieldType.URL}
NUMERIC_TYPES = {FieldType.NUMBER, FieldType.MONEY}
DATE_TYPES = {FieldType.DATE, FieldType.DATETIME}
ID_TYPES = {FieldType.USER, FieldType.LINKED_RECORD}
DEFAULT_TEXT_LENGTH = {FieldType.TEXT: 200, FieldType.LONG_TEXT: 5000, FieldType.URL: 500}
MAX_NUMBER = decimal.Decimal("1e15")
TRUE_WORDS = {"1", "true", "yes", "y", "是", "对", "真", "✓", "√", "on"}
FALSE_WORDS = {"0", "false", "no", "n", "否", "不", "假", "✗", "×", "off"}
MULTI_SEPARATORS = re.compile(r"[,，、;；|\n]")
_DATE_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_DATETIME_RE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)


# --------------------------------------------------------------------------- operators


class Op(models.TextChoices):
    EQ = "eq", gettext_lazy("is")
    NE = "ne", gettext_lazy("is not")
    IN = "in", gettext_lazy("is any of")
    CONTAINS = "contains", gettext_lazy("contains")
    STARTS = "starts", gettext_lazy("starts with")
    GT = "gt", gettext_lazy("greater than")
    GTE = "gte", gettext_lazy("at least")
    LT = "lt", gettext_lazy("less than")
    LTE = "lte", gettext_lazy("at most")
    BEFORE = "before", pgettext_lazy("filter operator", "before")
    AFTER = "after", pgettext_lazy("filter operator", "after")
    LAST_DAYS = "last_days", gettext_lazy("in the last N days")
    NEXT_DAYS = "next_days", gettext_lazy("in the next N days")
    OLDER_THAN_DAYS = "older_than_days", gettext_lazy("more than N days ago")
    TODAY = "today", gettext_lazy("today")
    THIS_WEEK = "this_week", gettext_lazy("this week")
    THIS_MONTH = "this_month", gettext_lazy("this month")
    LAST_MONTH = "last_month", gettext_lazy("last month")
    THIS_YEAR = "this_year", gettext_lazy("this year")
    HAS = "has", gettext_lazy("includes")
    EMPTY = "empty", gettext_lazy("is empty")
    NOT_EMPTY = "not_empty", gettext_lazy("is not empty")


NO_VALUE_OPS = {Op.EMPTY, Op.NOT_EMPTY, Op.TODAY, Op.THIS_WEEK, Op.THIS_MONTH, Op.LAST_MONTH, Op.THIS_YEAR}
DAY_COUNT_OPS = {Op.LAST_DAYS, Op.NEXT_DAYS, Op.OLDER_THAN_DAYS}
RELATIVE_OPS = DAY_COUNT_OPS | {Op.TODAY, Op.THIS_WEEK, Op.THIS_MONTH, Op.LAST_MONTH, Op.THIS_YEAR}
OPS_BY_TYPE: dict[str, list[str]] = {
    **{t: [Op.EQ, Op.NE, Op.CONTAINS, Op.STARTS, Op.EMPTY, Op.NOT_EMPTY] for t in TEXT_TYPES},
    **{t: [Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.EMPTY, Op.NOT_EMPTY] for t in NUMERIC_TYPES},
    **{t: [Op.EQ, Op.BEFORE, Op.AFTER, *sorted(RELATIVE_OPS), Op.EMPTY, Op.NOT_EMPTY] for t in DATE_TYPES},
    FieldType.BOOLEAN: [Op.EQ],
    FieldType.SINGLE_SELECT: [Op.EQ, Op.NE, Op.IN, Op.EMPTY, Op.NOT_EMPTY],
    FieldType.MULTI_SELECT: [Op.HAS, Op.IN, Op.EMPTY, Op.NOT_EMPTY],
    FieldType.USER: [Op.EQ, Op.NE, Op.IN, Op.EMPTY, Op.NOT_EMPTY],
    FieldType.LINKED_RECORD: [Op.EQ, Op.EMPTY, Op.NOT_EMPTY],
}


# --------------------------------------------------------------------------- specs


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
    """An object type that carries fields: its model, base queryset and built-in fields."""

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
    return [o for o in CustomObject.values if o in _OBJECTS]


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


class Registry:
    """Every field of one object type, loaded once (per request, import run or task)."""

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        self.object = _OBJECTS.get(object_type)
        # One query for every definition: the live ones describe the fields; all of them (deleted
        # fields' values may still sit in stored maps and old audit entries) say which are sensitive.
        every = list(
            CustomField.objects.filter(object_type=object_type)
            .select_related("picklist")
            .order_by("position", "id")
        )
        self.definitions = [d for d in every if d.status in LIVE_STATUSES]
        self._sensitive_types = _sensitive_types_of(every)
        choices = _choices_for(self.definitions)
        self.custom = {d.key: custom_spec(d, choices.get(d.picklist_id)) for d in self.definitions}
        self.builtin = {s.ref: s for s in (self.object.builtin() if self.object else [])}

    def fields(self) -> list[FieldSpec]:
        return [*self.builtin.values(), *self.custom.values()]

    # -- presenting -------------------------------------------------------------------------

    @property
    def sensitive_types(self) -> dict[str, str]:
        """Stored key -> type of the sensitive custom fields (previous keys of renames and deleted
        fields included: stored maps and old audit entries may still hold them); no extra query."""
        return self._sensitive_types

    def present_custom_values(self, values: Any, user, obj: Any = None) -> Any:
        """A stored custom-field map (the record's, or one from an audit entry) as `user` may see it:
        typed values as stored, sensitive ones masked unless the user may reveal them on `obj`.
        Values stored protected (audit entries) always show their mask."""
        if not isinstance(values, dict):
            return values
        kinds = self.sensitive_types if values else {}
        owner_id = getattr(obj, "owner_id", None)
        result = {}
        for key, value in values.items():
            kind = kinds.get(key)
            if kind is None or value in (None, ""):
                result[key] = value
            elif sensitive_values.is_protected(value) or not sensitive_values.may_reveal(
                user, sensitive_values.DEFAULT_PERMISSION, owner_id
            ):
                result[key] = sensitive_values.mask(kind, value)
            else:
                result[key] = value
        return result

    def get(self, ref: str) -> FieldSpec | None:
        if ref.startswith(PREFIX):
            return self.custom.get(ref[len(PREFIX) :])
        return self.builtin.get(ref)

    # -- validation -------------------------------------------------------------------------

    def clean(
        self,
        raw: Any,
        *,
        current: dict | None = None,
        creating: bool,
        instance_id: int | None = None,
        actor=None,
        check_unique: bool = True,
    ) -> tuple[dict, dict[str, list[str]]]:
        """Validate a {key: value} map of custom values; returns (new stored map, errors).

        `current` is the stored map of the record being edited: keys not given keep their value.
        On creation a missing required field takes its default or is an error; on edit, a required
        field may be left alone but not emptied. Errors are keyed "custom_fields.<key>".
        """
        errors: dict[str, list[str]] = {}
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            return dict(current or {}), {
                "custom_fields": [_("Must be an object with one entry per custom field.")]
            }
        result = self.normalize_stored(current or {})
        # During a rename a client may still send the previous key: it means the renamed field.
        raw = self.normalize_stored(raw)
        for key in sorted(raw, key=str):
            spec = self.custom.get(key) if isinstance(key, str) else None
            if spec is None:
                errors.setdefault(f"custom_fields.{key}", []).append(_("Unknown custom field."))
                continue
            try:
                value = clean_value(spec, raw[key], actor=actor)
            except ValidationError as exc:
                errors.setdefault(f"custom_fields.{key}", []).extend(exc.messages)
                continue
            if value is None:
                if spec.required:
                    errors.setdefault(f"custom_fields.{key}", []).append(_("This field is required."))
                result.pop(key, None)
            else:
                result[key] = value
        if creating:
            for key, spec in self.custom.items():
                if key in result or key in raw:
                    continue
                default = spec.custom.default
                if default not in (None, "", []):
                    try:
                        result[key] = clean_value(spec, default, actor=None)
                        continue
                    except ValidationError:
                        pass
                if spec.required:
                    errors.setdefault(f"custom_fields.{key}", []).append(_("This field is required."))
        if not check_unique:  # ingestion: checked once the record the data goes to is known
            return result, errors
        for key in sorted(raw, key=str):
            spec = self.custom.get(key) if isinstance(key, str) else None
            if spec is None or not spec.custom.unique or key not in result:
                continue
            if f"custom_fields.{key}" in errors:
                continue
            if self.value_taken(spec, result[key], exclude_id=instance_id):
                errors.setdefault(f"custom_fields.{key}", []).append(
                    _("Another record already has this value.")
                )
        return result, errors

    def normalize_stored(self, stored: dict) -> dict:
        """A stored map with keys of fields being renamed moved to their new key."""
        result = dict(stored)
        for key, spec in self.custom.items():
            previous = spec.custom.previous_key
            if previous and previous in result:
                value = result.pop(previous)
                result.setdefault(key, value)
        return result

    def value_taken(self, spec: FieldSpec, value: Any, *, exclude_id: int | None) -> bool:
        if self.object is None:
            return False
        qs = self.object.unique_scope() if self.object.unique_scope else self.object.model.objects.all()
        qs = qs.filter(_custom_q(spec, Op.EQ, value))
        if exclude_id is not None:
            qs = qs.exclude(pk=exclude_id)
        return qs.exists()

    def clean_filters(self, conditions: Any, *, user) -> list[tuple[FieldSpec, str, Any]]:
        """Validate saved-view / API filter conditions [{"field", "op", "value"}]; raises ValidationError.

        `user` (None: the system) may not test the value of a field masked for them (`may_query`):
        only whether it is empty."""
        if conditions in (None, ""):
            return []
        if not isinstance(conditions, list):
            raise ValidationError({"filters": [_("Filters must be a list of conditions.")]})
        cleaned, errors = [], []
        for n, condition in enumerate(conditions, start=1):
            if not isinstance(condition, dict):
                errors.append(_("Condition %(n)s: must be an object with field, op and value.") % {"n": n})
                continue
            ref, op = str(condition.get("field") or ""), str(condition.get("op") or "eq")
            spec = self.get(ref)
            if spec is None or not spec.filterable:
                errors.append(_("Condition %(n)s: unknown field %(field)s.") % {"n": n, "field": ref[:60]})
                continue
            if op not in spec.ops:
                errors.append(
                    _("Condition %(n)s: %(field)s cannot be filtered with %(op)s.")
                    % {"n": n, "field": spec.label, "op": op[:30]}
                )
                continue
            if op not in (Op.EMPTY, Op.NOT_EMPTY) and not spec.may_query(user):
                errors.append(
                    _(
                        "Condition %(n)s: %(field)s is masked for you, so you may only filter on whether it is empty."
                    )
                    % {"n": n, "field": spec.label}
                )
                continue
            try:
                value = clean_filter_value(spec, op, condition.get("value"))
            except ValidationError as exc:
                errors.append(_("Condition %(n)s: %(error)s") % {"n": n, "error": " ".join(exc.messages)})
                continue
            cleaned.append((spec, op, value))
        if errors:
            raise ValidationError({"filters": errors})
        return cleaned

    def filter_q(self, conditions: Any, *, user) -> Q:
        q = Q()
        for spec, op, value in self.clean_filters(conditions, user=user):
            condition = spec.filter_q(op, value)
            if spec.multi_valued and self.object is not None:
                condition = Q(pk__in=self.object.model.objects.filter(condition).values("pk"))
            q &= condition
        return q

    def ordering(self, sort: str, *, user) -> list[Any] | None:
        """An order_by list for "ref" or "-ref"; None when the field cannot be sorted on (by `user`:
        sorting on a value masked for them would reveal how it compares)."""
        descending = sort.startswith("-")
        spec = self.get(sort.lstrip("-"))
        if spec is None or not spec.sortable or not spec.may_query(user):
            return None
        return [spec.order_expression(descending), "-pk" if descending else "pk"]

    def names_for(
        self, objects: Iterable[Any], specs: Iterable[FieldSpec], *, user
    ) -> dict[tuple[str, int], str]:
        """(kind, id) -> display name for the user and linked-record values among `objects`.

        Linked records are named only when `user` may see them (the target object's `visible_ids`);
        the others are displayed by id. `user=None` is the system (no scope)."""
        wanted: dict[str, set[int]] = {}
        for spec in specs:
            if spec.type not in ID_TYPES:
                continue
            kind = (
                "user" if spec.type == FieldType.USER else (spec.custom.linked_object if spec.custom else "")
            )
            for obj in objects:
                value = spec.value_of(obj)
                if isinstance(value, int):
                    wanted.setdefault(kind, set()).add(value)
        names: dict[tuple[str, int], str] = {}
        for kind, ids in wanted.items():
            if kind == "user":
                for person in User.objects.filter(pk__in=ids):
                    names[("user", person.pk)] = person.display_name or person.username
            elif kind in _OBJECTS and _OBJECTS[kind].names:
                target = _OBJECTS[kind]
                if user is not None and target.visible_ids is not None:
                    ids = target.visible_ids(user, ids)
                for pk, name in target.names(ids).items():
                    names[(kind, pk)] = name
        return names


# --------------------------------------------------------------------------- value cleaning


def _encodable(text: str) -> bool:
    """False for text with lone surrogates (no database stores them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _number(spec: FieldSpec, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str | decimal.Decimal):
        raise ValidationError(_("Enter a number."))
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
        try:
            number = decimal.Decimal(text)
        except decimal.InvalidOperation:
            raise ValidationError(_("Enter a number.")) from None
    else:
        number = decimal.Decimal(str(value))
    if number.is_finite() and number != number.to_integral_value():
        # A fraction is stored as a JSON float: check the float that will be stored, so that a stored
        # value always passes again (999999999999999.999 would round up to 1e15).
        number = decimal.Decimal(repr(float(number)))
    if not number.is_finite() or abs(number) >= MAX_NUMBER:
        raise ValidationError(_("Enter a number."))
    if spec.type == FieldType.MONEY and number != number.quantize(decimal.Decimal("0.01")):
        raise ValidationError(_("Money has at most two decimal places."))
    definition = spec.custom
    if definition is not None:
        if definition.min_value is not None and number < definition.min_value:
            raise ValidationError(_("Must be at least %(min)s.") % {"min": _plain(definition.min_value)})
        if definition.max_value is not None and number > definition.max_value:
            raise ValidationError(_("Must be at most %(max)s.") % {"max": _plain(definition.max_value)})
    return int(number) if number == number.to_integral_value() else float(number)


def _plain(number: decimal.Decimal | int | float) -> str:
    # A definition not saved yet holds the cleaned int/float, a saved one a Decimal.
    return format(decimal.Decimal(str(number)).normalize(), "f")


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValidationError(_("Enter a date such as 2026-03-01."))
    text = value.strip().translate(_FULLWIDTH_DIGITS)
    match = _DATE_RE.fullmatch(text)
    if not match and len(text) == 8 and text.isdecimal():
        match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    if not match:
        raise ValidationError(_("Enter a date such as 2026-03-01."))
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        raise ValidationError(_("Enter a date such as 2026-03-01.")) from None


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip().translate(_FULLWIDTH_DIGITS)
        match = _DATETIME_RE.fullmatch(text)
        if not match:
            raise ValidationError(_("Enter a date and time such as 2026-03-01 14:30."))
        y, mo, d, h, mi, s, zone = match.groups()
        try:
            moment = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
        except ValueError:
            raise ValidationError(_("Enter a date and time such as 2026-03-01 14:30.")) from None
        if zone:
            try:
                offset = dt.UTC if zone == "Z" else _offset(zone)
            except ValueError:  # an offset of a day or more
                raise ValidationError(_("Enter a date and time such as 2026-03-01 14:30.")) from None
            moment = moment.replace(tzinfo=offset)
    else:
        raise ValidationError(_("Enter a date and time such as 2026-03-01 14:30."))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # year 1 or 9999 moved across midnight by the time zone
        raise ValidationError(_("Enter a date and time such as 2026-03-01 14:30.")) from None


def _offset(zone: str) -> dt.timezone:
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９：－", "0123456789:-")


def _select_key(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError(_("Choose one of the listed values."))
    text = str(value).strip()
    keys = {key for key, _zh, _en in spec.choices}
    if text in keys:
        return text
    folded = text.casefold()
    for key, zh, en in spec.choices:
        if folded in (zh.casefold(), (en or "").casefold()):
            return key
    raise ValidationError(
        _("%(value)s is not one of the choices: %(choices)s.")
        % {"value": text[:50], "choices": "、".join(_localized(zh, en) for _k, zh, en in spec.choices[:20])}
    )


def _user_id(value: Any, actor) -> int:
    users = User.objects.filter(is_active=True)
    user = None
    if isinstance(value, int) and not isinstance(value, bool):
        user = users.filter(pk=value).first() if 0 < value < 2**63 else None
    elif isinstance(value, str):
        text = value.strip()
        if text.isdecimal() and len(text) < 19:
            user = users.filter(pk=int(text)).first()
        if user is None:
            found = list(users.filter(Q(username__iexact=text) | Q(display_name=text))[:2])
            user = found[0] if len(found) == 1 else None
    if user is None:
        raise ValidationError(_("No active user matches this value."))
    return user.pk


def _linked_id(spec: FieldSpec, value: Any, actor) -> int:
    target = _OBJECTS.get(spec.custom.linked_object) if spec.custom else None
    pk = None
    if isinstance(value, int) and not isinstance(value, bool):
        pk = value
    elif isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) < 19:
        pk = int(value.strip())
    if pk is None or target is None or not 0 < pk < 2**63:
        raise ValidationError(_("Enter the id of an existing record."))
    if target.visible_ids is not None and actor is not None:
        found = target.visible_ids(actor, [pk])
    else:
        found = set(target.model.objects.filter(pk=pk).values_list("pk", flat=True))
    if pk not in found:
        raise ValidationError(_("Enter the id of an existing record."))
    return pk


def clean_value(spec: FieldSpec, value: Any, *, actor=None) -> Any:
    """One custom value, typed (API) or text (page, import) -> stored form; None when empty."""
    if _empty(value):
        return None
    for item in value if isinstance(value, list | tuple) else [value]:
        # No database stores NUL or lone surrogates, and such text is never a valid value of any type.
        if isinstance(item, str) and ("\x00" in item or not _encodable(item)):
            raise ValidationError(_("Enter text."))
    kind = spec.type
    definition = spec.custom
    if kind in TEXT_TYPES:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError(_("Enter text."))
        text = str(value).strip()
        if kind == FieldType.PHONE:
            try:
                return normalize.normalize_phone(text)
            except normalize.NormalizationError as exc:
                raise ValidationError(str(exc)) from None
        if kind == FieldType.EMAIL:
            try:
                return normalize.normalize_email(text)
            except normalize.NormalizationError as exc:
                raise ValidationError(str(exc)) from None
        if kind == FieldType.URL:
            try:
                URLValidator(schemes=["http", "https"])(text)
            except ValidationError:
                raise ValidationError(_("Enter a web address starting with http:// or https://.")) from None
        limit = (
            definition.max_length if definition and definition.max_length else None
        ) or DEFAULT_TEXT_LENGTH.get(kind, 200)
        if len(text) > limit:
            raise ValidationError(
                _("At most %(limit)s characters (this has %(length)s).")
                % {"limit": limit, "length": len(text)}
            )
        if "\x00" in text or not _encodable(text):
            raise ValidationError(_("Enter text."))
        if definition is not None and definition.regex and not re.fullmatch(definition.regex, text):
            raise ValidationError(
                _("Does not match the required format: %(pattern)s") % {"pattern": definition.regex}
            )
        return text
    if kind in NUMERIC_TYPES:
        return _number(spec, value)
    if kind == FieldType.DATE:
        return _date(value).isoformat()
    if kind == FieldType.DATETIME:
        return _datetime(value).isoformat()
    if kind == FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | str) and str(value).strip().casefold() in TRUE_WORDS:
            return True
        if isinstance(value, int | str) and str(value).strip().casefold() in FALSE_WORDS:
            return False
        raise ValidationError(_("Enter yes or no."))
    if kind == FieldType.SINGLE_SELECT:
        return _select_key(spec, value)
    if kind == FieldType.MULTI_SELECT:
        items = MULTI_SEPARATORS.split(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValidationError(_("Choose one or more of the listed values."))
        keys = {_select_key(spec, item) for item in items if not _empty(item)}
        return sorted(keys) or None
    if kind == FieldType.USER:
        return _user_id(value, actor)
    if kind == FieldType.LINKED_RECORD:
        return _linked_id(spec, value, actor)
    raise ValidationError(_("Unsupported field type."))


def clean_filter_value(spec: FieldSpec, op: str, value: Any) -> Any:
    if op in NO_VALUE_OPS:
        return None
    for item in value if isinstance(value, list | tuple) else [value]:
        if isinstance(item, str) and ("\x00" in item or not _encodable(item)):
            raise ValidationError(_("Enter text."))
    if op in DAY_COUNT_OPS:
        try:
            days = int(str(value).strip())
        except (TypeError, ValueError):
            raise ValidationError(_("Enter a whole number of days.")) from None
        if not 0 <= days <= 36500:
            raise ValidationError(_("Enter a whole number of days."))
        return days
    if op == Op.IN:
        items = MULTI_SEPARATORS.split(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not items:
            raise ValidationError(_("Choose at least one value."))
        return [clean_filter_value(spec, Op.EQ, item) for item in items if not _empty(item)]
    if op in (Op.CONTAINS, Op.STARTS):
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(_("Enter text."))
        return value.strip()[:200]
    if _empty(value):
        raise ValidationError(_("Enter a value."))
    if spec.type in DATE_TYPES:
        if spec.type == FieldType.DATETIME and not (isinstance(value, str) and len(value.strip()) <= 11):
            moment = _datetime(value)
        else:
            moment = _date(value)
        if not 2 <= moment.year <= 9998:  # a day's range around it must stay representable
            raise ValidationError(_("A date is out of range."))
        return moment
    if spec.is_custom:
        if spec.type == FieldType.MULTI_SELECT:
            return _select_key(spec, value)
        if spec.type in ID_TYPES:
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
                return value
            if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) < 19:
                return int(value.strip())
            raise ValidationError(_("Enter an id."))
        stored = clean_value(spec, value)
        return stored
    if spec.choices:
        return _select_key(spec, value)
    if spec.type in NUMERIC_TYPES:
        return _number(spec, value)
    if spec.type == FieldType.BOOLEAN:
        return clean_value(spec, value)
    if spec.type in ID_TYPES:
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
            return value
        if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) < 19:
            return int(value.strip())
        raise ValidationError(_("Enter an id."))
    return str(value).strip()[:200]


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
        stored_as_text = spec.type in TEXT_TYPES or (spec.choices and not path.endswith("_id"))
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


def field_choices_for_filters(registry: Registry) -> list[dict]:
    """What a filter builder needs: every filterable field with its type, ops and choices."""
    return [
        {
            "ref": spec.ref,
            "label": spec.label,
            "type": spec.type,
            "ops": [(op, str(Op(op).label)) for op in spec.ops],
            "choices": [(key, _localized(zh, en)) for key, zh, en in spec.choices],
        }
        for spec in registry.fields()
        if spec.filterable
    ]
