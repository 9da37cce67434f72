//! What travels from fetch to transform: a raw results page with its provenance, and the
//! time window it belongs to.
//!
//! Its `scan` submodule owns `scan_top_level`: a structural pass over a page that finds
//! the top-level `cursor` without building values, so the fetch thread can follow cursors
//! while the pool does the real parse; it also catches truncated bodies before they are
//! queued.
//!
//! `BufferPool` hands page buffers the workers are done with back to the source.

mod scan;

pub use scan::{Items, ScanError, TopLevel, scan_top_level};

use crate::sim::data::{MS_PER_DAY, civil_from_days};

/// Spare capacity a page buffer should have past its bytes: the transform parses a page
/// in place with simd-json, which reads this far beyond the document. With the room there,
/// it skips copying the page into a padded buffer of its own.
pub const PAGE_PADDING: usize = simd_json::INPUT_PADDING;
use crate::transform::PageRef;

/// Page buffers going round: the source reads a page into one, a worker parses it and
/// gives it back. A fresh 4 MB buffer per page is memory the kernel must map and zero on
/// first touch (it showed as `clear_page_erms` under the reader's `read`); a reused one
/// is already there. Holds at most `capacity` spare buffers, so it adds at most that many
/// pages to the memory the channel already bounds.
#[derive(Clone)]
pub struct BufferPool {
    tx: crossbeam_channel::Sender<Vec<u8>>,
    rx: crossbeam_channel::Receiver<Vec<u8>>,
}

impl BufferPool {
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        Self { tx, rx }
    }

    /// An empty buffer with room for `len` bytes plus `PAGE_PADDING`: a spare one when
    /// one is large enough, else a new one with an eighth more room, so that pages of
    /// about the same size keep fitting the buffers that come back. (Growing a spare one
    /// instead would `realloc` it, which copies the whole old allocation, contents
    /// unused, into fresh memory: in perf that was most of the 2-thread replay's reader
    /// thread.)
    pub fn take(&self, len: usize) -> Vec<u8> {
        let want = len + PAGE_PADDING;
        match self.rx.try_recv() {
            Ok(mut buf) if buf.capacity() >= want => {
                buf.clear();
                buf
            }
            _ => Vec::with_capacity(want + want / 8),
        }
    }

    /// Keeps `buf` for a later `take`, or drops it when the pool is full.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() > 0 {
            let _ = self.tx.try_send(buf);
        }
    }
}

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
    /// Where its conversations lie in `bytes` (`scan_top_level`), when known.
    pub items: Option<Items>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_buffers_come_back_empty_with_room_and_the_pool_stays_bounded() {
        let pool = BufferPool::new(2);
        let mut a = pool.take(100);
        assert!(a.capacity() >= 100 + PAGE_PADDING);
        a.extend_from_slice(b"{\"conversations\":[]}");
        let at = a.as_ptr();
        pool.give(a);
        // A page a little larger than the one the buffer was made for still fits it.
        let b = pool.take(100 + (100 + PAGE_PADDING) / 8);
        assert_eq!(
            (b.as_ptr(), b.len()),
            (at, 0),
            "the same allocation, emptied"
        );
        let c = pool.take(1 << 20);
        assert!(c.capacity() >= (1 << 20) + PAGE_PADDING);
        for buf in [b, c, Vec::with_capacity(8)] {
            pool.give(buf);
        }
        assert_eq!(pool.rx.len(), 2, "a full pool drops what it cannot hold");
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
