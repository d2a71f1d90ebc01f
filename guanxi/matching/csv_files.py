"""CSV front end: read people from any CSV, write the matched pairs (``guanxi dedupe --csv``)."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from guanxi.matching.matcher import Matcher
from guanxi.matching.records import PersonRecord, Prepared


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
    prepared = Prepared(records)
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
