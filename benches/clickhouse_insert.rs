//! Insert throughput into a real ClickHouse server: our native client against the
//! server's own `clickhouse-client --query "INSERT … FORMAT Native"`, same rows, same
//! server, one run. Run by scripts/bench.sh (which starts the server):
//!   CLICKHOUSE_PORT=P BENCH_DAYS=5 cargo bench --bench clickhouse_insert
//! Prints encode MB/s, both insert times, rows/s and the ratio (client time / ours).

#![allow(clippy::panic, reason = "a benchmark stops on any failure")]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use genesys_etl::genesys::Secret;
use genesys_etl::schema::ALL_TABLES;
use genesys_etl::sim::{Generator, profile};
use genesys_etl::sink::clickhouse::client::{ConnectConfig, Connection};
use genesys_etl::sink::clickhouse::{ddl, encode, types::ChType};
use genesys_etl::transform::{PageInput, PageRef, Transformer};

const FIRST_DAY: i64 = 19_787; // 2024-03-05
const BLOCK_ROWS: usize = 1 << 20;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn main() {
    genesys_etl::alloc::tune();
    // `cargo bench` passes `--bench`; anything else (cargo test --benches) is a no-op.
    let Ok(port) = env("CLICKHOUSE_PORT", "").parse::<u16>() else {
        eprintln!("clickhouse_insert: set CLICKHOUSE_PORT (scripts/bench.sh does); skipped");
        return;
    };
    let days: i64 = env("BENCH_DAYS", "5").parse().unwrap_or(5);
    let connect = |compression| ConnectConfig {
        host: "127.0.0.1".into(),
        port,
        database: String::new(),
        user: "default".into(),
        password: Secret::new(std::env::var("CLICKHOUSE_PASSWORD").unwrap_or_default()),
        compression,
        connect_timeout: Duration::from_secs(5),
        io_timeout: Duration::from_secs(600),
    };
    let mut conn = Connection::connect(&connect(false)).unwrap_or_else(|e| panic!("{e}"));
    let legacy = conn.server().is_legacy();
    if legacy {
        conn.set(ddl::LEGACY_LOW_CARDINALITY_SETTING, 1);
    }

    // The rows: simulator pages of 1000 conversations, transformed, one batch per table.
    let generator = Generator::new(
        42,
        profile("medium").unwrap_or(genesys_etl::sim::PROFILES[1]),
    );
    let mut transformer = Transformer::new();
    let mut per_table: Vec<Vec<RecordBatch>> = vec![Vec::new(); ALL_TABLES.len()];
    for day in FIRST_DAY..FIRST_DAY + days {
        for chunk in generator.day(day).chunks(1000) {
            let mut page = serde_json::to_vec(&serde_json::json!({ "conversations": chunk }))
                .unwrap_or_default();
            let out = transformer
                .transform(PageInput {
                    page: PageRef::default(),
                    bytes: &mut page,
                    items: None,
                    window: None,
                    version: 1,
                })
                .unwrap_or_else(|e| panic!("{e}"));
            for (t, b) in out.batches.into_iter().enumerate() {
                per_table[t].push(b);
            }
        }
    }
    let rows: usize = per_table.iter().flatten().map(RecordBatch::num_rows).sum();

    let tables: Vec<RecordBatch> = ALL_TABLES
        .iter()
        .zip(&per_table)
        .map(|(table, batches)| {
            arrow_select::concat::concat_batches(&table.arrow_schema(), batches)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();

    let types: Vec<Vec<ChType>> = ALL_TABLES
        .iter()
        .map(|t| ddl::parsed_types(t, legacy).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    // One table's rows as blocks of at most BLOCK_ROWS, with or without block info.
    let blocks = |all: &RecordBatch, types: &[ChType], block_info: bool| -> Vec<Vec<u8>> {
        (0..all.num_rows())
            .step_by(BLOCK_ROWS)
            .map(|offset| {
                let n = BLOCK_ROWS.min(all.num_rows() - offset);
                let mut b = Vec::new();
                encode::encode_batch(&all.slice(offset, n), types, block_info, &mut b)
                    .unwrap_or_else(|e| panic!("{e}"));
                b
            })
            .collect()
    };

    // Encode: blocks for the wire (block info) and the same blocks as Native files. One
    // untimed pass first: on this VM the first touch of 173 MB of fresh memory can cost more
    // than the encoding, and the figure is meant to be the encoder's.
    drop(
        tables
            .iter()
            .zip(&types)
            .map(|(all, types)| blocks(all, types, true))
            .collect::<Vec<_>>(),
    );
    let encode_start = Instant::now();
    let wire: Vec<Vec<Vec<u8>>> = tables
        .iter()
        .zip(&types)
        .map(|(all, types)| blocks(all, types, true))
        .collect();
    let encode_s = encode_start.elapsed().as_secs_f64();
    let bytes: usize = wire.iter().flatten().map(Vec::len).sum();

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for ((table, all), types) in ALL_TABLES.iter().zip(&tables).zip(&types) {
        let file = blocks(all, types, false).concat();
        std::fs::write(dir.path().join(table.name), file).unwrap_or_else(|e| panic!("{e}"));
    }

    let setup = |conn: &mut Connection, db: &str| {
        conn.execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .and_then(|()| {
                ddl::statements(db, legacy)
                    .iter()
                    .try_for_each(|s| conn.execute(s))
            })
            .unwrap_or_else(|e| panic!("{e}"));
    };
    let count = |conn: &mut Connection, db: &str| -> u64 {
        ALL_TABLES
            .iter()
            .map(|t| {
                let b = conn
                    .query(&format!("SELECT count() FROM {db}.{}", t.name))
                    .unwrap_or_else(|e| panic!("{e}"));
                b.first().and_then(|b| b.data[0][0].as_u64()).unwrap_or(0)
            })
            .sum()
    };
    let ours = |conn: &mut Connection, db: &str| -> f64 {
        setup(conn, db);
        let start = Instant::now();
        for (table, blocks) in ALL_TABLES.iter().zip(&wire) {
            let cols: Vec<String> = table.columns.iter().map(|c| ddl::quote(c.name)).collect();
            let sql = format!(
                "INSERT INTO {db}.{} ({}) VALUES",
                table.name,
                cols.join(", ")
            );
            conn.insert(&sql, blocks, &|_| Ok(()))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        start.elapsed().as_secs_f64()
    };
    let client = |conn: &mut Connection, db: &str| -> f64 {
        setup(conn, db);
        let start = Instant::now();
        for table in ALL_TABLES {
            let file =
                std::fs::File::open(dir.path().join(table.name)).unwrap_or_else(|e| panic!("{e}"));
            let ok = Command::new("clickhouse-client")
                .args(["--port", &port.to_string(), "--query"])
                .arg(format!("INSERT INTO {db}.{} FORMAT Native", table.name))
                .stdin(Stdio::from(file))
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "clickhouse-client insert into {}", table.name);
        }
        start.elapsed().as_secs_f64()
    };

    // What 6 clickhouse-client process starts cost by themselves (SELECT 1), best of 3.
    let startup = (0..3)
        .map(|_| {
            let start = Instant::now();
            for _ in ALL_TABLES {
                let ok = Command::new("clickhouse-client")
                    .args(["--port", &port.to_string(), "--query", "SELECT 1"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "clickhouse-client SELECT 1");
            }
            start.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min);
    // Alternate, best of three each, so neither side gets the warmer server.
    let (mut best_ours, mut best_cli, mut best_lz4) = (f64::MAX, f64::MAX, f64::MAX);
    let mut lz4_conn = Connection::connect(&connect(true)).unwrap_or_else(|e| panic!("{e}"));
    if legacy {
        lz4_conn.set(ddl::LEGACY_LOW_CARDINALITY_SETTING, 1);
    }
    for _ in 0..3 {
        best_cli = best_cli.min(client(&mut conn, "bench_cli"));
        best_ours = best_ours.min(ours(&mut conn, "bench_ours"));
        best_lz4 = best_lz4.min(ours(&mut lz4_conn, "bench_lz4"));
    }
    let (n_cli, n_ours, n_lz4) = (
        count(&mut conn, "bench_cli"),
        count(&mut conn, "bench_ours"),
        count(&mut conn, "bench_lz4"),
    );
    assert!(
        n_cli == rows as u64 && n_ours == rows as u64 && n_lz4 == rows as u64,
        "row counts differ: expected {rows}, client {n_cli}, ours {n_ours}, lz4 {n_lz4}"
    );
    for db in ["bench_cli", "bench_ours", "bench_lz4"] {
        let _ = conn.execute(&format!("DROP DATABASE IF EXISTS {db}"));
    }
    let mb = bytes as f64 / 1e6;
    println!(
        "== ClickHouse {} ({}), {rows} rows in 6 tables, {mb:.0} MB of Native blocks",
        conn.server().version(),
        if legacy {
            "legacy types"
        } else {
            "modern types"
        }
    );
    println!(
        "   encode Arrow → Native: {:.0} MB/s on 1 core ({encode_s:.3} s)",
        mb / encode_s
    );
    println!(
        "   insert, ours (native TCP):         {best_ours:.3} s = {:.2} M rows/s, {:.0} MB/s",
        rows as f64 / best_ours / 1e6,
        mb / best_ours
    );
    println!(
        "   insert, ours with LZ4:             {best_lz4:.3} s = {:.2} M rows/s",
        rows as f64 / best_lz4 / 1e6
    );
    println!(
        "   insert, clickhouse-client Native:  {best_cli:.3} s = {:.2} M rows/s (6 processes)",
        rows as f64 / best_cli / 1e6
    );
    println!(
        "   ratio client time / ours: {:.2} (≥ 1.0: ours is at least as fast); without the client's 6 process starts ({startup:.3} s): {:.2}",
        best_cli / best_ours,
        (best_cli - startup) / best_ours
    );
}
