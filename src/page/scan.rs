//! `scan_top_level`: one structural pass over a results page, on the fetch thread, that
//! finds the top-level `cursor` without building values (the pool does the real parse) and
//! rejects a truncated or garbled body before it is queued.
//!
//! Owns only that pass. It runs for every page before the next request is made, so its
//! speed bounds a backfill's: it goes 64 bytes at a time. For each block, bit masks of
//! quotes, backslashes and brackets; a prefix XOR of the quote mask marks the bytes inside
//! strings, and bracket counts outside strings move the depth. Blocks deep inside the
//! `conversations` array (depth ≥ 2 throughout, no backslash) need nothing else; the few
//! others (the top level, escapes) go byte by byte through the same state machine.
//! Measured on 77 MB of simulator pages: 2.3 GB/s with one `memchr2` per string before,
//! 7.6 GB/s now (SSE2 masks; a portable byte loop elsewhere).

/// What the fetch thread needs from a page before queueing it.
#[derive(Debug, PartialEq, Eq)]
pub struct TopLevel {
    pub cursor: Option<String>,
    pub has_conversations: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ScanError(pub String);

const BLOCK: usize = 64;

/// Checks `b` is one complete JSON object (as far as strings and brackets go) and returns
/// its top-level `cursor` string and whether it has a `conversations` member.
pub fn scan_top_level(b: &[u8]) -> Result<TopLevel, ScanError> {
    scan(b, true)
}

/// `blocks: false` walks every byte: the reference the block path is tested against.
fn scan(b: &[u8], blocks: bool) -> Result<TopLevel, ScanError> {
    let first = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    if b.get(first) != Some(&b'{') {
        return Err(error(b, "expected a JSON object", first));
    }
    let mut s = State {
        b,
        depth: 1,
        in_string: false,
        escaped: false,
        string_start: 0,
        expect_key: true,
        key: (0, 0),
        out: TopLevel {
            cursor: None,
            has_conversations: false,
        },
    };
    let mut i = first + 1;
    while blocks && i + BLOCK <= b.len() {
        let m = Masks::of(&b[i..i + BLOCK]);
        // Fast path: no escape to follow, and even if every close bracket of the block is
        // outside a string the depth stays ≥ 2, so no top-level key, comma or end is here.
        if !s.escaped && m.backslash == 0 && s.depth >= 2 + m.close.count_ones() as usize {
            let mut inside = prefix_xor(m.quote);
            if s.in_string {
                inside = !inside;
            }
            s.depth += (m.open & !inside).count_ones() as usize;
            s.depth -= (m.close & !inside).count_ones() as usize;
            s.in_string ^= m.quote.count_ones() % 2 == 1;
            if s.in_string && m.quote != 0 {
                // The block's last quote opened the string still open: errors name it.
                s.string_start = i + (63 - m.quote.leading_zeros() as usize) + 1;
            }
        } else if let Some(done) = s.bytes(i, i + BLOCK) {
            return done;
        }
        i += BLOCK;
    }
    if let Some(done) = s.bytes(i, b.len()) {
        return done;
    }
    Err(if s.in_string {
        error(b, "unterminated string", s.string_start - 1)
    } else {
        error(b, "truncated body (object not closed)", b.len())
    })
}

fn error(b: &[u8], what: &str, at: usize) -> ScanError {
    ScanError(format!("{what} at byte {at} of {}", b.len()))
}

/// One bit per byte of a block, bit j for byte j.
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

impl Masks {
    /// SSE2 (every x86-64 CPU): 16 bytes per compare, 4 compares per 16 bytes.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[allow(unsafe_code)]
    fn of(block: &[u8]) -> Self {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        assert!(block.len() >= BLOCK);
        let (mut quote, mut backslash, mut open, mut close) = (0u64, 0u64, 0u64, 0u64);
        // SAFETY: SSE2 is part of the x86-64 baseline, so these intrinsics exist on every
        // CPU this code runs on; each load reads 16 bytes at 16 k < 64 ≤ block.len()
        // (asserted above), and `loadu` has no alignment requirement.
        unsafe {
            let (q, bs, o, c, fold) = (
                _mm_set1_epi8(b'"' as i8),
                _mm_set1_epi8(b'\\' as i8),
                _mm_set1_epi8(b'{' as i8),
                _mm_set1_epi8(b'}' as i8),
                _mm_set1_epi8(0x20),
            );
            for k in 0..BLOCK / 16 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast::<__m128i>());
                let folded = _mm_or_si128(v, fold);
                let shift = 16 * k;
                quote |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, q)) as u16) << shift;
                backslash |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, bs)) as u16) << shift;
                open |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(folded, o)) as u16) << shift;
                close |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(folded, c)) as u16) << shift;
            }
        }
        Self {
            quote,
            backslash,
            open,
            close,
        }
    }

    /// Portable: one byte at a time (also the reference the SSE2 version is tested against).
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    #[inline]
    fn of_bytes(block: &[u8]) -> Self {
        let (mut quote, mut backslash, mut open, mut close) = (0u64, 0u64, 0u64, 0u64);
        for (j, &c) in block.iter().enumerate() {
            // `[`/`]` are `{`/`}` with bit 5 clear.
            let folded = c | 0x20;
            quote |= u64::from(c == b'"') << j;
            backslash |= u64::from(c == b'\\') << j;
            open |= u64::from(folded == b'{') << j;
            close |= u64::from(folded == b'}') << j;
        }
        Self {
            quote,
            backslash,
            open,
            close,
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline]
    fn of(block: &[u8]) -> Self {
        Self::of_bytes(block)
    }
}

/// Bit j set when an odd number of bits at or below j are set in `x`: with `x` the quote
/// mask, the bytes from an opening quote up to (not including) its closing one.
#[inline]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

struct State<'a> {
    b: &'a [u8],
    depth: usize,
    in_string: bool,
    /// Inside a string, the previous byte was a backslash that escapes this one.
    escaped: bool,
    /// First byte of the string being read.
    string_start: usize,
    expect_key: bool,
    /// The current top-level key, as a byte range.
    key: (usize, usize),
    out: TopLevel,
}

impl State<'_> {
    /// Byte by byte over `b[from..to]`; `Some` once the object closed (or is bad).
    fn bytes(&mut self, from: usize, to: usize) -> Option<Result<TopLevel, ScanError>> {
        let b = self.b;
        for (p, &c) in b[from..to].iter().enumerate().map(|(k, c)| (from + k, c)) {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if c == b'\\' {
                    self.escaped = true;
                } else if c == b'"' {
                    self.in_string = false;
                    if self.depth == 1
                        && let Err(e) = self.top_level_string(p)
                    {
                        return Some(Err(e));
                    }
                }
                continue;
            }
            match c {
                b'"' => {
                    self.in_string = true;
                    self.string_start = p + 1;
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        if c != b'}' {
                            return Some(Err(error(b, "mismatched bracket", p)));
                        }
                        let out = std::mem::replace(
                            &mut self.out,
                            TopLevel {
                                cursor: None,
                                has_conversations: false,
                            },
                        );
                        return Some(
                            match b[p + 1..].iter().position(|c| !c.is_ascii_whitespace()) {
                                None => Ok(out),
                                Some(t) => {
                                    Err(error(b, "trailing data after the object", p + 1 + t))
                                }
                            },
                        );
                    }
                }
                b',' if self.depth == 1 => self.expect_key = true,
                _ => {}
            }
        }
        None
    }

    /// A string of the top-level object ended at `end` (its closing quote).
    fn top_level_string(&mut self, end: usize) -> Result<(), ScanError> {
        let (b, start) = (self.b, self.string_start);
        if self.expect_key {
            self.key = (start, end);
            self.expect_key = false;
            if &b[start..end] == b"conversations" {
                self.out.has_conversations = true;
            }
        } else if &b[self.key.0..self.key.1] == b"cursor" {
            let c: String = serde_json::from_slice(&b[start - 1..=end])
                .map_err(|e| ScanError(format!("bad cursor string: {e}")))?;
            self.out.cursor = Some(c);
        }
        Ok(())
    }
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
            br#"{"cursor":"ab\"}"#,
            br#"{"cursor":"ab\"#,
            b"",
            b"[1]",
            br#"{"a":1} x"#,
            br#"{"a":[1]]"#,
        ] {
            assert!(
                scan_top_level(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Bodies of JSON tokens (strings with escapes and brackets inside them among
        /// them) and stray bytes that break them, at depths that take the fast path and
        /// depths that do not, with top-level members after the long part: same answer,
        /// same error, same byte as the byte-by-byte walk.
        #[test]
        fn blocks_give_the_answer_of_the_byte_by_byte_walk(
            tokens in proptest::collection::vec(proptest::sample::select(vec![
                r#""id-0123456789""#, r#""a\"b""#, r#""\\""#, r#""}]{[""#, "[", "]", "{", "}",
                ",", ":", "12", " ", "\\", "\"",
            ]), 0..300),
            depth in 0usize..5,
            top in proptest::collection::vec(proptest::sample::select(vec![
                r#","cursor":"c1""#, r#","a":{"cursor":"no"}"#, r#","x":"\"""#, ",", "}",
            ]), 0..4),
        ) {
            let mut page = br#"{"conversations":"#.to_vec();
            page.extend(std::iter::repeat_n(b'[', depth));
            page.extend(tokens.concat().as_bytes());
            page.extend(std::iter::repeat_n(b']', depth));
            page.extend(top.concat().as_bytes());
            page.extend(br#","cursor":"c"}"#);
            proptest::prop_assert_eq!(scan(&page, true), scan(&page, false));
        }
    }

    #[test]
    fn block_masks_match_the_byte_by_byte_masks() {
        let mut block = [0u8; BLOCK];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = br#"{}[]"\ a:,0"#;
        for _ in 0..2000 {
            for c in &mut block {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *c = alphabet[(x % alphabet.len() as u64) as usize];
            }
            let (a, b) = (Masks::of(&block), Masks::of_bytes(&block));
            assert_eq!(
                (a.quote, a.backslash, a.open, a.close),
                (b.quote, b.backslash, b.open, b.close)
            );
        }
    }

    /// Pages long enough for the 64-byte blocks: padding strings with escapes and brackets
    /// in them, at every alignment, before and after the top-level members.
    #[test]
    fn blocks_agree_with_the_byte_by_byte_walk_at_every_alignment() {
        let filler = r#"{"s":"a \"quoted\" [not] {a} \\","n":[1,{"x":"}"}],"t":"\\\\"}"#;
        for pad in 0..80 {
            let lead = " ".repeat(pad);
            let items = vec![filler; 1 + pad % 5].join(",");
            let page = format!(
                r#"{lead}{{"conversations":[{items},{{"cursor":"nested"}}],"cursor":"c\"{pad}","x":"}}"}}"#
            );
            let want = TopLevel {
                cursor: Some(format!("c\"{pad}")),
                has_conversations: true,
            };
            assert_eq!(scan_top_level(page.as_bytes()), Ok(want), "{page}");
            // Every proper prefix is incomplete.
            for cut in (0..page.len()).step_by(7) {
                assert!(scan_top_level(&page.as_bytes()[..cut]).is_err(), "{cut}");
            }
        }
    }
}
