"""From linked pairs to entities: connected components, split again by average linkage.

Linking A-B and B-C does not make A and C the same person. Components are grown strongest pair
first and never past a maximum size, then split by average linkage on all their pairwise
probabilities (the chaining guard): two groups are merged only if, on average, their members are
more likely the same person than the threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

Entity = tuple[list[int], dict[tuple[int, int], float]]  # sorted members, {(i, j): probability}


def cluster_pairs(
    pairs: Sequence[tuple[Any, ...]],
    *,
    cut: float,
    guard: bool,
    max_size: int,
    probability: Callable[[int, int], float] | None = None,
) -> list[Entity]:
    """Entities of linked pairs ``(i, j, prob, ...)`` as (sorted members, {(i, j): probability}).

    Without the guard: connected components, every pair inside at its own probability or ``cut``.
    With it: components of at most ``max_size`` split by average linkage; ``probability(i, j)``
    scores the pairs inside a component that were not linked directly (0 without it).
    """
    direct: dict[tuple[int, int], float] = {}
    for pair in pairs:
        i, j, prob = int(pair[0]), int(pair[1]), float(pair[2])
        if i != j:
            key = (i, j) if i < j else (j, i)
            direct[key] = max(prob, direct.get(key, 0.0))
    pieces = _bounded_components(direct, max_size if guard else None)
    out: list[Entity] = []
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
            return probability(i, j) if probability is not None else 0.0

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


def _average_linkage(members: list[int], prob_of: Callable[[int, int], float], cut: float) -> list[Entity]:
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
