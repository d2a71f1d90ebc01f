"""Character-level cleaning shared by the normalisers: widths, invisible and control characters."""

from __future__ import annotations

import unicodedata

from guanxi.text.errors import REASON_CONTROL_CHARS, REASON_EMPTY, REASON_MARKUP, REASON_TOO_LONG, fail

# Full-width ASCII (U+FF01..U+FF5E) -> ASCII, ideographic space -> space.
FULLWIDTH_ALL = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# Only letters, digits and the space (clean_text keeps full-width punctuation such as （）).
FULLWIDTH_ALNUM = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F) if chr(cp - 0xFEE0).isalnum()} | {
    0x3000: 0x20
}
# Invisible junk from copy/paste that is silently dropped.
DROP_INVISIBLE = {0x200B: None, 0xFEFF: None}
# Bidi embedding/override/isolate controls (spoofing risk): rejected like control chars.
_BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_WHITESPACE_CONTROLS = frozenset("\t\n\v\f\r\x85")


def has_control_chars(text: str) -> bool:
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs") and ch not in _WHITESPACE_CONTROLS:
            return True
        if ord(ch) in _BIDI_CONTROLS:
            return True
    return False


def collapse_ws(text: str) -> str:
    return " ".join(text.split())


def is_key_char(ch: str) -> bool:
    """Letters, numbers and marks are kept in matching keys; punctuation, symbols, spaces are not."""
    return unicodedata.category(ch)[0] in "LNM"


def is_han(ch: str) -> bool:
    return ch >= "\u2e80" and unicodedata.name(ch, "").startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEO"))


def clean_text(raw: str, *, max_length: int, field: str = "") -> str:
    """Display cleaning for free-form names (no NFKC).

    Strips, collapses whitespace runs, folds full-width ASCII letters/digits/space to half-width
    (CJK and full-width punctuation are kept). Rejects empty, too long, markup and control chars.
    """
    if not isinstance(raw, str):
        raise TypeError("clean_text() expects a str")
    text = raw.translate(FULLWIDTH_ALNUM).translate(DROP_INVISIBLE)
    if has_control_chars(text):
        raise fail(REASON_CONTROL_CHARS, "control_chars", field)
    text = collapse_ws(text)
    if not text:
        raise fail(REASON_EMPTY, "empty", field)
    if "<" in text or ">" in text:
        raise fail(REASON_MARKUP, "markup", field)
    if len(text) > max_length:
        raise fail(REASON_TOO_LONG, "too_long", field)
    return text


def clean_free_text(raw: str, *, max_length: int, field: str = "", multiline: bool = True) -> str:
    """The one cleaning of free text from any entry point (forms, API, imports, webhooks): notes,
    descriptions, deal names, references. "" when blank.

    Strips, drops invisible copy/paste junk, and rejects control characters (NUL included: the
    databases refuse it), lone surrogates ("\\ud800": not storable as UTF-8, a 500 before) and bidi
    overrides; tabs and line breaks are kept when `multiline`, else whitespace runs are collapsed.
    Markup is allowed: free text is always escaped on output. Rejects text over `max_length`.
    """
    if not isinstance(raw, str):
        raise TypeError("clean_free_text() expects a str")
    text = raw.translate(DROP_INVISIBLE)
    if has_control_chars(text):
        raise fail(REASON_CONTROL_CHARS, "control_chars", field)
    text = text.strip() if multiline else collapse_ws(text)
    if len(text) > max_length:
        raise fail(REASON_TOO_LONG, "too_long", field)
    return text


def fold_width(text: str) -> str:
    """Full-width ASCII characters and the ideographic space to their half-width forms."""
    return text.translate(FULLWIDTH_ALL)


def fold(text: str) -> str:
    """Full-width letters and digits to half-width, invisible characters dropped, spaces collapsed."""
    return collapse_ws(text.translate(FULLWIDTH_ALNUM).translate(DROP_INVISIBLE))
