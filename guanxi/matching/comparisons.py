"""Field comparisons: each compares two values and yields a *level* (exact, close, fuzzy, else).

Level 0 is "null" (a side is missing: no evidence either way). A pair's levels are packed into
one integer, :data:`BITS` bits per comparison (:func:`decode` unpacks them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler, Levenshtein

_JW = JaroWinkler.similarity
_LEV = Levenshtein.distance


def name_level(e1: str, l1: str, e2: str, l2: str) -> int:
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
NAME_GOODNESS = (0, 4, 3, 2, 1, -1)


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


def email_level(a: str, b: str) -> int:
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
class Comparison:
    name: str
    column: str  # column of _Prepared holding the compared value
    levels: tuple[str, ...]  # level names, index 0 = "null"
    func: Callable[[Any, Any], int] | None  # None = compared by a dedicated method of pairs.Engine
    tf: bool = False  # term-frequency adjust the exact level


ALL_COMPARISONS: tuple[Comparison, ...] = (
    Comparison("first_name", "fn_e", _NAME_LEVELS, None, tf=True),
    Comparison("surname", "sn_e", _NAME_LEVELS, None, tf=True),
    Comparison(
        "dob",
        "dob",
        ("null", "exact", "one typo or day/month swap", "two of y/m/d", "same year", "else"),
        _dob_level,
    ),
    Comparison(
        "email",
        "email",
        ("null", "exact", "lev<=2", "same local part", "local part jw>=0.88", "else"),
        None,  # compared in pairs.Engine (needs the names)
    ),
    Comparison("phone", "phone", ("null", "exact", "same last 8 digits", "one edit", "else"), _phone_level),
    Comparison("national_id", "national_id", ("null", "exact", "one edit", "else"), _exact_level),
    Comparison("city", "city", ("null", "exact", "jw>=0.92", "jw>=0.85", "else"), _place_level, tf=True),
    Comparison("state", "state", ("null", "exact", "jw>=0.92", "jw>=0.85", "else"), _place_level),
    Comparison(
        "postcode", "postcode", ("null", "exact", "one edit", "same prefix", "else"), _postcode_level, tf=True
    ),
    Comparison("address", "address", ("null", "exact", "tokens>=90", "tokens>=75", "else"), _text_level),
    Comparison(
        "company", "company", ("null", "exact", "tokens>=90", "tokens>=75", "else"), _text_level, tf=True
    ),
)

Table = list[list[float]]  # a value per comparison and level (m, u, weights; index 0 = null)

BITS = 3  # bits per comparison in a packed comparison vector (levels 0..7)
MASK = (1 << BITS) - 1


def decode(code: int, k: int) -> list[int]:
    return [(code >> (BITS * c)) & MASK for c in range(k)]
