//! Command-line surface (clap derive). Raw flags only: `config` validates them into the
//! types the library accepts. Only `main.rs` uses this module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  everything asked was written
  1  internal error (a bug: please report it)
  2  bad command line or configuration
  3  partial: some windows lie past the API's data availability date; rerun later
  4  bad input data: a page could not be parsed (the error names page, cursor, table, field)
  5  the Genesys API refused or kept failing (credentials, permissions, quota, outage)
  6  the output could not be written (disk, permissions, ClickHouse refused the data
     or stayed unreachable for --clickhouse-retry-for)
130  interrupted (Ctrl-C, SIGTERM): the pages fetched before it are written and
     checkpointed; rerun the same command to continue. A second Ctrl-C quits at once

Credentials come from GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET or --credentials-file,
never from flags; the ClickHouse password from CLICKHOUSE_PASSWORD or
--clickhouse-password-file. Rerunning the same command after any failure or kill resumes from the
checkpoint in <out>/_state and never duplicates rows.";

#[derive(Parser, Debug)]
#[command(
    name = "genesys-etl",
    version,
    about = "Genesys Cloud CX analytics into Parquet or ClickHouse, exactly once",
    long_about = "Extracts Genesys Cloud conversation details (async analytics jobs) into six typed, \
                  Hive-partitioned Parquet tables (or ClickHouse ReplacingMergeTree tables over the native \
                  protocol): conversations, participants, participant_attributes, \
                  sessions, segments, session_metrics. Resumable and idempotent. Without credentials, \
                  --simulate runs the same pipeline against the built-in Genesys simulator.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log filter (tracing env-filter syntax), e.g. `info` or `genesys_etl=debug`.
    #[arg(long, global = true, env = "GENESYS_ETL_LOG")]
    pub log: Option<String>,
    /// No progress bar, even on a terminal.
    #[arg(long, global = true)]
    pub no_progress: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Extract a date range of conversation details into Parquet or ClickHouse (resumable).
    Backfill(BackfillArgs),
    /// Re-transform saved results pages (from --archive-raw) without calling the API.
    Replay(ReplayArgs),
    /// The local Genesys API simulator and its oracle.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Print the ClickHouse DDL (database, tables, `_latest` views); idempotent to apply.
    Ddl(DdlArgs),
}

#[derive(Args, Debug)]
pub struct DdlArgs {
    /// Database name.
    #[arg(long, default_value = "genesys")]
    pub database: String,
    /// For servers older than 20.1 (no DateTime64), e.g. Debian's 18.16: DateTime('UTC')
    /// timestamps and the LowCardinality session setting.
    #[arg(long)]
    pub legacy: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkKind {
    /// Hive-partitioned Parquet files under --out (no server needed).
    Parquet,
    /// ClickHouse over the native TCP protocol (--clickhouse-url).
    Clickhouse,
}

/// Encoding of Parquet string columns other than enumerations and parent ids.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParquetStrings {
    /// PLAIN: read by every Parquet reader.
    Plain,
    /// DELTA_LENGTH_BYTE_ARRAY: about 5% less CPU per run and 2% smaller files, but a
    /// format 2.x encoding some readers lack (Spark < 3.4 vectorized, Velox-based engines
    /// before 2026, Iceberg's vectorized reader).
    DeltaLength,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
}

#[derive(Args, Debug, Clone)]
pub struct SinkArgs {
    /// Where the tables go. With clickhouse, --out keeps only the checkpoint and run summaries.
    #[arg(long, value_enum, default_value = "parquet")]
    pub sink: SinkKind,
    /// tcp://[user@]host[:port][/database] (native TCP port, default 9000; database default
    /// `genesys`, created if missing). The password is never part of the URL.
    #[arg(long, env = "CLICKHOUSE_URL", required_if_eq("sink", "clickhouse"))]
    pub clickhouse_url: Option<String>,
    /// File whose first line is the ClickHouse password (else CLICKHOUSE_PASSWORD, else empty).
    #[arg(long)]
    pub clickhouse_password_file: Option<PathBuf>,
    /// Parquet string encoding: plain for any reader, delta-length for a little speed
    /// and size where every reader of the files supports it (see the README).
    #[arg(long, value_enum, default_value = "plain")]
    pub parquet_strings: ParquetStrings,
    /// Block compression on the wire: lz4 pays off on real networks, not on loopback.
    #[arg(long, value_enum, default_value = "none")]
    pub clickhouse_compression: Compression,
    /// Seconds to keep retrying while ClickHouse is unreachable or restarting.
    #[arg(long, default_value_t = 600)]
    pub clickhouse_retry_for: u64,
}

#[derive(Args, Debug, Clone)]
pub struct Pipeline {
    /// Transform threads (default: all cores). The fetch or read thread and the file
    /// writers come on top: a replay with --threads 1 keeps ~1.15-1.25 cores busy.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Pages in flight between fetch and transform: the memory bound.
    #[arg(long, default_value_t = 8)]
    pub channel_capacity: usize,
    /// Target Parquet row-group size in MiB.
    #[arg(long, default_value_t = 64)]
    pub row_group_mib: usize,
    /// Arrow MiB of consecutive pages written together as one file per table and day (one
    /// INSERT per table for ClickHouse); the checkpoint advances group by group.
    #[arg(long, default_value_t = 32)]
    pub group_mib: usize,
}

#[derive(Args, Debug)]
pub struct BackfillArgs {
    /// First UTC day, inclusive (YYYY-MM-DD).
    #[arg(long)]
    pub from: String,
    /// Last UTC day, exclusive (YYYY-MM-DD).
    #[arg(long)]
    pub to: String,
    /// Output directory (tables, _state checkpoint, _runs summaries).
    #[arg(long)]
    pub out: PathBuf,
    /// API base URL, e.g. https://api.mypurecloud.de (the login host is derived from it).
    #[arg(long, conflicts_with_all = ["region", "simulate"])]
    pub api_base: Option<String>,
    /// Genesys region, e.g. us-east-1, eu-central-1.
    #[arg(long, conflicts_with = "simulate")]
    pub region: Option<String>,
    /// Login host base URL when it is not the API host with `api.` → `login.`.
    #[arg(long)]
    pub login_base: Option<String>,
    /// File with GENESYS_CLIENT_ID=… and GENESYS_CLIENT_SECRET=… lines.
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// Run against the built-in simulator on a free loopback port.
    #[arg(long)]
    pub simulate: bool,
    /// Simulator seed (with --simulate).
    #[arg(long, default_value_t = 42, requires = "simulate")]
    pub seed: u64,
    /// Simulator org profile: small, medium, large (with --simulate).
    #[arg(long, default_value = "small", requires = "simulate")]
    pub profile: String,
    /// Window per details job: `1d`, `12h`, `6h`, `1h` (or P1D, PT6H).
    #[arg(long, default_value = "1d")]
    pub window: String,
    /// Conversations per results page.
    #[arg(long, default_value_t = 1000)]
    pub page_size: usize,
    /// Requests per minute the org's budget allows this OAuth client [default: 300, the
    /// Genesys per-token limit; with --simulate the simulator's `budget` fault, else 60000].
    #[arg(long)]
    pub api_budget: Option<f64>,
    /// Share of --api-budget this run may spend, leaving the rest to wallboards and other
    /// integrations on the same budget. Every request counts, retries included.
    #[arg(long, default_value_t = 0.5)]
    pub api_share: f64,
    /// Requests per minute, overriding --api-budget × --api-share.
    #[arg(long)]
    pub rate_limit: Option<f64>,
    /// Seconds one API request may take (connect + whole response) before it is retried.
    #[arg(long, default_value_t = 120.0)]
    pub http_timeout: f64,
    /// Consecutive failed requests (5xx, timeouts, resets) that open the circuit breaker.
    #[arg(long, default_value_t = 5)]
    pub breaker_threshold: u32,
    /// Seconds the open breaker waits before one probe request (doubles while probes fail,
    /// up to 10 minutes).
    #[arg(long, default_value_t = 30.0)]
    pub breaker_cooldown: f64,
    /// Extract the last N days of the range again even if done (Genesys restates recent
    /// data nightly); their rows are replaced, not added.
    #[arg(long, default_value_t = 0)]
    pub restate_days: u32,
    /// Simulator fault plan (with --simulate), e.g. `429=0.3,5xx=0.1`; see `sim serve --help`.
    #[arg(long, default_value = "", requires = "simulate")]
    pub faults: String,
    /// Also save every raw page here, for `replay`.
    #[arg(long)]
    pub archive_raw: Option<PathBuf>,
    #[command(flatten)]
    pub pipeline: Pipeline,
    #[command(flatten)]
    pub sink: SinkArgs,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Directory of saved results pages (.json / .json.gz).
    #[arg(long)]
    pub input: PathBuf,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub pipeline: Pipeline,
    #[command(flatten)]
    pub sink: SinkArgs,
}

#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Serve the simulated Genesys API on loopback until interrupted.
    Serve(SimServeArgs),
    /// Print the exact expected rows per table for a day range, as JSON.
    Oracle(SimOracleArgs),
    /// Measure how fast the simulator serves results pages over HTTP.
    Bench(SimBenchArgs),
}

#[derive(Args, Debug)]
pub struct SimServeArgs {
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// small, medium or large.
    #[arg(long, default_value = "small")]
    pub profile: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 86_400)]
    pub token_ttl: u64,
    /// Minimum time a job stays QUEUED/PENDING, in ms.
    #[arg(long, default_value_t = 30)]
    pub job_latency_ms: u64,
    /// Largest accepted pageSize.
    #[arg(long, default_value_t = 1000)]
    pub max_page_size: usize,
    /// Fault plan, deterministic from the seed: name=value pairs (see the list below).
    #[arg(long, default_value = "", long_help = crate::sim::faults::FAULTS_HELP)]
    pub faults: String,
}

#[derive(Args, Debug)]
pub struct SimOracleArgs {
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value = "small")]
    pub profile: String,
    /// First UTC day, inclusive.
    #[arg(long)]
    pub from: String,
    /// Last UTC day, exclusive.
    #[arg(long)]
    pub to: String,
    /// Expected rows after the range was extracted again under `--faults restate=RATE`.
    #[arg(long, default_value_t = 0.0)]
    pub restated: f64,
}

#[derive(Args, Debug)]
pub struct SimBenchArgs {
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value = "large")]
    pub profile: String,
    /// First UTC day; `--days` days are fetched.
    #[arg(long, default_value = "2024-03-04")]
    pub from: String,
    #[arg(long, default_value_t = 2)]
    pub days: i64,
    #[arg(long, default_value_t = 1000)]
    pub page_size: usize,
}
