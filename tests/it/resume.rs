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
