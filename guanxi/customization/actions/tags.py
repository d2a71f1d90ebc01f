"""Actions on tags: colours and the object types a tag may be put on."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction
from guanxi.core.permissions import Perm
from guanxi.customization.actions.common import clean_text
from guanxi.customization.models import CustomObject, Tag


@transaction.atomic
def save_tag(data: dict, *, actor, tag_id: int | None = None) -> Tag:
    require(actor, Perm.SETTINGS_MANAGE)
    errors: dict[str, list[str]] = {}
    tag = Tag.objects.select_for_update().filter(pk=tag_id).first() if tag_id else Tag()
    if tag is None:
        raise NotFound(tag_id)
    before = {"name": tag.name, "color": tag.color, "object_types": tag.object_types} if tag.pk else None
    if "name" in data or not tag.pk:
        tag.name = clean_text(data, "name", 50, errors, required=True)
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
