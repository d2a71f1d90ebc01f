"""Bulk writes of the bulk path: multi-row inserts (COPY on PostgreSQL), reserved ids, row results,
and the identity locks of a whole chunk.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from django.db import DatabaseError, connection, models

from guanxi.customers import identity
from guanxi.customers.importing.rows import _Result
from guanxi.customers.importing.state import _Cust
from guanxi.customers.models import (
    ImportRow,
)

log = logging.getLogger(__name__)


def _json(value: Any) -> str:
    return _JSON_ENCODER.encode(value)


_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class _Columns:
    """Column list and defaults of a model, for raw multi-row inserts."""

    def __init__(self, model: type[models.Model], *, with_id: bool) -> None:
        fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
        self.model = model
        self.table = model._meta.db_table
        self.columns = [f.column for f in fields]
        self.index = {f.attname: i for i, f in enumerate(fields)}
        self.defaults = [None if f.primary_key else f.get_default() for f in fields]
        self.json = [isinstance(f, models.JSONField) for f in fields]
        self.kinds = [f.get_internal_type() for f in fields]

    def row(self, values: dict[str, Any]) -> list[Any]:
        row = list(self.defaults)
        index = self.index
        for key, value in values.items():
            row[index[key]] = value
        return row


_COLUMNS: dict[tuple[type[models.Model], bool], _Columns] = {}


def _columns(model: type[models.Model], *, with_id: bool = False) -> _Columns:
    key = (model, with_id)
    if key not in _COLUMNS:
        _COLUMNS[key] = _Columns(model, with_id=with_id)
    return _COLUMNS[key]


def _insert(cols: _Columns, rows: list[list[Any]]) -> None:
    """Insert many rows at once: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    json_positions = [i for i, is_json in enumerate(cols.json) if is_json]
    for row in rows:
        for i in json_positions:
            if row[i] is not None and not isinstance(row[i], str):
                row[i] = _json(row[i])
    names = ", ".join(connection.ops.quote_name(c) for c in cols.columns)
    table = connection.ops.quote_name(cols.table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # noqa: S608
                write = copy.write_row
                for row in rows:
                    write(row)
            return
        adapt = []
        for i, kind in enumerate(cols.kinds):
            if kind == "DateTimeField":
                adapt.append((i, connection.ops.adapt_datetimefield_value))
            elif kind == "DateField":
                adapt.append((i, connection.ops.adapt_datefield_value))
        for row in rows:
            for i, fn in adapt:
                if row[i] is not None:
                    row[i] = fn(row[i])
        marks = ", ".join(["%s"] * len(cols.columns))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608


def _reserve_ids(model: type[models.Model], n: int) -> list[int]:
    """n new primary keys, increasing, for rows inserted with explicit ids in this transaction."""
    if n == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n]
            )
            return sorted(r[0] for r in cursor.fetchall())
        # SQLite: write transactions are IMMEDIATE (one writer at a time), so max(id) is ours.
        quoted = connection.ops.quote_name(table)
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {quoted}")  # noqa: S608
        start = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        seq = cursor.fetchone()
        start = max(start, seq[0] if seq else 0)
        return list(range(start + 1, start + n + 1))


def _insert_import_rows(batch: list[tuple]) -> int:
    cols = _columns(ImportRow)
    _insert(cols, [cols.row({"job_id": j, "row_number": n, "data": d, "status": s}) for j, n, d, s in batch])
    return len(batch)


def _write_row_results(results: list[_Result]) -> None:
    """Store each row's outcome (status, customer, errors) in the chunk's transaction."""
    if not results:
        return
    values = [
        (
            r.row_id,
            r.status,
            r.customer.id if isinstance(r.customer, _Cust) else r.customer,
            _json(r.errors) if r.errors else None,
        )
        for r in results
    ]
    table = connection.ops.quote_name(ImportRow._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ids, statuses, customers, errors = (list(col) for col in zip(*values, strict=True))
            cursor.execute(
                f"UPDATE {table} AS r SET status = v.status, customer_id = v.customer_id, "  # noqa: S608
                "errors = v.errors::jsonb FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[]) "
                "AS v(id, status, customer_id, errors) WHERE r.id = v.id",
                [ids, statuses, customers, errors],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET status = %s, customer_id = %s, errors = %s WHERE id = %s",  # noqa: S608
                [(s, c, e, i) for i, s, c, e in values],
            )


def _lock_identities(idents: Iterable[tuple[str, str]]) -> list[int]:
    """identity.lock_identifiers for a whole chunk in one statement: the same keys, taken in the same
    ascending order (so chunks, webhooks and API upserts never deadlock). Session-level locks,
    released by `_unlock_identities` right after the chunk commits (transaction-level ones would pile
    up in the server's lock table when a caller runs the import inside a transaction)."""
    if connection.vendor != "postgresql":
        return []
    keys = sorted({identity.lock_key(kind, value) for kind, value in idents})
    if keys:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_advisory_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys])
    return keys


def _unlock_identities(keys: list[int]) -> None:
    if not keys:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_advisory_unlock(k)) FROM unnest(%s::bigint[]) AS k", [keys])
    except DatabaseError:  # a broken connection: its session locks went with it
        log.warning("could not release %d identity locks", len(keys), exc_info=True)
