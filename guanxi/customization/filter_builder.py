"""The filter builder: rows of field / operator / value that become conditions in the registry's
condition language. One partial (`customization/_filter_row.html`) and these helpers serve every
page that builds conditions: the customer list and saved views, and automation rules.

`source` is anything with `get(ref)` and `fields()` returning `FieldSpec`s: a `Registry`, or
automation's `Catalogue` (the registry plus related and computed fields). A row may belong to a
group (`f_group`, automation's AND/OR groups); the customer list uses none.
"""

from __future__ import annotations

from django.shortcuts import render
from django.utils.translation import gettext as _

from guanxi.core.models import User
from guanxi.customization.models import FieldType
from guanxi.customization.registry import (
    DATE_TYPES,
    DAY_COUNT_OPS,
    NO_VALUE_OPS,
    NUMERIC_TYPES,
    Op,
    _localized,
    field_choices_for_filters,
)

MAX_ROWS = 20
PARAMS = ("f_field", "f_op", "f_value", "f_group")


def row(spec, op: str, value: str, *, group: str | None = None) -> dict:
    """One row: the field, its operators and the widget its value needs."""
    if spec is None:
        return {"ref": "", "op": "", "value": "", "ops": [], "widget": "text", "choices": [], "group": group}
    ops = [(o, str(Op(o).label)) for o in spec.ops]
    if op not in spec.ops:
        op = spec.ops[0]
    choices = [(key, _localized(zh, en)) for key, zh, en in spec.choices]
    widget = "text"
    if op in NO_VALUE_OPS:
        widget = "none"
    elif op in DAY_COUNT_OPS:
        widget = "number"
    elif op == Op.IN:
        widget = "text"
    elif spec.type == FieldType.BOOLEAN:
        widget, choices = "select", [("true", _("Yes")), ("false", _("No"))]
    elif spec.type == FieldType.USER:
        widget = "select"
        choices = [
            (str(u.pk), str(u)) for u in User.objects.filter(is_active=True).order_by("username")[:500]
        ]
    elif choices and spec.type in (FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT):
        widget = "select"
    elif spec.type in DATE_TYPES:
        widget = "date"
    elif spec.type in NUMERIC_TYPES:
        widget = "number"
    return {"ref": spec.ref, "op": op, "value": value, "ops": ops, "widget": widget, "choices": choices,
            "group": group}  # fmt: skip


def row_for(source, condition: dict, *, group: str | None = None) -> dict:
    """The row showing a condition as typed (an unknown field shows an empty row)."""
    value = condition.get("value", "")
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    spec = source.get(str(condition.get("field") or ""))
    return row(spec, str(condition.get("op") or "eq"), "" if value is None else str(value), group=group)


def conditions_from_params(params) -> list[tuple[str, dict]]:
    """The rows posted or in the query string (parallel `f_field`, `f_op`, `f_value` and, when
    grouped, `f_group` lists) as (group, condition); rows without a field are dropped."""
    fields, ops, values, groups = (params.getlist(n) for n in PARAMS)
    result = []
    for n, ref in enumerate(fields[:MAX_ROWS]):
        ref = (ref or "").strip()[:80]
        if not ref:
            continue
        condition = {"field": ref, "op": (ops[n] if n < len(ops) else "eq")[:30] or "eq"}
        value = values[n] if n < len(values) else ""
        if value != "":
            condition["value"] = value[:500]
        result.append(((groups[n] if n < len(groups) else "")[:20], condition))
    return result


def row_response(request, source, *, row_url: str):
    """The endpoint htmx calls for a new row, or when a row's field or operator changes."""
    group = request.GET.get("f_group")
    current = row(source.get(request.GET.get("f_field", "")), request.GET.get("f_op", ""), "", group=group)
    return render(request, "customization/_filter_row.html",
                  {"row": current, "filter_fields": field_choices_for_filters(source), "row_url": row_url})  # fmt: skip
