//! Parquet sink: `<out>/<table>/date=YYYY-MM-DD/part-<dataset>-<window>-<page>.parquet`.
//!
//! Names are deterministic in (dataset, window, page), so a replayed page overwrites its
//! own file and a re-extracted window replaces its files as a unit (`begin_window` removes
//! what an earlier attempt left). A file becomes visible only complete and durable: write
//! to a temp name, fsync, rename, fsync the directory. Safe to call from many workers.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use arrow_array::{Array, BooleanArray, RecordBatch, TimestampMillisecondArray};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::{Sink, SinkError, Written};
use crate::page::Window;
use crate::schema::{ALL_TABLES, PARTITION_COLUMN, TableDef};
use crate::sim::data::MS_PER_DAY;
use crate::transform::timestamp::format_date;

pub const DATASET: &str = "details";

pub struct ParquetSink {
    root: PathBuf,
    props: WriterProperties,
}

impl ParquetSink {
    pub fn new(root: &Path, row_group_bytes: usize) -> Result<Self, SinkError> {
        fs::create_dir_all(root).map_err(|e| SinkError::io(root, e))?;
        let mut builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_max_row_group_bytes(Some(row_group_bytes))
            .set_created_by(concat!("genesys-etl ", env!("CARGO_PKG_VERSION")).to_string());
        // Dictionary pages only for API enumerations: for ids, timestamps and numbers they
        // cost time and, after zstd, make files larger (measured: 31 MB vs 27 MB for 138 MB
        // of pages, and 15% more CPU).
        builder = builder.set_dictionary_enabled(false);
        for table in ALL_TABLES {
            for col in table.columns {
                if col.ty == crate::schema::ColumnType::Enum {
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
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn part_name(window: &str, page: u32) -> String {
        format!("part-{DATASET}-{window}-{page:06}.parquet")
    }

    /// One Parquet file, in memory, from batches of the same schema (row groups cut by
    /// bytes). Public for the encode benchmark.
    pub fn encode(&self, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
        let Some(first) = batches.first() else {
            return Ok(Vec::new());
        };
        let size: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        let mut buf = Vec::with_capacity(size / 3);
        let mut w = ArrowWriter::try_new(&mut buf, first.schema(), Some(self.props.clone()))
            .map_err(|e| e.to_string())?;
        for batch in batches {
            w.write(batch).map_err(|e| e.to_string())?;
        }
        w.close().map_err(|e| e.to_string())?;
        Ok(buf)
    }
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
                let dir = self
                    .root
                    .join(table.name)
                    .join(format!("date={}", format_date(day * MS_PER_DAY)));
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

    /// Writes one table of a group of pages as one file per day, durably. `window` is the
    /// label in file names, `page` the group's first page.
    fn write_table(
        &self,
        window: &str,
        page: u32,
        table: &'static TableDef,
        batches: &[RecordBatch],
        what: &str,
    ) -> Result<Written, SinkError> {
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
        let mut written = Written::default();
        for (day, parts) in by_day {
            let dir = self
                .root
                .join(table.name)
                .join(format!("date={}", format_date(day * MS_PER_DAY)));
            let bytes = self.encode(&parts).map_err(encode_err)?;
            written.bytes += write_durably(&dir, &Self::part_name(window, page), &bytes)?;
            written.files += 1;
        }
        Ok(written)
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
}
