"""E-mail addresses and WeChat ids."""

from __future__ import annotations

import re
import unicodedata

from guanxi.text.cleaning import DROP_INVISIBLE, has_control_chars
from guanxi.text.errors import REASON_EMPTY, REASON_INVALID_EMAIL, REASON_INVALID_WECHAT_ID, fail

_EMAIL_FORBIDDEN = frozenset('<>()[]\\,;:"')
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def normalize_email(raw: str, provider_rules: bool = False) -> str:
    """Strip, NFKC and lowercase an e-mail address and check its shape.

    With ``provider_rules`` Gmail addresses lose their +tag and dots in the local part.
    """
    if not isinstance(raw, str):
        raise TypeError("normalize_email() expects a str")
    text = unicodedata.normalize("NFKC", raw.translate(DROP_INVISIBLE)).strip()
    if not text:
        raise fail(REASON_EMPTY, "empty")
    text = unicodedata.normalize("NFKC", text.lower())
    local, at, domain = text.rpartition("@")
    if (
        not at
        or not local
        or "@" in local
        or len(text) > 254
        or len(local) > 64
        or any(ch.isspace() or ch in _EMAIL_FORBIDDEN for ch in text)
        or has_control_chars(text)
        or "." not in domain
        or any(not label for label in domain.split("."))
    ):
        raise fail(REASON_INVALID_EMAIL, "invalid_email")
    if provider_rules and domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            raise fail(REASON_INVALID_EMAIL, "invalid_email")
        text = f"{local}@{domain}"
    return text


_WECHAT_ID_RE = re.compile(r"[A-Za-z0-9_-]{6,64}")


def normalize_wechat_id(raw: str) -> str:
    """WeChat openid/unionid: 6..64 chars of [A-Za-z0-9_-], case preserved."""
    if not isinstance(raw, str):
        raise TypeError("normalize_wechat_id() expects a str")
    text = raw.strip()
    if not text:
        raise fail(REASON_EMPTY, "empty")
    if not _WECHAT_ID_RE.fullmatch(text):
        raise fail(REASON_INVALID_WECHAT_ID, "invalid_wechat_id")
    return text
