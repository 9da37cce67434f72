//! Column chunks for lists of strings (`division_ids`, `active_skill_ids`,
//! `requested_routings`, …): Arrow `List<Utf8>`, in Parquet the three-level LIST shape
//! (an OPTIONAL group, a REPEATED group, an OPTIONAL string element).
//!
//! Owns the levels, page layout and statistics of such chunks; which columns take this
//! path is `super`'s choice, and `chunk` writes the pages with their headers.
//!
//! Why not parquet-rs: its column writer for these mostly-null columns cost more than the
//! values (a month of replay: ~35 ms for 4 columns, about 2.5% of the run), building the
//! levels value by value through generic level builders and creating a zstd compressor
//! and decompressor per chunk. Here the levels are written straight from the offsets and
//! validity, and the chunk shares the file's compressor.
//!
//! Layout (standard Parquet, v1 pages): `u32` byte length + repetition levels (bit width
//! 1), `u32` byte length + definition levels (bit width 2), both in the RLE/bit-packed
//! hybrid, then the non-null items PLAIN (`u32` length + bytes). One level entry per
//! item, and one for each null or empty list: a null list is definition 0, an empty one
//! 1, a null item 2, an item 3; the first entry of a row has repetition 0, the others 1.
//! Pages hold whole rows.

use arrow_array::cast::AsArray as _;
use arrow_array::{Array, ListArray, StringArray};
use arrow_schema::DataType;
use parquet::basic::{Compression, Encoding};
use parquet::errors::ParquetError;
use parquet::schema::types::ColumnDescPtr;

use super::chunk::{ChunkInfo, EncodedChunk, assemble, data_page, put_hybrid};
use super::flat::StringStats;

/// Uncompressed item bytes aimed at per data page (parquet-rs's default limit).
const PAGE_BYTES: usize = 1 << 20;

/// Definition levels of the LIST shape with an optional list and optional items.
const NULL_LIST: u32 = 0;
const EMPTY_LIST: u32 = 1;
const NULL_ITEM: u32 = 2;
const ITEM: u32 = 3;

/// Whether this module writes columns of Arrow type `ty`: lists of strings.
pub fn supports(ty: &DataType) -> bool {
    matches!(ty, DataType::List(item) if *item.data_type() == DataType::Utf8)
}

/// One page being filled: its levels and its items' PLAIN bytes.
#[derive(Default)]
struct Page {
    rep: Vec<u32>,
    def: Vec<u32>,
    items: Vec<u8>,
}

/// Encodes `arrays` (one column of consecutive batches) as one column chunk described by
/// `descr`, compressed as `compression` says (with `compressor` for zstd).
pub fn encode_chunk(
    descr: ColumnDescPtr,
    arrays: &[&dyn Array],
    compression: Compression,
    compressor: &mut zstd::bulk::Compressor<'_>,
) -> Result<EncodedChunk, ParquetError> {
    let err = |what: &str| ParquetError::General(format!("`{}`: {what}", descr.path()));
    if descr.max_rep_level() != 1 || descr.max_def_level() != i16::try_from(ITEM).unwrap_or(0) {
        return Err(err("not an optional list of optional strings"));
    }
    let lists: Vec<(&ListArray, &StringArray)> = arrays
        .iter()
        .map(|a| {
            let list = a.as_list_opt::<i32>()?;
            Some((list, list.values().as_string_opt::<i32>()?))
        })
        .collect::<Option<_>>()
        .ok_or_else(|| err("arrays of different types"))?;

    let mut stats = StringStats::default();
    // Level entries without an item: null lists, empty lists, null items.
    let mut nulls = 0u64;
    let mut pages = Vec::new();
    let mut page = Page::default();
    let rows: usize = lists.iter().map(|(list, _)| list.len()).sum();
    let mut levels = 0u64;
    for (list, items) in &lists {
        let offsets = list.value_offsets();
        for row in 0..list.len() {
            if list.is_null(row) {
                page.rep.push(0);
                page.def.push(NULL_LIST);
                nulls += 1;
            } else {
                let (lo, hi) = (offsets[row] as usize, offsets[row + 1] as usize);
                if lo == hi {
                    page.rep.push(0);
                    page.def.push(EMPTY_LIST);
                    nulls += 1;
                }
                for i in lo..hi {
                    page.rep.push(u32::from(i > lo));
                    if items.is_null(i) {
                        page.def.push(NULL_ITEM);
                        nulls += 1;
                        continue;
                    }
                    page.def.push(ITEM);
                    let v = items.value(i).as_bytes();
                    page.items
                        .extend_from_slice(&(v.len() as u32).to_le_bytes());
                    page.items.extend_from_slice(v);
                    stats.value_bytes += v.len() as i64;
                    stats.update(v);
                }
            }
            if page.items.len() >= PAGE_BYTES {
                levels += page.def.len() as u64;
                pages.push(finish_page(
                    std::mem::take(&mut page),
                    compression,
                    compressor,
                )?);
            }
        }
    }
    if !page.def.is_empty() || pages.is_empty() {
        levels += page.def.len() as u64;
        pages.push(finish_page(page, compression, compressor)?);
    }
    let (statistics, value_bytes) = stats.finish(nulls);
    assemble(
        descr,
        pages,
        ChunkInfo {
            compression,
            encodings: vec![Encoding::PLAIN, Encoding::RLE],
            rows: rows as u64,
            levels: Some(levels),
            value_bytes,
            statistics,
        },
    )
}

/// The page's body: each level stream behind its `u32` byte length, then the items.
fn finish_page(
    page: Page,
    compression: Compression,
    compressor: &mut zstd::bulk::Compressor<'_>,
) -> Result<parquet::column::page::CompressedPage, ParquetError> {
    let mut body = Vec::with_capacity(page.items.len() + page.def.len() / 2 + 32);
    for (levels, bit_width) in [(&page.rep, 1), (&page.def, 2)] {
        let at = body.len();
        body.extend_from_slice(&[0; 4]);
        put_hybrid(&mut body, levels, bit_width);
        let len = (body.len() - at - 4) as u32;
        body[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    body.extend_from_slice(&page.items);
    data_page(
        body,
        page.def.len(),
        Encoding::PLAIN,
        compression,
        compressor,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{ArrayRef, RecordBatch};
    use arrow_schema::{Field, Schema};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::data_type::ByteArray;
    use parquet::file::reader::{FileReader as _, SerializedFileReader};

    use super::super::ParquetSink;

    /// Rows of every kind: null lists, empty lists, null items, one and several items,
    /// in runs long enough for RLE levels and mixed enough for bit-packed ones.
    fn lists(rows: std::ops::Range<usize>) -> ArrayRef {
        let mut b = ListBuilder::new(StringBuilder::new());
        for i in rows {
            match i % 11 {
                0..=4 => b.append_null(),
                5 => b.append(true),
                6 => {
                    b.values().append_null();
                    b.values().append_value(format!("skill-{}", i % 7));
                    b.append(true);
                }
                _ => {
                    for k in 0..(i % 4) {
                        b.values().append_value(format!("skill-{}", (i + k) % 13));
                    }
                    b.append(true);
                }
            }
        }
        Arc::new(b.finish())
    }

    #[test]
    fn lists_of_strings_read_back_exactly_with_their_statistics() {
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        let schema = Arc::new(Schema::new(vec![Field::new(
            "skills",
            DataType::List(item),
            true,
        )]));
        // The last batch alone holds more than a page of items.
        // Batches of their own, then slices of one at offsets inside its child values.
        let cuts = [0, 7, 8, 3000, 200_000];
        let mut batches: Vec<RecordBatch> = cuts
            .windows(2)
            .map(|w| {
                RecordBatch::try_new(Arc::clone(&schema), vec![lists(w[0]..w[1])])
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let whole = RecordBatch::try_new(Arc::clone(&schema), vec![lists(0..5000)])
            .unwrap_or_else(|e| panic!("{e}"));
        batches.extend([(0, 13), (13, 2500), (2513, 2487)].map(|(at, n)| whole.slice(at, n)));
        let root = std::env::temp_dir().join(format!("gx-lists-{}", std::process::id()));
        let sink = ParquetSink::new(&root, 64 << 20).unwrap_or_else(|e| panic!("{e}"));
        let file = Bytes::from(sink.encode(&batches).unwrap_or_else(|e| panic!("{e}")));
        let reader = ParquetRecordBatchReaderBuilder::try_new(file.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let column = reader.metadata().row_group(0).column(0).clone();
        let pages = SerializedFileReader::new(file.clone())
            .and_then(|r| r.get_row_group(0)?.get_column_page_reader(0))
            .unwrap_or_else(|e| panic!("{e}"))
            .count();
        assert!(pages > 1, "{pages} data pages");
        let back: Vec<RecordBatch> = reader
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        let concat = |b: &[RecordBatch]| {
            arrow_select::concat::concat_batches(&schema, b).unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(concat(&back), concat(&batches));

        // One level entry per item and per null or empty list; those without an item
        // (null lists, empty lists, null items) are the nulls.
        let all = concat(&batches);
        let list = all.column(0).as_list::<i32>();
        let (mut entries, mut nulls) = (0i64, 0u64);
        for row in 0..list.len() {
            let items = if list.is_null(row) {
                0
            } else {
                list.value_length(row)
            };
            entries += i64::from(items.max(1));
            nulls += if items == 0 {
                1
            } else {
                list.value(row).null_count() as u64
            };
        }
        assert_eq!(column.num_values(), entries);
        let Some(parquet::file::statistics::Statistics::ByteArray(s)) = column.statistics() else {
            panic!("no byte-array statistics");
        };
        assert_eq!(
            (
                s.min_opt().map(ByteArray::data),
                s.max_opt().map(ByteArray::data),
                s.null_count_opt()
            ),
            (Some(&b"skill-0"[..]), Some(&b"skill-9"[..]), Some(nulls))
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    use super::*;
}
