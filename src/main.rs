//! `genesys-etl`: parses flags, calls the library, prints the error chain once, maps
//! errors to the exit codes documented in `--help`.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use genesys_etl::cli::{Cli, Command, SimCommand};
use genesys_etl::run::{self, RunSummary};
use genesys_etl::sim::{self, SimConfig, SimServer};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    genesys_etl::alloc::tune();
    let cli = Cli::parse();
    let terminal = std::io::stderr().is_terminal() && !cli.no_progress;
    // With a progress bar, only warnings interleave with it; otherwise log progress lines.
    let filter = cli.log.clone().unwrap_or_else(|| {
        if terminal {
            "warn".into()
        } else {
            "info".into()
        }
    });
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match dispatch(cli, terminal) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn report(
    result: Result<RunSummary, (run::RunError, Option<RunSummary>)>,
    out: &std::path::Path,
) -> ExitCode {
    match result {
        Ok(summary) => {
            // A closed stdout (`| head`) is not an error of the run.
            let _ = writeln!(std::io::stdout(), "{}", run::human_summary(&summary, out));
            ExitCode::SUCCESS
        }
        Err((e, summary)) => {
            if let Some(s) = summary {
                eprintln!("{}", run::human_summary(&s, out));
            }
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn dispatch(cli: Cli, terminal: bool) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Backfill(args) => {
            genesys_etl::alloc::no_huge_pages();
            catch_signals();
            Ok(report(run::backfill(&args, terminal), &args.out))
        }
        Command::Replay(args) => {
            genesys_etl::alloc::no_huge_pages();
            catch_signals();
            Ok(report(run::replay(&args, terminal), &args.out))
        }
        Command::Ddl(a) => {
            genesys_etl::sink::clickhouse::ddl::validate_identifier(&a.database)
                .map_err(anyhow::Error::msg)?;
            print!(
                "{}",
                genesys_etl::sink::clickhouse::ddl::script(&a.database, a.legacy)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(SimCommand::Serve(a)) => {
            let profile = profile_arg(&a.profile)?;
            let mut cfg = SimConfig::new(a.seed, profile);
            cfg.token_ttl_s = a.token_ttl;
            cfg.job_latency_ms = a.job_latency_ms;
            cfg.max_page_size = a.max_page_size;
            cfg.faults = sim::faults::FaultPlan::parse(&a.faults).map_err(anyhow::Error::msg)?;
            cfg.credentials = genesys_etl::genesys::Credentials::load(None)
                .ok()
                .map(|c| (c.client_id, c.client_secret));
            let accepts = if cfg.credentials.is_some() {
                "the client id/secret from the environment"
            } else {
                "any client id/secret"
            };
            let server = SimServer::start(cfg, a.port)?;
            println!(
                "genesys simulator listening on {} (seed {}, profile {}); accepts {accepts}. Ctrl-C stops it.",
                server.base_url(),
                a.seed,
                profile.name
            );
            server.join();
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(SimCommand::Oracle(a)) => {
            let profile = profile_arg(&a.profile)?;
            let from = sim::data::parse_day(&a.from)
                .with_context(|| format!("--from `{}`: expected YYYY-MM-DD", a.from))?;
            let to = sim::data::parse_day(&a.to)
                .with_context(|| format!("--to `{}`: expected YYYY-MM-DD", a.to))?;
            anyhow::ensure!(from < to, "--from must be before --to (--to is exclusive)");
            anyhow::ensure!(
                (0.0..=1.0).contains(&a.restated),
                "--restated must be a rate between 0 and 1"
            );
            let oracle = sim::oracle(&sim::Generator::new(a.seed, profile), from, to, a.restated);
            println!("{}", serde_json::to_string_pretty(&oracle)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(SimCommand::Bench(a)) => {
            let profile = profile_arg(&a.profile)?;
            let from = sim::data::parse_day(&a.from)
                .with_context(|| format!("--from `{}`: expected YYYY-MM-DD", a.from))?;
            let r = sim::bench::serve_rate(a.seed, profile, from, a.days, a.page_size)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Ctrl-C and SIGTERM stop a run at a page boundary with its summary (exit 130); without
/// the handlers they would still be safe, only silent.
fn catch_signals() {
    if let Err(e) = genesys_etl::interrupt::install() {
        tracing::warn!(error = %e, "cannot catch Ctrl-C: it will end the run without a summary (still safe to rerun)");
    }
}

fn profile_arg(name: &str) -> anyhow::Result<sim::Profile> {
    sim::profile(name)
        .with_context(|| format!("--profile `{name}`: expected small, medium or large"))
}
