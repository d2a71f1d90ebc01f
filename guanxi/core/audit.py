"""Audit entries: written by actions, in the action's transaction."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from guanxi.core.context import current_request_id
from guanxi.core.models import AuditAction, AuditEntry


def actor_label(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return actor.get_username()


def json_value(value: Any) -> Any:
    """Make a field value JSON-friendly for audit snapshots."""
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


def record_many(action: AuditAction, entries, *, actor) -> list[AuditEntry]:
    """One audit entry per (obj, before, after), shaped exactly like `record`, in bulk inserts."""
    request_id, label = current_request_id(), actor_label(actor)
    user = actor if isinstance(actor, models.Model) else None
    types: dict[type, ContentType] = {}
    rows = []
    for obj, before, after in entries:
        model = type(obj)
        if model not in types:
            types[model] = ContentType.objects.get_for_model(obj, for_concrete_model=True)
        rows.append(
            AuditEntry(
                actor=user,
                actor_label=label,
                request_id=request_id,
                action=action,
                content_type=types[model],
                object_id=obj.pk,
                object_repr=str(obj)[:200],
                before=json_value(before) if before is not None else None,
                after=json_value(after) if after is not None else None,
            )
        )
    return AuditEntry.objects.bulk_create(rows, batch_size=1000)


def diff(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys whose values changed, as (before, after)."""
    keys = [k for k in after if json_value(before.get(k)) != json_value(after.get(k))]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def history_for(obj: models.Model):
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    return AuditEntry.objects.filter(content_type=ct, object_id=obj.pk).select_related("actor")
