#!/usr/bin/env bash
# Every check CI runs: formatting, lints, unit and integration tests.
# Integration tests start the real binary and simulator and read Parquet back with
# pyarrow and DuckDB, which this script installs when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c "import pyarrow, duckdb" 2>/dev/null; then
    echo "installing the Parquet readers the tests use (pyarrow, duckdb)…"
    python3 -m pip install --quiet -r scripts/requirements.txt
fi

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test
