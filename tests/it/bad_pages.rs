//! Catalogue of bad pages: every file in fixtures/pages/bad/ has its exact error here, and
//! a file without an entry fails the test.

use genesys_etl::transform::{PageInput, PageRef, Transformer};

use crate::support::*;

/// (file, table, field path, problem) — the error must name all of them.
const CATALOGUE: &[(&str, &str, &str, &str)] = &[
    ("truncated.json", "", "", "the body is not valid JSON"),
    (
        "broken-literal-in-second-conversation.json",
        "",
        "",
        "the body is not valid JSON",
    ),
    (
        "conversations-not-an-array.json",
        "conversations",
        "conversations",
        "expected an array of conversations, got {\"conversationId\":\"c-1\"}",
    ),
    (
        "missing-conversation-id.json",
        "conversations",
        "conversations[0].conversationId",
        "required field is missing",
    ),
    (
        "bad-segment-timestamp.json",
        "segments",
        "conversations[0].participants[0].sessions[0].segments[1].segmentStart",
        "not an ISO-8601 instant: \"2024-13-45T10:00:00.000Z\"",
    ),
    (
        "metric-value-is-a-string.json",
        "session_metrics",
        "conversations[0].participants[1].sessions[0].metrics[0].value",
        "expected an integer, got \"12\"",
    ),
    (
        "missing-session-id.json",
        "sessions",
        "conversations[0].participants[0].sessions[0].sessionId",
        "required field is missing",
    ),
    (
        "attribute-value-not-a-string.json",
        "participant_attributes",
        "conversations[0].participants[0].attributes.Score",
        "expected a string, got 3",
    ),
    (
        "division-id-not-a-string.json",
        "conversations",
        "conversations[0].divisionIds",
        "item 1: expected a string, got 7",
    ),
    (
        "page-is-an-array.json",
        "conversations",
        "$",
        "expected a JSON object, got [{\"conversationId\":\"c-1\"}]",
    ),
    (
        "flow-flag-not-a-boolean.json",
        "sessions",
        "conversations[0].participants[0].sessions[0].flow.issuedCallback",
        "expected a boolean, got \"yes\"",
    ),
];

#[test]
fn every_bad_page_fixture_fails_with_its_exact_error() {
    let dir = root().join("fixtures/pages/bad");
    let (mut seen, mut chunked) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some((_, table, field, problem)) = CATALOGUE.iter().find(|(f, ..)| *f == name) else {
            panic!(
                "fixtures/pages/bad/{name} has no entry in the catalogue: add its expected error"
            );
        };
        seen += 1;
        let bytes = std::fs::read(&path).unwrap();
        let page = PageRef {
            seq: 17,
            window: Some("2024-03-05T00:00:00.000Z/2024-03-06T00:00:00.000Z".into()),
            page: 4,
            cursor: Some("cursor-from-page-3".into()),
            file: None,
        };
        // As a whole page, and one conversation chunk at a time where the fetch thread's
        // scan finds them: the same error either way.
        let items = genesys_etl::page::scan_top_level(&bytes)
            .ok()
            .and_then(|top| top.items);
        chunked += usize::from(items.is_some());
        let errors: Vec<String> = [None, items.as_ref()]
            .into_iter()
            .map(|items| {
                let mut bytes = bytes.clone();
                Transformer::new()
                    .transform(PageInput {
                        page: page.clone(),
                        bytes: &mut bytes,
                        items,
                        window: None,
                        version: 1,
                    })
                    .expect_err(&name)
                    .to_string()
            })
            .collect();
        assert_eq!(errors[0], errors[1], "{name}");
        let err = &errors[0];
        let location = "page 4 of window 2024-03-05T00:00:00.000Z/2024-03-06T00:00:00.000Z (seq 17, cursor `cursor-from-page-3`)";
        assert!(err.starts_with(location), "{name}: {err}");
        if !table.is_empty() {
            assert!(
                err.contains(&format!("table `{table}`, field `{field}`: {problem}")),
                "{name}: {err}"
            );
        } else {
            assert!(err.contains(problem), "{name}: {err}");
        }
    }
    assert_eq!(
        seen,
        CATALOGUE.len(),
        "a catalogue entry has no fixture file"
    );
    // All but the three pages whose conversations are not an array of objects (truncated,
    // not an array, not an object) went through the chunked path too.
    assert_eq!(chunked, CATALOGUE.len() - 3);
}

#[test]
fn replay_of_a_bad_page_stops_with_exit_4_naming_file_table_and_field() {
    let input = tmp();
    std::fs::copy(
        root().join("fixtures/pages/bad/bad-segment-timestamp.json"),
        input.path().join("p.json"),
    )
    .unwrap();
    let out = tmp();
    let o = cmd(&[
        "replay",
        "--input",
        input.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("p.json")
            && stderr.contains("table `segments`")
            && stderr.contains("segmentStart"),
        "{stderr}"
    );
    assert!(
        !out.path().join("segments").exists(),
        "nothing of a bad page may be written"
    );
}
