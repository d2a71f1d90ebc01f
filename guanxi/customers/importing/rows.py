"""Row input: cell texts as people type them (scientific phones, dates, genders, tag separators),
owner names, the per-row result types and the fast path for plain mainland mobiles.
"""

from __future__ import annotations

import decimal
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core.models import User
from guanxi.core.permissions import Perm
from guanxi.customers import actions, identity
from guanxi.customers.models import (
    Channel,
    ContactKind,
)

log = logging.getLogger(__name__)

CHANNEL = Channel.IMPORT
# Contact kinds as plain strings in the hot loop (the same values as ContactKind).
_PRIMARY_KINDS = {field: str(kind.value) for field, kind in actions.PRIMARY_CONTACT_FIELDS.items()}
# Fields whose values repeat across a file are cleaned once per distinct value; unique values
# (e-mails, WeChat ids, addresses) go straight to the normaliser clean_customer_input would call.
_MEMO_FIELDS = {"name", "gender", "birthday", "tags", "company_name", "owner_id", "title", "industry",
                "province", "city", "notes"}  # fmt: skip
_DIRECT_FIELDS = {
    "email": normalize.normalize_email,
    "wechat_id": normalize.normalize_wechat_id,
    "address": lambda value: normalize.clean_text(
        value, max_length=actions.TEXT_LIMITS["address"], field="address"
    ),
}
MEMO_LIMIT = 300_000

GENDER_WORDS = {
    "男": "male", "男性": "male", "先生": "male", "m": "male", "male": "male",
    "女": "female", "女性": "female", "女士": "female", "f": "female", "female": "female",
    "未知": "", "保密": "", "不详": "", "unknown": "", "-": "",
}  # fmt: skip
_DATE_RE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_SCIENTIFIC_RE = re.compile(r"[+-]?(\d+)(?:\.(\d+))?[eE]\+?(\d+)")
_TAG_SEPARATORS = str.maketrans({"、": ",", ";": ",", "；": ",", "|": ","})


def _scientific_to_digits(text: str) -> str:
    """ "1.3812345678E+10" -> "13812345678" when every digit is written out; otherwise unchanged."""
    match = _SCIENTIFIC_RE.fullmatch(text)
    if not match:
        return text
    value = decimal.Decimal(text)
    if value != value.to_integral_value():
        return text
    digits = str(abs(int(value)))
    mantissa = (match.group(1) + (match.group(2) or "")).lstrip("0")
    return str(int(value)) if len(mantissa) >= len(digits) else text


def _date_text(text: str) -> str:
    match = _DATE_RE.fullmatch(text)
    if match:
        y, m, d = (int(g) for g in match.groups())
        return f"{y:04d}-{m:02d}-{d:02d}"
    if len(text) == 8 and text.isdigit() and text[:2] in ("19", "20"):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


class _Owners:
    """Owner column values -> active user ids, by username or display name."""

    def __init__(self) -> None:
        self.by_name: dict[str, set[int]] = defaultdict(set)
        for pk, username, display_name, first, last in User.objects.filter(is_active=True).values_list(
            "pk", "username", "display_name", "first_name", "last_name"
        ):
            self.by_name[username.lower()].add(pk)
            if display_name:
                self.by_name[display_name.strip().lower()].add(pk)
            full = f"{last}{first}".strip()
            if full:
                self.by_name[full.lower()].add(pk)
        self.cache: dict[str, tuple[int | None, str]] = {}

    def resolve(self, value: str) -> tuple[int | None, str]:
        hit = self.cache.get(value)
        if hit is None:
            ids = self.by_name.get(value.lower(), set())
            if len(ids) == 1:
                hit = (next(iter(ids)), "")
            elif ids:
                hit = (None, _("Several users are called %(name)s; use the username.") % {"name": value})
            else:
                hit = (None, _("No active user is called %(name)s.") % {"name": value})
            self.cache[value] = hit
        return hit


@dataclass(slots=True)
class _Row:
    """One staged row on its way through the pipeline."""

    id: int
    number: int
    raw: dict[str, str]
    data: dict[str, Any] = field(default_factory=dict)  # the input of actions.ingest_customer
    external_ref: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    cleaned: dict[str, Any] | None = None
    idents: list[tuple[str, str]] = field(default_factory=list)
    display: dict[str, str] = field(default_factory=dict)  # normalized phone -> display (fast path)
    custom_new: dict[str, Any] | None = None  # custom values of the customer the row would create


@dataclass(slots=True)
class _Result:
    row_id: int
    status: str
    customer: Any = None  # an id, or a _Cust (its id is known once flushed)
    errors: dict[str, list[str]] | None = None


def _validation_errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {k: list(v) for k, v in exc.message_dict.items()}
    return {NON_FIELD_ERRORS: list(exc.messages)}


def _permission_errors(exc: PermissionDenied) -> dict[str, list[str]]:
    code = str(exc.args[0]) if exc.args else ""
    messages = {
        Perm.CUSTOMER_CREATE: _("You do not have permission to create customers."),
        Perm.CUSTOMER_CHANGE: _("You do not have permission to change existing customers."),
    }
    return {NON_FIELD_ERRORS: [messages.get(code) or code or _("Permission denied.")]}


def _duplicate_errors(exc: identity.DuplicateFound) -> dict[str, list[str]]:
    return {NON_FIELD_ERRORS: [exc.matches[0].describe()] if exc.matches else [_("Duplicate.")]}


# --------------------------------------------------------------------------- fast CN mobiles


def _cn_mobile_digits(text: str) -> str | None:
    """The 11 digits of a plainly written mainland mobile number ("138 1234 5678", "+86-138…",
    "13812345678.0"), else None. Only shapes phonenumbers reads as exactly these digits qualify."""
    if len(text) > 24 or not text.isascii():
        return None
    head, dot, tail = text.rpartition(".")
    if dot and tail and set(tail) == {"0"} and head.isdigit():
        text = head
    if not text.isdigit():
        if text.startswith("+86"):
            text = text[3:]
        text = text.replace(" ", "").replace("-", "")
        if not text.isdigit():
            return None
    if len(text) == 11 and text[0] == "1" and text[1] in "3456789":
        return text
    return None


class _PhoneFastPath:
    """Validity of an 11-digit mobile number is decided by its first five digits in the phone
    metadata (pattern `1(…)\\d{6}`/`\\d{8}`): ask phonenumbers once per prefix, not once per number.
    A prefix whose probe does not come back as "+86" + digits with the usual display is left to
    the normal path."""

    def __init__(self) -> None:
        self.verdicts: dict[str, bool | dict[str, list[str]] | None] = {}

    def clean(self, digits: str, actor) -> tuple[str, str] | dict[str, list[str]] | None:
        prefix = digits[:5]
        verdict = self.verdicts.get(prefix, False)
        if verdict is False:
            try:
                result = actions.clean_customer_input({"phone": digits}, actor=actor, partial=True)["phone"]
            except ValidationError as exc:
                verdict = _validation_errors(exc)
            else:
                ok = result == "+86" + digits and actions.display_contact(
                    ContactKind.PHONE, result
                ) == _mobile_display(digits)
                verdict = True if ok else None
            self.verdicts[prefix] = verdict
        if verdict is None:
            return None
        if verdict is True:
            return "+86" + digits, _mobile_display(digits)
        return verdict


def _mobile_display(digits: str) -> str:
    return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
