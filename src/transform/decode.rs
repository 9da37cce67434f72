//! Schema-driven decoding of one JSON object level into a table's builders.
//!
//! A `Level` is built once per table from its `TableDef`: API key → slot (column, child
//! array, or nested object whose fields are columns). Decoding a record walks the object's
//! keys once, appends typed values straight from the tape, nulls the columns that were
//! absent, and writes every key the schema does not type into `_extra`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write as _;

use simd_json::prelude::*;
use simd_json::tape::{Object, Value};

use super::builders::{ColumnBuilder, TableBuilder};
use super::error::{FieldError, Problem};
use super::timestamp::parse_iso_ms;
use crate::schema::{EXTRA_COLUMN, Source, TableDef, VERSION_COLUMN};

/// FNV-1a: keys are short ASCII names; SipHash would dominate the lookup.
#[derive(Default)]
pub struct Fnv(u64);
impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}
type KeyMap<V> = HashMap<&'static str, V, BuildHasherDefault<Fnv>>;

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
    slots: KeyMap<Slot>,
    nested_name: Option<&'static str>,
    nested: KeyMap<usize>,
    /// Bit i set: column i comes from the JSON object (Field/Nested).
    from_json: u128,
    required: u128,
    pub version_col: usize,
    extra_col: usize,
}

/// Child arrays found while decoding a record, by the slot index given at construction.
pub type Children<'t, 'i> = [Option<Value<'t, 'i>>; 2];

impl Level {
    /// `children` names the keys the caller decodes itself (e.g. `participants`).
    pub fn new(def: &'static TableDef, children: &[&'static str]) -> Result<Self, String> {
        let mut slots = KeyMap::default();
        let mut nested = KeyMap::default();
        let mut nested_name = None;
        let mut from_json = 0u128;
        let mut required = 0u128;
        for (i, col) in def.columns.iter().enumerate() {
            match col.source {
                Source::Field(key) => {
                    slots.insert(key, Slot::Column(i));
                    from_json |= 1 << i;
                    if !col.nullable {
                        required |= 1 << i;
                    }
                }
                Source::Nested(obj, key) => {
                    if nested_name.is_some_and(|n| n != obj) {
                        return Err(format!("{}: only one nested object is supported", def.name));
                    }
                    nested_name = Some(obj);
                    slots.insert(obj, Slot::Nested);
                    nested.insert(key, i);
                    from_json |= 1 << i;
                }
                _ => {}
            }
        }
        for (i, key) in children.iter().enumerate() {
            slots.insert(key, Slot::Child(i));
        }
        let find = |name: &str| {
            def.index_of(name)
                .ok_or_else(|| format!("{}: no {name}", def.name))
        };
        Ok(Self {
            def,
            slots,
            nested_name,
            nested,
            from_json,
            required,
            version_col: find(VERSION_COLUMN)?,
            extra_col: find(EXTRA_COLUMN)?,
        })
    }

    /// Decodes the object's own fields into one row (the caller has appended the context
    /// columns), returning its child arrays. `extra` and `nested_extra` are scratch.
    pub fn decode<'t, 'i>(
        &self,
        obj: &Object<'t, 'i>,
        b: &mut TableBuilder,
        version: u64,
        extra: &mut Vec<u8>,
        nested_extra: &mut Vec<u8>,
    ) -> Result<Children<'t, 'i>, FieldError> {
        let mut children: Children<'t, 'i> = [None, None];
        let mut set = 0u128;
        extra.clear();
        extra.push(b'{');
        nested_extra.clear();
        for (key, value) in obj.iter() {
            match self.slots.get(key) {
                Some(Slot::Column(i)) => {
                    if append(&mut b.cols[*i], value).map_err(|p| FieldError::at(key, p))? {
                        set |= 1 << *i;
                    }
                }
                Some(Slot::Child(c)) => children[*c] = Some(value),
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
                                if append(&mut b.cols[*i], v)
                                    .map_err(|p| FieldError::at(k, p).within(key))?
                                {
                                    set |= 1 << *i;
                                }
                            }
                            None => push_member(nested_extra, k, v),
                        }
                    }
                }
                None => push_member(extra, key, value),
            }
        }
        let missing = self.from_json & !set;
        if missing != 0 {
            if missing & self.required != 0 {
                let i = (missing & self.required).trailing_zeros() as usize;
                let key = match self.def.columns[i].source {
                    Source::Field(k) => k,
                    _ => self.def.columns[i].name,
                };
                return Err(FieldError::at(key, Problem::Missing));
            }
            let mut m = missing;
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                b.cols[i].append_null();
                m &= m - 1;
            }
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
        extra.push(b'}');
        b.u64(self.version_col, version);
        b.utf8(
            self.extra_col,
            // Always valid UTF-8: built from &str keys and JSON written by simd-json.
            std::str::from_utf8(extra).unwrap_or("{}"),
        );
        b.rows += 1;
        Ok(children)
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
