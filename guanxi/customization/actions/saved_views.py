"""Saved list views: columns, sort, filters and kanban field, private, shared with a team or everyone."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.exceptions import NotFound
from guanxi.core.models import AuditAction
from guanxi.core.permissions import Perm
from guanxi.customization import registry as customfields
from guanxi.customization.actions.common import clean_text
from guanxi.customization.models import FieldType, SavedView, ViewVisibility


def views_for(user, object_type: str):
    """Saved views a user may use: their own, their department's team views, and everyone's."""
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
            raise NotFound(view_id)
    else:
        view = SavedView(object_type=object_type, owner=actor)
    if object_type not in customfields.registered_objects():
        raise ValidationError({"object_type": [_("Choose an object that has custom fields.")]})
    name = (
        clean_text(data, "name", 100, errors, required=not view.pk or "name" in data)
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
        raise NotFound(view_id)
    audit.record(AuditAction.DELETE, view, actor=actor, before=_view_snapshot(view), after=None)
    view.delete()
