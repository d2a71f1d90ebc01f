"""Time the demo-data loader (`guanxi.demo.load_demo`) on a fresh database.

Usage (from the repository root):

    .venv/bin/python bench/demo_data.py                       # 1,000,000 customers, temporary SQLite file
    .venv/bin/python bench/demo_data.py --customers 100000
    .venv/bin/python bench/demo_data.py --database-url postgres://postgres@127.0.0.1:5432/test

Database:

- SQLite (no URL, or a sqlite:/// URL): without a URL a fresh file in a temporary directory is used
  (deleted afterwards unless --keep); a given SQLite file must not exist yet (never overwritten).
- PostgreSQL: the URL names the *server* (and the maintenance database to connect to). The benchmark
  creates its own database, ``guanxi_bench`` by default (--bench-db), dropping it first when it
  exists, and leaves it in place afterwards for inspection (--drop-after removes it). The database named in
  the URL itself is never dropped or written to, and --bench-db refuses the names ``postgres``,
  ``template0``, ``template1``, ``test`` and the URL's own database.

GUANXI_DATA_DIR is set to a temporary directory (secret key, queue file), GUANXI_DATABASE_URL to the
benchmark database, then Django is set up and ``migrate`` runs before the timer starts. The time
reported is the wall time of ``load_demo`` (organisation + customers + contact points + tags + orders
+ ANALYZE). Progress goes to stderr; the last line on stdout is one JSON object:
{"database": "sqlite"|"postgresql", "customers": N, "contact_points": ..., "orders": ..., "seconds": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_common import drop_postgres, start_django  # noqa: E402  (next to this script)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("GUANXI_DATABASE_URL", ""),
        help="postgres://... (server for the benchmark database) or sqlite:///path (new file). "
        "Default: $GUANXI_DATABASE_URL, else a temporary SQLite file.",
    )
    parser.add_argument("--bench-db", default="guanxi_bench", help="PostgreSQL database to (re)create")
    parser.add_argument("--drop-after", action="store_true", help="drop the PostgreSQL benchmark database")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (SQLite file)")
    args = parser.parse_args(argv)

    url = args.database_url
    vendor, tmp = start_django(url, args.bench_db, "guanxi-bench-")
    from django.core.management import call_command

    from guanxi.demo import load_demo

    try:
        print(f"database: {vendor}; migrating …", file=sys.stderr, flush=True)
        call_command("migrate", interactive=False, verbosity=0)
        started = time.perf_counter()
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter()
            if stage != "customers" or done == total or now - last[0] >= 5:
                last[0] = now
                print(f"[{now - started:7.1f}s] {stage} {done:,}/{total:,}", file=sys.stderr, flush=True)

        result = load_demo(
            args.customers, seed=args.seed, orders_per_customer=args.orders_per_customer, progress=progress
        )
        seconds = round(time.perf_counter() - started, 2)
    finally:
        from django.db import connections

        connections.close_all()
        if vendor == "postgresql" and args.drop_after:
            drop_postgres(url, args.bench_db)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    summary = {
        "database": vendor,
        "customers": result["customers"],
        "contact_points": result["contact_points"],
        "orders": result["orders"],
        "tags": result["tags"],
        "seconds": seconds,
        "timings": result.get("timings", {}),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
