"""The one error of text normalisation: a value that cannot be normalised."""

from __future__ import annotations


class NormalizationError(ValueError):
    """A value could not be normalized.

    ``reason`` is a constant English sentence per failure kind (safe to mark for translation),
    ``code`` a machine code, ``field`` the optional field name passed by the caller.
    """

    def __init__(self, reason: str, code: str, field: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.field = field

    def __reduce__(self) -> tuple[type[NormalizationError], tuple[str, str, str]]:
        # Keeps the exception picklable (task queues pickle errors).
        return (type(self), (self.reason, self.code, self.field))

    def __repr__(self) -> str:
        return f"NormalizationError(reason={self.reason!r}, code={self.code!r}, field={self.field!r})"


# Constant reasons, one per failure kind.
REASON_EMPTY = "This value is empty"
REASON_TOO_LONG = "This value is too long"
REASON_MARKUP = "This value must not contain < or >"
REASON_CONTROL_CHARS = "This value contains control characters"
REASON_INVALID_PHONE = "Not a valid phone number"
REASON_PHONE_EXTENSION = "Phone extensions are not supported"
REASON_INVALID_EMAIL = "Not a valid e-mail address"
REASON_INVALID_WECHAT_ID = "Not a valid WeChat id"


def fail(reason: str, code: str, field: str = "") -> NormalizationError:
    return NormalizationError(reason, code, field)
