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

run() {
  local label=$1; shift
  echo "== tests: $label"
  local data_dir
  data_dir=$(mktemp -d)
  env -u GUANXI_DATABASE_URL -u GUANXI_QUEUE_URL GUANXI_DATA_DIR="$data_dir" "$@" $BIN/pytest "${PYTEST_ARGS[@]}"
  rm -rf "$data_dir"
}
PYTEST_ARGS=("$@")
run "SQLite database, SQLite queue" env GUANXI_TEST_BACKEND=sqlite
run "PostgreSQL database, Redis queue" env GUANXI_TEST_BACKEND=postgresql GUANXI_DATABASE_URL="$PG_URL" GUANXI_QUEUE_URL="$REDIS_URL"
