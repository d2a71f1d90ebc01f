"""Comparison keys of raw values: names, dates of birth, e-mails, phones, places, companies.

Everything goes through ``guanxi.text`` (the same normalisation as the rest of Guanxi), folded
further where comparison needs it: names to lower-case ASCII, Chinese names to simplified
characters plus a toneless pinyin key, dates of birth parsed from the usual formats.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

from guanxi import text

CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
NON_ALPHA_RE = re.compile(r"[^a-z]+")
_NON_ALNUM_RE = re.compile(r"[^0-9a-z]+")
_NON_DIGIT_RE = re.compile(r"\D+")
_SPACE_RE = re.compile(r"\s+")


def fold(value: str) -> str:
    """Lower-case ASCII letters and digits only ("José-Luis" -> "joseluis")."""
    if value.isascii():
        return _NON_ALNUM_RE.sub("", value.lower())
    decomposed = unicodedata.normalize("NFKD", value.lower())
    return _NON_ALNUM_RE.sub("", decomposed.encode("ascii", "ignore").decode("ascii"))


def _fold_words(value: str) -> str:
    """Like :func:`fold` but keeps single spaces between words (for addresses)."""
    decomposed = unicodedata.normalize("NFKC", value).lower()
    return _SPACE_RE.sub(" ", re.sub(r"[^\w]+", " ", decomposed)).strip()


def _pinyin(value: str) -> str:
    return fold(text.pinyin_full(value, person=True))


@functools.lru_cache(maxsize=200_000)
def name_keys(raw: str) -> tuple[str, str] | None:
    """(exact key, latin key) of one name part; Chinese -> (simplified, toneless pinyin)."""
    value = raw.strip()
    if not value:
        return None
    exact = text.person_name_key(value)
    if not exact:
        exact = _SPACE_RE.sub("", text.to_simplified(value)) if CJK_RE.search(value) else fold(value)
    if not exact:
        return None
    latin = _pinyin(exact) if CJK_RE.search(exact) else fold(exact)
    return exact, latin or exact


_COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "钟离",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "万俟",
        "闻人",
        "赫连",
        "澹台",
        "公冶",
        "申屠",
        "太史",
        "濮阳",
        "淳于",
        "单于",
        "仲孙",
        "宗政",
        "拓跋",
    ]
)


def split_full_name(full: str) -> tuple[str | None, str | None]:
    """Split a full name into (first name, surname)."""
    value = full.strip()
    if not value:
        return None, None
    if CJK_RE.search(value):
        simplified = _SPACE_RE.sub("", text.to_simplified(value))
        if len(simplified) >= 3 and simplified[:2] in _COMPOUND_SURNAMES:
            return simplified[2:] or None, simplified[:2]
        if len(simplified) >= 2:
            return simplified[1:], simplified[:1]
        return None, simplified
    if "," in value:
        surname, _, first = value.partition(",")
        return first.strip() or None, surname.strip() or None
    parts = value.split()
    if len(parts) == 1:
        return parts[0], None
    return parts[0], parts[-1]


_DATE_YMD = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_DATE_DMY = re.compile(r"^\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{4})")
_DATE_COMPACT = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})\s*$")


@functools.lru_cache(maxsize=200_000)
def parse_dob(raw: str) -> tuple[str, int, int, int] | None:
    """Return ("YYYYMMDD", y, m, d); unknown formats keep their digits with y = m = d = 0."""
    value = raw.strip()
    if not value:
        return None
    match = _DATE_YMD.match(value) or _DATE_COMPACT.match(value)
    if match:
        y, m, d = (int(g) for g in match.groups())
    else:
        match = _DATE_DMY.match(value)
        if match:
            a, b, y = (int(g) for g in match.groups())
            d, m = (b, a) if b > 12 >= a else (a, b)  # default to day/month, as in most of the world
        else:
            digits = _NON_DIGIT_RE.sub("", value)
            return (digits or value.lower(), 0, 0, 0)
    return (f"{y:04d}{m:02d}{d:02d}", y, m, d)


def norm_email(raw: str) -> str | None:
    try:
        return text.normalize_email(raw).lower()
    except text.NormalizationError:
        # not a valid address (typo, missing "@"...): still worth comparing as text
        value = raw.strip().lower().replace(" ", "")
        return value or None


def norm_phone(raw: str) -> str | None:
    try:
        return text.normalize_phone(raw)
    except text.NormalizationError:
        # not a valid number: its digits are still worth comparing
        digits = _NON_DIGIT_RE.sub("", raw)
        if len(digits) < 5:
            return None
        return "+" + digits if raw.strip().startswith("+") else digits


def norm_company(raw: str) -> str | None:
    return text.company_name_key(raw).strip() or None


def norm_place(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if CJK_RE.search(value):
        return _SPACE_RE.sub("", text.to_simplified(value)).lower() or None
    return fold(value) or None


def norm_text(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if CJK_RE.search(value):
        value = text.to_simplified(value)
    return _fold_words(value) or None


def clean(value: Any) -> str | None:
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None
