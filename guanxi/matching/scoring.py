"""Match log-odds of a compared pair, the automatic threshold and the per-field explanation.

A pair's score is the prior log-odds plus one log Bayes factor log(m / u) per comparison level.
Exact agreements on names, city, postcode and company are term-frequency adjusted: a rare surname
is stronger evidence than a common one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from guanxi.matching.comparisons import BITS, MASK, Comparison, Table, decode
from guanxi.matching.records import Prepared

TermFrequencies = list[tuple[Counter[str], int] | None]


def logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def term_frequencies(p: Prepared, comparisons: Sequence[Comparison], *, enabled: bool) -> TermFrequencies:
    """Per term-frequency-adjusted comparison: (records per value, records with a value)."""
    tables: TermFrequencies = []
    for comp in comparisons:
        if not (comp.tf and enabled):
            tables.append(None)
            continue
        counts = Counter(v for v in p.column(comp.column) if v is not None)
        tables.append((counts, sum(counts.values())) if counts else None)
    return tables


def weights(m: Table, u: Table, lam: float) -> tuple[Table, float]:
    """log Bayes factors per comparison level (natural log) and the prior log-odds."""
    table = []
    for c in range(len(m)):
        row = [0.0]
        for lv in range(1, len(m[c])):
            row.append(math.log(m[c][lv] / u[c][lv]))
        table.append(row)
    return table, logit(lam)


def make_scorer(
    p: Prepared, comparisons: Sequence[Comparison], m: Table, u: Table, lam: float, tf: TermFrequencies
) -> Callable[[int, int, int], float]:
    """Function (i, j, comparison vector) -> match log-odds, term-frequency adjusted.

    An exact agreement on value v is worth m / u(v) instead of m / u.  u(v), the share of the
    *other* N - 2 records holding v, is estimated with one pseudo-occurrence at the average rate
    u: u(v) = (count(v) - 1) / (1 / u + N - 2).  So the pair's own agreement does not make its
    value look common, and the adjustment log(u / u(v)) = log((1 + u (N - 2)) / (count(v) - 1))
    vanishes for a value seen only twice in a small file.
    """
    level_weights, prior = weights(m, u, lam)
    k = len(comparisons)
    adjustments: list[tuple[int, list[Any], dict[str, float]]] = []
    for c, comp in enumerate(comparisons):
        table = tf[c] if tf else None
        if table is None:
            continue
        counts, total = table
        scale = 1.0 + u[c][1] * max(total - 2, 0)
        adjust = {value: math.log(scale / (n - 1)) for value, n in counts.items() if n > 1}
        adjustments.append((c, p.column(comp.column), adjust))
    cache: dict[int, tuple[float, tuple[tuple[list[Any], dict[str, float]], ...]]] = {}

    def score(i: int, j: int, code: int) -> float:
        entry = cache.get(code)
        if entry is None:
            levels = decode(code, k)
            base = prior + sum(level_weights[c][lv] for c, lv in enumerate(levels))
            exact = tuple((col, adjust) for c, col, adjust in adjustments if levels[c] == 1)
            entry = cache[code] = (base, exact)
        base, exact = entry
        for col, adjust in exact:
            value = col[i]
            if value == col[j]:  # (not when exact through a first name / surname swap)
                base += adjust.get(value, 0.0)
        return base

    return score


def auto_threshold(scores: Iterable[float]) -> float:
    """Probability threshold maximising the expected F1 under the model's own posterior.

    Linking the pairs above t is expected to find Σ p true matches among them, out of Σ p over
    all candidates; the log-odds are binned (width 0.05) so this costs one pass.
    """
    width = 0.05
    counts: Counter[int] = Counter(math.floor(s / width) for s in scores if s > -20.0)
    if not counts:
        return 0.5
    bins = sorted(counts, reverse=True)
    probs = {b: sigmoid((b + 0.5) * width) for b in bins}
    expected = sum(counts[b] * probs[b] for b in bins)
    best_f1, best_t, linked, found = -1.0, 0.5, 0, 0.0
    for b in bins:
        linked += counts[b]
        found += counts[b] * probs[b]
        f1 = 2 * found / (linked + expected)
        if f1 > best_f1:
            best_f1, best_t = f1, sigmoid(b * width)
    return min(max(best_t, 0.05), 0.95)


def explain(
    comparisons: Sequence[Comparison], code: int, tf_extra: float, level_weights: Table, prior: float
) -> dict[str, dict[str, Any]]:
    """Per field: level name and weight in bits; prior + all weights = match log2-odds."""
    bits = 1 / math.log(2)
    out: dict[str, dict[str, Any]] = {}
    for c, comp in enumerate(comparisons):
        lv = (code >> (BITS * c)) & MASK
        out[comp.name] = {"level": comp.levels[lv], "weight": round(level_weights[c][lv] * bits, 3)}
    if tf_extra:
        out["term_frequency"] = {"level": "rare or common value", "weight": round(tf_extra * bits, 3)}
    out["prior"] = {"level": "before comparing", "weight": round(prior * bits, 3)}
    return out
