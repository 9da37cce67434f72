use crate::support::*;

#[test]
fn help_teaches_commands_and_exit_codes() {
    let o = run_ok(&["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "backfill",
        "replay",
        "sim",
        "Exit codes",
        "GENESYS_CLIENT_SECRET",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn bad_flags_exit_2_with_a_message_naming_the_flag() {
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "backfill",
                "--simulate",
                "--from",
                "2024-03-05",
                "--to",
                "2024-03-05",
                "--out",
                out,
            ],
            "--from",
        ),
        (
            &[
                "backfill",
                "--simulate",
                "--from",
                "2024-3-5",
                "--to",
                "2024-03-06",
                "--out",
                out,
            ],
            "YYYY-MM-DD",
        ),
        (
            &[
                "backfill",
                "--from",
                "2024-03-05",
                "--to",
                "2024-03-06",
                "--out",
                out,
            ],
            "--region",
        ),
        (
            &[
                "backfill",
                "--simulate",
                "--from",
                "2024-03-05",
                "--to",
                "2024-03-06",
                "--out",
                out,
                "--window",
                "7h",
            ],
            "--window",
        ),
    ];
    for (args, needle) in cases {
        let o = cmd(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn another_window_length_on_the_same_output_is_refused() {
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    run_ok(&backfill_args(out, "2024-03-04", "2024-03-05", &[]));
    let o = cmd(&backfill_args(
        out,
        "2024-03-04",
        "2024-03-05",
        &["--window", "6h"],
    ))
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--window"));
}

#[test]
fn windows_past_the_availability_date_are_deferred_with_exit_3() {
    let dir = tmp();
    let today = chrono::Utc::now().date_naive();
    // [today, tomorrow) always ends after now minus the simulator's 2 h lag.
    let (from, to) = (
        today.to_string(),
        (today + chrono::Days::new(1)).to_string(),
    );
    let o = cmd(&backfill_args(
        dir.path().to_str().unwrap(),
        &from,
        &to,
        &[],
    ))
    .output()
    .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("availability"));
}

#[test]
fn a_write_failure_stops_the_run_with_exit_6_naming_the_path_and_commits_nothing() {
    // A plain file where the segments table's directory belongs: every segments write
    // fails while the other tables' writes of the same group succeed in parallel.
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    std::fs::write(dir.path().join("segments"), b"not a directory").unwrap();
    let mut child = cmd(&backfill_args(
        out,
        "2024-03-04",
        "2024-03-06",
        &["--threads", "2"],
    ))
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the run hung after a failed write");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("segments/date=2024-03-04"), "{stderr}");
    // No window may be recorded as done: its segments are not on disk.
    let checkpoint = dir.path().join("_state").join("checkpoint-details.json");
    if let Ok(text) = std::fs::read_to_string(&checkpoint) {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["completed"].as_array().map_or(0, Vec::len), 0, "{text}");
    }
}

#[test]
fn the_end_of_run_summary_names_the_summary_file_only_when_it_was_written() {
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    let o = cmd(&backfill_args(out, "2024-03-04", "2024-03-05", &[]))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}");
    let named = stdout.split("summary in ").nth(1).map(str::trim);
    assert!(
        named.is_some_and(|p| std::path::Path::new(p).is_file()),
        "the path it names is the summary file: {stdout}"
    );

    // A plain file where `_runs` belongs: the tables are written, the summary is not,
    // and the end-of-run text must not point at a file that does not exist.
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    std::fs::write(dir.path().join("_runs"), b"not a directory").unwrap();
    let o = cmd(&backfill_args(out, "2024-03-04", "2024-03-05", &[]))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("could not write the run summary"),
        "{stderr}"
    );
    assert!(!stdout.contains("summary in"), "{stdout}");
    assert!(stdout.contains("no summary file"), "{stdout}");
}
