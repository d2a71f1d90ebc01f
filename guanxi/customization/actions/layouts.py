"""Form layouts: sections and field order of an object's create/edit/detail pages (company or role)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.exceptions import require
from guanxi.core.models import AuditAction, Role
from guanxi.core.permissions import Perm
from guanxi.customization import registry as customfields
from guanxi.customization.models import FormLayout


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
