//! Shared helpers: run the binary, ask the oracle, read outputs with independent readers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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
    let mut a = vec![
        "backfill",
        "--simulate",
        "--from",
        from,
        "--to",
        to,
        "--out",
        out,
        "--rate-limit",
        "1000000",
    ];
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
    pub fn start(seed: &str, profile: &str, id: &str, secret: &str) -> Self {
        let port = free_port();
        let mut child = Command::new(BIN)
            .args([
                "sim",
                "serve",
                "--port",
                &port.to_string(),
                "--seed",
                seed,
                "--profile",
                profile,
            ])
            .env("GENESYS_CLIENT_ID", id)
            .env("GENESYS_CLIENT_SECRET", secret)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sim serve");
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
