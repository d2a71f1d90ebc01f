"""Fellegi-Sunter parameters estimated on the data itself, in the spirit of splink.

u = P(level | different people) is estimated on random pairs. m = P(level | same person) is
estimated by EM, u fixed, on pairs sharing a date of birth, a name, an e-mail or a phone, each
session leaving out the fields tied to its key (conditional independence then makes the
non-matches of a session look like random pairs). The prior λ follows from each session's share of
matches: λ = λ_S · P(key agrees) / P(key agrees | match). Small priors on m and u keep a handful
of records from producing frequencies of 0 or 1.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from guanxi.matching.comparisons import BITS, MASK, Comparison, Table, decode
from guanxi.matching.pairs import Engine
from guanxi.matching.records import Prepared


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


def _session_keys(p: Prepared) -> list[tuple[str, tuple[str, ...], tuple[str, ...], list[Any]]]:
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


@dataclass(frozen=True, slots=True)
class Session:
    """Pairs sharing one key, aggregated by comparison vector, for EM training."""

    name: str
    key_comps: tuple[int, ...]  # comparisons equal by construction (for λ)
    include: tuple[bool, ...]  # comparisons EM may learn from in this session
    patterns: Counter[int]  # comparison vector -> number of pairs
    key_ratio: float  # P(key agrees) / P(both records have the key)


def estimate_u(p: Prepared, comparisons: Sequence[Comparison], *, sample_pairs: int, seed: int) -> Table:
    """u on random pairs (all pairs when there are no more than ``sample_pairs``)."""
    engine = Engine(p, comparisons)
    rng = random.Random(seed)
    n = p.n
    k = len(comparisons)
    counts = [[0] * len(c.levels) for c in comparisons]
    total_pairs = n * (n - 1) // 2
    if total_pairs <= sample_pairs:
        pairs: Iterable[tuple[int, int]] = ((i, j) for i in range(n) for j in range(i + 1, n))
    else:
        pairs = ((i, j) for i, j in (rng.sample(range(n), 2) for _ in range(sample_pairs)))
    for i, j in pairs:
        code = engine.vector(i, j)
        for c in range(k):
            counts[c][(code >> (BITS * c)) & MASK] += 1
    # the prior keeps unseen agreement levels (e.g. identical e-mails) finite
    return [
        _smooth(counts[c], _prior_u(len(comp.levels) - 1), _U_PRIOR_PAIRS)
        for c, comp in enumerate(comparisons)
    ]


def session_em(
    comparisons: Sequence[Comparison],
    u: Table,
    patterns: dict[int, int],
    include: Sequence[bool],
    update: Sequence[bool],
    m_start: Table,
    *,
    max_iterations: int,
) -> tuple[float, Table, float]:
    """EM with u fixed: returns (λ of these pairs, expected match counts per level, matches).

    Comparisons not in ``include`` are ignored (they are biased by how the pairs were chosen);
    the m of included comparisons not in ``update`` stay fixed.
    """
    comps = comparisons
    k = len(comps)
    active = [c for c in range(k) if include[c]]
    decoded = [
        ([lv if include[c] else 0 for c, lv in enumerate(decode(code, k))], n) for code, n in patterns.items()
    ]
    m = [list(row) for row in m_start]
    lam, total = 0.5, sum(patterns.values())
    m_acc = [[0.0] * len(comp.levels) for comp in comps]
    match_mass = 0.0
    for _ in range(max_iterations):
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


def training_sessions(
    p: Prepared, comparisons: Sequence[Comparison], *, seed: int, block_cap: int, train_pairs: int
) -> list[Session]:
    """Comparison vectors of pairs sharing a key (dob, name, e-mail...), one session per key."""
    comps = comparisons
    k = len(comps)
    names = [c.name for c in comps]
    engine = Engine(p, comps)
    rng = random.Random(seed + 1)
    total_pairs = p.n * (p.n - 1) / 2 or 1.0
    sessions: list[Session] = []
    for session, key_fields, left_out, column in _session_keys(p):
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
        blocks = [g for g in groups.values() if 1 < len(g) <= block_cap]
        agreeing = sum(len(g) * (len(g) - 1) // 2 for g in blocks)
        if agreeing < 3:
            continue
        patterns = Counter(engine.vector(i, j) for i, j in _sample_block_pairs(blocks, train_pairs, rng))
        present = sum(1 for key in column if key is not None) / p.n
        # P(key agrees) / P(both records have the key), to compare with Π m(exact)
        sessions.append(Session(session, key_comps, include, patterns, agreeing / total_pairs / present**2))
    return sessions


def estimate_m_and_lambda(
    p: Prepared,
    comparisons: Sequence[Comparison],
    u: Table,
    sessions: list[Session],
    *,
    max_iterations: int,
    candidate_codes: Callable[[], Iterable[int]],
    stats: dict[str, Any],
) -> tuple[Table, float]:
    """m by EM (u fixed) on each session, leaving out the fields tied to the session's key; and λ.

    Under conditional independence, non-matching pairs that share a date of birth look like
    random pairs on every other field, so the u estimated on random pairs applies to them and
    EM can separate matches from non-matches; each session teaches the m of the other fields.
    The prior λ (probability that two random records match) follows from a session's own
    λ_S: λ = λ_S · P(key agrees) / P(key agrees | match). ``candidate_codes`` gives the comparison
    vectors of the candidate pairs, used only for what no session could teach.
    """

    def em(patterns: dict[int, int], include: Sequence[bool], update: Sequence[bool], m_start: Table):
        return session_em(comparisons, u, patterns, include, update, m_start, max_iterations=max_iterations)

    k = len(comparisons)
    m = [_prior_m(len(comp.levels) - 1) for comp in comparisons]
    pooled = [[0.0] * len(comp.levels) for comp in comparisons]
    estimated = [False] * k
    used: list[tuple[Session, float]] = []
    for session in sessions:
        lam_s, m_acc, mass = em(session.patterns, session.include, session.include, m)
        if mass < 2:
            continue
        for c in range(k):
            if session.include[c]:
                for lv in range(1, len(m_acc[c])):
                    pooled[c][lv] += m_acc[c][lv]
                estimated[c] = estimated[c] or sum(m_acc[c][1:]) > 0
        used.append((session, lam_s))
        stats.setdefault("training_sessions", {})[session.name] = {
            "pairs": sum(session.patterns.values()),
            "lambda": round(lam_s, 6),
        }
    for c in range(k):
        if estimated[c]:
            m[c] = _smooth(pooled[c], _prior_m(len(pooled[c]) - 1), _M_PRIOR_PAIRS)
    if not all(estimated):
        # fields no session could teach: EM on the candidate pairs, other m fixed
        patterns = Counter(candidate_codes())
        update = [not e for e in estimated]
        _, m_acc, _ = em(patterns, [True] * k, update, m)
        for c in range(k):
            if update[c]:
                m[c] = _smooth(m_acc[c], _prior_m(len(m_acc[c]) - 1), _M_PRIOR_PAIRS)
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
        patterns = Counter(candidate_codes())
        _, _, mass = em(patterns, [True] * k, [False] * k, m)
        lam = mass / total_pairs
    stats["lambda_estimates"] = [round(x, 9) for x in estimates]
    return m, min(max(lam, 1.0 / total_pairs), 0.5)


def u_without_matches(u_random: Table, m: Table, lam: float) -> Table:
    """Remove the expected share of true matches (λ · m) from u measured on random pairs.

    Negligible on big files, but in a small file full of duplicates a fair part of the random
    pairs that agree exactly are in fact the same person.
    """
    out = []
    for c, row in enumerate(u_random):
        cleaned = [0.0] + [
            max((row[lv] - lam * m[c][lv]) / (1 - lam), 0.1 * row[lv]) for lv in range(1, len(row))
        ]
        total = sum(cleaned)
        out.append([x / total for x in cleaned])
    return out
