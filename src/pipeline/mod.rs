//! The pipeline: fetch → bounded channel → rayon pool → reorder → checkpoint.
//!
//! One fetch thread (a `Source`) pushes `Work` into a bounded crossbeam channel: its
//! capacity is the memory bound. Each pool worker owns a `Transformer` (scratch reused
//! page after page), parses and flattens a page, and writes its files durably (file names
//! are deterministic, so order does not matter for data). The commit stage, on the calling
//! thread, restores `seq` order and advances the checkpoint only over a contiguous run of
//! durable pages; after the first error it commits nothing more.
//! Must not touch: HTTP details (genesys), JSON details (transform), file layout (sink).

pub mod backfill;
pub mod replay;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, InProgress};
use crate::genesys::ApiError;
use crate::page::{RawPage, Window};
use crate::sink::{Sink, SinkError, Written};
use crate::transform::{PageInput, TransformError, Transformer};

/// What the fetch thread sends.
#[derive(Debug)]
pub enum Work {
    Page(RawPage),
    /// Every page of `window` has been sent; commits the window once they are durable.
    WindowDone {
        seq: u64,
        window: Window,
    },
    /// `window` is being extracted again from page 0: its pages committed so far will be
    /// rewritten, so the totals stop counting them.
    WindowRestart {
        seq: u64,
        window: Window,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Transform(#[from] TransformError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(
        "{page}: {reason}; fetched {attempts} times, giving up (the checkpoint stays at the last good page)"
    )]
    BadPage {
        page: String,
        reason: String,
        attempts: u32,
    },
    #[error("cannot read input {path}: {detail}")]
    Input { path: String, detail: String },
    #[error("internal error: {0} (this is a bug, please report it)")]
    Internal(String),
}

#[derive(Clone, Copy, Debug)]
pub struct PipelineOptions {
    pub threads: usize,
    pub channel_capacity: usize,
}

/// Running totals of what was made durable.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Totals {
    pub pages: u64,
    pub input_bytes: u64,
    pub conversations: u64,
    pub dropped_outside_window: u64,
    pub rows: BTreeMap<&'static str, u64>,
    pub files: u64,
    pub output_bytes: u64,
    /// Transient sink failures retried (ClickHouse restarts, resets, timeouts).
    pub sink_retries: u64,
    pub windows_committed: u64,
    /// Rows written by attempts at a window that was then extracted again (not in `rows`).
    pub rows_rewritten: u64,
    /// Per window not yet done: what its committed pages added, in case it restarts.
    #[serde(skip)]
    open_windows: BTreeMap<i64, (u64, u64, [u64; 6])>,
}

impl Totals {
    pub fn total_rows(&self) -> u64 {
        self.rows.values().sum()
    }
}

/// The fetch side: produces pages in `seq` order (0, 1, 2, …).
pub trait Source: Send {
    type Report: Send;
    /// `committed` is how many items (pages and window ends, by `seq`) the commit stage has
    /// made durable and checkpointed: a source that must rewrite earlier output waits on it.
    fn run(
        self,
        tx: &Sender<Work>,
        abort: &AtomicBool,
        committed: &AtomicU64,
    ) -> Result<Self::Report, PipelineError>;
}

/// The checkpoint the commit stage maintains (absent for replay).
pub struct Commit<'a> {
    pub store: &'a CheckpointStore,
    pub checkpoint: Checkpoint,
}

enum Done {
    Page {
        seq: u64,
        window: Option<Window>,
        page: u32,
        job_id: Option<String>,
        next_cursor: Option<String>,
        result: Result<PageStats, PipelineError>,
    },
    Window {
        seq: u64,
        window: Window,
    },
    Restart {
        seq: u64,
        window: Window,
    },
}

impl Done {
    fn seq(&self) -> u64 {
        match self {
            Done::Page { seq, .. } | Done::Window { seq, .. } | Done::Restart { seq, .. } => *seq,
        }
    }
}

struct PageStats {
    input_bytes: u64,
    conversations: u64,
    dropped: u64,
    rows: [u64; 6],
    written: Written,
}

/// Runs `source` to completion through the pool into `sink`. `on_progress` is called from
/// the commit stage after each committed page.
pub fn run<S: Source>(
    source: S,
    sink: &dyn Sink,
    opts: PipelineOptions,
    mut commit: Option<Commit<'_>>,
    on_progress: &mut dyn FnMut(&Totals),
) -> Result<(Totals, S::Report), PipelineError> {
    let threads = opts.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("transform-{i}"))
        .build()
        .map_err(|e| PipelineError::Internal(format!("cannot start the transform pool: {e}")))?;
    let (work_tx, work_rx) = bounded::<Work>(opts.channel_capacity.max(1));
    // Results never block workers for long: the commit stage always drains.
    let (done_tx, done_rx) = bounded::<Done>(opts.channel_capacity.max(1) + threads);
    let abort = AtomicBool::new(false);
    let committed = AtomicU64::new(0);
    let mut totals = Totals {
        rows: crate::schema::ALL_TABLES
            .iter()
            .map(|t| (t.name, 0))
            .collect(),
        ..Default::default()
    };

    let (fetch_result, commit_result) = std::thread::scope(|scope| {
        let abort = &abort;
        let committed = &committed;
        let fetch = scope.spawn(move || {
            let tx = work_tx;
            let r = source.run(&tx, abort, committed);
            drop(tx);
            r
        });
        let workers = scope.spawn(move || {
            pool.scope(|s| {
                for _ in 0..threads {
                    let (rx, tx) = (work_rx.clone(), done_tx.clone());
                    s.spawn(move |_| worker(&rx, &tx, sink, abort));
                }
            });
        });
        let commit_result = commit_loop(
            &done_rx,
            &mut commit,
            &mut totals,
            abort,
            committed,
            on_progress,
        );
        let fetch_result = fetch
            .join()
            .map_err(|_| PipelineError::Internal("the fetch thread panicked".into()));
        if workers.join().is_err() {
            return (
                fetch_result,
                Err(PipelineError::Internal(
                    "a transform worker panicked".into(),
                )),
            );
        }
        (fetch_result, commit_result)
    });
    // A data or sink error is the root cause when both sides failed (the fetch side then
    // only saw the channel close).
    commit_result?;
    let report = fetch_result??;
    Ok((totals, report))
}

fn worker(rx: &Receiver<Work>, tx: &Sender<Done>, sink: &dyn Sink, abort: &AtomicBool) {
    let mut transformer = Transformer::new();
    for work in rx.iter() {
        let done = match work {
            Work::WindowDone { seq, window } => Done::Window { seq, window },
            Work::WindowRestart { seq, window } => Done::Restart { seq, window },
            Work::Page(mut page) => {
                let result = if abort.load(Ordering::Relaxed) {
                    Err(PipelineError::Internal(
                        "skipped after an earlier error".into(),
                    ))
                } else {
                    process(&mut transformer, &mut page, sink)
                };
                Done::Page {
                    seq: page.seq,
                    window: page.window,
                    page: page.page,
                    job_id: page.job_id,
                    next_cursor: page.next_cursor,
                    result,
                }
            }
        };
        if tx.send(done).is_err() {
            return;
        }
    }
}

fn process(
    transformer: &mut Transformer,
    page: &mut RawPage,
    sink: &dyn Sink,
) -> Result<PageStats, PipelineError> {
    let page_ref = page.page_ref();
    let input_bytes = page.bytes.len() as u64;
    let out = transformer.transform(PageInput {
        page: page_ref.clone(),
        bytes: &mut page.bytes,
        window: page.window.map(|w| (w.start_ms, w.end_ms)),
        version: page.version,
    })?;
    let label = page
        .window
        .map_or_else(|| "nowindow".to_string(), |w| w.label());
    let written = sink.write_page(&label, page.page, &out.batches, &page_ref.to_string())?;
    let mut rows = [0u64; 6];
    for (i, b) in out.batches.iter().enumerate().take(6) {
        rows[i] = b.num_rows() as u64;
    }
    Ok(PageStats {
        input_bytes,
        conversations: out.conversations,
        dropped: out.dropped_outside_window,
        rows,
        written,
    })
}

fn commit_loop(
    rx: &Receiver<Done>,
    commit: &mut Option<Commit<'_>>,
    totals: &mut Totals,
    abort: &AtomicBool,
    committed: &AtomicU64,
    on_progress: &mut dyn FnMut(&Totals),
) -> Result<(), PipelineError> {
    let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut first_error: Option<PipelineError> = None;
    for done in rx.iter() {
        pending.insert(done.seq(), done);
        while let Some(done) = pending.remove(&next) {
            next += 1;
            if first_error.is_some() {
                continue;
            }
            if let Err(e) = apply(done, commit, totals) {
                abort.store(true, Ordering::Relaxed);
                first_error = Some(e);
                continue;
            }
            committed.store(next, Ordering::Release);
            on_progress(totals);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None if !pending.is_empty() => Err(PipelineError::Internal(format!(
            "{} results after a gap at seq {next}",
            pending.len()
        ))),
        None => Ok(()),
    }
}

fn apply(
    done: Done,
    commit: &mut Option<Commit<'_>>,
    totals: &mut Totals,
) -> Result<(), PipelineError> {
    match done {
        Done::Page {
            window,
            page,
            job_id,
            next_cursor,
            result,
            ..
        } => {
            let stats = result?;
            totals.pages += 1;
            totals.input_bytes += stats.input_bytes;
            totals.conversations += stats.conversations;
            totals.dropped_outside_window += stats.dropped;
            for (t, n) in crate::schema::ALL_TABLES.iter().zip(stats.rows) {
                *totals.rows.entry(t.name).or_default() += n;
            }
            if let Some(w) = window {
                let open = totals.open_windows.entry(w.start_ms).or_default();
                open.0 += stats.conversations;
                open.1 += stats.dropped;
                for (acc, n) in open.2.iter_mut().zip(stats.rows) {
                    *acc += n;
                }
            }
            totals.files += stats.written.files;
            totals.output_bytes += stats.written.bytes;
            totals.sink_retries += stats.written.retries;
            if let (Some(c), Some(w), Some(job_id)) = (commit.as_mut(), window, job_id) {
                c.checkpoint.in_progress = Some(InProgress {
                    window_start: w.start_ms,
                    job_id,
                    next_page: page + 1,
                    next_cursor,
                });
                c.store.save(&c.checkpoint)?;
            }
        }
        Done::Restart { window, .. } => {
            if let Some((conversations, dropped, rows)) =
                totals.open_windows.remove(&window.start_ms)
            {
                totals.conversations -= conversations;
                totals.dropped_outside_window -= dropped;
                for (t, n) in crate::schema::ALL_TABLES.iter().zip(rows) {
                    *totals.rows.entry(t.name).or_default() -= n;
                    totals.rows_rewritten += n;
                }
            }
        }
        Done::Window { window, .. } => {
            totals.open_windows.remove(&window.start_ms);
            totals.windows_committed += 1;
            if let Some(c) = commit.as_mut() {
                c.checkpoint.completed.insert(window.start_ms);
                c.checkpoint.in_progress = None;
                c.store.save(&c.checkpoint)?;
            }
        }
    }
    Ok(())
}
