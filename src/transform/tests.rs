//! Golden-fixture tests: a small checked-in page and the exact rows it must produce.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowDictionaryKeyType, Int32Type, Int64Type, TimestampMillisecondType, UInt32Type,
};
use arrow_array::{Array, DictionaryArray, RecordBatch};
use arrow_buffer::ArrowNativeType as _;

use super::*;

fn golden() -> PageOutput {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/pages/good/two-conversations.json"
    );
    let mut bytes = std::fs::read(path).unwrap_or_default();
    // The window of 2024-03-05: the second conversation started the day before.
    let window = Some((1_709_596_800_000, 1_709_683_200_000));
    let out = Transformer::new().transform(PageInput {
        page: PageRef::default(),
        bytes: &mut bytes,
        items: None,
        window,
        version: 7,
    });
    match out {
        Ok(o) => o,
        Err(e) => panic!("golden page failed: {e}"),
    }
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a dyn Array {
    match b.column_by_name(name) {
        Some(c) => c.as_ref(),
        None => panic!("no column {name}"),
    }
}

fn dictionary_strings<K: ArrowDictionaryKeyType>(d: &DictionaryArray<K>) -> Vec<Option<String>> {
    let values = d.values().as_string::<i32>();
    d.keys()
        .iter()
        .map(|k| k.map(|k| values.value(k.as_usize()).to_string()))
        .collect()
}

fn strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let c = col(b, name);
    // Enumerations (Int32 keys) and parent ids (UInt32 keys) are dictionaries.
    if let Some(d) = c.as_dictionary_opt::<Int32Type>() {
        return dictionary_strings(d);
    }
    if let Some(d) = c.as_dictionary_opt::<UInt32Type>() {
        return dictionary_strings(d);
    }
    c.as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

#[test]
fn golden_page_flattens_to_the_expected_rows() {
    let out = golden();
    assert_eq!((out.conversations, out.dropped_outside_window), (1, 1));
    let rows: Vec<usize> = out.batches.iter().map(RecordBatch::num_rows).collect();
    // conversations, participants, attributes, sessions, segments, metrics
    assert_eq!(rows, vec![1, 3, 2, 3, 4, 3]);

    let conv = &out.batches[TableId::Conversations as usize];
    let end = col(conv, "conversation_end")
        .as_primitive::<TimestampMillisecondType>()
        .value(0);
    assert_eq!(
        timestamp::format_iso_ms(end),
        "2024-03-05T14:09:02.110Z",
        "offsets become UTC"
    );
    assert_eq!(
        strings(conv, "_extra"),
        vec![Some(
            r#"{"evaluations":[{"evaluationId":"e-1","oTotalScore":91}]}"#.into()
        )]
    );
    assert_eq!(
        col(conv, "_version")
            .as_primitive::<arrow_array::types::UInt64Type>()
            .value(0),
        7
    );

    let attrs = &out.batches[TableId::ParticipantAttributes as usize];
    assert_eq!(
        strings(attrs, "name"),
        vec![Some("Tier".into()), Some("Note".into())]
    );
    assert_eq!(
        strings(attrs, "value"),
        vec![Some("gold".into()), Some("say \"hi\"".into())]
    );

    let sessions = &out.batches[TableId::Sessions as usize];
    assert_eq!(
        strings(sessions, "flow_flow_name"),
        vec![None, Some("Main IVR".into()), None]
    );
    assert_eq!(
        strings(sessions, "flow_entry_reason")[1].as_deref(),
        Some("tel:+18005550199")
    );
    assert_eq!(
        strings(sessions, "_extra"),
        vec![
            Some("{}".into()),
            Some(r#"{"flow":{"outcomes":[{"flowOutcome":"Auth"}]}}"#.into()),
            Some(r#"{"futureField":{"x":1}}"#.into()),
        ]
    );
    assert_eq!(
        strings(sessions, "participant_id")[2].as_deref(),
        Some("p-agent")
    );

    let segments = &out.batches[TableId::Segments as usize];
    assert_eq!(
        col(segments, "segment_index")
            .as_primitive::<UInt32Type>()
            .values()
            .to_vec(),
        vec![0, 0, 0, 1],
        "index is the position within its session"
    );
    assert_eq!(
        strings(segments, "disconnect_type")[2].as_deref(),
        Some("someNewDisconnectType"),
        "unknown enums are kept"
    );
    assert!(
        col(segments, "segment_end").is_null(3),
        "open segment has no end"
    );
    assert_eq!(
        strings(segments, "_extra")[0].as_deref(),
        Some(r#"{"sipResponseCodes":[200]}"#)
    );

    let metrics = &out.batches[TableId::SessionMetrics as usize];
    assert_eq!(
        col(metrics, "value")
            .as_primitive::<Int64Type>()
            .values()
            .to_vec(),
        vec![28_655, 341_002, 360_232]
    );
    assert_eq!(
        strings(metrics, "session_id"),
        vec![
            Some("s-ivr".into()),
            Some("s-agent".into()),
            Some("s-agent".into())
        ]
    );
}

#[test]
fn a_page_without_conversations_is_an_empty_page() {
    let mut bytes = br#"{"dataAvailabilityDate":"2024-03-06T02:15:00.000Z"}"#.to_vec();
    let out = Transformer::new().transform(PageInput {
        page: PageRef::default(),
        bytes: &mut bytes,
        items: None,
        window: None,
        version: 1,
    });
    assert!(out.is_ok_and(|o| o.batches.iter().all(|b| b.num_rows() == 0)));
}

#[test]
fn a_worker_recovers_after_a_bad_page() {
    let mut t = Transformer::new();
    let mut bad = br#"{"conversations":[{"conversationId":"a","conversationStart":"2024-03-05T10:00:00.000Z","participants":[{"participantId":"p","sessions":[{"sessionId":"s","segments":[{"segmentStart":"bad"}]}]}]}]}"#.to_vec();
    assert!(
        t.transform(PageInput {
            page: PageRef::default(),
            bytes: &mut bad,
            items: None,
            window: None,
            version: 1
        })
        .is_err()
    );
    let mut good = br#"{"conversations":[{"conversationId":"b","conversationStart":"2024-03-05T10:00:00.000Z"}]}"#.to_vec();
    let out = t.transform(PageInput {
        page: PageRef::default(),
        bytes: &mut good,
        items: None,
        window: None,
        version: 1,
    });
    let rows: Vec<usize> = out
        .map(|o| o.batches.iter().map(RecordBatch::num_rows).collect())
        .unwrap_or_default();
    assert_eq!(
        rows,
        vec![1, 0, 0, 0, 0, 0],
        "no half-built rows from the failed page"
    );
}

/// A simulator page of `n` conversations of 2024-03-05 (medium profile), as the API
/// returns it, with the scan's item spans.
fn sim_page(n: usize) -> (Vec<u8>, Option<Items>) {
    let profile = crate::sim::profile("medium").unwrap_or(crate::sim::PROFILES[1]);
    let convs: Vec<_> = crate::sim::Generator::new(42, profile)
        .day(19_787)
        .into_iter()
        .take(n)
        .collect();
    let bytes = serde_json::to_vec_pretty(&serde_json::json!({
        "conversations": convs,
        "cursor": "next",
        "totalHits": n,
    }))
    .unwrap_or_default();
    let items = crate::page::scan_top_level(&bytes)
        .ok()
        .and_then(|t| t.items);
    (bytes, items)
}

#[test]
fn conversations_parsed_a_chunk_at_a_time_give_the_rows_of_the_whole_page() {
    // Pretty-printed: white space around every comma between conversations. 300
    // conversations are several chunks; the window drops those of the day before.
    let (bytes, items) = sim_page(300);
    let Some(items) = items else {
        panic!("the scan found no conversations")
    };
    assert_eq!(items.spans.len(), 300);
    assert!(bytes.len() > 3 * CHUNK_BYTES, "{} bytes", bytes.len());
    // From the start of the 150th conversation: the window drops about half of them.
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let start = value["conversations"][150]["conversationStart"]
        .as_str()
        .and_then(timestamp::parse_iso_ms)
        .unwrap_or_default();
    let window = Some((start, start + 86_400_000));
    let mut t = Transformer::new();
    let mut run = |items: Option<&Items>| {
        let mut page = bytes.clone();
        let out = t.transform(PageInput {
            page: PageRef::default(),
            bytes: &mut page,
            items,
            window,
            version: 3,
        });
        out.unwrap_or_else(|e| panic!("{e}"))
    };
    let (whole, chunked) = (run(None), run(Some(&items)));
    assert!(whole.dropped_outside_window > 0 && whole.conversations > 0);
    assert_eq!(
        (whole.conversations, whole.dropped_outside_window),
        (chunked.conversations, chunked.dropped_outside_window)
    );
    assert_eq!(whole.batches, chunked.batches);
}

#[test]
fn spans_that_do_not_fit_the_page_fall_back_to_the_whole_page() {
    let (bytes, items) = sim_page(3);
    let Some(mut items) = items else {
        panic!("the scan found no conversations")
    };
    items.close = bytes.len() + 10;
    let mut page = bytes.clone();
    let out = Transformer::new().transform(PageInput {
        page: PageRef::default(),
        bytes: &mut page,
        items: Some(&items),
        window: None,
        version: 1,
    });
    assert_eq!(out.map(|o| o.conversations).ok(), Some(3));
}
