"""Measure duplicate-detection quality of guanxi.matching on a labelled CSV.

Usage (from the repository root):

    .venv/bin/python bench/dedupe_quality.py --csv tests/data/fake_1000.csv
    .venv/bin/python bench/dedupe_quality.py --synthetic 40000   # ~100k generated records

``--synthetic N`` writes N generated people (1 to 6 records each, Western and Chinese names, typos,
swaps, missing fields...) with the generator of the matcher's tests (tests/matching/synthetic.py),
then evaluates.

The matcher never sees the ground truth: only this script reads the ``cluster`` column (or the
column named by ``--truth``).  Precision, recall and F1 are computed on pairs: a predicted pair is
correct when both records carry the same cluster label.  The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from guanxi.matching import dedupe_csv  # noqa: E402
from tests.matching.synthetic import make_synthetic_people  # noqa: E402


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def true_pairs(path: Path, truth: str = "cluster") -> set[tuple[str, str]]:
    """All unordered pairs of unique_ids sharing a ground-truth label."""
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    lower = {name.strip().lower(): name for name in reader.fieldnames or []}
    id_col, truth_col = lower["unique_id"], lower[truth.lower()]
    groups: dict[str, list[str]] = defaultdict(list)
    for row in reader:
        label = (row[truth_col] or "").strip()
        if label:
            groups[label].append(row[id_col].strip())
    pairs: set[tuple[str, str]] = set()
    for members in groups.values():
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                x, y = members[a], members[b]
                pairs.add((x, y) if x < y else (y, x))
    return pairs


def predicted_pairs(path: Path) -> set[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return {
            (r["unique_id_l"], r["unique_id_r"])
            if r["unique_id_l"] < r["unique_id_r"]
            else (r["unique_id_r"], r["unique_id_l"])
            for r in reader
        }


def evaluate(csv_path: Path, *, threshold: float | None = None, truth: str = "cluster") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pairs.csv"
        started = time.perf_counter()
        stats = dedupe_csv(str(csv_path), str(out), threshold=threshold)
        seconds = time.perf_counter() - started
        predicted = predicted_pairs(out)
    actual = true_pairs(csv_path, truth)
    tp = len(predicted & actual)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(actual) if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "records": stats["records"],
        "candidate_pairs": stats["candidate_pairs"],
        "predicted_pairs": len(predicted),
        "true_pairs": len(actual),
        "true_positives": tp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "threshold": stats["parameters"]["threshold"],
        "seconds": round(seconds, 3),
        "stats": stats,
    }


def synthetic_csv(n_people: int, seed: int, directory: Path) -> Path:
    """Generate a labelled CSV with the test-suite generator."""
    return make_synthetic_people(directory / f"synthetic_{n_people}_{seed}.csv", n_people, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, help="labelled CSV (needs unique_id and cluster)")
    source.add_argument("--synthetic", type=int, metavar="N", help="generate N labelled people instead")
    parser.add_argument("--seed", type=int, default=7, help="seed of --synthetic (default 7)")
    parser.add_argument("--threshold", type=float, default=None, help="match probability (default: auto)")
    parser.add_argument("--truth", default="cluster", help="ground-truth column (default: cluster)")
    parser.add_argument("--params", action="store_true", help="print the learned m/u parameters")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.synthetic:
            args.csv = synthetic_csv(args.synthetic, args.seed, Path(tmp))
        result = evaluate(args.csv, threshold=args.threshold, truth=args.truth)
    stats = result.pop("stats")
    print(f"file              {args.csv}")
    print(f"records           {result['records']}")
    print(f"candidate pairs   {result['candidate_pairs']}")
    print(f"threshold         {result['threshold']}")
    print(f"predicted pairs   {result['predicted_pairs']}  (true pairs {result['true_pairs']})")
    print(f"precision         {result['precision']:.4f}")
    print(f"recall            {result['recall']:.4f}")
    print(f"F1                {result['f1']:.4f}")
    print(f"seconds           {result['seconds']:.3f}  {stats['timings']}")
    if args.params:
        print(json.dumps(stats["parameters"], indent=1, ensure_ascii=False))
    summary = {
        k: result[k]
        for k in ("records", "precision", "recall", "f1", "seconds", "predicted_pairs", "threshold")
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
