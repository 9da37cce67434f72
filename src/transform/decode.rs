//! Schema-driven decoding of one JSON object level into a table's builders.
//!
//! A `Level` is built once per table from its `TableDef`: API key → slot (column, child
//! array, or nested object whose fields are columns). Decoding a record walks the object's
//! keys once, appends typed values straight from the tape, nulls the columns that were
//! absent, and writes every key the schema does not type into `_extra`.

use std::io::Write as _;

use simd_json::prelude::*;
use simd_json::tape::{Object, Value};

use super::builders::{ColumnBuilder, TableBuilder};
use super::error::{FieldError, Problem};
use super::timestamp::parse_iso_ms;
use crate::schema::{EXTRA_COLUMN, Source, TableDef};

/// Read-only map from an API key to what it fills, built once per level.
///
/// Keys are short ASCII names looked up once per JSON member, so the lookup is the inner
/// loop of the transform. Open addressing over a table four times the key count; the hash
/// mixes the length with the first and last 8 bytes, and for keys of up to 16 bytes those
/// (with the length) are the whole key, so the comparison is two integer compares. Longer
/// keys compare their remaining middle bytes too. (Measured against a `HashMap` hashed
/// with FNV-1a, whose byte loop and `memcmp` calls showed in perf: page transform +4.5%.)
pub struct KeyTable<V> {
    shift: u32,
    entries: Vec<Option<Entry<V>>>,
}

struct Entry<V> {
    key: &'static [u8],
    head: u64,
    tail: u64,
    value: V,
}

/// First and last 8 bytes of a key. A shorter key is packed from two overlapping loads
/// (first and last 4 or 2 bytes), which with the length still determine it: no
/// variable-length copy, which compiled to a `memcpy` call and was a third of
/// `Level::decode`'s time (most API keys are short: `id`, `name`, `ani`, `flow`).
#[inline]
pub(super) fn head_tail(k: &[u8]) -> (u64, u64) {
    let n = k.len();
    let x = match n {
        8.. => return (load8(k, 0), load8(k, n - 8)),
        4..=7 => u64::from(load4(k, 0)) | (u64::from(load4(k, n - 4)) << 32),
        2..=3 => u64::from(load2(k, 0)) | (u64::from(load2(k, n - 2)) << 16),
        1 => u64::from(k[0]),
        _ => 0,
    };
    (x, x)
}

/// Whether two values (keys, labels, ids) whose first and last 8 bytes are equal, are
/// equal: same length and, over 16 bytes, the bytes between compared 8 at a time in line
/// (labels are mostly 36-byte ids, and a `memcmp` call per lookup showed in perf).
#[inline]
pub(super) fn same_middle(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() || n <= 16 {
        return n == b.len();
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    let mut i = 8;
    while i + 16 <= n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The rest overlaps the last 8 bytes, which the signature already compared.
    i >= n - 8 || word(a, n - 16) == word(b, n - 16)
}

#[inline]
fn load4(k: &[u8], at: usize) -> u32 {
    let mut buf = [0u8; 4];
    buf.copy_from_slice(&k[at..at + 4]);
    u32::from_le_bytes(buf)
}

#[inline]
fn load2(k: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([k[at], k[at + 1]])
}

#[inline]
fn load8(k: &[u8], at: usize) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&k[at..at + 8]);
    u64::from_le_bytes(buf)
}

impl<V: Copy> KeyTable<V> {
    pub fn new(keys: &[(&'static str, V)]) -> Self {
        let size = (keys.len() * 4).next_power_of_two().max(16);
        let mut table = Self {
            shift: 64 - size.trailing_zeros(),
            entries: (0..size).map(|_| None).collect(),
        };
        for &(key, value) in keys {
            let (head, tail) = head_tail(key.as_bytes());
            let mut i = table.index(key.len(), head, tail);
            while let Some(e) = &table.entries[i] {
                if e.key == key.as_bytes() {
                    break; // a later definition of the same key wins, as in a map
                }
                i = (i + 1) & (size - 1);
            }
            table.entries[i] = Some(Entry {
                key: key.as_bytes(),
                head,
                tail,
                value,
            });
        }
        table
    }

    #[inline]
    fn index(&self, len: usize, head: u64, tail: u64) -> usize {
        let h = (head ^ tail.rotate_left(29) ^ (len as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> self.shift) as usize
    }

    #[inline]
    pub fn get(&self, key: &str) -> Option<V> {
        let k = key.as_bytes();
        let (head, tail) = head_tail(k);
        let mask = self.entries.len() - 1;
        let mut i = self.index(k.len(), head, tail);
        loop {
            let e = self.entries[i].as_ref()?;
            if e.head == head && e.tail == tail && same_middle(e.key, k) {
                return Some(e.value);
            }
            i = (i + 1) & mask;
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Column(usize),
    /// A child array or map the caller decodes; index into the caller's child slots.
    Child(usize),
    /// A nested object whose fields are columns of this table (`flow`).
    Nested,
}

pub struct Level {
    pub def: &'static TableDef,
    slots: KeyTable<Slot>,
    nested_name: Option<&'static str>,
    nested: KeyTable<usize>,
    /// Bit i set: column i is a required field of the JSON object.
    required: u128,
    extra_col: usize,
    /// Column whose string value `decode` returns as `Decoded::id` (`usize::MAX`: none).
    id_col: usize,
}

/// Child arrays found while decoding a record, by the slot index given at construction.
pub type Children<'t, 'i> = [Option<Value<'t, 'i>>; 2];

/// What decoding a record hands back to the walk.
pub struct Decoded<'t, 'i> {
    pub children: Children<'t, 'i>,
    /// The record's own id (the `id` column given to `Level::new`), which its children
    /// inherit; taken during the one pass over the keys instead of a second key search.
    pub id: &'i str,
}

impl Level {
    /// `children` names the keys the caller decodes itself (e.g. `participants`); `id` the
    /// required string column whose value `decode` returns for the children.
    pub fn new(
        def: &'static TableDef,
        children: &[&'static str],
        id: Option<&str>,
    ) -> Result<Self, String> {
        let mut slots = Vec::new();
        let mut nested = Vec::new();
        let mut nested_name = None;
        let mut required = 0u128;
        for (i, col) in def.columns.iter().enumerate() {
            match col.source {
                Source::Field(key) => {
                    slots.push((key, Slot::Column(i)));
                    if !col.nullable {
                        required |= 1 << i;
                    }
                }
                Source::Nested(obj, key) => {
                    if nested_name.is_some_and(|n| n != obj) {
                        return Err(format!("{}: only one nested object is supported", def.name));
                    }
                    nested_name = Some(obj);
                    slots.push((obj, Slot::Nested));
                    nested.push((key, i));
                }
                _ => {}
            }
        }
        for (i, key) in children.iter().enumerate() {
            slots.push((key, Slot::Child(i)));
        }
        let find = |name: &str| {
            def.index_of(name)
                .ok_or_else(|| format!("{}: no {name}", def.name))
        };
        Ok(Self {
            def,
            slots: KeyTable::new(&slots),
            nested_name,
            nested: KeyTable::new(&nested),
            required,
            extra_col: find(EXTRA_COLUMN)?,
            id_col: match id {
                Some(name) => {
                    let i = find(name)?;
                    if (required >> i) & 1 == 0 {
                        return Err(format!("{}: id {name} is not a required field", def.name));
                    }
                    i
                }
                None => usize::MAX,
            },
        })
    }

    /// Decodes the object's own fields into one row (the caller has appended the context
    /// columns), returning its child arrays. `extra` and `nested_extra` are scratch.
    pub fn decode<'t, 'i>(
        &self,
        obj: &Object<'t, 'i>,
        b: &mut TableBuilder,
        extra: &mut Vec<u8>,
        nested_extra: &mut Vec<u8>,
    ) -> Result<Decoded<'t, 'i>, FieldError> {
        let mut children: Children<'t, 'i> = [None, None];
        let mut id = "";
        let mut set = 0u128;
        let row = b.rows;
        extra.clear();
        extra.push(b'{');
        nested_extra.clear();
        for (key, value) in obj.iter() {
            match self.slots.get(key) {
                Some(Slot::Column(i)) => {
                    b.pad_column(i, row);
                    if append(&mut b.cols[i], value).map_err(|p| FieldError::at(key, p))? {
                        b.filled[i] = row + 1;
                        set |= 1 << i;
                        if i == self.id_col {
                            id = value.into_string().unwrap_or_default();
                        }
                    }
                }
                Some(Slot::Child(c)) => children[c] = Some(value),
                Some(Slot::Nested) => {
                    let Some(inner) = value.as_object() else {
                        if value.is_null() {
                            continue;
                        }
                        return Err(FieldError::at(key, Problem::expected("an object", value)));
                    };
                    for (k, v) in inner.iter() {
                        match self.nested.get(k) {
                            Some(i) => {
                                b.pad_column(i, row);
                                if append(&mut b.cols[i], v)
                                    .map_err(|p| FieldError::at(k, p).within(key))?
                                {
                                    b.filled[i] = row + 1;
                                    set |= 1 << i;
                                }
                            }
                            None => push_member(nested_extra, k, v),
                        }
                    }
                }
                None => push_member(extra, key, value),
            }
        }
        // Missing optional columns get their nulls when next written, or at finish.
        let missing_required = self.required & !set;
        if missing_required != 0 {
            let i = missing_required.trailing_zeros() as usize;
            let key = match self.def.columns[i].source {
                Source::Field(k) => k,
                _ => self.def.columns[i].name,
            };
            return Err(FieldError::at(key, Problem::Missing));
        }
        if !nested_extra.is_empty()
            && let Some(name) = self.nested_name
        {
            // nested_extra holds `,"k":v,...`; wrap it as `"flow":{k:v,...}`.
            let body = &nested_extra[1..];
            push_key(extra, name);
            extra.push(b'{');
            extra.extend_from_slice(body);
            extra.push(b'}');
        }
        if extra.len() == 1 {
            // Most records have no untyped field: a constant, no UTF-8 check.
            b.utf8(self.extra_col, "{}");
        } else {
            extra.push(b'}');
            b.utf8(
                self.extra_col,
                // Always valid UTF-8: built from &str keys and JSON written by simd-json.
                std::str::from_utf8(extra).unwrap_or("{}"),
            );
        }
        b.rows += 1;
        Ok(Decoded { children, id })
    }
}

fn push_key(buf: &mut Vec<u8>, key: &str) {
    if buf.len() > 1 {
        buf.push(b',');
    }
    // serde_json escapes exactly as JSON requires; keys are short.
    let _ = serde_json::to_writer(&mut *buf, key);
    buf.push(b':');
}

/// Appends `,"key":value` (or without the comma for the first member; `buf` starts with
/// `{` for the record's own extras and is empty for nested extras).
fn push_member(buf: &mut Vec<u8>, key: &str, value: Value<'_, '_>) {
    if buf.is_empty() {
        buf.push(b',');
        let _ = serde_json::to_writer(&mut *buf, key);
        buf.push(b':');
    } else {
        push_key(buf, key);
    }
    let _ = value.write(buf);
}

/// Appends one JSON value to a typed column. Returns false (nothing appended) for JSON
/// `null`, which counts as absent.
#[inline]
fn append(col: &mut ColumnBuilder, v: Value<'_, '_>) -> Result<bool, Problem> {
    if v.is_null() {
        return Ok(false);
    }
    match col {
        ColumnBuilder::Utf8(b) => {
            b.append_value(v.as_str().ok_or_else(|| Problem::expected("a string", v))?)
        }
        ColumnBuilder::Enum(b) => {
            b.append_value(v.as_str().ok_or_else(|| Problem::expected("a string", v))?);
        }
        ColumnBuilder::ParentId(b) => {
            b.append_value(v.as_str().ok_or_else(|| Problem::expected("a string", v))?);
        }
        ColumnBuilder::Timestamp(b) => {
            let s = v
                .as_str()
                .ok_or_else(|| Problem::expected("an ISO-8601 string", v))?;
            b.append_value(
                parse_iso_ms(s).ok_or_else(|| Problem::BadTimestamp(super::error::shorten(s)))?,
            );
        }
        ColumnBuilder::Int32(b) => {
            let n = v
                .as_i64()
                .ok_or_else(|| Problem::expected("an integer", v))?;
            b.append_value(i32::try_from(n).map_err(|_| Problem::expected("a 32-bit integer", v))?);
        }
        ColumnBuilder::Int64(b) => b.append_value(
            v.as_i64()
                .ok_or_else(|| Problem::expected("an integer", v))?,
        ),
        ColumnBuilder::UInt32(b) => {
            let n = v
                .as_u64()
                .ok_or_else(|| Problem::expected("an unsigned integer", v))?;
            b.append_value(
                u32::try_from(n).map_err(|_| Problem::expected("a 32-bit unsigned integer", v))?,
            );
        }
        ColumnBuilder::UInt64(b) => b.append_value(
            v.as_u64()
                .ok_or_else(|| Problem::expected("an unsigned integer", v))?,
        ),
        ColumnBuilder::Float64(b) => b.append_value(
            v.cast_f64()
                .ok_or_else(|| Problem::expected("a number", v))?,
        ),
        ColumnBuilder::Bool(b) => b.append_value(
            v.as_bool()
                .ok_or_else(|| Problem::expected("a boolean", v))?,
        ),
        ColumnBuilder::Utf8List(b) => {
            let arr = v
                .as_array()
                .ok_or_else(|| Problem::expected("an array of strings", v))?;
            for (i, item) in arr.iter().enumerate() {
                let s = item.as_str().ok_or_else(|| {
                    Problem::ListItem(i, Box::new(Problem::expected("a string", item)))
                })?;
                b.values().append_value(s);
            }
            b.append(true);
        }
    }
    Ok(true)
}

/// Writes `value` as compact JSON into `buf` (used for error quotes).
pub fn json_of(v: Value<'_, '_>) -> String {
    let mut buf = Vec::new();
    let _ = v.write(&mut buf);
    let _ = buf.flush();
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::KeyTable;

    #[test]
    fn key_table_finds_every_key_and_nothing_else() {
        // Short keys, keys sharing their first and last 8 bytes, and long keys that differ
        // only in the middle.
        let keys: Vec<(&'static str, usize)> = [
            "a",
            "id",
            "sessionId",
            "segmentStart",
            "segmentEnd",
            "mediaStatsMinConversationMos",
            "mediaStatsMinConversationRFactor",
            "conversationXXXXXXXXXXXXXXStart",
            "conversationYYYYYYYYYYYYYYStart",
            "abcdefgh12345678",
            "abcdefgh87654321",
            // Every short length, with overlapping loads that share bytes.
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abxde",
            "abcdef",
            "abcdefg",
            "ani",
            "dnis",
        ]
        .into_iter()
        .zip(0..)
        .collect();
        let table = KeyTable::new(&keys);
        for (k, v) in &keys {
            assert_eq!(table.get(k), Some(*v), "{k}");
        }
        for unknown in [
            "",
            "b",
            "sessionid",
            "segmentStarts",
            "conversationZZZZZZZZZZZZZZStart",
            "abcdefgh1234567",
            "mediaStatsMinConversationMo",
            "ba",
            "acb",
            "abdc",
            "abcdd",
            "abcxef",
            "abcdeg",
            "an",
            "dni",
        ] {
            assert_eq!(table.get(unknown), None, "{unknown}");
        }
        // A repeated key keeps the later value, as a map insert would.
        let table = KeyTable::new(&[("x", 1), ("x", 2)]);
        assert_eq!(table.get("x"), Some(2));
    }
}
