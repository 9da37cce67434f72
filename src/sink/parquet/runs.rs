//! Column chunks for string columns whose values come in runs: the parent ids that every
//! child row repeats (`conversation_id`, `participant_id`, `session_id` on each segment).
//!
//! Owns only the encoding of one such chunk (dictionary page + one data page) and its
//! metadata; which columns take this path and how chunks join a file is `super`'s choice.
//!
//! Why not parquet-rs: its writer sees rows, not runs. Plain encoding copies ~40 bytes per
//! row for zstd to find the repeat again; its dictionary encoder hashes every row. Either
//! way these columns cost more than the rest of the file (measured on the 138 MB replay:
//! leaving them out took a third off the Parquet half and 20 of 27 MB off the files). Here
//! one pass finds the runs, each run becomes one dictionary entry and one RLE run of its
//! index, and zstd only sees the distinct ids.
//!
//! The layout is standard Parquet: a PLAIN dictionary page, then a v1 data page in
//! RLE_DICTIONARY (bit width byte + RLE runs of the hybrid encoding), no levels because
//! the column is REQUIRED and flat. A value that comes back in a later run gets a second
//! dictionary entry: valid Parquet (readers index the dictionary, they do not require it
//! to be distinct) and rare here, since rows arrive grouped by parent.

use arrow_array::{Array, StringArray};
use parquet::basic::{Compression, Encoding};
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescPtr;

use super::chunk::{
    ChunkInfo, EncodedChunk, assemble, data_page, dictionary_page, head, index_bit_width,
    put_uleb128, same_bytes,
};

/// Rows looked at to decide whether a column comes in runs.
const SAMPLE_ROWS: usize = 1024;

/// Whether `arrays` (one column of consecutive batches) repeats each value over 2 rows or
/// more on average, judged on its first rows: parent ids do from the first row, unique ids
/// never, so a sample decides without a pass over a column that will not use it.
pub fn comes_in_runs(arrays: &[&StringArray]) -> bool {
    let (mut runs, mut rows) = (0, 0);
    let mut last: Option<&[u8]> = None;
    'scan: for array in arrays {
        for i in 0..array.len() {
            let v = array.value(i).as_bytes();
            if last != Some(v) {
                runs += 1;
                last = Some(v);
            }
            rows += 1;
            if rows == SAMPLE_ROWS {
                break 'scan;
            }
        }
    }
    rows > 0 && runs * 2 <= rows
}

/// Encodes `arrays` (one column of consecutive batches, no nulls) as one column chunk
/// described by `descr`, compressed with `compressor` (the file's zstd level).
pub fn encode_chunk(
    descr: ColumnDescPtr,
    arrays: &[&StringArray],
    compression: Compression,
    compressor: &mut zstd::bulk::Compressor<'_>,
) -> Result<EncodedChunk, ParquetError> {
    if descr.max_def_level() != 0 || descr.max_rep_level() != 0 {
        return Err(ParquetError::General(format!(
            "run encoding needs a required flat column, `{}` is not",
            descr.path()
        )));
    }
    // Pass 1: runs → dictionary entries (PLAIN: u32 length + bytes) and run lengths.
    let mut dict = Vec::new();
    let mut run_lens: Vec<u32> = Vec::new();
    let mut rows: usize = 0;
    let mut value_bytes: i64 = 0;
    // Min and max with their first 8 bytes as integers (see `head`).
    let mut min: Option<(u64, &[u8])> = None;
    let mut max: Option<(u64, &[u8])> = None;
    let mut last: Option<&[u8]> = None;
    for array in arrays {
        if array.null_count() > 0 {
            return Err(ParquetError::General(format!(
                "null in required column `{}`",
                descr.path()
            )));
        }
        for i in 0..array.len() {
            let v = array.value(i).as_bytes();
            value_bytes += v.len() as i64;
            if last.is_some_and(|l| same_bytes(l, v)) {
                if let Some(n) = run_lens.last_mut() {
                    *n += 1;
                }
                continue;
            }
            last = Some(v);
            run_lens.push(1);
            dict.extend_from_slice(&(v.len() as u32).to_le_bytes());
            dict.extend_from_slice(v);
            let h = head(v);
            if min.is_none_or(|(mh, m)| h < mh || (h == mh && v < m)) {
                min = Some((h, v));
            }
            if max.is_none_or(|(mh, m)| h > mh || (h == mh && v > m)) {
                max = Some((h, v));
            }
        }
        rows += array.len();
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
    let to_byte_array = |v: Option<(u64, &[u8])>| v.map(|(_, v)| ByteArray::from(v.to_vec()));
    assemble(
        descr,
        pages,
        ChunkInfo {
            compression,
            encodings: vec![Encoding::PLAIN, Encoding::RLE_DICTIONARY],
            rows: rows as u64,
            value_bytes: Some(value_bytes),
            statistics: Statistics::byte_array(
                to_byte_array(min),
                to_byte_array(max),
                None,
                Some(0),
                false,
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_judged_across_batches_on_the_first_rows() {
        let a = StringArray::from(vec!["a", "a", "b"]);
        let b = StringArray::from(vec!["b", "c", "c"]);
        let c = StringArray::from(vec!["x", "y", "z"]);
        // a a b | b c c: 3 runs in 6 rows (a run crosses the batch boundary).
        assert!(comes_in_runs(&[&a, &b]));
        assert!(!comes_in_runs(&[&a, &b, &c]));
        assert!(!comes_in_runs(&[]));
        // Only the sample counts: unique values after it do not change the answer.
        let long = StringArray::from_iter_values((0..SAMPLE_ROWS * 3).map(|i| {
            if i < SAMPLE_ROWS {
                "p".to_string()
            } else {
                i.to_string()
            }
        }));
        assert!(comes_in_runs(&[&long]));
    }
}
