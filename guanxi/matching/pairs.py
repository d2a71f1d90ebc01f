"""Candidate pairs: every pair of a block compared field by field, in worker processes if large.

A comparison vector packs one level per comparison (``comparisons.BITS`` bits each). First name
and surname are also compared crosswise (swapped names); an e-mail local part spelled from the
names counts as no evidence.
"""

from __future__ import annotations

import gc
import multiprocessing
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from guanxi.matching.blocking import Block, RuleKeys
from guanxi.matching.comparisons import BITS, NAME_GOODNESS, Comparison, email_level, name_level
from guanxi.matching.keys import NON_ALPHA_RE
from guanxi.matching.records import Prepared

Scorer = Callable[[int, int, int], float]  # (i, j, comparison vector) -> match log-odds


@dataclass(slots=True)
class Candidates:
    left: array  # record index i
    right: array  # record index j > i
    codes: array  # packed comparison levels
    scores: array  # match log-odds (empty until scored)


class Engine:
    """Compares record pairs of one prepared data set with a fixed list of comparisons."""

    def __init__(self, prepared: Prepared, comparisons: Sequence[Comparison]) -> None:
        self.p = prepared
        self.comparisons = tuple(comparisons)
        names = [c.name for c in self.comparisons]
        self.fn_pos = names.index("first_name") if "first_name" in names else -1
        self.sn_pos = names.index("surname") if "surname" in names else -1
        self.email_pos = names.index("email") if "email" in names else -1
        self.name_count = max(1, len(prepared.name_exact))
        self.name_cache: dict[int, int] = {}
        self.simple = [
            (prepared.column(c.column), c.func, BITS * k)
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
        fn_shift = BITS * self.fn_pos if self.fn_pos >= 0 else -1
        sn_shift = BITS * self.sn_pos if self.sn_pos >= 0 else -1
        email_shift = BITS * self.email_pos if self.email_pos >= 0 else -1
        has_names = fn_shift >= 0 or sn_shift >= 0
        count = self.name_count
        cache = self.name_cache
        goodness = NAME_GOODNESS
        compare_names, compare_emails, non_alpha = name_level, email_level, NON_ALPHA_RE.sub

        def level(a: int, b: int) -> int:
            if a == b:
                return 1
            key = a * count + b if a < b else b * count + a
            found = cache.get(key)
            if found is None:
                if len(cache) > 2_000_000:
                    cache.clear()
                found = cache[key] = compare_names(exact[a], latin[a], exact[b], latin[b])
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
                    lv = compare_emails(a, b)
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
    engine: Engine = _WORKER_STATE["engine"]
    blocks = _WORKER_STATE["blocks"]
    arrays = engine.block_pairs(
        (blocks[x] for x in indices), _WORKER_STATE["rule_keys"], _WORKER_STATE["score"]
    )
    return tuple(a.tobytes() for a in arrays)  # type: ignore[return-value]


def compare_blocks(
    engine: Engine, rule_keys: RuleKeys, blocks: list[Block], score: Scorer | None, workers: int
) -> Candidates:
    """Compare (and score) the pairs of every block; in ``workers`` forked processes when it is worth it."""
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
    return Candidates(left, right, codes, scores)
