"""Custom fields at scale: list filtering by a custom field, and rename / delete / restore of a field
whose values are stored on every customer.

Usage (from the repository root):

    .venv/bin/python bench/custom_fields.py                       # 1,000,000 customers, temporary SQLite
    .venv/bin/python bench/custom_fields.py --customers 20000
    .venv/bin/python bench/custom_fields.py --customers 1000000 --database-url postgres://postgres@127.0.0.1:5432/test

Database: as bench/demo_data.py. For PostgreSQL the URL names the *server*; the benchmark (re)creates
its own database, ``guanxi_bench_custom_fields`` by default (--bench-db), never the URL's own database
nor ``postgres``/``template0``/``template1``/``test``. Without a URL a temporary SQLite file is used.

Set-up (not timed): migrate; load customers with ``guanxi.demo.load_demo`` (no orders); create the
custom field ``source_detail`` (客户来源细分, single select, not required, 8 options) with the action
``create_custom_field``; then give every customer a value *set-based in SQL* (option number
``id % 8``, one UPDATE per id range of --setup-batch rows; then a ninth, rare option ``vip_event``
on every customer with ``id % 1000 == 0``). Going through ``update_customer`` for a
million rows would take hours and measures nothing of interest here; the values written are exactly
what the action would store (the option key). Then VACUUM ANALYZE (PostgreSQL) / ANALYZE (SQLite).

Timed:

1. First page of the customer list filtered by the field (one option) and an owner, built as the app
   builds it: ``Customer.objects.visible_to(viewer).alive()`` + ``Registry("customer").filter_q(...)``
   + ``owner_id`` filter + ``order_by("-id")[:50]``, evaluated (the Registry is loaded per request, so
   its two queries are inside the time). The viewer alternates between an administrator (sees all)
   and the owner. --repeats runs with different (option, owner) pairs after one warm-up run; reported
   as the median (first_page_ms) and the maximum (first_page_ms_max). The same with the list's
   relations (owner, company, tags, primary contacts: ``with_list_relations``) is first_page_full_ms,
   without the owner filter first_page_no_owner_ms, and for the rare option with each owner
   first_page_rare_ms (the case where walking the owner's index would read most of their rows). EXPLAIN of the query is printed once (with
   ANALYZE on PostgreSQL); uses_index says whether the plan reads customers through an index (the GIN
   index ``customer_custom_fields_gin`` or a B-tree index scan) rather than a sequential scan.
2. Rename of the field through the action ``rename_custom_field``, then ``run_field_rewrite`` with its
   default batch size, as the worker runs it: rename_seconds (action + rewrite), longest_lock_ms (the
   longest single batch transaction). Meanwhile a second thread with its own connection reads a
   customer and updates a customer's name (to the same value: a real row update that takes the row
   lock) every 50 ms, half of them in the id range being rewritten; its slowest statement is
   max_concurrent_write_ms / max_concurrent_read_ms. Checked: every customer has the value under the
   new key, none under the old, and the count per option is unchanged. The first page is then
   measured again on the new key (first_page_after_rename_ms, with its plan).
3. Delete through ``delete_custom_field`` + ``run_field_rewrite`` (delete_seconds,
   longest_delete_lock_ms); checked: the archive holds one row per customer, no customer has the key.
4. Restore (unless --no-restore) through ``restore_custom_field`` + ``run_field_rewrite``
   (restore_seconds); checked: the values are back per option and the archive is empty.

Progress goes to stderr; the last line on stdout is one JSON object with at least: customers,
first_page_ms, uses_index, rename_seconds, longest_lock_ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_common import drop_postgres, start_django  # noqa: E402  (next to this script)

STARTED = time.perf_counter()
FIELD_KEY = "source_detail"
NEW_KEY = "lead_source_detail"
OPTIONS = [
    ("baidu", "百度推广", "Baidu ads"),
    ("douyin", "抖音", "Douyin"),
    ("wechat", "微信公众号", "WeChat account"),
    ("referral", "老客户介绍", "Referral"),
    ("expo", "展会", "Trade show"),
    ("cold_call", "电话陌拜", "Cold call"),
    ("website", "官网咨询", "Website"),
    ("partner", "渠道伙伴", "Partner"),
]
RARE = ("vip_event", "贵宾活动", "VIP event")  # on one customer in 1,000 (id % 1000 == 0)


def say(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- set-up


def admin_user():
    from guanxi.core.actions import create_user, ensure_default_roles
    from guanxi.core.models import User

    user = User.objects.filter(username="bench_admin").first()
    if user is None:
        roles = ensure_default_roles()
        user = create_user("bench_admin", password=None, role=roles["admin"], is_superuser=True, actor=None)
    return user


def set_values(vendor: str, batch: int) -> int:
    """Every customer gets option number id % 8 (set-based, by id range; set-up, not measured)."""
    from django.db import connection

    keys = [key for key, _zh, _en in OPTIONS]
    rare_path = RARE[0]
    with connection.cursor() as cur:
        cur.execute("SELECT min(id), max(id) FROM customers_customer")
        low, high = cur.fetchone()
    if low is None:
        return 0
    total = 0
    with connection.cursor() as cur:
        for start in range(low - 1, high, batch):
            if vendor == "postgresql":
                cur.execute(
                    "UPDATE customers_customer SET custom_fields = custom_fields || "
                    "jsonb_build_object(%s::text, (%s::text[])[id %% 8 + 1]) WHERE id > %s AND id <= %s",
                    [FIELD_KEY, keys, start, start + batch],
                )
            else:
                cases = " ".join(f"WHEN {n} THEN '{key}'" for n, key in enumerate(keys))
                cur.execute(
                    "UPDATE customers_customer SET custom_fields = "  # noqa: S608 (constant keys)
                    f"json_set(custom_fields, %s, CASE id % 8 {cases} END) WHERE id > %s AND id <= %s",
                    [f'$."{FIELD_KEY}"', start, start + batch],
                )
            total += cur.rowcount
        if vendor == "postgresql":
            cur.execute(
                "UPDATE customers_customer SET custom_fields = custom_fields || "
                "jsonb_build_object(%s::text, %s::text) WHERE id %% 1000 = 0",
                [FIELD_KEY, rare_path],
            )
        else:
            cur.execute(
                "UPDATE customers_customer SET custom_fields = json_set(custom_fields, %s, %s) "
                "WHERE id % 1000 = 0",
                [f'$."{FIELD_KEY}"', rare_path],
            )
    return total


def analyze(vendor: str) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        if vendor == "postgresql":
            cur.execute("VACUUM ANALYZE customers_customer")
        else:
            cur.execute("ANALYZE")


def count_by_option(vendor: str, key: str) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cur:
        if vendor == "postgresql":
            cur.execute(
                "SELECT custom_fields ->> %s, count(*) FROM customers_customer "
                "WHERE jsonb_exists(custom_fields, %s) GROUP BY 1",
                [key, key],
            )
        else:
            cur.execute(
                "SELECT json_extract(custom_fields, %s), count(*) FROM customers_customer "
                "WHERE json_type(custom_fields, %s) IS NOT NULL GROUP BY 1",
                [f'$."{key}"', f'$."{key}"'],
            )
        return {str(k): n for k, n in cur.fetchall()}


# --------------------------------------------------------------------------- first page


def first_page_query(viewer, option: str, owner_id: int | None, ref: str, *, full: bool = False):
    from guanxi.customers.models import Customer
    from guanxi.customers.queries import with_list_relations
    from guanxi.customization.registry import Registry

    registry = Registry("customer")
    qs = (
        Customer.objects.visible_to(viewer)
        .alive()
        .filter(registry.filter_q([{"field": ref, "op": "eq", "value": option}], user=viewer))
    )
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if full:
        qs = with_list_relations(qs)
    return qs.order_by("-id")[:50]


def time_first_page(pairs, ref: str, *, full: bool = False, owner: bool = True) -> list[float]:
    timings = []
    for viewer, option, owner_user in pairs:
        started = time.perf_counter()
        rows = list(first_page_query(viewer, option, owner_user.pk if owner else None, ref, full=full))
        timings.append((time.perf_counter() - started) * 1000)
        assert all(r.custom_fields.get(ref[3:]) == option for r in rows)
        if owner:
            assert all(r.owner_id == owner_user.pk for r in rows)
    return timings


def raw_first_page_floor(pairs, ref: str) -> list[float]:
    """Floor for the first page: the very SQL the list runs (compiled once per pair beforehand),
    executed on a bare cursor and fetched as tuples: the database's own time, no ORM, no registry."""
    from django.db import connection

    statements = [first_page_query(v, option, o.pk, ref).query.sql_with_params() for v, option, o in pairs]
    timings = []
    with connection.cursor() as cursor:
        for sql, params in statements:
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def single_statement_rename_floor(vendor: str, old: str, new: str) -> float:
    """Floor for the rename: one UPDATE moving every stored value from `old` to `new` (what a rewrite
    without batches would do: the least total work, but one lock over every row for its whole
    duration, which the batched rewrite exists to avoid). Run at the end, on the restored values."""
    from django.db import connection, transaction

    from guanxi.customers.models import Customer

    table = connection.ops.quote_name(Customer._meta.db_table)
    if vendor == "postgresql":
        sql = (
            f"UPDATE {table} SET custom_fields = (custom_fields - %s) || jsonb_build_object(%s, custom_fields -> %s) "
            "WHERE custom_fields ? %s"
        )
        params = [old, new, old, old]
    else:
        sql = (
            f"UPDATE {table} SET custom_fields = json_set(json_remove(custom_fields, %s), %s, "
            "json_extract(custom_fields, %s)) WHERE json_extract(custom_fields, %s) IS NOT NULL"
        )
        params = [f"$.{old}", f"$.{new}", f"$.{old}", f"$.{old}"]
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)  # noqa: S608 (table name from _meta)
    return round(time.perf_counter() - started, 1)


def plan_of(vendor: str, qs) -> tuple[str, bool, list[str]]:
    import re

    from django.db import connection

    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cur:
        if vendor == "postgresql":
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        else:
            cur.execute("EXPLAIN QUERY PLAN " + sql, params)
        rows = cur.fetchall()
    plan = "\n".join(" | ".join(str(c) for c in row) for row in rows)
    if vendor == "postgresql":
        found = re.findall(r"(?:Bitmap Index Scan on|Index(?: Only)? Scan(?: Backward)? using) (\w+)", plan)
        used = sorted(set(found))
        seq = re.search(r"Seq Scan on customers_customer\b", plan) is not None
    else:
        used = sorted(set(re.findall(r"USING (?:COVERING )?INDEX (\w+)", plan)))
        if "USING INTEGER PRIMARY KEY" in plan:
            used.append("rowid")
        seq = re.search(r"\bSCAN (?:TABLE )?customers_customer\b(?! USING)", plan) is not None
    return plan, bool(used) and not seq, used


# --------------------------------------------------------------------------- concurrent client


class Prober(threading.Thread):
    """A second client: every 50 ms a read and an update of one customer; records the slowest of each."""

    def __init__(self, low: int, high: int, field_id: int, batch: int) -> None:
        super().__init__(daemon=True)
        self.low, self.high, self.field_id, self.batch = low, high, field_id, batch
        self.stop = threading.Event()
        self.max_write_ms = self.max_read_ms = 0.0
        self.writes = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        from django.db import connection

        rng = random.Random(7)
        try:
            with connection.cursor() as cur:
                while not self.stop.is_set():
                    cur.execute("SELECT rewrite_cursor FROM core_customfield WHERE id = %s", [self.field_id])
                    row = cur.fetchone()
                    cursor = row[0] if row else 0
                    if self.writes % 2 == 0 and cursor:
                        target = min(
                            self.high, cursor + rng.randint(1, self.batch)
                        )  # the batch being rewritten
                    else:
                        target = rng.randint(self.low, self.high)
                    started = time.perf_counter()
                    cur.execute("SELECT name, custom_fields FROM customers_customer WHERE id = %s", [target])
                    cur.fetchall()
                    self.max_read_ms = max(self.max_read_ms, (time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    cur.execute("UPDATE customers_customer SET name = name WHERE id = %s", [target])
                    self.max_write_ms = max(self.max_write_ms, (time.perf_counter() - started) * 1000)
                    self.writes += 1
                    self.stop.wait(0.05)
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            connection.close()

    def finish(self) -> dict:
        self.stop.set()
        self.join()
        if self.error is not None:
            raise self.error
        return {
            "max_write_ms": round(self.max_write_ms, 1),
            "max_read_ms": round(self.max_read_ms, 1),
            "writes": self.writes,
        }


def rewrite(field_id: int, label: str, low: int, high: int) -> tuple[dict, dict]:
    """run_field_rewrite as the worker runs it, with the prober running; returns (result, prober)."""
    from guanxi.customization.actions import REWRITE_BATCH, run_field_rewrite

    last = [0.0]

    def on_batch(done_to: int, ms: float) -> None:
        now = time.perf_counter()
        if now - last[0] >= 10:
            last[0] = now
            say(f"{label}: rewritten to id {done_to:,} (batch {ms:.0f} ms)")

    prober = Prober(low, high, field_id, REWRITE_BATCH)
    prober.start()
    time.sleep(0.2)
    try:
        result = run_field_rewrite(field_id, on_batch=on_batch)
    finally:
        probe = prober.finish()
    return result, probe


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("GUANXI_DATABASE_URL", ""),
        help="postgres://... (server for the benchmark database) or sqlite:///path (new file). "
        "Default: $GUANXI_DATABASE_URL, else a temporary SQLite file.",
    )
    parser.add_argument(
        "--bench-db", default="guanxi_bench_custom_fields", help="PostgreSQL database to (re)create"
    )
    parser.add_argument("--repeats", type=int, default=20, help="first-page runs (option, owner pairs)")
    parser.add_argument("--setup-batch", type=int, default=50_000, help="rows per set-up UPDATE")
    parser.add_argument("--no-restore", action="store_true", help="skip the restore step")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--drop-after", action="store_true", help="drop the PostgreSQL benchmark database")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (SQLite file)")
    args = parser.parse_args(argv)

    url = args.database_url
    vendor, tmp = start_django(url, args.bench_db, "guanxi-bench-custom-fields-")
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Max, Min

    from guanxi.core.models import User
    from guanxi.customers.models import Customer
    from guanxi.customization import actions as customization
    from guanxi.customization.models import CustomFieldArchive, FieldStatus
    from guanxi.demo import load_demo

    summary: dict = {"database": vendor}
    try:
        say(f"database: {vendor}; migrating …")
        call_command("migrate", interactive=False, verbosity=0)
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter()
            if stage != "customers" or done == total or now - last[0] >= 10:
                last[0] = now
                say(f"load_demo: {stage} {done:,}/{total:,}")

        loaded = load_demo(args.customers, seed=args.seed, orders_per_customer=0, progress=progress)
        admin = admin_user()
        definition = customization.create_custom_field(
            {
                "object_type": "customer",
                "key": FIELD_KEY,
                "label_zh": "客户来源细分",
                "label_en": "Source detail",
                "type": "single_select",
                "required": False,
                "options": [{"key": k, "label_zh": zh, "label_en": en} for k, zh, en in [*OPTIONS, RARE]],
            },
            actor=admin,
        )
        say("set-up: a value for every customer (SQL by id range) …")
        t0 = time.perf_counter()
        valued = set_values(vendor, args.setup_batch)
        say(f"set-up: {valued:,} customers valued in {time.perf_counter() - t0:.1f}s; ANALYZE …")
        analyze(vendor)
        customers = Customer.objects.count()
        bounds = Customer.objects.aggregate(low=Min("id"), high=Max("id"))
        low, high = bounds["low"], bounds["high"]
        before = count_by_option(vendor, FIELD_KEY)
        assert sum(before.values()) == customers, (before, customers)

        # -- 1. first page ------------------------------------------------------------------
        owner_ids = [
            pk
            for pk in User.objects.filter(owned_customers__isnull=False)
            .distinct()
            .order_by("id")
            .values_list("id", flat=True)
        ]
        owners = list(User.objects.filter(pk__in=owner_ids).order_by("id"))
        rng = random.Random(args.seed)
        pairs = []
        for n in range(args.repeats):
            owner = owners[n % len(owners)]
            option = OPTIONS[rng.randrange(len(OPTIONS))][0]
            pairs.append((admin if n % 2 == 0 else owner, option, owner))
        ref = f"cf.{FIELD_KEY}"
        list(first_page_query(admin, pairs[0][1], pairs[0][2].pk, ref))  # warm-up (not counted)
        say(f"first page: {args.repeats} runs over {len(owners)} owners and {len(OPTIONS)} options …")
        timings = time_first_page(pairs, ref)
        floor_page = raw_first_page_floor(pairs, ref)
        full = time_first_page(pairs, ref, full=True)
        no_owner = time_first_page(pairs, ref, owner=False)
        rare_pairs = [(admin if n % 2 == 0 else o, RARE[0], o) for n, o in enumerate(owners)]
        rare = time_first_page(rare_pairs, ref)
        plan, uses_index, indexes = plan_of(vendor, first_page_query(admin, pairs[0][1], pairs[0][2].pk, ref))
        say("plan of the first-page query (admin viewer, one option, one owner):\n" + plan)
        plan_no_owner, _uses, indexes_no_owner = plan_of(
            vendor, first_page_query(admin, pairs[0][1], None, ref)
        )
        say("plan without the owner filter:\n" + plan_no_owner)
        plan_rare, _uses, indexes_rare = plan_of(vendor, first_page_query(admin, RARE[0], owners[0].pk, ref))
        say(f"plan for the rare option ({RARE[0]}, one customer in 1,000) and an owner:\n" + plan_rare)
        say(
            f"first page: median {statistics.median(timings):.1f} ms, max {max(timings):.1f} ms "
            f"(floor, the same SQL on a bare cursor: median {statistics.median(floor_page):.1f} ms); "
            f"with relations median {statistics.median(full):.1f} ms; "
            f"no owner median {statistics.median(no_owner):.1f} ms; "
            f"rare option median {statistics.median(rare):.1f} ms, max {max(rare):.1f} ms"
        )

        # -- 2. rename ------------------------------------------------------------------------
        say(f"rename {FIELD_KEY} -> {NEW_KEY} and rewrite {customers:,} rows …")
        t0 = time.perf_counter()
        customization.rename_custom_field(definition.pk, NEW_KEY, actor=admin)
        renamed, rename_probe = rewrite(definition.pk, "rename", low, high)
        rename_seconds = time.perf_counter() - t0
        say(f"rename: {rename_seconds:.1f}s {renamed} concurrent client {rename_probe}")
        definition.refresh_from_db()
        assert definition.status == FieldStatus.ACTIVE and definition.key == NEW_KEY
        after_rename = count_by_option(vendor, NEW_KEY)
        old_left = sum(count_by_option(vendor, FIELD_KEY).values())
        assert after_rename == before and old_left == 0, (after_rename, before, old_left)
        renamed_rows = sum(after_rename.values())
        timings_after = time_first_page(pairs, f"cf.{NEW_KEY}")
        plan_after, uses_index_after, indexes_after = plan_of(
            vendor, first_page_query(admin, pairs[0][1], pairs[0][2].pk, f"cf.{NEW_KEY}")
        )
        say("plan of the first-page query after the rename:\n" + plan_after)
        say(f"first page after the rename: median {statistics.median(timings_after):.1f} ms")

        # -- 3. delete ------------------------------------------------------------------------
        say(f"delete {NEW_KEY} and archive {customers:,} values …")
        t0 = time.perf_counter()
        customization.delete_custom_field(definition.pk, actor=admin)
        deleted, delete_probe = rewrite(definition.pk, "delete", low, high)
        delete_seconds = time.perf_counter() - t0
        say(f"delete: {delete_seconds:.1f}s {deleted} concurrent client {delete_probe}")
        archived = CustomFieldArchive.objects.filter(field_id=definition.pk).count()
        left = sum(count_by_option(vendor, NEW_KEY).values())
        assert archived == customers and left == 0, (archived, left)

        # -- 4. restore -----------------------------------------------------------------------
        restore_seconds = restore_probe = restored_rows = None
        restored = {}
        if not args.no_restore:
            say("restore …")
            t0 = time.perf_counter()
            customization.restore_custom_field(definition.pk, actor=admin)
            restored, restore_probe = rewrite(definition.pk, "restore", low, high)
            restore_seconds = round(time.perf_counter() - t0, 1)
            say(f"restore: {restore_seconds}s {restored} concurrent client {restore_probe}")
            after_restore = count_by_option(vendor, NEW_KEY)
            assert after_restore == before, (after_restore, before)
            assert not CustomFieldArchive.objects.filter(field_id=definition.pk).exists()
            restored_rows = sum(after_restore.values())

        floor_rename = None
        if not args.no_restore:
            floor_rename = single_statement_rename_floor(vendor, NEW_KEY, FIELD_KEY)
            say(f"floor: one UPDATE renaming every stored value (no batches): {floor_rename}s")

        probes = [p for p in (rename_probe, delete_probe, restore_probe) if p]
        summary.update(
            {
                "customers": customers,
                "load_seconds": loaded["seconds"],
                "first_page_ms": round(statistics.median(timings), 1),
                "first_page_ms_max": round(max(timings), 1),
                "floor_first_page_raw_sql_ms": round(statistics.median(floor_page), 1),
                "floor_rename_single_statement_seconds": floor_rename,
                "first_page_full_ms": round(statistics.median(full), 1),
                "first_page_full_ms_max": round(max(full), 1),
                "first_page_no_owner_ms": round(statistics.median(no_owner), 1),
                "first_page_rare_ms": round(statistics.median(rare), 1),
                "first_page_rare_ms_max": round(max(rare), 1),
                "first_page_after_rename_ms": round(statistics.median(timings_after), 1),
                "first_page_after_rename_ms_max": round(max(timings_after), 1),
                "uses_index": uses_index,
                "plan_indexes": indexes,
                "plan_indexes_no_owner": indexes_no_owner,
                "plan_indexes_rare": indexes_rare,
                "uses_index_after_rename": uses_index_after,
                "plan_indexes_after_rename": indexes_after,
                "rename_seconds": round(rename_seconds, 1),
                "longest_lock_ms": renamed["longest_batch_ms"],
                "rename_batches": renamed["batches"],
                "renamed_rows": renamed_rows,
                "delete_seconds": round(delete_seconds, 1),
                "longest_delete_lock_ms": deleted["longest_batch_ms"],
                "archived_rows": archived,
                "restore_seconds": restore_seconds,
                "longest_restore_lock_ms": restored.get("longest_batch_ms") if restored else None,
                "restored_rows": restored_rows,
                "max_concurrent_write_ms": max(p["max_write_ms"] for p in probes),
                "max_concurrent_read_ms": max(p["max_read_ms"] for p in probes),
                "concurrent_writes": sum(p["writes"] for p in probes),
                "batch_size": customization.REWRITE_BATCH,
            }
        )
    finally:
        connection.close()
        from django.db import connections

        connections.close_all()
        if vendor == "postgresql" and args.drop_after:
            drop_postgres(url, args.bench_db)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(summary, ensure_ascii=False))
    return summary


if __name__ == "__main__":
    main()
