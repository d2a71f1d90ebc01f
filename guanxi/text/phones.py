"""Phone numbers: E.164 normalisation, masking and display (libphonenumber)."""

from __future__ import annotations

from typing import Any

import phonenumbers

from guanxi.text.cleaning import DROP_INVISIBLE, FULLWIDTH_ALL
from guanxi.text.errors import (
    REASON_EMPTY,
    REASON_INVALID_PHONE,
    REASON_PHONE_EXTENSION,
    NormalizationError,
    fail,
)

_MAX_PHONE_INPUT = 64


def _phone_input(raw: Any) -> str:
    if isinstance(raw, bool):
        raise TypeError("normalize_phone() expects a str")
    if isinstance(raw, int | float):  # values straight from a spreadsheet
        raw = str(raw)
    if not isinstance(raw, str):
        raise TypeError("normalize_phone() expects a str")
    text = raw.translate(FULLWIDTH_ALL).translate(DROP_INVISIBLE).strip()
    # Excel stores numbers as floats: "13812345678.0" -> "13812345678".
    head, dot, tail = text.rpartition(".")
    if dot and tail and set(tail) == {"0"} and head.isascii() and head.isdigit():
        text = head
    return text


def _parse_phone(raw: Any, default_region: str) -> phonenumbers.PhoneNumber:
    text = _phone_input(raw)
    if not text:
        raise fail(REASON_EMPTY, "empty")
    # Letters would be read as vanity digits by phonenumbers ("1-800-FLOWERS"); CJK is alpha too.
    if len(text) > _MAX_PHONE_INPUT or any(ch.isalpha() for ch in text):
        raise fail(REASON_INVALID_PHONE, "invalid_phone")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise fail(REASON_INVALID_PHONE, "invalid_phone")
    if number.extension:
        raise fail(REASON_PHONE_EXTENSION, "phone_extension")
    if not phonenumbers.is_valid_number(number):
        raise fail(REASON_INVALID_PHONE, "invalid_phone")
    return number


def normalize_phone(raw: str, default_region: str = "CN") -> str:
    """Return the E.164 form ("+8613812345678") or raise NormalizationError."""
    number = _parse_phone(raw, default_region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _try_parse(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        return _parse_phone(e164, "CN")
    except (NormalizationError, TypeError):
        return None


def _is_cn_mobile_number(number: phonenumbers.PhoneNumber) -> bool:
    return number.country_code == 86 and phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def is_cn_mobile(e164: str) -> bool:
    """True for a valid mainland China mobile number."""
    number = _try_parse(e164)
    return number is not None and _is_cn_mobile_number(number)


def _mask_digits(digits: str) -> str:
    n = len(digits)
    if n >= 8:  # keep the last 4, mask the 4 before them, keep the prefix
        return digits[: n - 8] + "****" + digits[n - 4 :]
    if n <= 2:
        return "*" * n
    keep = max(1, n // 4)
    return digits[:keep] + "*" * (n - 2 * keep) + digits[n - keep :]


def mask_phone(e164: str) -> str:
    """Mask the middle digits: "+8613812345678" -> "138****5678".

    CN numbers show national format digits (010****5678 for landlines), others keep the
    country code ("+44 79****3456"). Unparseable input gives "****" (never leaks the value).
    """
    number = _try_parse(e164)
    if number is None:
        return "****"
    if number.country_code == 86:
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return _mask_digits("".join(ch for ch in national if ch.isdigit()))
    nsn = phonenumbers.national_significant_number(number)
    return f"+{number.country_code} {_mask_digits(nsn)}"


def format_phone_display(e164: str) -> str:
    """CN mobiles as "138 1234 5678", everything else in international format.

    Unparseable input is returned unchanged (display helper, never raises).
    """
    number = _try_parse(e164)
    if number is None:
        return e164
    if _is_cn_mobile_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
