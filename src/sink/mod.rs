//! Sinks: where finished tables go. Each sink says when data is durable; only then may the
//! checkpoint advance.
//!
//! Must not touch: the network of the fetch side (genesys), JSON (transform), the
//! checkpoint file.

pub mod clickhouse;
pub mod parquet;

use arrow_array::RecordBatch;

use crate::page::Window;
use crate::schema::TableDef;

/// The I/O half of a table write (see [`Sink::write_table`]): runs on a persist thread and
/// returns once what it wrote is durable.
pub type Persist<'a> = Box<dyn FnOnce() -> Result<Written, SinkError> + Send + 'a>;

/// A destination for the six tables. Called from many workers at once.
pub trait Sink: Sync {
    /// Short name for summaries and logs (`parquet`, `clickhouse`).
    fn name(&self) -> &'static str;
    /// Called before a window's pages from `from_page` on are (re)written, so what an
    /// earlier attempt left cannot double rows. Returns how many objects it removed.
    fn begin_window(&self, window: &Window, from_page: u32) -> Result<u64, SinkError>;
    /// Writes one table of a group of consecutive pages of one window (`batches`: that
    /// table's batches, page after page), in two halves: this call does the CPU work
    /// (encoding) on the calling worker and returns the blocking rest (file writes and
    /// fsync, an INSERT), which the pipeline runs on a persist thread, so that a worker
    /// does not hold its core idle while the disk or the server works. The table is durable
    /// only once the returned [`Persist`] returned `Ok`. The six tables of a group are
    /// separate calls, so workers write them in parallel. `window` is the window label,
    /// `page` the group's first page (groups are named by it), `what` names the pages in
    /// errors.
    fn write_table<'s>(
        &'s self,
        window: &str,
        page: u32,
        table: &'static TableDef,
        batches: &[RecordBatch],
        what: &str,
    ) -> Result<Persist<'s>, SinkError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "cannot write {path}: {source}; check free space and permissions of the output directory"
    )]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot encode table `{table}` of {page} as {format}: {message} (this is a bug, please report it)"
    )]
    Encode {
        table: &'static str,
        page: String,
        format: &'static str,
        message: String,
    },
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::ChError),
    #[error("ClickHouse table `{table}` ({page}): {source}")]
    ClickHouseTable {
        table: &'static str,
        page: String,
        source: clickhouse::ChError,
    },
}

impl SinkError {
    /// True when the write stopped because a termination signal cut a retry short.
    pub fn interrupted(&self) -> bool {
        matches!(
            self,
            SinkError::ClickHouse(clickhouse::ChError::Interrupted { .. })
                | SinkError::ClickHouseTable {
                    source: clickhouse::ChError::Interrupted { .. },
                    ..
                }
        )
    }

    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        SinkError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// What a sink wrote for one page.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    /// Files (Parquet) or INSERTs (ClickHouse).
    pub files: u64,
    pub bytes: u64,
    /// Transient failures retried on the way (ClickHouse restarts, resets, timeouts).
    pub retries: u64,
}
