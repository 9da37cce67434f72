//! The checkpoint: which windows are done and how far the current one got.
//!
//! Lives beside the output (`<out>/_state/checkpoint-details.json`) and is written only by
//! the commit stage, after the sink reported the data durable, atomically (temp + fsync +
//! rename + fsync dir). Must not touch: data files, the network.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sink::{SinkError, parquet::write_durably};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: u32,
    pub dataset: String,
    /// Window length the output was written with; another length would mislabel files.
    pub window_ms: i64,
    /// Start (epoch ms) of every window whose pages are all durable.
    pub completed: BTreeSet<i64>,
    pub in_progress: Option<InProgress>,
}

/// The window being extracted: its job and where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InProgress {
    pub window_start: i64,
    pub job_id: String,
    pub next_page: u32,
    pub next_cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("checkpoint {path} is corrupt ({detail}); move it away to start the output over")]
    Corrupt { path: String, detail: String },
    #[error(transparent)]
    Write(#[from] SinkError),
    #[error(
        "{path} was written with {existing_ms} ms windows, this run asks for {asked_ms} ms: \
         use the same --window, or a new --out"
    )]
    WindowMismatch {
        path: String,
        existing_ms: i64,
        asked_ms: i64,
    },
}

pub struct CheckpointStore {
    dir: PathBuf,
    name: String,
}

impl CheckpointStore {
    pub fn new(out: &Path, dataset: &str) -> Self {
        Self {
            dir: out.join("_state"),
            name: format!("checkpoint-{dataset}.json"),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// The saved checkpoint, or a fresh one for `window_ms`.
    pub fn load(&self, dataset: &str, window_ms: i64) -> Result<Checkpoint, CheckpointError> {
        let path = self.path();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Checkpoint {
                    format: 1,
                    dataset: dataset.into(),
                    window_ms,
                    ..Default::default()
                });
            }
            Err(source) => {
                return Err(CheckpointError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let cp: Checkpoint =
            serde_json::from_slice(&text).map_err(|e| CheckpointError::Corrupt {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        if cp.window_ms != window_ms {
            return Err(CheckpointError::WindowMismatch {
                path: path.display().to_string(),
                existing_ms: cp.window_ms,
                asked_ms: window_ms,
            });
        }
        Ok(cp)
    }

    pub fn save(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        let bytes = serde_json::to_vec_pretty(cp).unwrap_or_default();
        write_durably(&self.dir, &self.name, &bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_atomically_and_rejects_another_window_length() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        let store = CheckpointStore::new(dir.path(), "details");
        let mut cp = store.load("details", 86_400_000).unwrap_or_default();
        cp.completed.insert(0);
        cp.in_progress = Some(InProgress {
            window_start: 86_400_000,
            job_id: "j".into(),
            next_page: 3,
            next_cursor: Some("c".into()),
        });
        assert!(store.save(&cp).is_ok());
        assert_eq!(store.load("details", 86_400_000).ok(), Some(cp));
        assert!(matches!(
            store.load("details", 3_600_000),
            Err(CheckpointError::WindowMismatch { .. })
        ));
    }
}
