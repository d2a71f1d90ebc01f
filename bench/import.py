"""Import benchmark: a million customer rows through the full import, against raw COPY of the same file.

The CSV is written with the demo generator (`guanxi/demo.py`: its names, mobiles, e-mails, WeChat
ids, companies, cities, tags and its own ~1% near-duplicate customers); `--duplicates` of the rows
(5% by default) are customers that already exist in the database: they are preloaded with the demo
loader first and appear in the file again (phones written differently, a fifth of them with a new
e-mail address). The import is the real one (`guanxi.customers.importing`: staging rows, full
normalisation, duplicate check against the database and within the file, audit entries, events),
exactly as `guanxi import FILE` runs it.

Usage (from the repository root; other benchmarks share the machine, hence flock):

    flock /tmp/guanxi-bench.lock .venv/bin/python bench/import.py --rows 1000000 \\
        --database-url postgres://postgres@127.0.0.1:5432/test

On PostgreSQL a fresh database `guanxi_bench_import` is created on that server (dropped first if it
exists; the database named in the URL is only used to connect). Without a URL a temporary SQLite
file is used. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DB = "guanxi_bench_import"
HEADER = ["客户名称", "手机号码", "电子邮箱", "微信号", "openid", "公司名称", "职务", "性别", "生日", "省份",
          "城市", "地址", "行业", "标签", "备注", "负责人"]  # fmt: skip
GENDER = {"male": "男", "female": "女"}
PG_ENCODING = {"utf-8": "UTF8", "gb18030": "GB18030"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- database


def fresh_database(url: str | None, workdir: Path) -> str:
    """A new, empty database for this run; returns its URL."""
    if not url or url.startswith("sqlite"):
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    from bench_common import postgres_bench_url

    return postgres_bench_url(url, BENCH_DB)


def setup_django(database_url: str, workdir: Path, queue_url: str | None) -> None:
    os.environ["GUANXI_DATABASE_URL"] = database_url
    os.environ["GUANXI_DATA_DIR"] = str(workdir)
    os.environ["GUANXI_QUEUE_URL"] = queue_url or f"sqlite:///{workdir / 'queue.sqlite3'}"
    os.environ.setdefault("GUANXI_SECRET_KEY", "bench-import-not-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.settings"
    import django

    django.setup()
    import logging

    logging.getLogger("guanxi.customers.importing").setLevel(logging.INFO)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --------------------------------------------------------------------------- the file


def messy_phone(display: str, rng: random.Random) -> str:
    """The same mobile as people type it: "138 1234 5678", "13812345678", "+86 138…", "13812345678.0"."""
    digits = display.replace(" ", "")
    if display.startswith("+") or not digits.isdigit():
        return display
    r = rng.random()
    if r < 0.45:
        return display
    if r < 0.85:
        return digits
    if r < 0.97:
        return f"+86 {display}"
    return f"{digits}.0"


def existing_rows(n: int, rng: random.Random, usernames: dict[int, str]) -> list[list[str]]:
    """Rows for n customers already in the database (the same person, typed again)."""
    from guanxi.customers.models import ContactKind, Customer, CustomerKind

    ids = list(
        Customer.objects.filter(kind=CustomerKind.PERSON, contact_points__kind=ContactKind.PHONE)
        .values_list("pk", flat=True)
        .distinct()
    )
    chosen = rng.sample(ids, min(n, len(ids)))
    rows = []
    for start in range(0, len(chosen), 5000):
        batch = Customer.objects.filter(pk__in=chosen[start : start + 5000]).select_related("company")
        for c in batch.prefetch_related("contact_points", "tags"):
            points = {}
            for p in c.contact_points.all():
                points.setdefault(p.kind, p.value)
            email = points.get(ContactKind.EMAIL, "")
            if not email and rng.random() < 0.2:
                email = f"bench{c.pk}@example.com"  # new information: the customer gets updated
            rows.append(
                [
                    c.name,
                    messy_phone(points[ContactKind.PHONE], rng),
                    email,
                    points.get(ContactKind.WECHAT_ID, ""),
                    points.get(ContactKind.WECHAT_OPENID, ""),
                    c.company.name if c.company_id else "",
                    c.title,
                    GENDER.get(c.gender, ""),
                    c.birthday.isoformat() if c.birthday else "",
                    c.province,
                    c.city,
                    c.address,
                    c.industry,
                    "、".join(t.name for t in c.tags.all()),
                    c.notes,
                    usernames.get(c.owner_id, ""),
                ]
            )
    rng.shuffle(rows)
    return rows


def generated_rows(
    n: int, seed: int, rng: random.Random, users, usernames: dict[int, str]
) -> Iterator[list[str]]:
    """n new person rows from the demo generator (companies appear as the persons' company names)."""
    from django.db import connection

    from guanxi import demo
    from guanxi.customers.models import Customer

    tables = demo._tables()
    cust_cols = {c: i for i, c in enumerate(tables["customer"].columns)}
    contact_cols = {c: i for i, c in enumerate(tables["contact"].columns)}
    tag_cols = {c: i for i, c in enumerate(tables["tag"].columns)}
    tag_ids = demo._ensure_tags()
    from guanxi.customization.models import Tag

    tag_names = dict(Tag.objects.filter(pk__in=tag_ids).values_list("pk", "name"))
    start = (Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    generator = demo._Generator(
        seed=seed,
        total=int(n * 1.25),
        start_ids={"customer": start, "contact": 1, "tag": 1, "order": 1},
        owners=demo._owner_pools(users),
        tag_ids=tag_ids,
        orders_per_customer=0.0,
        vendor=connection.vendor,
        now=int(time.time()),
    )
    companies: dict[int, str] = {}
    produced = 0
    while produced < n:
        chunk = generator.chunk(20_000)
        contacts: dict[int, dict[str, str]] = {}
        for row in chunk.rows["contact"]:
            points = contacts.setdefault(row[contact_cols["customer_id"]], {})
            points.setdefault(row[contact_cols["kind"]], row[contact_cols["value"]])
        tags: dict[int, list[str]] = {}
        for row in chunk.rows["tag"]:
            tags.setdefault(row[tag_cols["customer_id"]], []).append(tag_names[row[tag_cols["tag_id"]]])
        for row in chunk.rows["customer"]:
            cid = row[cust_cols["id"]]
            if row[cust_cols["kind"]] == "company":
                companies[cid] = row[cust_cols["name"]]
                continue
            points = contacts.get(cid, {})
            birthday = row[cust_cols["birthday"]]
            yield [
                row[cust_cols["name"]],
                messy_phone(points.get("phone", ""), rng),
                points.get("email", ""),
                points.get("wechat_id", ""),
                points.get("wechat_openid", ""),
                companies.get(row[cust_cols["company_id"]], "") if row[cust_cols["company_id"]] else "",
                row[cust_cols["title"]],
                GENDER.get(row[cust_cols["gender"]], ""),
                str(birthday) if birthday else "",
                row[cust_cols["province"]],
                row[cust_cols["city"]],
                row[cust_cols["address"]],
                row[cust_cols["industry"]],
                "、".join(tags.get(cid, [])),
                row[cust_cols["notes"]],
                usernames.get(row[cust_cols["owner_id"]], ""),
            ]
            produced += 1
            if produced >= n:
                return


def write_csv(path: Path, rows: int, duplicates: float, seed: int, encoding: str) -> dict:
    """Preload the customers the duplicates point at, then write the file. Returns counts."""
    from guanxi import demo

    rng = random.Random(seed)
    n_dup = int(rows * duplicates)
    started = time.perf_counter()
    users, _password = demo.ensure_demo_org()
    usernames = {u.pk: u.username for u in users.values()}
    preload = int(n_dup / 0.8) + 100 if n_dup else 0  # the demo mixes in companies (~15%)
    if preload:
        log(f"preloading {preload:,} existing customers (demo loader)")
        demo.load_demo(preload, seed=seed, orders_per_customer=0)
    dup_rows = existing_rows(n_dup, rng, usernames)
    n_new = rows - len(dup_rows)
    positions = set(rng.sample(range(rows), len(dup_rows)))
    log(f"writing {rows:,} rows ({len(dup_rows):,} of existing customers) to {path}")
    new_rows = generated_rows(n_new, seed + 1, rng, users, usernames)
    dups = iter(dup_rows)
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(next(dups) if i in positions else next(new_rows))
    log(f"file ready: {path.stat().st_size / 2**20:.1f} MB in {time.perf_counter() - started:.1f} s")
    return {"existing_rows": len(dup_rows), "preloaded": preload}


# --------------------------------------------------------------------------- COPY and import


def time_copy(database_url: str, path: Path, encoding: str) -> float:
    """Seconds to load the same file into a plain table: COPY on PostgreSQL, executemany on SQLite."""
    columns = ", ".join(f"c{i} text" for i in range(len(HEADER)))
    if database_url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        conn.execute(f"CREATE TABLE plain_import ({columns})")
        started = time.perf_counter()
        with open(path, encoding=encoding, newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            marks = ", ".join("?" * len(HEADER))
            conn.executemany(f"INSERT INTO plain_import VALUES ({marks})", reader)  # noqa: S608
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE plain_import")
        conn.close()
        return seconds
    import psycopg

    with psycopg.connect(database_url) as conn:
        conn.execute(f"CREATE TABLE plain_import ({columns})")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            sql = f"COPY plain_import FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING '{PG_ENCODING[encoding]}')"
            with cur.copy(sql) as copy, open(path, "rb") as fh:
                while block := fh.read(1 << 20):
                    copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE plain_import")
        conn.commit()
    return seconds


def run_import(path: Path, chunk_size: int | None, profile: bool = False) -> tuple[object, float, float]:
    from guanxi.core.actions import create_user, ensure_default_roles
    from guanxi.core.models import User
    from guanxi.customers import importing

    admin = User.objects.filter(username="bench_admin").first() or create_user(
        "bench_admin", password=None, role=ensure_default_roles()["admin"], is_superuser=True
    )
    started = time.perf_counter()
    last = [started, 0]

    def staged(n: int) -> None:
        if time.perf_counter() - last[0] > 5:
            last[0] = time.perf_counter()
            log(f"staging: {n:,} rows read")

    job = importing.stage_import(path.name, path, actor=admin, options={"origin": "bench"}, progress=staged)
    stage_seconds = time.perf_counter() - started
    log(f"staged {job.total_rows:,} rows in {stage_seconds:.1f} s; mapping: {job.mapping}")
    importing.confirm_import(job.pk, actor=admin, mapping=job.mapping, enqueue=False)
    process_started = time.perf_counter()
    last[:] = [process_started, 0]

    def progress(current) -> None:
        now = time.perf_counter()
        if now - last[0] > 5 or current.processed_rows == current.total_rows:
            rate = (current.processed_rows - last[1]) / (now - last[0])
            last[:] = [now, current.processed_rows]
            log(
                f"import: {current.processed_rows:,}/{current.total_rows:,} rows, {rate:,.0f} rows/s "
                f"(created {current.created_count:,}, updated {current.updated_count:,}, "
                f"unchanged {current.unchanged_count:,}, errors {current.error_count:,})"
            )

    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        job = profiler.runcall(
            importing.run_import, job.pk, actor=admin, chunk_size=chunk_size, progress=progress
        )
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(
            os.environ.get("BENCH_PROFILE_SORT", "cumulative")
        ).print_stats(45)
    else:
        job = importing.run_import(job.pk, actor=admin, chunk_size=chunk_size, progress=progress)
    return job, stage_seconds, time.perf_counter() - process_started


def duplicate_phones(first_new_id: int) -> int:
    """Phone numbers held by two customers where one of them came from the import (should be 0)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM (SELECT normalized FROM customers_contactpoint WHERE kind = 'phone' "
            "GROUP BY normalized HAVING COUNT(DISTINCT customer_id) > 1 AND MAX(customer_id) >= %s) AS d",
            [first_new_id],
        )
        return cur.fetchone()[0]


FLOOR_TABLES = [
    "customers_customer",
    "customers_contactpoint",
    "customers_customer_tags",
    "core_auditentry",
    "core_event",
]


def write_floor(first_new_id: int) -> dict[str, float]:
    """Seconds PostgreSQL needs just to write the rows this import wrote (customers, contact points,
    tag links, audit entries, events) into index-identical empty tables: `bench_common.copy_floor`."""
    from bench_common import copy_floor

    ct = "(SELECT id FROM django_content_type WHERE app_label = 'customers' AND model = 'customer')"
    p = [first_new_id]
    return copy_floor(
        {
            "customers_customer": ("SELECT * FROM customers_customer WHERE id >= %s", p),
            "customers_contactpoint": ("SELECT * FROM customers_contactpoint WHERE customer_id >= %s", p),
            "customers_customer_tags": ("SELECT * FROM customers_customer_tags WHERE customer_id >= %s", p),
            "core_auditentry": (
                f"SELECT * FROM core_auditentry WHERE object_id >= %s AND content_type_id = {ct}",
                p,
            ),
            "core_event": ("SELECT * FROM core_event WHERE object_id >= %s AND name = 'customer.created'", p),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("GUANXI_DATABASE_URL"))
    parser.add_argument(
        "--duplicates", type=float, default=0.05, help="share of rows that are existing customers"
    )
    parser.add_argument("--encoding", choices=sorted(PG_ENCODING), default="gb18030")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--queue-url", default=None, help="default: a temporary SQLite queue")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (file, SQLite database)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the processing to stderr")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="guanxi-bench-import-"))
    database_url = fresh_database(args.database_url, workdir)
    log(f"database: {urlsplit(database_url).path.rsplit('/', 1)[-1]} ({urlsplit(database_url).scheme})")
    setup_django(database_url, workdir, args.queue_url)
    from django.db import connection

    from guanxi.customers.models import Customer

    path = workdir / f"customers_{args.rows}.csv"
    counts = write_csv(path, args.rows, args.duplicates, args.seed, args.encoding)
    first_new_id = (Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    connection.close()

    copy_seconds = time_copy(database_url, path, args.encoding)
    log(f"raw load of the same file into a plain table: {copy_seconds:.2f} s")

    job, stage_seconds, process_seconds = run_import(path, args.chunk_size, args.profile)
    import_seconds = stage_seconds + process_seconds
    dupes = duplicate_phones(first_new_id)
    log(
        f"import: {import_seconds:.1f} s (staging {stage_seconds:.1f} s, processing {process_seconds:.1f} s); "
        f"{job.processed_rows / import_seconds:,.0f} rows/s; {import_seconds / copy_seconds:.1f}x raw load; "
        f"duplicate phones after import: {dupes}"
    )
    floor: dict[str, float] = {}
    if connection.vendor == "postgresql":
        floor = write_floor(first_new_id)
        log(f"write floor (COPY of the written rows into index-identical empty tables): {floor}")
    if not args.keep:
        path.unlink()
    result = {
        "rows": job.processed_rows,
        "import_seconds": round(import_seconds, 2),
        "rows_per_s": round(job.processed_rows / import_seconds),
        "copy_seconds": round(copy_seconds, 2),
        "stage_seconds": round(stage_seconds, 2),
        "process_seconds": round(process_seconds, 2),
        "times_copy": round(import_seconds / copy_seconds, 1),
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "errors": job.error_count,
        "existing_rows": counts["existing_rows"],
        "duplicate_phones": dupes,
        "database": connection.vendor,
        "encoding": args.encoding,
        "write_floor_seconds": floor,
        "write_floor_total_seconds": round(sum(floor.values()), 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
