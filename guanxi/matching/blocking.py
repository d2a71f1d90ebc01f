"""Blocking: which pairs of records are compared at all.

Candidate pairs come from the union of blocking rules (same e-mail, phone, national id; same date
of birth and a name initial; same phonetic first name and surname, in either order; same phonetic
name and birth year...). Each rule gets a budget of pairs: a rule that is not selective on the
data loses its largest blocks first, so nothing is quadratic. A pair found by an earlier rule is
not generated again by a later one (see ``pairs.Engine.block_pairs``), without any global set of
pairs.
"""

from __future__ import annotations

import functools
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from guanxi.matching.records import Prepared

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


def _blocking_rules(p: Prepared) -> list[_Rule]:
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


RuleKeys = list[tuple[array, array]]  # per rule: each record's (at most two) keys, 0 = none
Block = tuple[int, int, array]  # (rule index, key, sorted member indices)


@dataclass(slots=True)
class Blocks:
    """The blocks to compare, with every rule's keys per record (to skip pairs seen by a rule before)."""

    rule_keys: RuleKeys
    blocks: list[Block]
    rule_names: list[str] = field(default_factory=list)
    caps: dict[str, int] = field(default_factory=dict)  # largest block size kept per rule
    skipped: int = 0  # blocks dropped for being larger than their rule's cap


def build_blocks(p: Prepared, *, block_cap: int, rule_budget: int) -> Blocks:
    """Keys of every rule per record (two flat arrays, 0 = none), and the blocks to compare."""
    out = Blocks([], [])
    for rule in _blocking_rules(p):
        first, second = rule.keys()
        groups: dict[int, list[int]] = defaultdict(list)
        for column in (first, second):
            for i, key in enumerate(column):
                if key:
                    groups[key].append(i)
        if not groups:
            continue
        cap = _rule_cap([len(m) for m in groups.values()], block_cap, rule_budget)
        out.caps[rule.name] = cap
        r = len(out.rule_keys)
        out.rule_names.append(rule.name)
        for key, members in groups.items():
            if len(members) > cap:
                out.skipped += 1
                for i in members:  # this key produced no pairs: later rules must not skip on it
                    if second[i] == key:
                        second[i] = 0
                    elif first[i] == key:
                        first[i], second[i] = second[i], 0
            elif len(members) > 1:
                out.blocks.append((r, key, array("i", sorted(members))))
        del groups
        out.rule_keys.append((first, second))
    return out
