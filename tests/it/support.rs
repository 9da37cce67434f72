//! Shared helpers: run the binary, ask the oracle, read outputs with independent readers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_genesys-etl");

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .arg("--no-progress")
        .env("GENESYS_ETL_LOG", "warn")
        .env_remove("GENESYS_CLIENT_ID")
        .env_remove("GENESYS_CLIENT_SECRET");
    c
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = cmd(args).output().expect("run genesys-etl");
    assert!(
        out.status.success(),
        "genesys-etl {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `backfill --simulate` with the test defaults plus `extra` flags.
pub fn backfill_args<'a>(
    out: &'a str,
    from: &'a str,
    to: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    test_backfill(&["--simulate"], out, from, to, extra)
}

/// `backfill` from `api` (`--simulate` or `--api-base URL`) over `[from, to)` into `out`,
/// no rate limit, then `extra`.
fn test_backfill<'a>(
    api: &[&'a str],
    out: &'a str,
    from: &'a str,
    to: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut a = vec!["backfill"];
    a.extend_from_slice(api);
    a.extend([
        "--from",
        from,
        "--to",
        to,
        "--out",
        out,
        "--rate-limit",
        "1000000",
    ]);
    a.extend_from_slice(extra);
    a
}

pub fn oracle(seed: &str, profile: &str, from: &str, to: &str) -> Value {
    let out = run_ok(&[
        "sim",
        "oracle",
        "--seed",
        seed,
        "--profile",
        profile,
        "--from",
        from,
        "--to",
        to,
    ]);
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

/// Reads an output directory with pyarrow and DuckDB.
pub fn read_back(out: &Path) -> Value {
    let script = root().join("scripts/verify_parquet.py");
    let o = Command::new("python3")
        .arg(&script)
        .arg(out)
        .output()
        .expect("python3 must be installed (scripts/test.sh installs the readers)");
    assert!(
        o.status.success(),
        "verify_parquet.py failed (are pyarrow and duckdb installed? scripts/test.sh installs them):\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("verify JSON")
}

/// Asserts an output equals the oracle table by table, with no key twice.
pub fn assert_matches_oracle(read: &Value, oracle: &Value) {
    assert_eq!(
        read["tables"], oracle["tables"],
        "rows per table differ from the oracle"
    );
    assert_eq!(
        read["distinct_keys"], oracle["tables"],
        "some key appears twice"
    );
    assert_eq!(
        read["checks"], oracle["checks"],
        "checksums differ from the oracle"
    );
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("genesys-etl-it-")
        .tempdir()
        .expect("tempdir")
}

/// A standalone `sim serve` on a free port, killed on drop.
pub struct ExternalSim {
    child: Child,
    pub base: String,
}

impl ExternalSim {
    /// Accepts only `id` / `secret`.
    pub fn start(seed: &str, profile: &str, id: &str, secret: &str) -> Self {
        Self::spawn(seed, profile, Some((id, secret)), &[])
    }

    /// Accepts any credentials; `extra` flags (e.g. `--faults …`).
    pub fn start_with(seed: &str, profile: &str, extra: &[&str]) -> Self {
        Self::spawn(seed, profile, None, extra)
    }

    /// Seed 42, small profile, only `id` / `secret`, `extra` flags.
    pub fn start_with_credentials(id: &str, secret: &str, extra: &[&str]) -> Self {
        Self::spawn("42", "small", Some((id, secret)), extra)
    }

    fn spawn(seed: &str, profile: &str, creds: Option<(&str, &str)>, extra: &[&str]) -> Self {
        let port = free_port();
        let mut c = Command::new(BIN);
        c.args([
            "sim",
            "serve",
            "--port",
            &port.to_string(),
            "--seed",
            seed,
            "--profile",
            profile,
        ])
        .args(extra)
        .env_remove("GENESYS_CLIENT_ID")
        .env_remove("GENESYS_CLIENT_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if let Some((id, secret)) = creds {
            c.env("GENESYS_CLIENT_ID", id)
                .env("GENESYS_CLIENT_SECRET", secret);
        }
        let mut child = c.spawn().expect("start sim serve");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { child, base };
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("sim serve did not start on port {port}");
    }
}

impl Drop for ExternalSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Deterministic kill delays spread over a run (xorshift; the run's own timing varies).
pub fn delays(n: usize, max_ms: u64) -> Vec<u64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            20 + x % max_ms
        })
        .collect()
}

/// Kills `args` after `delay`; returns whether it was still running (a real mid-run kill).
pub fn kill_after(args: &[&str], env: &[(&str, &str)], delay: Duration) -> bool {
    let mut c = cmd(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    true
}

/// Runs `args`, sends `signals` (`kill` options such as `-INT`) once `ready()` holds, and
/// returns the exit code, the stderr and how long the run took to end after the first
/// signal. Fails when the run ends before `ready()`: then nothing was interrupted.
pub fn signal_when(
    args: &[&str],
    ready: impl Fn() -> bool,
    signals: &[&str],
) -> (Option<i32>, String, Duration) {
    let mut child = cmd(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            panic!("the run ended ({status}) before it could be interrupted: {stderr}");
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    let signalled = Instant::now();
    for signal in signals {
        let sent = Command::new("kill")
            .args([*signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    (status.code(), stderr, signalled.elapsed())
}

pub fn timed_run(args: &[&str], env: &[(&str, &str)]) -> Duration {
    let start = Instant::now();
    let mut c = cmd(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    start.elapsed()
}

/// A private ClickHouse server started by `scripts/clickhouse.sh` (installed if missing),
/// in `target/<dir>`. Returns its native TCP port.
pub fn clickhouse(dir: &str) -> u16 {
    let o = Command::new("bash")
        .arg(root().join("scripts/clickhouse.sh"))
        .arg("start")
        .env("CH_DIR", root().join("target").join(dir))
        .output()
        .expect("run scripts/clickhouse.sh");
    assert!(
        o.status.success(),
        "scripts/clickhouse.sh start failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let url = String::from_utf8_lossy(&o.stdout).trim().to_string();
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in the URL")
}

pub fn clickhouse_ctl(dir: &str, action: &str) {
    let o = Command::new("bash")
        .arg(root().join("scripts/clickhouse.sh"))
        .arg(action)
        .env("CH_DIR", root().join("target").join(dir))
        .output()
        .expect("run scripts/clickhouse.sh");
    assert!(
        o.status.success(),
        "clickhouse.sh {action}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs SQL with the server's own `clickhouse-client` (independent of our native client)
/// and returns its TabSeparated output.
pub fn ch_client(port: u16, sql: &str) -> Result<String, String> {
    let o = Command::new("clickhouse-client")
        .args(["--port", &port.to_string(), "--multiquery", "--query", sql])
        .arg("--allow_experimental_low_cardinality_type=1")
        .stdin(Stdio::null())
        .output()
        .expect("clickhouse-client (scripts/clickhouse.sh installs it)");
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).to_string())
    }
}

pub fn ch_u64(port: u16, sql: &str) -> i64 {
    let out = ch_client(port, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    out.parse()
        .unwrap_or_else(|_| panic!("{sql}: not a number: {out}"))
}

/// What a ClickHouse database holds, in the oracle's shape: FINAL rows, distinct keys and
/// the checksums an old server can recompute (legacy DateTime has whole seconds, so the
/// millisecond segment-duration sum is left out), plus raw rows before deduplication.
pub fn read_clickhouse(port: u16, db: &str) -> Value {
    let mut tables = serde_json::Map::new();
    let mut distinct = serde_json::Map::new();
    let mut raw = serde_json::Map::new();
    for (table, key) in [
        ("conversations", "conversation_id"),
        ("participants", "conversation_id, participant_id"),
        (
            "participant_attributes",
            "conversation_id, participant_id, name",
        ),
        ("sessions", "conversation_id, participant_id, session_id"),
        (
            "segments",
            "conversation_id, participant_id, session_id, segment_index",
        ),
        (
            "session_metrics",
            "conversation_id, participant_id, session_id, metric_index",
        ),
    ] {
        let t = format!("{db}.{table}");
        tables.insert(
            table.into(),
            ch_u64(port, &format!("SELECT count() FROM {t} FINAL")).into(),
        );
        distinct.insert(
            table.into(),
            ch_u64(
                port,
                &format!("SELECT count() FROM (SELECT DISTINCT {key} FROM {t})"),
            )
            .into(),
        );
        raw.insert(
            table.into(),
            ch_u64(port, &format!("SELECT count() FROM {t}")).into(),
        );
    }
    let mut checks = serde_json::Map::new();
    let c = format!("{db}.conversations");
    checks.insert(
        "conversations.open".into(),
        ch_u64(
            port,
            &format!("SELECT count() FROM {c} FINAL WHERE conversation_end IS NULL"),
        )
        .into(),
    );
    checks.insert(
        "conversations.start_seconds_sum".into(),
        ch_u64(
            port,
            &format!("SELECT sum(toUInt64(conversation_start)) FROM {c} FINAL"),
        )
        .into(),
    );
    checks.insert(
        "session_metrics.value_sum".into(),
        ch_u64(
            port,
            &format!("SELECT sum(value) FROM {db}.session_metrics FINAL"),
        )
        .into(),
    );
    serde_json::json!({"tables": tables, "distinct_keys": distinct, "raw": raw, "checks": checks})
}

/// Asserts a ClickHouse database equals the oracle (the checks an old server can verify).
pub fn assert_clickhouse_matches_oracle(read: &Value, oracle: &Value) {
    assert_eq!(
        read["tables"], oracle["tables"],
        "FINAL rows per table differ from the oracle"
    );
    assert_eq!(
        read["distinct_keys"], oracle["tables"],
        "distinct keys differ from the oracle"
    );
    for (name, value) in read["checks"].as_object().expect("checks") {
        assert_eq!(value, &oracle["checks"][name], "checksum {name}");
    }
}

/// The newest run summary in `<out>/_runs`.
pub fn latest_summary(out: &Path) -> Value {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("_runs"))
        .expect("_runs")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let last = files.last().expect("a run summary");
    serde_json::from_slice(&std::fs::read(last).expect("read summary")).expect("summary JSON")
}

/// `backfill` against a running API (`--api-base`, e.g. an `ExternalSim`) with the test
/// defaults plus `extra` flags.
pub fn api_backfill_args<'a>(
    out: &'a str,
    base: &'a str,
    from: &'a str,
    to: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    test_backfill(&["--api-base", base], out, from, to, extra)
}
