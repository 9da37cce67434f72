use std::time::Duration;

use crate::support::*;

const FROM: &str = "2024-04-01";
const TO: &str = "2024-04-11";

/// The backfill command line of these tests: small pages, so a run has many to kill between.
fn run_args<'a>(out: &'a str, api: &[&'a str]) -> Vec<&'a str> {
    let base = [
        "backfill",
        "--from",
        FROM,
        "--to",
        TO,
        "--out",
        out,
        "--page-size",
        "60",
        // Groups of ~1 MiB: several checkpoints per window, so kills land mid-window.
        "--group-mib",
        "1",
        "--rate-limit",
        "1000000",
    ];
    base.into_iter().chain(api.iter().copied()).collect()
}

fn kill_and_rerun(
    api: &[&str],
    env: &[(&str, &str)],
    reference: &serde_json::Value,
    kills: usize,
) -> usize {
    let full = tmp();
    let full_args = run_args(full.path().to_str().unwrap(), api);
    let took = timed_run(&full_args, env);
    assert_eq!(&read_back(full.path())["digest"], &reference["digest"]);
    let mut mid_run = 0;
    // Within the first three quarters of an uninterrupted run: runs vary by more than a
    // tenth on a shared machine, and a kill after the end tests nothing.
    for delay in delays(kills, took.as_millis() as u64 * 3 / 4) {
        let dir = tmp();
        let args = run_args(dir.path().to_str().unwrap(), api);
        if kill_after(&args, env, Duration::from_millis(delay)) {
            mid_run += 1;
        }
        timed_run(&args, env);
        let read = read_back(dir.path());
        assert_eq!(
            read["digest"], reference["digest"],
            "output differs after kill at {delay} ms"
        );
        assert_eq!(
            read["distinct_keys"], read["tables"],
            "a key appears twice after kill at {delay} ms"
        );
    }
    mid_run
}

#[test]
fn resume_after_kill_loses_and_doubles_nothing() {
    let oracle = oracle("42", "small", FROM, TO);
    let reference_dir = tmp();
    run_ok(&backfill_args(
        reference_dir.path().to_str().unwrap(),
        FROM,
        TO,
        &[],
    ));
    let reference = read_back(reference_dir.path());
    assert_matches_oracle(&reference, &oracle);

    // In-process simulator: the job dies with the process, so resume re-extracts the window.
    let mid_a = kill_and_rerun(&["--simulate"], &[], &reference, 6);
    // Standalone simulator: the job survives, so resume continues from the saved cursor.
    let sim = ExternalSim::start("42", "small", "id", "secret");
    let env = [
        ("GENESYS_CLIENT_ID", "id"),
        ("GENESYS_CLIENT_SECRET", "secret"),
    ];
    let mid_b = kill_and_rerun(&["--api-base", &sim.base], &env, &reference, 6);
    // The test only means something if most kills landed mid-run.
    assert!(
        mid_a + mid_b >= 10,
        "only {} of 12 kills happened mid-run",
        mid_a + mid_b
    );
}

/// Windows the checkpoint of `out` records as done.
fn completed_windows(out: &std::path::Path) -> usize {
    std::fs::read_to_string(out.join("_state").join("checkpoint-details.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["completed"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Starts a paced backfill (10 requests/s, so the 10 days take several seconds), sends
/// `signals` once at least two windows are checkpointed, and returns the exit code, the
/// stderr and how long the run took to end after the first signal.
fn interrupt_run(out: &std::path::Path, signals: &[&str]) -> (Option<i32>, String, Duration) {
    let args = [
        "backfill",
        "--simulate",
        "--from",
        FROM,
        "--to",
        TO,
        "--out",
        out.to_str().unwrap(),
        "--page-size",
        "60",
        "--rate-limit",
        "600",
    ];
    signal_when(&args, || completed_windows(out) >= 2, signals)
}

#[test]
fn a_signal_stops_the_run_at_a_page_with_exit_130_and_the_rerun_completes_exactly() {
    let oracle = oracle("42", "small", FROM, TO);
    for signal in ["-INT", "-TERM"] {
        let dir = tmp();
        let (code, stderr, took) = interrupt_run(dir.path(), &[signal]);
        assert_eq!(code, Some(130), "{signal}: {stderr}");
        assert!(
            stderr.contains("interrupted") && stderr.contains("rerun the same command"),
            "{signal}: {stderr}"
        );
        // It stopped: the paced run had most of its 10 windows still to fetch.
        let done = completed_windows(dir.path());
        assert!(
            done < 10,
            "{signal}: all {done} windows done, nothing was interrupted"
        );
        // Promptly: within a limiter wait and the writes in flight (a bound against hangs only).
        assert!(took < Duration::from_secs(20), "{signal}: took {took:?}");
        let summary = latest_summary(dir.path());
        assert_eq!(summary["status"], "interrupted", "{summary}");

        run_ok(&backfill_args(
            dir.path().to_str().unwrap(),
            FROM,
            TO,
            &["--page-size", "60"],
        ));
        assert_matches_oracle(&read_back(dir.path()), &oracle);
    }
}

#[test]
fn a_second_signal_quits_at_once_and_the_rerun_still_completes_exactly() {
    let dir = tmp();
    let (code, _, _) = interrupt_run(dir.path(), &["-INT", "-INT"]);
    assert_eq!(code, Some(130));
    run_ok(&backfill_args(
        dir.path().to_str().unwrap(),
        FROM,
        TO,
        &["--page-size", "60"],
    ));
    assert_matches_oracle(&read_back(dir.path()), &oracle("42", "small", FROM, TO));
}
