"""Fast inserts of many rows for set-based actions: audit entries, outbox events, histories.

Django's `bulk_create` builds a model instance per row and compiles every value through the field
(about 60 µs a row, the bigger part of a 100,000-customer reclaim). The side rows of a set-based
action are written in a known shape, so `insert_rows` takes plain tuples instead:

- PostgreSQL: ids are reserved from the table's sequence in one query (when asked for), then the
  rows go in with `COPY ... FROM STDIN` (psycopg's C writer);
- SQLite: `executemany` of one prepared INSERT; ids come from `INSERT ... RETURNING id` in batches
  (as Django's own bulk_create on SQLite does).

Values are stored as `bulk_create` would store them: JSON fields through the field's encoder,
datetimes through the backend's adapter. `ObjectRef` stands in for a model instance where a writer
needs only its type, pk and label (`audit.record_many`, `events.emit_many`), so callers with ids
and names from a values() query do not build model instances either.

On PostgreSQL a set-based action can go one step further and never bring its rows to Python:
`insert_select` builds an `INSERT ... SELECT ... FROM <source>` over a data-modifying CTE (e.g. the
rows an `UPDATE ... RETURNING` moved), and `Column` / `json_object_sql` say which values come from
the source rows and which are constants (see `customers.ownership` for the one user: the reclaim
sweep).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models

SQLITE_MAX_VARIABLES = 32_000


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A model row known by its class, primary key and label (what `str(obj)` would show)."""

    model: type[models.Model]
    pk: int
    label: str = ""

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the source rows of an `insert_select` (as opposed to a constant value)."""

    name: str


@dataclass(frozen=True)
class Sql:
    """A statement (or a CTE body) and its parameters, in order."""

    text: str
    params: list[Any]


def value_sql(value: Any, cast: str = "") -> Sql:
    """A source column (`Column`) or a constant (a parameter, with an optional SQL cast)."""
    if isinstance(value, Column):
        return Sql(connection.ops.quote_name(value.name), [])
    return Sql(f"%s{cast}", [value])


def json_object_sql(values: dict[str, Any]) -> Sql:
    """`jsonb_build_object(...)` of source columns and JSON-ready constants (PostgreSQL)."""
    parts, params = [], []
    for key, value in values.items():
        parts.append("%s::text")
        params.append(key)
        if isinstance(value, Column):
            parts.append(connection.ops.quote_name(value.name))
        else:
            parts.append("%s::jsonb")
            params.append(json.dumps(value))
    return Sql(f"jsonb_build_object({', '.join(parts)})", params)


def insert_select(
    model: type[models.Model], values: dict[str, Any | Sql], source: str, *, returning: Sequence[str] = ()
) -> Sql:
    """`INSERT INTO <model's table> (<fields>) SELECT <values> FROM <source>` (PostgreSQL): `values`
    maps attribute names (`actor_id`) to a `Column` of `source`, a constant, or ready `Sql`."""
    meta, quote = model._meta, connection.ops.quote_name
    columns, exprs, params = [], [], []
    for name, value in values.items():
        columns.append(quote(meta.get_field(name).column))
        sql = value if isinstance(value, Sql) else value_sql(value)
        exprs.append(sql.text)
        params += sql.params
    text = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) "  # noqa: S608 (names from _meta)
        f"SELECT {', '.join(exprs)} FROM {source}"
    )
    if returning:
        text += " RETURNING " + ", ".join(quote(meta.get_field(name).column) for name in returning)
    return Sql(text, params)


def model_of(obj: models.Model | ObjectRef) -> type[models.Model]:
    return obj.model if isinstance(obj, ObjectRef) else type(obj)


def _converter(field: models.Field) -> Callable[[Any], Any] | None:
    """How one value of `field` is handed to the database driver (None: as it is)."""
    if isinstance(field, models.JSONField):
        encoder = field.encoder

        def dump_json(value: Any) -> Any:
            return None if value is None else json.dumps(value, cls=encoder)

        return dump_json
    if connection.vendor != "postgresql" and isinstance(field, models.DateTimeField):
        adapt = connection.ops.adapt_datetimefield_value
        return adapt
    return None


# Fewer rows go in one INSERT … RETURNING (one statement) rather than COPY (with the ids drawn
# first: two); COPY pays off from a few dozen rows.
COPY_FROM_ROWS = 20


def jit_off() -> None:
    """On PostgreSQL, turn JIT compilation off for the rest of the current transaction (call inside
    `transaction.atomic()`). Set-based statements over an id range or an index pay 20-650 ms of
    compiling per statement and gain nothing from it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    return_ids: bool = False,
) -> list[int]:
    """Insert `rows` (tuples in the order of `fields`, attribute names such as `actor_id`) into
    `model`'s table. Returns the new ids in row order when `return_ids`, else an empty list."""
    meta = model._meta
    model_fields = [meta.get_field(name) for name in fields]
    converters = [(i, c) for i, c in enumerate(_converter(f) for f in model_fields) if c is not None]
    prepared: list[list[Any]] = []
    for row in rows:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i])
        prepared.append(values)
    if not prepared:
        return []
    quote = connection.ops.quote_name
    columns = [f.column for f in model_fields]
    if connection.vendor == "postgresql" and len(prepared) > COPY_FROM_ROWS:
        return _copy_postgresql(meta.db_table, meta.pk.column, columns, prepared, return_ids, quote)
    return _insert_values(meta.db_table, meta.pk.column, columns, prepared, return_ids, quote)


def _copy_postgresql(db_table, pk_column, columns, rows, return_ids, quote) -> list[int]:
    table, ids = quote(db_table), []
    with connection.cursor() as cursor:
        if return_ids:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [db_table, pk_column, len(rows)],
            )
            ids = [r[0] for r in cursor.fetchall()]
            columns = [pk_column, *columns]
            rows = [[pk, *values] for pk, values in zip(ids, rows, strict=True)]
        names = ", ".join(quote(c) for c in columns)
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # noqa: S608 (names from _meta)
            for values in rows:
                copy.write_row(values)
    return ids


def _insert_values(db_table, pk_column, columns, rows, return_ids, quote) -> list[int]:
    table = quote(db_table)
    names = ", ".join(quote(c) for c in columns)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        if not return_ids:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES {one}", rows)  # noqa: S608
            return []
        ids: list[int] = []
        per_batch = max(1, SQLITE_MAX_VARIABLES // max(len(columns), 1))
        for start in range(0, len(rows), per_batch):
            batch = rows[start : start + per_batch]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(batch))} RETURNING {quote(pk_column)}",  # noqa: S608
                [value for values in batch for value in values],
            )
            ids += [r[0] for r in cursor.fetchall()]
        return ids
