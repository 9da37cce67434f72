#!/usr/bin/env bash
# Every check CI runs: formatting, lints, unit and integration tests.
# Integration tests start the real binary and simulator, read Parquet back with pyarrow
# and DuckDB, load a private ClickHouse server (scripts/clickhouse.sh, Debian's 18.16)
# and check the Native encoder with chDB. Missing readers and the server are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c "import pyarrow, duckdb, chdb" 2>/dev/null; then
    echo "installing the independent readers the tests use (pyarrow, duckdb, chdb-core)…"
    python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
fi
scripts/clickhouse.sh install
# The tests start these servers on demand; stop them (and only them) at the end.
trap 'for d in clickhouse-it clickhouse-restart; do CH_DIR=target/$d scripts/clickhouse.sh stop || true; done' EXIT

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test
