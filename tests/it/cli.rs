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
