"""Rule conditions: the field registry's condition language, with groups, related fields and changes.

A condition document is a group: `{"all": [...]}` or `{"any": [...]}` whose items are conditions
`{"field": ref, "op": op, "value": v}` (exactly what saved views and the list API take) or groups,
nested at most two levels deep. Update triggers may also test changes:
`{"field": "tier", "op": "changed"}` and `{"field": "tier", "op": "changed_to", "from": "B", "to": "A"}`
(either side optional).

One evaluator, two ways of running it:
- `as_q(group)` gives the SQL (a Django Q on the object's queryset, after `catalogue.annotate`):
  the relative-time sweeps and the preview count with it;
- `matches(group, obj, changes)` evaluates the same condition in Python on one loaded record (the
  engine, for each domain event, without a query per rule). `tests/automation/test_conditions.py`
  checks that both agree on every operator of every field type.
Change operators only have a meaning for one event: in SQL they are true (a preview counts the
records that match the other conditions).
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.automation.fields import Catalogue
from guanxi.customization.models import FieldType
from guanxi.customization.registry import FieldSpec
from guanxi.customization.registry.cleaning import clean_filter_value
from guanxi.customization.registry.operators import DATE_TYPES, NUMERIC_TYPES, RELATIVE_OPS, Op
from guanxi.customization.registry.spec import _day_bounds

CHANGED = "changed"
CHANGED_TO = "changed_to"
CHANGE_OPS = (CHANGED, CHANGED_TO)
MAX_DEPTH = 2  # a group may hold groups, which hold only conditions


@dataclass
class Leaf:
    spec: FieldSpec
    op: str
    value: Any = None
    change_from: Any = None
    change_to: Any = None
    has_from: bool = False
    has_to: bool = False


@dataclass
class Group:
    mode: str = "all"  # "all" | "any"
    items: list[Leaf | Group] = field(default_factory=list)


# --------------------------------------------------------------------------- parsing


def parse(document: Any, catalogue: Catalogue, *, allow_changes: bool, user=None) -> Group:
    """Validate a condition document; raises ValidationError({"conditions": [messages]}), each
    message naming the condition ("Condition 2.1: ...")."""
    if document in (None, "", {}, []):
        return Group()
    if isinstance(document, list):  # a plain list of conditions is an "all" group
        document = {"all": document}
    errors: list[str] = []
    group = _parse_group(document, catalogue, allow_changes, user, "", 1, errors)
    if errors:
        raise ValidationError({"conditions": errors})
    return group


def _parse_group(doc, catalogue, allow_changes, user, label, depth, errors) -> Group:
    if not isinstance(doc, dict) or len(doc) != 1 or next(iter(doc)) not in ("all", "any"):
        errors.append(_("Condition %(n)s: a group must be {\"all\": [...]} or {\"any\": [...]}.")
                      % {"n": label or "1"})  # fmt: skip
        return Group()
    mode, items = next(iter(doc.items()))
    if not isinstance(items, list):
        errors.append(_("Condition %(n)s: a group holds a list of conditions.") % {"n": label or "1"})
        return Group()
    group = Group(mode)
    for n, item in enumerate(items, start=1):
        here = f"{label}.{n}" if label else str(n)
        if isinstance(item, dict) and len(item) == 1 and next(iter(item)) in ("all", "any"):
            if depth >= MAX_DEPTH:
                errors.append(
                    _("Condition %(n)s: groups may be nested two levels deep at most.") % {"n": here}
                )
                continue
            group.items.append(_parse_group(item, catalogue, allow_changes, user, here, depth + 1, errors))
            continue
        leaf = _parse_leaf(item, catalogue, allow_changes, user, here, errors)
        if leaf is not None:
            group.items.append(leaf)
    return group


def _parse_leaf(item, catalogue: Catalogue, allow_changes, user, label, errors) -> Leaf | None:
    if not isinstance(item, dict):
        errors.append(_("Condition %(n)s: must be an object with field, op and value.") % {"n": label})
        return None
    ref, op = str(item.get("field") or ""), str(item.get("op") or "eq")
    spec = catalogue.get(ref)
    if spec is None or not spec.filterable:
        errors.append(_("Condition %(n)s: unknown field %(field)s.") % {"n": label, "field": ref[:60]})
        return None
    if op in CHANGE_OPS:
        if not allow_changes:
            errors.append(
                _('Condition %(n)s: "changed" can only be tested by a rule triggered by an update.')
                % {"n": label}
            )
            return None
        leaf = Leaf(spec, op)
        if op == CHANGED_TO:
            for side in ("from", "to"):
                if side in item and item[side] not in (None, ""):
                    try:
                        value = clean_filter_value(spec, Op.EQ, item[side])
                    except ValidationError as exc:
                        errors.append(
                            _("Condition %(n)s: %(error)s") % {"n": label, "error": " ".join(exc.messages)}
                        )
                        return None
                    setattr(leaf, f"change_{side}", value)
                    setattr(leaf, f"has_{side}", True)
        return leaf
    if op not in spec.ops:
        errors.append(
            _("Condition %(n)s: %(field)s cannot be filtered with %(op)s.")
            % {"n": label, "field": spec.label, "op": op[:30]}
        )
        return None
    if op not in (Op.EMPTY, Op.NOT_EMPTY) and not spec.may_query(user):
        errors.append(
            _("Condition %(n)s: %(field)s is masked for you, so you may only filter on whether it is empty.")
            % {"n": label, "field": spec.label}
        )
        return None
    try:
        value = clean_filter_value(spec, op, item.get("value"))
    except ValidationError as exc:
        errors.append(_("Condition %(n)s: %(error)s") % {"n": label, "error": " ".join(exc.messages)})
        return None
    return Leaf(spec, op, value)


def refs(group: Group) -> list[str]:
    """Every field the group reads (the catalogue loads the related rows and computed values)."""
    result: list[str] = []
    for item in group.items:
        result += refs(item) if isinstance(item, Group) else [item.spec.ref]
    return result


# --------------------------------------------------------------------------- SQL


def as_q(group: Group, catalogue: Catalogue) -> Q:
    """The group as a Q on `catalogue.queryset()` (annotated with the computed fields it reads)."""
    parts = []
    for item in group.items:
        if isinstance(item, Group):
            parts.append(as_q(item, catalogue))
        elif item.op in CHANGE_OPS:
            continue  # only meaningful for one event
        else:
            parts.append(catalogue.leaf_q(item.spec, item.op, item.value))
    if not parts:
        return Q()
    q = parts[0]
    for part in parts[1:]:
        q = (q & part) if group.mode == "all" else (q | part)
    return q


# --------------------------------------------------------------------------- Python


def matches(group: Group, obj: Any, catalogue: Catalogue, *, changes: dict[str, tuple] | None = None) -> bool:
    """The group on one record loaded by `catalogue.load` (`changes`: ref -> (before, after) of an
    update event)."""
    if not group.items:
        return True
    results = (
        matches(item, obj, catalogue, changes=changes)
        if isinstance(item, Group)
        else _leaf(item, obj, catalogue, changes)
        for item in group.items
    )
    return all(results) if group.mode == "all" else any(results)


def seen(group: Group, obj: Any, catalogue: Catalogue) -> dict[str, Any]:
    """The values the conditions looked at (for the run log), as JSON-ready display text."""
    result = {}
    for ref in dict.fromkeys(refs(group)):
        spec = catalogue.get(ref)
        if spec is not None:
            result[ref] = spec.present(catalogue.value(spec, obj), user=None, obj=obj)
    return result


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _leaf(leaf: Leaf, obj: Any, catalogue: Catalogue, changes: dict[str, tuple] | None) -> bool:
    spec, op, wanted = leaf.spec, leaf.op, leaf.value
    if op in CHANGE_OPS:
        if not changes or spec.ref not in changes:
            return False
        before, after = changes[spec.ref]
        if op == CHANGED:
            return True
        return (not leaf.has_from or _same(spec, before, leaf.change_from)) and (
            not leaf.has_to or _same(spec, after, leaf.change_to)
        )
    value = catalogue.value(spec, obj)
    if op == Op.EMPTY:
        return _empty(value)
    if op == Op.NOT_EMPTY:
        return not _empty(value)
    if spec.multi_valued or spec.type == FieldType.MULTI_SELECT:
        items = value if isinstance(value, list) else ([] if _empty(value) else [value])
        if op == Op.HAS:
            return wanted in items
        if op == Op.IN:
            return any(w in items for w in wanted)
    if spec.type in DATE_TYPES:
        return _date_leaf(spec, op, wanted, value)
    if op == Op.EQ:
        return _same(spec, value, wanted)
    if op == Op.NE:
        return not _same(spec, value, wanted)
    if op == Op.IN:
        return any(_same(spec, value, w) for w in wanted)
    if op in (Op.CONTAINS, Op.STARTS):
        if not isinstance(value, str):
            return False
        text, part = value.casefold(), str(wanted).casefold()
        return part in text if op == Op.CONTAINS else text.startswith(part)
    number = _number(value)
    target = _number(wanted)
    if number is None or target is None:
        return False
    return {
        Op.GT: number > target,
        Op.GTE: number >= target,
        Op.LT: number < target,
        Op.LTE: number <= target,
    }[op]


def _number(value: Any) -> decimal.Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | decimal.Decimal):
        return decimal.Decimal(str(value))
    return None


def _same(spec: FieldSpec, value: Any, wanted: Any) -> bool:
    if value is None or wanted is None:
        return value is None and wanted is None
    if spec.type in NUMERIC_TYPES:
        a, b = _number(value), _number(wanted)
        return a is not None and a == b
    if isinstance(value, bool) or isinstance(wanted, bool):
        return value is wanted or value == wanted
    if isinstance(value, int) or isinstance(wanted, int):
        return str(value) == str(wanted)
    return value == wanted


def _as_moment(spec: FieldSpec, value: Any) -> dt.datetime | dt.date | None:
    """A stored date/datetime (a column value, or ISO text in custom_fields) as a Python value."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = (
                dt.datetime.fromisoformat(value)
                if spec.type == FieldType.DATETIME
                else dt.date.fromisoformat(value[:10])
            )
        except ValueError:
            return None
    if spec.type == FieldType.DATE and isinstance(value, dt.datetime):
        return value.date()
    if spec.type == FieldType.DATETIME and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return timezone.make_aware(dt.datetime.combine(value, dt.time.min))
    return value


def _date_leaf(spec: FieldSpec, op: str, wanted: Any, value: Any) -> bool:
    moment = _as_moment(spec, value)
    if moment is None:
        return False
    if op in RELATIVE_OPS:
        start, end = _day_bounds(op, wanted)
    elif isinstance(wanted, dt.datetime):
        start, end = (wanted, wanted + dt.timedelta(seconds=1)) if op == Op.EQ else (wanted, wanted)
    else:
        start = timezone.make_aware(dt.datetime.combine(wanted, dt.time.min))
        end = start + dt.timedelta(days=1)

    def bound(point: dt.datetime | None):
        if point is None:
            return None
        return point.date() if spec.type == FieldType.DATE else point

    lo, hi = bound(start), bound(end)
    if op == Op.BEFORE:
        return moment < lo
    if op == Op.AFTER:
        return moment >= hi
    return (lo is None or moment >= lo) and (hi is None or moment < hi)
