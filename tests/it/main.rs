//! Integration tests: the real binary, the real simulator over HTTP, Parquet read back by
//! pyarrow and DuckDB (scripts/verify_parquet.py). One binary keeps link time low.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_pages;
mod cli;
mod clickhouse;
mod faults;
mod parquet_e2e;
mod resume;
mod support;
