"""Sensitive values: who may see them in full, their mask, and their protected stored form.

A field is sensitive when its `FieldSpec` names the permission that reveals it (`sensitive=`, e.g.
`customer.view_sensitive` for phones); custom fields of `SENSITIVE_TYPES` are sensitive with
`DEFAULT_PERMISSION`. A viewer sees such a value in full when they hold that permission or own the
record (`owner_id`); the system (`None`) always does. Everyone else sees its mask ("138****5678").
The presenter built on this is `FieldSpec.present` / `Registry.present*` (`customization/registry/`):
pages, the API, exports, history and search results all go through it.

Audit entries and event payloads never hold a sensitive value in clear: `protect()` turns it into
"<mask>#<keyed hash>" (HMAC-SHA256 with a key derived from SECRET_KEY), so equal values still
compare equal and a change is still visible, but the value itself cannot be read back from them.

How a value of a type is masked and shown in full is registered by the app that knows the type
(`register_type`: the customers app registers phones), so this module imports no app.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.db.models import Q
from django.utils.crypto import salted_hmac

from guanxi.core.permissions import Perm

# Custom fields of these types are sensitive. E-mail and WeChat ids are not masked anywhere today
# (the built-in email / WeChat columns show them to everyone who may see the customer), so custom
# fields of those types follow the same rule; adding a type here masks its custom fields everywhere.
# (Field types are named by their stored value, `customization.models.FieldType`, which core cannot
# import: core is the ground floor.)
SENSITIVE_TYPES = frozenset({"phone"})
DEFAULT_PERMISSION = Perm.CUSTOMER_VIEW_SENSITIVE
SEPARATOR = "#"
_HASH_LENGTH = 24  # hex digits of the HMAC kept: 96 bits, plenty to tell values apart
_HMAC_SALT = "guanxi.core.sensitive.fingerprint"
_PROTECTED_RE = re.compile(rf"^(?P<mask>[^#]*)#(?P<hash>[0-9a-f]{{{_HASH_LENGTH}}})$")

_maskers: dict[str, Callable[[str], str]] = {}
_displays: dict[str, Callable[[str], str]] = {}


def register_type(field_type: str, *, mask: Callable[[str], str], display: Callable[[str], str]) -> None:
    """How values of `field_type` are masked and shown in full (called from an app's `ready()`)."""
    _maskers[field_type] = mask
    _displays[field_type] = display


def _generic_mask(text: str) -> str:
    return "****" + text[-2:] if len(text) > 6 else "****"


def is_protected(value: Any) -> bool:
    return isinstance(value, str) and _PROTECTED_RE.match(value) is not None


def mask(field_type: str, value: Any) -> str:
    """The masked text of a value (a protected value gives its stored mask); never the value."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        match = _PROTECTED_RE.match(value)
        if match:
            return match.group("mask")
    masker = _maskers.get(field_type, _generic_mask)
    return masker(str(value))


def display(field_type: str, value: Any) -> str:
    """The full value as people read it (for viewers who may see it)."""
    if value is None or value == "":
        return ""
    if is_protected(value):
        return mask(field_type, value)
    shown = _displays.get(field_type, str)
    return shown(str(value))


def fingerprint(value: Any) -> str:
    """A keyed hash of a value: equal values give equal fingerprints; the key comes from SECRET_KEY."""
    return salted_hmac(_HMAC_SALT, str(value), algorithm="sha256").hexdigest()[:_HASH_LENGTH]


def protect(field_type: str, value: Any) -> Any:
    """The form of a sensitive value stored in audit entries and event payloads: "<mask>#<hash>".

    Empty values and values already protected are returned unchanged (protecting twice is harmless)."""
    if value is None or value == "" or is_protected(value):
        return value
    return f"{mask(field_type, value)}{SEPARATOR}{fingerprint(value)}"


def may_reveal(user, permission: str, owner_id: int | None) -> bool:
    """Whether `user` sees a value revealed by `permission` in full on a record owned by `owner_id`."""
    if user is None:
        return True
    if owner_id is not None and owner_id == user.pk:
        return True
    return user.has_perm_code(permission)


def reveal_q(user, permission: str = DEFAULT_PERMISSION, *, owner_field: str = "owner_id") -> Q | None:
    """The records whose sensitive values `user` may see in full, as one filter (None: all of them).

    Searches and filters on sensitive values add it, so that they never match a record whose value
    the user sees masked (a search would otherwise confirm a guessed digit)."""
    if user is None or user.has_perm_code(permission):
        return None
    return Q(**{owner_field: user.pk})


def present(field_type: str, permission: str, value: Any, *, user, owner_id: int | None) -> str:
    """A sensitive value as `user` may see it: in full (if allowed and stored in clear) or masked."""
    if value is None or value == "":
        return ""
    if is_protected(value) or not may_reveal(user, permission, owner_id):
        return mask(field_type, value)
    return display(field_type, value)
