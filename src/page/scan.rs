//! `scan_top_level`: one structural pass over a results page, on the fetch thread, that
//! finds the top-level `cursor` without building values (the pool does the real parse) and
//! rejects a truncated or garbled body before it is queued.
//!
//! Owns only that pass. It runs for every page before the next request is made, so its
//! speed bounds a backfill's: it goes 64 bytes at a time. For each block, bit masks of
//! quotes, backslashes and brackets; the escape scanner of simdjson drops escaped quotes, a
//! prefix XOR of the quote mask marks the bytes inside strings, and bracket counts outside
//! strings move the depth. Blocks inside one conversation (depth ≥ 3 throughout,
//! backslashes only inside strings) need nothing else; blocks where a conversation starts
//! or ends follow their brackets one by one to record where (`Items`); the few others (the
//! top level) go byte by byte through the same state machine.
//! Measured (criterion `scan`, one 3.7 MB page): 6.5 GiB/s with SSE2 masks and every block
//! holding a backslash or a close bracket near depth 2 sent byte by byte; 15.5 GiB/s with
//! AVX2 masks, the prefix XOR as a carry-less multiply, POPCNT, and escapes in the block
//! path (chosen at run time; SSE2 on other x86-64 CPUs, a portable byte loop elsewhere).

/// What the fetch thread needs from a page before queueing it.
#[derive(Debug, PartialEq, Eq)]
pub struct TopLevel {
    pub cursor: Option<String>,
    pub has_conversations: bool,
    /// Where the `conversations` array and its elements lie, when it is an array of
    /// objects separated by single commas; `None` otherwise (no such member, `null`, or an
    /// irregular array, which the transform's whole-page parse then reports).
    pub items: Option<Items>,
}

/// Byte positions of the `conversations` array of a page and of each of its elements, so
/// that the transform can parse a few conversations at a time: a parse tape sized to a
/// chunk instead of a whole page (about 25 MB per worker for a 3.7 MB page).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Items {
    /// Offsets of the array's `[` and `]`.
    pub open: usize,
    pub close: usize,
    /// `[start, end)` of each element: `{` up to and including its `}`.
    pub spans: Vec<(u32, u32)>,
}

/// What `scan` expects next at depth 2 of the `conversations` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Right after `[`: an element or `]`.
    ItemOrEnd,
    /// After a comma: an element.
    Item,
    /// After an element: a comma or `]`.
    CommaOrEnd,
}

/// How far `scan` is through the `conversations` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Before,
    In(Expect),
    Done,
    /// Something other than objects and single commas in it: no `Items`.
    Irregular,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ScanError(pub String);

const BLOCK: usize = 64;

/// Checks `b` is one complete JSON object (as far as strings and brackets go) and returns
/// its top-level `cursor` string, whether it has a `conversations` member, and where that
/// array's elements lie.
pub fn scan_top_level(b: &[u8]) -> Result<TopLevel, ScanError> {
    scan(b, Kernel::Best)
}

/// How `scan` goes through the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// Every byte through the state machine: the reference the others are tested against.
    #[cfg_attr(not(test), allow(dead_code))]
    Bytes,
    /// 64-byte blocks with the masks every x86-64 CPU has (SSE2), or byte loops elsewhere.
    #[cfg_attr(not(test), allow(dead_code))]
    Portable,
    /// 64-byte blocks with the widest masks this CPU has.
    Best,
}

fn scan(b: &[u8], kernel: Kernel) -> Result<TopLevel, ScanError> {
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
        value_is_items: false,
        phase: Phase::Before,
        items: Items::default(),
        item_start: 0,
        out: TopLevel {
            cursor: None,
            has_conversations: false,
            items: None,
        },
    };
    let mut i = first + 1;
    if kernel != Kernel::Bytes {
        match s.blocks(i, kernel) {
            Ok(next) => i = next,
            Err(done) => return done,
        }
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

    /// AVX2: 32 bytes per compare.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    fn of_avx2(block: &[u8]) -> Self {
        use std::arch::x86_64::{
            __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
            _mm256_set1_epi8,
        };
        assert!(block.len() >= BLOCK);
        let (q, bs, o, c, fold) = (
            _mm256_set1_epi8(b'"' as i8),
            _mm256_set1_epi8(b'\\' as i8),
            _mm256_set1_epi8(b'{' as i8),
            _mm256_set1_epi8(b'}' as i8),
            _mm256_set1_epi8(0x20),
        );
        let half = |k: usize| {
            // SAFETY: reads 32 bytes at 32 k ≤ 32 < 64 ≤ block.len() (asserted above);
            // `loadu` has no alignment requirement.
            #[allow(unsafe_code)]
            let v = unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * k).cast::<__m256i>()) };
            let folded = _mm256_or_si256(v, fold);
            let bits = |x| u64::from(_mm256_movemask_epi8(x) as u32) << (32 * k);
            (
                bits(_mm256_cmpeq_epi8(v, q)),
                bits(_mm256_cmpeq_epi8(v, bs)),
                bits(_mm256_cmpeq_epi8(folded, o)),
                bits(_mm256_cmpeq_epi8(folded, c)),
            )
        };
        let (lo, hi) = (half(0), half(1));
        Self {
            quote: lo.0 | hi.0,
            backslash: lo.1 | hi.1,
            open: lo.2 | hi.2,
            close: lo.3 | hi.3,
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

/// The bytes of a block that a backslash escapes, given its backslash mask and whether its
/// first byte is escaped (by the previous block's last backslash); and whether the next
/// block's first byte is. In a run of backslashes the second, fourth, … are escaped (each
/// by the one before it), and so is the byte after the run when its length is odd.
/// simdjson's escape scanner (`json_escape_scanner.h`): one subtraction tells the runs
/// that start on even bytes from those that start on odd ones.
#[inline(always)]
fn escapes(backslash: u64, first_escaped: bool) -> (u64, bool) {
    const ODD_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;
    let carry = u64::from(first_escaped);
    if backslash == 0 {
        // Most blocks: no run to follow, and the chain below off the loop's critical path.
        return (carry, false);
    }
    let potential = backslash & !carry;
    let escape_and_code = ((potential << 1) | ODD_BITS).wrapping_sub(potential) ^ ODD_BITS;
    let escaped = escape_and_code ^ (backslash | carry);
    let escape = escape_and_code & backslash;
    (escaped, escape >> 63 != 0)
}

/// `prefix_xor` as one carry-less multiply by all ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
#[inline]
fn prefix_xor_clmul(x: u64) -> u64 {
    use std::arch::x86_64::{_mm_clmulepi64_si128, _mm_cvtsi128_si64, _mm_set_epi64x};
    let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set_epi64x(0, -1), 0);
    _mm_cvtsi128_si64(product) as u64
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
    /// The top-level value being read is that of `conversations`.
    value_is_items: bool,
    phase: Phase,
    /// Filled while `phase` is `In`; handed out when it ends `Done`.
    items: Items,
    /// Where the element being read started.
    item_start: usize,
    out: TopLevel,
}

impl State<'_> {
    /// Whole 64-byte blocks from `from`, with the widest kernel the CPU has; returns where
    /// the bytes left over start, or the answer when the object closed (or is bad) first.
    fn blocks(
        &mut self,
        from: usize,
        kernel: Kernel,
    ) -> Result<usize, Result<TopLevel, ScanError>> {
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Best
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
            && std::arch::is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the CPU has these features (checked just above).
            #[allow(unsafe_code)]
            return unsafe { self.blocks_avx2(from) };
        }
        self.blocks_with(from, Masks::of, prefix_xor)
    }

    /// `blocks_with` compiled for AVX2, carry-less multiply and POPCNT: 32 bytes per
    /// compare, the prefix XOR and each bracket count in one instruction.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,pclmulqdq,popcnt")]
    fn blocks_avx2(&mut self, from: usize) -> Result<usize, Result<TopLevel, ScanError>> {
        self.blocks_with(from, |b| Masks::of_avx2(b), |x| prefix_xor_clmul(x))
    }

    /// The block loop. Blocks deep inside the page (backslashes only inside strings, and the
    /// depth stays ≥ 2 after every bracket outside strings; ≥ 3 in the conversations array)
    /// only move the depth and the in-string and escape state; blocks where conversations
    /// start or end go bracket by bracket (`item_brackets`); any other block goes byte by
    /// byte through `bytes`.
    #[inline(always)]
    fn blocks_with(
        &mut self,
        from: usize,
        masks: impl Fn(&[u8]) -> Masks,
        prefix: impl Fn(u64) -> u64,
    ) -> Result<usize, Result<TopLevel, ScanError>> {
        let b = self.b;
        let mut i = from;
        while i + BLOCK <= b.len() {
            let m = masks(&b[i..i + BLOCK]);
            let (escaped, escaped_next) = escapes(m.backslash, self.escaped);
            let quote = m.quote & !escaped;
            let mut inside = prefix(quote);
            if self.in_string {
                inside = !inside;
            }
            let (open, close) = (m.open & !inside, m.close & !inside);
            // A backslash outside strings is not JSON: the byte walk says what it says.
            let plain = m.backslash & !inside == 0;
            let stays_in = self.depth >= 2 + close.count_ones() as usize;
            let in_items = matches!(self.phase, Phase::In(_));
            if plain && stays_in && (!in_items || self.depth >= 3 + close.count_ones() as usize) {
                // Nothing at depth 2 of the array of conversations: just move the depth.
                self.depth += open.count_ones() as usize;
                self.depth -= close.count_ones() as usize;
            } else if plain && stays_in {
                // Conversations start or end here: follow the brackets one by one.
                self.item_brackets(i, open, close);
            } else if let Some(done) = self.bytes(i, i + BLOCK) {
                return Err(done);
            } else {
                i += BLOCK;
                continue;
            }
            self.in_string ^= quote.count_ones() % 2 == 1;
            self.escaped = escaped_next;
            if self.in_string && quote != 0 {
                // The block's last quote opened the string still open: errors name it.
                self.string_start = i + (63 - quote.leading_zeros() as usize) + 1;
            }
            i += BLOCK;
        }
        Ok(i)
    }

    /// The block at `at`, inside the array of conversations and never leaving it, with
    /// `open` and `close` its brackets outside strings: moves the depth bracket by bracket,
    /// and hands `item_byte` each bracket at depth 2 or 3 and every byte at depth 2 (between
    /// conversations: a comma and white space, when the page is regular).
    fn item_brackets(&mut self, at: usize, open: u64, close: u64) {
        let b = self.b;
        let mut between = (self.depth == 2).then_some(at);
        let mut bits = open | close;
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let p = at + j;
            if let Some(from) = between.take() {
                self.item_bytes(from, p);
            }
            if self.depth <= 3 {
                self.item_byte(p, b[p]);
            }
            if open >> j & 1 == 1 {
                self.depth += 1;
            } else {
                self.depth -= 1;
                if self.depth == 2 {
                    between = Some(p + 1);
                }
            }
        }
        if let Some(from) = between {
            self.item_bytes(from, at + BLOCK);
        }
    }

    /// `item_byte` for each byte of `b[from..to]`, all at depth 2 outside strings.
    fn item_bytes(&mut self, from: usize, to: usize) {
        let b = self.b;
        for (q, &c) in b[from..to].iter().enumerate() {
            self.item_byte(from + q, c);
        }
    }

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
            if self.depth <= 3 && matches!(self.phase, Phase::In(_)) {
                self.item_byte(p, c);
            }
            match c {
                b'"' => {
                    self.in_string = true;
                    self.string_start = p + 1;
                }
                b'{' | b'[' => {
                    if self.depth == 1 && self.value_is_items {
                        self.phase = if c == b'[' && self.phase == Phase::Before {
                            self.items.open = p;
                            Phase::In(Expect::ItemOrEnd)
                        } else {
                            Phase::Irregular
                        };
                    }
                    self.depth += 1;
                }
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        if c != b'}' {
                            return Some(Err(error(b, "mismatched bracket", p)));
                        }
                        let mut out = std::mem::replace(
                            &mut self.out,
                            TopLevel {
                                cursor: None,
                                has_conversations: false,
                                items: None,
                            },
                        );
                        if self.phase == Phase::Done {
                            out.items = Some(std::mem::take(&mut self.items));
                        }
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
                b',' if self.depth == 1 => {
                    self.expect_key = true;
                    self.value_is_items = false;
                }
                _ => {}
            }
        }
        None
    }

    /// Byte `c` at `p`, outside strings, at depth 2 (between elements) or 3 (an element's
    /// own members) of the `conversations` array, before `bytes` moves the depth: records
    /// where elements start and end, and gives up on anything but objects separated by
    /// single commas.
    fn item_byte(&mut self, p: usize, c: u8) {
        let Phase::In(expect) = self.phase else {
            return;
        };
        self.phase = match (self.depth, c) {
            (2, b'{') if expect != Expect::CommaOrEnd => {
                self.item_start = p;
                Phase::In(Expect::CommaOrEnd)
            }
            (3, b'}') => {
                // The element closes: depth 3 → 2. Pages are under 4 GiB (the transform's
                // parser refuses larger ones), so offsets fit in u32.
                let span = (self.item_start as u32, (p + 1) as u32);
                self.items.spans.push(span);
                Phase::In(Expect::CommaOrEnd)
            }
            (3, b']') => Phase::Irregular,
            (3, _) => Phase::In(expect),
            (2, b',') if expect == Expect::CommaOrEnd => Phase::In(Expect::Item),
            (2, b']') if expect != Expect::Item => {
                self.items.close = p;
                Phase::Done
            }
            (2, b' ' | b'\t' | b'\n' | b'\r') => Phase::In(expect),
            _ => Phase::Irregular,
        };
    }

    /// A string of the top-level object ended at `end` (its closing quote).
    fn top_level_string(&mut self, end: usize) -> Result<(), ScanError> {
        let (b, start) = (self.b, self.string_start);
        if self.expect_key {
            self.key = (start, end);
            self.expect_key = false;
            if &b[start..end] == b"conversations" {
                self.out.has_conversations = true;
                self.value_is_items = true;
                if self.phase != Phase::Before {
                    // A second `conversations` member: leave it to the whole-page parse.
                    self.phase = Phase::Irregular;
                }
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
                has_conversations: true,
                items: Some(Items {
                    open: 17,
                    close: 69,
                    spans: vec![(18, 69)],
                }),
            })
        );
    }

    #[test]
    fn last_page_has_no_cursor() {
        assert_eq!(
            scan_top_level(br#" {"dataAvailabilityDate":"x"} "#),
            Ok(TopLevel {
                cursor: None,
                has_conversations: false,
                items: None,
            })
        );
    }

    /// Each element of `conversations`, as the text the scan says it spans.
    fn elements(page: &str) -> Option<Vec<&str>> {
        let items = scan_top_level(page.as_bytes()).ok()?.items?;
        assert_eq!(&page[items.open..=items.open], "[");
        assert_eq!(&page[items.close..=items.close], "]");
        Some(
            items
                .spans
                .iter()
                .map(|&(a, b)| &page[a as usize..b as usize])
                .collect(),
        )
    }

    #[test]
    fn finds_each_conversation_when_all_are_objects_between_single_commas() {
        assert_eq!(
            elements(r#"{"cursor":"c", "conversations" : [ {"a":"}"} , {"b":[{"c":{}}]},{} ] }"#),
            Some(vec![r#"{"a":"}"}"#, r#"{"b":[{"c":{}}]}"#, "{}"])
        );
        assert_eq!(elements(r#"{"conversations":[]}"#), Some(vec![]));
        for irregular in [
            r#"{"conversations":[{},1]}"#,
            r#"{"conversations":[{},"x"]}"#,
            r#"{"conversations":[{},[]]}"#,
            r#"{"conversations":[{},,{}]}"#,
            r#"{"conversations":[,{}]}"#,
            r#"{"conversations":[{},]}"#,
            r#"{"conversations":[{} {}]}"#,
            r#"{"conversations":[{"a":1]]}"#,
            r#"{"conversations":[{}],"conversations":[{}]}"#,
            r#"{"conversations":{"conversationId":"c-1"}}"#,
            r#"{"conversations":null}"#,
            r#"{"other":[{}]}"#,
        ] {
            assert_eq!(elements(irregular), None, "{irregular}");
        }
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
                r#""id-0123456789""#, r#""a\"b""#, r#""\\""#, r#""q\\\\\"\\\\""#,
                r#""}]{[""#, "[", "]", "{", "}",
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
            let want = scan(&page, Kernel::Bytes);
            proptest::prop_assert_eq!(&scan(&page, Kernel::Portable), &want);
            proptest::prop_assert_eq!(&scan(&page, Kernel::Best), &want);
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn carry_less_prefix_xor_is_the_shift_ladder() {
        if !std::arch::is_x86_feature_detected!("pclmulqdq") {
            return;
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // SAFETY: the CPU has PCLMULQDQ (checked above).
            #[allow(unsafe_code)]
            let clmul = unsafe { prefix_xor_clmul(x) };
            assert_eq!(clmul, prefix_xor(x), "{x:#x}");
        }
    }

    #[test]
    fn escapes_match_a_byte_by_byte_walk_across_blocks() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut carry = false;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Dense backslash runs of every length, some reaching the block's end.
            let backslash = x & (x >> 1 | x >> 3);
            let mut want = 0u64;
            let mut escaping = carry;
            for j in 0..64 {
                if escaping {
                    want |= 1 << j;
                    escaping = false;
                } else {
                    escaping = backslash >> j & 1 == 1;
                }
            }
            assert_eq!(
                escapes(backslash, carry),
                (want, escaping),
                "{backslash:#x} {carry}"
            );
            carry = escaping;
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
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                #[allow(unsafe_code)]
                let c = unsafe { Masks::of_avx2(&block) };
                assert_eq!(
                    (c.quote, c.backslash, c.open, c.close),
                    (b.quote, b.backslash, b.open, b.close)
                );
            }
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
            let got = scan_top_level(page.as_bytes());
            let spans = match &got {
                Ok(TopLevel {
                    items: Some(items), ..
                }) => items.spans.clone(),
                other => panic!("{other:?}: {page}"),
            };
            let want: Vec<&str> = vec![filler; 1 + pad % 5]
                .into_iter()
                .chain([r#"{"cursor":"nested"}"#])
                .collect();
            let got_items: Vec<&str> = spans
                .iter()
                .map(|&(a, b)| &page[a as usize..b as usize])
                .collect();
            assert_eq!(got_items, want, "{page}");
            let top = got.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(top.cursor, Some(format!("c\"{pad}")), "{page}");
            assert!(top.has_conversations);
            // Every proper prefix is incomplete.
            for cut in (0..page.len()).step_by(7) {
                assert!(scan_top_level(&page.as_bytes()[..cut]).is_err(), "{cut}");
            }
        }
    }
}
