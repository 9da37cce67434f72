//! What travels from fetch to transform: a raw results page with its provenance, and the
//! time window it belongs to.
//!
//! Also owns `scan_top_level`: a structural pass over a page that finds the top-level
//! `cursor` without building values, so the fetch thread can follow cursors while the
//! pool does the real parse; it also catches truncated bodies before they are queued.

use crate::sim::data::{MS_PER_DAY, civil_from_days};
use crate::transform::PageRef;

/// A half-open UTC interval `[start_ms, end_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
}

fn compact(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let rem = ms.rem_euclid(MS_PER_DAY) / 1000;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn parse_compact(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = crate::transform::timestamp::days_from_civil(num(0..4)?, num(4..6)?, num(6..8)?);
    Some(days * MS_PER_DAY + (num(9..11)? * 3600 + num(11..13)? * 60 + num(13..15)?) * 1000)
}

impl Window {
    /// The API's interval syntax: `start/end` in ISO-8601.
    pub fn interval(&self) -> String {
        format!(
            "{}/{}",
            crate::sim::data::iso(self.start_ms),
            crate::sim::data::iso(self.end_ms)
        )
    }

    /// Compact label used in file names: `20240305T000000Z-20240306T000000Z`.
    pub fn label(&self) -> String {
        format!("{}-{}", compact(self.start_ms), compact(self.end_ms))
    }

    pub fn from_label(label: &str) -> Option<Self> {
        let (a, b) = label.split_once('-')?;
        let w = Window {
            start_ms: parse_compact(a)?,
            end_ms: parse_compact(b)?,
        };
        (w.start_ms < w.end_ms).then_some(w)
    }

    /// Epoch days the window touches (the `date=` partitions its rows can land in).
    pub fn days(&self) -> std::ops::Range<i64> {
        self.start_ms.div_euclid(MS_PER_DAY)..(self.end_ms - 1).div_euclid(MS_PER_DAY) + 1
    }

    /// Splits `[from, to)` into consecutive windows of `len_ms`.
    pub fn split(from_ms: i64, to_ms: i64, len_ms: i64) -> Vec<Window> {
        let mut out = Vec::new();
        let mut s = from_ms;
        while s < to_ms {
            let e = (s + len_ms).min(to_ms);
            out.push(Window {
                start_ms: s,
                end_ms: e,
            });
            s = e;
        }
        out
    }
}

/// A raw results page on its way to the pool.
#[derive(Debug)]
pub struct RawPage {
    /// Position in this run; the commit stage restores this order.
    pub seq: u64,
    pub window: Option<Window>,
    /// 0-based page index within its window (part of deterministic file names).
    pub page: u32,
    /// The job that produced it (`None` for replay).
    pub job_id: Option<String>,
    /// Cursor sent to fetch this page.
    pub cursor: Option<String>,
    /// Cursor the page returned for the next one (`None`: last page).
    pub next_cursor: Option<String>,
    /// `_version` for its rows: extraction time in ms.
    pub version: u64,
    pub file: Option<String>,
    pub bytes: Vec<u8>,
}

impl RawPage {
    pub fn page_ref(&self) -> PageRef {
        PageRef {
            seq: self.seq,
            window: self.window.map(|w| w.interval()),
            page: self.page,
            cursor: self.cursor.clone(),
            file: self.file.clone(),
        }
    }
}

/// What the fetch thread needs from a page before queueing it.
#[derive(Debug, PartialEq, Eq)]
pub struct TopLevel {
    pub cursor: Option<String>,
    pub has_conversations: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ScanError(pub String);

/// Walks the JSON structure once (strings skipped with memchr), checks it is one complete
/// object, and returns its top-level `cursor` string and whether it has `conversations`.
pub fn scan_top_level(b: &[u8]) -> Result<TopLevel, ScanError> {
    let err = |what: &str, at: usize| Err(ScanError(format!("{what} at byte {at} of {}", b.len())));
    let mut i = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    if b.get(i) != Some(&b'{') {
        return err("expected a JSON object", i);
    }
    i += 1;
    let mut depth = 1usize;
    let mut expect_key = true;
    let mut key: &[u8] = b"";
    let mut out = TopLevel {
        cursor: None,
        has_conversations: false,
    };
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                loop {
                    match memchr::memchr2(b'"', b'\\', &b[j..]) {
                        None => return err("unterminated string", start - 1),
                        Some(k) if b[j + k] == b'\\' => j += k + 2,
                        Some(k) => {
                            j += k;
                            break;
                        }
                    }
                }
                if depth == 1 {
                    let s = &b[start..j];
                    if expect_key {
                        key = s;
                        expect_key = false;
                        if key == b"conversations" {
                            out.has_conversations = true;
                        }
                    } else if key == b"cursor" {
                        let raw = &b[start - 1..=j];
                        let c: String = serde_json::from_slice(raw)
                            .map_err(|e| ScanError(format!("bad cursor string: {e}")))?;
                        out.cursor = Some(c);
                    }
                }
                i = j + 1;
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    if b[i - 1] != b'}' {
                        return err("mismatched bracket", i - 1);
                    }
                    return match b[i..].iter().position(|c| !c.is_ascii_whitespace()) {
                        None => Ok(out),
                        Some(k) => err("trailing data after the object", i + k),
                    };
                }
            }
            b',' if depth == 1 => {
                expect_key = true;
                i += 1;
            }
            _ => i += 1,
        }
    }
    err("truncated body (object not closed)", b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_top_level_cursor_not_nested_ones() {
        let page = br#"{"conversations":[{"participants":[{"attributes":{"cursor":"evil"}}]}],"cursor":"abc\/1","dataAvailabilityDate":"x"}"#;
        let t = scan_top_level(page);
        assert_eq!(
            t,
            Ok(TopLevel {
                cursor: Some("abc/1".into()),
                has_conversations: true
            })
        );
    }

    #[test]
    fn last_page_has_no_cursor() {
        assert_eq!(
            scan_top_level(br#" {"dataAvailabilityDate":"x"} "#),
            Ok(TopLevel {
                cursor: None,
                has_conversations: false
            })
        );
    }

    #[test]
    fn truncated_and_garbage_bodies_are_rejected() {
        for bad in [
            &br#"{"conversations":[{"a":"b"}"#[..],
            br#"{"cursor":"ab"#,
            b"",
            b"[1]",
            br#"{"a":1} x"#,
        ] {
            assert!(
                scan_top_level(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn window_labels_round_trip() {
        let w = Window {
            start_ms: 1_709_596_800_000,
            end_ms: 1_709_683_200_000,
        };
        assert_eq!(w.label(), "20240305T000000Z-20240306T000000Z");
        assert_eq!(Window::from_label(&w.label()), Some(w));
        assert_eq!(w.days().count(), 1);
        assert_eq!(Window::split(0, 3 * MS_PER_DAY + 5, MS_PER_DAY).len(), 4);
    }
}
