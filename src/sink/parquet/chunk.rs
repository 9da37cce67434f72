//! Column chunks this sink encodes itself (`runs`, `flat`, `dict`): those modules build
//! the pages; this one writes them with their headers and describes the chunk, so that
//! `SerializedRowGroupWriter::append_column` can put it in a file. It also holds what
//! they share: definition levels from a validity bitmap, run-header varints, compression.
//!
//! Owns the chunk's metadata: sizes and offsets from the written pages, encodings, page
//! encoding counts, statistics. Must not choose a column's encoding.

use std::sync::Arc;

use arrow_array::Array;
use arrow_buffer::{BooleanBuffer, BooleanBufferBuilder};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriter as _};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// One encoded column chunk, ready for `SerializedRowGroupWriter::append_column`.
pub struct EncodedChunk {
    pub bytes: Bytes,
    pub close: ColumnCloseResult,
}

/// What the chunk's metadata says besides its pages.
pub struct ChunkInfo {
    pub compression: Compression,
    /// Every encoding used in the chunk: values, dictionary, levels.
    pub encodings: Vec<Encoding>,
    /// Rows, nulls included.
    pub rows: u64,
    /// Values counted in the chunk's `num_values` when that is not `rows`: the level
    /// entries of a repeated column (one per list item, empty or null list).
    pub levels: Option<u64>,
    /// For byte-array columns: the bytes of all values before any encoding.
    pub value_bytes: Option<i64>,
    pub statistics: Statistics,
}

/// Writes `pages` (a dictionary page, if any, first) and builds the chunk's metadata.
pub fn assemble(
    descr: ColumnDescPtr,
    pages: Vec<CompressedPage>,
    info: ChunkInfo,
) -> Result<EncodedChunk, ParquetError> {
    let body: usize = pages.iter().map(CompressedPage::compressed_size).sum();
    let mut sink = TrackedWrite::new(Vec::with_capacity(body + 64 * pages.len()));
    let mut writer = SerializedPageWriter::new(&mut sink);
    let (mut compressed, mut uncompressed) = (0i64, 0i64);
    let (mut dictionary_offset, mut data_offset) = (None, None);
    let mut counts: Vec<PageEncodingStats> = Vec::new();
    for page in pages {
        let encoding = page.encoding();
        let spec = writer.write_page(page)?;
        compressed += spec.compressed_size as i64;
        uncompressed += spec.uncompressed_size as i64;
        match spec.page_type {
            PageType::DICTIONARY_PAGE => dictionary_offset = Some(spec.offset as i64),
            _ => {
                data_offset.get_or_insert(spec.offset as i64);
            }
        }
        match counts
            .iter_mut()
            .find(|c| c.page_type == spec.page_type && c.encoding == encoding)
        {
            Some(c) => c.count += 1,
            None => counts.push(PageEncodingStats {
                page_type: spec.page_type,
                encoding,
                count: 1,
            }),
        }
    }
    writer.close()?;
    let bytes = Bytes::from(sink.into_inner()?);
    let data_offset = data_offset
        .ok_or_else(|| ParquetError::General(format!("no data page for `{}`", descr.path())))?;
    let metadata = ColumnChunkMetaData::builder(Arc::clone(&descr))
        .set_compression(info.compression)
        .set_encodings(info.encodings)
        .set_page_encoding_stats(counts)
        .set_num_values(info.levels.unwrap_or(info.rows) as i64)
        .set_total_compressed_size(compressed)
        .set_total_uncompressed_size(uncompressed)
        .set_dictionary_page_offset(dictionary_offset)
        .set_data_page_offset(data_offset)
        .set_unencoded_byte_array_data_bytes(info.value_bytes)
        .set_statistics(info.statistics)
        .build()?;
    Ok(EncodedChunk {
        close: ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: info.rows,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        },
        bytes,
    })
}

/// Rows and nulls of a flat column chunk made of `arrays`, and whether it is OPTIONAL;
/// an error for a nested column or a null in a REQUIRED one.
pub fn flat_shape(
    descr: &ColumnDescPtr,
    arrays: &[&dyn Array],
) -> Result<(bool, usize, usize), ParquetError> {
    let err = |what: &str| ParquetError::General(format!("`{}`: {what}", descr.path()));
    if descr.max_rep_level() != 0 || descr.max_def_level() > 1 {
        return Err(err("not a flat column"));
    }
    let optional = descr.max_def_level() == 1;
    let rows: usize = arrays.iter().map(|a| a.len()).sum();
    let nulls: usize = arrays.iter().map(|a| a.null_count()).sum();
    if !optional && nulls > 0 {
        return Err(err("null in a required column"));
    }
    Ok((optional, rows, nulls))
}

/// A v1 data page of `rows` rows whose uncompressed content is `body` (levels, then
/// values in `encoding`).
pub fn data_page(
    body: Vec<u8>,
    rows: usize,
    encoding: Encoding,
    compression: Compression,
    compressor: &mut zstd::bulk::Compressor<'_>,
) -> Result<CompressedPage, ParquetError> {
    let len = body.len();
    Ok(CompressedPage::new(
        Page::DataPage {
            buf: compress(body, compression, compressor)?,
            num_values: rows as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        },
        len,
    ))
}

/// A PLAIN dictionary page of `entries` values whose encoding (`u32` length + bytes each)
/// is `body`.
pub fn dictionary_page(
    body: Vec<u8>,
    entries: usize,
    compression: Compression,
    compressor: &mut zstd::bulk::Compressor<'_>,
) -> Result<CompressedPage, ParquetError> {
    let len = body.len();
    Ok(CompressedPage::new(
        Page::DictionaryPage {
            buf: compress(body, compression, compressor)?,
            num_values: entries as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        },
        len,
    ))
}

/// Bits per index into a dictionary of `entries` values (at least 1).
pub fn index_bit_width(entries: usize) -> u32 {
    (usize::BITS - entries.saturating_sub(1).leading_zeros()).max(1)
}

/// `buf` zstd-compressed with `compressor` (the file's level), or as it is.
pub fn compress(
    buf: Vec<u8>,
    compression: Compression,
    compressor: &mut zstd::bulk::Compressor<'_>,
) -> Result<Bytes, ParquetError> {
    Ok(match compression {
        Compression::UNCOMPRESSED => Bytes::from(buf),
        _ => Bytes::from(compressor.compress(&buf)?),
    })
}

/// ULEB128, the varint of RLE/bit-packed run headers.
pub fn put_uleb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The first 8 bytes of `v`, zero-padded, as a big-endian integer: comparing two heads
/// orders the values whenever the heads differ.
#[inline]
pub fn head(v: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = v.len().min(8);
    buf[..n].copy_from_slice(&v[..n]);
    u64::from_be_bytes(buf)
}

/// Whether `a == b`, compared 8 bytes at a time in line: run detection compares every
/// row's id with the last one, and a `bcmp` call per row showed in perf.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// `groups` groups of 8 values at `bit_width` bits each, least significant bit first;
/// missing values of the last group are zeros. (The bit-packed runs of the hybrid
/// encoding and the miniblocks of DELTA_BINARY_PACKED share this layout.)
pub fn bit_pack(out: &mut Vec<u8>, values: &[u32], groups: usize, bit_width: u32) {
    let (mut acc, mut bits) = (0u64, 0u32);
    for k in 0..groups * 8 {
        acc |= u64::from(values.get(k).copied().unwrap_or(0)) << bits;
        bits += bit_width;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
}

/// Appends `values` (each below `1 << bit_width`) in the RLE/bit-packed hybrid encoding:
/// a run of 8 or more equal values is one RLE run; other values are bit-packed in groups
/// of 8 (the last group padded with zeros) until a group boundary where such a run
/// starts.
pub fn put_hybrid(out: &mut Vec<u8>, values: &[u32], bit_width: u32) {
    let n = values.len();
    let value_bytes = bit_width.div_ceil(8) as usize;
    let run_at = |i: usize| {
        let v = values[i];
        values[i..].iter().take_while(|x| **x == v).count()
    };
    let mut i = 0;
    while i < n {
        let run = run_at(i);
        if run >= 8 {
            put_uleb128(out, (run as u64) << 1);
            out.extend_from_slice(&values[i].to_le_bytes()[..value_bytes]);
            i += run;
            continue;
        }
        let start = i;
        loop {
            i += 8;
            if i >= n || run_at(i) >= 8 {
                break;
            }
        }
        let end = i.min(n);
        put_uleb128(out, ((((i - start) / 8) as u64) << 1) | 1);
        bit_pack(out, &values[start..end], (i - start) / 8, bit_width);
        i = end;
    }
}

/// Values per DELTA_BINARY_PACKED block, and miniblocks per block (32 values each): the
/// sizes parquet-rs and Arrow C++ write.
const DELTA_BLOCK: usize = 128;
const DELTA_MINIBLOCKS: usize = 4;

/// `values` in DELTA_BINARY_PACKED: a header (block size, miniblocks per block, count,
/// first value), then per block of 128 deltas their minimum and, per miniblock of 32,
/// a bit width and the deltas less the minimum, bit-packed. Lengths of equal-length
/// strings (ids) cost 5 bytes per 128 values: a zero minimum and four zero widths.
pub fn put_delta_binary_packed(out: &mut Vec<u8>, values: &[i32]) {
    let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    put_uleb128(out, DELTA_BLOCK as u64);
    put_uleb128(out, DELTA_MINIBLOCKS as u64);
    put_uleb128(out, values.len() as u64);
    put_uleb128(out, zigzag(values.first().map_or(0, |&v| i64::from(v))));
    let mini = DELTA_BLOCK / DELTA_MINIBLOCKS;
    let mut adjusted = [0u32; DELTA_BLOCK];
    let deltas = values.len().saturating_sub(1);
    let mut start = 0;
    while start < deltas {
        let end = (start + DELTA_BLOCK).min(deltas);
        let block = (start..end).map(|i| i64::from(values[i + 1]) - i64::from(values[i]));
        let (min, max) = block
            .clone()
            .fold((i64::MAX, i64::MIN), |(lo, hi), d| (lo.min(d), hi.max(d)));
        put_uleb128(out, zigzag(min));
        if min == max {
            // Equal deltas (ids all of one length): every miniblock has width 0, no bytes.
            out.extend_from_slice(&[0; DELTA_MINIBLOCKS]);
            start = end;
            continue;
        }
        for (a, d) in adjusted.iter_mut().zip(block) {
            // Two i32s differ by less than 2^32: the adjusted delta fits a u32.
            *a = (d - min) as u32;
        }
        let used = &adjusted[..end - start];
        let mut widths = [0u32; DELTA_MINIBLOCKS];
        for (w, part) in widths.iter_mut().zip(used.chunks(mini)) {
            *w = u32::BITS - part.iter().max().copied().unwrap_or(0).leading_zeros();
        }
        out.extend(widths.iter().map(|&w| w as u8));
        // Miniblocks past the last value have no bytes; the last one is padded to 32.
        for (part, &w) in used.chunks(mini).zip(&widths) {
            bit_pack(out, part, mini / 8, w);
        }
        start = end;
    }
}

/// The validity of consecutive arrays of `rows` rows in all, as one bitmap at offset 0:
/// pages cut at multiples of 8 rows take whole bytes of it.
pub fn validity(arrays: &[&dyn Array], rows: usize) -> BooleanBuffer {
    let mut b = BooleanBufferBuilder::new(rows);
    for a in arrays {
        match a.nulls() {
            Some(n) => b.append_buffer(n.inner()),
            None => b.append_n(a.len(), true),
        }
    }
    b.finish()
}

/// Definition levels of rows `[start, end)` (`start` a multiple of 8): their byte length,
/// then one RLE run when all rows agree, else one bit-packed run of the bitmap's bytes.
pub fn write_levels(validity: &BooleanBuffer, start: usize, end: usize, out: &mut Vec<u8>) {
    debug_assert!(start.is_multiple_of(8));
    let n = end - start;
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let valid = validity.slice(start, n).count_set_bits();
    if valid == n || valid == 0 {
        put_uleb128(out, (n as u64) << 1);
        out.push(u8::from(valid == n));
    } else {
        let groups = n.div_ceil(8);
        put_uleb128(out, ((groups as u64) << 1) | 1);
        let bytes = &validity.values()[start / 8..start / 8 + groups];
        out.extend_from_slice(bytes);
        if !n.is_multiple_of(8)
            && let Some(last) = out.last_mut()
        {
            // Bits past the last row are padding: zero, as writers leave them.
            *last &= (1u8 << (n % 8)) - 1;
        }
    }
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_runs_are_rle_and_the_rest_bit_packed() {
        let mut out = Vec::new();
        // 1 2 3 then nine 7s: one bit-packed group (1 2 3 7 7 7 7 7), then 4 more 7s are
        // too few for a run: a second, padded group.
        put_hybrid(&mut out, &[1, 2, 3, 7, 7, 7, 7, 7, 7, 7, 7, 7], 3);
        assert_eq!(out[0], (2 << 1) | 1);
        assert_eq!(out.len(), 1 + 2 * 3);
        out.clear();
        put_hybrid(&mut out, &[5; 300], 3);
        assert_eq!(out, [0xd8, 0x04, 5], "one RLE run of 300 (ULEB128 600)");
    }

    #[test]
    fn levels_are_one_run_when_rows_agree_and_the_bitmap_otherwise() {
        let bits = BooleanBuffer::from((0..20).map(|i| i != 9 && i < 17).collect::<Vec<bool>>());
        let mut out = Vec::new();
        write_levels(&bits, 0, 8, &mut out);
        assert_eq!(
            out,
            [2, 0, 0, 0, 8 << 1, 1],
            "8 valid rows: one RLE run of 1"
        );
        out.clear();
        write_levels(&bits, 8, 20, &mut out);
        // Rows 8..20: valid, null, valid ×7, null ×3 → 2 groups bit-packed.
        assert_eq!(out, [3, 0, 0, 0, (2 << 1) | 1, 0b1111_1101, 0b0000_0001]);
    }

    #[test]
    fn same_bytes_is_slice_equality_for_every_length_and_differing_byte() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| i as u8).collect();
            assert!(same_bytes(&a, &a.clone()), "{n} bytes");
            assert!(!same_bytes(&a, &a[..n.saturating_sub(1)]) || n == 0);
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x40;
                assert!(!same_bytes(&a, &b), "{n} bytes, byte {at} differs");
            }
        }
    }
}
