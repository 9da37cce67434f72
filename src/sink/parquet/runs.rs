//! Column chunks for columns whose values come in runs: the parent ids that every child
//! row repeats (`conversation_id`, `participant_id`, `session_id` on each segment), and
//! integers in long runs (`_version`, one value per page; `of_integers`, `INTEGER_RUNS`).
//!
//! Owns only the encoding of one such chunk (dictionary page + one data page) and its
//! metadata; which columns take this path and how chunks join a file is `super`'s choice.
//!
//! Why not parquet-rs: its writer sees rows, not runs. Plain encoding copies ~40 bytes per
//! row for zstd to find the repeat again; its dictionary encoder hashes every row. Either
//! way these columns cost more than the rest of the file (measured on the 138 MB replay:
//! leaving them out took a third off the Parquet half and 20 of 27 MB off the files). Here
//! the runs come either from the keys of the transform's parent-id dictionaries
//! (`of_keys`, no value compared) or, for other required strings, from one pass comparing
//! each row with the last (`of_strings`); each run becomes one dictionary entry and one
//! RLE run of its index, and zstd only sees the distinct ids. `Entry` says how a string
//! or an integer is compared, written to the dictionary page and summarised.
//!
//! The layout is standard Parquet: a PLAIN dictionary page, then a v1 data page in
//! RLE_DICTIONARY (bit width byte + RLE runs of the hybrid encoding), no levels because
//! the column is REQUIRED and flat. A value that comes back in a later run gets a second
//! dictionary entry: valid Parquet (readers index the dictionary, they do not require it
//! to be distinct) and rare here, since rows arrive grouped by parent.

use arrow_array::cast::AsArray as _;
use arrow_array::types::{
    ArrowPrimitiveType, Int32Type, Int64Type, TimestampMillisecondType, UInt32Type, UInt64Type,
};
use arrow_array::{Array, DictionaryArray, StringArray};
use arrow_buffer::ToByteSlice as _;
use arrow_schema::{DataType, TimeUnit};
use parquet::basic::{Compression, Encoding};
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescPtr;

use super::chunk::{
    ChunkInfo, EncodedChunk, assemble, data_page, dictionary_page, head, index_bit_width,
    put_uleb128, same_bytes,
};
use super::flat::Integer;

/// Rows looked at to decide whether a column comes in runs.
const SAMPLE_ROWS: usize = 1024;

/// A chunk's values in row order, one `(value, rows)` item per row.
pub fn of_strings<'a>(arrays: &'a [&'a StringArray]) -> impl Iterator<Item = Run<&'a [u8]>> + 'a {
    arrays
        .iter()
        .flat_map(|a| (0..a.len()).map(move |i| (a.value(i).as_bytes(), 1)))
}

/// A chunk of parent ids (`schema::ColumnType::ParentId`) in row order, one item per run
/// of equal keys: the runs are in the keys, no value is compared to find them.
pub fn of_keys<'a>(
    arrays: &'a [&'a DictionaryArray<UInt32Type>],
) -> impl Iterator<Item = Run<&'a [u8]>> + 'a {
    arrays.iter().flat_map(|d| {
        let values = d.values().as_string::<i32>();
        let keys = d.keys().values();
        let mut i = 0;
        std::iter::from_fn(move || {
            let &k = keys.get(i)?;
            let n = keys[i..].iter().take_while(|&&x| x == k).count();
            i += n;
            Some((values.value(k as usize).as_bytes(), n as u32))
        })
    })
}

/// A chunk of integers (the values of arrays without nulls) in row order, one item per
/// run of equal values.
pub fn of_integers<'a, N: Integer>(parts: &'a [&'a [N]]) -> impl Iterator<Item = Run<N>> + 'a {
    parts.iter().flat_map(|values| {
        let mut i = 0;
        std::iter::from_fn(move || {
            let &v = values.get(i)?;
            let n = values[i..].iter().take_while(|&&x| x == v).count();
            i += n;
            Some((v, n as u32))
        })
    })
}

/// A value and the number of consecutive rows holding it.
pub type Run<V> = (V, u32);

/// A value of a run-encoded column: how runs compare, how a dictionary entry is written
/// (PLAIN), and what the chunk's statistics say.
pub trait Entry: Copy {
    /// Running min and max.
    type Stats: Default;
    fn same(self, other: Self) -> bool;
    fn put(self, dict: &mut Vec<u8>);
    fn update(stats: &mut Self::Stats, v: Self);
    fn statistics(stats: Self::Stats) -> Statistics;
    /// Whether the column is a byte array, whose chunk metadata counts its values' bytes.
    const BYTE_ARRAY: bool;
    /// Bytes of the value for `unencoded_byte_array_data_bytes` (byte arrays only).
    fn byte_len(self) -> usize;
}

/// Strings: a `u32` length and the bytes; min and max ordered as bytes, with their first
/// 8 bytes as integers (see `head`) so that most comparisons are one.
impl<'a> Entry for &'a [u8] {
    type Stats = Option<((u64, &'a [u8]), (u64, &'a [u8]))>;

    #[inline]
    fn same(self, other: Self) -> bool {
        same_bytes(self, other)
    }

    fn put(self, dict: &mut Vec<u8>) {
        dict.extend_from_slice(&(self.len() as u32).to_le_bytes());
        dict.extend_from_slice(self);
    }

    fn update(stats: &mut Self::Stats, v: Self) {
        let h = (head(v), v);
        *stats = Some(match *stats {
            None => (h, h),
            Some((min, max)) => (min.min(h), max.max(h)),
        });
    }

    fn statistics(stats: Self::Stats) -> Statistics {
        let bytes = |v: &[u8]| ByteArray::from(v.to_vec());
        Statistics::byte_array(
            stats.map(|s| bytes(s.0.1)),
            stats.map(|s| bytes(s.1.1)),
            None,
            Some(0),
            false,
        )
    }

    const BYTE_ARRAY: bool = true;

    fn byte_len(self) -> usize {
        self.len()
    }
}

/// Integers: little-endian, as PLAIN stores them.
impl<N: Integer> Entry for N {
    type Stats = Option<(N, N)>;

    #[inline]
    fn same(self, other: Self) -> bool {
        self == other
    }

    fn put(self, dict: &mut Vec<u8>) {
        dict.extend_from_slice(std::slice::from_ref(&self).to_byte_slice());
    }

    fn update(stats: &mut Self::Stats, v: Self) {
        *stats = Some(match *stats {
            None => (v, v),
            Some((min, max)) => (min.min(v), max.max(v)),
        });
    }

    fn statistics(stats: Self::Stats) -> Statistics {
        N::statistics(stats.map(|s| s.0), stats.map(|s| s.1), 0)
    }

    const BYTE_ARRAY: bool = false;

    fn byte_len(self) -> usize {
        0
    }
}

/// Whether a chunk (`runs`: its rows in order, see `of_strings` / `of_keys` /
/// `of_integers`) repeats each value over `rows_per_value` rows or more on average,
/// judged on its first rows: parent ids do from the first row, unique ids never, so a
/// sample decides without a pass over a column that will not use it.
pub fn comes_in_runs<V: Entry>(runs: impl Iterator<Item = Run<V>>, rows_per_value: usize) -> bool {
    let (mut count, mut rows) = (0, 0);
    let mut last: Option<V> = None;
    for (v, n) in runs {
        if !last.is_some_and(|l| l.same(v)) {
            count += 1;
            last = Some(v);
        }
        rows += (n as usize).min(SAMPLE_ROWS - rows);
        if rows == SAMPLE_ROWS {
            break;
        }
    }
    rows > 0 && count * rows_per_value <= rows
}

/// Rows per value from which a string column is written as the dictionary of its runs.
pub const STRING_RUNS: usize = 2;

/// Rows per value from which an integer column is. Integers that repeat less, such as a
/// conversation's start on each of its participants or metrics (3 to 11 rows), stay
/// PLAIN: zstd finds those repeats in the sorted values, and a dictionary of the starts
/// came out 55-80% larger (a month's files +1%). What this catches is `_version`, one
/// value per page: its 8 bytes per row were copied and compressed for nothing.
pub const INTEGER_RUNS: usize = 64;

/// A chunk of a REQUIRED integer or timestamp column whose values come in long runs
/// (`INTEGER_RUNS`: a page's `_version`), encoded as the dictionary of its runs; `None`
/// when the column is not such a chunk (nulls, other types, values that do not repeat
/// enough), for the caller to encode flat.
pub fn encode_integers(
    descr: &ColumnDescPtr,
    arrays: &[&dyn Array],
    compression: Compression,
    compressor: &mut zstd::bulk::Compressor<'_>,
) -> Result<Option<EncodedChunk>, ParquetError> {
    fn typed<T: ArrowPrimitiveType>(
        descr: &ColumnDescPtr,
        arrays: &[&dyn Array],
        compression: Compression,
        compressor: &mut zstd::bulk::Compressor<'_>,
    ) -> Result<Option<EncodedChunk>, ParquetError>
    where
        T::Native: Integer,
    {
        let parts: Option<Vec<&[T::Native]>> = arrays
            .iter()
            .map(|a| {
                a.as_primitive_opt::<T>()
                    .filter(|p| p.null_count() == 0)
                    .map(|p| &p.values()[..])
            })
            .collect();
        let Some(parts) = parts else {
            return Ok(None);
        };
        if !comes_in_runs(of_integers(&parts), INTEGER_RUNS) {
            return Ok(None);
        }
        encode_chunk(descr.clone(), of_integers(&parts), compression, compressor).map(Some)
    }
    if descr.max_def_level() != 0 || descr.max_rep_level() != 0 {
        return Ok(None);
    }
    let Some(first) = arrays.first() else {
        return Ok(None);
    };
    match first.data_type() {
        DataType::Int32 => typed::<Int32Type>(descr, arrays, compression, compressor),
        DataType::UInt32 => typed::<UInt32Type>(descr, arrays, compression, compressor),
        DataType::Int64 => typed::<Int64Type>(descr, arrays, compression, compressor),
        DataType::UInt64 => typed::<UInt64Type>(descr, arrays, compression, compressor),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            typed::<TimestampMillisecondType>(descr, arrays, compression, compressor)
        }
        _ => Ok(None),
    }
}

/// Encodes a chunk given as `runs` (see `of_strings` / `of_keys` / `of_integers`; no
/// nulls) as one column chunk described by `descr`, compressed with `compressor` (the
/// file's zstd level). Consecutive runs of equal values, as at a batch boundary, become
/// one.
pub fn encode_chunk<V: Entry>(
    descr: ColumnDescPtr,
    runs: impl Iterator<Item = Run<V>>,
    compression: Compression,
    compressor: &mut zstd::bulk::Compressor<'_>,
) -> Result<EncodedChunk, ParquetError> {
    if descr.max_def_level() != 0 || descr.max_rep_level() != 0 {
        return Err(ParquetError::General(format!(
            "run encoding needs a required flat column, `{}` is not",
            descr.path()
        )));
    }
    // Pass 1: runs → dictionary entries (PLAIN) and run lengths.
    let mut dict = Vec::new();
    let mut run_lens: Vec<u32> = Vec::new();
    let mut rows: usize = 0;
    let mut value_bytes: i64 = 0;
    let mut stats = V::Stats::default();
    let mut last: Option<V> = None;
    for (v, n) in runs {
        rows += n as usize;
        value_bytes += v.byte_len() as i64 * i64::from(n);
        if last.is_some_and(|l| l.same(v)) {
            if let Some(len) = run_lens.last_mut() {
                *len += n;
            }
            continue;
        }
        last = Some(v);
        run_lens.push(n);
        v.put(&mut dict);
        V::update(&mut stats, v);
    }
    let entries = run_lens.len();

    // Pass 2: the data page, one RLE run per value run: ULEB128(len << 1), then the entry
    // index little-endian in ceil(bit_width / 8) bytes.
    let bit_width = index_bit_width(entries);
    let index_bytes = bit_width.div_ceil(8) as usize;
    let mut data = Vec::with_capacity(1 + entries * (index_bytes + 3));
    data.push(bit_width as u8);
    for (index, len) in run_lens.iter().enumerate() {
        put_uleb128(&mut data, u64::from(*len) << 1);
        data.extend_from_slice(&(index as u32).to_le_bytes()[..index_bytes]);
    }

    let pages = vec![
        dictionary_page(dict, entries, compression, compressor)?,
        data_page(
            data,
            rows,
            Encoding::RLE_DICTIONARY,
            compression,
            compressor,
        )?,
    ];
    assemble(
        descr,
        pages,
        ChunkInfo {
            compression,
            encodings: vec![Encoding::PLAIN, Encoding::RLE_DICTIONARY],
            rows: rows as u64,
            levels: None,
            value_bytes: V::BYTE_ARRAY.then_some(value_bytes),
            statistics: V::statistics(stats),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parent ids as the transform builds them: a dictionary of the runs and a key per
    /// row, plus an entry no key uses (a split by day leaves such entries behind).
    fn parents(rows: &[&str], unused: &str) -> DictionaryArray<UInt32Type> {
        let mut values: Vec<&str> = Vec::new();
        let mut keys = Vec::new();
        for v in rows {
            if values.last() != Some(v) {
                values.push(v);
            }
            keys.push(values.len() as u32 - 1);
        }
        values.push(unused);
        DictionaryArray::new(
            arrow_array::UInt32Array::from(keys),
            std::sync::Arc::new(StringArray::from(values)),
        )
    }

    #[test]
    fn runs_from_keys_encode_exactly_as_runs_found_in_strings() {
        let batches: [&[&str]; 3] = [&["a", "a", "b"], &["b", "b", "c", "d", "d"], &["d"]];
        let dicts: Vec<_> = batches.iter().map(|b| parents(b, "zz-unused")).collect();
        let dict_refs: Vec<&DictionaryArray<UInt32Type>> = dicts.iter().collect();
        let strings: Vec<StringArray> = batches
            .iter()
            .map(|b| StringArray::from(b.to_vec()))
            .collect();
        let string_refs: Vec<&StringArray> = strings.iter().collect();
        assert_eq!(
            of_keys(&dict_refs).collect::<Vec<_>>(),
            vec![
                (&b"a"[..], 2),
                (b"b", 1),
                (b"b", 2),
                (b"c", 1),
                (b"d", 2),
                (b"d", 1)
            ]
        );
        assert_eq!(
            comes_in_runs(of_keys(&dict_refs), STRING_RUNS),
            comes_in_runs(of_strings(&string_refs), STRING_RUNS)
        );
        let descr = std::sync::Arc::new(parquet::schema::types::ColumnDescriptor::new(
            std::sync::Arc::new(
                parquet::schema::types::Type::primitive_type_builder(
                    "id",
                    parquet::basic::Type::BYTE_ARRAY,
                )
                .with_repetition(parquet::basic::Repetition::REQUIRED)
                .with_logical_type(Some(parquet::basic::LogicalType::String))
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
            ),
            0,
            0,
            parquet::schema::types::ColumnPath::from("id"),
        ));
        let mut zstd = zstd::bulk::Compressor::new(1).unwrap_or_else(|e| panic!("{e}"));
        let mut encode = |runs: Vec<Run<&[u8]>>| {
            encode_chunk(
                descr.clone(),
                runs.into_iter(),
                Compression::UNCOMPRESSED,
                &mut zstd,
            )
            .unwrap_or_else(|e| panic!("{e}"))
            .bytes
        };
        let from_keys = encode(of_keys(&dict_refs).collect());
        let from_strings = encode(of_strings(&string_refs).collect());
        assert_eq!(from_keys, from_strings);
        // 4 runs (a, b, c, d): the unused entry is not in the dictionary page.
        assert!(!from_keys.windows(9).any(|w| w == b"zz-unused"));
    }

    #[test]
    fn runs_are_judged_across_batches_on_the_first_rows() {
        let a = StringArray::from(vec!["a", "a", "b"]);
        let b = StringArray::from(vec!["b", "c", "c"]);
        let c = StringArray::from(vec!["x", "y", "z"]);
        // a a b | b c c: 3 runs in 6 rows (a run crosses the batch boundary).
        assert!(comes_in_runs(of_strings(&[&a, &b]), STRING_RUNS));
        assert!(!comes_in_runs(of_strings(&[&a, &b, &c]), STRING_RUNS));
        assert!(!comes_in_runs(of_strings(&[]), STRING_RUNS));
        // Only the sample counts: unique values after it do not change the answer.
        let long = StringArray::from_iter_values((0..SAMPLE_ROWS * 3).map(|i| {
            if i < SAMPLE_ROWS {
                "p".to_string()
            } else {
                i.to_string()
            }
        }));
        assert!(comes_in_runs(of_strings(&[&long]), STRING_RUNS));
    }
}
