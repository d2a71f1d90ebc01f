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
