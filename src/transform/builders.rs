//! Arrow builders generated from a `TableDef`: one builder per column, chosen once when the
//! table builder is made, appended to directly from tape values (no intermediate rows).

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    PrimitiveBuilder, StringBuilder, TimestampMillisecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::{Int32Type, UInt32Type};
use arrow_array::{ArrayRef, ArrowPrimitiveType, DictionaryArray, RecordBatch};
use arrow_schema::ArrowError;

use super::decode::{head_tail, same_middle};
use crate::schema::{ColumnType, TableDef};

pub enum ColumnBuilder {
    Utf8(StringBuilder),
    Enum(EnumBuilder),
    Timestamp(TimestampMillisecondBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    UInt32(UInt32Builder),
    UInt64(UInt64Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Utf8List(ListBuilder<StringBuilder>),
    ParentId(ParentIdBuilder),
}

impl ColumnBuilder {
    fn new(ty: ColumnType) -> Self {
        match ty {
            ColumnType::Utf8 => Self::Utf8(StringBuilder::new()),
            ColumnType::Enum | ColumnType::Label => Self::Enum(EnumBuilder::default()),
            ColumnType::TimestampMs => Self::Timestamp(TimestampMillisecondBuilder::new()),
            ColumnType::Int32 => Self::Int32(Int32Builder::new()),
            ColumnType::Int64 => Self::Int64(Int64Builder::new()),
            ColumnType::UInt32 => Self::UInt32(UInt32Builder::new()),
            ColumnType::UInt64 => Self::UInt64(UInt64Builder::new()),
            ColumnType::Float64 => Self::Float64(Float64Builder::new()),
            ColumnType::Bool => Self::Bool(BooleanBuilder::new()),
            ColumnType::Utf8List => Self::Utf8List(ListBuilder::new(StringBuilder::new())),
            ColumnType::ParentId => Self::ParentId(ParentIdBuilder::default()),
        }
    }

    pub fn append_null(&mut self) {
        match self {
            Self::Utf8(b) => b.append_null(),
            Self::Enum(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::Int32(b) => b.append_null(),
            Self::Int64(b) => b.append_null(),
            Self::UInt32(b) => b.append_null(),
            Self::UInt64(b) => b.append_null(),
            Self::Float64(b) => b.append_null(),
            Self::Bool(b) => b.append_null(),
            Self::Utf8List(b) => b.append_null(),
            Self::ParentId(b) => b.keys.append_null(),
        }
    }

    /// Appends nulls until the column has `rows` entries. Absent optional fields are filled
    /// this way, in one call per run of absent rows, instead of one `append_null` per
    /// absent field per row (most of a session's 45 columns are absent on most rows).
    ///
    /// Kept out of line: it runs once per run of absent rows, while `pad_column`'s check
    /// before it runs for every value. When the compiler inlined this into `pad_column`,
    /// it stopped inlining `pad_column` into the decode loop, a call per value.
    #[inline(never)]
    pub fn pad_to(&mut self, rows: usize) {
        let n = rows.saturating_sub(self.len());
        if n == 0 {
            return;
        }
        match self {
            Self::Utf8(b) => b.append_nulls(n),
            Self::Enum(b) => b.keys.append_nulls(n),
            Self::Timestamp(b) => b.append_nulls(n),
            Self::Int32(b) => b.append_nulls(n),
            Self::Int64(b) => b.append_nulls(n),
            Self::UInt32(b) => b.append_nulls(n),
            Self::UInt64(b) => b.append_nulls(n),
            Self::Float64(b) => b.append_nulls(n),
            Self::Bool(b) => b.append_nulls(n),
            Self::Utf8List(b) => b.append_nulls(n),
            Self::ParentId(b) => b.keys.append_nulls(n),
        }
    }

    /// Finishes the column and leaves the builder pre-sized for a page like this one.
    /// Arrow's `finish` hands its buffers to the array and restarts from empty, so without
    /// this every page would regrow every buffer by doubling: a copy per step and fresh
    /// memory the kernel has to zero.
    fn finish(&mut self) -> ArrayRef {
        let rows = self.len();
        let cap = rows + rows / 8;
        match self {
            Self::Utf8(b) => {
                let bytes = b.values_slice().len();
                let array = b.finish();
                *b = StringBuilder::with_capacity(cap, bytes + bytes / 8);
                Arc::new(array)
            }
            Self::Enum(b) => b.finish(cap),
            Self::Timestamp(b) => {
                let array = b.finish().with_timezone("UTC");
                *b = TimestampMillisecondBuilder::with_capacity(cap);
                Arc::new(array)
            }
            Self::Int32(b) => presized(b, cap, Int32Builder::with_capacity),
            Self::Int64(b) => presized(b, cap, Int64Builder::with_capacity),
            Self::UInt32(b) => presized(b, cap, UInt32Builder::with_capacity),
            Self::UInt64(b) => presized(b, cap, UInt64Builder::with_capacity),
            Self::Float64(b) => presized(b, cap, Float64Builder::with_capacity),
            Self::Bool(b) => {
                let array = b.finish();
                *b = BooleanBuilder::with_capacity(cap);
                Arc::new(array)
            }
            Self::Utf8List(b) => {
                let items = b.values().len();
                let bytes = b.values().values_slice().len();
                let array = b.finish();
                *b = ListBuilder::with_capacity(
                    StringBuilder::with_capacity(items + items / 8, bytes + bytes / 8),
                    cap,
                );
                Arc::new(array)
            }
            Self::ParentId(b) => b.finish(cap),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Utf8(b) => b.len(),
            Self::Enum(b) => b.keys.len(),
            Self::Timestamp(b) => b.len(),
            Self::Int32(b) => b.len(),
            Self::Int64(b) => b.len(),
            Self::UInt32(b) => b.len(),
            Self::UInt64(b) => b.len(),
            Self::Float64(b) => b.len(),
            Self::Bool(b) => b.len(),
            Self::Utf8List(b) => b.len(),
            Self::ParentId(b) => b.keys.len(),
        }
    }
}

/// Index slot of a value's signature (length, first and last 8 bytes).
#[inline]
fn slot((len, head, tail): (usize, u64, u64), mask: usize) -> usize {
    let h = (head ^ tail.rotate_left(29) ^ len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 32) as usize & mask
}

fn presized<T: ArrowPrimitiveType>(
    b: &mut PrimitiveBuilder<T>,
    cap: usize,
    new: fn(usize) -> PrimitiveBuilder<T>,
) -> ArrayRef {
    let array = b.finish();
    *b = new(cap);
    Arc::new(array)
}

/// Dictionary builder for API enumerations and labels (`ColumnType::Enum`, `Label`).
///
/// Enumerations have a handful of distinct values per column, so a short scan finds the
/// key without hashing (4% of the page transform, measured). The scan compares a
/// signature (length, first and last 8 bytes: the whole value up to 16 bytes, which
/// enumerations almost always are) before any byte compare. Past `SCAN_LIMIT` values
/// (labels: a page's queues, agents or flows) an open-addressing index over the same
/// signatures takes over, so a page never degrades to quadratic time and a lookup is a
/// hash of two words, not of the whole value.
///
/// Entries go into one string builder, which becomes the dictionary's values as it is:
/// no allocation per entry (a `Box<str>` each was 1.5% of a replay once labels came) and
/// no copy at `finish`.
#[derive(Default)]
pub struct EnumBuilder {
    keys: Int32Builder,
    values: StringBuilder,
    /// `(len, head, tail)` of entry i.
    signatures: Vec<(usize, u64, u64)>,
    /// Entry of each slot (`EMPTY`: none); a power of two at least twice the entries once
    /// in use, empty before.
    index: Vec<u32>,
    /// The entry the last value had.
    last: usize,
}

const SCAN_LIMIT: usize = 64;
const EMPTY: u32 = u32::MAX;

impl EnumBuilder {
    #[inline]
    pub fn append_value(&mut self, v: &str) {
        let b = v.as_bytes();
        let (head, tail) = head_tail(b);
        let sig = (b.len(), head, tail);
        let same = |e: usize| self.is_entry(e, sig, b);
        let found = if self.last < self.signatures.len() && same(self.last) {
            // Rows often repeat the row before (a conversation's segments, one queue).
            Some(self.last)
        } else if self.index.is_empty() {
            (0..self.signatures.len()).find(|&e| same(e))
        } else {
            let mask = self.index.len() - 1;
            let mut i = slot(sig, mask);
            loop {
                let e = self.index[i];
                if e == EMPTY {
                    break None;
                }
                if same(e as usize) {
                    break Some(e as usize);
                }
                i = (i + 1) & mask;
            }
        };
        let key = match found {
            Some(k) => k,
            None => {
                self.values.append_value(v);
                self.signatures.push(sig);
                let k = self.signatures.len() - 1;
                if self.signatures.len() > SCAN_LIMIT {
                    self.index_entry(k);
                }
                k
            }
        };
        self.last = key;
        self.keys.append_value(key as i32);
    }

    /// Whether entry `e` is the value `b` of signature `sig`. Up to 16 bytes the signature
    /// is the whole value; longer ones compare the bytes between. (Out of line as a
    /// closure, this was 2% of a replay.)
    #[inline(always)]
    fn is_entry(&self, e: usize, sig: (usize, u64, u64), b: &[u8]) -> bool {
        self.signatures[e] == sig
            && (b.len() <= 16 || {
                let start = self.values.offsets_slice()[e].unsigned_abs() as usize;
                same_middle(&self.values.values_slice()[start..][..b.len()], b)
            })
    }

    /// Adds entry `k` to the index, first building or doubling it when it would be more
    /// than half full.
    fn index_entry(&mut self, k: usize) {
        if self.signatures.len() * 2 > self.index.len() {
            let size = (self.signatures.len() * 4).next_power_of_two();
            self.index = vec![EMPTY; size];
            for e in 0..self.signatures.len() {
                self.place(e);
            }
        } else {
            self.place(k);
        }
    }

    fn place(&mut self, e: usize) {
        let mask = self.index.len() - 1;
        let mut i = slot(self.signatures[e], mask);
        while self.index[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.index[i] = e as u32;
    }

    pub fn append_null(&mut self) {
        self.keys.append_null();
    }

    fn finish(&mut self, capacity: usize) -> ArrayRef {
        self.index = Vec::new();
        let (entries, bytes) = (self.signatures.len(), self.values.values_slice().len());
        self.signatures.clear();
        let values = self.values.finish();
        self.values = StringBuilder::with_capacity(entries, bytes);
        let keys = self.keys.finish();
        self.keys = Int32Builder::with_capacity(capacity);
        match DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)) {
            Ok(d) => Arc::new(d),
            // Keys are positions in `values` by construction.
            Err(e) => unreachable_dictionary(&e),
        }
    }
}

#[cold]
#[expect(clippy::panic, reason = "keys index the values vector by construction")]
fn unreachable_dictionary(e: &ArrowError) -> ArrayRef {
    panic!("enumeration dictionary: {e}")
}

/// Builder of a `ColumnType::ParentId` column: each distinct parent once, in order, and
/// per row the key of its parent. Children arrive grouped under their parent, so a row
/// either repeats the last parent or starts the next; the check is a pointer compare when
/// the id is the very string the last row gave (always, within one parent's children),
/// and a byte compare otherwise.
#[derive(Default)]
pub struct ParentIdBuilder {
    keys: UInt32Builder,
    values: StringBuilder,
    /// Address and length of the string the last new entry was appended from.
    last: (usize, usize),
}

impl ParentIdBuilder {
    #[inline]
    pub fn append_value(&mut self, v: &str) {
        // Entries from the offsets (one more than entries): `StringBuilder::len` is an
        // out-of-line call into the null-buffer builder, twice per row before.
        let entries = self.values.offsets_slice().len() - 1;
        let same = entries > 0
            && ((v.as_ptr() as usize, v.len()) == self.last || {
                // A new parent mostly: its id differs from the last one in the first or
                // last 8 bytes, told apart in line; the middle bytes too (`same_middle`),
                // so no `memcmp` call either way.
                let offsets = self.values.offsets_slice();
                let start = offsets[entries - 1].unsigned_abs() as usize;
                let last = &self.values.values_slice()[start..];
                head_tail(last) == head_tail(v.as_bytes()) && same_middle(last, v.as_bytes())
            });
        let key = if same {
            entries - 1
        } else {
            self.values.append_value(v);
            self.last = (v.as_ptr() as usize, v.len());
            entries
        };
        self.keys.append_value(key as u32);
    }

    fn finish(&mut self, capacity: usize) -> ArrayRef {
        let (entries, bytes) = (self.values.len(), self.values.values_slice().len());
        let values = self.values.finish();
        let keys = self.keys.finish();
        self.keys = UInt32Builder::with_capacity(capacity);
        self.values = StringBuilder::with_capacity(entries + entries / 8, bytes + bytes / 8);
        self.last = (0, 0);
        match DictionaryArray::<UInt32Type>::try_new(keys, Arc::new(values)) {
            Ok(d) => Arc::new(d),
            // Keys are positions in `values` by construction.
            Err(e) => unreachable_dictionary(&e),
        }
    }
}

/// The builders of one table: `cols[i]` builds `def.columns[i]`.
pub struct TableBuilder {
    pub def: &'static TableDef,
    pub cols: Vec<ColumnBuilder>,
    pub rows: usize,
    /// For columns filled from the JSON object: rows the column holds (after a value is
    /// appended; behind `rows` while the field is absent). Saves asking the builder.
    pub filled: Vec<usize>,
    /// The `_version` column, filled at `finish`: its value is the page's, the same on
    /// every row, so one fill per batch instead of an append per row.
    version_col: Option<usize>,
}

impl TableBuilder {
    pub fn new(def: &'static TableDef) -> Self {
        Self {
            def,
            cols: def
                .columns
                .iter()
                .map(|c| ColumnBuilder::new(c.ty))
                .collect(),
            rows: 0,
            filled: vec![0; def.columns.len()],
            version_col: def.index_of(crate::schema::VERSION_COLUMN),
        }
    }

    /// Brings column `i` to `row` entries with nulls, before row `row`'s value.
    #[inline(always)]
    pub fn pad_column(&mut self, i: usize, row: usize) {
        if self.filled[i] < row {
            self.cols[i].pad_to(row);
            self.filled[i] = row;
        }
    }

    /// Finishes the batch, every row's `_version` being `version`, and resets the builders
    /// for reuse. Columns a row left out get their nulls here (see `ColumnBuilder::pad_to`).
    pub fn finish(&mut self, version: u64) -> Result<RecordBatch, ArrowError> {
        if let Some(ColumnBuilder::UInt64(b)) = self.version_col.map(|i| &mut self.cols[i]) {
            b.append_value_n(version, self.rows - b.len());
        }
        for col in &mut self.cols {
            col.pad_to(self.rows);
        }
        self.filled.fill(0);
        let arrays: Vec<ArrayRef> = self.cols.iter_mut().map(ColumnBuilder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(self.def.arrow_schema(), arrays)
    }

    #[inline]
    pub fn utf8(&mut self, col: usize, v: &str) {
        match &mut self.cols[col] {
            ColumnBuilder::Utf8(b) => b.append_value(v),
            ColumnBuilder::Enum(b) => {
                b.append_value(v);
            }
            ColumnBuilder::ParentId(b) => b.append_value(v),
            other => other.append_null(),
        }
    }

    #[inline]
    pub fn timestamp(&mut self, col: usize, ms: i64) {
        if let ColumnBuilder::Timestamp(b) = &mut self.cols[col] {
            b.append_value(ms);
        }
    }

    #[inline]
    pub fn u32(&mut self, col: usize, v: u32) {
        if let ColumnBuilder::UInt32(b) = &mut self.cols[col] {
            b.append_value(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    use super::*;

    #[test]
    fn parent_ids_keep_each_parent_once_and_a_key_per_row() {
        let mut b = ParentIdBuilder::default();
        let (p1, p2) = (String::from("parent-1"), String::from("parent-2"));
        // The same string, an equal copy of it elsewhere, then the next parent.
        let again = p1.clone();
        for v in [
            p1.as_str(),
            p1.as_str(),
            again.as_str(),
            p2.as_str(),
            p2.as_str(),
        ] {
            b.append_value(v);
        }
        let array = b.finish(0);
        let d = array.as_dictionary::<UInt32Type>();
        let values = d.values().as_string::<i32>();
        assert_eq!(
            values.iter().flatten().collect::<Vec<_>>(),
            ["parent-1", "parent-2"]
        );
        assert_eq!(d.keys().values().to_vec(), [0, 0, 0, 1, 1]);
        // After finish: a fresh dictionary, even for the parent that ended the last one.
        b.append_value(&p2);
        let next = b.finish(0);
        let d = next.as_dictionary::<UInt32Type>();
        assert_eq!(d.values().len(), 1);
        assert_eq!(d.keys().values().to_vec(), [0]);
        // 36-byte ids with the same first and last 8 bytes: told apart by their middles,
        // and an equal copy elsewhere still joins its parent.
        let u1 = String::from("0c97bc22-346d-4d5a-9b2c-967d14e39138");
        let u2 = String::from("0c97bc22-346d-4d5a-9b2d-967d14e39138");
        let u2_copy = u2.clone();
        for v in [u1.as_str(), u2.as_str(), u2_copy.as_str()] {
            b.append_value(v);
        }
        let ids = b.finish(0);
        let d = ids.as_dictionary::<UInt32Type>();
        assert_eq!(d.values().len(), 2);
        assert_eq!(d.keys().values().to_vec(), [0, 1, 1]);
    }

    #[test]
    fn middles_compare_equal_exactly_when_the_bytes_are() {
        for n in 17..60usize {
            let a: Vec<u8> = (0..n).map(|i| i as u8).collect();
            assert!(same_middle(&a, &a.clone()), "{n}");
            for at in 8..n - 8 {
                let mut b = a.clone();
                b[at] ^= 1;
                assert!(!same_middle(&a, &b), "{n} bytes, byte {at}");
            }
        }
    }

    #[test]
    fn enumerations_dictionary_encode_with_and_without_the_hash_index() {
        let mut b = EnumBuilder::default();
        let values: Vec<String> = (0..200).map(|i| format!("v{}", i % 100)).collect();
        for v in &values {
            b.append_value(v);
        }
        b.append_null();
        let array = b.finish(0);
        let d = array.as_dictionary::<Int32Type>();
        let dict = d.values().as_string::<i32>();
        assert_eq!(dict.len(), 100, "each distinct value once");
        for (i, v) in values.iter().enumerate() {
            let k = d.keys().value(i) as usize;
            assert_eq!(dict.value(k), v.as_str());
        }
        assert!(d.is_null(200));
        // Long values that share length, first and last 8 bytes stay distinct.
        let mut b2 = EnumBuilder::default();
        for v in [
            "ACW-start-1-end-ACW",
            "ACW-start-2-end-ACW",
            "ACW-start-1-end-ACW",
        ] {
            b2.append_value(v);
        }
        let long = b2.finish(0);
        let d2 = long.as_dictionary::<Int32Type>();
        assert_eq!(d2.values().len(), 2);
        assert_eq!(
            (0..3).map(|i| d2.keys().value(i)).collect::<Vec<_>>(),
            vec![0, 1, 0]
        );
        // Past the scan: ids that share their first and last 8 bytes, differing only in
        // the middle, each at two places, keep distinct keys through index rebuilds.
        let mut b3 = EnumBuilder::default();
        let ids: Vec<String> = (0..1000)
            .map(|i| format!("00000000-{:04x}-{:04x}-0000-000000000000", i % 500, i / 500))
            .collect();
        for v in ids.iter().chain(&ids) {
            b3.append_value(v);
        }
        let many = b3.finish(0);
        let d3 = many.as_dictionary::<Int32Type>();
        let dict3 = d3.values().as_string::<i32>();
        assert_eq!(dict3.len(), 1000);
        for (i, v) in ids.iter().chain(&ids).enumerate() {
            assert_eq!(dict3.value(d3.keys().value(i) as usize), v.as_str());
        }
        // Reused after finish: a fresh dictionary.
        b.append_value("x");
        let again = b.finish(0);
        assert_eq!(again.as_dictionary::<Int32Type>().values().len(), 1);
    }
}
