"""Batch duplicate detection over N demo customers (default 1,000,000).

    .venv/bin/python bench/dedupe.py --customers 1000000 --database-url postgres://postgres@127.0.0.1:5432/test

On PostgreSQL a fresh database `guanxi_bench_dedupe` is created on the server of the URL (dropped
first if it exists; the database named in the URL is never touched). Without a URL a temporary
SQLite file is used. Last line: {"customers", "pairs_compared", "clusters", "seconds", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import postgres_bench_url  # noqa: E402  (next to this script)

BENCH_DB = "guanxi_bench_dedupe"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("GUANXI_DATABASE_URL", ""))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--reuse", action="store_true", help="reuse an existing bench database (skip loading)"
    )
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="guanxi-bench-dedupe-")
    os.environ["GUANXI_DATA_DIR"] = data_dir
    url = args.database_url
    if url.startswith("postgres"):
        if args.reuse:
            parts = urlsplit(url)
            url = urlunsplit(parts._replace(path="/" + BENCH_DB))
        else:
            url = postgres_bench_url(url, BENCH_DB)
    else:
        url = f"sqlite:///{data_dir}/bench.sqlite3"
    os.environ["GUANXI_DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from guanxi.customers.dedupe import run_batch_dedupe
    from guanxi.customers.models import Customer
    from guanxi.demo import load_demo

    database = connection.vendor
    if not args.reuse:
        call_command("migrate", verbosity=0)
        log(f"loading {args.customers:,} demo customers into {database}")
        started = time.perf_counter()
        load_demo(customers=args.customers)
        log(f"loaded in {time.perf_counter() - started:.1f} s")
    customers = Customer.objects.alive().count()
    log(f"batch duplicate detection over {customers:,} customers")
    started = time.perf_counter()
    run = run_batch_dedupe(
        workers=args.workers, progress=lambda stage, done, total: log(f"{stage} {done:,}/{total:,}")
    )
    seconds = time.perf_counter() - started
    log(f"done: {run.pairs_found:,} pairs in {run.clusters:,} clusters")
    floor = read_floor()
    log(f"floor: reading the rows the detection reads, on a bare cursor: {floor} s")
    print(
        json.dumps(
            {
                "database": database,
                "customers": customers,
                "pairs_compared": run.pairs_compared,
                "pairs_found": run.pairs_found,
                "clusters": run.clusters,
                "seconds": round(seconds, 1),
                "floor_read_seconds": floor,
            }
        )
    )


def read_floor() -> float:
    """Floor: the contact points and customer columns the detection reads (the same queries as
    `customers.dedupe._records`), fetched on a bare cursor with no Python work per row."""
    from django.db import connection

    from guanxi.customers.models import ContactKind, ContactPoint, Customer

    queries = [
        ContactPoint.objects.filter(
            kind__in=[ContactKind.PHONE, ContactKind.EMAIL], customer__deleted_at__isnull=True
        )
        .order_by("customer_id", "-is_primary", "id")
        .values_list("customer_id", "kind", "normalized"),
        Customer.objects.alive()
        .order_by("id")
        .values_list("id", "kind", "name", "city", "province", "address", "birthday", "company_id"),
    ]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for qs in queries:
            sql, params = qs.query.sql_with_params()
            cursor.execute(sql, params)
            while cursor.fetchmany(50_000):
                pass
    return round(time.perf_counter() - started, 1)


if __name__ == "__main__":
    main()
