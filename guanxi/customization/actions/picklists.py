"""Actions on picklists: the administrator-edited choices of select fields and built-in columns."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction
from guanxi.core.permissions import Perm
from guanxi.customization import registry as customfields
from guanxi.customization.actions.common import clean_options, clean_text
from guanxi.customization.models import CustomField, FieldType, Picklist, PicklistValue


@transaction.atomic
def save_picklist(data: dict, *, actor, picklist_id: int | None = None) -> Picklist:
    """Create or update a picklist and its values (labels, order, colour, active). Values in use are never dropped."""
    require(actor, Perm.SETTINGS_MANAGE)
    errors: dict[str, list[str]] = {}
    picklist = (
        Picklist.objects.select_for_update().filter(pk=picklist_id).first() if picklist_id else Picklist()
    )
    if picklist is None:
        raise NotFound(picklist_id)
    before = _picklist_snapshot(picklist) if picklist.pk else None
    if not picklist.pk:
        key = str(data.get("key") or "").strip()
        if not re.fullmatch(r"[a-z0-9][a-z0-9-_]{0,49}", key):
            errors.setdefault("key", []).append(_("Use 1-50 lowercase letters, digits and dashes."))
        elif Picklist.objects.filter(key=key).exists():
            errors.setdefault("key", []).append(_("A picklist with this key exists."))
        picklist.key = key
    if "label_zh" in data or not picklist.pk:
        picklist.label_zh = clean_text(data, "label_zh", 100, errors, required=True)
    if "label_en" in data:
        picklist.label_en = clean_text(data, "label_en", 100, errors)
    values = data.get("values")
    specs = clean_options(values, errors) if values is not None else None
    colors = _option_colors(values, errors)
    if errors:
        raise ValidationError(errors)
    picklist.save()
    if specs is not None:
        current = {v.key: v for v in picklist.values.all()}
        for position, (key, zh, en) in enumerate(specs):
            value = current.get(key) or PicklistValue(picklist=picklist, key=key)
            value.label_zh, value.label_en, value.position = zh, en, position
            value.color = colors.get(key, value.color)
            if value.merged_into_id is None:
                value.is_active = True
            value.save()
        dropped = [v for k, v in current.items() if k not in {s[0] for s in specs} and v.is_active]
        for value in dropped:
            uses = value_usage(value)
            if uses:
                raise ValidationError(
                    {
                        "values": [
                            _("%(value)s is used by %(count)s records: merge it into another value instead.")
                            % {"value": value.label_zh, "count": uses}
                        ]
                    }
                )
            value.is_active = False
            value.save(update_fields=["is_active"])
    after = _picklist_snapshot(picklist)
    if before != after:
        audit.record(
            AuditAction.UPDATE if before else AuditAction.CREATE,
            picklist,
            actor=actor,
            before=before,
            after=after,
        )
    return picklist


COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}|primary|secondary|success|danger|warning|info|dark")


def _option_colors(raw: Any, errors: dict) -> dict[str, str]:
    """Colours given with options as {key?, label_zh, color}: option key -> colour."""
    colors: dict[str, str] = {}
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not item.get("color"):
            continue
        key = str(item.get("key") or str(item.get("label_zh") or "").strip()).strip()
        color = str(item["color"]).strip()
        if not COLOR_RE.fullmatch(color):
            errors.setdefault("values", []).append(_("Choose a colour."))
        colors[key] = color
    return colors


def _picklist_snapshot(picklist: Picklist) -> dict:
    return {
        "key": picklist.key,
        "label_zh": picklist.label_zh,
        "label_en": picklist.label_en,
        "values": [
            f"{v.key}:{v.label_zh}:{v.label_en}:{v.color}:{int(v.is_active)}"
            for v in PicklistValue.objects.filter(picklist=picklist).order_by("position", "id")
        ]
        if picklist.pk
        else [],
    }


# Built-in columns that hold values of a picklist (e.g. follow-ups' type, deals' lost reason):
# picklist key -> [(model, field name)], registered by the owning app. Usage counts and merges
# cover them like custom select fields.
PICKLIST_COLUMNS: dict[str, list[tuple[type, str]]] = {}


def register_picklist_column(picklist_key: str, model: type, field: str) -> None:
    columns = PICKLIST_COLUMNS.setdefault(picklist_key, [])
    if (model, field) not in columns:
        columns.append((model, field))


def picklist_choices(picklist_key: str) -> list[tuple[str, str, str]]:
    """The active values of a picklist as (key, zh, en), in order."""
    return [
        (v.key, v.label_zh, v.label_en)
        for v in PicklistValue.objects.filter(
            picklist__key=picklist_key, is_active=True, merged_into__isnull=True
        ).order_by("position", "id")
    ]


def picklist_labels(picklist_key: str) -> dict[str, tuple[str, str]]:
    """Every value of a picklist (retired ones too) -> (zh, en): stored records keep their label."""
    return {v.key: (v.label_zh, v.label_en) for v in PicklistValue.objects.filter(picklist__key=picklist_key)}


def value_usage(value: PicklistValue) -> int:
    """How many records store this picklist value in any field that uses its picklist."""
    total = 0
    for definition in CustomField.objects.filter(
        picklist_id=value.picklist_id, status__in=customfields.LIVE_STATUSES
    ):
        spec = customfields.custom_spec(definition, [value])
        model = customfields.object_spec(definition.object_type).model
        op = customfields.Op.HAS if definition.type == FieldType.MULTI_SELECT else customfields.Op.EQ
        total += model.objects.filter(spec.filter_q(op, value.key)).count()
    for model, field in PICKLIST_COLUMNS.get(value.picklist.key, []):
        total += model.objects.filter(**{field: value.key}).count()
    return total


@transaction.atomic
def merge_picklist_value(value_id: int, into_id: int, *, actor) -> int:
    """Replace a value by another of the same picklist on every record, then retire it."""
    require(actor, Perm.SETTINGS_MANAGE)
    value = PicklistValue.objects.select_for_update().filter(pk=value_id).first()
    target = PicklistValue.objects.filter(pk=into_id).first()
    if value is None or target is None or value.picklist_id != target.picklist_id or value.pk == target.pk:
        raise ValidationError({"into": [_("Choose another value of the same picklist.")]})
    changed = 0
    for definition in CustomField.objects.filter(
        picklist_id=value.picklist_id, status__in=customfields.LIVE_STATUSES
    ):
        spec = customfields.custom_spec(definition, [value, target])
        model = customfields.object_spec(definition.object_type).model
        multi = definition.type == FieldType.MULTI_SELECT
        op = customfields.Op.HAS if multi else customfields.Op.EQ
        for obj in (
            model.objects.filter(spec.filter_q(op, value.key)).only("pk", "custom_fields").iterator(2000)
        ):
            data = dict(obj.custom_fields or {})
            for key in customfields._keys(spec):
                if key not in data:
                    continue
                if multi:
                    data[key] = sorted({target.key if v == value.key else v for v in data[key]})
                elif data[key] == value.key:
                    data[key] = target.key
            model.objects.filter(pk=obj.pk).update(custom_fields=data)
            changed += 1
    for model, field in PICKLIST_COLUMNS.get(value.picklist.key, []):
        changed += model.objects.filter(**{field: value.key}).update(**{field: target.key})
    value.is_active = False
    value.merged_into = target
    value.save(update_fields=["is_active", "merged_into"])
    audit.record(
        AuditAction.MERGE,
        value.picklist,
        actor=actor,
        before={"value": value.key},
        after={"merged_into": target.key, "records": changed},
    )
    return changed
