//! The jobs a user runs: `backfill` and `replay`. Validates raw flags into a config once,
//! wires source → pipeline → sink, reports progress, writes the run summary
//! (`<out>/_runs/<run-id>.json`) whether the run succeeded or not.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::checkpoint::CheckpointStore;
use crate::cli::{
    BackfillArgs, Compression, ParquetStrings, Pipeline, ReplayArgs, SinkArgs, SinkKind,
};
use crate::genesys::{ApiCounters, ApiError, Client, ClientConfig, Credentials, Secret};
use crate::page::Window;
use crate::pipeline::backfill::{Backfill, FetchReport};
use crate::pipeline::replay::Replay;
use crate::pipeline::{Commit, PipelineError, PipelineOptions, Totals};
use crate::progress::Progress;
use crate::sim::data::{MS_PER_DAY, parse_day};
use crate::sim::{SimConfig, SimServer};
use crate::sink::clickhouse::{ClickHouseConfig, ClickHouseSink, load_password};
use crate::sink::parquet::{DATASET, ParquetSink, StringEncoding, write_durably};
use crate::sink::{Sink, SinkError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(
        "{deferred} window(s) from {first} on lie past the API's data availability date {available}; they were not extracted. Rerun the same command later to complete them."
    )]
    Deferred {
        deferred: usize,
        first: String,
        available: String,
    },
    /// A termination signal stopped the fetching; what was fetched before it is written.
    #[error("interrupted (Ctrl-C or a termination signal): {done}; {next}")]
    Interrupted { done: String, next: &'static str },
}

impl RunError {
    /// Exit code, as documented in `--help`.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Config(_) => 2,
            RunError::Deferred { .. } => 3,
            RunError::Interrupted { .. } => crate::interrupt::EXIT_CODE,
            RunError::Pipeline(p) => match p {
                PipelineError::Transform(_)
                | PipelineError::BadPage { .. }
                | PipelineError::Input { .. } => 4,
                PipelineError::Api(ApiError::Config(_)) => 2,
                PipelineError::Api(ApiError::Interrupted(_)) => crate::interrupt::EXIT_CODE,
                PipelineError::Sink(e) if e.interrupted() => crate::interrupt::EXIT_CODE,
                PipelineError::Api(_) => 5,
                PipelineError::Sink(_) | PipelineError::Checkpoint(_) => 6,
                PipelineError::Internal(_) => 1,
            },
        }
    }
}

/// The run summary written to `<out>/_runs/<run-id>.json`.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub command: &'static str,
    pub status: &'static str,
    pub error: Option<String>,
    pub asked: serde_json::Value,
    pub windows: WindowsSummary,
    pub totals: Totals,
    pub api: Option<serde_json::Value>,
    /// With --simulate: what the simulator's fault plan injected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulator_injected: Option<serde_json::Value>,
    pub duration_s: f64,
    pub rows_per_s: f64,
    pub input_mb_per_s: f64,
    /// Whether `<out>/_runs/<run_id>.json` was written (the human summary points at it
    /// only then).
    #[serde(skip)]
    pub written: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct WindowsSummary {
    pub total: u64,
    pub committed_this_run: u64,
    pub skipped_already_done: u64,
    pub resumed: u64,
    pub deferred_past_availability: Vec<String>,
    pub jobs_submitted: u64,
    pub stale_files_removed: u64,
    /// Windows extracted again from page 0 (FAILED/expired job, expired cursor).
    pub restarted: u64,
    /// Finished windows extracted again because of --restate-days.
    pub restated: u64,
}

fn pipeline_options(p: &Pipeline) -> PipelineOptions {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = p.threads.unwrap_or(cores).max(1);
    // Each worker may hold a group being written and the commit stage one being filled:
    // keep that under ~256 MiB of Arrow data whatever the thread count.
    let group_cap = (256usize << 20) / (threads + 1);
    PipelineOptions {
        threads,
        channel_capacity: p.channel_capacity.max(1),
        group_bytes: (p.group_mib.max(1) << 20).min(group_cap),
    }
}

/// The sink the flags ask for, and the checkpoint name that goes with it: each
/// destination keeps its own progress, so the same --out can feed Parquet and ClickHouse.
fn open_sink(
    args: &SinkArgs,
    out: &Path,
    pipeline: &Pipeline,
) -> Result<(Box<dyn Sink>, String), RunError> {
    std::fs::create_dir_all(out)
        .map_err(|e| RunError::Pipeline(PipelineError::Sink(SinkError::io(out, e))))?;
    match args.sink {
        SinkKind::Parquet => {
            let strings = match args.parquet_strings {
                ParquetStrings::Plain => StringEncoding::Plain,
                ParquetStrings::DeltaLength => StringEncoding::DeltaLength,
            };
            let sink = ParquetSink::new(out, pipeline.row_group_mib << 20)
                .map_err(|e| RunError::Pipeline(e.into()))?
                .with_string_encoding(strings);
            Ok((Box::new(sink), DATASET.to_string()))
        }
        SinkKind::Clickhouse => {
            let url = args.clickhouse_url.as_deref().ok_or_else(|| {
                RunError::Config(
                    "--sink clickhouse needs --clickhouse-url (or CLICKHOUSE_URL)".into(),
                )
            })?;
            let password = load_password(args.clickhouse_password_file.as_deref())
                .map_err(|e| RunError::Config(e.to_string()))?;
            let mut cfg = ClickHouseConfig::from_url(url, password)
                .map_err(|e| RunError::Config(e.to_string()))?;
            cfg.connect.compression = args.clickhouse_compression == Compression::Lz4;
            cfg.retry_for = std::time::Duration::from_secs(args.clickhouse_retry_for);
            let target = format!("{}:{}/{}", cfg.connect.host, cfg.connect.port, cfg.database);
            let sink = ClickHouseSink::open(cfg)
                .map_err(|e| RunError::Pipeline(PipelineError::Sink(SinkError::ClickHouse(e))))?;
            tracing::info!(
                server = sink.server().version(),
                legacy = sink.legacy(),
                "ClickHouse at {target} ready"
            );
            let checkpoint = format!("{DATASET}-clickhouse-{}", sink.database());
            Ok((Box::new(sink), checkpoint))
        }
    }
}

/// The sink as the run summary records it (the URL never carries a password).
fn describe_sink(args: &SinkArgs) -> serde_json::Value {
    match args.sink {
        SinkKind::Parquet => serde_json::json!("parquet"),
        SinkKind::Clickhouse => serde_json::json!({"clickhouse": args.clickhouse_url}),
    }
}

/// Parses `1d`, `12h`, `30m`, `P1D`, `PT6H` into ms.
pub fn parse_window(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_uppercase();
    let t = t
        .strip_prefix("PT")
        .or_else(|| t.strip_prefix('P'))
        .unwrap_or(&t);
    let (num, unit) = t.split_at(t.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("--window `{s}`: expected e.g. 1d, 12h, 30m"))?;
    let ms = match unit {
        "D" => n * MS_PER_DAY,
        "H" => n * 3_600_000,
        "M" => n * 60_000,
        _ => return Err(format!("--window `{s}`: unit must be d, h or m")),
    };
    if ms <= 0 || ms > 7 * MS_PER_DAY {
        return Err(format!("--window `{s}`: must be between 1m and 7d"));
    }
    if MS_PER_DAY % ms != 0 && ms % MS_PER_DAY != 0 {
        return Err(format!(
            "--window `{s}`: must divide a day (or be whole days) so windows align to UTC days"
        ));
    }
    Ok(ms)
}

fn run_id() -> String {
    let now = chrono::Utc::now();
    format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), std::process::id())
}

fn write_summary(out: &Path, summary: &mut RunSummary) {
    let dir = out.join("_runs");
    let bytes = serde_json::to_vec_pretty(summary).unwrap_or_default();
    match write_durably(&dir, &format!("{}.json", summary.run_id), &bytes) {
        Ok(_) => summary.written = true,
        Err(e) => tracing::warn!(error = %e, "could not write the run summary"),
    }
}

fn api_json(c: &ApiCounters) -> serde_json::Value {
    let g = ApiCounters::get;
    let state = match g(&c.breaker_state) {
        crate::genesys::BREAKER_OPEN => "open",
        crate::genesys::BREAKER_HALF_OPEN => "half-open",
        _ => "closed",
    };
    serde_json::json!({
        "requests": g(&c.requests), "retries": g(&c.retries), "status_429": g(&c.status_429),
        "status_401": g(&c.status_401), "status_5xx": g(&c.status_5xx),
        "transport_errors": g(&c.transport_errors), "tokens_fetched": g(&c.tokens_fetched),
        "truncated_pages": g(&c.truncated_pages),
        "bytes": g(&c.bytes), "limiter_wait_ms": g(&c.limiter_wait_ms),
        "breaker": {"opens": g(&c.breaker_opens), "probes": g(&c.breaker_probes), "state": state},
    })
}

/// Validated backfill settings.
struct BackfillPlan {
    from_day: i64,
    to_day: i64,
    window_ms: i64,
    requests_per_minute: f64,
    faults: crate::sim::faults::FaultPlan,
}

fn plan(args: &BackfillArgs) -> Result<BackfillPlan, RunError> {
    let day = |flag: &str, s: &str| {
        parse_day(s).ok_or_else(|| {
            RunError::Config(format!("--{flag} `{s}`: expected a UTC day as YYYY-MM-DD"))
        })
    };
    let (from_day, to_day) = (day("from", &args.from)?, day("to", &args.to)?);
    if from_day >= to_day {
        return Err(RunError::Config(format!(
            "--from {} must be before --to {} (--to is exclusive)",
            args.from, args.to
        )));
    }
    let window_ms = parse_window(&args.window).map_err(RunError::Config)?;
    if !(1..=10_000).contains(&args.page_size) {
        return Err(RunError::Config(
            "--page-size must be between 1 and 10000".into(),
        ));
    }
    if !(args.api_share > 0.0 && args.api_share <= 1.0) {
        return Err(RunError::Config(
            "--api-share must be above 0 and at most 1 (a share of --api-budget)".into(),
        ));
    }
    let faults = crate::sim::faults::FaultPlan::parse(&args.faults).map_err(RunError::Config)?;
    // The simulated org has no budget unless its fault plan sets one.
    let budget = args.api_budget.unwrap_or(if args.simulate {
        faults.budget_per_minute.map_or(60_000.0, f64::from)
    } else {
        300.0
    });
    let requests_per_minute = args.rate_limit.unwrap_or(budget * args.api_share);
    if requests_per_minute <= 0.0 || !requests_per_minute.is_finite() {
        return Err(RunError::Config(
            "--rate-limit / --api-budget must be positive (requests per minute)".into(),
        ));
    }
    if args.http_timeout <= 0.0 || args.breaker_cooldown < 0.0 || args.breaker_threshold == 0 {
        return Err(RunError::Config(
            "--http-timeout must be positive, --breaker-cooldown not negative, --breaker-threshold at least 1".into(),
        ));
    }
    Ok(BackfillPlan {
        from_day,
        to_day,
        window_ms,
        requests_per_minute,
        faults,
    })
}

/// Runs `backfill`; prints nothing itself except progress. Returns the summary.
pub fn backfill(
    args: &BackfillArgs,
    progress_on_terminal: bool,
) -> Result<RunSummary, (RunError, Option<RunSummary>)> {
    let plan = plan(args).map_err(|e| (e, None))?;
    let started = Instant::now();
    let run_id = run_id();
    // The simulator lives as long as this function when --simulate is set.
    let mut _sim = None;
    let (api_base, login_base, credentials) = if args.simulate {
        let profile = crate::sim::profile(&args.profile).ok_or_else(|| {
            (
                RunError::Config(format!(
                    "--profile `{}`: expected small, medium or large",
                    args.profile
                )),
                None,
            )
        })?;
        let creds = Credentials::load(None).unwrap_or_else(|_| Credentials {
            client_id: "genesys-etl-simulator".into(),
            client_secret: Secret::new(format!("sim-{:x}", std::process::id() as u64 ^ 0x5eed)),
        });
        let mut cfg = SimConfig::new(args.seed, profile);
        cfg.faults = plan.faults.clone();
        cfg.credentials = Some((creds.client_id.clone(), creds.client_secret.clone()));
        let sim = SimServer::start(cfg, 0).map_err(|e| (RunError::Config(e.to_string()), None))?;
        let base = sim.base_url();
        _sim = Some(sim);
        (base.clone(), base, creds)
    } else {
        let api_base = match (&args.api_base, &args.region) {
            (Some(b), _) => b.trim_end_matches('/').to_string(),
            (None, Some(r)) => {
                crate::genesys::region_api_base(r).map_err(|e| (RunError::Config(e), None))?
            }
            (None, None) => {
                return Err((
                    RunError::Config(
                        "say where the API is: --region NAME, --api-base URL, or --simulate".into(),
                    ),
                    None,
                ));
            }
        };
        let creds = Credentials::load(args.credentials_file.as_deref())
            .map_err(|e| (RunError::Config(e), None))?;
        let login = args
            .login_base
            .clone()
            .unwrap_or_else(|| crate::genesys::login_base_for(&api_base));
        (api_base, login, creds)
    };

    let counters = Arc::new(ApiCounters::default());
    let mut client_cfg = ClientConfig::new(api_base, credentials);
    client_cfg.login_base = login_base;
    client_cfg.page_size = args.page_size;
    client_cfg.requests_per_minute = plan.requests_per_minute;
    client_cfg.timeout = std::time::Duration::from_secs_f64(args.http_timeout);
    client_cfg.breaker_threshold = args.breaker_threshold;
    client_cfg.breaker_cooldown = std::time::Duration::from_secs_f64(args.breaker_cooldown);
    let mut client = Client::new(client_cfg, counters.clone());

    let asked = serde_json::json!({
        "from": args.from, "to": args.to, "window": args.window, "out": args.out.display().to_string(),
        "simulate": args.simulate, "sink": describe_sink(&args.sink),
    });
    let mut windows = WindowsSummary::default();
    let injected = || _sim.as_ref().map(|s| serde_json::json!(s.injected()));
    // Written whether the run succeeds or fails.
    let summarize = |e: Option<&RunError>, windows: WindowsSummary, totals: Totals| {
        let mut summary = finish_summary(
            &run_id,
            "backfill",
            e,
            asked.clone(),
            windows,
            totals,
            Some(&counters),
            started,
        );
        summary.simulator_injected = injected();
        write_summary(&args.out, &mut summary);
        summary
    };
    let fail = |e: RunError, windows: WindowsSummary, totals: Totals| {
        let summary = summarize(Some(&e), windows, totals);
        (e, Some(summary))
    };

    let (sink, checkpoint_name) = match open_sink(&args.sink, &args.out, &args.pipeline) {
        Ok(s) => s,
        Err(e) => return Err(fail(e, windows, Totals::default())),
    };
    let store = CheckpointStore::new(&args.out, &checkpoint_name);
    let mut checkpoint = match store.load(DATASET, plan.window_ms) {
        Ok(c) => c,
        Err(e) => {
            return Err(fail(
                PipelineError::from(e).into(),
                windows,
                Totals::default(),
            ));
        }
    };
    // Restatement: the last N days of the range are extracted again even if done; the sink
    // replaces their rows (Parquet: the window's files as a unit; ClickHouse: by _version).
    if args.restate_days > 0 {
        let since = (plan.to_day - i64::from(args.restate_days)) * MS_PER_DAY;
        let before = checkpoint.completed.len();
        checkpoint
            .completed
            .retain(|start| *start < since || *start >= plan.to_day * MS_PER_DAY);
        windows.restated = (before - checkpoint.completed.len()) as u64;
    }

    let all = Window::split(
        plan.from_day * MS_PER_DAY,
        plan.to_day * MS_PER_DAY,
        plan.window_ms,
    );
    windows.total = all.len() as u64;
    // Never extract past the availability date: the API would silently return a partial tail.
    let available = match client.availability() {
        Ok(a) => a,
        Err(e) => {
            return Err(fail(
                PipelineError::from(e).into(),
                windows,
                Totals::default(),
            ));
        }
    };
    let (ready, deferred): (Vec<Window>, Vec<Window>) =
        all.into_iter().partition(|w| w.end_ms <= available);
    windows.deferred_past_availability = deferred.iter().map(Window::interval).collect();
    let already = ready
        .iter()
        .filter(|w| checkpoint.completed.contains(&w.start_ms))
        .count() as u64;

    let mut progress = Progress::new(
        ready.len() as u64,
        already,
        "windows",
        progress_on_terminal,
        Some(counters.clone()),
    );
    let source = Backfill {
        client,
        windows: ready,
        checkpoint: checkpoint.clone(),
        sink: sink.as_ref(),
        archive: args.archive_raw.clone(),
    };
    let mut on_progress = |t: &Totals| progress.update(t, t.windows_committed);
    let result = crate::pipeline::run(
        source,
        sink.as_ref(),
        pipeline_options(&args.pipeline),
        Some(Commit {
            store: &store,
            checkpoint,
        }),
        &mut on_progress,
    );
    progress.finish();
    let (totals, report) = match result {
        Ok(r) => r,
        Err(e) => return Err(fail(e.into(), windows, Totals::default())),
    };
    let FetchReport {
        windows_skipped,
        windows_resumed,
        jobs,
        stale_files_removed,
        windows_restarted,
        interrupted,
    } = report;
    windows.restarted = windows_restarted;
    windows.committed_this_run = totals.windows_committed;
    windows.skipped_already_done = windows_skipped;
    windows.resumed = windows_resumed;
    windows.jobs_submitted = jobs;
    windows.stale_files_removed = stale_files_removed;
    if interrupted {
        let e = RunError::Interrupted {
            done: format!(
                "{} of {} windows done; the pages fetched before the signal are written and checkpointed",
                windows.skipped_already_done + windows.committed_this_run,
                windows.total
            ),
            next: "rerun the same command to continue from the checkpoint",
        };
        return Err(fail(e, windows, totals));
    }
    if let Some(first) = deferred.first() {
        let e = RunError::Deferred {
            deferred: deferred.len(),
            first: first.interval(),
            available: crate::sim::data::iso(available),
        };
        return Err(fail(e, windows, totals));
    }
    Ok(summarize(None, windows, totals))
}

/// Runs `replay`.
pub fn replay(
    args: &ReplayArgs,
    progress_on_terminal: bool,
) -> Result<RunSummary, (RunError, Option<RunSummary>)> {
    let started = Instant::now();
    let run_id = run_id();
    let asked = serde_json::json!({"input": args.input.display().to_string(), "out": args.out.display().to_string(), "sink": describe_sink(&args.sink)});
    let fail = |e: RunError, totals: Totals| {
        let mut summary = finish_summary(
            &run_id,
            "replay",
            Some(&e),
            asked.clone(),
            WindowsSummary::default(),
            totals,
            None,
            started,
        );
        write_summary(&args.out, &mut summary);
        (e, Some(summary))
    };
    let source = Replay::from_dir(&args.input).map_err(|e| (e.into(), None))?;
    let files = source.files.len() as u64;
    let (sink, _) =
        open_sink(&args.sink, &args.out, &args.pipeline).map_err(|e| fail(e, Totals::default()))?;
    let mut progress = Progress::new(files, 0, "pages", progress_on_terminal, None);
    let mut on_progress = |t: &Totals| progress.update(t, t.pages);
    let result = crate::pipeline::run(
        source,
        sink.as_ref(),
        pipeline_options(&args.pipeline),
        None,
        &mut on_progress,
    );
    progress.finish();
    let (totals, sent) = result.map_err(|e| fail(e.into(), Totals::default()))?;
    if sent < files {
        // The source stops early only on a termination signal (errors end the run above).
        let e = RunError::Interrupted {
            done: format!("{sent} of {files} page files were transformed and written"),
            next: "replay keeps no checkpoint: rerun it to write every page (the files come out the same)",
        };
        return Err(fail(e, totals));
    }
    let mut summary = finish_summary(
        &run_id,
        "replay",
        None,
        asked,
        WindowsSummary::default(),
        totals,
        None,
        started,
    );
    write_summary(&args.out, &mut summary);
    Ok(summary)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site per command; a builder adds nothing"
)]
fn finish_summary(
    run_id: &str,
    command: &'static str,
    error: Option<&RunError>,
    asked: serde_json::Value,
    windows: WindowsSummary,
    totals: Totals,
    api: Option<&Arc<ApiCounters>>,
    started: Instant,
) -> RunSummary {
    let secs = started.elapsed().as_secs_f64();
    RunSummary {
        run_id: run_id.to_string(),
        command,
        status: match error {
            None => "complete",
            Some(RunError::Deferred { .. }) => "partial",
            Some(e) if e.exit_code() == crate::interrupt::EXIT_CODE => "interrupted",
            Some(_) => "failed",
        },
        error: error.map(ToString::to_string),
        asked,
        windows,
        rows_per_s: totals.total_rows() as f64 / secs.max(1e-9),
        input_mb_per_s: totals.input_bytes as f64 / 1e6 / secs.max(1e-9),
        totals,
        api: api.map(|a| api_json(a)),
        simulator_injected: None,
        duration_s: secs,
        written: false,
    }
}

/// Human summary printed at the end of a run.
pub fn human_summary(s: &RunSummary, out: &Path) -> String {
    let mut text = format!(
        "{} {}: {} conversations, {} rows in {:.1}s ({:.0} rows/s, {:.1} MB/s of page JSON)\n",
        s.command,
        s.status,
        s.totals.conversations,
        s.totals.total_rows(),
        s.duration_s,
        s.rows_per_s,
        s.input_mb_per_s
    );
    for (table, rows) in &s.totals.rows {
        text.push_str(&format!("  {table:<24} {rows:>10} rows\n"));
    }
    if s.command == "backfill" {
        text.push_str(&format!(
            "  windows: {} committed, {} already done, {} deferred; {} conversations dropped as belonging to another window\n",
            s.windows.committed_this_run,
            s.windows.skipped_already_done,
            s.windows.deferred_past_availability.len(),
            s.totals.dropped_outside_window
        ));
        if let Some(api) = &s.api {
            text.push_str(&format!(
                "  API: {} requests, {} retries, {} × 429, {} × 401, {} × 5xx, breaker opened {} times; {} windows extracted again\n",
                api["requests"],
                api["retries"],
                api["status_429"],
                api["status_401"],
                api["status_5xx"],
                api["breaker"]["opens"],
                s.windows.restarted
            ));
        }
    }
    let mb = s.totals.output_bytes as f64 / 1e6;
    let summary = if s.written {
        format!("summary in {}/_runs/{}.json", out.display(), s.run_id)
    } else {
        "no summary file (it could not be written: see the warning above)".to_string()
    };
    match s.asked.get("sink").and_then(|v| v.get("clickhouse")) {
        Some(url) => text.push_str(&format!(
            "  output: ClickHouse {} ({} inserts, {mb:.1} MB of Native blocks, {} retries); {summary}",
            url.as_str().unwrap_or("?"),
            s.totals.files,
            s.totals.sink_retries,
        )),
        None => text.push_str(&format!(
            "  output: {} ({} files, {mb:.1} MB); {summary}",
            out.display(),
            s.totals.files,
        )),
    }
    text
}
