"""Value cleaning: one custom value, typed (API JSON) or text (pages, import files), to its stored
form (`clean_value`), and one filter value to what `FieldSpec.filter_q` takes (`clean_filter_value`).

The three write paths go through the same code, so they give the same answer and the same message
for the same value.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core.models import User
from guanxi.customization.models import FieldType
from guanxi.customization.registry.operators import (
    DATE_TYPES,
    DAY_COUNT_OPS,
    ID_TYPES,
    NO_VALUE_OPS,
    NUMERIC_TYPES,
    TEXT_TYPES,
    Op,
)
from guanxi.customization.registry.spec import _OBJECTS, FieldSpec, _localized

DEFAULT_TEXT_LENGTH = {FieldType.TEXT: 200, FieldType.LONG_TEXT: 5000, FieldType.URL: 500}
MAX_NUMBER = decimal.Decimal("1e15")
TRUE_WORDS = {"1", "true", "yes", "y", "是", "对", "真", "✓", "√", "on"}
FALSE_WORDS = {"0", "false", "no", "n", "否", "不", "假", "✗", "×", "off"}
MULTI_SEPARATORS = re.compile(r"[,，、;；|\n]")
_DATE_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_DATETIME_RE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)


def _encodable(text: str) -> bool:
    """False for text with lone surrogates (no database stores them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _number(spec: FieldSpec, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str | decimal.Decimal):
        raise ValidationError(_("Enter a number."))
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
        try:
            number = decimal.Decimal(text)
        except decimal.InvalidOperation:
            raise ValidationError(_("Enter a number.")) from None
    else:
        number = decimal.Decimal(str(value))
    if number.is_finite() and number != number.to_integral_value():
        # A fraction is stored as a JSON float: check the float that will be stored, so that a stored
        # value always passes again (999999999999999.999 would round up to 1e15).
        number = decimal.Decimal(repr(float(number)))
    if not number.is_finite() or abs(number) >= MAX_NUMBER:
        raise ValidationError(_("Enter a number."))
    if spec.type == FieldType.MONEY and number != number.quantize(decimal.Decimal("0.01")):
        raise ValidationError(_("Money has at most two decimal places."))
    definition = spec.custom
    if definition is not None:
        if definition.min_value is not None and number < definition.min_value:
            raise ValidationError(_("Must be at least %(min)s.") % {"min": _plain(definition.min_value)})
        if definition.max_value is not None and number > definition.max_value:
            raise ValidationError(_("Must be at most %(max)s.") % {"max": _plain(definition.max_value)})
    return int(number) if number == number.to_integral_value() else float(number)


def _plain(number: decimal.Decimal | int | float) -> str:
    # A definition not saved yet holds the cleaned int/float, a saved one a Decimal.
    return format(decimal.Decimal(str(number)).normalize(), "f")


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValidationError(_("Enter a date such as 2026-03-01."))
    text = value.strip().translate(_FULLWIDTH_DIGITS)
    match = _DATE_RE.fullmatch(text)
    if not match and len(text) == 8 and text.isdecimal():
        match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    if not match:
        raise ValidationError(_("Enter a date such as 2026-03-01."))
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        raise ValidationError(_("Enter a date such as 2026-03-01.")) from None


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip().translate(_FULLWIDTH_DIGITS)
        match = _DATETIME_RE.fullmatch(text)
        if not match:
            raise ValidationError(_("Enter a date and time such as 2026-03-01 14:30."))
        y, mo, d, h, mi, s, zone = match.groups()
        try:
            moment = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
        except ValueError:
            raise ValidationError(_("Enter a date and time such as 2026-03-01 14:30.")) from None
        if zone:
            try:
                offset = dt.UTC if zone == "Z" else _offset(zone)
            except ValueError:  # an offset of a day or more
                raise ValidationError(_("Enter a date and time such as 2026-03-01 14:30.")) from None
            moment = moment.replace(tzinfo=offset)
    else:
        raise ValidationError(_("Enter a date and time such as 2026-03-01 14:30."))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # year 1 or 9999 moved across midnight by the time zone
        raise ValidationError(_("Enter a date and time such as 2026-03-01 14:30.")) from None


def _offset(zone: str) -> dt.timezone:
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９：－", "0123456789:-")


def _select_key(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError(_("Choose one of the listed values."))
    text = str(value).strip()
    keys = {key for key, _zh, _en in spec.choices}
    if text in keys:
        return text
    folded = text.casefold()
    for key, zh, en in spec.choices:
        if folded in (zh.casefold(), (en or "").casefold()):
            return key
    raise ValidationError(
        _("%(value)s is not one of the choices: %(choices)s.")
        % {"value": text[:50], "choices": "、".join(_localized(zh, en) for _k, zh, en in spec.choices[:20])}
    )


def _user_id(value: Any, actor) -> int:
    users = User.objects.filter(is_active=True)
    user = None
    if isinstance(value, int) and not isinstance(value, bool):
        user = users.filter(pk=value).first() if 0 < value < 2**63 else None
    elif isinstance(value, str):
        text = value.strip()
        if text.isdecimal() and len(text) < 19:
            user = users.filter(pk=int(text)).first()
        if user is None:
            found = list(users.filter(Q(username__iexact=text) | Q(display_name=text))[:2])
            user = found[0] if len(found) == 1 else None
    if user is None:
        raise ValidationError(_("No active user matches this value."))
    return user.pk


def _linked_id(spec: FieldSpec, value: Any, actor) -> int:
    target = _OBJECTS.get(spec.custom.linked_object) if spec.custom else None
    pk = None
    if isinstance(value, int) and not isinstance(value, bool):
        pk = value
    elif isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) < 19:
        pk = int(value.strip())
    if pk is None or target is None or not 0 < pk < 2**63:
        raise ValidationError(_("Enter the id of an existing record."))
    if target.visible_ids is not None and actor is not None:
        found = target.visible_ids(actor, [pk])
    else:
        found = set(target.model.objects.filter(pk=pk).values_list("pk", flat=True))
    if pk not in found:
        raise ValidationError(_("Enter the id of an existing record."))
    return pk


def clean_value(spec: FieldSpec, value: Any, *, actor=None) -> Any:
    """One custom value, typed (API) or text (page, import) -> stored form; None when empty."""
    if _empty(value):
        return None
    for item in value if isinstance(value, list | tuple) else [value]:
        # No database stores NUL or lone surrogates, and such text is never a valid value of any type.
        if isinstance(item, str) and ("\x00" in item or not _encodable(item)):
            raise ValidationError(_("Enter text."))
    kind = spec.type
    definition = spec.custom
    if kind in TEXT_TYPES:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError(_("Enter text."))
        text = str(value).strip()
        if kind == FieldType.PHONE:
            try:
                return normalize.normalize_phone(text)
            except normalize.NormalizationError as exc:
                raise ValidationError(str(exc)) from None
        if kind == FieldType.EMAIL:
            try:
                return normalize.normalize_email(text)
            except normalize.NormalizationError as exc:
                raise ValidationError(str(exc)) from None
        if kind == FieldType.URL:
            try:
                URLValidator(schemes=["http", "https"])(text)
            except ValidationError:
                raise ValidationError(_("Enter a web address starting with http:// or https://.")) from None
        limit = (
            definition.max_length if definition and definition.max_length else None
        ) or DEFAULT_TEXT_LENGTH.get(kind, 200)
        if len(text) > limit:
            raise ValidationError(
                _("At most %(limit)s characters (this has %(length)s).")
                % {"limit": limit, "length": len(text)}
            )
        if "\x00" in text or not _encodable(text):
            raise ValidationError(_("Enter text."))
        if definition is not None and definition.regex and not re.fullmatch(definition.regex, text):
            raise ValidationError(
                _("Does not match the required format: %(pattern)s") % {"pattern": definition.regex}
            )
        return text
    if kind in NUMERIC_TYPES:
        return _number(spec, value)
    if kind == FieldType.DATE:
        return _date(value).isoformat()
    if kind == FieldType.DATETIME:
        return _datetime(value).isoformat()
    if kind == FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | str) and str(value).strip().casefold() in TRUE_WORDS:
            return True
        if isinstance(value, int | str) and str(value).strip().casefold() in FALSE_WORDS:
            return False
        raise ValidationError(_("Enter yes or no."))
    if kind == FieldType.SINGLE_SELECT:
        return _select_key(spec, value)
    if kind == FieldType.MULTI_SELECT:
        items = MULTI_SEPARATORS.split(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValidationError(_("Choose one or more of the listed values."))
        keys = {_select_key(spec, item) for item in items if not _empty(item)}
        return sorted(keys) or None
    if kind == FieldType.USER:
        return _user_id(value, actor)
    if kind == FieldType.LINKED_RECORD:
        return _linked_id(spec, value, actor)
    raise ValidationError(_("Unsupported field type."))


def clean_filter_value(spec: FieldSpec, op: str, value: Any) -> Any:
    if op in NO_VALUE_OPS:
        return None
    for item in value if isinstance(value, list | tuple) else [value]:
        if isinstance(item, str) and ("\x00" in item or not _encodable(item)):
            raise ValidationError(_("Enter text."))
    if op in DAY_COUNT_OPS:
        try:
            days = int(str(value).strip())
        except (TypeError, ValueError):
            raise ValidationError(_("Enter a whole number of days.")) from None
        if not 0 <= days <= 36500:
            raise ValidationError(_("Enter a whole number of days."))
        return days
    if op == Op.IN:
        items = MULTI_SEPARATORS.split(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not items:
            raise ValidationError(_("Choose at least one value."))
        return [clean_filter_value(spec, Op.EQ, item) for item in items if not _empty(item)]
    if op in (Op.CONTAINS, Op.STARTS):
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(_("Enter text."))
        return value.strip()[:200]
    if _empty(value):
        raise ValidationError(_("Enter a value."))
    if spec.type in DATE_TYPES:
        if spec.type == FieldType.DATETIME and not (isinstance(value, str) and len(value.strip()) <= 11):
            moment = _datetime(value)
        else:
            moment = _date(value)
        if not 2 <= moment.year <= 9998:  # a day's range around it must stay representable
            raise ValidationError(_("A date is out of range."))
        return moment
    if spec.is_custom:
        if spec.type == FieldType.MULTI_SELECT:
            return _select_key(spec, value)
        if spec.type in ID_TYPES:
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
                return value
            if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) < 19:
                return int(value.strip())
            raise ValidationError(_("Enter an id."))
        stored = clean_value(spec, value)
        return stored
    if spec.choices:
        return _select_key(spec, value)
    if spec.type in NUMERIC_TYPES:
        return _number(spec, value)
    if spec.type == FieldType.BOOLEAN:
        return clean_value(spec, value)
    if spec.type in ID_TYPES:
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
            return value
        if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) < 19:
            return int(value.strip())
        raise ValidationError(_("Enter an id."))
    return str(value).strip()[:200]
