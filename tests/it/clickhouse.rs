//! ClickHouse sink against a real server (Debian's 18.16, started by scripts/clickhouse.sh)
//! and the real simulator; counts come from the oracle and are read back with the server's
//! own clickhouse-client. Each test uses its own database.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

/// The shared server of these tests (the restart test has its own).
const SERVER: &str = "clickhouse-it";
const FROM: &str = "2024-05-06";
const TO: &str = "2024-05-09";

fn ch_args<'a>(out: &'a str, url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = backfill_args(
        out,
        FROM,
        TO,
        &["--sink", "clickhouse", "--clickhouse-url", url],
    );
    a.extend_from_slice(extra);
    a
}

#[test]
fn sim_to_clickhouse_equals_the_oracle_and_a_rerun_changes_nothing() {
    let port = clickhouse(SERVER);
    let url = format!("tcp://127.0.0.1:{port}/it_oracle");
    ch_client(port, "DROP DATABASE IF EXISTS it_oracle").unwrap();
    let oracle = oracle("42", "small", FROM, TO);
    let out = tmp();
    let o = run_ok(&ch_args(out.path().to_str().unwrap(), &url, &[]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("output: ClickHouse"));
    let first = read_clickhouse(port, "it_oracle");
    assert_clickhouse_matches_oracle(&first, &oracle);
    assert_eq!(
        ch_u64(port, "SELECT count() FROM it_oracle.segments_latest"),
        oracle["tables"]["segments"].as_i64().unwrap(),
        "the _latest view shows each key once"
    );

    // A second run into a fresh state directory inserts every row again (LZ4 framing
    // this time): the raw row count doubles, the FINAL view does not move.
    let again = tmp();
    run_ok(&ch_args(
        again.path().to_str().unwrap(),
        &url,
        &["--clickhouse-compression", "lz4"],
    ));
    let second = read_clickhouse(port, "it_oracle");
    assert_clickhouse_matches_oracle(&second, &oracle);
    let summary = latest_summary(again.path());
    assert_eq!(
        summary["totals"]["rows"], oracle["tables"],
        "the second run inserted every row again"
    );
    assert!(summary["totals"]["files"].as_u64().unwrap() > 0);
}

#[test]
fn kill_9_mid_load_then_rerun_is_exact() {
    let port = clickhouse(SERVER);
    let url = format!("tcp://127.0.0.1:{port}/it_kill");
    let oracle = oracle("42", "small", FROM, TO);
    // Small pages and 6-hour windows: many inserts to land a kill between.
    let extra = ["--page-size", "40", "--window", "6h", "--threads", "2"];
    let probe = tmp();
    ch_client(port, "DROP DATABASE IF EXISTS it_kill").unwrap();
    let took = timed_run(&ch_args(probe.path().to_str().unwrap(), &url, &extra), &[]);
    let mut mid_run = 0;
    // Within the first three quarters of an uninterrupted run (see resume.rs).
    for delay in delays(4, took.as_millis() as u64 * 3 / 4) {
        ch_client(port, "DROP DATABASE IF EXISTS it_kill").unwrap();
        let dir = tmp();
        let args = ch_args(dir.path().to_str().unwrap(), &url, &extra);
        if kill_after(&args, &[], Duration::from_millis(delay)) {
            mid_run += 1;
        }
        timed_run(&args, &[]);
        assert_clickhouse_matches_oracle(&read_clickhouse(port, "it_kill"), &oracle);
    }
    assert!(mid_run >= 3, "only {mid_run} of 4 kills landed mid-run");
}

#[test]
fn a_server_restart_mid_run_is_waited_out_and_the_result_is_exact() {
    const OWN: &str = "clickhouse-restart";
    let port = clickhouse(OWN);
    let url = format!("tcp://127.0.0.1:{port}/it_restart");
    ch_client(port, "DROP DATABASE IF EXISTS it_restart").unwrap();
    let oracle = oracle("42", "small", FROM, TO);
    let out = tmp();
    let args = ch_args(
        out.path().to_str().unwrap(),
        &url,
        &["--page-size", "20", "--window", "1h", "--threads", "1"],
    );
    let mut child = cmd(&args)
        .env("GENESYS_ETL_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it create the schema and load a while, then take the server away.
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run finished before the restart"
    );
    clickhouse_ctl(OWN, "stop");
    std::thread::sleep(Duration::from_millis(1500));
    clickhouse_ctl(OWN, "start");
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "run failed across the restart:\n{stderr}"
    );
    assert!(
        stderr.contains("retrying in"),
        "no retry was logged:\n{stderr}"
    );
    let summary = latest_summary(out.path());
    assert!(summary["totals"]["sink_retries"].as_u64().unwrap() > 0);
    assert_clickhouse_matches_oracle(&read_clickhouse(port, "it_restart"), &oracle);
}

#[test]
fn a_table_altered_by_hand_fails_with_a_permanent_error_naming_the_column() {
    let port = clickhouse(SERVER);
    let url = format!("tcp://127.0.0.1:{port}/it_mismatch");
    ch_client(port, "DROP DATABASE IF EXISTS it_mismatch").unwrap();
    let ddl = run_ok(&["ddl", "--legacy", "--database", "it_mismatch"]);
    ch_client(port, &String::from_utf8_lossy(&ddl.stdout)).unwrap();
    ch_client(
        port,
        "ALTER TABLE it_mismatch.segments MODIFY COLUMN segment_type String",
    )
    .unwrap();
    let out = tmp();
    let o = cmd(&ch_args(
        out.path().to_str().unwrap(),
        &url,
        &["--clickhouse-retry-for", "5"],
    ))
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("table it_mismatch.segments does not match the schema")
            && stderr.contains(
                "column `segment_type` is String, expected LowCardinality(Nullable(String))"
            ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("retrying"),
        "a schema error is not transient:\n{stderr}"
    );
    assert_eq!(ch_u64(port, "SELECT count() FROM it_mismatch.segments"), 0);
}

#[test]
fn ddl_applies_twice_and_is_what_the_sink_expects() {
    let port = clickhouse(SERVER);
    ch_client(port, "DROP DATABASE IF EXISTS it_ddl").unwrap();
    let ddl = run_ok(&["ddl", "--legacy", "--database", "it_ddl"]);
    let script = String::from_utf8_lossy(&ddl.stdout).to_string();
    ch_client(port, &script).unwrap();
    ch_client(port, &script).expect("applying the DDL a second time");
    assert_eq!(
        ch_u64(
            port,
            "SELECT count() FROM system.tables WHERE database = 'it_ddl'"
        ),
        12,
        "six tables and six _latest views"
    );
    // The sink finds exactly the columns it expects in the tables the script made.
    let out = tmp();
    let url = format!("tcp://127.0.0.1:{port}/it_ddl");
    run_ok(&backfill_args(
        out.path().to_str().unwrap(),
        "2024-05-06",
        "2024-05-07",
        &["--sink", "clickhouse", "--clickhouse-url", &url],
    ));
}

#[test]
fn an_unreachable_server_is_retried_then_reported() {
    let out = tmp();
    let o = cmd(&ch_args(
        out.path().to_str().unwrap(),
        "tcp://127.0.0.1:1/x",
        &["--clickhouse-retry-for", "1"],
    ))
    .env("CLICKHOUSE_PASSWORD", "pw-Zq81-never-printed")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("cannot connect to ClickHouse at 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(stderr.contains("gave up after"), "{stderr}");
    assert!(
        !stderr.contains("pw-Zq81"),
        "the password leaked:\n{stderr}"
    );
}

#[test]
fn ctrl_c_cuts_the_wait_for_an_unreachable_server_short_with_exit_130() {
    let out = tmp();
    // The default --clickhouse-retry-for is 600 s: without the signal this run would wait.
    let args = ch_args(out.path().to_str().unwrap(), "tcp://127.0.0.1:1/x", &[]);
    let started = std::time::Instant::now();
    let retrying = || started.elapsed() > Duration::from_millis(1500);
    let (code, stderr, took) = signal_when(&args, retrying, &["-INT"]);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("stopped retrying"), "{stderr}");
    assert_eq!(latest_summary(out.path())["status"], "interrupted");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// Runs scripts/verify_native.py (chDB) and parses its JSON.
fn chdb(args: &[&str]) -> serde_json::Value {
    let o = std::process::Command::new("python3")
        .arg(root().join("scripts/verify_native.py"))
        .args(args)
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "verify_native.py {args:?} failed (is chdb-core installed? scripts/test.sh installs it):\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("verify_native JSON")
}

#[test]
fn every_encoded_type_reads_back_in_a_modern_engine() {
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder, StringDictionaryBuilder};
    use arrow_array::types::Int32Type;
    use arrow_array::*;
    use genesys_etl::sink::clickhouse::encode::{BlockColumn, encode_block};
    use genesys_etl::sink::clickhouse::types::ChType;

    let ts = || {
        Arc::new(
            TimestampMillisecondArray::from(vec![1_709_546_400_123, 1_709_632_799_999])
                .with_timezone("UTC"),
        ) as ArrayRef
    };
    let mut list = ListBuilder::new(StringBuilder::new());
    list.values().append_value("a");
    list.values().append_value("b");
    list.append(true);
    list.append(false);
    let mut lc = StringDictionaryBuilder::<Int32Type>::new();
    lc.append_value("voice");
    lc.append_value("voice");
    let mut lcn = StringDictionaryBuilder::<Int32Type>::new();
    lcn.append_null();
    lcn.append_value("chat");
    let columns: Vec<(&str, &str, ArrayRef)> = vec![
        ("u8", "UInt8", Arc::new(UInt8Array::from(vec![0, 255]))),
        ("u16", "UInt16", Arc::new(UInt16Array::from(vec![1, 65535]))),
        (
            "u32",
            "UInt32",
            Arc::new(UInt32Array::from(vec![2, u32::MAX])),
        ),
        (
            "u64",
            "UInt64",
            Arc::new(UInt64Array::from(vec![3, 1 << 40])),
        ),
        ("i8", "Int8", Arc::new(Int8Array::from(vec![-128, 127]))),
        ("i16", "Int16", Arc::new(Int16Array::from(vec![-300, 300]))),
        (
            "i32",
            "Int32",
            Arc::new(Int32Array::from(vec![-70_000, 70_000])),
        ),
        (
            "i64",
            "Int64",
            Arc::new(Int64Array::from(vec![-(1 << 40), 5])),
        ),
        (
            "f64",
            "Float64",
            Arc::new(Float64Array::from(vec![1.5, -0.25])),
        ),
        (
            "flag",
            "UInt8",
            Arc::new(BooleanArray::from(vec![true, false])),
        ),
        (
            "s",
            "String",
            Arc::new(StringArray::from(vec!["", "héllo"])),
        ),
        ("dt", "DateTime('UTC')", ts()),
        ("dt64", "DateTime64(3, 'UTC')", ts()),
        (
            "ns",
            "Nullable(String)",
            Arc::new(StringArray::from(vec![None, Some("x")])),
        ),
        (
            "ni",
            "Nullable(Int64)",
            Arc::new(Int64Array::from(vec![Some(-1), None])),
        ),
        ("arr", "Array(String)", Arc::new(list.finish())),
        ("lc", "LowCardinality(String)", Arc::new(lc.finish())),
        (
            "lcn",
            "LowCardinality(Nullable(String))",
            Arc::new(lcn.finish()),
        ),
    ];
    let types: Vec<ChType> = columns
        .iter()
        .map(|(_, t, _)| ChType::parse(t).unwrap())
        .collect();
    let block: Vec<BlockColumn<'_>> = columns
        .iter()
        .zip(&types)
        .map(|((name, _, a), ty)| BlockColumn {
            name,
            ty,
            array: a.as_ref(),
        })
        .collect();
    let mut bytes = Vec::new();
    encode_block(&block, 2, false, &mut bytes).unwrap();
    let dir = tmp();
    let file = dir.path().join("types.native");
    std::fs::write(&file, &bytes).unwrap();

    let read = chdb(&["read", file.to_str().unwrap()]);
    let meta: Vec<(String, String)> = serde_json::from_value(read["meta"].clone()).unwrap();
    let expected_meta: Vec<(String, String)> = columns
        .iter()
        .map(|(n, t, _)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(meta, expected_meta);
    let expected = serde_json::json!([
        [
            0,
            1,
            2,
            3,
            -128,
            -300,
            -70000,
            -(1_i64 << 40),
            1.5,
            1,
            "",
            "2024-03-04 10:00:00",
            "2024-03-04 10:00:00.123",
            null,
            -1,
            ["a", "b"],
            "voice",
            null
        ],
        [
            255,
            65535,
            u32::MAX,
            1_u64 << 40,
            127,
            300,
            70000,
            5,
            -0.25,
            0,
            "héllo",
            "2024-03-05 09:59:59",
            "2024-03-05 09:59:59.999",
            "x",
            null,
            [],
            "voice",
            "chat"
        ]
    ]);
    assert_eq!(read["data"], expected);
}

#[test]
fn the_modern_ddl_and_real_tables_load_in_a_modern_engine() {
    use genesys_etl::schema::ALL_TABLES;
    use genesys_etl::sink::clickhouse::{ddl, encode, types::ChType};
    use genesys_etl::transform::{PageInput, PageRef, Transformer};

    let mut page =
        std::fs::read(root().join("fixtures/pages/good/two-conversations.json")).unwrap();
    let out = Transformer::new()
        .transform(PageInput {
            page: PageRef::default(),
            bytes: &mut page,
            items: None,
            window: None,
            version: 1,
        })
        .unwrap();
    let dir = tmp();
    let mut rows = serde_json::Map::new();
    for (table, batch) in ALL_TABLES.iter().zip(&out.batches) {
        let types: Vec<ChType> = ddl::parsed_types(table, false).unwrap();
        let mut bytes = Vec::new();
        encode::encode_batch(batch, &types, false, &mut bytes).unwrap();
        std::fs::write(dir.path().join(format!("{}.native", table.name)), bytes).unwrap();
        let first_start = batch
            .column_by_name("conversation_start")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::TimestampMillisecondArray>()
            .unwrap()
            .values()
            .iter()
            .copied()
            .min();
        rows.insert(
            table.name.into(),
            serde_json::json!([batch.num_rows(), first_start]),
        );
    }
    let ddl_file = dir.path().join("ddl.sql");
    std::fs::write(&ddl_file, ddl::script("modern", false)).unwrap();
    let loaded = chdb(&[
        "load",
        ddl_file.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    for (table, v) in rows {
        let (n, first_start): (u64, Option<i64>) = serde_json::from_value(v).unwrap();
        assert!(n > 0, "{table}: the fixture has rows");
        assert_eq!(
            loaded[&table]["final"], n,
            "{table}: FINAL rows after loading twice"
        );
        assert!(loaded[&table]["raw"].as_u64().unwrap() >= n, "{table}");
        assert_eq!(
            loaded[&table]["min_start_ms"].as_i64(),
            first_start,
            "{table}: millisecond timestamps"
        );
    }
}

#[test]
fn the_native_client_reads_results_server_logs_exceptions_and_passwords() {
    use genesys_etl::genesys::Secret;
    use genesys_etl::sink::clickhouse::ChError;
    use genesys_etl::sink::clickhouse::client::{ConnectConfig, Connection};
    use genesys_etl::sink::clickhouse::decode::Value;

    let port = clickhouse(SERVER);
    let cfg = |user: &str, password: &str| ConnectConfig {
        host: "127.0.0.1".into(),
        port,
        database: String::new(),
        user: user.into(),
        password: Secret::new(password),
        compression: false,
        connect_timeout: Duration::from_secs(5),
        io_timeout: Duration::from_secs(30),
    };
    let mut conn = Connection::connect(&cfg("etl", "etl-test-password-Zq81")).unwrap();
    assert!(conn.server().revision > 0);
    // Results of several types, decoded from Native blocks.
    let blocks = conn
        .query("SELECT toUInt64(42) AS n, 'héllo' AS s, [1, 2] AS a, CAST(NULL AS Nullable(Int32)) AS z")
        .unwrap();
    assert_eq!(
        blocks[0].row(0),
        [
            Value::UInt(42),
            Value::Str("héllo".into()),
            Value::Array(vec![Value::UInt(1), Value::UInt(2)]),
            Value::Null
        ]
    );
    // Server log packets arrive when asked for, and are read past.
    conn.set("send_logs_level", "information");
    let rows = conn.query("SELECT count() FROM numbers(1000)").unwrap();
    assert_eq!(rows[0].row(0), [Value::UInt(1000)]);
    assert!(conn.log_lines > 0, "no Log packet was received");
    // An exception carries the server's code and message.
    match conn.query("SELECT throwIf(1)") {
        Err(ChError::Server { code, message, .. }) => {
            assert_eq!(code, 395, "{message}");
            assert!(message.contains("throwIf"), "{message}");
        }
        other => panic!("expected a server exception, got {other:?}"),
    }
    // A wrong password is a server error (not retried), without the password in it.
    let e = Connection::connect(&cfg("etl", "not-the-password-Q7"))
        .err()
        .unwrap();
    assert!(!e.is_transient(), "{e}");
    assert!(!e.to_string().contains("not-the-password-Q7"), "{e}");
}
