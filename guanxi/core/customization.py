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
import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import audit, customfields, settings_store
from guanxi.core.converters import as_id
from guanxi.core.exceptions import require
from guanxi.core.models import (
    AuditAction,
    CustomField,
    CustomFieldArchive,
    CustomObject,
    FieldStatus,
    FieldType,
    FormLayout,
    Picklist,
    PicklistValue,
    Role,
    SavedView,
    Tag,
    ViewVisibility,
)
from guanxi.core.permissions import Perm

log = logging.getLogger(__name__)

REWRITE_BATCH = 5000  # rows per batch at most
# A batch slower than twice this (a loaded or bloated table) makes the next ones smaller, so that
# no transaction of the rewrite holds its row locks for long; they grow back when fast again.
REWRITE_TARGET_MS = 250
RETENTION_SETTING = "customization.deleted_field_retention_days"
DEFAULT_RETENTION_DAYS = 30
DEFINITION_FIELDS = [
    "key", "label_zh", "label_en", "type", "required", "unique", "default", "regex", "min_value",
    "max_value", "max_length", "help_zh", "help_en", "picklist", "linked_object", "position", "status",
]  # fmt: skip
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
VALUE_KEY_RE = re.compile(r"^[^,，、;；|\n\r\t]{1,50}$")


def _snapshot(definition: CustomField) -> dict:
    return {f: getattr(definition, f"{f}_id" if f == "picklist" else f) for f in DEFINITION_FIELDS}


def _text(data: dict, name: str, limit: int, errors: dict, *, required: bool = False) -> str:
    value = data.get(name)
    text = "" if value is None else str(value).strip()
    if normalize.has_control_chars(text):  # NUL, lone surrogates...: the shared text-cleaning rule
        errors.setdefault(name, []).append(_("Must not contain control characters."))
    elif required and not text:
        errors.setdefault(name, []).append(_("This field is required."))
    elif len(text) > limit:
        errors.setdefault(name, []).append(_("At most %(limit)s characters.") % {"limit": limit})
    return text


def _options(raw: Any, errors: dict) -> list[tuple[str, str, str]]:
    """Options typed by an admin: a list of {key?, label_zh, label_en?} or text, one per line."""
    if raw in (None, "", []):
        return []
    items: list[Any] = raw.splitlines() if isinstance(raw, str) else raw
    if not isinstance(items, list):
        errors.setdefault("options", []).append(_("Give the options as a list."))
        return []
    result: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for item in items:
        if isinstance(item, str):
            zh, _sep, en = item.partition("|")
            key, zh, en = zh.strip(), zh.strip(), en.strip()
        elif isinstance(item, dict):
            zh = str(item.get("label_zh") or "").strip()
            en = str(item.get("label_en") or "").strip()
            key = str(item.get("key") or zh).strip()
        else:
            errors.setdefault("options", []).append(_("Each option needs a label."))
            continue
        if not zh:
            continue
        if not VALUE_KEY_RE.match(key) or len(zh) > 100 or len(en) > 100:
            errors.setdefault("options", []).append(
                _("Option %(option)s: at most 50 characters, without commas or separators.")
                % {"option": key[:50]}
            )
            continue
        if key in seen:
            errors.setdefault("options", []).append(_("Option %(option)s is listed twice.") % {"option": key})
            continue
        seen.add(key)
        result.append((key, zh, en))
    return result


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
        cleaned["label_zh"] = _text(data, "label_zh", 100, errors, required=True)
    for name, limit in (("label_en", 100), ("help_zh", 300), ("help_en", 300), ("regex", 200)):
        if existing is None or name in data:
            cleaned[name] = _text(data, name, limit, errors)
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
        options = _options(data.get("options"), errors)
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
    audit.record(AuditAction.CREATE, definition, actor=actor, before=None, after=_snapshot(definition))
    return definition


def _live(field_id: Any) -> CustomField:
    definition = (
        CustomField.objects.select_for_update().filter(pk=field_id).first()
        if as_id(field_id) is not None
        else None
    )
    if definition is None:
        from guanxi.core.exceptions import NotFound

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
    before = _snapshot(definition)
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
    after = _snapshot(definition)
    if after == before:
        return definition
    definition.save()
    changed_before, changed_after = audit.diff(before, after)
    audit.record(AuditAction.UPDATE, definition, actor=actor, before=changed_before, after=changed_after)
    return definition


def _schedule_rewrite(definition: CustomField) -> None:
    from guanxi.core.tasks import rewrite_custom_field

    field_id = definition.pk
    transaction.on_commit(lambda: rewrite_custom_field(field_id))


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
    before = _snapshot(definition)
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


def _rename_refs(object_type: str, old_key: str, new_key: str) -> None:
    """Point every stored reference to "cf.<old>" at "cf.<new>": form layouts, saved views, deal
    stages' required fields and saved import mappings (definitions only; values move in the worker)."""
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
    if object_type == CustomObject.DEAL:
        from guanxi.sales.models import Stage

        for stage in Stage.objects.filter(pipeline__object_type="deal"):
            required = [swap(r) for r in stage.required_fields or []]
            if required != (stage.required_fields or []):
                stage.required_fields = required
                stage.save(update_fields=["required_fields"])
    if object_type == CustomObject.CUSTOMER:
        from guanxi.customers.models import ImportMapping

        for saved in ImportMapping.objects.all():
            mapping = {header: swap(target) for header, target in (saved.mapping or {}).items()}
            if mapping != saved.mapping:
                saved.mapping = mapping
                saved.save(update_fields=["mapping"])


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
    before = _snapshot(definition)
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


# --------------------------------------------------------------------------- background rewrite


def _table(definition: CustomField) -> str:
    return customfields.object_spec(definition.object_type).model._meta.db_table


def _batch_bounds(table: str, after: int, size: int) -> int | None:
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT id FROM {connection.ops.quote_name(table)} WHERE id > %s ORDER BY id LIMIT 1 OFFSET %s",  # noqa: S608
            [after, size - 1],
        )
        row = cur.fetchone()
        if row:
            return row[0]
        cur.execute(f"SELECT max(id) FROM {connection.ops.quote_name(table)} WHERE id > %s", [after])  # noqa: S608
        row = cur.fetchone()
        return row[0] if row and row[0] is not None else None


def _rewrite_sql(definition: CustomField, table: str, low: int, high: int) -> None:
    quoted = connection.ops.quote_name(table)
    pg = connection.vendor == "postgresql"
    key, old = definition.key, definition.previous_key
    with connection.cursor() as cur:
        if definition.status == FieldStatus.RENAMING:
            if pg:
                cur.execute(
                    f"UPDATE {quoted} SET custom_fields = (custom_fields - %s) || jsonb_build_object(%s::text, custom_fields -> %s) "  # noqa: S608
                    "WHERE id > %s AND id <= %s AND jsonb_exists(custom_fields, %s)",
                    [old, key, old, low, high, old],
                )
            else:
                cur.execute(
                    f"UPDATE {quoted} SET custom_fields = json_set(json_remove(custom_fields, %s), %s, json(custom_fields -> %s)) "  # noqa: S608
                    "WHERE id > %s AND id <= %s AND json_type(custom_fields, %s) IS NOT NULL",
                    [_path(old), _path(key), _path(old), low, high, _path(old)],
                )
        elif definition.status == FieldStatus.DELETING:
            archive = connection.ops.quote_name(CustomFieldArchive._meta.db_table)
            if pg:
                cur.execute(
                    f"INSERT INTO {archive} (field_id, object_id, value) SELECT %s, id, custom_fields -> %s FROM {quoted} "  # noqa: S608
                    "WHERE id > %s AND id <= %s AND jsonb_exists(custom_fields, %s)",
                    [definition.pk, key, low, high, key],
                )
                cur.execute(
                    f"UPDATE {quoted} SET custom_fields = custom_fields - %s "  # noqa: S608
                    "WHERE id > %s AND id <= %s AND jsonb_exists(custom_fields, %s)",
                    [key, low, high, key],
                )
            else:
                cur.execute(
                    f"INSERT INTO {archive} (field_id, object_id, value) SELECT %s, id, json(custom_fields -> %s) FROM {quoted} "  # noqa: S608
                    "WHERE id > %s AND id <= %s AND json_type(custom_fields, %s) IS NOT NULL",
                    [definition.pk, _path(key), low, high, _path(key)],
                )
                cur.execute(
                    f"UPDATE {quoted} SET custom_fields = json_remove(custom_fields, %s) "  # noqa: S608
                    "WHERE id > %s AND id <= %s AND json_type(custom_fields, %s) IS NOT NULL",
                    [_path(key), low, high, _path(key)],
                )
        elif definition.status == FieldStatus.RESTORING:
            archive = connection.ops.quote_name(CustomFieldArchive._meta.db_table)
            if pg:
                cur.execute(
                    f"UPDATE {quoted} t SET custom_fields = t.custom_fields || jsonb_build_object(%s::text, a.value) "  # noqa: S608
                    f"FROM {archive} a WHERE a.field_id = %s AND a.object_id = t.id AND t.id > %s AND t.id <= %s",
                    [key, definition.pk, low, high],
                )
            else:
                cur.execute(
                    f"UPDATE {quoted} SET custom_fields = json_set(custom_fields, %s, "  # noqa: S608
                    f"(SELECT json(a.value) FROM {archive} a WHERE a.field_id = %s AND a.object_id = {quoted}.id)) "
                    f"WHERE id > %s AND id <= %s AND id IN (SELECT object_id FROM {archive} WHERE field_id = %s)",
                    [_path(key), definition.pk, low, high, definition.pk],
                )
            cur.execute(
                f"DELETE FROM {archive} WHERE field_id = %s AND object_id > %s AND object_id <= %s",  # noqa: S608
                [definition.pk, low, high],
            )


def _path(key: str) -> str:
    return f'$."{key}"'


FINAL_STATUS = {
    FieldStatus.RENAMING: FieldStatus.ACTIVE,
    FieldStatus.DELETING: FieldStatus.DELETED,
    FieldStatus.RESTORING: FieldStatus.ACTIVE,
}


def run_field_rewrite(
    field_id: int, *, batch_size: int = REWRITE_BATCH, on_batch: Callable[[int, float], None] | None = None
) -> dict:
    """Rewrite stored values after a rename/delete/restore, one short transaction per batch.

    Resumable: the cursor (last id done) is saved with each batch, so a killed worker continues
    where it stopped. Returns {"batches", "rows_scanned_to", "longest_batch_ms", "seconds"}.
    """
    started = time.perf_counter()
    longest = 0.0
    batches = 0
    size = batch_size
    finished: tuple[str, str] | None = None
    while True:
        batch_started = time.perf_counter()
        with transaction.atomic():
            definition = CustomField.objects.select_for_update().filter(pk=field_id).first()
            if definition is None or definition.status not in FINAL_STATUS:
                break
            table = _table(definition)
            high = _batch_bounds(table, definition.rewrite_cursor, size)
            if high is None:
                finished = (table, definition.status)
                definition.status = FINAL_STATUS[FieldStatus(definition.status)]
                definition.previous_key = ""
                definition.rewrite_cursor = 0
                if definition.status == FieldStatus.ACTIVE:
                    definition.deleted_at = definition.purge_after = None
                definition.save()
                break
            _rewrite_sql(definition, table, definition.rewrite_cursor, high)
            definition.rewrite_cursor = high
            definition.save(update_fields=["rewrite_cursor", "updated_at"])
        elapsed = (time.perf_counter() - batch_started) * 1000
        longest = max(longest, elapsed)
        batches += 1
        if elapsed > 2 * REWRITE_TARGET_MS:
            size = max(min(batch_size, 100), int(size * REWRITE_TARGET_MS / elapsed))
        elif elapsed < REWRITE_TARGET_MS / 2 and size < batch_size:
            size = min(batch_size, size * 2)
        if on_batch is not None:
            on_batch(high, elapsed)
    if finished is not None:
        _analyze(*finished)
    return {
        "batches": batches,
        "longest_batch_ms": round(longest, 1),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _analyze(table: str, status: str) -> None:
    """Fresh planner statistics after every row was rewritten (PostgreSQL).

    Without them a filter on a renamed key is estimated from the old values (no row has the new key)
    and planned as a full bitmap scan of the GIN index: 300 ms instead of 1 ms for a first page of a
    million customers, until autovacuum gets to the table. ANALYZE reads a sample and does not block
    reads or writes."""
    if connection.vendor != "postgresql":
        return
    tables = [table]
    if status in (FieldStatus.DELETING, FieldStatus.RESTORING):
        tables.append(CustomFieldArchive._meta.db_table)
    with connection.cursor() as cur:
        for name in tables:
            cur.execute(f"ANALYZE {connection.ops.quote_name(name)}")


def purge_deleted_fields(now: dt.datetime | None = None) -> int:
    """Drop archived values (and definitions) of fields deleted longer ago than the retention period."""
    now = now or timezone.now()
    purged = 0
    for definition in CustomField.objects.filter(status=FieldStatus.DELETED, purge_after__lte=now):
        while True:
            with transaction.atomic():
                ids = list(
                    CustomFieldArchive.objects.filter(field=definition).values_list("pk", flat=True)[
                        :REWRITE_BATCH
                    ]
                )
                if not ids:
                    break
                CustomFieldArchive.objects.filter(pk__in=ids).delete()
        with transaction.atomic():
            audit.record(
                AuditAction.DELETE, definition, actor="system", before=_snapshot(definition), after=None
            )
            definition.delete()
        purged += 1
    return purged


# --------------------------------------------------------------------------- picklists


@transaction.atomic
def save_picklist(data: dict, *, actor, picklist_id: int | None = None) -> Picklist:
    """Create or update a picklist and its values (labels, order, colour, active). Values in use are never dropped."""
    require(actor, Perm.SETTINGS_MANAGE)
    errors: dict[str, list[str]] = {}
    picklist = (
        Picklist.objects.select_for_update().filter(pk=picklist_id).first() if picklist_id else Picklist()
    )
    if picklist is None:
        from guanxi.core.exceptions import NotFound

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
        picklist.label_zh = _text(data, "label_zh", 100, errors, required=True)
    if "label_en" in data:
        picklist.label_en = _text(data, "label_en", 100, errors)
    values = data.get("values")
    specs = _options(values, errors) if values is not None else None
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


# --------------------------------------------------------------------------- tags


@transaction.atomic
def save_tag(data: dict, *, actor, tag_id: int | None = None) -> Tag:
    require(actor, Perm.SETTINGS_MANAGE)
    errors: dict[str, list[str]] = {}
    tag = Tag.objects.select_for_update().filter(pk=tag_id).first() if tag_id else Tag()
    if tag is None:
        from guanxi.core.exceptions import NotFound

        raise NotFound(tag_id)
    before = {"name": tag.name, "color": tag.color, "object_types": tag.object_types} if tag.pk else None
    if "name" in data or not tag.pk:
        tag.name = _text(data, "name", 50, errors, required=True)
        if tag.name and Tag.objects.filter(name=tag.name).exclude(pk=tag.pk).exists():
            errors.setdefault("name", []).append(_("A tag with this name exists."))
    if "color" in data:
        color = str(data.get("color") or "secondary").strip()
        if not re.fullmatch(r"#[0-9a-fA-F]{6}|primary|secondary|success|danger|warning|info|dark", color):
            errors.setdefault("color", []).append(_("Choose a colour."))
        tag.color = color
    if "object_types" in data:
        types = data.get("object_types") or []
        if not isinstance(types, list) or any(t not in CustomObject.values for t in types):
            errors.setdefault("object_types", []).append(_("Choose objects from the list."))
        else:
            tag.object_types = sorted(set(types))
    if errors:
        raise ValidationError(errors)
    tag.save()
    after = {"name": tag.name, "color": tag.color, "object_types": tag.object_types}
    if before != after:
        audit.record(
            AuditAction.UPDATE if before else AuditAction.CREATE, tag, actor=actor, before=before, after=after
        )
    return tag


def tag_allowed(tag: Tag, object_type: str) -> bool:
    return not tag.object_types or object_type in tag.object_types


# --------------------------------------------------------------------------- form layouts


def default_layout(object_type: str) -> list[dict]:
    spec = customfields.object_spec(object_type)
    layout = getattr(spec, "default_layout", None)
    sections = [dict(s) for s in layout()] if layout else []
    return sections


def layout_for(object_type: str, user=None) -> list[dict]:
    """The sections a user sees: the role's layout, else the company's, else the default; every
    live custom field not placed in a section is added at the end (a required field is never hidden)."""
    layout = None
    if user is not None and getattr(user, "role_id", None):
        layout = FormLayout.objects.filter(object_type=object_type, role_id=user.role_id).first()
    if layout is None:
        layout = FormLayout.objects.filter(object_type=object_type, role__isnull=True).first()
    sections = [dict(s) for s in (layout.sections if layout else default_layout(object_type))]
    registry = customfields.Registry(object_type)
    placed = {f for s in sections for f in s.get("fields", [])}
    valid = {spec.ref for spec in registry.fields()}
    sections = [{**s, "fields": [f for f in s.get("fields", []) if f in valid]} for s in sections]
    rest = [spec.ref for spec in registry.custom.values() if spec.ref not in placed]
    if rest:
        sections.append({"title_zh": "其他信息", "title_en": "More", "fields": rest})
    return [s for s in sections if s["fields"]]


@transaction.atomic
def save_form_layout(object_type: str, sections: Any, *, actor, role_id: int | None = None) -> FormLayout:
    require(actor, Perm.SETTINGS_MANAGE)
    if object_type not in customfields.registered_objects():
        raise ValidationError({"object_type": [_("Choose an object that has custom fields.")]})
    if role_id is not None and not Role.objects.filter(pk=role_id).exists():
        raise ValidationError({"role_id": [_("Choose an existing role.")]})
    registry = customfields.Registry(object_type)
    valid = {spec.ref for spec in registry.fields()}
    errors: list[str] = []
    cleaned: list[dict] = []
    seen: set[str] = set()
    if not isinstance(sections, list):
        raise ValidationError({"sections": [_("Give the sections as a list.")]})
    for n, section in enumerate(sections, start=1):
        if not isinstance(section, dict) or not str(section.get("title_zh") or "").strip():
            errors.append(_("Section %(n)s needs a Chinese title.") % {"n": n})
            continue
        fields = section.get("fields") or []
        if not isinstance(fields, list):
            errors.append(_("Section %(n)s: fields must be a list.") % {"n": n})
            continue
        for ref in fields:
            if ref not in valid:
                errors.append(_("Section %(n)s: unknown field %(field)s.") % {"n": n, "field": str(ref)[:60]})
            elif ref in seen:
                errors.append(_("Field %(field)s is placed twice.") % {"field": ref})
            seen.add(ref)
        cleaned.append(
            {
                "title_zh": str(section["title_zh"]).strip()[:100],
                "title_en": str(section.get("title_en") or "").strip()[:100],
                "fields": [f for f in fields if f in valid],
            }
        )
    required = getattr(customfields.object_spec(object_type), "required_refs", ())
    missing = [ref for ref in required if ref not in seen]
    if missing:
        errors.append(_("These fields must stay on the form: %(fields)s.") % {"fields": ", ".join(missing)})
    if errors:
        raise ValidationError({"sections": errors})
    layout = FormLayout.objects.filter(object_type=object_type, role_id=role_id).first() or FormLayout(
        object_type=object_type, role_id=role_id
    )
    before = {"sections": layout.sections} if layout.pk else None
    layout.sections = cleaned
    layout.save()
    audit.record(
        AuditAction.UPDATE if before else AuditAction.CREATE,
        layout,
        actor=actor,
        before=before,
        after={"sections": cleaned},
    )
    return layout


# --------------------------------------------------------------------------- saved views


def views_for(user, object_type: str):
    """Saved views a user may use: their own, their department's team views, and everyone's."""
    from django.db.models import Q

    q = Q(owner=user) | Q(visibility=ViewVisibility.EVERYONE)
    if getattr(user, "department_id", None):
        q |= Q(visibility=ViewVisibility.TEAM, department_id=user.department_id)
    return SavedView.objects.filter(q, object_type=object_type).select_related("owner")


def clean_view(object_type: str, data: dict, *, actor) -> dict:
    """Columns, sort, filters and kanban field checked against the registry; raises ValidationError.
    Filters and a sort on fields masked for `actor` are refused (they would be a lookup oracle)."""
    registry = customfields.Registry(object_type)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    columns = data.get("columns") or []
    if not isinstance(columns, list) or any(
        not isinstance(c, str) or registry.get(c) is None for c in columns
    ):
        errors.setdefault("columns", []).append(_("Choose columns from the object's fields."))
    else:
        cleaned["columns"] = list(dict.fromkeys(columns))
    try:
        registry.clean_filters(data.get("filters") or [], user=actor)
        cleaned["filters"] = [
            {
                "field": c.get("field"),
                "op": c.get("op") or "eq",
                **({"value": c["value"]} if "value" in c else {}),
            }
            for c in (data.get("filters") or [])
        ]
    except ValidationError as exc:
        errors.update(exc.message_dict)
    sort = str(data.get("sort") or "")
    if sort and registry.ordering(sort, user=actor) is None:
        errors.setdefault("sort", []).append(_("This field cannot be sorted on."))
    cleaned["sort"] = sort
    kanban = str(data.get("kanban_field") or "")
    if kanban:
        spec = registry.get(kanban)
        if spec is None or not spec.choices or spec.type == FieldType.MULTI_SELECT:
            errors.setdefault("kanban_field", []).append(_("A kanban needs a single-select field."))
    cleaned["kanban_field"] = kanban
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def save_view(object_type: str, data: dict, *, actor, view_id: int | None = None) -> SavedView:
    errors: dict[str, list[str]] = {}
    if view_id is not None:
        view = SavedView.objects.select_for_update().filter(pk=view_id).first()
        if view is None or not (view.owner_id == actor.pk or actor.has_perm_code(Perm.SETTINGS_MANAGE)):
            from guanxi.core.exceptions import NotFound

            raise NotFound(view_id)
    else:
        view = SavedView(object_type=object_type, owner=actor)
    if object_type not in customfields.registered_objects():
        raise ValidationError({"object_type": [_("Choose an object that has custom fields.")]})
    name = (
        _text(data, "name", 100, errors, required=not view.pk or "name" in data)
        if "name" in data or not view.pk
        else view.name
    )
    visibility = str(data.get("visibility") or view.visibility)
    if visibility not in ViewVisibility.values:
        errors.setdefault("visibility", []).append(_("Choose who sees this view."))
    elif visibility == ViewVisibility.EVERYONE and not actor.has_perm_code(Perm.SETTINGS_MANAGE):
        errors.setdefault("visibility", []).append(_("Only administrators share views with everyone."))
    elif visibility == ViewVisibility.TEAM and not actor.department_id:
        errors.setdefault("visibility", []).append(_("You are not in a department to share with."))
    try:
        cleaned = clean_view(object_type, actor=actor, data={
            "columns": data.get("columns", view.columns),
            "filters": data.get("filters", view.filters),
            "sort": data.get("sort", view.sort),
            "kanban_field": data.get("kanban_field", view.kanban_field),
        })  # fmt: skip
    except ValidationError as exc:
        errors.update(exc.message_dict)
        cleaned = {}
    if errors:
        raise ValidationError(errors)
    before = _view_snapshot(view) if view.pk else None
    view.name, view.visibility = name, visibility
    view.department_id = actor.department_id if visibility == ViewVisibility.TEAM else None
    for key, value in cleaned.items():
        setattr(view, key, value)
    view.save()
    after = _view_snapshot(view)
    if before != after:
        audit.record(
            AuditAction.UPDATE if before else AuditAction.CREATE,
            view,
            actor=actor,
            before=before,
            after=after,
        )
    return view


def _view_snapshot(view: SavedView) -> dict:
    return {
        f: getattr(view, f)
        for f in ("name", "visibility", "department_id", "columns", "filters", "sort", "kanban_field")
    }


@transaction.atomic
def delete_view(view_id: int, *, actor) -> None:
    view = SavedView.objects.select_for_update().filter(pk=view_id).first()
    if view is None or not (view.owner_id == actor.pk or actor.has_perm_code(Perm.SETTINGS_MANAGE)):
        from guanxi.core.exceptions import NotFound

        raise NotFound(view_id)
    audit.record(AuditAction.DELETE, view, actor=actor, before=_view_snapshot(view), after=None)
    view.delete()
