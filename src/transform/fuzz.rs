//! Fuzzing the page transform with proptest: arbitrary bytes, mutated real pages and
//! JSON-shaped token soup must give a `PageOutput` or a `TransformError`, never a panic.
//! Runs in every `cargo test` with a bounded number of cases; raise `PROPTEST_CASES` for a
//! longer campaign. A crashing input proptest finds becomes a fixture under
//! `fixtures/pages/bad/` with its exact error.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

fn golden() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/pages/good/two-conversations.json"
    );
    std::fs::read(path).unwrap_or_default()
}

/// Transforms `bytes` with a window, as the pipeline does; only a panic fails the case.
fn transform(mut bytes: Vec<u8>) {
    let window = Some((1_709_596_800_000, 1_709_683_200_000));
    let _ = Transformer::new().transform(PageInput {
        page: PageRef::default(),
        bytes: &mut bytes,
        items: None,
        window,
        version: 1,
    });
}

/// One edit of a page: 0 flip a byte, 1 delete one, 2 insert one, 3 truncate.
fn mutate(mut page: Vec<u8>, edits: &[(Index, u8, u8)]) -> Vec<u8> {
    for (at, kind, byte) in edits {
        if page.is_empty() {
            break;
        }
        let i = at.index(page.len());
        match kind {
            0 => page[i] ^= byte | 1,
            1 => {
                page.remove(i);
            }
            2 => page.insert(i, *byte),
            _ => page.truncate(i),
        }
    }
    page
}

/// Cases per property: 1500 in CI, `PROPTEST_CASES` for a longer campaign.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"conversations\"",
    "\"participants\"",
    "\"sessions\"",
    "\"segments\"",
    "\"metrics\"",
    "\"attributes\"",
    "\"conversationId\"",
    "\"conversationStart\"",
    "\"participantId\"",
    "\"sessionId\"",
    "\"segmentStart\"",
    "\"segmentEnd\"",
    "\"value\"",
    "\"name\"",
    "\"flow\"",
    "\"cursor\"",
    "\"2024-03-05T10:00:00.000Z\"",
    "\"x\"",
    "0",
    "-1",
    "1e400",
    "true",
    "null",
    "\"\\u0000\"",
    "\"\\ud800\"",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        transform(bytes);
    }

    #[test]
    fn mutated_real_pages_never_panic(
        edits in proptest::collection::vec((any::<Index>(), 0u8..4, any::<u8>()), 1..12)
    ) {
        transform(mutate(golden(), &edits));
    }

    #[test]
    fn json_shaped_token_soup_never_panics(
        picks in proptest::collection::vec(any::<Index>(), 0..200)
    ) {
        let soup: String = picks.iter().map(|i| TOKENS[i.index(TOKENS.len())]).collect();
        transform(format!("{{\"conversations\":[{soup}").into_bytes());
    }
}
