"""Shared by the bench scripts: a fresh PostgreSQL database per benchmark, never the one in the URL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

PROTECTED_DATABASES = {"postgres", "template0", "template1", "test"}


def postgres_bench_url(server_url: str, bench_db: str) -> str:
    """Drop and create `bench_db` on the server of `server_url`; return its URL."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(server_url)
    own_db = parts.path.lstrip("/") or "postgres"
    if bench_db in PROTECTED_DATABASES or bench_db == own_db:
        raise SystemExit(f"refusing to drop and recreate database {bench_db!r}; choose another name")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(bench_db)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(bench_db)))
    return urlunsplit(parts._replace(path="/" + bench_db))


def drop_postgres(server_url: str, bench_db: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(bench_db)))


def bench_database(url: str, bench_db: str, workdir) -> tuple[str, str]:
    """(vendor, database URL) for a benchmark run: a fresh `bench_db` on a PostgreSQL server, a new
    SQLite file given by the URL, or (no URL) a SQLite file in `workdir`."""
    from pathlib import Path

    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql", postgres_bench_url(url, bench_db)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if path.exists():
            raise SystemExit(f"{path} exists; the benchmark needs a new SQLite file")
        return "sqlite", url
    if not url:
        return "sqlite", f"sqlite:///{Path(workdir) / 'bench.sqlite3'}"
    raise SystemExit("--database-url must start with postgres://, postgresql:// or sqlite:///")


def start_django(url: str, bench_db: str, prefix: str):
    """Point Django at a fresh benchmark database (see `bench_database`), with a temporary data dir
    and its own SQLite queue (never a shared Redis queue), and set it up. Returns (vendor, workdir)."""
    import os
    import tempfile
    from pathlib import Path

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["GUANXI_DATA_DIR"] = str(tmp)
    vendor, db_url = bench_database(url, bench_db, tmp)
    os.environ["GUANXI_DATABASE_URL"] = db_url
    os.environ["GUANXI_QUEUE_URL"] = f"sqlite:///{tmp / 'queue.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.settings"
    import django

    django.setup()
    return vendor, tmp


def copy_floor(queries: dict[str, tuple[str, list]]) -> dict[str, float]:
    """Seconds PostgreSQL needs just to write given rows, with the same indexes: a lower bound.

    `queries` maps a table to a SELECT (and its parameters) of rows a measured operation wrote. The
    rows are copied out, then COPYed into an empty `LIKE ... INCLUDING ALL` twin of the table (same
    columns, same indexes, no Python work at all); only that COPY and its commit are timed.
    """
    import io
    import time

    from django.db import connection

    seconds: dict[str, float] = {}
    with connection.cursor() as cur:
        raw = cur.connection
        for table, (query, params) in queries.items():
            buffer = io.BytesIO()
            sql = cur.mogrify(query, params)
            with raw.cursor() as c, c.copy(f"COPY ({sql}) TO STDOUT") as copy:
                for block in copy:
                    buffer.write(block)
            twin = f"floor_{table}"
            cur.execute(f"DROP TABLE IF EXISTS {twin}")
            cur.execute(f"CREATE TABLE {twin} (LIKE {table} INCLUDING ALL)")
            raw.commit()
            started = time.perf_counter()
            with raw.cursor() as c, c.copy(f"COPY {twin} FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            raw.commit()
            seconds[table] = round(time.perf_counter() - started, 2)
            cur.execute(f"DROP TABLE {twin}")
            raw.commit()
    return seconds
