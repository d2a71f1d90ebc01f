"""The matcher: a Fellegi-Sunter model fitted on the records themselves, then linking and clustering."""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Sequence
from typing import Any

from guanxi.matching import estimation, scoring
from guanxi.matching.blocking import Blocks, build_blocks
from guanxi.matching.clustering import Entity, cluster_pairs
from guanxi.matching.comparisons import ALL_COMPARISONS, Comparison, decode
from guanxi.matching.pairs import Candidates, Engine, Scorer, compare_blocks
from guanxi.matching.records import PersonRecord, Prepared

LinkedPair = tuple[int, int, float, dict[str, Any]]  # i, j, probability, explanation by field


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
        self.comparisons: tuple[Comparison, ...] = ()
        self.lam: float = 0.0
        self.m: list[list[float]] = []
        self.u: list[list[float]] = []  # P(level | non-match) on random pairs
        self.threshold: float = 0.5
        self.stats: dict[str, Any] = {}
        self._records_key: int | None = None
        self._prepared: Prepared | None = None
        self._candidates: Candidates | None = None
        self._tf: scoring.TermFrequencies = []
        self._rule_names: list[str] = []
        self._fitted = False

    # -- preparation and candidate pairs -----------------------------------------------------------

    def _prepare(self, records: Sequence[PersonRecord]) -> Prepared:
        if (
            self._prepared is not None
            and self._records_key == id(records)
            and self._prepared.n == len(records)
        ):
            return self._prepared
        prepared = Prepared(records)
        self._prepared, self._records_key, self._candidates = prepared, id(records), None
        return prepared

    def _choose_comparisons(self, p: Prepared) -> tuple[Comparison, ...]:
        chosen = []
        for comp in ALL_COMPARISONS:
            col = p.column(comp.column)
            present = sum(1 for v in col if v is not None)
            if present >= 2:
                chosen.append(comp)
        return tuple(chosen)

    def _blocks(self, p: Prepared) -> Blocks:
        budget = max(self.min_pairs_per_rule, int(self.pairs_per_record_per_rule * p.n))
        blocks = build_blocks(p, block_cap=self.block_cap, rule_budget=budget)
        self._rule_names = blocks.rule_names
        self.stats["block_size_caps"] = blocks.caps
        self.stats["skipped_blocks"] = blocks.skipped
        return blocks

    def _generate(self, p: Prepared, *, scored: bool = True) -> Candidates:
        """Candidate pairs of the blocking rules, compared (and scored) in worker processes."""
        cached = self._candidates
        if (
            cached is not None
            and self._prepared is p
            and (len(cached.scores) == len(cached.codes) or not scored)
        ):
            return cached
        started = time.perf_counter()
        engine = Engine(p, self.comparisons)
        blocks = self._blocks(p)
        score = self._scorer(p) if scored else None
        workers = self.workers or min(os.cpu_count() or 1, 8)
        self._candidates = compare_blocks(engine, blocks.rule_keys, blocks.blocks, score, workers)
        self.stats["blocking_seconds"] = round(time.perf_counter() - started, 3)
        return self._candidates

    # -- estimation --------------------------------------------------------------------------------

    def fit(self, records: Sequence[PersonRecord]) -> Matcher:
        """Estimate u on random pairs, then m and λ by EM; also compares and scores the candidates."""
        started = time.perf_counter()
        p = self._prepare(records)
        prepared = time.perf_counter()
        self._fit_prepared(p)
        self.stats["prepare_seconds"] = round(prepared - started, 3)
        self.stats["fit_seconds"] = round(time.perf_counter() - started, 3)
        return self

    def _fit_prepared(self, p: Prepared) -> None:
        started = time.perf_counter()
        self.stats = {}
        if self._prepared is not p:
            self._prepared, self._records_key = p, None
        self.comparisons = self._choose_comparisons(p)
        self._candidates = None
        self._tf = scoring.term_frequencies(p, self.comparisons, enabled=self.tf_adjust)
        t_u = time.perf_counter()
        self.u = estimation.estimate_u(p, self.comparisons, sample_pairs=self.u_sample_pairs, seed=self.seed)
        self.stats["u_seconds"] = round(time.perf_counter() - t_u, 3)
        t_m = time.perf_counter()
        sessions = estimation.training_sessions(
            p, self.comparisons, seed=self.seed, block_cap=self.block_cap, train_pairs=self.train_pairs
        )
        u_random = self.u
        for _ in range(3):  # u depends on λ and m, which depend on u: a few rounds settle it
            self.m, self.lam = estimation.estimate_m_and_lambda(
                p,
                self.comparisons,
                self.u,
                sessions,
                max_iterations=self.max_em_iterations,
                candidate_codes=lambda: self._generate(p, scored=False).codes,
                stats=self.stats,
            )
            self.u = estimation.u_without_matches(u_random, self.m, self.lam)
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

    # -- prediction --------------------------------------------------------------------------------

    def _scorer(self, p: Prepared) -> Scorer:
        return scoring.make_scorer(p, self.comparisons, self.m, self.u, self.lam, self._tf)

    def predict_pairs(
        self, records: Sequence[PersonRecord], threshold: float | None = None, *, explain: bool = True
    ) -> list[LinkedPair]:
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
            self._tf = scoring.term_frequencies(p, self.comparisons, enabled=self.tf_adjust)
        return self._predict(p, threshold, explain=explain)

    def _predict(self, p: Prepared, threshold: float | None, *, explain: bool) -> list[LinkedPair]:
        cands = self._generate(p)
        scores = cands.scores
        if threshold is None:
            threshold = scoring.auto_threshold(scores)
        self.threshold = threshold
        cut = scoring.logit(threshold)
        weights, prior = scoring.weights(self.m, self.u, self.lam)
        k = len(self.comparisons)
        left, right, codes = cands.left, cands.right, cands.codes
        out: list[LinkedPair] = []
        for idx, score in enumerate(scores):
            if score >= cut:
                explanation: dict[str, Any] = {}
                if explain:
                    code = codes[idx]
                    base = prior + sum(weights[c][lv] for c, lv in enumerate(decode(code, k)))
                    explanation = scoring.explain(self.comparisons, code, score - base, weights, prior)
                out.append((left[idx], right[idx], scoring.sigmoid(score), explanation))
        return out

    # -- clustering --------------------------------------------------------------------------------

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
    ) -> list[Entity]:
        """Entities as (sorted members, {(i, j): probability of being the same person})."""
        guard = self.chain_guard if guard is None else guard
        cut = self.threshold if threshold is None else threshold
        p = self._prepared
        probability = None
        if guard and p is not None and self.comparisons:
            engine, scorer, n = Engine(p, self.comparisons), self._scorer(p), p.n

            def probability(i: int, j: int) -> float:
                if max(i, j) >= n:
                    return 0.0
                return scoring.sigmoid(scorer(i, j, engine.vector(i, j)))

        return cluster_pairs(
            pairs, cut=cut, guard=guard, max_size=self.max_component_size, probability=probability
        )
