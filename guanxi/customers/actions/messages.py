"""Translated messages for the normalisation errors of `guanxi.text` (by their `code`).

`guanxi.text` is pure Python and raises `NormalizationError(code=...)`; what a person reads lives
here, so the page, the API, the import and the inbound webhooks word the same error the same way.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from guanxi import text as normalize


def _error_message(exc: normalize.NormalizationError, max_length: int | None = None) -> str:
    messages = {
        "empty": _("This field is required."),
        "markup": _("Must not contain the characters < or >."),
        "control_chars": _("Must not contain control characters."),
        "invalid_phone": _("Enter a valid phone number, for example 138 1234 5678."),
        "invalid_email": _("Enter a valid email address."),
        "invalid_wechat_id": _("Enter a valid WeChat ID (6–64 letters, digits, - or _)."),
    }
    if exc.code == "too_long":
        return _("Must be at most %(max)d characters.") % {"max": max_length or 0}
    return messages.get(exc.code, _("Invalid value."))
