"""Probabilistic record linkage (deduplication) of people.

Pure Python (no Django, no numpy): a Fellegi-Sunter model whose parameters are estimated on the data
itself, in the spirit of splink.

1. Each record is normalised once (names folded to lower-case ASCII; Chinese names in simplified
   characters plus a toneless pinyin key; phones in E.164; dates of birth parsed from the usual
   formats) with ``guanxi.text`` where it exists.
2. Candidate pairs come from the union of blocking rules (same e-mail, phone, national id; same date
   of birth and a name initial; same phonetic first name and surname, in either order; same
   phonetic name and birth year...).  Each rule gets a budget of pairs: a rule that is not
   selective on the data loses its largest blocks first, so nothing is quadratic.  A pair found by
   an earlier rule is not generated again by a later one, without any global set of pairs.
3. Every pair is compared field by field; each comparison yields a *level* (exact, close, fuzzy,
   different, or null when a side is missing: null carries no evidence).  First name and surname
   are also compared crosswise (swapped names), Chinese names by characters then by pinyin.
4. u = P(level | different people) is estimated on random pairs.  m = P(level | same person) is
   estimated by EM, u fixed, on pairs sharing a date of birth, a name, an e-mail or a phone, each
   session leaving out the fields tied to its key (conditional independence then makes the
   non-matches of a session look like random pairs).  The prior λ follows from each session's
   share of matches: λ = λ_S · P(key agrees) / P(key agrees | match).  Exact agreements on names,
   city, postcode and company are term-frequency adjusted: a rare surname is stronger evidence.
5. Pairs whose match probability reaches the threshold (by default the one maximising the model's
   own expected F1, about 0.5) are linked; connected components are then split by average
   linkage on all their pairwise probabilities (chaining guard), and every pair inside an entity
   is reported.

Entry points: :func:`dedupe_csv` for files, :class:`Matcher` / :class:`PersonRecord` for rows from
anywhere else.  Each linked pair comes with an explanation (level and weight per field), so a user
interface can show why two contacts were judged to be the same person.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gc
import importlib
import io
import itertools
import math
import multiprocessing
import os
import random
import re
import statistics
import time
import unicodedata
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler, Levenshtein

__all__ = ["FIELDS", "Matcher", "PersonRecord", "dedupe_csv", "read_people_csv"]

FIELDS: tuple[str, ...] = (
    "first_name",
    "surname",
    "full_name",
    "dob",
    "city",
    "address",
    "postcode",
    "state",
    "email",
    "phone",
    "company",
    "national_id",
)


@dataclass(slots=True)
class PersonRecord:
    """One person as seen by the matcher; every field is an optional string (None = missing)."""

    unique_id: str | None = None
    first_name: str | None = None
    surname: str | None = None
    full_name: str | None = None
    dob: str | None = None
    city: str | None = None
    address: str | None = None
    postcode: str | None = None
    state: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    national_id: str | None = None


# --------------------------------------------------------------------------------------------------
# Normalisation helpers.  ``guanxi.text`` is used when it exists; small private
# fallbacks keep this module usable on its own.
# --------------------------------------------------------------------------------------------------


@functools.cache
def _normalize_module() -> Any | None:
    try:
        return importlib.import_module("guanxi.text")
    except Exception:  # pragma: no cover - depends on the deployment
        return None


def _call(name: str, *args: Any, **kwargs: Any) -> Any | None:
    """Call ``guanxi.text.<name>``; None if it is missing or rejects the value."""
    module = _normalize_module()
    fn = getattr(module, name, None) if module is not None else None
    if not callable(fn):
        return None
    try:
        return fn(*args, **kwargs)
    except Exception:  # NormalizationError (a ValueError) or anything unexpected: use the fallback
        return None


_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NON_ALNUM_RE = re.compile(r"[^0-9a-z]+")
_NON_DIGIT_RE = re.compile(r"\D+")
_NON_ALPHA_RE = re.compile(r"[^a-z]+")
_SPACE_RE = re.compile(r"\s+")


@functools.cache
def _opencc_t2s() -> Any | None:
    try:
        import opencc

        return opencc.OpenCC("t2s")
    except Exception:  # pragma: no cover
        return None


def _to_simplified(text: str) -> str:
    value = _call("to_simplified", text)
    if value is not None:
        return str(value)
    converter = _opencc_t2s()
    return converter.convert(text) if converter is not None else text


def _fold(text: str) -> str:
    """Lower-case ASCII letters and digits only ("José-Luis" -> "joseluis")."""
    if text.isascii():
        return _NON_ALNUM_RE.sub("", text.lower())
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return _NON_ALNUM_RE.sub("", decomposed.encode("ascii", "ignore").decode("ascii"))


def _fold_words(text: str) -> str:
    """Like :func:`_fold` but keeps single spaces between words (for addresses, companies)."""
    decomposed = unicodedata.normalize("NFKC", text).lower()
    return _SPACE_RE.sub(" ", re.sub(r"[^\w]+", " ", decomposed)).strip()


def _pinyin(text: str) -> str:
    value = _call("pinyin_full", text, person=True)
    if value is not None:
        return _fold(str(value))
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError:  # pragma: no cover
        return _fold(text)
    return _fold("".join(lazy_pinyin(text, style=Style.NORMAL, errors="ignore")))


@functools.lru_cache(maxsize=200_000)
def _name_keys(raw: str) -> tuple[str, str] | None:
    """(exact key, latin key) of one name part; Chinese -> (simplified, toneless pinyin)."""
    text = raw.strip()
    if not text:
        return None
    exact = str(_call("person_name_key", text) or "")
    if not exact:
        exact = _SPACE_RE.sub("", _to_simplified(text)) if _CJK_RE.search(text) else _fold(text)
    if not exact:
        return None
    latin = _pinyin(exact) if _CJK_RE.search(exact) else _fold(exact)
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


def _split_full_name(full: str) -> tuple[str | None, str | None]:
    """Split a full name into (first name, surname)."""
    text = full.strip()
    if not text:
        return None, None
    if _CJK_RE.search(text):
        simplified = _SPACE_RE.sub("", _to_simplified(text))
        if len(simplified) >= 3 and simplified[:2] in _COMPOUND_SURNAMES:
            return simplified[2:] or None, simplified[:2]
        if len(simplified) >= 2:
            return simplified[1:], simplified[:1]
        return None, simplified
    if "," in text:
        surname, _, first = text.partition(",")
        return first.strip() or None, surname.strip() or None
    parts = text.split()
    if len(parts) == 1:
        return parts[0], None
    return parts[0], parts[-1]


_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


@functools.lru_cache(maxsize=200_000)
def _soundex(word: str) -> str:
    letters = [c for c in word if "a" <= c <= "z"]
    if not letters:
        return word[:4]
    out = [letters[0]]
    last = _SOUNDEX_CODES.get(letters[0], "")
    for c in letters[1:]:
        code = _SOUNDEX_CODES.get(c, "")
        if code and code != last:
            out.append(code)
            if len(out) == 4:
                break
        if c not in "hw":
            last = code
    return "".join(out)


_DATE_YMD = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_DATE_DMY = re.compile(r"^\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{4})")
_DATE_COMPACT = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})\s*$")


@functools.lru_cache(maxsize=200_000)
def _parse_dob(raw: str) -> tuple[str, int, int, int] | None:
    """Return ("YYYYMMDD", y, m, d); unknown formats keep their digits with y = m = d = 0."""
    text = raw.strip()
    if not text:
        return None
    match = _DATE_YMD.match(text) or _DATE_COMPACT.match(text)
    if match:
        y, m, d = (int(g) for g in match.groups())
    else:
        match = _DATE_DMY.match(text)
        if match:
            a, b, y = (int(g) for g in match.groups())
            d, m = (b, a) if b > 12 >= a else (a, b)  # default to day/month, as in most of the world
        else:
            digits = _NON_DIGIT_RE.sub("", text)
            return (digits or text.lower(), 0, 0, 0)
    return (f"{y:04d}{m:02d}{d:02d}", y, m, d)


def _norm_email(raw: str) -> str | None:
    value = _call("normalize_email", raw)
    if value:
        return str(value).lower()
    # not a valid address (typo, missing "@"...): still worth comparing as text
    text = raw.strip().lower().replace(" ", "")
    return text or None


@functools.cache
def _phonenumbers() -> Any | None:
    try:
        import phonenumbers

        return phonenumbers
    except Exception:  # pragma: no cover
        return None


def _norm_phone(raw: str) -> str | None:
    value = _call("normalize_phone", raw)
    if value:
        return str(value)
    digits = _NON_DIGIT_RE.sub("", raw)
    if len(digits) < 5:
        return None
    pn = _phonenumbers() if _normalize_module() is None else None
    if pn is not None:
        with contextlib.suppress(Exception):
            parsed = pn.parse(raw, "CN")
            if pn.is_possible_number(parsed):
                return str(pn.format_number(parsed, pn.PhoneNumberFormat.E164))
    return "+" + digits if raw.strip().startswith("+") else digits


def _norm_company(raw: str) -> str | None:
    value = _call("company_name_key", raw)
    if value is not None:
        return str(value).strip() or None
    text = _fold_words(_to_simplified(raw)) if _CJK_RE.search(raw) else _fold_words(raw)
    return text or None


def _norm_place(raw: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    if _CJK_RE.search(text):
        return _SPACE_RE.sub("", _to_simplified(text)).lower() or None
    return _fold(text) or None


def _norm_text(raw: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    if _CJK_RE.search(text):
        text = _to_simplified(text)
    return _fold_words(text) or None


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# --------------------------------------------------------------------------------------------------
# Prepared (normalised, column-oriented) data
# --------------------------------------------------------------------------------------------------


class _Prepared:
    """Column-oriented normalised view of a list of records (index = position in the list)."""

    def __init__(self, records: Sequence[PersonRecord]) -> None:
        n = len(records)
        self.n = n
        self.ids: list[str] = []
        self.fn_e: list[str | None] = [None] * n  # first name, exact key
        self.fn_l: list[str | None] = [None] * n  # first name, latin (pinyin) key
        self.sn_e: list[str | None] = [None] * n
        self.sn_l: list[str | None] = [None] * n
        self.dob: list[tuple[str, int, int, int] | None] = [None] * n
        self.email: list[str | None] = [None] * n
        self.phone: list[str | None] = [None] * n
        self.city: list[str | None] = [None] * n
        self.address: list[str | None] = [None] * n
        self.postcode: list[str | None] = [None] * n
        self.state: list[str | None] = [None] * n
        self.company: list[str | None] = [None] * n
        self.national_id: list[str | None] = [None] * n
        # interned name parts (first names and surnames share one table, for swaps); -1 = missing
        self.fn_id: list[int] = [-1] * n
        self.sn_id: list[int] = [-1] * n
        self.name_exact: list[str] = []
        self.name_latin: list[str] = []
        name_ids: dict[str, int] = {}
        phone_cache: dict[str, str | None] = {}
        email_cache: dict[str, str | None] = {}
        place_cache: dict[str, str | None] = {}
        company_cache: dict[str, str | None] = {}
        for i, rec in enumerate(records):
            self.ids.append("" if rec.unique_id is None else str(rec.unique_id))
            first, surname = _clean(rec.first_name), _clean(rec.surname)
            full = _clean(rec.full_name)
            if full and not (first and surname):
                f2, s2 = _split_full_name(full)
                if not first and not surname:
                    first, surname = f2, s2
                elif not surname and s2 and first and _fold(first) != _fold(s2):
                    surname = s2
                elif not first and f2 and surname and _fold(surname) != _fold(f2):
                    first = f2
            if first:
                keys = _name_keys(first)
                if keys:
                    self.fn_e[i], self.fn_l[i] = keys
                    self.fn_id[i] = self._intern(name_ids, keys)
            if surname:
                keys = _name_keys(surname)
                if keys:
                    self.sn_e[i], self.sn_l[i] = keys
                    self.sn_id[i] = self._intern(name_ids, keys)
            raw = _clean(rec.dob)
            if raw:
                self.dob[i] = _parse_dob(raw)
            raw = _clean(rec.email)
            if raw:
                if raw not in email_cache:
                    email_cache[raw] = _norm_email(raw)
                self.email[i] = email_cache[raw]
            raw = _clean(rec.phone)
            if raw:
                if raw not in phone_cache:
                    phone_cache[raw] = _norm_phone(raw)
                self.phone[i] = phone_cache[raw]
            raw = _clean(rec.city)
            if raw:
                if raw not in place_cache:
                    place_cache[raw] = _norm_place(raw)
                self.city[i] = place_cache[raw]
            raw = _clean(rec.state)
            if raw:
                if raw not in place_cache:
                    place_cache[raw] = _norm_place(raw)
                self.state[i] = place_cache[raw]
            raw = _clean(rec.postcode)
            if raw:
                self.postcode[i] = _fold(raw) or None
            raw = _clean(rec.address)
            if raw:
                self.address[i] = _norm_text(raw)
            raw = _clean(rec.company)
            if raw:
                if raw not in company_cache:
                    company_cache[raw] = _norm_company(raw)
                self.company[i] = company_cache[raw]
            raw = _clean(rec.national_id)
            if raw:
                self.national_id[i] = _fold(raw) or None

    def _intern(self, ids: dict[str, int], keys: tuple[str, str]) -> int:
        found = ids.get(keys[0])
        if found is None:
            found = ids[keys[0]] = len(self.name_exact)
            self.name_exact.append(keys[0])
            self.name_latin.append(keys[1])
        return found

    def column(self, name: str) -> list[Any]:
        return getattr(self, name)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------------------

_JW = JaroWinkler.similarity
_LEV = Levenshtein.distance


def _name_level(e1: str, l1: str, e2: str, l2: str) -> int:
    """1 exact, 2 same pinyin / JW>=0.92, 3 JW>=0.85, 4 Levenshtein<=2 or prefix, 5 different."""
    if e1 == e2:
        return 1
    if l1 == l2:
        return 2
    jw = _JW(l1, l2)
    if jw >= 0.92:
        return 2
    if jw >= 0.85:
        return 3
    if _LEV(l1, l2, score_cutoff=2) <= 2:
        return 4
    if min(len(l1), len(l2)) >= 3 and (l1.startswith(l2) or l2.startswith(l1)):
        return 4
    return 5


_NAME_LEVELS = ("null", "exact", "jw>=0.92 or same pinyin", "jw>=0.85", "lev<=2 or prefix", "else")
# how good a level is, to decide whether the swapped alignment of first name / surname is better
_NAME_GOODNESS = (0, 4, 3, 2, 1, -1)


def _dob_level(a: tuple[str, int, int, int], b: tuple[str, int, int, int]) -> int:
    """1 exact, 2 one typo or day/month swapped, 3 two of y/m/d equal, 4 same year, 5 different."""
    sa, ya, ma, da = a
    sb, yb, mb, db = b
    if sa == sb:
        return 1
    if ya == 0 or yb == 0:  # unparsed values: string similarity only
        return 2 if _LEV(sa, sb, score_cutoff=1) <= 1 else 5
    if _LEV(sa, sb, score_cutoff=1) <= 1 or (ya == yb and ma == db and da == mb):
        return 2
    if (ya == yb) + (ma == mb) + (da == db) >= 2:
        return 3
    if ya == yb:
        return 4
    return 5


def _email_level(a: str, b: str) -> int:
    """1 exact, 2 Levenshtein<=2, 3 same local part, 4 local parts JW>=0.88, 5 different."""
    if a == b:
        return 1
    if _LEV(a, b, score_cutoff=2) <= 2:
        return 2
    la, _, _ = a.partition("@")
    lb, _, _ = b.partition("@")
    if la == lb:
        return 3
    if _JW(la, lb) >= 0.88:
        return 4
    return 5


def _place_level(a: str, b: str) -> int:
    """1 exact, 2 JW>=0.92 or Levenshtein<=1, 3 JW>=0.85 or Levenshtein<=2, 4 different."""
    if a == b:
        return 1
    jw = _JW(a, b)
    if jw >= 0.92:
        return 2
    dist = _LEV(a, b, score_cutoff=2)
    if dist <= 1:
        return 2
    if jw >= 0.85 or dist <= 2:
        return 3
    return 4


def _text_level(a: str, b: str) -> int:
    """1 exact, 2 token-set ratio>=90, 3 token-set ratio>=75, 4 different (addresses, companies)."""
    if a == b:
        return 1
    score = fuzz.token_set_ratio(a, b, score_cutoff=75)
    if score >= 90:
        return 2
    if score >= 75:
        return 3
    return 4


def _postcode_level(a: str, b: str) -> int:
    """1 exact, 2 one edit, 3 same first three characters, 4 different."""
    if a == b:
        return 1
    if _LEV(a, b, score_cutoff=1) <= 1:
        return 2
    if len(a) >= 3 and a[:3] == b[:3]:
        return 3
    return 4


def _phone_level(a: str, b: str) -> int:
    """1 exact E.164, 2 same last 8 digits, 3 one edit, 4 different."""
    if a == b:
        return 1
    if len(a) >= 8 and len(b) >= 8 and a[-8:] == b[-8:]:
        return 2
    if _LEV(a, b, score_cutoff=1) <= 1:
        return 3
    return 4


def _exact_level(a: str, b: str) -> int:
    """1 exact, 2 one edit, 3 different."""
    if a == b:
        return 1
    if _LEV(a, b, score_cutoff=1) <= 1:
        return 2
    return 3


@dataclass(frozen=True, slots=True)
class _Comparison:
    name: str
    column: str  # column of _Prepared holding the compared value
    levels: tuple[str, ...]  # level names, index 0 = "null"
    func: Callable[[Any, Any], int] | None  # None = compared by a dedicated _Engine method
    tf: bool = False  # term-frequency adjust the exact level


_ALL_COMPARISONS: tuple[_Comparison, ...] = (
    _Comparison("first_name", "fn_e", _NAME_LEVELS, None, tf=True),
    _Comparison("surname", "sn_e", _NAME_LEVELS, None, tf=True),
    _Comparison(
        "dob",
        "dob",
        ("null", "exact", "one typo or day/month swap", "two of y/m/d", "same year", "else"),
        _dob_level,
    ),
    _Comparison(
        "email",
        "email",
        ("null", "exact", "lev<=2", "same local part", "local part jw>=0.88", "else"),
        None,  # compared in _Engine.email (needs the names)
    ),
    _Comparison("phone", "phone", ("null", "exact", "same last 8 digits", "one edit", "else"), _phone_level),
    _Comparison("national_id", "national_id", ("null", "exact", "one edit", "else"), _exact_level),
    _Comparison("city", "city", ("null", "exact", "jw>=0.92", "jw>=0.85", "else"), _place_level, tf=True),
    _Comparison("state", "state", ("null", "exact", "jw>=0.92", "jw>=0.85", "else"), _place_level),
    _Comparison(
        "postcode", "postcode", ("null", "exact", "one edit", "same prefix", "else"), _postcode_level, tf=True
    ),
    _Comparison("address", "address", ("null", "exact", "tokens>=90", "tokens>=75", "else"), _text_level),
    _Comparison(
        "company", "company", ("null", "exact", "tokens>=90", "tokens>=75", "else"), _text_level, tf=True
    ),
)

_BITS = 3  # bits per comparison in a packed comparison vector (levels 0..7)
_MASK = (1 << _BITS) - 1


def _decode(code: int, k: int) -> list[int]:
    return [(code >> (_BITS * c)) & _MASK for c in range(k)]


# --------------------------------------------------------------------------------------------------
# Blocking rules
# --------------------------------------------------------------------------------------------------


_KeyColumns = tuple[array, array]  # per record: first key, second key (0 = none)


def _single_keys(values: Sequence[Any]) -> _KeyColumns:
    """One key per record: the value itself (hashed)."""
    first = array("q", [(hash(v) or 1) if v is not None else 0 for v in values])
    return first, array("q", bytes(8 * len(values)))


def _combined_keys(values: Sequence[Any], options: Sequence[tuple[str, ...]]) -> _KeyColumns:
    """A value combined with each of (at most two) alternatives, e.g. dob + either name initial."""
    n = len(values)
    first, second = array("q", bytes(8 * n)), array("q", bytes(8 * n))
    for i, (value, alternatives) in enumerate(zip(values, options, strict=True)):
        if value is None or not alternatives:
            continue
        if len(alternatives) == 1:
            first[i] = hash((value, alternatives[0])) or 1
        else:
            a, b = sorted((hash((value, alternatives[0])) or 1, hash((value, alternatives[1])) or 1))
            first[i], second[i] = a, b
    return first, second


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    keys: Callable[[], _KeyColumns]  # computed only when the rule is used


def _blocking_rules(p: _Prepared) -> list[_Rule]:
    """Blocking rules: each gives every record at most two keys (names are order-independent).

    Keys are 64-bit hashes kept in flat arrays (light for a million records); a hash collision
    would only add a candidate pair or, at worst, skip one.
    """
    n = p.n
    name_sx: list[tuple[str, ...]] = []
    name_initials: list[tuple[str, ...]] = []
    name_prefix: list[tuple[str, ...]] = []
    sx_pair: list[Any] = [None] * n
    sx_other_initial: list[tuple[str, ...]] = []
    for i in range(n):
        first, surname = p.fn_l[i], p.sn_l[i]
        parts = [v for v in (first, surname) if v]
        sx = tuple(dict.fromkeys(_soundex(v) for v in parts))
        name_sx.append(sx)
        name_initials.append(tuple(dict.fromkeys(v[0] for v in parts)))
        name_prefix.append(tuple(dict.fromkeys(v[:3] for v in parts)))
        if first and surname:
            sx_pair[i] = "|".join(sorted((_soundex(first), _soundex(surname))))
            sx_other_initial.append((f"{_soundex(first)}:{surname[0]}", f"{_soundex(surname)}:{first[0]}"))
        else:
            sx_other_initial.append(())
    dob = [d[0] if d else None for d in p.dob]
    year = [d[0][:4] if d and d[1] else None for d in p.dob]
    monthday = [d[0][4:] if d and d[1] else None for d in p.dob]
    email, phone = p.email, p.phone
    local = [e.partition("@")[0] if e and len(e.partition("@")[0]) >= 3 else None for e in email]
    prefix = [e[:4] if e and len(e.partition("@")[0]) >= 4 else None for e in email]
    domain = [e.partition("@")[2] or None if e else None for e in email]
    last8 = [v[-8:] if v and len(v) >= 8 else None for v in phone]
    every = [""] * n
    return [
        _Rule("email", lambda: _single_keys(email)),
        _Rule("phone", lambda: _single_keys(phone)),
        _Rule("national_id", lambda: _single_keys(p.national_id)),
        _Rule("dob+name_initial", lambda: _combined_keys(dob, name_initials)),
        _Rule(
            "dob+city",
            lambda: _single_keys([(d, c) if d and c else None for d, c in zip(dob, p.city, strict=True)]),
        ),
        _Rule("name_soundex_pair", lambda: _single_keys(sx_pair)),
        _Rule("name_soundex+other_initial", lambda: _combined_keys(every, sx_other_initial)),
        _Rule("name_soundex+year", lambda: _combined_keys(year, name_sx)),
        _Rule("name_soundex+month_day", lambda: _combined_keys(monthday, name_sx)),
        _Rule("email_local_part", lambda: _single_keys(local)),
        _Rule("email_prefix+name_initial", lambda: _combined_keys(prefix, name_initials)),
        _Rule("email_domain+name_soundex", lambda: _combined_keys(domain, name_sx)),
        _Rule("city+name_prefix", lambda: _combined_keys(p.city, name_prefix)),
        _Rule("postcode+name_initial", lambda: _combined_keys(p.postcode, name_initials)),
        _Rule("company+name_soundex", lambda: _combined_keys(p.company, name_sx)),
        _Rule("phone_last8", lambda: _single_keys(last8)),
        _Rule("dob", lambda: _single_keys(dob)),
    ]


# --------------------------------------------------------------------------------------------------
# Pair generation and comparison (possibly in worker processes)
# --------------------------------------------------------------------------------------------------


def _rule_cap(sizes: list[int], block_cap: int, budget: int) -> int:
    """Largest block size such that the blocks up to that size make at most ``budget`` pairs.

    Keys shared by very many records carry little information and cost quadratically, so a rule
    that is not selective on this data set loses its largest blocks first.
    """
    by_size = Counter(s for s in sizes if s > 1)
    cap, total = 1, 0
    for size in sorted(by_size):
        if size > block_cap:
            break
        total += by_size[size] * size * (size - 1) // 2
        if total > budget:
            break
        cap = size
    return cap


def _smooth(counts: Sequence[float], prior: Sequence[float], strength: float) -> list[float]:
    """Normalise the non-null levels of expected counts, shrunk towards ``prior``.

    ``strength`` is the prior's weight in pairs: negligible on real data, decisive on a handful of
    records where frequencies would otherwise be 0 or 1.
    """
    levels = len(counts) - 1
    total = sum(counts[1:])
    return [0.0] + [(counts[lv] + strength * prior[lv]) / (total + strength) for lv in range(1, levels + 1)]


def _prior_m(levels: int) -> list[float]:
    """Generic m before any data: agreement is likely for a match (decays from exact to "else")."""
    raw = [0.0] + [0.5**lv for lv in range(levels)]
    raw[levels] = 0.05
    total = sum(raw)
    return [x / total for x in raw]


def _prior_u(levels: int) -> list[float]:
    """Generic u before any data: two different people rarely agree on anything."""
    raw = [0.0, 0.002] + [0.003] * (levels - 2)
    raw.append(1.0 - sum(raw))
    return raw


_M_PRIOR_PAIRS = 3.0
_U_PRIOR_PAIRS = 20.0


def _training_sessions(p: _Prepared) -> list[tuple[str, tuple[str, ...], tuple[str, ...], list[Any]]]:
    """EM training sessions: (name, key comparisons, comparisons left out, key column).

    A session's pairs share the key, so the key's comparisons are left out, and so are those
    correlated with it even between different people (e-mail local parts are built from names,
    a national id embeds the date of birth, a postcode determines the city).
    """
    names = [f"{a}|{b}" if a and b else None for a, b in zip(p.fn_e, p.sn_e, strict=True)]
    places = ("postcode", "city", "state", "address")
    return [
        ("dob", ("dob",), ("dob", "national_id"), [d[0] if d else None for d in p.dob]),
        ("name", ("first_name", "surname"), ("first_name", "surname", "email"), names),
        ("email", ("email",), ("email", "first_name", "surname"), p.email),
        ("phone", ("phone",), ("phone",), p.phone),
        ("national_id", ("national_id",), ("national_id", "dob"), p.national_id),
        ("postcode", ("postcode",), places, p.postcode),
    ]


def _sample_block_pairs(blocks: list[list[int]], limit: int, rng: random.Random) -> list[tuple[int, int]]:
    """All pairs within the blocks, or ``limit`` of them drawn uniformly."""
    sizes = [len(b) * (len(b) - 1) // 2 for b in blocks]
    total = sum(sizes)
    if total <= limit:
        return [(b[x], b[y]) for b in blocks for x in range(len(b)) for y in range(x + 1, len(b))]
    cumulative = list(itertools.accumulate(sizes))
    chosen = rng.choices(blocks, cum_weights=cumulative, k=limit)
    return [tuple(rng.sample(b, 2)) for b in chosen]  # type: ignore[misc]


class _Engine:
    """Compares record pairs of one prepared data set with a fixed list of comparisons."""

    def __init__(self, prepared: _Prepared, comparisons: Sequence[_Comparison]) -> None:
        self.p = prepared
        self.comparisons = tuple(comparisons)
        names = [c.name for c in self.comparisons]
        self.fn_pos = names.index("first_name") if "first_name" in names else -1
        self.sn_pos = names.index("surname") if "surname" in names else -1
        self.email_pos = names.index("email") if "email" in names else -1
        self.name_count = max(1, len(prepared.name_exact))
        self.name_cache: dict[int, int] = {}
        self.simple = [
            (prepared.column(c.column), c.func, _BITS * k)
            for k, c in enumerate(self.comparisons)
            if c.func is not None
        ]

        self.vector: Callable[[int, int], int] = self._build_vector()

    def _build_vector(self) -> Callable[[int, int], int]:
        """The comparison function (i, j) -> packed levels, with everything it needs in locals."""
        p = self.p
        simple = tuple(self.simple)
        fn_id, sn_id, exact, latin = p.fn_id, p.sn_id, p.name_exact, p.name_latin
        fn_l, sn_l, emails = p.fn_l, p.sn_l, p.email
        fn_shift = _BITS * self.fn_pos if self.fn_pos >= 0 else -1
        sn_shift = _BITS * self.sn_pos if self.sn_pos >= 0 else -1
        email_shift = _BITS * self.email_pos if self.email_pos >= 0 else -1
        has_names = fn_shift >= 0 or sn_shift >= 0
        count = self.name_count
        cache = self.name_cache
        goodness = _NAME_GOODNESS
        name_level, email_level, non_alpha = _name_level, _email_level, _NON_ALPHA_RE.sub

        def level(a: int, b: int) -> int:
            if a == b:
                return 1
            key = a * count + b if a < b else b * count + a
            found = cache.get(key)
            if found is None:
                if len(cache) > 2_000_000:
                    cache.clear()
                found = cache[key] = name_level(exact[a], latin[a], exact[b], latin[b])
            return found

        def vector(i: int, j: int) -> int:
            code = 0
            for col, func, shift in simple:
                a = col[i]
                if a is not None:
                    b = col[j]
                    if b is not None:
                        code |= func(a, b) << shift
            if email_shift >= 0:
                a, b = emails[i], emails[j]
                if a is not None and b is not None:
                    lv = email_level(a, b)
                    if lv == 3 or lv == 4:
                        # a local part spelled from the names at another domain ("john.wilson@163.com"
                        # vs "john.wilson@gmail.com") repeats what the names say: no evidence
                        local = non_alpha("", a.partition("@")[0])
                        for part in (sn_l[i], sn_l[j], fn_l[i], fn_l[j]):
                            if part and len(part) >= 2 and part in local:
                                lv = 0
                                break
                    code |= lv << email_shift
            if has_names:
                f1, s1, f2, s2 = fn_id[i], sn_id[i], fn_id[j], sn_id[j]
                lf = level(f1, f2) if f1 >= 0 and f2 >= 0 else 0
                ls = level(s1, s2) if s1 >= 0 and s2 >= 0 else 0
                if not (0 < lf < 3 and 0 < ls < 3):
                    # first name and surname swapped?
                    xf = level(f1, s2) if f1 >= 0 and s2 >= 0 else 0
                    xs = level(s1, f2) if s1 >= 0 and f2 >= 0 else 0
                    if (0 < xf < 3 or 0 < xs < 3) and goodness[xf] + goodness[xs] > goodness[lf] + goodness[
                        ls
                    ]:
                        lf, ls = xf, xs
                if fn_shift >= 0:
                    code |= lf << fn_shift
                if sn_shift >= 0:
                    code |= ls << sn_shift
            return code

        return vector

    def block_pairs(
        self,
        blocks: Iterable[tuple[int, int, Sequence[int]]],
        rule_keys: Sequence[tuple[array, array]],
        score: Callable[[int, int, int], float] | None = None,
    ) -> tuple[array, array, array, array]:
        """Compare (and score) all pairs of the given blocks (rule, key, members).

        A pair is produced only by the first rule, and within it by the smallest key, that it
        shares, so the union of the rules holds each pair once without a global set of pairs.
        ``rule_keys[r]`` holds each record's (at most two) keys of rule r, 0 for none.
        """
        left, right, codes, scores = array("i"), array("i"), array("q"), array("d")
        vector = self.vector
        for rule, key, members in blocks:
            earlier = rule_keys[:rule]
            own1, own2 = rule_keys[rule]
            m = len(members)
            for a in range(m - 1):
                i = members[a]
                checks = []
                for k1, k2 in earlier:
                    x1 = k1[i]
                    if x1:
                        checks.append((k1, k2, x1, k2[i]))
                x1 = own1[i]
                if x1 and x1 < key:  # keys are sorted: the pair also shares a smaller key of this rule?
                    checks.append((own1, own2, x1, 0))
                for b in range(a + 1, m):
                    j = members[b]
                    seen = False
                    for k1, k2, x1, x2 in checks:
                        y1 = k1[j]
                        if y1 and y1 in (x1, x2):
                            seen = True
                            break
                        y2 = k2[j]
                        if y2 and y2 in (x1, x2):
                            seen = True
                            break
                    if seen:
                        continue
                    code = vector(i, j)
                    left.append(i)
                    right.append(j)
                    codes.append(code)
                    if score is not None:
                        scores.append(score(i, j, code))
        return left, right, codes, scores


_WORKER_STATE: dict[str, Any] = {}


def _worker_run(shard: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Compare the blocks whose indices are in ``shard`` (state inherited through fork)."""
    indices = array("i")
    indices.frombytes(shard)
    engine: _Engine = _WORKER_STATE["engine"]
    blocks = _WORKER_STATE["blocks"]
    arrays = engine.block_pairs(
        (blocks[x] for x in indices), _WORKER_STATE["rule_keys"], _WORKER_STATE["score"]
    )
    return tuple(a.tobytes() for a in arrays)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------
# The matcher
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Session:
    """Pairs sharing one key, aggregated by comparison vector, for EM training."""

    name: str
    key_comps: tuple[int, ...]  # comparisons equal by construction (for λ)
    include: tuple[bool, ...]  # comparisons EM may learn from in this session
    patterns: Counter[int]  # comparison vector -> number of pairs
    key_ratio: float  # P(key agrees) / P(both records have the key)


@dataclass(slots=True)
class _Candidates:
    left: array  # record index i
    right: array  # record index j > i
    codes: array  # packed comparison levels
    scores: array  # match log-odds (empty until scored)


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class Matcher:
    """Fellegi-Sunter matcher whose parameters are estimated on the records themselves (EM).

    ``fit(records)`` learns the model, ``predict_pairs(records)`` returns the linked pairs with
    their probability and a per-field explanation, ``clusters(pairs)`` groups them into entities.

    Parameters (the defaults suit anything from a few records to a million):

    - ``block_cap``: blocking keys shared by more records than this never make pairs.
    - ``pairs_per_record_per_rule`` / ``min_pairs_per_rule``: pair budget of each blocking rule
      (``max(min, per_record * n)``); the largest blocks of a rule are dropped to stay within it.
    - ``u_sample_pairs``: random pairs used to estimate u; ``train_pairs``: pairs sampled per EM
      session; ``max_em_iterations``.
    - ``tf_adjust``: term-frequency adjustment of exact agreements on names, city, postcode, company.
    - ``workers``: processes comparing the candidate pairs (default: all CPUs, at most 8; fork only).
    - ``chain_guard`` / ``max_component_size``: split linked components by average linkage, and
      never let a component grow beyond this size while linking.
    """

    def __init__(
        self,
        *,
        block_cap: int = 500,
        u_sample_pairs: int = 100_000,
        max_em_iterations: int = 200,
        tf_adjust: bool = True,
        workers: int | None = None,
        seed: int = 42,
        chain_guard: bool = True,
        train_pairs: int = 200_000,
        pairs_per_record_per_rule: float = 3.0,
        min_pairs_per_rule: int = 20_000,
        max_component_size: int = 100,
    ) -> None:
        self.max_component_size = max_component_size
        self.pairs_per_record_per_rule = pairs_per_record_per_rule
        self.min_pairs_per_rule = min_pairs_per_rule
        self.train_pairs = train_pairs
        self.block_cap = block_cap
        self.u_sample_pairs = u_sample_pairs
        self.max_em_iterations = max_em_iterations
        self.tf_adjust = tf_adjust
        self.workers = workers
        self.seed = seed
        self.chain_guard = chain_guard
        self.comparisons: tuple[_Comparison, ...] = ()
        self.lam: float = 0.0
        self.m: list[list[float]] = []
        self.u: list[list[float]] = []  # P(level | non-match) on random pairs
        self.threshold: float = 0.5
        self.stats: dict[str, Any] = {}
        self._records_key: int | None = None
        self._prepared: _Prepared | None = None
        self._candidates: _Candidates | None = None
        self._tf: list[tuple[Counter[str], int] | None] = []
        self._rule_names: list[str] = []
        self._fitted = False

    # -- preparation -------------------------------------------------------------------------------

    def _prepare(self, records: Sequence[PersonRecord]) -> _Prepared:
        if (
            self._prepared is not None
            and self._records_key == id(records)
            and self._prepared.n == len(records)
        ):
            return self._prepared
        prepared = _Prepared(records)
        self._prepared, self._records_key, self._candidates = prepared, id(records), None
        return prepared

    def _choose_comparisons(self, p: _Prepared) -> tuple[_Comparison, ...]:
        chosen = []
        for comp in _ALL_COMPARISONS:
            col = p.column(comp.column)
            present = sum(1 for v in col if v is not None)
            if present >= 2:
                chosen.append(comp)
        return tuple(chosen)

    def _term_frequencies(self, p: _Prepared) -> list[tuple[Counter[str], int] | None]:
        """Per term-frequency-adjusted comparison: (records per value, records with a value)."""
        tables: list[tuple[Counter[str], int] | None] = []
        for comp in self.comparisons:
            if not (comp.tf and self.tf_adjust):
                tables.append(None)
                continue
            counts = Counter(v for v in p.column(comp.column) if v is not None)
            tables.append((counts, sum(counts.values())) if counts else None)
        return tables

    def _generate(self, p: _Prepared, *, scored: bool = True) -> _Candidates:
        """Candidate pairs of the blocking rules, compared (and scored) in worker processes."""
        cached = self._candidates
        if (
            cached is not None
            and self._prepared is p
            and (len(cached.scores) == len(cached.codes) or not scored)
        ):
            return cached
        started = time.perf_counter()
        engine = _Engine(p, self.comparisons)
        rule_keys, blocks = self._blocks(p)
        score = self._scorer(p) if scored else None
        workers = self.workers or min(os.cpu_count() or 1, 8)
        total_work = sum(len(m) * (len(m) - 1) // 2 for _, _, m in blocks)
        if workers > 1 and total_work > 200_000 and "fork" in multiprocessing.get_all_start_methods():
            # shards of block indices with balanced numbers of pairs; the blocks themselves reach
            # the workers through fork, not through pickling
            shards = [array("i") for _ in range(workers * 4)]
            loads = [0] * len(shards)
            for x in sorted(range(len(blocks)), key=lambda x: -len(blocks[x][2])):
                k = loads.index(min(loads))
                shards[k].append(x)
                size = len(blocks[x][2])
                loads[k] += size * (size - 1) // 2
            _WORKER_STATE.update(engine=engine, rule_keys=rule_keys, score=score, blocks=blocks)
            left, right, codes, scores = array("i"), array("i"), array("q"), array("d")
            gc.collect()
            gc.freeze()  # keep the collector from touching (and so copying) the parent's objects
            try:
                ctx = multiprocessing.get_context("fork")
                with ctx.Pool(workers) as pool:
                    work = [shard.tobytes() for shard in shards if shard]
                    for lb, rb, cb, sb in pool.imap_unordered(_worker_run, work):
                        left.frombytes(lb)
                        right.frombytes(rb)
                        codes.frombytes(cb)
                        scores.frombytes(sb)
            finally:
                gc.unfreeze()
                _WORKER_STATE.clear()
        else:
            left, right, codes, scores = engine.block_pairs(blocks, rule_keys, score)
        self.stats["blocking_seconds"] = round(time.perf_counter() - started, 3)
        self._candidates = _Candidates(left, right, codes, scores)
        return self._candidates

    def _blocks(self, p: _Prepared) -> tuple[list[tuple[array, array]], list[tuple[int, int, array]]]:
        """Keys of every rule per record (two flat arrays, 0 = none), and the blocks to compare."""
        n = p.n
        rule_budget = max(self.min_pairs_per_rule, int(self.pairs_per_record_per_rule * n))
        caps: dict[str, int] = {}
        rule_keys: list[tuple[array, array]] = []
        blocks: list[tuple[int, int, array]] = []
        names: list[str] = []
        skipped = 0
        for rule in _blocking_rules(p):
            first, second = rule.keys()
            groups: dict[int, list[int]] = defaultdict(list)
            for column in (first, second):
                for i, key in enumerate(column):
                    if key:
                        groups[key].append(i)
            if not groups:
                continue
            cap = _rule_cap([len(m) for m in groups.values()], self.block_cap, rule_budget)
            caps[rule.name] = cap
            r = len(rule_keys)
            names.append(rule.name)
            for key, members in groups.items():
                if len(members) > cap:
                    skipped += 1
                    for i in members:  # this key produced no pairs: later rules must not skip on it
                        if second[i] == key:
                            second[i] = 0
                        elif first[i] == key:
                            first[i], second[i] = second[i], 0
                elif len(members) > 1:
                    blocks.append((r, key, array("i", sorted(members))))
            del groups
            rule_keys.append((first, second))
        self._rule_names = names
        self.stats["block_size_caps"] = caps
        self.stats["skipped_blocks"] = skipped
        return rule_keys, blocks

    # -- estimation --------------------------------------------------------------------------------

    def _estimate_u(self, p: _Prepared) -> list[list[float]]:
        engine = _Engine(p, self.comparisons)
        rng = random.Random(self.seed)
        n = p.n
        k = len(self.comparisons)
        counts = [[0] * len(c.levels) for c in self.comparisons]
        total_pairs = n * (n - 1) // 2
        if total_pairs <= self.u_sample_pairs:
            pairs: Iterable[tuple[int, int]] = ((i, j) for i in range(n) for j in range(i + 1, n))
        else:
            pairs = ((i, j) for i, j in (rng.sample(range(n), 2) for _ in range(self.u_sample_pairs)))
        for i, j in pairs:
            code = engine.vector(i, j)
            for c in range(k):
                counts[c][(code >> (_BITS * c)) & _MASK] += 1
        # the prior keeps unseen agreement levels (e.g. identical e-mails) finite
        return [
            _smooth(counts[c], _prior_u(len(comp.levels) - 1), _U_PRIOR_PAIRS)
            for c, comp in enumerate(self.comparisons)
        ]

    def _default_m(self) -> list[list[float]]:
        return [_prior_m(len(comp.levels) - 1) for comp in self.comparisons]

    def _session_em(
        self,
        patterns: dict[int, int],
        include: Sequence[bool],
        update: Sequence[bool],
        m_start: list[list[float]],
    ) -> tuple[float, list[list[float]], float]:
        """EM with u fixed: returns (λ of these pairs, expected match counts per level, matches).

        Comparisons not in ``include`` are ignored (they are biased by how the pairs were chosen);
        the m of included comparisons not in ``update`` stay fixed.
        """
        comps = self.comparisons
        k = len(comps)
        u = self.u
        active = [c for c in range(k) if include[c]]
        decoded = [
            ([lv if include[c] else 0 for c, lv in enumerate(_decode(code, k))], n)
            for code, n in patterns.items()
        ]
        m = [list(row) for row in m_start]
        lam, total = 0.5, sum(patterns.values())
        m_acc = [[0.0] * len(comp.levels) for comp in comps]
        match_mass = 0.0
        for _ in range(self.max_em_iterations):
            m_acc = [[0.0] * len(comp.levels) for comp in comps]
            match_mass = 0.0
            for levels, count in decoded:
                lm, lu = lam, 1.0 - lam
                for c in active:
                    lv = levels[c]
                    if lv:
                        lm *= m[c][lv]
                        lu *= u[c][lv]
                wm = count * lm / (lm + lu) if lm + lu > 0 else 0.0
                match_mass += wm
                for c in active:
                    m_acc[c][levels[c]] += wm
            new_lam = min(max(match_mass / total, 1e-9), 1 - 1e-9) if total else 1e-9
            delta = abs(new_lam - lam)
            lam = new_lam
            for c in active:
                if update[c]:
                    new_m = _smooth(m_acc[c], _prior_m(len(m_acc[c]) - 1), _M_PRIOR_PAIRS)
                    delta = max(delta, max(abs(a - b) for a, b in zip(new_m, m[c], strict=True)))
                    m[c] = new_m
            if delta < 1e-7:
                break
        return lam, m_acc, match_mass

    def _training_sessions(self, p: _Prepared) -> list[_Session]:
        """Comparison vectors of pairs sharing a key (dob, name, e-mail...), one session per key."""
        comps = self.comparisons
        k = len(comps)
        names = [c.name for c in comps]
        engine = _Engine(p, comps)
        rng = random.Random(self.seed + 1)
        total_pairs = p.n * (p.n - 1) / 2 or 1.0
        sessions: list[_Session] = []
        for session, key_fields, left_out, column in _training_sessions(p):
            key_comps = tuple(names.index(f) for f in key_fields if f in names)
            if len(key_comps) != len(key_fields):
                continue
            excluded = {names.index(f) for f in left_out if f in names}
            include = tuple(c not in excluded for c in range(k))
            if not any(include):
                continue
            groups: dict[Any, list[int]] = defaultdict(list)
            for i, key in enumerate(column):
                if key is not None:
                    groups[key].append(i)
            blocks = [g for g in groups.values() if 1 < len(g) <= self.block_cap]
            agreeing = sum(len(g) * (len(g) - 1) // 2 for g in blocks)
            if agreeing < 3:
                continue
            patterns = Counter(
                engine.vector(i, j) for i, j in _sample_block_pairs(blocks, self.train_pairs, rng)
            )
            present = sum(1 for key in column if key is not None) / p.n
            # P(key agrees) / P(both records have the key), to compare with Π m(exact)
            sessions.append(
                _Session(session, key_comps, include, patterns, agreeing / total_pairs / present**2)
            )
        return sessions

    def _estimate_m_and_lambda(self, p: _Prepared, sessions: list[_Session]) -> None:
        """m by EM (u fixed) on each session, leaving out the fields tied to the session's key.

        Under conditional independence, non-matching pairs that share a date of birth look like
        random pairs on every other field, so the u estimated on random pairs applies to them and
        EM can separate matches from non-matches; each session teaches the m of the other fields.
        The prior λ (probability that two random records match) follows from a session's own
        λ_S: λ = λ_S · P(key agrees) / P(key agrees | match).
        """
        k = len(self.comparisons)
        m = self._default_m()
        pooled = [[0.0] * len(comp.levels) for comp in self.comparisons]
        estimated = [False] * k
        used: list[tuple[_Session, float]] = []
        for session in sessions:
            lam_s, m_acc, mass = self._session_em(session.patterns, session.include, session.include, m)
            if mass < 2:
                continue
            for c in range(k):
                if session.include[c]:
                    for lv in range(1, len(m_acc[c])):
                        pooled[c][lv] += m_acc[c][lv]
                    estimated[c] = estimated[c] or sum(m_acc[c][1:]) > 0
            used.append((session, lam_s))
            self.stats.setdefault("training_sessions", {})[session.name] = {
                "pairs": sum(session.patterns.values()),
                "lambda": round(lam_s, 6),
            }
        for c in range(k):
            if estimated[c]:
                m[c] = _smooth(pooled[c], _prior_m(len(pooled[c]) - 1), _M_PRIOR_PAIRS)
        if not all(estimated):
            # fields no session could teach: EM on the candidate pairs, other m fixed
            patterns = Counter(self._generate(p, scored=False).codes)
            update = [not e for e in estimated]
            _, m_acc, _ = self._session_em(patterns, [True] * k, update, m)
            for c in range(k):
                if update[c]:
                    m[c] = _smooth(m_acc[c], _prior_m(len(m_acc[c]) - 1), _M_PRIOR_PAIRS)
        self.m = m
        total_pairs = p.n * (p.n - 1) / 2 or 1.0
        estimates = []
        for session, lam_s in used:
            p_key_match = math.prod(m[c][1] for c in session.key_comps)
            if p_key_match > 0:
                estimates.append(lam_s * session.key_ratio / p_key_match)
        if estimates:
            lam = statistics.median(estimates)
        else:
            # no usable session: assume the candidate pairs hold (almost) all matches
            patterns = Counter(self._generate(p, scored=False).codes)
            _, _, mass = self._session_em(patterns, [True] * k, [False] * k, m)
            lam = mass / total_pairs
        self.lam = min(max(lam, 1.0 / total_pairs), 0.5)
        self.stats["lambda_estimates"] = [round(x, 9) for x in estimates]

    def _u_without_matches(self, u_random: list[list[float]]) -> list[list[float]]:
        """Remove the expected share of true matches (λ · m) from u measured on random pairs.

        Negligible on big files, but in a small file full of duplicates a fair part of the random
        pairs that agree exactly are in fact the same person.
        """
        lam = self.lam
        out = []
        for c, row in enumerate(u_random):
            cleaned = [0.0] + [
                max((row[lv] - lam * self.m[c][lv]) / (1 - lam), 0.1 * row[lv]) for lv in range(1, len(row))
            ]
            total = sum(cleaned)
            out.append([x / total for x in cleaned])
        return out

    def fit(self, records: Sequence[PersonRecord]) -> Matcher:
        """Estimate u on random pairs, then m and λ by EM; also compares and scores the candidates."""
        started = time.perf_counter()
        p = self._prepare(records)
        prepared = time.perf_counter()
        self._fit_prepared(p)
        self.stats["prepare_seconds"] = round(prepared - started, 3)
        self.stats["fit_seconds"] = round(time.perf_counter() - started, 3)
        return self

    def _fit_prepared(self, p: _Prepared) -> None:
        started = time.perf_counter()
        self.stats = {}
        if self._prepared is not p:
            self._prepared, self._records_key = p, None
        self.comparisons = self._choose_comparisons(p)
        self._candidates = None
        self._tf = self._term_frequencies(p)
        t_u = time.perf_counter()
        self.u = self._estimate_u(p)
        self.stats["u_seconds"] = round(time.perf_counter() - t_u, 3)
        t_m = time.perf_counter()
        sessions = self._training_sessions(p)
        u_random = self.u
        for _ in range(3):  # u depends on λ and m, which depend on u: a few rounds settle it
            self._estimate_m_and_lambda(p, sessions)
            self.u = self._u_without_matches(u_random)
        self.stats["em_seconds"] = round(time.perf_counter() - t_m, 3)
        cands = self._candidates
        if cands is not None:  # generated unscored for a fallback estimation: score them now
            score = self._scorer(p)
            left, right = cands.left, cands.right
            cands.scores = array("d", (score(left[x], right[x], code) for x, code in enumerate(cands.codes)))
        else:
            cands = self._generate(p)
        self.stats["candidate_pairs"] = len(cands.codes)
        self.stats["fit_seconds"] = round(time.perf_counter() - started, 3)
        self._fitted = True

    # -- scoring -----------------------------------------------------------------------------------

    def _weights(self) -> tuple[list[list[float]], float]:
        """log Bayes factors per comparison level (natural log) and the prior log-odds."""
        table = []
        for c in range(len(self.comparisons)):
            row = [0.0]
            for lv in range(1, len(self.m[c])):
                row.append(math.log(self.m[c][lv] / self.u[c][lv]))
            table.append(row)
        return table, _logit(self.lam)

    def _scorer(self, p: _Prepared) -> Callable[[int, int, int], float]:
        """Function (i, j, comparison vector) -> match log-odds, term-frequency adjusted.

        An exact agreement on value v is worth m / u(v) instead of m / u.  u(v), the share of the
        *other* N - 2 records holding v, is estimated with one pseudo-occurrence at the average rate
        u: u(v) = (count(v) - 1) / (1 / u + N - 2).  So the pair's own agreement does not make its
        value look common, and the adjustment log(u / u(v)) = log((1 + u (N - 2)) / (count(v) - 1))
        vanishes for a value seen only twice in a small file.
        """
        weights, prior = self._weights()
        k = len(self.comparisons)
        adjustments: list[tuple[int, list[Any], dict[str, float]]] = []
        for c, comp in enumerate(self.comparisons):
            table = self._tf[c] if self._tf else None
            if table is None:
                continue
            counts, total = table
            scale = 1.0 + self.u[c][1] * max(total - 2, 0)
            adjust = {value: math.log(scale / (n - 1)) for value, n in counts.items() if n > 1}
            adjustments.append((c, p.column(comp.column), adjust))
        cache: dict[int, tuple[float, tuple[tuple[list[Any], dict[str, float]], ...]]] = {}

        def score(i: int, j: int, code: int) -> float:
            entry = cache.get(code)
            if entry is None:
                levels = _decode(code, k)
                base = prior + sum(weights[c][lv] for c, lv in enumerate(levels))
                exact = tuple((col, adjust) for c, col, adjust in adjustments if levels[c] == 1)
                entry = cache[code] = (base, exact)
            base, exact = entry
            for col, adjust in exact:
                value = col[i]
                if value == col[j]:  # (not when exact through a first name / surname swap)
                    base += adjust.get(value, 0.0)
            return base

        return score

    @staticmethod
    def _auto_threshold(scores: Iterable[float]) -> float:
        """Probability threshold maximising the expected F1 under the model's own posterior.

        Linking the pairs above t is expected to find Σ p true matches among them, out of Σ p over
        all candidates; the log-odds are binned (width 0.05) so this costs one pass.
        """
        width = 0.05
        counts: Counter[int] = Counter(math.floor(s / width) for s in scores if s > -20.0)
        if not counts:
            return 0.5
        bins = sorted(counts, reverse=True)
        probs = {b: _sigmoid((b + 0.5) * width) for b in bins}
        expected = sum(counts[b] * probs[b] for b in bins)
        best_f1, best_t, linked, found = -1.0, 0.5, 0, 0.0
        for b in bins:
            linked += counts[b]
            found += counts[b] * probs[b]
            f1 = 2 * found / (linked + expected)
            if f1 > best_f1:
                best_f1, best_t = f1, _sigmoid(b * width)
        return min(max(best_t, 0.05), 0.95)

    def _explain(
        self, code: int, tf_extra: float, weights: list[list[float]], prior: float
    ) -> dict[str, dict[str, Any]]:
        """Per field: level name and weight in bits; prior + all weights = match log2-odds."""
        bits = 1 / math.log(2)
        out: dict[str, dict[str, Any]] = {}
        for c, comp in enumerate(self.comparisons):
            lv = (code >> (_BITS * c)) & _MASK
            out[comp.name] = {"level": comp.levels[lv], "weight": round(weights[c][lv] * bits, 3)}
        if tf_extra:
            out["term_frequency"] = {"level": "rare or common value", "weight": round(tf_extra * bits, 3)}
        out["prior"] = {"level": "before comparing", "weight": round(prior * bits, 3)}
        return out

    def predict_pairs(
        self, records: Sequence[PersonRecord], threshold: float | None = None, *, explain: bool = True
    ) -> list[tuple[int, int, float, dict[str, Any]]]:
        """Candidate pairs (i, j) with match probability >= threshold, plus an explanation by field.

        ``threshold=None`` picks the threshold maximising the model's expected F1.  ``i`` and ``j``
        are positions in ``records``.  The explanation maps each comparison to its level name and
        its weight in bits (log2 Bayes factor; a missing value weighs 0), plus "term_frequency"
        (rare or common exact values) and "prior": their sum is the log2-odds of ``prob``.
        """
        if not self._fitted:
            raise RuntimeError("Matcher.fit() must be called first")
        fitted = self._prepared
        p = self._prepare(records)
        if p is not fitted:
            self._tf = self._term_frequencies(p)
        return self._predict(p, threshold, explain=explain)

    def _predict(
        self, p: _Prepared, threshold: float | None, *, explain: bool
    ) -> list[tuple[int, int, float, dict[str, Any]]]:
        cands = self._generate(p)
        scores = cands.scores
        if threshold is None:
            threshold = self._auto_threshold(scores)
        self.threshold = threshold
        cut = _logit(threshold)
        weights, prior = self._weights()
        k = len(self.comparisons)
        left, right, codes = cands.left, cands.right, cands.codes
        out: list[tuple[int, int, float, dict[str, Any]]] = []
        for idx, score in enumerate(scores):
            if score >= cut:
                explanation: dict[str, Any] = {}
                if explain:
                    code = codes[idx]
                    base = prior + sum(weights[c][lv] for c, lv in enumerate(_decode(code, k)))
                    explanation = self._explain(code, score - base, weights, prior)
                out.append((left[idx], right[idx], _sigmoid(score), explanation))
        return out

    def clusters(
        self,
        pairs: Sequence[tuple[Any, ...]],
        ids: Sequence[Any] | None = None,
        *,
        guard: bool | None = None,
        threshold: float | None = None,
    ) -> list[list[Any]]:
        """Group linked pairs ``(i, j, prob, ...)`` into entities (records never linked are left out).

        Without the guard: connected components.  With the chaining guard (default), components are
        split again by average linkage on the full matrix of pairwise probabilities (pairs that were
        not candidates are scored by the model, using the records of the last ``predict_pairs``
        call), so two groups are merged only if, on average, their members are more likely the same
        person than the threshold.  Returns lists of ``ids[i]`` (or of indices without ``ids``).
        """
        entities = [members for members, _ in self._cluster(pairs, guard=guard, threshold=threshold)]
        if ids is not None:
            return [[ids[i] for i in members] for members in entities]
        return entities

    def _cluster(
        self, pairs: Sequence[tuple[Any, ...]], *, guard: bool | None = None, threshold: float | None = None
    ) -> list[tuple[list[int], dict[tuple[int, int], float]]]:
        """Entities as (sorted members, {(i, j): probability of being the same person})."""
        guard = self.chain_guard if guard is None else guard
        cut = self.threshold if threshold is None else threshold
        direct: dict[tuple[int, int], float] = {}
        for pair in pairs:
            i, j, prob = int(pair[0]), int(pair[1]), float(pair[2])
            if i != j:
                key = (i, j) if i < j else (j, i)
                direct[key] = max(prob, direct.get(key, 0.0))
        pieces = _bounded_components(direct, self.max_component_size if guard else None)
        p = self._prepared
        scorer = engine = None
        if guard and p is not None and self.comparisons:
            engine = _Engine(p, self.comparisons)
            scorer = self._scorer(p)
        out: list[tuple[list[int], dict[tuple[int, int], float]]] = []
        for members in pieces:
            members.sort()
            if not guard or len(members) == 2:
                joined = {}
                for a, i in enumerate(members):
                    for j in members[a + 1 :]:
                        joined[(i, j)] = direct.get((i, j), cut)
                out.append((members, joined))
                continue

            def prob_of(i: int, j: int) -> float:
                known = direct.get((i, j))
                if known is not None:
                    return known
                if scorer is None or engine is None or max(i, j) >= engine.p.n:
                    return 0.0
                return _sigmoid(scorer(i, j, engine.vector(i, j)))

            out.extend(_average_linkage(members, prob_of, cut))
        out.sort()
        return out


def _bounded_components(direct: dict[tuple[int, int], float], max_size: int | None) -> list[list[int]]:
    """Connected components, linking the strongest pairs first and never growing past ``max_size``."""
    parent: dict[int, int] = {}
    size: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for i, j in direct:
        for x in (i, j):
            if x not in parent:
                parent[x], size[x] = x, 1
    for (i, j), _prob in sorted(direct.items(), key=lambda item: -item[1]):
        ri, rj = find(i), find(j)
        if ri == rj:
            continue
        if max_size is not None and size[ri] + size[rj] > max_size:
            continue
        if size[ri] < size[rj]:
            ri, rj = rj, ri
        parent[rj] = ri
        size[ri] += size[rj]
    groups: dict[int, list[int]] = defaultdict(list)
    for x in parent:
        groups[find(x)].append(x)
    return [g for g in groups.values() if len(g) > 1]


def _average_linkage(
    members: list[int], prob_of: Callable[[int, int], float], cut: float
) -> list[tuple[list[int], dict[tuple[int, int], float]]]:
    """Agglomerative clustering of one component: merge while the mean cross probability >= cut.

    Returns the entities with, for each pair inside, the probability that supported it: its direct
    probability if that is higher, else the mean probability of the merge that joined the pair.
    """
    size = len(members)
    prob = [[0.0] * size for _ in range(size)]
    for a in range(size):
        for b in range(a + 1, size):
            prob[a][b] = prob[b][a] = prob_of(members[a], members[b])
    clusters: dict[int, list[int]] = {a: [a] for a in range(size)}
    # sums[a][b]: total probability between clusters a and b (cluster ids are their first index)
    sums: dict[int, dict[int, float]] = {
        a: {b: prob[a][b] for b in range(size) if b != a} for a in range(size)
    }
    joined: dict[tuple[int, int], float] = {}
    while len(clusters) > 1:
        best, best_a, best_b = -1.0, -1, -1
        for a, row in sums.items():
            na = len(clusters[a])
            for b, total in row.items():
                if b > a:
                    mean = total / (na * len(clusters[b]))
                    if mean > best:
                        best, best_a, best_b = mean, a, b
        if best < cut:
            break
        for x in clusters[best_a]:
            for y in clusters[best_b]:
                i, j = members[x], members[y]
                key = (i, j) if i < j else (j, i)
                joined[key] = max(best, prob[x][y])
        clusters[best_a].extend(clusters.pop(best_b))
        row_b = sums.pop(best_b)
        row_a = sums[best_a]
        del row_a[best_b]
        for c, total in row_b.items():
            if c == best_a:
                continue
            row_a[c] += total
            sums[c][best_a] += total
            del sums[c][best_b]
    out = []
    for cluster in clusters.values():
        if len(cluster) < 2:
            continue
        ids = sorted(members[x] for x in cluster)
        pair_probs = {}
        for a, i in enumerate(ids):
            for j in ids[a + 1 :]:
                pair_probs[(i, j)] = joined[(i, j)]
        out.append((ids, pair_probs))
    return out


# --------------------------------------------------------------------------------------------------
# CSV front end
# --------------------------------------------------------------------------------------------------


def _decode_bytes(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def read_people_csv(path: str) -> list[PersonRecord]:
    """Read a CSV of people (UTF-8, UTF-8 with BOM or GB18030); unknown columns are ignored."""
    with open(path, "rb") as fh:
        text = _decode_bytes(fh.read())
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return []
    wanted = {f.name for f in fields(PersonRecord)}
    positions: list[tuple[int, str]] = []
    for pos, name in enumerate(header):
        key = name.strip().lower()
        if key in wanted and key not in {k for _, k in positions}:
            positions.append((pos, key))
    if "unique_id" not in {k for _, k in positions}:
        raise ValueError(f"{path}: a unique_id column is required")
    records: list[PersonRecord] = []
    for row in reader:
        if not row:
            continue
        values: dict[str, str | None] = {}
        for pos, key in positions:
            value = row[pos].strip() if pos < len(row) else ""
            values[key] = value or None
        if values.get("unique_id") is None:
            continue
        records.append(PersonRecord(**values))
    return records


def dedupe_csv(
    in_path: str,
    out_path: str,
    *,
    threshold: float | None = None,
    progress: Callable[[str], Any] | None = None,
    matcher: Matcher | None = None,
) -> dict[str, Any]:
    """Deduplicate a CSV of people and write ``unique_id_l,unique_id_r,score`` for each matched pair.

    Rows are all pairs of records within each predicted entity (after clustering), with
    ``unique_id_l < unique_id_r`` as strings and ``score`` the probability that supported the pair:
    its own match probability, or the mean probability between the two groups whose merge joined it
    when that is higher.  The returned statistics include the learned m/u per comparison level.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def report(message: str) -> None:
        if progress is not None:
            progress(message)

    records = read_people_csv(in_path)
    n_records = len(records)
    timings["read"] = time.perf_counter() - started
    report(f"read {n_records} records")
    mark = time.perf_counter()
    prepared = _Prepared(records)
    del records  # the normalised columns are all that is needed from here on
    timings["prepare"] = time.perf_counter() - mark
    matcher = matcher or Matcher()
    matcher._fit_prepared(prepared)
    report(f"fitted on {matcher.stats.get('candidate_pairs', 0)} candidate pairs")
    mark = time.perf_counter()
    pairs = matcher._predict(prepared, threshold, explain=False)
    timings["predict"] = time.perf_counter() - mark
    report(f"{len(pairs)} linked pairs at threshold {matcher.threshold:.3f}")
    mark = time.perf_counter()
    entities = matcher._cluster(pairs)
    timings["cluster"] = time.perf_counter() - mark
    mark = time.perf_counter()
    ids = prepared.ids
    rows = []
    for _members, pair_probs in entities:
        for (i, j), prob in pair_probs.items():
            a, b = ids[i], ids[j]
            if a == b:
                continue
            if b < a:
                a, b = b, a
            rows.append((a, b, prob))
    rows.sort()
    with open(out_path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["unique_id_l", "unique_id_r", "score"])
        for a, b, prob in rows:
            writer.writerow([a, b, f"{prob:.4f}"])
    timings["write"] = time.perf_counter() - mark
    report(f"wrote {len(rows)} pairs to {out_path}")
    for key in ("u_seconds", "em_seconds", "blocking_seconds"):
        timings[key.removesuffix("_seconds")] = matcher.stats.get(key, 0.0)
    params: dict[str, Any] = {"lambda": round(matcher.lam, 6), "threshold": round(matcher.threshold, 4)}
    for c, comp in enumerate(matcher.comparisons):
        params[comp.name] = {
            comp.levels[lv]: {"m": round(matcher.m[c][lv], 6), "u": round(matcher.u[c][lv], 6)}
            for lv in range(1, len(comp.levels))
        }
    return {
        "records": n_records,
        "candidate_pairs": matcher.stats.get("candidate_pairs", 0),
        "linked_pairs": len(pairs),
        "predicted_pairs": len(rows),
        "clusters": len(entities),
        "seconds": round(time.perf_counter() - started, 3),
        "timings": {key: round(value, 3) for key, value in timings.items()},
        "blocking_rules": list(matcher._rule_names),
        "parameters": params,
    }
