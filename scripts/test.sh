#!/usr/bin/env bash
# The whole suite: lint, then every test once on SQLite (with the SQLite queue) and once on
# PostgreSQL (with the Redis queue). Services: PostgreSQL 127.0.0.1:5432 (trust, database `test`),
# Redis 127.0.0.1:6379. Override with GUANXI_TEST_PG_URL / GUANXI_TEST_REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PG_URL=${GUANXI_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${GUANXI_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}

echo "== lint (ruff)"
$BIN/ruff check .
$BIN/ruff format --check .
echo "== import contracts (import-linter, [tool.importlinter] in pyproject.toml)"
$BIN/lint-imports

# The two passes share nothing (own data dir, database and queue), so they run side by side, each
# with pytest-xdist workers (GUANXI_TEST_WORKERS, default 2: when one pass ends first, the other's
# workers get both cores; each worker has its own data dir, database and queue, see test_settings).
# Each pass writes its own log, printed whole when both are done.
run() {
  local label=$1 log=$2; shift 2
  local data_dir
  data_dir=$(mktemp -d)
  {
    echo "== tests: $label"
    env -u GUANXI_DATABASE_URL -u GUANXI_QUEUE_URL GUANXI_DATA_DIR="$data_dir" "$@" $BIN/pytest \
      -n "${GUANXI_TEST_WORKERS:-2}" --dist worksteal "${PYTEST_ARGS[@]}"
  } >"$log" 2>&1
  local status=$?
  rm -rf "$data_dir"
  return $status
}
PYTEST_ARGS=("$@")
logs=$(mktemp -d)
set +e
run "SQLite database, SQLite queue" "$logs/sqlite.log" env GUANXI_TEST_BACKEND=sqlite &
sqlite_pid=$!
run "PostgreSQL database, Redis queue" "$logs/postgresql.log" env GUANXI_TEST_BACKEND=postgresql \
  GUANXI_DATABASE_URL="$PG_URL" GUANXI_QUEUE_URL="$REDIS_URL" &
pg_pid=$!
wait $sqlite_pid; sqlite_status=$?
wait $pg_pid; pg_status=$?
set -e
cat "$logs/sqlite.log" "$logs/postgresql.log"
rm -rf "$logs"
echo "== SQLite pass: exit $sqlite_status; PostgreSQL pass: exit $pg_status"
[ "$sqlite_status" -eq 0 ] && [ "$pg_status" -eq 0 ]
