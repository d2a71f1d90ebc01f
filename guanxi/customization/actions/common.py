"""Input cleaning shared by the customisation actions (labels, options, definition snapshots)."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.customization.models import CustomField

DEFINITION_FIELDS = [
    "key", "label_zh", "label_en", "type", "required", "unique", "default", "regex", "min_value",
    "max_value", "max_length", "help_zh", "help_en", "picklist", "linked_object", "position", "status",
]  # fmt: skip
VALUE_KEY_RE = re.compile(r"^[^,，、;；|\n\r\t]{1,50}$")


def definition_snapshot(definition: CustomField) -> dict:
    return {f: getattr(definition, f"{f}_id" if f == "picklist" else f) for f in DEFINITION_FIELDS}


def clean_text(data: dict, name: str, limit: int, errors: dict, *, required: bool = False) -> str:
    value = data.get(name)
    text = "" if value is None else str(value).strip()
    if normalize.has_control_chars(text):  # NUL, lone surrogates...: the shared text-cleaning rule
        errors.setdefault(name, []).append(_("Must not contain control characters."))
    elif required and not text:
        errors.setdefault(name, []).append(_("This field is required."))
    elif len(text) > limit:
        errors.setdefault(name, []).append(_("At most %(limit)s characters.") % {"limit": limit})
    return text


def clean_options(raw: Any, errors: dict) -> list[tuple[str, str, str]]:
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
