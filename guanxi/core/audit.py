"""Audit entries: written by actions, in the action's transaction."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.utils import timezone

from guanxi.core.bulk import Column, ObjectRef, Sql, insert_rows, insert_select, json_object_sql, model_of
from guanxi.core.context import current_request_id
from guanxi.core.models import AuditAction, AuditEntry


def actor_label(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    rule_id = getattr(actor, "automation_rule_id", None)  # a user acting through an automation rule
    if rule_id is not None:
        return f"{actor.get_username()} · rule #{rule_id}"[:150]
    return actor.get_username()


_PLAIN = frozenset({str, int, float, bool})


def json_value(value: Any) -> Any:
    """Make a field value JSON-friendly for audit snapshots."""
    if value is None or type(value) in _PLAIN:  # the common case, first (bulk writers call this a lot)
        return value
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted((json_value(v) for v in value), key=str)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    return value


def record(
    action: AuditAction, obj: models.Model, *, actor, before: dict | None, after: dict | None
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor if isinstance(actor, models.Model) else None,
        actor_label=actor_label(actor),
        request_id=current_request_id(),
        action=action,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=True),
        object_id=obj.pk,
        object_repr=str(obj)[:200],
        before=json_value(before) if before is not None else None,
        after=json_value(after) if after is not None else None,
    )


def record_many(
    action: AuditAction,
    entries: Iterable[tuple[models.Model | ObjectRef, dict | None, dict | None]],
    *,
    actor,
) -> list[int]:
    """One audit entry per (obj, before, after), shaped exactly like `record`, in one bulk write
    (for set-based actions: bulk transfer, reclaim, bulk tagging, import). `obj` is a model instance
    or an `ObjectRef(model, pk, label)` (no instance needed). Returns the new entries' ids."""
    now, request_id = timezone.now(), current_request_id()
    actor_id = actor.pk if isinstance(actor, models.Model) else None
    label = actor_label(actor)
    content_types: dict[type, int] = {}
    rows = []
    for obj, before, after in entries:
        model = model_of(obj)
        content_type_id = content_types.get(model)
        if content_type_id is None:
            content_type_id = ContentType.objects.get_for_model(model, for_concrete_model=True).pk
            content_types[model] = content_type_id
        rows.append(
            (
                now,
                actor_id,
                label,
                request_id,
                action,
                content_type_id,
                obj.pk,
                str(obj)[:200],
                json_value(before) if before is not None else None,
                json_value(after) if after is not None else None,
            )
        )
    return insert_rows(AuditEntry, AUDIT_COLUMNS, rows, return_ids=True)


def record_many_sql(
    action: AuditAction,
    model: type[models.Model],
    source: str,
    *,
    pk: Column,
    label: Column,
    before: dict[str, Any],
    after: dict[str, Any],
    actor,
) -> Sql:
    """`record_many` for rows that never come to Python (PostgreSQL): an INSERT ... SELECT of one
    audit entry per row of `source` (a CTE), shaped exactly like `record`. `before`/`after` map keys
    to a `Column` of the source or a constant."""
    return insert_select(
        AuditEntry,
        {
            "created_at": timezone.now(),
            "actor_id": actor.pk if isinstance(actor, models.Model) else None,
            "actor_label": actor_label(actor),
            "request_id": current_request_id(),
            "action": str(action),
            "content_type_id": ContentType.objects.get_for_model(model, for_concrete_model=True).pk,
            "object_id": pk,
            "object_repr": Sql(f"left({connection.ops.quote_name(label.name)}, 200)", []),
            "before": json_object_sql(
                {k: json_value(v) if not isinstance(v, Column) else v for k, v in before.items()}
            ),
            "after": json_object_sql(
                {k: json_value(v) if not isinstance(v, Column) else v for k, v in after.items()}
            ),
        },
        source,
    )


AUDIT_COLUMNS = (
    "created_at",
    "actor_id",
    "actor_label",
    "request_id",
    "action",
    "content_type_id",
    "object_id",
    "object_repr",
    "before",
    "after",
)


def diff(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys whose values changed, as (before, after)."""
    keys = [k for k in after if json_value(before.get(k)) != json_value(after.get(k))]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def history_for(obj: models.Model):
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    return AuditEntry.objects.filter(content_type=ct, object_id=obj.pk).select_related("actor")
