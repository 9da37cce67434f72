//! Transform: one raw results page → one Arrow `RecordBatch` per table.
//!
//! Owns: parsing (simd-json tape, per-worker scratch reused across pages), flattening
//! conversation → participants → attributes / sessions → segments / metrics, window
//! ownership (a conversation belongs to the window holding its `conversationStart`),
//! and errors that name page, cursor, table and field path. Pure CPU: no I/O, no clocks.
//! Must not touch: the network, the sinks, the checkpoint.

mod builders;
mod decode;
pub mod error;
pub mod timestamp;

use arrow_array::RecordBatch;
use simd_json::prelude::*;
use simd_json::tape::{Tape, Value};

use builders::TableBuilder;
use decode::Level;
pub use error::{FieldError, PageRef, Problem, TransformError};

use crate::page::Items;
use crate::schema::{ALL_TABLES, TableDef, TableId};

/// A page to transform. `bytes` is parsed in place (simd-json rewrites strings into it);
/// with `crate::page::PAGE_PADDING` bytes of spare capacity, nothing is copied.
pub struct PageInput<'a> {
    pub page: PageRef,
    pub bytes: &'a mut Vec<u8>,
    /// Where each conversation lies in `bytes`, from `scan_top_level` on the same bytes:
    /// with it, conversations are parsed a chunk of about `CHUNK_BYTES` at a time, so the
    /// parse tape holds a chunk instead of the page. `None` (or spans that do not fit)
    /// parses the whole page at once; the rows and errors are the same either way.
    pub items: Option<&'a Items>,
    /// `[start, end)` in epoch ms: conversations starting outside are dropped and counted.
    pub window: Option<(i64, i64)>,
    /// Value of `_version` for every row of the page.
    pub version: u64,
}

/// The tables of one page, indexed by `TableId as usize`.
#[derive(Debug)]
pub struct PageOutput {
    pub batches: Vec<RecordBatch>,
    /// Conversations kept (their start lies in the window).
    pub conversations: u64,
    /// Conversations returned by the API whose start lies in another window.
    pub dropped_outside_window: u64,
}

impl PageOutput {
    pub fn rows(&self, table: TableId) -> usize {
        self.batches
            .get(table as usize)
            .map_or(0, RecordBatch::num_rows)
    }
}

/// JSON bytes of consecutive conversations parsed as one tape when the page's items are
/// known: the tape (about 6 bytes per byte of JSON) then stays within the core's L2 cache,
/// and simd-json's per-call set-up is paid once per chunk, not once per conversation.
const CHUNK_BYTES: usize = 128 << 10;

/// Column positions a level fills from its enclosing records.
#[derive(Clone, Copy, Default)]
struct Ctx {
    conversation_id: Option<usize>,
    conversation_start: Option<usize>,
    participant_id: Option<usize>,
    session_id: Option<usize>,
    index: Option<usize>,
    name: Option<usize>,
    value: Option<usize>,
}

impl Ctx {
    fn of(def: &TableDef) -> Self {
        let idx = |n: &str| def.index_of(n);
        let own = |n: &str| {
            def.index_of(n)
                .filter(|i| def.columns[*i].source == crate::schema::Source::Context)
        };
        Ctx {
            conversation_id: own("conversation_id"),
            conversation_start: own("conversation_start"),
            participant_id: own("participant_id"),
            session_id: own("session_id"),
            index: own("segment_index").or_else(|| own("metric_index")),
            name: idx("name").filter(|_| def.id == TableId::ParticipantAttributes),
            value: idx("value").filter(|_| def.id == TableId::ParticipantAttributes),
        }
    }
}

struct Levels {
    conversation: Level,
    participant: Level,
    session: Level,
    segment: Level,
    metric: Level,
    ctx: [Ctx; 6],
    attr_extra: usize,
}

/// Per-worker transformer: owns the parse scratch and builders, reused page after page.
pub struct Transformer {
    levels: Levels,
    builders: Vec<TableBuilder>,
    buffers: simd_json::Buffers,
    tape: Option<Tape<'static>>,
    /// The page without its conversations (`{"conversations":[],…}`), parsed to check the
    /// rest of the page when conversations are parsed a chunk at a time.
    skeleton: Vec<u8>,
    extra: Vec<u8>,
    nested_extra: Vec<u8>,
}

/// Where the walk is: ids and start of the enclosing records.
struct Parents<'a> {
    conversation_id: &'a str,
    conversation_start: i64,
    participant_id: &'a str,
    session_id: &'a str,
}

type WalkError = (TableId, FieldError);

impl Transformer {
    pub fn new() -> Self {
        let levels = Self::levels();
        Self {
            levels,
            builders: ALL_TABLES.iter().map(|d| TableBuilder::new(d)).collect(),
            buffers: simd_json::Buffers::new(1 << 20),
            tape: Some(Tape::null().reset()),
            skeleton: Vec::new(),
            extra: Vec::with_capacity(1024),
            nested_extra: Vec::with_capacity(256),
        }
    }

    fn levels() -> Levels {
        // The definitions are static; their consistency is checked by the unit tests below.
        let level = |def, children: &[&'static str], id| {
            Level::new(def, children, id).unwrap_or_else(|e| unreachable_schema(&e))
        };
        let ctx = ALL_TABLES.map(Ctx::of);
        let attrs = &crate::schema::PARTICIPANT_ATTRIBUTES;
        Levels {
            conversation: level(&crate::schema::CONVERSATIONS, &["participants"], None),
            participant: level(
                &crate::schema::PARTICIPANTS,
                &["sessions", "attributes"],
                Some("participant_id"),
            ),
            session: level(
                &crate::schema::SESSIONS,
                &["segments", "metrics"],
                Some("session_id"),
            ),
            segment: level(&crate::schema::SEGMENTS, &[], None),
            metric: level(&crate::schema::SESSION_METRICS, &[], None),
            ctx,
            attr_extra: attrs
                .index_of(crate::schema::EXTRA_COLUMN)
                .unwrap_or(usize::MAX),
        }
    }

    /// Parses and flattens one page. On error the builders are discarded, so the next page
    /// starts clean.
    pub fn transform(&mut self, input: PageInput<'_>) -> Result<PageOutput, TransformError> {
        let PageInput {
            page,
            bytes,
            items,
            window,
            version,
        } = input;
        // Padding in the page's own buffer (free when the producer left the capacity):
        // simd-json then parses it where it is instead of copying it first.
        let len = bytes.len();
        bytes.resize(len + simd_json::INPUT_PADDING, b' ');
        let by_item = items.and_then(|items| self.walk_items(bytes, len, items, window, &page));
        let result = match by_item {
            Some(result) => result,
            // No spans, spans that do not fit, or the rest of the page is not JSON (all
            // found before any row is appended): the whole-page parse, which names the
            // error as it always did.
            None => self.walk_page(bytes, len, window, &page),
        };
        bytes.truncate(len);
        match result {
            Ok((conversations, dropped)) => {
                let mut batches = Vec::with_capacity(self.builders.len());
                for b in &mut self.builders {
                    let table = b.def.name;
                    batches.push(b.finish(version).map_err(|e| TransformError::Internal {
                        page: page.clone(),
                        table,
                        message: e.to_string(),
                    })?);
                }
                Ok(PageOutput {
                    batches,
                    conversations,
                    dropped_outside_window: dropped,
                })
            }
            Err(e) => {
                self.builders = ALL_TABLES.iter().map(|d| TableBuilder::new(d)).collect();
                Err(match e {
                    Ok(e) => e,
                    Err((table, fe)) => TransformError::Field {
                        page,
                        table: ALL_TABLES[table as usize].name,
                        path: fe.path(),
                        problem: fe.problem,
                    },
                })
            }
        }
    }

    /// The worker's tape, emptied, for the next parse (its memory is kept between parses).
    fn take_tape<'t>(&mut self) -> Tape<'t> {
        self.tape
            .take()
            .unwrap_or_else(|| Tape::null().reset())
            .reset()
    }

    /// Parses `bytes[..len]` (padded past `len`) as one tape and walks it.
    fn walk_page(
        &mut self,
        bytes: &mut [u8],
        len: usize,
        window: Option<(i64, i64)>,
        page: &PageRef,
    ) -> Result<(u64, u64), Result<TransformError, WalkError>> {
        let mut tape = self.take_tape();
        let parsed = simd_json::fill_tape_padded(bytes, len, &mut self.buffers, &mut tape);
        let result = match parsed {
            Err(e) => Err(Ok(TransformError::InvalidJson {
                page: page.clone(),
                reason: e.to_string(),
            })),
            Ok(()) => self.walk(tape.as_value(), window),
        };
        self.tape = Some(tape.reset());
        result
    }

    /// Parses and walks the conversations of `bytes[..len]` a chunk at a time, at `items`,
    /// after checking the rest of the page is JSON. `None` when the rest does not parse or
    /// `items` do not fit the page: the caller then parses the whole page, whose error is
    /// the one to report. A chunk that does not parse is reported from here, at its place
    /// in the page: simd-json has already unescaped earlier strings in place, so the page is
    /// no longer the text a whole-page parse should see.
    fn walk_items(
        &mut self,
        bytes: &mut [u8],
        len: usize,
        items: &Items,
        window: Option<(i64, i64)>,
        page: &PageRef,
    ) -> Option<Result<(u64, u64), Result<TransformError, WalkError>>> {
        if items.open >= items.close
            || items.close >= len
            || items
                .spans
                .iter()
                .any(|&(s, e)| (s as usize) <= items.open || s >= e || (e as usize) > items.close)
        {
            return None;
        }
        self.skeleton.clear();
        self.skeleton.extend_from_slice(&bytes[..=items.open]);
        self.skeleton.extend_from_slice(&bytes[items.close..len]);
        let skeleton_len = self.skeleton.len();
        self.skeleton
            .resize(skeleton_len + simd_json::INPUT_PADDING, b' ');
        let mut tape = self.take_tape();
        let parsed = simd_json::fill_tape_padded(
            &mut self.skeleton,
            skeleton_len,
            &mut self.buffers,
            &mut tape,
        );
        self.tape = Some(tape.reset());
        parsed.ok()?;
        let mut counts = (0u64, 0u64);
        let spans = &items.spans;
        let mut first = 0;
        while first < spans.len() {
            // Consecutive conversations up to CHUNK_BYTES, parsed as one array: the bytes
            // just before the first and just after the last (a bracket, a comma or white
            // space: the scan checked) become `[` and `]` for the parse, and are put back.
            let start = spans[first].0 as usize;
            let mut last = first;
            while last + 1 < spans.len() && spans[last + 1].1 as usize - start <= CHUNK_BYTES {
                last += 1;
            }
            let (open, close) = (start - 1, spans[last].1 as usize);
            let saved = (bytes[open], bytes[close]);
            (bytes[open], bytes[close]) = (b'[', b']');
            let mut tape = self.take_tape();
            let parsed = simd_json::fill_tape_padded(
                &mut bytes[open..],
                close + 1 - open,
                &mut self.buffers,
                &mut tape,
            );
            let walked = match parsed {
                Err(e) => Err(Ok(TransformError::InvalidJson {
                    page: page.clone(),
                    reason: at_page_offset(&e, open),
                })),
                Ok(()) => match tape.as_value().as_array() {
                    None => Err(Ok(TransformError::Internal {
                        page: page.clone(),
                        table: "conversations",
                        message: "a chunk of conversations did not parse as an array".into(),
                    })),
                    Some(list) => self
                        .conversations(list, first, window, &mut counts)
                        .map_err(Err),
                },
            };
            self.tape = Some(tape.reset());
            (bytes[open], bytes[close]) = saved;
            if let Err(e) = walked {
                return Some(Err(e));
            }
            first = last + 1;
        }
        Some(Ok(counts))
    }

    fn walk(
        &mut self,
        root: Value<'_, '_>,
        window: Option<(i64, i64)>,
    ) -> Result<(u64, u64), Result<TransformError, WalkError>> {
        let conv_table = TableId::Conversations;
        let Some(root) = root.as_object() else {
            return Err(Err((
                conv_table,
                FieldError::at("$", Problem::expected("a JSON object", root)),
            )));
        };
        let Some(conversations) = root.get("conversations") else {
            return Ok((0, 0));
        };
        if conversations.is_null() {
            return Ok((0, 0));
        }
        let Some(conversations) = conversations.as_array() else {
            return Err(Err((
                conv_table,
                FieldError::at(
                    "conversations",
                    Problem::expected("an array of conversations", conversations),
                ),
            )));
        };
        let mut counts = (0u64, 0u64);
        self.conversations(conversations, 0, window, &mut counts)
            .map_err(Err)?;
        Ok(counts)
    }

    /// Walks `list`, the page's conversations from index `first` on, adding those kept
    /// and those dropped (started outside the window) to `counts`.
    fn conversations(
        &mut self,
        list: simd_json::tape::Array<'_, '_>,
        first: usize,
        window: Option<(i64, i64)>,
        counts: &mut (u64, u64),
    ) -> Result<(), WalkError> {
        for (i, conv) in list.iter().enumerate() {
            match self.conversation(conv, window) {
                Ok(true) => counts.0 += 1,
                Ok(false) => counts.1 += 1,
                Err((t, e)) => return Err((t, e.within_item("conversations", first + i))),
            }
        }
        Ok(())
    }

    /// Returns whether the conversation was kept (its start lies in the window).
    fn conversation(
        &mut self,
        conv: Value<'_, '_>,
        window: Option<(i64, i64)>,
    ) -> Result<bool, WalkError> {
        let t = TableId::Conversations;
        let obj = conv
            .as_object()
            .ok_or_else(|| (t, FieldError::at("$", Problem::expected("an object", conv))))?;
        let id = required_str(&obj, "conversationId").map_err(|e| (t, e))?;
        let start_raw = required_str(&obj, "conversationStart").map_err(|e| (t, e))?;
        let start = timestamp::parse_iso_ms(start_raw).ok_or_else(|| {
            (
                t,
                FieldError::at(
                    "conversationStart",
                    Problem::BadTimestamp(error::shorten(start_raw)),
                ),
            )
        })?;
        if let Some((ws, we)) = window
            && (start < ws || start >= we)
        {
            return Ok(false);
        }
        let children = self.levels.conversation.decode(
            &obj,
            &mut self.builders[t as usize],
            &mut self.extra,
            &mut self.nested_extra,
        );
        let children = children.map_err(|e| (t, e))?;
        let parents = Parents {
            conversation_id: id,
            conversation_start: start,
            participant_id: "",
            session_id: "",
        };
        if let Some(list) = array_child(children.children[0], "participants").map_err(|e| (t, e))? {
            for (pi, p) in list.iter().enumerate() {
                self.participant(p, &parents)
                    .map_err(|(t, e)| (t, e.within_item("participants", pi)))?;
            }
        }
        Ok(true)
    }

    fn participant(&mut self, p: Value<'_, '_>, parents: &Parents<'_>) -> Result<(), WalkError> {
        let t = TableId::Participants;
        let obj = p
            .as_object()
            .ok_or_else(|| (t, FieldError::at("$", Problem::expected("an object", p))))?;
        let b = &mut self.builders[t as usize];
        append_context(b, &self.levels.ctx[t as usize], parents, None);
        let decoded = self
            .levels
            .participant
            .decode(&obj, b, &mut self.extra, &mut self.nested_extra)
            .map_err(|e| (t, e))?;
        let children = decoded.children;
        let parents = Parents {
            participant_id: decoded.id,
            ..*parents
        };
        if let Some(list) = array_child(children[0], "sessions").map_err(|e| (t, e))? {
            for (si, s) in list.iter().enumerate() {
                self.session(s, &parents)
                    .map_err(|(t, e)| (t, e.within_item("sessions", si)))?;
            }
        }
        if let Some(attrs) = children[1].filter(|v| !v.is_null()) {
            let ta = TableId::ParticipantAttributes;
            let map = attrs.as_object().ok_or_else(|| {
                (
                    ta,
                    FieldError::at(
                        "attributes",
                        Problem::expected("an object of strings", attrs),
                    ),
                )
            })?;
            let ctx = self.levels.ctx[ta as usize];
            let b = &mut self.builders[ta as usize];
            for (name, value) in map.iter() {
                append_context(b, &ctx, &parents, None);
                if let Some(c) = ctx.name {
                    b.utf8(c, name);
                }
                if let Some(c) = ctx.value {
                    if value.is_null() {
                        b.cols[c].append_null();
                    } else {
                        let s = value.as_str().ok_or_else(|| {
                            (
                                ta,
                                FieldError::at(name, Problem::expected("a string", value))
                                    .within("attributes"),
                            )
                        })?;
                        b.utf8(c, s);
                    }
                }
                b.utf8(self.levels.attr_extra, "{}");
                b.rows += 1;
            }
        }
        Ok(())
    }

    fn session(&mut self, s: Value<'_, '_>, parents: &Parents<'_>) -> Result<(), WalkError> {
        let t = TableId::Sessions;
        let obj = s
            .as_object()
            .ok_or_else(|| (t, FieldError::at("$", Problem::expected("an object", s))))?;
        let b = &mut self.builders[t as usize];
        append_context(b, &self.levels.ctx[t as usize], parents, None);
        let decoded = self
            .levels
            .session
            .decode(&obj, b, &mut self.extra, &mut self.nested_extra)
            .map_err(|e| (t, e))?;
        let children = decoded.children;
        let parents = Parents {
            session_id: decoded.id,
            ..*parents
        };
        for (slot, key, table) in [
            (0, "segments", TableId::Segments),
            (1, "metrics", TableId::SessionMetrics),
        ] {
            let Some(list) = array_child(children[slot], key).map_err(|e| (t, e))? else {
                continue;
            };
            let ctx = self.levels.ctx[table as usize];
            let level = if table == TableId::Segments {
                &self.levels.segment
            } else {
                &self.levels.metric
            };
            let b = &mut self.builders[table as usize];
            for (i, item) in list.iter().enumerate() {
                let wrap = |e: FieldError| (table, e.within_item(key, i));
                let obj = item.as_object().ok_or_else(|| {
                    wrap(FieldError::at("$", Problem::expected("an object", item)))
                })?;
                append_context(b, &ctx, &parents, Some(i as u32));
                level
                    .decode(&obj, b, &mut self.extra, &mut self.nested_extra)
                    .map_err(wrap)?;
            }
        }
        Ok(())
    }
}

impl Default for Transformer {
    fn default() -> Self {
        Self::new()
    }
}

/// simd-json's message for `e`, a parse error in the bytes from `offset` of the page, with
/// the position counted from the page's start, as a whole-page parse would give it.
#[cold]
fn at_page_offset(e: &simd_json::Error, offset: usize) -> String {
    let at = offset + e.index();
    match e.character() {
        Some(c) => format!("{:?} at character {at} ('{c}')", e.error()),
        None => format!("{:?} at character {at}", e.error()),
    }
}

#[cold]
fn unreachable_schema(message: &str) -> Level {
    // Only reachable if a static TableDef is inconsistent, which the schema tests forbid.
    #[expect(
        clippy::panic,
        reason = "static schema invariant, covered by unit tests"
    )]
    {
        panic!("schema definition error: {message}")
    }
}

fn required_str<'t, 'i>(
    obj: &simd_json::tape::Object<'t, 'i>,
    key: &'static str,
) -> Result<&'i str, FieldError> {
    match obj.get(key) {
        None => Err(FieldError::at(key, Problem::Missing)),
        Some(v) if v.is_null() => Err(FieldError::at(key, Problem::Missing)),
        Some(v) => v
            .into_string()
            .ok_or_else(|| FieldError::at(key, Problem::expected("a string", v))),
    }
}

fn array_child<'t, 'i>(
    v: Option<Value<'t, 'i>>,
    key: &str,
) -> Result<Option<simd_json::tape::Array<'t, 'i>>, FieldError> {
    match v {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => v.as_array().map(Some).ok_or_else(|| {
            FieldError::at(
                key,
                Problem::Expected {
                    expected: "an array",
                    got: error::type_name(v).into(),
                },
            )
        }),
    }
}

fn append_context(b: &mut TableBuilder, ctx: &Ctx, p: &Parents<'_>, index: Option<u32>) {
    if let Some(c) = ctx.conversation_id {
        b.utf8(c, p.conversation_id);
    }
    if let Some(c) = ctx.conversation_start {
        b.timestamp(c, p.conversation_start);
    }
    if let Some(c) = ctx.participant_id {
        b.utf8(c, p.participant_id);
    }
    if let Some(c) = ctx.session_id {
        b.utf8(c, p.session_id);
    }
    if let (Some(c), Some(i)) = (ctx.index, index) {
        b.u32(c, i);
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
