//! Exactly once under the API's bad days: every fault of the simulator's plan alone, then
//! all together, on a multi-day range; the output equals the oracle and the run's counters
//! equal what the simulator says it injected. Also: a malformed page stops the run cleanly,
//! kill -9 in a 429 storm, restatement, availability lag, and no secret anywhere.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const FROM: &str = "2024-06-03";
const TO: &str = "2024-06-05";

/// Flags that keep fault runs short: small pages (many requests), a client timeout below
/// the simulator's slow responses, a short breaker cooldown.
const QUICK: &[&str] = &[
    "--page-size",
    "50",
    "--http-timeout",
    "0.5",
    "--breaker-cooldown",
    "0.05",
];

fn fault_args<'a>(out: &'a str, faults: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = backfill_args(out, FROM, TO, QUICK);
    a.extend(["--faults", faults]);
    if extra.contains(&"--api-budget") {
        // The test pins the budget: drop the default override of the rate.
        let at = a.iter().position(|x| *x == "--rate-limit").unwrap();
        a.drain(at..at + 2);
    }
    a.extend_from_slice(extra);
    a
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Runs one fault plan to completion and checks the output against the oracle.
fn run_exact(faults: &str, extra: &[&str]) -> Value {
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    run_ok(&fault_args(out, faults, extra));
    assert_matches_oracle(&read_back(dir.path()), &oracle("42", "small", FROM, TO));
    let summary = latest_summary(dir.path());
    assert_eq!(summary["status"], "complete", "{faults}");
    summary
}

/// Compares a run's `api` counters, the simulator's `injected` counters and the summary.
type Check = fn(&Value, &Value, &Value);

#[test]
fn every_fault_alone_leaves_the_output_exact_and_is_counted_as_injected() {
    let cases: Vec<(&str, Vec<&str>, Check)> = vec![
        ("429=0.3,retry_after=0", vec![], |api, inj, _| {
            assert!(n(&inj["status_429_injected"]) > 0);
            let sent = n(&inj["status_429_injected"]) + n(&inj["status_429_job_cap"]);
            assert_eq!(n(&api["status_429"]), sent);
        }),
        (
            // A real budget the client is told about: it never exceeds it.
            "budget=1200",
            vec!["--api-budget", "1200", "--api-share", "1.0"],
            |api, inj, _| {
                assert_eq!(n(&inj["status_429_budget"]), 0, "the budget was exceeded");
                assert_eq!(n(&api["status_429"]), n(&inj["status_429_job_cap"]));
            },
        ),
        ("revoke_every=7", vec![], |api, inj, _| {
            assert!(n(&inj["status_401_revoked"]) > 0);
            assert_eq!(n(&api["status_401"]), n(&inj["status_401_revoked"]));
            assert_eq!(n(&api["tokens_fetched"]), n(&inj["status_401_revoked"]) + 1);
        }),
        ("5xx=0.25", vec![], |api, inj, _| {
            assert!(n(&inj["status_5xx"]) > 0);
            assert_eq!(n(&api["status_5xx"]), n(&inj["status_5xx"]));
        }),
        ("slow=0.1,slow_ms=1200", vec![], |api, inj, _| {
            assert!(n(&inj["slow"]) > 0);
            // Each slow response outlived the 0.5 s client timeout exactly once.
            assert_eq!(n(&api["transport_errors"]), n(&inj["slow"]));
        }),
        ("drop=0.15", vec![], |api, inj, _| {
            assert!(n(&inj["dropped"]) > 0);
            assert_eq!(n(&api["truncated_pages"]), n(&inj["dropped"]));
        }),
        ("job_fail=0.4", vec![], |_, inj, s| {
            assert!(n(&inj["jobs_failed"]) > 0);
            assert_eq!(n(&s["windows"]["restarted"]), n(&inj["jobs_failed"]));
        }),
        ("job_expire=0.3", vec![], |_, inj, s| {
            assert!(n(&inj["jobs_expired"]) > 0);
            assert_eq!(n(&s["windows"]["restarted"]), n(&inj["jobs_expired"]));
        }),
        ("cursor_expire=0.3", vec![], |_, inj, s| {
            assert!(n(&inj["cursors_expired"]) > 0);
            assert_eq!(n(&s["windows"]["restarted"]), n(&inj["cursors_expired"]));
        }),
        (
            "5xx=0.5",
            vec!["--breaker-threshold", "2"],
            |api, inj, _| {
                assert_eq!(n(&api["status_5xx"]), n(&inj["status_5xx"]));
                let opens = n(&api["breaker"]["opens"]);
                assert!(opens > 0, "the breaker never opened");
                assert_eq!(n(&api["breaker"]["probes"]), opens);
                assert_eq!(api["breaker"]["state"], "closed");
            },
        ),
    ];
    for (faults, extra, check) in cases {
        let summary = run_exact(faults, &extra);
        check(&summary["api"], &summary["simulator_injected"], &summary);
        // Rows reconcile with the oracle even when windows were extracted twice.
        assert_eq!(
            summary["totals"]["rows"],
            oracle("42", "small", FROM, TO)["tables"],
            "{faults}"
        );
    }
}

const ALL_FAULTS: &str = "429=0.2,retry_after=0,revoke_every=25,5xx=0.1,slow=0.03,slow_ms=1200,\
                          drop=0.05,job_fail=0.2,job_expire=0.03,cursor_expire=0.03";

#[test]
fn all_faults_at_once_leave_the_output_exact() {
    let s = run_exact(ALL_FAULTS, &[]);
    let (api, inj) = (&s["api"], &s["simulator_injected"]);
    assert_eq!(
        n(&api["status_429"]),
        n(&inj["status_429_injected"]) + n(&inj["status_429_job_cap"])
    );
    assert_eq!(n(&api["status_5xx"]), n(&inj["status_5xx"]));
    assert_eq!(n(&api["status_401"]), n(&inj["status_401_revoked"]));
    assert!(n(&api["retries"]) > 0);
}

#[test]
fn all_faults_at_once_into_clickhouse_give_exact_final_counts() {
    let port = clickhouse("clickhouse-it");
    ch_client(port, "DROP DATABASE IF EXISTS it_faults").unwrap();
    let url = format!("tcp://etl@127.0.0.1:{port}/it_faults");
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    let mut c = cmd(&fault_args(
        out,
        ALL_FAULTS,
        &["--sink", "clickhouse", "--clickhouse-url", &url],
    ));
    let o = c
        .env("CLICKHOUSE_PASSWORD", "etl-test-password-Zq81")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_clickhouse_matches_oracle(
        &read_clickhouse(port, "it_faults"),
        &oracle("42", "small", FROM, TO),
    );
}

#[test]
fn a_malformed_page_stops_the_run_cleanly_and_the_run_completes_once_it_is_fixed() {
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    let o = cmd(&fault_args(out, "malformed=0.15", &[]))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{stderr}");
    // The error says which window, page, cursor and, for data errors, table and field.
    assert!(stderr.contains("window 2024-06-0"), "{stderr}");
    assert!(stderr.contains("page "), "{stderr}");
    assert!(
        stderr.contains("cursor") || stderr.contains("first page"),
        "{stderr}"
    );
    let s = latest_summary(dir.path());
    assert_eq!(s["status"], "failed");
    assert!(n(&s["simulator_injected"]["pages_malformed"]) > 0);
    // Same command without the fault: completes, nothing lost, nothing doubled.
    run_ok(&fault_args(out, "", &[]));
    assert_matches_oracle(&read_back(dir.path()), &oracle("42", "small", FROM, TO));
}

#[test]
fn kill_9_during_a_429_storm_then_rerun_is_exact() {
    let sim = ExternalSim::start_with("42", "small", &["--faults", "429=0.5,retry_after=1"]);
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    let args = backfill_args(out, FROM, TO, &[]);
    let args: Vec<&str> = args
        .into_iter()
        .filter(|a| *a != "--simulate")
        .chain(["--api-base", sim.base.as_str(), "--page-size", "50"])
        .collect();
    let env = [
        ("GENESYS_CLIENT_ID", "storm"),
        ("GENESYS_CLIENT_SECRET", "storm-secret"),
    ];
    assert!(
        kill_after(&args, &env, Duration::from_millis(2500)),
        "the run ended before the kill"
    );
    timed_run(&args, &env);
    assert_matches_oracle(&read_back(dir.path()), &oracle("42", "small", FROM, TO));
}

#[test]
fn restated_windows_replace_their_rows_in_parquet_and_clickhouse() {
    // One simulator per sink: each remembers which windows it served (a second extraction
    // of those comes back restated).
    let sim = ExternalSim::start_with("42", "small", &["--faults", "restate=0.3"]);
    let sim_ch = ExternalSim::start_with("42", "small", &["--faults", "restate=0.3"]);
    let port = clickhouse("clickhouse-it");
    ch_client(port, "DROP DATABASE IF EXISTS it_restate").unwrap();
    let url = format!("tcp://127.0.0.1:{port}/it_restate");
    let env = [
        ("GENESYS_CLIENT_ID", "r"),
        ("GENESYS_CLIENT_SECRET", "r-secret"),
    ];
    let (pq, ch) = (tmp(), tmp());
    let run = |out: &str, base: &str, extra: &[&str]| {
        let a = api_backfill_args(out, base, FROM, TO, extra);
        let mut c = cmd(&a);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let first = oracle("42", "small", FROM, TO);
    run(pq.path().to_str().unwrap(), &sim.base, &[]);
    assert_matches_oracle(&read_back(pq.path()), &first);
    run(
        ch.path().to_str().unwrap(),
        &sim_ch.base,
        &["--sink", "clickhouse", "--clickhouse-url", &url],
    );
    assert_clickhouse_matches_oracle(&read_clickhouse(port, "it_restate"), &first);

    // The last day again: its window comes back restated.
    let day1 = oracle_restated(FROM, "2024-06-04", 0.0);
    let day2 = oracle_restated("2024-06-04", TO, 0.3);
    let expected = add_oracles(&day1, &day2);
    assert_ne!(expected["tables"]["segments"], first["tables"]["segments"]);
    run(
        pq.path().to_str().unwrap(),
        &sim.base,
        &["--restate-days", "1"],
    );
    let s = latest_summary(pq.path());
    assert_eq!(n(&s["windows"]["restated"]), 1);
    assert_matches_oracle(&read_back(pq.path()), &expected);
    run(
        ch.path().to_str().unwrap(),
        &sim_ch.base,
        &[
            "--sink",
            "clickhouse",
            "--clickhouse-url",
            &url,
            "--restate-days",
            "1",
        ],
    );
    assert_clickhouse_matches_oracle(&read_clickhouse(port, "it_restate"), &expected);
}

fn oracle_restated(from: &str, to: &str, rate: f64) -> Value {
    let rate = rate.to_string();
    let out = run_ok(&[
        "sim",
        "oracle",
        "--seed",
        "42",
        "--profile",
        "small",
        "--from",
        from,
        "--to",
        to,
        "--restated",
        &rate,
    ]);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Sums the counts and checksums of two oracles over adjacent ranges.
fn add_oracles(a: &Value, b: &Value) -> Value {
    let mut out = a.clone();
    for part in ["tables", "checks"] {
        for (k, v) in b[part].as_object().unwrap() {
            let sum = a[part][k].as_i64().unwrap() + v.as_i64().unwrap();
            out[part][k] = sum.into();
        }
    }
    out
}

#[test]
fn windows_past_a_lagging_availability_date_are_deferred_and_named() {
    // Availability trails now by 3 days: of a range ending tomorrow, only days up to
    // 4 days ago are complete; the rest are deferred with exit 3.
    let today = chrono::Utc::now().date_naive();
    let from = (today - chrono::Days::new(6)).to_string();
    let to = (today + chrono::Days::new(1)).to_string();
    let ready_to = (today - chrono::Days::new(3)).to_string();
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    let o = cmd(&backfill_args(out, &from, &to, &["--faults", "lag=3d"]))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = latest_summary(dir.path());
    let deferred = s["windows"]["deferred_past_availability"]
        .as_array()
        .unwrap();
    assert_eq!(deferred.len(), 4, "{deferred:?}");
    assert!(deferred[0].as_str().unwrap().starts_with(&ready_to));
    assert_matches_oracle(
        &read_back(dir.path()),
        &oracle("42", "small", &from, &ready_to),
    );
}

#[test]
fn no_secret_or_token_appears_in_any_stream_or_file() {
    const SECRET: &str = "sEcReT-Genesys-91XQ";
    const CH_PASSWORD: &str = "etl-test-password-Zq81";
    let sim = ExternalSim::start_with_credentials("leak-check", SECRET, &["--faults", ALL_FAULTS]);
    let port = clickhouse("clickhouse-it");
    let url = format!("tcp://etl@127.0.0.1:{port}/it_secrets");
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    let mut streams = Vec::new();
    for extra in [
        vec![],
        vec!["--sink", "clickhouse", "--clickhouse-url", url.as_str()],
    ] {
        let mut a = api_backfill_args(out, &sim.base, FROM, TO, QUICK);
        a.extend(["--log", "debug"]);
        a.extend(extra);
        let o = cmd(&a)
            .env("GENESYS_ETL_LOG", "debug")
            .env("GENESYS_CLIENT_ID", "leak-check")
            .env("GENESYS_CLIENT_SECRET", SECRET)
            .env("CLICKHOUSE_PASSWORD", CH_PASSWORD)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        streams.push(o.stdout);
        streams.push(o.stderr);
    }
    // A wrong ClickHouse password fails: its error must not echo the password either.
    let o = cmd(&fault_args(
        out,
        "",
        &["--sink", "clickhouse", "--clickhouse-url", url.as_str()],
    ))
    .env("CLICKHOUSE_PASSWORD", "wrong-pw-ZZ71")
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(6));
    streams.push(o.stdout);
    streams.push(o.stderr);
    let mut files = Vec::new();
    collect_files(dir.path(), &mut files);
    assert!(files.len() > 10);
    for needle in [SECRET, CH_PASSWORD, "wrong-pw-ZZ71", "simtok-"] {
        for (i, s) in streams.iter().enumerate() {
            assert!(
                !String::from_utf8_lossy(s).contains(needle),
                "`{needle}` in output stream {i}"
            );
        }
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "`{needle}` in {}",
                f.display()
            );
        }
    }
}

fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}
