//! Column chunks for API enumerations (`media_type`, `purpose`, `segment_type`, …): Arrow
//! dictionaries of strings, written as Parquet dictionary pages from the dictionary the
//! transform already built. Labels (queue, agent, flow ids…) take the same path.
//!
//! Owns the dictionary page, the index encoding and the statistics of such chunks; which
//! columns take this path is `super`'s choice, and `chunk` writes the pages.
//!
//! Why not parquet-rs: it turns the dictionary back into strings and interns every row
//! again with a hash. Here the batches' dictionaries are merged once per batch entry
//! (a hash lookup per entry, not per row), each row's key is mapped
//! through a table, and the indexes go out in the RLE/bit-packed hybrid encoding: runs of
//! 8 or more equal indexes as one RLE run, the rest bit-packed in groups of 8.
//!
//! Layout (standard Parquet): a PLAIN dictionary page of the values the chunk uses, in
//! order of first use, then v1 data pages: definition levels (OPTIONAL columns), the
//! index bit width as one byte, the indexes of the non-null rows.

use arrow_array::cast::AsArray as _;
use arrow_array::types::Int32Type;
use arrow_array::{Array, DictionaryArray};
use arrow_schema::DataType;
use parquet::basic::{Compression, Encoding};
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescPtr;

use super::chunk::{
    ChunkInfo, EncodedChunk, assemble, data_page, dictionary_page, flat_shape, index_bit_width,
    put_hybrid, validity, write_levels,
};

/// Rows per data page: indexes are a few bits each, so pages stay small anyway.
const PAGE_ROWS: usize = 1 << 20;

/// Whether this module writes columns of Arrow type `ty`: the transform's enumerations.
pub fn supports(ty: &DataType) -> bool {
    matches!(ty, DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8)
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
    let (optional, rows, nulls) = flat_shape(&descr, arrays)?;

    // The chunk's dictionary, and each non-null row's index into it.
    let mut entries: Vec<&[u8]> = Vec::new();
    // Each batch's entry is looked up once (then `remap` has it): a map, since labels
    // bring hundreds of entries per batch where enumerations bring a handful.
    let mut positions: std::collections::HashMap<&[u8], u32> = std::collections::HashMap::new();
    let mut indexes: Vec<u32> = Vec::with_capacity(rows - nulls);
    for array in arrays {
        let dict: &DictionaryArray<Int32Type> = array
            .as_dictionary_opt()
            .ok_or_else(|| err("not a dictionary of Int32 keys"))?;
        let values = dict
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| err("dictionary values are not strings"))?;
        // This batch's entry → the chunk's, filled on first use.
        let mut remap = vec![u32::MAX; values.len()];
        let keys = dict.keys();
        let mut push = |k: i32| -> Result<(), ParquetError> {
            let k = usize::try_from(k).map_err(|_| err("negative dictionary key"))?;
            let slot = remap
                .get_mut(k)
                .ok_or_else(|| err("key past the dictionary"))?;
            if *slot == u32::MAX {
                let v = values.value(k).as_bytes();
                *slot = *positions.entry(v).or_insert_with(|| {
                    entries.push(v);
                    (entries.len() - 1) as u32
                });
            }
            indexes.push(*slot);
            Ok(())
        };
        match keys.nulls().filter(|n| n.null_count() > 0) {
            None => keys.values().iter().try_for_each(|k| push(*k))?,
            Some(n) => n.valid_indices().try_for_each(|i| push(keys.values()[i]))?,
        }
    }
    let bit_width = index_bit_width(entries.len());

    let mut dictionary = Vec::with_capacity(entries.iter().map(|e| e.len() + 4).sum());
    for e in &entries {
        dictionary.extend_from_slice(&(e.len() as u32).to_le_bytes());
        dictionary.extend_from_slice(e);
    }
    let mut pages = vec![dictionary_page(
        dictionary,
        entries.len(),
        compression,
        compressor,
    )?];

    let validity = optional.then(|| validity(arrays, rows));
    let (mut start, mut first_index) = (0, 0);
    while start < rows || pages.len() == 1 {
        let end = (start + PAGE_ROWS).min(rows);
        let valid = validity.as_ref().map_or(end - start, |v| {
            v.slice(start, end - start).count_set_bits()
        });
        let page_indexes = &indexes[first_index..first_index + valid];
        first_index += valid;
        let mut body = Vec::with_capacity(16 + (end - start) / 8 + page_indexes.len());
        if let Some(validity) = &validity {
            write_levels(validity, start, end, &mut body);
        }
        body.push(bit_width as u8);
        put_hybrid(&mut body, page_indexes, bit_width);
        pages.push(data_page(
            body,
            end - start,
            Encoding::RLE_DICTIONARY,
            compression,
            compressor,
        )?);
        start = end;
    }

    let min = entries.iter().min().map(|v| ByteArray::from(v.to_vec()));
    let max = entries.iter().max().map(|v| ByteArray::from(v.to_vec()));
    let value_bytes: usize = indexes.iter().map(|i| entries[*i as usize].len()).sum();
    assemble(
        descr,
        pages,
        ChunkInfo {
            compression,
            encodings: if optional {
                vec![Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY]
            } else {
                vec![Encoding::PLAIN, Encoding::RLE_DICTIONARY]
            },
            rows: rows as u64,
            levels: None,
            value_bytes: Some(value_bytes as i64),
            statistics: Statistics::byte_array(min, max, None, Some(nulls as u64), false),
        },
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};
    use arrow_schema::{Field, Schema};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use proptest::prelude::*;

    use super::super::ParquetSink;
    use super::*;

    fn enum_type() -> DataType {
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
    }

    /// One batch: its own dictionary (`names`, some never used) and keys into it.
    fn batch(schema: &Arc<Schema>, names: &[&str], keys: Vec<Option<i32>>) -> RecordBatch {
        let column: ArrayRef = Arc::new(
            DictionaryArray::<Int32Type>::try_new(
                Int32Array::from(keys),
                Arc::new(StringArray::from(names.to_vec())),
            )
            .unwrap_or_else(|e| panic!("{e}")),
        );
        RecordBatch::try_new(Arc::clone(schema), vec![column]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Writes `batches`, reads them back, and returns (written, read) as plain strings.
    fn round_trip(batches: &[RecordBatch]) -> (Vec<Option<String>>, Vec<Option<String>>, Bytes) {
        let root = std::env::temp_dir().join(format!("gx-dict-{}", std::process::id()));
        let sink = ParquetSink::new(&root, 64 << 20).unwrap_or_else(|e| panic!("{e}"));
        let file = Bytes::from(sink.encode(batches).unwrap_or_else(|e| panic!("{e}")));
        let strings = |batches: &[RecordBatch]| -> Vec<Option<String>> {
            batches
                .iter()
                .flat_map(|b| {
                    let d = b.column(0).as_dictionary::<Int32Type>();
                    let v = d.values().as_string::<i32>();
                    d.keys()
                        .iter()
                        .map(|k| k.map(|k| v.value(k as usize).to_string()))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let back: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file.clone())
            .unwrap_or_else(|e| panic!("{e}"))
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        (strings(batches), strings(&back), file)
    }

    #[test]
    fn enumerations_read_back_with_merged_dictionaries_and_statistics() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "media_type",
            enum_type(),
            true,
        )]));
        // Two batches with their own dictionaries in other orders, an unused entry, long
        // runs, alternations and nulls.
        let mut keys = vec![Some(0); 20];
        keys.extend((0..37).map(|i| (i % 5 != 4).then_some(i % 3)));
        let first = batch(&schema, &["voice", "chat", "email"], keys);
        let second = batch(
            &schema,
            &["unused", "email", "callback"],
            (0..1001)
                .map(|i| Some(if i < 500 { 1 } else { 2 }))
                .collect(),
        );
        let (written, read, file) = round_trip(&[first, second]);
        assert_eq!(read, written);
        let meta = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap_or_else(|e| panic!("{e}"))
            .metadata()
            .clone();
        let column = meta.row_group(0).column(0);
        match column.statistics() {
            Some(Statistics::ByteArray(s)) => {
                assert_eq!(
                    (
                        s.min_opt().map(ByteArray::data),
                        s.max_opt().map(ByteArray::data),
                        s.null_count_opt()
                    ),
                    (Some(&b"callback"[..]), Some(&b"voice"[..]), Some(7)),
                    "over the values used, not the unused entry"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_keys_and_nulls_read_back(
            runs in prop::collection::vec((0i32..40, 1usize..30, prop::bool::weighted(0.2)), 1..60),
            required in prop::bool::ANY,
        ) {
            let schema = Arc::new(Schema::new(vec![Field::new("e", enum_type(), !required)]));
            let names: Vec<String> = (0..40).map(|i| format!("v{i:02}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let keys: Vec<Option<i32>> = runs
                .iter()
                .flat_map(|&(k, n, null)| std::iter::repeat_n((required || !null).then_some(k), n))
                .collect();
            let (written, read, _) = round_trip(&[batch(&schema, &names, keys)]);
            prop_assert_eq!(read, written);
        }
    }
}
