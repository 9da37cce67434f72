//! Column chunks for flat string, integer, double and boolean columns (ids, names,
//! timestamps, counts, `_extra`, MOS scores, flags): v1 data pages of about `PAGE_BYTES`,
//! numbers and booleans PLAIN, strings PLAIN or, when asked
//! (`StringEncoding::DeltaLength`), DELTA_LENGTH_BYTE_ARRAY. Parent ids whose runs are too
//! short for `runs` arrive as the transform's dictionaries (`UInt32` keys into strings)
//! and go out in the file's string encoding, looked up row by row, never expanded into a
//! string array.
//!
//! Owns the page layout and statistics of such chunks; which columns take this path is
//! `super`'s choice, and `chunk` writes the pages with their headers.
//!
//! Why not parquet-rs's column writer: for each column chunk it creates a zstd compressor
//! and a decompressor it never uses (7% of the encode benchmark), builds definition
//! levels value by value, and measures pages in mini-batches. Here every chunk of a file
//! shares the file's compressor, values are copied once, and definition levels come
//! straight from Arrow's validity bitmap: at bit width 1 the hybrid RLE/bit-packed
//! encoding bit-packs values least significant bit first, which is Arrow's own layout,
//! so a page's levels are a run header and a slice of the bitmap.
//!
//! Layout (standard Parquet, v1 pages): for an OPTIONAL column, `u32` byte length +
//! levels, then the non-null values; for a REQUIRED one, only the values. PLAIN strings
//! are a `u32` length + bytes each; DELTA_LENGTH_BYTE_ARRAY ones are all lengths
//! (DELTA_BINARY_PACKED), then all bytes back to back; numbers are little-endian;
//! booleans one bit each. Pages start at rows that are multiples of 8, so each page's
//! levels are whole bytes of the bitmap.

use arrow_array::cast::AsArray as _;
use arrow_array::types::{
    ArrowPrimitiveType, Float64Type, Int32Type, Int64Type, TimestampMillisecondType, UInt32Type,
    UInt64Type,
};
use arrow_array::{Array, StringArray};
use arrow_buffer::ToByteSlice as _;
use arrow_buffer::bit_iterator::BitSliceIterator;
use arrow_buffer::{BooleanBuffer, BooleanBufferBuilder};
use arrow_schema::{DataType, TimeUnit};
use parquet::basic::{Compression, Encoding};
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescPtr;

use super::StringEncoding;
use super::chunk::{
    ChunkInfo, EncodedChunk, assemble, data_page, flat_shape, head, put_delta_binary_packed,
    validity, write_levels,
};

/// Uncompressed bytes of values aimed at per data page (parquet-rs's default limit).
const PAGE_BYTES: usize = 1 << 20;

/// Longest string kept as a min or max statistic. Longer ones (JSON in `_extra`) would
/// bloat the footer and prune nothing: such a chunk gets only its null count.
const MAX_STAT_BYTES: usize = 64;

/// Whether this module writes columns of Arrow type `ty` (flat: no list, no dictionary;
/// the parent-id dictionaries above come only through `super::encode_parent_ids`).
pub fn supports(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Utf8
            | DataType::Int32
            | DataType::UInt32
            | DataType::Int64
            | DataType::UInt64
            | DataType::Timestamp(TimeUnit::Millisecond, _)
            | DataType::Float64
            | DataType::Boolean
    )
}

/// Encodes `arrays` (one column of consecutive batches) as one column chunk described by
/// `descr`. `compression` is the file's zstd (compressed with `compressor`) or, for a
/// column without values, `UNCOMPRESSED`.
pub fn encode_chunk(
    descr: ColumnDescPtr,
    arrays: &[&dyn Array],
    compression: Compression,
    compressor: &mut zstd::bulk::Compressor<'_>,
    strings: StringEncoding,
) -> Result<EncodedChunk, ParquetError> {
    let Some(first) = arrays.first() else {
        return Err(ParquetError::General(format!(
            "no arrays for `{}`",
            descr.path()
        )));
    };
    match first.data_type() {
        DataType::Utf8 => match strings {
            StringEncoding::Plain => encode::<Strings>(descr, arrays, compression, compressor),
            StringEncoding::DeltaLength => {
                encode::<DeltaStrings>(descr, arrays, compression, compressor)
            }
        },
        // Parent ids whose runs are too short for `runs` (a segment's session): written
        // row by row from the keys, without expanding them into strings first.
        DataType::Dictionary(key, value)
            if **key == DataType::UInt32 && **value == DataType::Utf8 =>
        {
            match strings {
                StringEncoding::Plain => {
                    encode::<KeyedStrings<false>>(descr, arrays, compression, compressor)
                }
                StringEncoding::DeltaLength => {
                    encode::<KeyedStrings<true>>(descr, arrays, compression, compressor)
                }
            }
        }
        DataType::Int32 => encode::<Fixed<Int32Type>>(descr, arrays, compression, compressor),
        DataType::UInt32 => encode::<Fixed<UInt32Type>>(descr, arrays, compression, compressor),
        DataType::Int64 => encode::<Fixed<Int64Type>>(descr, arrays, compression, compressor),
        DataType::UInt64 => encode::<Fixed<UInt64Type>>(descr, arrays, compression, compressor),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            encode::<Fixed<TimestampMillisecondType>>(descr, arrays, compression, compressor)
        }
        DataType::Float64 => encode::<Floats>(descr, arrays, compression, compressor),
        DataType::Boolean => encode::<Bools>(descr, arrays, compression, compressor),
        other => Err(ParquetError::General(format!(
            "`{}`: {other} is not a flat column type",
            descr.path()
        ))),
    }
}

/// A physical value kind: how rows of one array are written and summarised.
trait Values<'a>: Sized {
    /// Running min and max.
    type Stats: Default;
    /// How a data page holds the values.
    const ENCODING: Encoding;
    fn of(array: &'a dyn Array) -> Option<Self>;
    /// Uncompressed PLAIN bytes of rows `[lo, hi)`, nulls counted as empty (an estimate
    /// for page sizing and buffer capacity).
    fn bytes(&self, lo: usize, hi: usize) -> usize;
    /// Appends one page's values in `ENCODING`: the rows `[lo, hi)` of `parts[part]` for
    /// each `(part, lo, hi)` of `runs` (all valid, in order), and updates `stats`.
    fn write(parts: &[Self], runs: &[Run], out: &mut Vec<u8>, stats: &mut Self::Stats);
    /// The chunk's statistics and, for byte arrays, the bytes of all values.
    fn finish(stats: Self::Stats, nulls: u64) -> (Statistics, Option<i64>);
}

/// Valid rows `[lo, hi)` of part (array) `.0` of a chunk.
type Run = (usize, usize, usize);

struct Fixed<'a, T: ArrowPrimitiveType> {
    values: &'a [T::Native],
}

/// Integer types and how their statistics are stored (unsigned ones as the same bits in
/// the signed physical type; readers order them by the column's logical type).
pub trait Integer: arrow_buffer::ArrowNativeType + Ord {
    fn statistics(min: Option<Self>, max: Option<Self>, nulls: u64) -> Statistics;

    /// The least and greatest of `values`, in 8 independent lanes so that the compiler
    /// vectorises the loop (`Iterator::min` / `max` went through a comparison function
    /// per value, 1% of a replay).
    fn min_max(values: &[Self]) -> Option<(Self, Self)> {
        let &first = values.first()?;
        let (mut lo, mut hi) = ([first; 8], [first; 8]);
        let chunks = values.chunks_exact(8);
        let rest = chunks.remainder();
        for chunk in chunks {
            for i in 0..8 {
                lo[i] = if chunk[i] < lo[i] { chunk[i] } else { lo[i] };
                hi[i] = if chunk[i] > hi[i] { chunk[i] } else { hi[i] };
            }
        }
        let lo = lo
            .into_iter()
            .chain(rest.iter().copied())
            .fold(first, Ord::min);
        let hi = hi
            .into_iter()
            .chain(rest.iter().copied())
            .fold(first, Ord::max);
        Some((lo, hi))
    }
}

impl Integer for i32 {
    fn statistics(min: Option<Self>, max: Option<Self>, nulls: u64) -> Statistics {
        Statistics::int32(min, max, None, Some(nulls), false)
    }
}
impl Integer for u32 {
    fn statistics(min: Option<Self>, max: Option<Self>, nulls: u64) -> Statistics {
        let bits = |v: Option<u32>| v.map(u32::cast_signed);
        Statistics::int32(bits(min), bits(max), None, Some(nulls), false)
    }
}
impl Integer for i64 {
    fn statistics(min: Option<Self>, max: Option<Self>, nulls: u64) -> Statistics {
        Statistics::int64(min, max, None, Some(nulls), false)
    }
}
impl Integer for u64 {
    fn statistics(min: Option<Self>, max: Option<Self>, nulls: u64) -> Statistics {
        let bits = |v: Option<u64>| v.map(u64::cast_signed);
        Statistics::int64(bits(min), bits(max), None, Some(nulls), false)
    }
}

impl<'a, T> Values<'a> for Fixed<'a, T>
where
    T: ArrowPrimitiveType,
    T::Native: Integer,
{
    type Stats = Option<(T::Native, T::Native)>;
    const ENCODING: Encoding = Encoding::PLAIN;

    fn of(array: &'a dyn Array) -> Option<Self> {
        array
            .as_primitive_opt::<T>()
            .map(|a| Self { values: a.values() })
    }

    fn bytes(&self, lo: usize, hi: usize) -> usize {
        (hi - lo) * size_of::<T::Native>()
    }

    fn write(parts: &[Self], runs: &[Run], out: &mut Vec<u8>, stats: &mut Self::Stats) {
        for &(part, lo, hi) in runs {
            let values = &parts[part].values[lo..hi];
            out.extend_from_slice(values.to_byte_slice());
            if let Some((lo, hi)) = T::Native::min_max(values) {
                *stats = Some(match *stats {
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                    None => (lo, hi),
                });
            }
        }
    }

    fn finish(stats: Self::Stats, nulls: u64) -> (Statistics, Option<i64>) {
        let (min, max) = (stats.map(|s| s.0), stats.map(|s| s.1));
        (T::Native::statistics(min, max, nulls), None)
    }
}

/// Doubles, little-endian. Statistics follow IEEE 754 total order (-0.0 below +0.0) and
/// leave NaN out, as parquet-rs does; a chunk of NaNs only has no min or max.
struct Floats<'a> {
    values: &'a [f64],
}

impl<'a> Values<'a> for Floats<'a> {
    type Stats = Option<(f64, f64)>;
    const ENCODING: Encoding = Encoding::PLAIN;

    fn of(array: &'a dyn Array) -> Option<Self> {
        array
            .as_primitive_opt::<Float64Type>()
            .map(|a| Self { values: a.values() })
    }

    fn bytes(&self, lo: usize, hi: usize) -> usize {
        (hi - lo) * 8
    }

    fn write(parts: &[Self], runs: &[Run], out: &mut Vec<u8>, stats: &mut Self::Stats) {
        for &(part, lo, hi) in runs {
            let values = &parts[part].values[lo..hi];
            out.extend_from_slice(values.to_byte_slice());
            for &v in values.iter().filter(|v| !v.is_nan()) {
                *stats = Some(match *stats {
                    Some((a, b)) => (
                        std::cmp::min_by(a, v, f64::total_cmp),
                        std::cmp::max_by(b, v, f64::total_cmp),
                    ),
                    None => (v, v),
                });
            }
        }
    }

    fn finish(stats: Self::Stats, nulls: u64) -> (Statistics, Option<i64>) {
        let (min, max) = (stats.map(|s| s.0), stats.map(|s| s.1));
        (Statistics::double(min, max, None, Some(nulls), false), None)
    }
}

/// Booleans: PLAIN packs the values of valid rows one bit each, least significant first,
/// which is Arrow's layout, so a run of valid rows is a range of its bitmap.
struct Bools<'a> {
    values: &'a BooleanBuffer,
}

impl<'a> Values<'a> for Bools<'a> {
    /// Whether a false and a true value were seen.
    type Stats = (bool, bool);
    const ENCODING: Encoding = Encoding::PLAIN;

    fn of(array: &'a dyn Array) -> Option<Self> {
        array.as_boolean_opt().map(|a| Self { values: a.values() })
    }

    fn bytes(&self, lo: usize, hi: usize) -> usize {
        (hi - lo).div_ceil(8)
    }

    fn write(parts: &[Self], runs: &[Run], out: &mut Vec<u8>, stats: &mut Self::Stats) {
        let mut bits = BooleanBufferBuilder::new(runs.iter().map(|r| r.2 - r.1).sum());
        for &(part, lo, hi) in runs {
            let values = parts[part].values;
            let set = values.slice(lo, hi - lo).count_set_bits();
            stats.0 |= set < hi - lo;
            stats.1 |= set > 0;
            bits.append_packed_range(values.offset() + lo..values.offset() + hi, values.values());
        }
        out.extend_from_slice(bits.as_slice());
    }

    fn finish(stats: Self::Stats, nulls: u64) -> (Statistics, Option<i64>) {
        let (min, max) = match stats {
            (false, false) => (None, None),
            (seen_false, seen_true) => (Some(!seen_false), Some(seen_true)),
        };
        (
            Statistics::boolean(min, max, None, Some(nulls), false),
            None,
        )
    }
}

/// String values in PLAIN: a `u32` length before each value.
struct Strings<'a> {
    array: &'a StringArray,
}

/// String values in DELTA_LENGTH_BYTE_ARRAY (see `StringEncoding::DeltaLength`).
struct DeltaStrings<'a> {
    array: &'a StringArray,
}

/// Strings held as a dictionary (`UInt32` keys into `Utf8` values), written from their
/// keys: each row's value, looked up by its key, in PLAIN or, with `DELTA`, in
/// DELTA_LENGTH_BYTE_ARRAY (all lengths first, as `DeltaStrings` writes them).
struct KeyedStrings<'a, const DELTA: bool> {
    keys: &'a [u32],
    values: &'a StringArray,
}

impl<'a, const DELTA: bool> Values<'a> for KeyedStrings<'a, DELTA> {
    type Stats = StringStats<'a>;
    const ENCODING: Encoding = if DELTA {
        Encoding::DELTA_LENGTH_BYTE_ARRAY
    } else {
        Encoding::PLAIN
    };

    fn of(array: &'a dyn Array) -> Option<Self> {
        let dict = array.as_dictionary_opt::<UInt32Type>()?;
        Some(Self {
            keys: dict.keys().values(),
            values: dict.values().as_string_opt::<i32>()?,
        })
    }

    /// The average entry's bytes per row (exact for ids, which are all 36 bytes).
    fn bytes(&self, lo: usize, hi: usize) -> usize {
        let entries = self.values.len().max(1);
        plain_bytes(self.values, 0, self.values.len()).div_ceil(entries) * (hi - lo)
    }

    fn write(parts: &[Self], runs: &[Run], out: &mut Vec<u8>, stats: &mut Self::Stats) {
        if DELTA {
            let mut lengths = Vec::with_capacity(runs.iter().map(|r| r.2 - r.1).sum());
            for &(part, lo, hi) in runs {
                let KeyedStrings { keys, values } = parts[part];
                let offsets = values.value_offsets();
                lengths.extend(keys[lo..hi].iter().map(|&k| {
                    let k = k as usize;
                    offsets[k + 1] - offsets[k]
                }));
            }
            put_delta_binary_packed(out, &lengths);
        }
        for &(part, lo, hi) in runs {
            let KeyedStrings { keys, values } = parts[part];
            let (offsets, data) = (values.value_offsets(), values.value_data());
            // Rows of one parent follow each other: its value counts once in min / max.
            let mut last = None;
            for &k in &keys[lo..hi] {
                let k = k as usize;
                let v = value_at(data, &offsets[k..k + 2]);
                if !DELTA {
                    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                }
                out.extend_from_slice(v);
                stats.value_bytes += v.len() as i64;
                if last != Some(k) {
                    stats.update(v);
                    last = Some(k);
                }
            }
        }
    }

    fn finish(stats: Self::Stats, nulls: u64) -> (Statistics, Option<i64>) {
        stats.finish(nulls)
    }
}

/// Min and max so far, with their first 8 bytes as big-endian integers: most values
/// differ from both there, so most rows cost two integer compares, not two `memcmp`s.
/// (Also the statistics of list items, in `lists`.)
#[derive(Default)]
pub struct StringStats<'a> {
    min: Option<(u64, &'a [u8])>,
    max: Option<(u64, &'a [u8])>,
    /// Set when a min or max longer than `MAX_STAT_BYTES` was seen: no min/max then.
    too_long: bool,
    /// Bytes of all values (the chunk's `unencoded_byte_array_data_bytes`), added by the
    /// caller: PLAIN and delta-length writers count whole runs at once.
    pub value_bytes: i64,
}

impl<'a> StringStats<'a> {
    #[inline]
    pub fn update(&mut self, v: &'a [u8]) {
        let h = head(v);
        if self.min.is_none_or(|(mh, m)| h < mh || (h == mh && v < m)) {
            self.too_long |= v.len() > MAX_STAT_BYTES;
            self.min = Some((h, v));
        }
        if self.max.is_none_or(|(mh, m)| h > mh || (h == mh && v > m)) {
            self.too_long |= v.len() > MAX_STAT_BYTES;
            self.max = Some((h, v));
        }
    }

    pub fn finish(self, nulls: u64) -> (Statistics, Option<i64>) {
        let keep = |v: Option<(u64, &[u8])>| {
            v.filter(|_| !self.too_long)
                .map(|(_, v)| ByteArray::from(v.to_vec()))
        };
        (
            Statistics::byte_array(keep(self.min), keep(self.max), None, Some(nulls), false),
            Some(self.value_bytes),
        )
    }
}

/// Rows `[lo, hi)` of `array`: their offsets (`hi - lo + 1` of them) and the value bytes.
fn string_rows(array: &StringArray, lo: usize, hi: usize) -> (&[i32], &[u8]) {
    (&array.value_offsets()[lo..=hi], array.value_data())
}

/// The bytes of the value between two consecutive offsets.
#[inline]
fn value_at<'a>(data: &'a [u8], w: &[i32]) -> &'a [u8] {
    &data[w[0].unsigned_abs() as usize..w[1].unsigned_abs() as usize]
}

impl<'a> Values<'a> for Strings<'a> {
    type Stats = StringStats<'a>;
    const ENCODING: Encoding = Encoding::PLAIN;

    fn of(array: &'a dyn Array) -> Option<Self> {
        array.as_string_opt::<i32>().map(|array| Self { array })
    }

    fn bytes(&self, lo: usize, hi: usize) -> usize {
        plain_bytes(self.array, lo, hi)
    }

    fn write(parts: &[Self], runs: &[Run], out: &mut Vec<u8>, stats: &mut Self::Stats) {
        for &(part, lo, hi) in runs {
            let (offsets, data) = string_rows(parts[part].array, lo, hi);
            stats.value_bytes += i64::from(offsets[hi - lo] - offsets[0]);
            for w in offsets.windows(2) {
                let v = value_at(data, w);
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v);
                stats.update(v);
            }
        }
    }

    fn finish(stats: Self::Stats, nulls: u64) -> (Statistics, Option<i64>) {
        stats.finish(nulls)
    }
}

impl<'a> Values<'a> for DeltaStrings<'a> {
    type Stats = StringStats<'a>;
    const ENCODING: Encoding = Encoding::DELTA_LENGTH_BYTE_ARRAY;

    fn of(array: &'a dyn Array) -> Option<Self> {
        array.as_string_opt::<i32>().map(|array| Self { array })
    }

    fn bytes(&self, lo: usize, hi: usize) -> usize {
        plain_bytes(self.array, lo, hi)
    }

    /// The lengths (DELTA_BINARY_PACKED), then the bytes of all values back to back,
    /// which for a run of valid rows is one slice of Arrow's value buffer.
    fn write(parts: &[Self], runs: &[Run], out: &mut Vec<u8>, stats: &mut Self::Stats) {
        let mut lengths = Vec::with_capacity(runs.iter().map(|r| r.2 - r.1).sum());
        for &(part, lo, hi) in runs {
            let (offsets, _) = string_rows(parts[part].array, lo, hi);
            lengths.extend(offsets.windows(2).map(|w| w[1] - w[0]));
        }
        put_delta_binary_packed(out, &lengths);
        for &(part, lo, hi) in runs {
            let (offsets, data) = string_rows(parts[part].array, lo, hi);
            let (first, last) = (
                offsets[0].unsigned_abs() as usize,
                offsets[hi - lo].unsigned_abs() as usize,
            );
            // Builders give null slots no bytes, but a valid run is contiguous either way.
            out.extend_from_slice(&data[first..last]);
            stats.value_bytes += (last - first) as i64;
            for w in offsets.windows(2) {
                stats.update(value_at(data, w));
            }
        }
    }

    fn finish(stats: Self::Stats, nulls: u64) -> (Statistics, Option<i64>) {
        stats.finish(nulls)
    }
}

/// PLAIN bytes of rows `[lo, hi)` (values and their lengths): the page-size estimate of
/// either string encoding.
fn plain_bytes(array: &StringArray, lo: usize, hi: usize) -> usize {
    let offsets = array.value_offsets();
    (offsets[hi] - offsets[lo]).unsigned_abs() as usize + 4 * (hi - lo)
}

fn encode<'a, V: Values<'a>>(
    descr: ColumnDescPtr,
    arrays: &[&'a dyn Array],
    compression: Compression,
    compressor: &mut zstd::bulk::Compressor<'_>,
) -> Result<EncodedChunk, ParquetError> {
    let (optional, rows, nulls) = flat_shape(&descr, arrays)?;
    let parts: Vec<V> = arrays
        .iter()
        .map(|a| {
            V::of(*a).ok_or_else(|| {
                ParquetError::General(format!("`{}`: arrays of different types", descr.path()))
            })
        })
        .collect::<Result<_, _>>()?;
    // The validity of the whole chunk, offset 0: pages cut at multiples of 8 rows take
    // whole bytes of it.
    let validity = optional.then(|| validity(arrays, rows));
    let total_bytes: usize = parts
        .iter()
        .zip(arrays)
        .map(|(p, a)| p.bytes(0, a.len()))
        .sum();
    let per_row = total_bytes.div_ceil(rows.max(1)).max(1);
    let page_rows = ((PAGE_BYTES / per_row) & !7).max(8);

    let mut stats = V::Stats::default();
    let mut runs: Vec<Run> = Vec::new();
    let mut pages = Vec::with_capacity(rows.div_ceil(page_rows));
    let mut start = 0;
    while start < rows || pages.is_empty() {
        let end = (start + page_rows).min(rows);
        let mut body = Vec::with_capacity(16 + (end - start) / 8 + page_rows * per_row * 5 / 4);
        if let Some(validity) = &validity {
            write_levels(validity, start, end, &mut body);
        }
        // Rows [start, end) of the chunk, part by part, as runs of valid rows.
        runs.clear();
        let mut part_start = 0;
        for (p, array) in arrays.iter().enumerate() {
            let (lo, hi) = (
                start.max(part_start) - part_start,
                end.min(part_start + array.len()).saturating_sub(part_start),
            );
            part_start += array.len();
            if lo >= hi {
                continue;
            }
            match array.nulls().filter(|n| n.null_count() > 0) {
                None => runs.push((p, lo, hi)),
                Some(n) => {
                    let bits = n.inner();
                    runs.extend(
                        BitSliceIterator::new(bits.values(), bits.offset() + lo, hi - lo)
                            .map(|(s, e)| (p, lo + s, lo + e)),
                    );
                }
            }
        }
        V::write(&parts, &runs, &mut body, &mut stats);
        pages.push(data_page(
            body,
            end - start,
            V::ENCODING,
            compression,
            compressor,
        )?);
        start = end;
    }
    let (statistics, value_bytes) = V::finish(stats, nulls as u64);
    assemble(
        descr,
        pages,
        ChunkInfo {
            compression,
            encodings: if optional {
                vec![V::ENCODING, Encoding::RLE]
            } else {
                vec![V::ENCODING]
            },
            rows: rows as u64,
            levels: None,
            value_bytes,
            statistics,
        },
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch,
        TimestampMillisecondArray, UInt32Array, UInt64Array,
    };
    use arrow_schema::{Field, Schema};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::reader::{FileReader as _, SerializedFileReader};
    use parquet::file::statistics::Statistics;

    use super::super::ParquetSink;
    use super::*;

    /// 50,003 rows of every flat type: strings long enough for several pages, nulls in
    /// runs, alone and in a column with none, unsigned values above the signed maximum,
    /// an all-null column; cut into batches that are slices at odd offsets, so bitmaps
    /// join at bit positions that are not byte boundaries.
    fn batches() -> Vec<RecordBatch> {
        let n = 50_003usize;
        let some = |i: usize| i % 7 != 3 && !(1000..1100).contains(&i);
        let columns: Vec<(Field, ArrayRef)> = vec![
            (
                Field::new("id", DataType::Utf8, false),
                Arc::new(StringArray::from_iter_values((0..n).map(|i| {
                    format!(
                        "{:08x}-{}",
                        i.wrapping_mul(2_654_435_761),
                        "x".repeat(i % 40)
                    )
                }))),
            ),
            (
                Field::new("note", DataType::Utf8, true),
                Arc::new(StringArray::from_iter(
                    (0..n).map(|i| some(i).then(|| format!("n{}", i % 500))),
                )),
            ),
            (
                Field::new("i32", DataType::Int32, true),
                Arc::new(Int32Array::from_iter(
                    (0..n).map(|i| some(i + 1).then_some(i as i32 - 20_000)),
                )),
            ),
            (
                Field::new("u32", DataType::UInt32, false),
                Arc::new(UInt32Array::from_iter_values((0..n).map(|i| {
                    if i % 2 == 0 {
                        i as u32
                    } else {
                        u32::MAX - i as u32
                    }
                }))),
            ),
            (
                Field::new("i64", DataType::Int64, true),
                Arc::new(Int64Array::from_iter(
                    (0..n).map(|i| some(i + 2).then_some(-(i as i64) * 1_000_000_007)),
                )),
            ),
            (
                Field::new("u64", DataType::UInt64, false),
                Arc::new(UInt64Array::from_iter_values((0..n).map(|i| {
                    if i % 2 == 0 {
                        i as u64
                    } else {
                        u64::MAX - i as u64
                    }
                }))),
            ),
            (
                Field::new(
                    "ts",
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    true,
                ),
                Arc::new(
                    TimestampMillisecondArray::from_iter(
                        (0..n).map(|i| some(i + 3).then_some(1_709_510_400_000 + i as i64)),
                    )
                    .with_timezone("UTC"),
                ),
            ),
            (
                Field::new("absent", DataType::Utf8, true),
                Arc::new(StringArray::from(vec![None::<&str>; n])),
            ),
            (
                // NaN (left out of the statistics) and both zeros (-0.0 orders first).
                Field::new("f64", DataType::Float64, true),
                Arc::new(Float64Array::from_iter((0..n).map(|i| {
                    some(i + 4).then_some(match i % 5 {
                        0 => f64::NAN,
                        1 => -0.0,
                        2 => 0.0,
                        _ => i as f64 * 0.25 - 3000.0,
                    })
                }))),
            ),
            (
                Field::new("flag", DataType::Boolean, true),
                Arc::new(BooleanArray::from_iter(
                    (0..n).map(|i| some(i + 5).then_some(i % 3 == 0)),
                )),
            ),
        ];
        let schema = Arc::new(Schema::new(
            columns.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>(),
        ));
        let whole = RecordBatch::try_new(
            Arc::clone(&schema),
            columns.into_iter().map(|(_, c)| c).collect(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let cuts = [0, 3, 1001, 1013, 30_001, n];
        cuts.windows(2)
            .map(|w| whole.slice(w[0], w[1] - w[0]))
            .collect()
    }

    #[test]
    fn min_max_in_lanes_is_the_least_and_greatest_value() {
        assert_eq!(<i64 as Integer>::min_max(&[]), None);
        // Every length around the 8 lanes, extremes in the lanes and in the remainder.
        for n in 1..40usize {
            let values: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 23 - 11).collect();
            let expected = (values.iter().min().copied(), values.iter().max().copied());
            let got = <i64 as Integer>::min_max(&values);
            assert_eq!((got.map(|g| g.0), got.map(|g| g.1)), expected, "{n}");
            let unsigned: Vec<u64> = values.iter().map(|v| v.cast_unsigned()).collect();
            let expected = (
                unsigned.iter().min().copied(),
                unsigned.iter().max().copied(),
            );
            let got = <u64 as Integer>::min_max(&unsigned);
            assert_eq!(
                (got.map(|g| g.0), got.map(|g| g.1)),
                expected,
                "{n} unsigned"
            );
        }
    }

    #[test]
    fn flat_columns_read_back_exactly_with_their_statistics_in_plain() {
        flat_columns_read_back_exactly_with_their_statistics(StringEncoding::Plain);
    }

    #[test]
    fn flat_columns_read_back_exactly_with_their_statistics_in_delta_length() {
        flat_columns_read_back_exactly_with_their_statistics(StringEncoding::DeltaLength);
    }

    fn flat_columns_read_back_exactly_with_their_statistics(strings: StringEncoding) {
        let batches = batches();
        let root = std::env::temp_dir().join(format!("gx-flat-{}-{strings:?}", std::process::id()));
        let sink = ParquetSink::new(&root, 64 << 20)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_string_encoding(strings);
        let file = Bytes::from(sink.encode(&batches).unwrap_or_else(|e| panic!("{e}")));
        let reader = ParquetRecordBatchReaderBuilder::try_new(file.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let meta = reader.metadata().clone();
        let expected = match strings {
            StringEncoding::Plain => Encoding::PLAIN,
            StringEncoding::DeltaLength => Encoding::DELTA_LENGTH_BYTE_ARRAY,
        };
        for c in [0, 1] {
            assert!(
                meta.row_group(0)
                    .column(c)
                    .encodings()
                    .any(|e| e == expected),
                "column {c} in {expected}"
            );
        }
        let schema = batches[0].schema();
        let whole = arrow_select::concat::concat_batches(&schema, &batches)
            .unwrap_or_else(|e| panic!("{e}"));
        let back: Vec<RecordBatch> = reader
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        let back =
            arrow_select::concat::concat_batches(&schema, &back).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, whole);

        let rg = meta.row_group(0);
        let stats = |c: usize| {
            rg.column(c)
                .statistics()
                .cloned()
                .unwrap_or_else(|| panic!("no statistics for column {c}"))
        };
        let n = whole.num_rows() as u64;
        // The id column is unique strings of up to 48 bytes: several pages, exact min/max.
        let ids = whole.column(0).as_string::<i32>();
        let (min, max) = (
            ids.iter().flatten().min().unwrap_or_default(),
            ids.iter().flatten().max().unwrap_or_default(),
        );
        match stats(0) {
            Statistics::ByteArray(s) => {
                assert_eq!(
                    (s.min_opt().map(|v| v.data()), s.max_opt().map(|v| v.data())),
                    (Some(min.as_bytes()), Some(max.as_bytes()))
                );
            }
            other => panic!("{other:?}"),
        }
        let reader = SerializedFileReader::new(file.clone()).unwrap_or_else(|e| panic!("{e}"));
        let pages = |c: usize| {
            reader
                .get_row_group(0)
                .and_then(|g| g.get_column_page_reader(c))
                .unwrap_or_else(|e| panic!("{e}"))
                .count()
        };
        assert_eq!((pages(0), pages(2)), (2, 1), "1.5 MB of ids make 2 pages");
        for (c, nulls) in [(1, whole.column(1).null_count()), (7, n as usize)] {
            assert_eq!(stats(c).null_count_opt(), Some(nulls as u64), "column {c}");
        }
        // Unsigned statistics keep their bits; readers order them as unsigned.
        match (stats(3), stats(5)) {
            (Statistics::Int32(u32s), Statistics::Int64(u64s)) => {
                assert_eq!(
                    (
                        u32s.min_opt().map(|v| v.cast_unsigned()),
                        u32s.max_opt().map(|v| v.cast_unsigned())
                    ),
                    (Some(0), Some(u32::MAX - 1))
                );
                assert_eq!(
                    (
                        u64s.min_opt().map(|v| v.cast_unsigned()),
                        u64s.max_opt().map(|v| v.cast_unsigned())
                    ),
                    (Some(0), Some(u64::MAX - 1))
                );
            }
            other => panic!("{other:?}"),
        }
        match (stats(4), stats(6)) {
            (Statistics::Int64(i64s), Statistics::Int64(ts)) => {
                let i = whole.column(4).as_primitive::<Int64Type>();
                assert_eq!(
                    (i64s.min_opt().copied(), i64s.max_opt().copied()),
                    (i.iter().flatten().min(), i.iter().flatten().max())
                );
                let t = whole.column(6).as_primitive::<TimestampMillisecondType>();
                assert_eq!(
                    (ts.min_opt().copied(), ts.max_opt().copied()),
                    (t.iter().flatten().min(), t.iter().flatten().max())
                );
            }
            other => panic!("{other:?}"),
        }
        match (stats(8), stats(9)) {
            (Statistics::Double(f), Statistics::Boolean(b)) => {
                let values = whole.column(8).as_primitive::<Float64Type>();
                let numbers = || values.iter().flatten().filter(|v| !v.is_nan());
                let (min, max) = (
                    numbers().min_by(f64::total_cmp),
                    numbers().max_by(f64::total_cmp),
                );
                assert_eq!(
                    (
                        f.min_opt().map(|v| v.to_bits()),
                        f.max_opt().map(|v| v.to_bits())
                    ),
                    (min.map(f64::to_bits), max.map(f64::to_bits))
                );
                assert_eq!((b.min_opt(), b.max_opt()), (Some(&false), Some(&true)));
                for c in [8, 9] {
                    let nulls = whole.column(c).null_count() as u64;
                    assert_eq!(stats(c).null_count_opt(), Some(nulls), "column {c}");
                }
            }
            other => panic!("{other:?}"),
        }
        // Only NaN: no min or max. Only false: both false.
        let batch = |f: f64, b: bool| {
            let schema = Arc::new(Schema::new(vec![
                Field::new("f", DataType::Float64, false),
                Field::new("b", DataType::Boolean, false),
            ]));
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Float64Array::from(vec![f; 9])),
                Arc::new(BooleanArray::from(vec![b; 9])),
            ];
            RecordBatch::try_new(schema, columns).unwrap_or_else(|e| panic!("{e}"))
        };
        let file = Bytes::from(
            sink.encode(&[batch(f64::NAN, false)])
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(file).unwrap_or_else(|e| panic!("{e}"));
        let rg = reader.metadata().row_group(0).clone();
        match (rg.column(0).statistics(), rg.column(1).statistics()) {
            (Some(Statistics::Double(f)), Some(Statistics::Boolean(b))) => {
                assert_eq!((f.min_opt(), f.max_opt()), (None, None));
                assert_eq!((b.min_opt(), b.max_opt()), (Some(&false), Some(&false)));
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    /// String lengths go out in DELTA_BINARY_PACKED: pages of 0, 1 and 2 values, a
    /// partly filled miniblock, one block and a value over, and deltas that need wide
    /// miniblocks both ways (empty strings beside 70 000-byte ones) must read back.
    #[test]
    fn string_lengths_read_back_at_block_edges_and_wide_deltas() {
        for n in [0usize, 1, 2, 33, 128, 129, 130, 257] {
            let value = |i: usize| match i % 5 {
                0 => String::new(),
                1 => "w".repeat(70_000 + i),
                2 => format!("{i}"),
                _ => "é".repeat(i % 17),
            };
            let strings = StringArray::from_iter((0..n).map(|i| (i % 7 != 4).then(|| value(i))));
            let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
            let batch = RecordBatch::try_new(schema, vec![Arc::new(strings) as ArrayRef])
                .unwrap_or_else(|e| panic!("{e}"));
            let root = std::env::temp_dir().join(format!("gx-delta-{}-{n}", std::process::id()));
            let sink = ParquetSink::new(&root, 64 << 20)
                .unwrap_or_else(|e| panic!("{e}"))
                .with_string_encoding(StringEncoding::DeltaLength);
            let file = Bytes::from(
                sink.encode(std::slice::from_ref(&batch))
                    .unwrap_or_else(|e| panic!("{e}")),
            );
            let back: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|r| r.build())
                .unwrap_or_else(|e| panic!("{e}"))
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{e}"));
            let back = arrow_select::concat::concat_batches(&batch.schema(), &back)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, batch, "{n} values");
            let _ = std::fs::remove_dir_all(&root);
        }
    }
}
