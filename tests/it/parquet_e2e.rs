use crate::support::*;

#[test]
fn demo_range_equals_the_oracle_table_by_table() {
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    let run = run_ok(&backfill_args(out, "2024-03-04", "2024-03-07", &[]));
    let oracle = oracle("42", "small", "2024-03-04", "2024-03-07");
    assert_matches_oracle(&read_back(dir.path()), &oracle);
    // The cross-midnight duplicates the jobs returned were dropped, and counted.
    assert!(oracle["returned_outside_window"].as_u64().unwrap() > 0);
    let summary = latest_summary(dir.path());
    assert_eq!(summary["status"], "complete");
    assert_eq!(
        summary["totals"]["dropped_outside_window"],
        oracle["returned_outside_window"]
    );
    assert_eq!(summary["totals"]["rows"], oracle["tables"]);
    assert!(String::from_utf8_lossy(&run.stdout).contains("backfill complete"));
}

#[test]
fn one_thread_and_many_threads_small_and_large_channel_give_identical_rows() {
    let (a, b) = (tmp(), tmp());
    let (pa, pb) = (a.path().to_str().unwrap(), b.path().to_str().unwrap());
    // Many small pages through one thread and a one-slot channel…
    run_ok(&backfill_args(
        pa,
        "2024-03-08",
        "2024-03-11",
        &[
            "--threads",
            "1",
            "--channel-capacity",
            "1",
            "--page-size",
            "37",
        ],
    ));
    // …and large pages through four threads, a wide channel and 6-hour windows.
    run_ok(&backfill_args(
        pb,
        "2024-03-08",
        "2024-03-11",
        &[
            "--threads",
            "4",
            "--channel-capacity",
            "64",
            "--window",
            "6h",
        ],
    ));
    let (ra, rb) = (read_back(a.path()), read_back(b.path()));
    assert_eq!(ra["digest"], rb["digest"]);
    assert_matches_oracle(&ra, &oracle("42", "small", "2024-03-08", "2024-03-11"));
}

#[test]
fn a_second_identical_run_changes_nothing_and_calls_no_api() {
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    run_ok(&backfill_args(out, "2024-03-04", "2024-03-06", &[]));
    let before = read_back(dir.path());
    let second = run_ok(&backfill_args(out, "2024-03-04", "2024-03-06", &[]));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("0 committed, 2 already done"),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    assert_eq!(read_back(dir.path()), before);
}

/// A backfill from 2024-03-04 to `to` into a new directory, its results pages saved into
/// another: (output, archive).
fn backfill_archiving(to: &str, page_size: &str) -> (tempfile::TempDir, tempfile::TempDir) {
    let (out, raw) = (tmp(), tmp());
    run_ok(&backfill_args(
        out.path().to_str().unwrap(),
        "2024-03-04",
        to,
        &[
            "--archive-raw",
            raw.path().to_str().unwrap(),
            "--page-size",
            page_size,
        ],
    ));
    (out, raw)
}

/// Both outputs hold the same rows, read back with pyarrow and DuckDB.
fn assert_same_rows(a: &std::path::Path, b: &std::path::Path) {
    let (ra, rb) = (read_back(a), read_back(b));
    assert_eq!(ra["digest"], rb["digest"]);
    assert_eq!(ra["tables"], rb["tables"]);
}

#[test]
fn replay_of_archived_pages_equals_the_backfill() {
    let (a, raw) = backfill_archiving("2024-03-06", "100");
    let b = tmp();
    let (praw, pb) = (raw.path().to_str().unwrap(), b.path().to_str().unwrap());
    run_ok(&["replay", "--input", praw, "--out", pb]);
    assert_same_rows(a.path(), b.path());
}

#[test]
fn an_interrupted_replay_exits_130_and_its_rerun_equals_the_backfill() {
    // Small pages and groups, one page in flight: the run has many pages left when the
    // first group's files appear.
    let (a, raw) = backfill_archiving("2024-03-11", "50");
    let b = tmp();
    let (praw, pb) = (raw.path().to_str().unwrap(), b.path().to_str().unwrap());
    let args = [
        "replay",
        "--input",
        praw,
        "--out",
        pb,
        "--threads",
        "1",
        "--channel-capacity",
        "1",
        "--group-mib",
        "1",
    ];
    let written = || {
        std::fs::read_dir(b.path().join("conversations"))
            .is_ok_and(|mut days| days.next().is_some())
    };
    let (code, stderr, _) = signal_when(&args, written, &["-INT"]);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("rerun it to write every page"), "{stderr}");
    let summary = latest_summary(b.path());
    assert_eq!(summary["status"], "interrupted", "{summary}");
    let pages = std::fs::read_dir(raw.path()).unwrap().count() as u64;
    assert!(
        summary["totals"]["pages"]
            .as_u64()
            .is_some_and(|p| p < pages),
        "{summary}"
    );

    run_ok(&args);
    assert_same_rows(a.path(), b.path());
}

/// The simulator's 2024-03-04 into `out`, its results pages saved as they are in `raw`.
fn backfill_one_day_archiving_pages(out: &std::path::Path, raw: &str) {
    run_ok(&backfill_args(
        out.to_str().unwrap(),
        "2024-03-04",
        "2024-03-05",
        &["--archive-raw", raw],
    ));
}

/// `--parquet-strings delta-length` changes how string columns are laid out, never what
/// they hold: pyarrow and duckdb read the same rows as from the default PLAIN files.
#[test]
fn delta_length_strings_hold_the_same_rows_as_plain_ones() {
    let (raw, a, b) = (tmp(), tmp(), tmp());
    let praw = raw.path().to_str().unwrap();
    backfill_one_day_archiving_pages(a.path(), praw);
    run_ok(&[
        "replay",
        "--input",
        praw,
        "--out",
        b.path().to_str().unwrap(),
        "--parquet-strings",
        "delta-length",
    ]);
    let (ra, rb) = (read_back(a.path()), read_back(b.path()));
    assert_eq!(ra["digest"], rb["digest"]);
    assert_eq!(ra["tables"], rb["tables"]);
    // participant_id is unique per participant: a flat string column, so its encoding is
    // the one asked for.
    let encodings = |root: &std::path::Path| {
        use parquet::file::reader::{FileReader as _, SerializedFileReader};
        let day = root.join("participants").join("date=2024-03-04");
        let file = std::fs::read_dir(&day)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "parquet"))
            .unwrap();
        let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
        let group = reader.metadata().row_group(0);
        let column = (0..group.num_columns())
            .map(|c| group.column(c))
            .find(|c| c.column_path().string() == "participant_id")
            .unwrap();
        column.encodings().collect::<Vec<_>>()
    };
    use parquet::basic::Encoding;
    assert!(encodings(a.path()).contains(&Encoding::PLAIN));
    assert!(!encodings(a.path()).contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY));
    assert!(encodings(b.path()).contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY));
}

#[test]
fn gzipped_pages_replay_like_plain_ones() {
    use std::io::Write as _;
    let (raw, gz, a, b) = (tmp(), tmp(), tmp(), tmp());
    let praw = raw.path().to_str().unwrap();
    backfill_one_day_archiving_pages(a.path(), praw);
    for entry in std::fs::read_dir(raw.path()).unwrap() {
        let p = entry.unwrap().path();
        let name = format!("{}.gz", p.file_name().unwrap().to_str().unwrap());
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(gz.path().join(name)).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(&std::fs::read(&p).unwrap()).unwrap();
        enc.finish().unwrap();
    }
    run_ok(&[
        "replay",
        "--input",
        praw,
        "--out",
        b.path().to_str().unwrap(),
    ]);
    let c = tmp();
    run_ok(&[
        "replay",
        "--input",
        gz.path().to_str().unwrap(),
        "--out",
        c.path().to_str().unwrap(),
    ]);
    assert_eq!(read_back(b.path())["digest"], read_back(c.path())["digest"]);
}

#[test]
fn real_client_against_standalone_simulator_with_credentials_from_env() {
    let sim = ExternalSim::start("7", "small", "etl-client", "s3cr3t-for-test");
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    let o = cmd(&api_backfill_args(
        out,
        &sim.base,
        "2024-03-04",
        "2024-03-05",
        &[],
    ))
    .env("GENESYS_CLIENT_ID", "etl-client")
    .env("GENESYS_CLIENT_SECRET", "s3cr3t-for-test")
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_matches_oracle(
        &read_back(dir.path()),
        &oracle("7", "small", "2024-03-04", "2024-03-05"),
    );
}

#[test]
fn wrong_secret_fails_with_exit_5_and_never_prints_the_secret() {
    let sim = ExternalSim::start("7", "small", "etl-client", "right-secret");
    let dir = tmp();
    let o = cmd(&api_backfill_args(
        dir.path().to_str().unwrap(),
        &sim.base,
        "2024-03-04",
        "2024-03-05",
        &[],
    ))
    .env("GENESYS_CLIENT_ID", "etl-client")
    .env("GENESYS_CLIENT_SECRET", "WRONG-zebra-secret")
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("/oauth/token") && stderr.contains("GENESYS_CLIENT_SECRET"),
        "{stderr}"
    );
    let mut everything = format!("{stderr}{}", String::from_utf8_lossy(&o.stdout));
    for f in walk(dir.path()) {
        everything.push_str(&String::from_utf8_lossy(&std::fs::read(f).unwrap()));
    }
    assert!(!everything.contains("WRONG-zebra-secret"));
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
