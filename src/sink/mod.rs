//! Sinks: where finished tables go. Each sink says when data is durable; only then may the
//! checkpoint advance.
//!
//! Must not touch: the network (fetch), JSON (transform), the checkpoint file.

pub mod parquet;

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
        "cannot encode table `{table}` of {page} as Parquet: {message} (this is a bug, please report it)"
    )]
    Encode {
        table: &'static str,
        page: String,
        message: String,
    },
}

impl SinkError {
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
    pub files: u64,
    pub bytes: u64,
}
