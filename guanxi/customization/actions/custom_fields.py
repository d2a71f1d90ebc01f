"""Actions of the customisation layer (零代码): custom fields, picklists, tags, form layouts, saved views.

Like every `actions` module, this is the only code that writes these rows; each function checks
permission (`settings.manage` for the company-wide definitions), runs in one transaction, writes an
audit entry and returns the row. Rename, delete and restore of a custom field only change the
definition here; the stored values are rewritten afterwards by `run_field_rewrite` in the worker, in
short batches by id range (each its own transaction, so no table lock and no long row locks), while
reads and writes look at both keys (`CustomField.previous_key`) until it finishes.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, settings_store
from guanxi.core.converters import as_id
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction
from guanxi.core.permissions import Perm
from guanxi.customization import registry as customfields
from guanxi.customization import tasks
from guanxi.customization.actions.common import clean_options, clean_text, definition_snapshot
from guanxi.customization.models import (
    CustomField,
    FieldStatus,
    FieldType,
    FormLayout,
    Picklist,
    PicklistValue,
    SavedView,
)

log = logging.getLogger(__name__)

RETENTION_SETTING = "customization.deleted_field_retention_days"
DEFAULT_RETENTION_DAYS = 30
EDITABLE_FIELDS = {
    "label_zh", "label_en", "type", "required", "unique", "default", "regex", "min_value", "max_value",
    "max_length", "help_zh", "help_en", "position", "picklist_id", "options",
}  # fmt: skip
# Retyping is allowed where every stored value stays valid without conversion.
# (Long text -> text could exceed text's 200 characters, number -> money could have more than two
# decimals, a long e-mail or URL could exceed text's limit: those would need checking every value.)
SAFE_RETYPES = {
    FieldType.TEXT: {FieldType.LONG_TEXT},
    FieldType.MONEY: {FieldType.NUMBER},
    FieldType.PHONE: {FieldType.TEXT, FieldType.LONG_TEXT},
    FieldType.EMAIL: {FieldType.LONG_TEXT},
    FieldType.URL: {FieldType.LONG_TEXT},
}
SELECT_TYPES = {FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT}


def _clean_definition(data: dict, *, existing: CustomField | None) -> tuple[dict, list, dict]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if existing is None:
        object_type = str(data.get("object_type") or "")
        if object_type not in customfields.registered_objects():
            errors.setdefault("object_type", []).append(_("Choose an object that has custom fields."))
        cleaned["object_type"] = object_type
        key = str(data.get("key") or "").strip()
        if not customfields.KEY_RE.match(key):
            errors.setdefault("key", []).append(
                _("Use 1-40 lowercase letters, digits and underscores, starting with a letter.")
            )
        elif (
            CustomField.objects.filter(object_type=object_type, key=key)
            .exclude(status=FieldStatus.DELETED)
            .exists()
        ):
            errors.setdefault("key", []).append(_("This object already has a field with this key."))
        cleaned["key"] = key
    if existing is None or "label_zh" in data:
        cleaned["label_zh"] = clean_text(data, "label_zh", 100, errors, required=True)
    for name, limit in (("label_en", 100), ("help_zh", 300), ("help_en", 300), ("regex", 200)):
        if existing is None or name in data:
            cleaned[name] = clean_text(data, name, limit, errors)
    if cleaned.get("regex"):
        try:
            re.compile(cleaned["regex"])
        except re.error:
            errors.setdefault("regex", []).append(_("This is not a valid regular expression."))
    kind = str(data.get("type") or (existing.type if existing else ""))
    if kind not in FieldType.values:
        errors.setdefault("type", []).append(_("Choose a field type."))
    elif (
        existing is not None and kind != existing.type and kind not in SAFE_RETYPES.get(existing.type, set())
    ):
        errors.setdefault("type", []).append(
            _("A %(old)s field cannot be changed to %(new)s without losing values.")
            % {"old": FieldType(existing.type).label, "new": FieldType(kind).label}
        )
    cleaned["type"] = kind
    for name in ("required", "unique"):
        if existing is None or name in data:
            value = data.get(name, False)
            if isinstance(value, str):
                value = value.strip().lower() in customfields.TRUE_WORDS
            cleaned[name] = bool(value)
    for name in ("min_value", "max_value"):
        if existing is None or name in data:
            value = data.get(name)
            if value in (None, ""):
                cleaned[name] = None
            else:
                try:
                    cleaned[name] = customfields._number(
                        customfields.FieldSpec("", FieldType.NUMBER, ""), value
                    )
                except ValidationError as exc:
                    errors.setdefault(name, []).extend(exc.messages)
    if existing is None or "max_length" in data:
        value = data.get("max_length")
        if value in (None, ""):
            cleaned["max_length"] = None
        elif not str(value).strip().isdecimal() or not 1 <= int(str(value).strip()) <= 5000:
            errors.setdefault("max_length", []).append(_("Enter a length between 1 and 5000."))
        else:
            cleaned["max_length"] = int(str(value).strip())
    if existing is None or "position" in data:
        value = data.get("position") or 0
        text = str(value).strip()
        cleaned["position"] = int(text) if text.isdecimal() and len(text) < 10 else 0
    options: list = []
    if kind in SELECT_TYPES:
        picklist_id = data.get("picklist_id") or (existing.picklist_id if existing else None)
        options = clean_options(data.get("options"), errors)
        if picklist_id:
            if as_id(picklist_id) is None or not Picklist.objects.filter(pk=as_id(picklist_id)).exists():
                errors.setdefault("picklist_id", []).append(_("Choose an existing picklist."))
            else:
                cleaned["picklist_id"] = as_id(picklist_id)
        elif not options:
            errors.setdefault("options", []).append(_("A select field needs options or a picklist."))
    if kind == FieldType.LINKED_RECORD:
        target = str(data.get("linked_object") or (existing.linked_object if existing else ""))
        if target not in customfields.registered_objects():
            errors.setdefault("linked_object", []).append(_("Choose the object this field links to."))
        cleaned["linked_object"] = target
    if "default" in data or existing is None:
        cleaned["default"] = data.get("default") if data.get("default") not in ("", []) else None
    if cleaned.get("unique") and kind in (FieldType.BOOLEAN, FieldType.MULTI_SELECT, FieldType.LONG_TEXT):
        errors.setdefault("unique", []).append(_("This field type cannot be unique."))
    return cleaned, options, errors


def _check_default(definition: CustomField, errors: dict) -> None:
    if definition.default in (None, "", []):
        return
    spec = customfields.custom_spec(
        definition, list(PicklistValue.objects.filter(picklist_id=definition.picklist_id))
    )
    try:
        definition.default = customfields.clean_value(spec, definition.default)
    except ValidationError as exc:
        errors.setdefault("default", []).extend(exc.messages)


def _picklist_for_field(definition: CustomField, options: list[tuple[str, str, str]]) -> None:
    """Give a select field its own picklist from typed options (added to, never removed from)."""
    if definition.picklist_id is None:
        key = f"{definition.object_type}_{definition.key}"[:50].replace("_", "-")
        n = 1
        base = key
        while Picklist.objects.filter(key=key).exists():
            n += 1
            key = f"{base[:45]}-{n}"
        definition.picklist = Picklist.objects.create(
            key=key, label_zh=definition.label_zh, label_en=definition.label_en
        )
    existing = set(
        PicklistValue.objects.filter(picklist_id=definition.picklist_id).values_list("key", flat=True)
    )
    position = PicklistValue.objects.filter(picklist_id=definition.picklist_id).count()
    for key, zh, en in options:
        if key not in existing:
            PicklistValue.objects.create(
                picklist_id=definition.picklist_id, key=key, label_zh=zh, label_en=en, position=position
            )
            position += 1


@transaction.atomic
def create_custom_field(data: dict, *, actor) -> CustomField:
    require(actor, Perm.SETTINGS_MANAGE)
    cleaned, options, errors = _clean_definition(data, existing=None)
    if errors:
        raise ValidationError(errors)
    definition = CustomField(**cleaned)
    if definition.type in SELECT_TYPES and definition.picklist_id is None or definition.type in SELECT_TYPES:
        _picklist_for_field(definition, options)
    _check_default(definition, errors)
    if errors:
        raise ValidationError(errors)
    definition.save()
    audit.record(
        AuditAction.CREATE, definition, actor=actor, before=None, after=definition_snapshot(definition)
    )
    return definition


def _live(field_id: Any) -> CustomField:
    definition = (
        CustomField.objects.select_for_update().filter(pk=field_id).first()
        if as_id(field_id) is not None
        else None
    )
    if definition is None:
        raise NotFound(field_id)
    return definition


@transaction.atomic
def update_custom_field(field_id: int, data: dict, *, actor) -> CustomField:
    """Labels, help, rules, options, position and safe retypes. The key changes only by rename."""
    require(actor, Perm.SETTINGS_MANAGE)
    definition = _live(field_id)
    if definition.status not in customfields.LIVE_STATUSES:
        raise ValidationError({"status": [_("This field is deleted; restore it first.")]})
    unknown = sorted(set(data) - EDITABLE_FIELDS - {"key", "object_type"})
    if unknown:
        raise ValidationError({name: [_("This property cannot be changed here.")] for name in unknown})
    if "key" in data and data["key"] != definition.key:
        raise ValidationError({"key": [_("Rename the field to change its key.")]})
    before = definition_snapshot(definition)
    cleaned, options, errors = _clean_definition(data, existing=definition)
    if errors:
        raise ValidationError(errors)
    for name, value in cleaned.items():
        setattr(definition, name, value)
    if definition.type in SELECT_TYPES:
        _picklist_for_field(definition, options)
    _check_default(definition, errors)
    if errors:
        raise ValidationError(errors)
    after = definition_snapshot(definition)
    if after == before:
        return definition
    definition.save()
    changed_before, changed_after = audit.diff(before, after)
    audit.record(AuditAction.UPDATE, definition, actor=actor, before=changed_before, after=changed_after)
    return definition


def _schedule_rewrite(definition: CustomField) -> None:
    field_id = definition.pk
    transaction.on_commit(lambda: tasks.rewrite_custom_field(field_id))


@transaction.atomic
def rename_custom_field(field_id: int, new_key: str, *, actor) -> CustomField:
    """Give a field a new key. Stored values move to it in the worker; both keys work meanwhile."""
    require(actor, Perm.SETTINGS_MANAGE)
    definition = _live(field_id)
    new_key = (new_key or "").strip()
    if definition.status != FieldStatus.ACTIVE:
        raise ValidationError({"key": [_("Wait until the field's previous change has finished.")]})
    if not customfields.KEY_RE.match(new_key):
        raise ValidationError(
            {"key": [_("Use 1-40 lowercase letters, digits and underscores, starting with a letter.")]}
        )
    if new_key == definition.key:
        return definition
    taken = CustomField.objects.filter(object_type=definition.object_type).exclude(pk=definition.pk)
    if (
        taken.filter(key=new_key).exclude(status=FieldStatus.DELETED).exists()
        or taken.filter(previous_key=new_key).exists()
    ):
        raise ValidationError({"key": [_("This object already has a field with this key.")]})
    before = definition_snapshot(definition)
    definition.previous_key, definition.key = definition.key, new_key
    definition.status = FieldStatus.RENAMING
    definition.rewrite_cursor = 0
    definition.save()
    audit.record(
        AuditAction.UPDATE, definition, actor=actor, before={"key": before["key"]}, after={"key": new_key}
    )
    _rename_refs(definition.object_type, definition.previous_key, new_key)
    _schedule_rewrite(definition)
    return definition


# Other apps' rows that name fields by reference ("cf.<key>"), e.g. deal stages' required fields or
# saved import mappings: object type -> [rewrite(swap)], registered from the owning app's `ready()`
# so that this app imports none of them. `swap(ref)` returns the new reference for an old one.
FIELD_REFERENCE_HOLDERS: dict[str, list[Callable[[Callable[[Any], Any]], None]]] = {}


def register_field_references(object_type: str, rewrite: Callable[[Callable[[Any], Any]], None]) -> None:
    """Have `rewrite(swap)` called when a custom field of `object_type` is renamed."""
    holders = FIELD_REFERENCE_HOLDERS.setdefault(object_type, [])
    if rewrite not in holders:
        holders.append(rewrite)


def _rename_refs(object_type: str, old_key: str, new_key: str) -> None:
    """Point every stored reference to "cf.<old>" at "cf.<new>": form layouts, saved views and what
    other apps registered (deal stages' required fields, saved import mappings); definitions only,
    the values move in the worker."""
    old, new = customfields.PREFIX + old_key, customfields.PREFIX + new_key

    def swap(ref: Any) -> Any:
        return new if ref == old else ref

    for layout in FormLayout.objects.filter(object_type=object_type):
        sections = [{**s, "fields": [swap(f) for f in s.get("fields", [])]} for s in layout.sections]
        if sections != layout.sections:
            layout.sections = sections
            layout.save(update_fields=["sections", "updated_at"])
    for view in SavedView.objects.filter(object_type=object_type):
        columns = [swap(c) for c in view.columns]
        filters = [{**f, "field": swap(f.get("field"))} if isinstance(f, dict) else f for f in view.filters]
        sort = ("-" if view.sort.startswith("-") else "") + swap(view.sort.lstrip("-")) if view.sort else ""
        kanban = swap(view.kanban_field)
        if (columns, filters, sort, kanban) != (view.columns, view.filters, view.sort, view.kanban_field):
            view.columns, view.filters, view.sort, view.kanban_field = columns, filters, sort, kanban
            view.save(update_fields=["columns", "filters", "sort", "kanban_field", "updated_at"])
    for rewrite in FIELD_REFERENCE_HOLDERS.get(object_type, []):
        rewrite(swap)


def retention_days() -> int:
    value = settings_store.get(RETENTION_SETTING)
    return int(value) if isinstance(value, int) and value > 0 else DEFAULT_RETENTION_DAYS


@transaction.atomic
def delete_custom_field(field_id: int, *, actor) -> CustomField:
    """Hide a field at once; the worker moves its values to the archive (restorable until purge_after)."""
    require(actor, Perm.SETTINGS_MANAGE)
    definition = _live(field_id)
    if definition.status != FieldStatus.ACTIVE:
        raise ValidationError({"status": [_("Wait until the field's previous change has finished.")]})
    before = definition_snapshot(definition)
    definition.status = FieldStatus.DELETING
    definition.deleted_at = timezone.now()
    definition.purge_after = definition.deleted_at + dt.timedelta(days=retention_days())
    definition.rewrite_cursor = 0
    definition.save()
    audit.record(
        AuditAction.DELETE, definition, actor=actor, before=before, after={"status": definition.status}
    )
    _remove_from_layouts_and_views(definition)
    _schedule_rewrite(definition)
    return definition


@transaction.atomic
def restore_custom_field(field_id: int, *, actor) -> CustomField:
    require(actor, Perm.SETTINGS_MANAGE)
    definition = _live(field_id)
    if definition.status != FieldStatus.DELETED:
        raise ValidationError(
            {"status": [_("Only a deleted field whose values were archived can be restored.")]}
        )
    clash = (
        CustomField.objects.filter(object_type=definition.object_type, key=definition.key)
        .exclude(pk=definition.pk)
        .exclude(status=FieldStatus.DELETED)
    )
    if clash.exists():
        raise ValidationError({"key": [_("Another field now uses this key; rename that one first.")]})
    definition.status = FieldStatus.RESTORING
    definition.rewrite_cursor = 0
    definition.save()
    audit.record(
        AuditAction.RESTORE,
        definition,
        actor=actor,
        before={"status": "deleted"},
        after={"status": "restoring"},
    )
    _schedule_rewrite(definition)
    return definition


def _remove_from_layouts_and_views(definition: CustomField) -> None:
    ref = customfields.PREFIX + definition.key
    for layout in FormLayout.objects.filter(object_type=definition.object_type):
        sections = [{**s, "fields": [f for f in s.get("fields", []) if f != ref]} for s in layout.sections]
        if sections != layout.sections:
            layout.sections = sections
            layout.save(update_fields=["sections", "updated_at"])
    for view in SavedView.objects.filter(object_type=definition.object_type):
        columns = [c for c in view.columns if c != ref]
        filters = [f for f in view.filters if not (isinstance(f, dict) and f.get("field") == ref)]
        kanban = "" if view.kanban_field == ref else view.kanban_field
        sort = "" if view.sort.lstrip("-") == ref else view.sort
        if (columns, filters, kanban, sort) != (view.columns, view.filters, view.kanban_field, view.sort):
            view.columns, view.filters, view.kanban_field, view.sort = columns, filters, kanban, sort
            view.save(update_fields=["columns", "filters", "kanban_field", "sort", "updated_at"])
