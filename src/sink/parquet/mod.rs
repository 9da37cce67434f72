//! Parquet sink: `<out>/<table>/date=YYYY-MM-DD/part-<dataset>-<window>-<page>.parquet`.
//!
//! Names are deterministic in (dataset, window, page), so a replayed page overwrites its
//! own file and a re-extracted window replaces its files as a unit (`begin_window` removes
//! what an earlier attempt left). A file becomes visible only complete and durable: write
//! to a temp name, fsync, rename, fsync the directory. Safe to call from many workers.
//!
//! Encoding: every column chunk of our tables is built by this sink's own submodules
//! (`flat`, `dict`, `runs`, `lists`, assembled by `chunk`); a column of any other Arrow
//! type would go to parquet-rs's Arrow column writers. The file around them (footer, Arrow
//! schema, row groups) is parquet-rs's `SerializedFileWriter`.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray as _;
use arrow_array::types::UInt32Type;
use arrow_array::{
    Array, BooleanArray, DictionaryArray, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Schema};
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnDescPtr, SchemaDescriptor};

use super::{Persist, Sink, SinkError, Written};
use crate::page::Window;
use crate::schema::{ALL_TABLES, PARTITION_COLUMN, TableDef, parent_id_type};
use crate::sim::data::MS_PER_DAY;
use crate::transform::timestamp::format_date;

mod chunk;
mod dict;
mod flat;
mod lists;
mod runs;

pub const DATASET: &str = "details";

pub struct ParquetSink {
    root: PathBuf,
    props: WriterProperties,
    strings: StringEncoding,
}

/// How flat string columns (not enumerations, not parent ids in runs) are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StringEncoding {
    /// PLAIN: a `u32` length before each value. Every Parquet reader reads it.
    #[default]
    Plain,
    /// DELTA_LENGTH_BYTE_ARRAY: all lengths first (DELTA_BINARY_PACKED), then the bytes
    /// back to back. zstd compresses hex ids 2.6× faster this way (PLAIN's repeated length
    /// bytes give its match finder short false matches) and 6% smaller; a replay takes ~5%
    /// less CPU. A format 2.x encoding: some readers still lack it, hence not the default.
    DeltaLength,
}

impl ParquetSink {
    pub fn new(root: &Path, row_group_bytes: usize) -> Result<Self, SinkError> {
        fs::create_dir_all(root).map_err(|e| SinkError::io(root, e))?;
        let mut builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
            ))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_max_row_group_bytes(Some(row_group_bytes))
            .set_created_by(concat!("genesys-etl ", env!("CARGO_PKG_VERSION")).to_string());
        // Dictionary pages only for API enumerations: for ids, timestamps and numbers they
        // cost time and, after zstd, make files larger (measured: 31 MB vs 27 MB for 138 MB
        // of pages, and 15% more CPU).
        builder = builder.set_dictionary_enabled(false);
        for table in ALL_TABLES {
            for col in table.columns {
                if matches!(
                    col.ty,
                    crate::schema::ColumnType::Enum | crate::schema::ColumnType::Label
                ) {
                    builder = builder.set_column_dictionary_enabled(
                        parquet::schema::types::ColumnPath::from(col.name),
                        true,
                    );
                }
            }
        }
        let props = builder.build();
        Ok(Self {
            root: root.to_path_buf(),
            props,
            strings: StringEncoding::default(),
        })
    }

    /// The same sink, writing flat string columns in `strings`.
    #[must_use]
    pub fn with_string_encoding(mut self, strings: StringEncoding) -> Self {
        self.strings = strings;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<out>/<table>/date=YYYY-MM-DD` for UTC day `day` (days since the epoch).
    fn day_dir(&self, table: &TableDef, day: i64) -> PathBuf {
        self.root
            .join(table.name)
            .join(format!("date={}", format_date(day * MS_PER_DAY)))
    }

    fn part_name(window: &str, page: u32) -> String {
        format!("part-{DATASET}-{window}-{page:06}.parquet")
    }

    /// One Parquet file, in memory, from batches of the same schema. Row groups are cut
    /// at batch boundaries by Arrow bytes and rows. Public for the encode benchmark.
    ///
    /// Every column of our tables is encoded here: `runs` writes required strings whose
    /// values come in runs (parent ids on child rows) and required integers in long runs
    /// (`_version`) as a dictionary of the runs, `flat` the other strings, numbers and
    /// booleans as PLAIN pages, `dict` enumerations and labels from their Arrow
    /// dictionaries, `lists` lists of strings. parquet-rs's Arrow column writers would take
    /// any other type. Every chunk of the file shares one zstd compressor.
    pub fn encode(&self, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
        self.encode_file(batches).map_err(|e| e.to_string())
    }

    fn encode_file(&self, batches: &[RecordBatch]) -> Result<Vec<u8>, ParquetError> {
        let Some(first) = batches.first() else {
            return Ok(Vec::new());
        };
        let schema = first.schema();
        // Files declare parent ids as the text they are; in memory they are dictionaries.
        let stored = crate::schema::stored_schema(&schema);
        let converter = ArrowSchemaConverter::new().with_coerce_types(self.props.coerce_types());
        let parquet_schema = converter.convert(&stored)?;
        let mut props = self.props.clone();
        // Columns with no value in this file (absent optional fields: a third of the column
        // chunks) are only definition levels, a few bytes: left uncompressed, they skip
        // zstd (and parquet-rs creates no zstd contexts for them).
        let all_null: Vec<bool> = (0..schema.fields().len())
            .map(|i| {
                batches
                    .iter()
                    .all(|b| b.column(i).null_count() == b.num_rows())
            })
            .collect();
        if all_null.iter().any(|n| *n) {
            let mut builder = props.into_builder();
            for leaf in 0..parquet_schema.num_columns() {
                if all_null[parquet_schema.get_column_root_idx(leaf)] {
                    builder = builder.set_column_compression(
                        parquet_schema.column(leaf).path().clone(),
                        Compression::UNCOMPRESSED,
                    );
                }
            }
            props = builder.build();
        }
        // What ArrowWriter does: readers get the Arrow types back (dictionaries, UTC).
        add_encoded_arrow_schema_to_metadata(&stored, &mut props);
        let props = Arc::new(props);
        // parquet-rs writes only the columns this sink does not (none of our tables' today):
        // its writers come from a schema of those fields alone, whose leaves describe the
        // same columns as the file's.
        let theirs: Vec<_> = schema
            .fields()
            .iter()
            .filter(|f| !encoded_here(f.data_type()))
            .cloned()
            .collect();
        let factory = if theirs.is_empty() {
            None
        } else {
            let theirs = Arc::new(Schema::new(theirs));
            let descr = converter.convert(&theirs)?;
            let shape = SerializedFileWriter::new(
                std::io::sink(),
                descr.root_schema_ptr(),
                Arc::clone(&props),
            )?;
            Some(ArrowRowGroupWriterFactory::new(&shape, theirs))
        };
        let size: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        // Files come out at a tenth or less of the batches' Arrow memory. A buffer sized
        // for more is not free even untouched: with transparent huge pages each 2 MiB it
        // reaches is zeroed whole (a third of Arrow memory cost 10-15 huge-page faults per
        // month of pages more, measured). Growing past an estimate copies a few MB.
        let mut buf = Vec::with_capacity(size / 16);
        let mut file =
            SerializedFileWriter::new(&mut buf, parquet_schema.root_schema_ptr(), props)?;
        let mut compressors = Compressors::new()?;
        let zstd = Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?);
        let compression: Vec<Compression> = all_null
            .iter()
            .map(|n| if *n { Compression::UNCOMPRESSED } else { zstd })
            .collect();
        let max_bytes = self.props.max_row_group_bytes().unwrap_or(usize::MAX);
        let max_rows = self.props.max_row_group_row_count().unwrap_or(usize::MAX);
        let mut index = 0;
        let mut rest = batches;
        while !rest.is_empty() {
            // At least one batch per row group; more while under both limits.
            let (mut take, mut bytes, mut rows) = (0, 0, 0);
            for b in rest {
                if take > 0 && (bytes >= max_bytes || rows + b.num_rows() > max_rows) {
                    break;
                }
                take += 1;
                bytes += b.get_array_memory_size();
                rows += b.num_rows();
            }
            let (group, tail) = rest.split_at(take);
            rest = tail;
            let writers = match &factory {
                Some(f) => f.create_column_writers(index)?,
                None => Vec::new(),
            };
            index += 1;
            let chunks = encode_row_group(
                &schema,
                &parquet_schema,
                group,
                writers,
                &compression,
                &mut compressors,
                self.strings,
            )?;
            let mut row_group = file.next_row_group()?;
            for chunk in chunks {
                match chunk {
                    Chunk::Arrow(c) => c.append_to_row_group(&mut row_group)?,
                    Chunk::Ours(c) => row_group.append_column(&c.bytes, c.close)?,
                }
            }
            row_group.close()?;
        }
        file.close()?;
        Ok(buf)
    }
}

/// zstd level of every page: `ZstdLevel::default()`, the level crates.md measured.
const ZSTD_LEVEL: i32 = 1;

/// The zstd compressors of one file, both at `ZSTD_LEVEL` with a search acceleration
/// (`TargetLength`, the "fast" strategy's step) and literals still Huffman-coded.
///
/// Why the acceleration: most of zstd's time here went to its match finder probing every
/// position of text where matches are rare (hex ids, timestamps). A larger step skips
/// such stretches; matches that are found still extend backwards to their start, and a
/// repeat at the last offset (a parent id on the next row) is checked at every step.
/// zstd turns literal compression off for accelerated levels by default, which would
/// store hex ids at 8 bits a digit: hence `LiteralCompressionMode::Enable`.
///
/// Measured on a month of medium-profile pages (1 thread): zstd time 297 → 235 ms
/// (median of 5), files 80.4 → 80.4 MB. Over the small, medium and large profiles, in
/// PLAIN and delta-length strings alike, files changed by −1.2% to +0.3%; the worst
/// column grew 7.5% (`segment_end` of the small profile, 0.08 MB).
struct Compressors {
    /// `TargetLength` 2: a step of 3 positions instead of level 1's 2. Files came out
    /// 0.7% smaller than without it (the forced literal compression wins back more than
    /// the skipped positions lose).
    general: zstd::bulk::Compressor<'static>,
    /// For columns of UUIDs in text (every Genesys id): a hash table of 2^10 entries and
    /// matches of 7 bytes or more. Random hex has no real matches shorter than a whole
    /// id, and level 1's larger table (2^13+) missed cache on every probe. On a month of
    /// ids (measured in-process, 1 MiB pages): participant ids 610 → 821 MB/s at a 1%
    /// lower ratio, segment session ids 850 → 1056 MB/s at a 2% higher one. Not for other
    /// text: on `_extra` JSON the same settings cost 13% of the ratio. Its acceleration
    /// (`TargetLength` 8: a step of 9) took UUID columns from 740–940 to 1 130–1 500 MB/s
    /// at the same ratio (±0.5%), in-process; 3 to 7 cost 1–9% of the ratio on some.
    ids: zstd::bulk::Compressor<'static>,
}

impl Compressors {
    fn new() -> Result<Self, ParquetError> {
        use zstd::zstd_safe::{CParameter, ParamSwitch};
        let accelerated = |step: u32| -> Result<zstd::bulk::Compressor<'static>, ParquetError> {
            let mut c = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
            c.set_parameter(CParameter::TargetLength(step))?;
            c.set_parameter(CParameter::LiteralCompressionMode(ParamSwitch::Enable))?;
            Ok(c)
        };
        let mut ids = accelerated(8)?;
        ids.set_parameter(CParameter::HashLog(10))?;
        ids.set_parameter(CParameter::MinMatch(7))?;
        Ok(Self {
            general: accelerated(2)?,
            ids,
        })
    }
}

/// Values looked at to decide whether a string column holds distinct UUIDs.
const UUID_SAMPLE: usize = 256;

/// Whether a string column holds UUIDs in text that do not come back: its first non-null
/// `values` in row order (up to `UUID_SAMPLE`, at least one) are all 36 bytes of hex
/// digits with `-` at 8, 13, 18 and 23, and 90% of its runs of equal values are distinct. Ids of a few
/// hundred agents or queues recur far apart, and the small hash table of `ids` would
/// miss them: `user_id` came out 2.6× larger with it.
fn holds_uuids<'a>(values: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut heads: Vec<&[u8]> = Vec::with_capacity(UUID_SAMPLE);
    for v in values.take(UUID_SAMPLE) {
        if !is_uuid(v) {
            return false;
        }
        if heads.last() != Some(&v) {
            heads.push(v);
        }
    }
    let runs = heads.len();
    heads.sort_unstable();
    heads.dedup();
    runs > 0 && heads.len() * 10 >= runs * 9
}

/// Whether `v` is a UUID in text: 36 bytes, hex digits with `-` at 8, 13, 18 and 23.
/// Checked without an early exit over a fixed-size array, so the loop unrolls into table
/// lookups (a branch per byte was 0.5% of a replay).
fn is_uuid(v: &[u8]) -> bool {
    const HEX: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            t[b] = (b as u8).is_ascii_hexdigit();
            b += 1;
        }
        t
    };
    let Ok(v) = <&[u8; 36]>::try_from(v) else {
        return false;
    };
    let mut ok = true;
    for (i, &b) in v.iter().enumerate() {
        ok &= if matches!(i, 8 | 13 | 18 | 23) {
            b == b'-'
        } else {
            HEX[usize::from(b)]
        };
    }
    ok
}

/// Whether this sink encodes columns of type `ty` itself (`runs`, `flat`, `dict`,
/// `lists`).
fn encoded_here(ty: &DataType) -> bool {
    flat::supports(ty) || dict::supports(ty) || lists::supports(ty) || *ty == parent_id_type()
}

/// The first non-null values of a string column (`Utf8` or parent ids), in row order.
fn string_values<'a>(arrays: &'a [&'a dyn Array]) -> impl Iterator<Item = &'a [u8]> + 'a {
    arrays.iter().flat_map(|a| {
        let strings = a.as_string_opt::<i32>();
        let dict = a.as_dictionary_opt::<UInt32Type>();
        let keys = dict.map(|d| (d.keys(), d.values().as_string::<i32>()));
        (0..a.len()).filter_map(move |i| {
            if let Some(s) = strings {
                return s.is_valid(i).then(|| s.value(i).as_bytes());
            }
            let (k, values) = keys?;
            k.is_valid(i)
                .then(|| values.value(k.value(i) as usize).as_bytes())
        })
    })
}

/// A chunk of parent ids, as `runs` (a dictionary of the runs) when they come in runs,
/// else flat like any text column, each row's value written from its key.
fn encode_parent_ids(
    descr: ColumnDescPtr,
    arrays: &[&dyn Array],
    compression: Compression,
    compressors: &mut Compressors,
    string_encoding: StringEncoding,
) -> Result<chunk::EncodedChunk, ParquetError> {
    let err = |what: &str| ParquetError::General(format!("`{}`: {what}", descr.path()));
    let dicts: Vec<&DictionaryArray<UInt32Type>> = arrays
        .iter()
        .map(|a| a.as_dictionary_opt::<UInt32Type>())
        .collect::<Option<_>>()
        .ok_or_else(|| err("arrays of different types"))?;
    if dicts.iter().any(|d| d.null_count() > 0) {
        return Err(err("null in a required column"));
    }
    // The dictionary gives the same values in the same order as the strings written out.
    let compressor =
        if compression != Compression::UNCOMPRESSED && holds_uuids(string_values(arrays)) {
            &mut compressors.ids
        } else {
            &mut compressors.general
        };
    if runs::comes_in_runs(runs::of_keys(&dicts), runs::STRING_RUNS) {
        return runs::encode_chunk(descr, runs::of_keys(&dicts), compression, compressor);
    }
    flat::encode_chunk(descr, arrays, compression, compressor, string_encoding)
}

/// A column chunk of one row group, encoded by parquet-rs or by `runs` / `flat` / `dict` /
/// `lists`.
enum Chunk {
    Arrow(ArrowColumnChunk),
    Ours(chunk::EncodedChunk),
}

/// Encodes one row group's columns, in leaf order. `writers` are parquet-rs's for the
/// fields not `encoded_here`, in order; `compression` is per field.
fn encode_row_group(
    schema: &Schema,
    parquet_schema: &SchemaDescriptor,
    group: &[RecordBatch],
    writers: Vec<ArrowColumnWriter>,
    compression: &[Compression],
    compressors: &mut Compressors,
    string_encoding: StringEncoding,
) -> Result<Vec<Chunk>, ParquetError> {
    let mut writers = writers.into_iter();
    let mut chunks = Vec::with_capacity(parquet_schema.num_columns());
    for (i, field) in schema.fields().iter().enumerate() {
        let ty = field.data_type();
        if *ty == parent_id_type() {
            let descr = parquet_schema.column(chunks.len());
            let arrays: Vec<&dyn Array> = group.iter().map(|b| b.column(i).as_ref()).collect();
            chunks.push(Chunk::Ours(encode_parent_ids(
                descr,
                &arrays,
                compression[i],
                compressors,
                string_encoding,
            )?));
            continue;
        }
        if lists::supports(ty) {
            let descr = parquet_schema.column(chunks.len());
            let arrays: Vec<&dyn Array> = group.iter().map(|b| b.column(i).as_ref()).collect();
            chunks.push(Chunk::Ours(lists::encode_chunk(
                descr,
                &arrays,
                compression[i],
                &mut compressors.general,
            )?));
            continue;
        }
        if encoded_here(ty) {
            let descr = parquet_schema.column(chunks.len());
            let arrays: Vec<&dyn Array> = group.iter().map(|b| b.column(i).as_ref()).collect();
            // Required strings may be parent ids on child rows: a dictionary of their runs.
            let strings: Vec<&StringArray> = if *ty == DataType::Utf8 && !field.is_nullable() {
                arrays
                    .iter()
                    .filter_map(|a| a.as_any().downcast_ref::<StringArray>())
                    .collect()
            } else {
                Vec::new()
            };
            // Only zstd has settings to choose; an all-null chunk is stored uncompressed,
            // and sampling it for UUIDs would walk every row to find no value.
            let compressor = if compression[i] != Compression::UNCOMPRESSED
                && *ty == DataType::Utf8
                && holds_uuids(string_values(&arrays))
            {
                &mut compressors.ids
            } else {
                &mut compressors.general
            };
            let integer_runs = if field.is_nullable() || *ty == DataType::Utf8 {
                None
            } else {
                runs::encode_integers(&descr, &arrays, compression[i], compressor)?
            };
            let chunk = if let Some(chunk) = integer_runs {
                chunk
            } else if dict::supports(ty) {
                dict::encode_chunk(descr, &arrays, compression[i], compressor)?
            } else if strings.len() == group.len()
                && runs::comes_in_runs(runs::of_strings(&strings), runs::STRING_RUNS)
            {
                if strings.iter().any(|s| s.null_count() > 0) {
                    return Err(ParquetError::General(format!(
                        "null in required column `{}`",
                        descr.path()
                    )));
                }
                runs::encode_chunk(
                    descr,
                    runs::of_strings(&strings),
                    compression[i],
                    compressor,
                )?
            } else {
                flat::encode_chunk(descr, &arrays, compression[i], compressor, string_encoding)?
            };
            chunks.push(Chunk::Ours(chunk));
            continue;
        }
        // One Arrow field may be several Parquet leaves (not in our tables, but cheap).
        let mut leaf_writers: Vec<ArrowColumnWriter> = Vec::new();
        for batch in group {
            let leaves = compute_leaves(field, batch.column(i))?;
            while leaf_writers.len() < leaves.len() {
                leaf_writers.push(writers.next().ok_or_else(|| {
                    ParquetError::General(format!("no column writer for `{}`", field.name()))
                })?);
            }
            for (leaf, writer) in leaves.iter().zip(&mut leaf_writers) {
                writer.write(leaf)?;
            }
        }
        for writer in leaf_writers {
            chunks.push(Chunk::Arrow(writer.close()?));
        }
    }
    Ok(chunks)
}

impl Sink for ParquetSink {
    fn name(&self) -> &'static str {
        "parquet"
    }

    /// Removes files of `window` with page index ≥ `from_page` (and its stray temp files), so
    /// an interrupted or re-extracted window cannot leave rows twice. Returns files removed.
    fn begin_window(&self, window: &Window, from_page: u32) -> Result<u64, SinkError> {
        let prefix = format!("part-{DATASET}-{}-", window.label());
        let mut removed = 0;
        for table in ALL_TABLES {
            for day in window.days() {
                let dir = self.day_dir(table, day);
                let entries = match fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(SinkError::io(&dir, e)),
                };
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else { continue };
                    let stale = match name
                        .strip_prefix(&prefix)
                        .and_then(|r| r.strip_suffix(".parquet"))
                    {
                        Some(page) => page.parse::<u32>().is_ok_and(|p| p >= from_page),
                        // Only this window's temp files: another window sharing the day
                        // directory may be writing its own right now.
                        None => name
                            .strip_prefix(".tmp-")
                            .is_some_and(|rest| rest.starts_with(&prefix)),
                    };
                    if stale {
                        fs::remove_file(entry.path())
                            .map_err(|e| SinkError::io(&entry.path(), e))?;
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Encodes one table of a group of pages as one file per day; the persist half writes
    /// them durably. `window` is the label in file names, `page` the group's first page.
    fn write_table<'s>(
        &'s self,
        window: &str,
        page: u32,
        table: &'static TableDef,
        batches: &[RecordBatch],
        what: &str,
    ) -> Result<Persist<'s>, SinkError> {
        let encode_err = |message| SinkError::Encode {
            table: table.name,
            page: what.into(),
            format: "Parquet",
            message,
        };
        let mut by_day: std::collections::BTreeMap<i64, Vec<RecordBatch>> =
            std::collections::BTreeMap::new();
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            for (day, part) in split_by_day(batch).map_err(encode_err)? {
                by_day.entry(day).or_default().push(part);
            }
        }
        let name = Self::part_name(window, page);
        let mut files = Vec::with_capacity(by_day.len());
        for (day, parts) in by_day {
            let dir = self.day_dir(table, day);
            files.push((dir, self.encode(&parts).map_err(encode_err)?));
        }
        Ok(Box::new(move || {
            let mut written = Written::default();
            for (dir, bytes) in files {
                written.bytes += write_durably(&dir, &name, &bytes)?;
                written.files += 1;
            }
            Ok(written)
        }))
    }
}

/// Splits a batch by the UTC day of `conversation_start` (one part when all rows share it,
/// which is the norm with daily windows).
fn split_by_day(batch: &RecordBatch) -> Result<Vec<(i64, RecordBatch)>, String> {
    let col = batch
        .column_by_name(PARTITION_COLUMN)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
        .ok_or_else(|| format!("no {PARTITION_COLUMN} timestamp column"))?;
    let days: Vec<i64> = col
        .values()
        .iter()
        .map(|ms| ms.div_euclid(MS_PER_DAY))
        .collect();
    let first = days.first().copied().unwrap_or(0);
    if days.iter().all(|d| *d == first) {
        return Ok(vec![(first, batch.clone())]);
    }
    let mut distinct = days.clone();
    distinct.sort_unstable();
    distinct.dedup();
    distinct
        .into_iter()
        .map(|day| {
            let mask: BooleanArray = days.iter().map(|d| Some(*d == day)).collect();
            arrow_select::filter::filter_record_batch(batch, &mask)
                .map(|b| (day, b))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// temp file + fsync + rename + fsync(dir): the file is either absent or complete.
pub fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<u64, SinkError> {
    fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
    let tmp = dir.join(format!(".tmp-{name}-{}", std::process::id()));
    let target = dir.join(name);
    let mut f = File::create(&tmp).map_err(|e| SinkError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| SinkError::io(&tmp, e))?;
    f.sync_all().map_err(|e| SinkError::io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, &target).map_err(|e| SinkError::io(&target, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SinkError::io(dir, e))?;
    Ok(bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Encoding;

    /// 300 parents with runs of 1 to 241 child rows (multi-byte RLE headers, 2-byte
    /// dictionary indexes), a run crossing every batch boundary, a parent that comes
    /// back after others, a unique id column and a nullable column with runs.
    fn children() -> Vec<RecordBatch> {
        let mut parent = Vec::new();
        for p in 0..300 {
            let id = format!("parent-{:04}", if p == 299 { 5 } else { p });
            parent.extend(std::iter::repeat_n(id, (p % 7) * 40 + 1));
        }
        let n = parent.len();
        let schema = Arc::new(Schema::new(vec![
            Field::new("parent_id", DataType::Utf8, false),
            Field::new("child_id", DataType::Utf8, false),
            Field::new("note", DataType::Utf8, true),
            Field::new("absent", DataType::Int64, true),
            // A page's extraction time: long runs, unsigned (the top bit set here).
            Field::new("version", DataType::UInt64, false),
            // A parent's start on each child row: runs too short to leave PLAIN.
            Field::new(
                "start",
                DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ]));
        let cuts = [0, 1000, 1001, 17_777, n];
        cuts.windows(2)
            .map(|w| {
                let rows = w[0]..w[1];
                let columns: Vec<arrow_array::ArrayRef> = vec![
                    Arc::new(StringArray::from_iter_values(parent[rows.clone()].iter())),
                    Arc::new(StringArray::from_iter_values(
                        rows.clone().map(|i| format!("c{i}")),
                    )),
                    Arc::new(StringArray::from_iter(
                        rows.clone()
                            .map(|i| (i % 3 != 0).then(|| format!("n{}", i / 100))),
                    )),
                    Arc::new(arrow_array::Int64Array::from(vec![None; rows.len()])),
                    Arc::new(arrow_array::UInt64Array::from_iter_values(
                        rows.clone().map(|i| u64::MAX - (i / 5000) as u64),
                    )),
                    Arc::new(
                        arrow_array::TimestampMillisecondArray::from_iter_values(
                            rows.clone().map(|i| (i / 3) as i64 * 1000),
                        )
                        .with_timezone("UTC"),
                    ),
                ];
                RecordBatch::try_new(Arc::clone(&schema), columns).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    }

    #[test]
    fn columns_with_runs_read_back_exactly_from_dictionary_pages() {
        let root = std::env::temp_dir().join(format!("gx-runs-{}", std::process::id()));
        let batches = children();
        // One row group (300 dictionary entries: 9-bit indexes), then several small ones.
        for (row_group_bytes, one_group) in [(64 << 20, true), (64 << 10, false)] {
            let sink = ParquetSink::new(&root, row_group_bytes).unwrap_or_else(|e| panic!("{e}"));
            let file = Bytes::from(sink.encode(&batches).unwrap_or_else(|e| panic!("{e}")));
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(file).unwrap_or_else(|e| panic!("{e}"));
            let meta = reader.metadata().clone();
            assert_eq!(meta.num_row_groups() == 1, one_group, "{row_group_bytes}");
            let mut first_row = 0u64;
            for rg in meta.row_groups() {
                let encodings = |c: usize| rg.column(c).encodings().collect::<Vec<_>>();
                assert_eq!(
                    encodings(0),
                    vec![Encoding::PLAIN, Encoding::RLE_DICTIONARY]
                );
                assert!(
                    !encodings(1).contains(&Encoding::RLE_DICTIONARY),
                    "unique ids: plain"
                );
                assert_eq!(
                    encodings(4),
                    vec![Encoding::PLAIN, Encoding::RLE_DICTIONARY],
                    "integers in long runs: their dictionary"
                );
                assert_eq!(encodings(5), vec![Encoding::PLAIN], "short runs: plain");
                // Unsigned statistics: the same bits in the signed physical type.
                let Some(parquet::file::statistics::Statistics::Int64(v)) =
                    rg.column(4).statistics()
                else {
                    panic!("no INT64 statistics for `version`");
                };
                let rows = first_row..first_row + rg.num_rows() as u64;
                first_row = rows.end;
                let bits = |x: u64| Some(x.cast_signed());
                assert_eq!(
                    (v.min_opt().copied(), v.max_opt().copied()),
                    (
                        bits(u64::MAX - (rows.end - 1) / 5000),
                        bits(u64::MAX - rows.start / 5000)
                    )
                );
            }
            let back: Vec<RecordBatch> = reader
                .build()
                .unwrap_or_else(|e| panic!("{e}"))
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{e}"));
            let schema = batches[0].schema();
            let concat = |b: &[RecordBatch]| {
                arrow_select::concat::concat_batches(&schema, b).unwrap_or_else(|e| panic!("{e}"))
            };
            assert_eq!(concat(&back), concat(&batches), "{row_group_bytes}");
        }
        let _ = fs::remove_dir_all(&root);
    }

    /// Parent ids whose runs are too short for a dictionary of runs (a segment's session:
    /// 1 or 2 rows each) go out row by row from the keys, in batches sliced at offsets,
    /// with the same values and statistics in either string encoding.
    #[test]
    fn parent_ids_in_short_runs_read_back_from_their_keys_in_both_string_encodings() {
        let root = std::env::temp_dir().join(format!("gx-keyed-{}", std::process::id()));
        let ids: Vec<String> = (0..3000)
            .map(|p| format!("{:08x}-parent", (p * 7919) % 3001))
            .collect();
        let schema = Arc::new(Schema::new(vec![Field::new(
            "session_id",
            parent_id_type(),
            false,
        )]));
        // As the transform builds them: each parent once, in order, and a key per row.
        let keys = arrow_array::UInt32Array::from_iter_values(
            ids.iter()
                .enumerate()
                .flat_map(|(p, _)| std::iter::repeat_n(p as u32, 1 + p % 2)),
        );
        let rows: Vec<&str> = keys
            .values()
            .iter()
            .map(|&k| ids[k as usize].as_str())
            .collect();
        let values = Arc::new(StringArray::from_iter_values(&ids));
        let column =
            DictionaryArray::<UInt32Type>::try_new(keys, values).unwrap_or_else(|e| panic!("{e}"));
        let whole = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(column)])
            .unwrap_or_else(|e| panic!("{e}"));
        let cuts = [0, 1, 1000, 2999, rows.len()];
        let batches: Vec<RecordBatch> = cuts
            .windows(2)
            .map(|w| whole.slice(w[0], w[1] - w[0]))
            .collect();
        for strings in [StringEncoding::Plain, StringEncoding::DeltaLength] {
            let sink = ParquetSink::new(&root, 64 << 20)
                .unwrap_or_else(|e| panic!("{e}"))
                .with_string_encoding(strings);
            let file = Bytes::from(sink.encode(&batches).unwrap_or_else(|e| panic!("{e}")));
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(file).unwrap_or_else(|e| panic!("{e}"));
            let column = reader.metadata().row_group(0).column(0).clone();
            let expected = match strings {
                StringEncoding::Plain => Encoding::PLAIN,
                StringEncoding::DeltaLength => Encoding::DELTA_LENGTH_BYTE_ARRAY,
            };
            assert_eq!(column.encodings().collect::<Vec<_>>(), vec![expected]);
            let Some(parquet::file::statistics::Statistics::ByteArray(s)) = column.statistics()
            else {
                panic!("no statistics for `session_id`");
            };
            let (min, max) = (rows.iter().min(), rows.iter().max());
            assert_eq!(
                (s.min_opt().map(|v| v.data()), s.max_opt().map(|v| v.data())),
                (min.map(|v| v.as_bytes()), max.map(|v| v.as_bytes())),
                "{strings:?}"
            );
            let mut back: Vec<String> = Vec::new();
            for batch in reader.build().unwrap_or_else(|e| panic!("{e}")) {
                let column = Arc::clone(batch.unwrap_or_else(|e| panic!("{e}")).column(0));
                match column.as_any_dictionary_opt() {
                    Some(d) => {
                        let values = d.values().as_string::<i32>();
                        back.extend(
                            d.normalized_keys()
                                .iter()
                                .map(|&k| values.value(k).to_string()),
                        );
                    }
                    None => back.extend(
                        column
                            .as_string::<i32>()
                            .iter()
                            .flatten()
                            .map(str::to_string),
                    ),
                }
            }
            assert_eq!(back, rows, "{strings:?}");
        }
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn beginning_a_window_removes_its_own_leftovers_only() {
        let root = std::env::temp_dir().join(format!("gx-begin-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let sink = ParquetSink::new(&root, 1 << 20).unwrap_or_else(|e| panic!("{e}"));
        let hour = 3_600_000;
        let day = 19_787 * MS_PER_DAY; // 2024-03-05
        let morning = Window {
            start_ms: day,
            end_ms: day + 6 * hour,
        };
        let noon = Window {
            start_ms: day + 6 * hour,
            end_ms: day + 12 * hour,
        };
        let dir = root.join("segments").join("date=2024-03-05");
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let name = |w: &Window, page| ParquetSink::part_name(&w.label(), page);
        let files = [
            name(&morning, 0),
            name(&morning, 3),
            format!(".tmp-{}-999", name(&morning, 5)),
            name(&noon, 0),
            // Another window of the same day writing right now: must survive.
            format!(".tmp-{}-{}", name(&noon, 2), std::process::id()),
        ];
        for f in &files {
            fs::write(dir.join(f), b"x").unwrap_or_else(|e| panic!("{e}"));
        }
        let removed = sink
            .begin_window(&morning, 3)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = vec![files[0].clone(), files[3].clone(), files[4].clone()];
        want.sort();
        assert_eq!((removed, left), (2, want));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn only_columns_of_distinct_uuids_get_the_id_compressor() {
        let uuid = |i: u64| {
            let h = format!(
                "{:032x}",
                u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C)
            );
            format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        };
        let column = |values: Vec<Option<String>>| StringArray::from(values);
        // Distinct ids, each repeated over a few rows (a parent id on its children), with
        // nulls in between, across two batches.
        let a = column(
            (0..300)
                .map(|i| (i % 5 != 0).then(|| uuid(i / 3)))
                .collect(),
        );
        let b = column((300..400).map(|i| Some(uuid(i / 3))).collect());
        let holds_uuids = |arrays: &[&dyn Array]| holds_uuids(string_values(arrays));
        assert!(holds_uuids(&[&a as &dyn Array, &b]));
        // The same ids as parent ids (a dictionary of the runs): the same answer.
        let parents: Vec<DictionaryArray<UInt32Type>> = [300u64, 400]
            .iter()
            .map(|&n| {
                let ids: Vec<String> = (n - 300..n).map(|i| uuid(i / 3)).collect();
                ids.iter().map(String::as_str).collect()
            })
            .collect();
        assert!(holds_uuids(&[&parents[0] as &dyn Array, &parents[1]]));
        let agent_parents: DictionaryArray<UInt32Type> = (0..400)
            .map(|i| uuid(i * 7 % 150))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect();
        assert!(!holds_uuids(&[&agent_parents as &dyn Array]));
        // A few hundred agents, recurring far apart: the general compressor.
        let agents = column((0..400).map(|i| Some(uuid(i * 7 % 150))).collect());
        assert!(!holds_uuids(&[&agents as &dyn Array]));
        // Not UUIDs: wrong length, a missing hyphen, a non-hex digit.
        let mut not_hex = uuid(1);
        not_hex.replace_range(0..1, "g");
        for odd in [format!("{}0", uuid(1)), uuid(1).replace('-', "0"), not_hex] {
            let c = column(vec![Some(uuid(2)), Some(odd.clone())]);
            assert!(!holds_uuids(&[&c as &dyn Array]), "{odd}");
        }
        // No value at all: nothing to judge by.
        let empty = column(vec![None, None]);
        assert!(!holds_uuids(&[&empty as &dyn Array]));
    }
}
