//! The API source: one details job per window, cursor by cursor, on the fetch thread.
//!
//! Skips windows the checkpoint marks done; resumes an interrupted window from its saved
//! cursor when its job still exists, otherwise re-extracts the window from scratch after
//! the sink has removed that window's files (so nothing is doubled).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;

use super::{PipelineError, Source, Work};
use crate::checkpoint::{Checkpoint, InProgress};
use crate::genesys::{ApiError, Client, JobState};
use crate::page::{BufferPool, RawPage, TopLevel, Window, scan_top_level};
use crate::sink::Sink;
use crate::sink::parquet::{DATASET, write_durably};

pub struct Backfill<'a> {
    pub client: Client,
    pub windows: Vec<Window>,
    /// Snapshot taken before the run (the commit stage owns the live one).
    pub checkpoint: Checkpoint,
    pub sink: &'a dyn Sink,
    pub archive: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub struct FetchReport {
    pub windows_skipped: u64,
    pub windows_resumed: u64,
    pub jobs: u64,
    pub stale_files_removed: u64,
    /// Windows extracted again after a failed or expired job or an expired cursor.
    pub windows_restarted: u64,
    /// Fetching stopped early on a termination signal (`interrupt`): what was sent is
    /// written and checkpointed, the rest of the range is not.
    pub interrupted: bool,
}

/// Bodies that fail the structural scan are fetched again this many times in all.
const PAGE_ATTEMPTS: u32 = 5;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Times a window is extracted from scratch (after a FAILED or expired job, or an expired
/// cursor) before the run gives up on it.
const WINDOW_ATTEMPTS: u32 = 6;

impl Source for Backfill<'_> {
    type Report = FetchReport;

    fn run(
        mut self,
        tx: &Sender<Work>,
        abort: &AtomicBool,
        committed: &AtomicU64,
        buffers: &BufferPool,
    ) -> Result<FetchReport, PipelineError> {
        self.client.read_pages_into(buffers.clone());
        let mut report = FetchReport::default();
        let mut seq = 0u64;
        let windows = std::mem::take(&mut self.windows);
        for window in windows {
            if abort.load(Ordering::Relaxed) {
                break;
            }
            if crate::interrupt::stop_here() {
                report.interrupted = true;
                break;
            }
            if self.checkpoint.completed.contains(&window.start_ms) {
                report.windows_skipped += 1;
                continue;
            }
            let mut resume = self
                .checkpoint
                .in_progress
                .clone()
                .filter(|p| p.window_start == window.start_ms);
            let mut attempt = 0;
            loop {
                attempt += 1;
                match self.extract(&window, resume.take(), tx, abort, &mut seq, &mut report) {
                    Ok(()) => break,
                    Err(Extract::Stopped) => {
                        report.interrupted = crate::interrupt::requested();
                        return Ok(report);
                    }
                    Err(Extract::Failed(e)) => return Err(e),
                    Err(Extract::Restart(e)) if attempt < WINDOW_ATTEMPTS => {
                        report.windows_restarted += 1;
                        tracing::warn!(window = %window.interval(), attempt, error = %e, "extracting the window again from its first page");
                        // The window is rewritten from page 0: the commit stage drops what
                        // this attempt gathered and, once every earlier write is durable,
                        // removes the window's files. Fetch again only after that.
                        if tx.send(Work::WindowRestart { seq, window }).is_err() {
                            return Ok(report);
                        }
                        seq += 1;
                        if !wait_committed(committed, seq, abort) {
                            return Ok(report);
                        }
                    }
                    Err(Extract::Restart(e)) => return Err(e),
                }
            }
        }
        Ok(report)
    }
}

/// How one attempt at a window ended, if not with all its pages sent.
enum Extract {
    /// The job or cursor is gone (FAILED, EXPIRED, 404): submit the window again.
    Restart(PipelineError),
    /// Anything else stops the run.
    Failed(PipelineError),
    /// The pipeline is shutting down (an error elsewhere, or a termination signal).
    Stopped,
}

impl From<PipelineError> for Extract {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Api(ApiError::Job { .. } | ApiError::Gone { .. }) => Extract::Restart(e),
            PipelineError::Api(ApiError::Interrupted(_)) => Extract::Stopped,
            e => Extract::Failed(e),
        }
    }
}

impl From<ApiError> for Extract {
    fn from(e: ApiError) -> Self {
        PipelineError::Api(e).into()
    }
}

impl From<crate::sink::SinkError> for Extract {
    fn from(e: crate::sink::SinkError) -> Self {
        Extract::Failed(e.into())
    }
}

/// Waits until the commit stage has applied every item before `seq`; false on abort.
fn wait_committed(committed: &AtomicU64, seq: u64, abort: &AtomicBool) -> bool {
    while committed.load(Ordering::Acquire) < seq {
        if abort.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}

impl Backfill<'_> {
    /// One attempt at a window: resume its saved job at the saved cursor when the job still
    /// exists, else (re)submit it after the sink dropped what earlier attempts wrote.
    fn extract(
        &mut self,
        window: &Window,
        resume: Option<InProgress>,
        tx: &Sender<Work>,
        abort: &AtomicBool,
        seq: &mut u64,
        report: &mut FetchReport,
    ) -> Result<(), Extract> {
        let interval = window.interval();
        let resumable = match &resume {
            Some(p) => match self.client.job_status(&p.job_id) {
                Ok(s) => s.state == JobState::Fulfilled,
                // Not a sign the job is gone: keep the saved position for the next run.
                Err(ApiError::Interrupted(_)) => return Err(Extract::Stopped),
                Err(_) => false,
            },
            None => false,
        };
        let (job, mut cursor, mut page) = match resume {
            Some(p) if resumable => {
                report.stale_files_removed += self.sink.begin_window(window, p.next_page)?;
                report.windows_resumed += 1;
                tracing::info!(window = %interval, page = p.next_page, "resuming window from its saved cursor");
                (p.job_id, p.next_cursor, p.next_page)
            }
            Some(p) => {
                // The saved job is gone (or cannot be checked): the window starts over, via
                // the commit stage, which first clears the saved position.
                return Err(Extract::Restart(PipelineError::Api(ApiError::Gone {
                    what: format!("saved details job {} for {interval}", p.job_id),
                    detail: " (expired or not found); extracting the window again".into(),
                })));
            }
            None => {
                // Nothing saved for this window: files of earlier runs are unclaimed.
                report.stale_files_removed += self.sink.begin_window(window, 0)?;
                let job = self.client.submit_job(&interval)?;
                report.jobs += 1;
                if let Err(e) = self.client.wait_job(&job, &interval) {
                    self.client.delete_job(&job);
                    return Err(e.into());
                }
                (job, None, 0)
            }
        };
        // A resumed window whose last page was already committed has nothing left to fetch.
        let mut more = !(page > 0 && cursor.is_none());
        while more {
            if abort.load(Ordering::Relaxed) || crate::interrupt::stop_here() {
                return Err(Extract::Stopped);
            }
            let (bytes, top) = self.fetch_page(&job, cursor.as_deref(), window, page, *seq)?;
            let next = top.cursor;
            if let Some(dir) = &self.archive {
                write_durably(
                    dir,
                    &format!("{DATASET}-{}-{page:06}.json", window.label()),
                    &bytes,
                )?;
            }
            more = next.is_some();
            let raw = RawPage {
                seq: *seq,
                window: Some(*window),
                page,
                job_id: Some(job.clone()),
                cursor: cursor.take(),
                next_cursor: next.clone(),
                version: now_ms(),
                file: None,
                bytes,
                items: top.items,
            };
            if tx.send(Work::Page(raw)).is_err() {
                return Err(Extract::Stopped);
            }
            *seq += 1;
            page += 1;
            cursor = next;
        }
        if tx
            .send(Work::WindowDone {
                seq: *seq,
                window: *window,
            })
            .is_err()
        {
            return Err(Extract::Stopped);
        }
        *seq += 1;
        self.client.delete_job(&job);
        Ok(())
    }

    /// Fetches one page and checks it is one complete JSON object; returns it with what the
    /// check found (its cursor, where its conversations lie).
    fn fetch_page(
        &mut self,
        job: &str,
        cursor: Option<&str>,
        window: &Window,
        page: u32,
        seq: u64,
    ) -> Result<(Vec<u8>, TopLevel), PipelineError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let bytes = self.client.results_page(job, cursor)?;
            match scan_top_level(&bytes) {
                Ok(top) => return Ok((bytes, top)),
                Err(e) if attempt < PAGE_ATTEMPTS => {
                    self.client
                        .counters
                        .truncated_pages
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(window = %window.interval(), page, error = %e, "page body is not complete JSON; fetching it again");
                }
                Err(e) => {
                    let page_ref = crate::transform::PageRef {
                        seq,
                        window: Some(window.interval()),
                        page,
                        cursor: cursor.map(str::to_string),
                        file: None,
                    };
                    return Err(PipelineError::BadPage {
                        page: page_ref.to_string(),
                        reason: e.0,
                        attempts: attempt,
                    });
                }
            }
        }
    }
}
