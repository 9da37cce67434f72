//! The replay source: saved results pages (`.json` or `.json.gz`) from a directory, in
//! file-name order, with no API calls. Files named as `backfill --archive-raw` names them
//! (`details-<window>-<page>.json`) keep their window, so ownership filtering and output
//! file names match the original backfill exactly.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use crossbeam_channel::Sender;

use super::{PipelineError, Source, Work};
use crate::page::{BufferPool, RawPage, Window, scan_top_level};

pub struct Replay {
    pub files: Vec<PathBuf>,
}

impl Replay {
    /// Lists the page files of `dir`, sorted by name.
    pub fn from_dir(dir: &Path) -> Result<Self, PipelineError> {
        let input_err = |detail: String| PipelineError::Input {
            path: dir.display().to_string(),
            detail,
        };
        let entries = std::fs::read_dir(dir).map_err(|e| input_err(e.to_string()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.ends_with(".json") || n.ends_with(".json.gz")
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(input_err("no .json or .json.gz files in it".into()));
        }
        Ok(Self { files })
    }
}

/// `details-<start>-<end>-<page>.json[.gz]` → (window, page).
fn parse_name(path: &Path) -> Option<(Window, u32)> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".gz")
        .unwrap_or(name)
        .strip_suffix(".json")?;
    let rest = stem.strip_prefix("details-")?;
    let (label, page) = rest.rsplit_once('-')?;
    Some((Window::from_label(label)?, page.parse().ok()?))
}

fn read_page(path: &Path, buffers: &BufferPool) -> Result<Vec<u8>, PipelineError> {
    let err = |e: std::io::Error| PipelineError::Input {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(err)?;
    let size = file.metadata().map_or(0, |m| m.len() as usize);
    let mut raw = buffers.take(size);
    file.read_to_end(&mut raw).map_err(err)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = buffers.take(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(err)?;
        buffers.give(raw);
        Ok(out)
    } else {
        Ok(raw)
    }
}

impl Source for Replay {
    type Report = u64;

    fn run(
        self,
        tx: &Sender<Work>,
        abort: &AtomicBool,
        _committed: &AtomicU64,
        buffers: &BufferPool,
    ) -> Result<u64, PipelineError> {
        let mut seq = 0u64;
        for (i, path) in self.files.iter().enumerate() {
            if abort.load(Ordering::Relaxed) || crate::interrupt::stop_here() {
                break;
            }
            let bytes = read_page(path, buffers)?;
            // As the fetch thread does for a backfill: where the conversations lie, so the
            // workers parse them a chunk at a time. A page this pass rejects goes on whole: the
            // transform's parse names what is wrong with it.
            let items = scan_top_level(&bytes).ok().and_then(|top| top.items);
            // Extraction time of an archived page: when it was saved.
            let version = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as u64);
            let (window, page) = match parse_name(path) {
                Some((w, p)) => (Some(w), p),
                None => (None, i as u32),
            };
            let raw = RawPage {
                seq,
                window,
                page,
                job_id: None,
                cursor: None,
                next_cursor: None,
                version,
                file: Some(path.display().to_string()),
                items,
                bytes,
            };
            if tx.send(Work::Page(raw)).is_err() {
                break;
            }
            seq += 1;
        }
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_carry_window_and_page() {
        let p = Path::new("/x/details-20240305T000000Z-20240306T000000Z-000012.json.gz");
        let (w, page) = parse_name(p).unwrap_or((
            Window {
                start_ms: 0,
                end_ms: 0,
            },
            0,
        ));
        assert_eq!(
            (w.label().as_str(), page),
            ("20240305T000000Z-20240306T000000Z", 12)
        );
        assert_eq!(parse_name(Path::new("/x/page-1.json")), None);
    }
}
