//! ClickHouse sink over the native TCP protocol: Arrow columns straight into idempotent
//! `ReplacingMergeTree(_version)` tables (design.md §5).
//!
//! A page is durable once the server ended every INSERT of it with EndOfStream; only then
//! does the pipeline advance the checkpoint. A page written twice (resume, replay, retry
//! after a reset) inserts the same keys again and the version column keeps one copy:
//! `SELECT … FINAL` or the `<table>_latest` views see each key once.
//!
//! Transient failures (refused, reset, timeouts, a restarting server) are retried with
//! capped, jittered backoff for `retry_for`; anything else (bad data, type mismatch,
//! unknown column) stops the run with the server's code and message.
//!
//! Owns: connections, DDL application, schema checks, retries. Must not touch: Arrow
//! building (transform), checkpoints (pipeline).

pub mod client;
pub mod ddl;
pub mod decode;
pub mod encode;
pub mod types;
pub mod wire;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use rand::RngExt as _;

use self::client::{ConnectConfig, Connection, ServerInfo};
use self::decode::Block;
use self::types::{ChType, same_type_name};
use super::{Persist, Sink, SinkError, Written};
use crate::genesys::Secret;
use crate::page::Window;
use crate::schema::{ALL_TABLES, TableDef};

pub const ENV_PASSWORD: &str = "CLICKHOUSE_PASSWORD";
pub const DEFAULT_PORT: u16 = 9000;
pub const DEFAULT_DATABASE: &str = "genesys";

#[derive(Debug, thiserror::Error)]
pub enum ChError {
    #[error(
        "cannot connect to ClickHouse at {addr}: {source}; is the server running and the port its TCP (native) port?"
    )]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connection to ClickHouse at {addr} failed while {during}: {source}")]
    Io {
        addr: String,
        during: String,
        source: std::io::Error,
    },
    #[error("ClickHouse server error {code} ({name}) while {during}: {message}")]
    Server {
        code: i32,
        name: String,
        message: String,
        during: String,
    },
    #[error("unexpected answer from ClickHouse while {during}: {detail}")]
    Protocol { during: String, detail: String },
    #[error(
        "table {table} does not match the schema of this version:\n  {}\nmigrate or drop the table (see `genesys-etl ddl`), or load into another database",
        differences.join("\n  ")
    )]
    Schema {
        table: String,
        differences: Vec<String>,
    },
    #[error("{0}")]
    Config(String),
    #[error(
        "gave up after {attempts} attempts over {waited_s:.0} s (--clickhouse-retry-for): {last}"
    )]
    GaveUp {
        attempts: u32,
        waited_s: f64,
        last: Box<ChError>,
    },
    /// A termination signal arrived while a transient failure was being waited out.
    #[error("stopped retrying after {attempts} attempts on Ctrl-C or a termination signal: {last}")]
    Interrupted { attempts: u32, last: Box<ChError> },
}

/// Server error codes that mean "try again later", not "your data is wrong".
const TRANSIENT_CODES: &[i32] = &[
    3,   // UNEXPECTED_END_OF_FILE
    159, // TIMEOUT_EXCEEDED
    164, // READONLY (a replica starting up)
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    236, // ABORTED (server shutting down)
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS (merges will catch up)
    319, // UNKNOWN_STATUS_OF_INSERT
    394, // QUERY_WAS_CANCELLED
    999, // KEEPER_EXCEPTION
];

impl ChError {
    /// Whether waiting and trying again can succeed: the retry policy as data.
    pub fn is_transient(&self) -> bool {
        match self {
            ChError::Connect { .. } | ChError::Io { .. } => true,
            ChError::Server { code, .. } => TRANSIENT_CODES.contains(code),
            _ => false,
        }
    }
}

/// Parsed `--clickhouse-url` plus the secret from the environment or a file.
#[derive(Clone, Debug)]
pub struct ClickHouseConfig {
    pub connect: ConnectConfig,
    pub database: String,
    /// How long transient failures are retried before the run stops.
    pub retry_for: Duration,
}

impl ClickHouseConfig {
    /// `tcp://[user@]host[:port][/database]`. The password never comes from the URL.
    pub fn from_url(url: &str, password: Secret) -> Result<Self, ChError> {
        let bad = |why: &str| ChError::Config(format!("--clickhouse-url `{url}`: {why}"));
        let rest = url
            .strip_prefix("tcp://")
            .or_else(|| url.strip_prefix("clickhouse://"))
            .ok_or_else(|| bad("expected tcp://[user@]host[:port][/database]"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, _)) if u.contains(':') => {
                return Err(ChError::Config(format!(
                    "--clickhouse-url must not carry a password (it would show in `ps` and shell history); put it in {ENV_PASSWORD} or --clickhouse-password-file"
                )));
            }
            Some((u, h)) => (u.to_string(), h),
            None => ("default".to_string(), authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|_| bad("the port is not a number"))?,
            ),
            None => (hostport.to_string(), DEFAULT_PORT),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let database = match path.trim_end_matches('/') {
            "" => DEFAULT_DATABASE.to_string(),
            db => db.to_string(),
        };
        ddl::validate_identifier(&database).map_err(|e| bad(&e))?;
        Ok(ClickHouseConfig {
            connect: ConnectConfig {
                host,
                port,
                database: String::new(), // queries name the database; it may not exist yet
                user,
                password,
                compression: false,
                connect_timeout: Duration::from_secs(5),
                io_timeout: Duration::from_secs(300),
            },
            database,
            retry_for: Duration::from_secs(600),
        })
    }
}

/// Reads the password: `CLICKHOUSE_PASSWORD`, else the first line of `file`, else empty.
pub fn load_password(file: Option<&std::path::Path>) -> Result<Secret, ChError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ChError::Config(format!("cannot read password file {}: {e}", path.display()))
        })?;
        return Ok(Secret::new(text.lines().next().unwrap_or("").to_string()));
    }
    Ok(Secret::new(std::env::var(ENV_PASSWORD).unwrap_or_default()))
}

pub struct ClickHouseSink {
    cfg: ClickHouseConfig,
    server: ServerInfo,
    legacy: bool,
    /// Per table: ClickHouse types (declaration order) and the INSERT statement.
    tables: Vec<(Vec<ChType>, String)>,
    pool: Mutex<Vec<Connection>>,
}

impl ClickHouseSink {
    /// Connects (waiting out an unavailable server for `retry_for`), creates the database,
    /// tables and views if missing, and checks existing tables against the schema.
    pub fn open(cfg: ClickHouseConfig) -> Result<Self, ChError> {
        let mut sink = ClickHouseSink {
            cfg,
            server: ServerInfo::default(),
            legacy: false,
            tables: Vec::new(),
            pool: Mutex::new(Vec::new()),
        };
        let (server, legacy) = sink.with_retry("connecting", |conn| {
            Ok((conn.server().clone(), conn.server().is_legacy()))
        })?;
        sink.server = server;
        sink.legacy = legacy;
        let db = sink.cfg.database.clone();
        sink.tables = ALL_TABLES
            .iter()
            .map(|t| {
                let types = ddl::parsed_types(t, legacy).map_err(ChError::Config)?;
                let cols: Vec<String> = t.columns.iter().map(|c| ddl::quote(c.name)).collect();
                let sql = format!(
                    "INSERT INTO {}.{} ({}) VALUES",
                    ddl::quote(&db),
                    ddl::quote(t.name),
                    cols.join(", ")
                );
                Ok((types, sql))
            })
            .collect::<Result<_, ChError>>()?;
        for statement in ddl::statements(&db, legacy) {
            sink.with_retry("creating the schema", |conn| conn.execute(&statement))?;
        }
        for table in ALL_TABLES {
            sink.check_table(table)?;
        }
        Ok(sink)
    }

    pub fn server(&self) -> &ServerInfo {
        &self.server
    }
    pub fn legacy(&self) -> bool {
        self.legacy
    }
    pub fn database(&self) -> &str {
        &self.cfg.database
    }

    /// Compares an existing table's columns with the schema; lists every difference.
    fn check_table(&self, table: &TableDef) -> Result<(), ChError> {
        let sql = format!(
            "SELECT name, type FROM system.columns WHERE database = {} AND table = {}",
            ddl::literal(&self.cfg.database),
            ddl::literal(table.name)
        );
        let blocks = self.with_retry("checking the schema", |conn| conn.query(&sql))?;
        let mut existing: Vec<(String, String)> = Vec::new();
        for b in &blocks {
            for i in 0..b.rows {
                let row = b.row(i);
                existing.push((
                    row[0].as_str().unwrap_or("").to_string(),
                    row[1].as_str().unwrap_or("").to_string(),
                ));
            }
        }
        let expected: Vec<(&str, String)> = table
            .columns
            .iter()
            .zip(ddl::column_types(table, self.legacy))
            .map(|(c, t)| (c.name, t))
            .collect();
        self.matches(table, &expected, &existing)
    }

    /// `Ok` when `existing` columns are exactly `expected`, else every difference.
    fn matches(
        &self,
        table: &TableDef,
        expected: &[(&str, String)],
        existing: &[(String, String)],
    ) -> Result<(), ChError> {
        let differences = diff_columns(expected, existing);
        if differences.is_empty() {
            Ok(())
        } else {
            Err(ChError::Schema {
                table: format!("{}.{}", self.cfg.database, table.name),
                differences,
            })
        }
    }

    /// Runs `f` on a pooled connection, retrying transient failures with capped,
    /// jittered exponential backoff for `retry_for`. A connection that failed is dropped.
    fn with_retry<T>(
        &self,
        what: &str,
        f: impl FnMut(&mut Connection) -> Result<T, ChError>,
    ) -> Result<T, ChError> {
        self.with_retry_counted(what, f).map(|(v, _)| v)
    }

    /// `with_retry`, also returning how many transient failures it waited out. Counted per
    /// call, not by a shared counter: table writes run in parallel, and a difference of a
    /// shared counter would count one worker's retries in another's write too.
    fn with_retry_counted<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&mut Connection) -> Result<T, ChError>,
    ) -> Result<(T, u64), ChError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = self.checkout().and_then(|mut conn| {
                let r = f(&mut conn);
                if r.is_ok() {
                    self.checkin(conn);
                }
                r
            });
            match result {
                Ok(v) => return Ok((v, u64::from(attempt - 1))),
                Err(e) if e.is_transient() && started.elapsed() < self.cfg.retry_for => {
                    let cap = 100u64 << attempt.min(6); // 0.2 s … 6.4 s
                    let wait = Duration::from_millis(rand::rng().random_range(cap / 2..=cap));
                    tracing::warn!(
                        "ClickHouse {what}: {e}; retrying in {:.1} s (attempt {attempt})",
                        wait.as_secs_f64()
                    );
                    if !crate::interrupt::sleep(wait) {
                        return Err(ChError::Interrupted {
                            attempts: attempt,
                            last: Box::new(e),
                        });
                    }
                }
                Err(e) if e.is_transient() => {
                    return Err(ChError::GaveUp {
                        attempts: attempt,
                        waited_s: started.elapsed().as_secs_f64(),
                        last: Box::new(e),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn checkout(&self) -> Result<Connection, ChError> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        if let Some(mut conn) = pooled {
            // A pooled connection may have been closed by a server restart.
            if conn.ping().is_ok() {
                return Ok(conn);
            }
        }
        let mut conn = Connection::connect(&self.cfg.connect)?;
        if conn.server().is_legacy() {
            conn.set(ddl::LEGACY_LOW_CARDINALITY_SETTING, 1);
        }
        Ok(conn)
    }

    fn checkin(&self, conn: Connection) {
        if let Ok(mut p) = self.pool.lock() {
            p.push(conn);
        }
    }

    /// Inserts one table's batches (one block each) in one INSERT; returns the bytes sent
    /// and the transient failures retried on the way.
    pub fn insert_batches(
        &self,
        table: &TableDef,
        batches: &[RecordBatch],
    ) -> Result<Written, ChError> {
        let (types, sql) = &self.tables[table.id as usize];
        let mut blocks = Vec::with_capacity(batches.len());
        for batch in batches {
            let mut block = Vec::with_capacity(batch.get_array_memory_size());
            encode::encode_batch(batch, types, true, &mut block).map_err(|e| {
                ChError::Protocol {
                    during: format!("encoding table `{}`", table.name),
                    detail: e,
                }
            })?;
            blocks.push(block);
        }
        let expected: Vec<(&str, String)> = table
            .columns
            .iter()
            .zip(types)
            .map(|(c, t)| (c.name, t.to_string()))
            .collect();
        let check = |header: &Block| self.matches(table, &expected, &header.columns);
        let (_, retries) = self
            .with_retry_counted(&format!("inserting into `{}`", table.name), |conn| {
                conn.insert(sql, &blocks, &check)
            })?;
        Ok(Written {
            files: 1,
            bytes: blocks.iter().map(|b| b.len() as u64).sum(),
            retries,
        })
    }

    /// Runs a query on a pooled connection (for tests, tools and checks).
    pub fn query(&self, sql: &str) -> Result<Vec<Block>, ChError> {
        self.with_retry("querying", |conn| conn.query(sql))
    }
}

/// Differences between the schema's columns and a table's (or an INSERT header's).
fn diff_columns(expected: &[(&str, String)], existing: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, ty) in expected {
        match existing.iter().find(|(n, _)| n == name) {
            None => out.push(format!("column `{name}` is missing (expected {ty})")),
            Some((_, have)) if !same_type_name(have, ty) => {
                out.push(format!("column `{name}` is {have}, expected {ty}"));
            }
            Some(_) => {}
        }
    }
    for (name, have) in existing {
        if !expected.iter().any(|(n, _)| n == name) {
            out.push(format!("column `{name}` ({have}) is not in the schema"));
        }
    }
    out
}

impl Sink for ClickHouseSink {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    /// Nothing to remove: rewritten pages replace their rows through `_version`.
    fn begin_window(&self, _window: &Window, _from_page: u32) -> Result<u64, SinkError> {
        Ok(0)
    }

    /// The whole INSERT (encoding included, it is cheap next to the server's work) is the
    /// persist half: the worker only hands the batches over.
    fn write_table<'s>(
        &'s self,
        _window: &str,
        _page: u32,
        table: &'static TableDef,
        batches: &[RecordBatch],
        what: &str,
    ) -> Result<Persist<'s>, SinkError> {
        let batches: Vec<RecordBatch> = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .cloned()
            .collect();
        let what = what.to_string();
        Ok(Box::new(move || {
            if batches.is_empty() {
                return Ok(Written::default());
            }
            self.insert_batches(table, &batches)
                .map_err(|source| SinkError::ClickHouseTable {
                    table: table.name,
                    page: what,
                    source,
                })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> Result<ClickHouseConfig, ChError> {
        ClickHouseConfig::from_url(url, Secret::new("s3cret"))
    }

    #[test]
    fn urls_give_host_port_user_and_database() {
        let c = cfg("tcp://etl@db.example:29000/cx").ok();
        let c = c.as_ref().map(|c| {
            (
                c.connect.host.as_str(),
                c.connect.port,
                c.connect.user.as_str(),
                c.database.as_str(),
            )
        });
        assert_eq!(c, Some(("db.example", 29000, "etl", "cx")));
        let d = cfg("tcp://localhost").ok();
        assert_eq!(
            d.map(|c| (c.connect.port, c.connect.user, c.database)),
            Some((9000, "default".into(), "genesys".into()))
        );
    }

    #[test]
    fn passwords_in_urls_and_bad_database_names_are_refused() {
        let e = cfg("tcp://u:hunter2@h:9000/db")
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.contains("CLICKHOUSE_PASSWORD") && !e.contains("hunter2"),
            "{e}"
        );
        assert!(cfg("tcp://h:9000/bad-name").is_err());
        assert!(cfg("http://h:8123").is_err());
    }

    #[test]
    fn transient_and_permanent_failures_are_told_apart() {
        let server = |code| ChError::Server {
            code,
            name: String::new(),
            message: String::new(),
            during: String::new(),
        };
        assert!(server(252).is_transient());
        assert!(server(210).is_transient());
        assert!(!server(53).is_transient()); // TYPE_MISMATCH
        assert!(!server(16).is_transient()); // NO_SUCH_COLUMN_IN_TABLE
        assert!(!server(27).is_transient()); // CANNOT_PARSE_INPUT
        let reset = ChError::Io {
            addr: String::new(),
            during: String::new(),
            source: std::io::ErrorKind::ConnectionReset.into(),
        };
        assert!(reset.is_transient());
    }

    #[test]
    fn column_differences_are_listed() {
        let expected = [
            ("a", "String".to_string()),
            ("b", "DateTime64(3, 'UTC')".into()),
        ];
        let existing = [
            ("b".to_string(), "DateTime64(3,'UTC')".to_string()),
            ("c".into(), "UInt8".into()),
        ];
        assert_eq!(
            diff_columns(&expected, &existing),
            [
                "column `a` is missing (expected String)",
                "column `c` (UInt8) is not in the schema"
            ]
        );
    }
}
