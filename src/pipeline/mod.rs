//! The pipeline: fetch → bounded channel → rayon pool (transform) → ordered commit groups →
//! pool (sink encode) → persist threads (sink I/O) → checkpoint.
//!
//! One fetch thread (a `Source`) pushes `Work` into a bounded crossbeam channel: its
//! capacity is the memory bound. Each pool worker owns a `Transformer` (scratch reused
//! page after page) and turns a page into Arrow batches. The commit stage, on the calling
//! thread, restores `seq` order and gathers consecutive pages of a window into a *group*
//! (up to `group_bytes` of Arrow data, or the window's end); the workers encode each group
//! as one file per table (and day), a table per write job so that free workers share a
//! group, preferring writes over new transforms. The blocking half of each write (file
//! writes and fsync, an INSERT) goes to a persist thread through a bounded channel, so a
//! worker does not leave its core idle waiting for the disk (measured: fsync waits were
//! 8–14% of replay time) and still waits when the sink falls behind. The checkpoint
//! advances group by group, in order, only after the sink reported all of a group's tables
//! durable (a failed write counts as returned, so the run ends with its error). A group is
//! named by its first page, so a resume from page k removes exactly the groups starting at
//! or after k. After the first error nothing more is committed.
//! Must not touch: HTTP details (genesys), JSON details (transform), file layout (sink).

pub mod backfill;
pub mod replay;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arrow_array::RecordBatch;
use crossbeam_channel::{Receiver, Sender, bounded, select_biased, unbounded};

use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, InProgress};
use crate::genesys::ApiError;
use crate::page::{BufferPool, RawPage, Window};
use crate::schema::TableDef;
use crate::sink::{Persist, Sink, SinkError, Written};
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
    /// Arrow bytes gathered into one commit group (one file per table and day).
    pub group_bytes: usize,
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
    /// `buffers` holds page buffers the workers gave back: read pages into those.
    fn run(
        self,
        tx: &Sender<Work>,
        abort: &AtomicBool,
        committed: &AtomicU64,
        buffers: &BufferPool,
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
        what: String,
        result: Result<Transformed, PipelineError>,
    },
    Window {
        seq: u64,
        window: Window,
    },
    Restart {
        seq: u64,
        window: Window,
    },
    /// One table of a group was written (not part of the `seq` order).
    Written {
        group: u64,
        result: Result<Written, PipelineError>,
    },
    /// A worker saw the work channel closed: all its transform results were sent.
    Idle,
}

/// One page turned into batches, not yet written.
struct Transformed {
    stats: PageStats,
    batches: Vec<RecordBatch>,
    arrow_bytes: usize,
}

#[derive(Clone, Copy, Default)]
struct PageStats {
    input_bytes: u64,
    pages: u64,
    conversations: u64,
    dropped: u64,
    rows: [u64; 6],
}

impl PageStats {
    fn add(&mut self, o: &PageStats) {
        self.input_bytes += o.input_bytes;
        self.pages += o.pages;
        self.conversations += o.conversations;
        self.dropped += o.dropped;
        for (a, b) in self.rows.iter_mut().zip(o.rows) {
            *a += b;
        }
    }
}

/// Consecutive pages of one window, written together.
struct Group {
    id: u64,
    window: Option<Window>,
    first_page: u32,
    last_page: u32,
    last_seq: u64,
    job_id: Option<String>,
    next_cursor: Option<String>,
    what: String,
    tables: Vec<Vec<RecordBatch>>,
    arrow_bytes: usize,
    stats: PageStats,
}

/// One table of a group handed to the workers for writing. A group's tables are separate
/// jobs so that two workers can write one group, and the last group of a run does not
/// leave every worker but one idle.
struct WriteJob {
    id: u64,
    window_label: Arc<str>,
    first_page: u32,
    what: Arc<str>,
    table: &'static TableDef,
    batches: Vec<RecordBatch>,
}

/// The I/O half of one table write, for a persist thread.
struct PersistJob<'a> {
    group: u64,
    persist: Persist<'a>,
}

/// What the commit stage applies, in order, once durable.
enum Step {
    Group {
        group: Group,
        /// Table writes not yet back.
        pending: usize,
        /// What the durable ones wrote.
        written: Written,
    },
    WindowDone {
        seq: u64,
        window: Window,
    },
    Restart {
        seq: u64,
        window: Window,
    },
}

/// Runs `source` to completion through the pool into `sink`. `on_progress` is called from
/// the commit stage after each committed group.
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
    // Unbounded, so the commit stage never blocks: it only ever holds a few groups.
    let (write_tx, write_rx) = unbounded::<WriteJob>();
    // Bounded: a worker waits here when the disk or the server falls behind, which keeps
    // the back-pressure that a worker blocked in its own write used to give.
    let (persist_tx, persist_rx) = bounded::<PersistJob<'_>>(threads);
    let abort = AtomicBool::new(false);
    let committed = AtomicU64::new(0);
    // Enough spare buffers for every page the channel and the workers can hold.
    let buffers = BufferPool::new(opts.channel_capacity.max(1) + threads);
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
        let buffers = &buffers;
        let fetch = scope.spawn(move || {
            let tx = work_tx;
            let r = source.run(&tx, abort, committed, buffers);
            drop(tx);
            r
        });
        // As many persist threads as workers: they mostly wait (fsync, the server), and
        // a sink's writes keep the parallelism they had when workers made them.
        let persisters: Vec<_> = (0..threads)
            .map(|i| {
                let (rx, tx) = (persist_rx.clone(), done_tx.clone());
                std::thread::Builder::new()
                    .name(format!("persist-{i}"))
                    .spawn_scoped(scope, move || persister(&rx, &tx))
            })
            .collect();
        drop(persist_rx);
        let workers = scope.spawn(move || {
            pool.scope(|s| {
                for _ in 0..threads {
                    let (rx, wrx, tx) = (work_rx.clone(), write_rx.clone(), done_tx.clone());
                    let ptx = persist_tx.clone();
                    s.spawn(move |_| worker(&rx, &wrx, &tx, &ptx, sink, abort, buffers));
                }
            });
        });
        let mut stage = CommitStage {
            commit: &mut commit,
            totals: &mut totals,
            sink,
            write_tx,
            abort,
            committed,
            group_bytes: opts.group_bytes.max(1),
            workers: threads,
            open: None,
            steps: std::collections::VecDeque::new(),
            next_group: 0,
            first_error: None,
        };
        let commit_result = stage.run(&done_rx, on_progress);
        drop(stage);
        // Let workers that are still sending see the channel close.
        drop(done_rx);
        let fetch_result = fetch
            .join()
            .map_err(|_| PipelineError::Internal("the fetch thread panicked".into()));
        let persisters_ok = persisters
            .into_iter()
            .all(|p| p.is_ok_and(|h| h.join().is_ok()));
        if workers.join().is_err() || !persisters_ok {
            return (
                fetch_result,
                Err(PipelineError::Internal(
                    "a transform worker or persist thread panicked or did not start".into(),
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

fn worker<'s>(
    rx: &Receiver<Work>,
    write_rx: &Receiver<WriteJob>,
    tx: &Sender<Done>,
    persist_tx: &Sender<PersistJob<'s>>,
    sink: &'s dyn Sink,
    abort: &AtomicBool,
    buffers: &BufferPool,
) {
    let mut transformer = Transformer::new();
    let mut work_open = true;
    loop {
        // Writes first: they free memory and let the checkpoint advance.
        let done = if work_open {
            select_biased! {
                recv(write_rx) -> job => match job {
                    Ok(job) => match write(job, sink, persist_tx) {
                        Some(done) => done,
                        None => continue,
                    },
                    Err(_) => return,
                },
                recv(rx) -> work => match work {
                    Ok(work) => transform(work, &mut transformer, abort, buffers),
                    Err(_) => {
                        work_open = false;
                        Done::Idle
                    }
                },
            }
        } else {
            match write_rx.recv() {
                Ok(job) => match write(job, sink, persist_tx) {
                    Some(done) => done,
                    None => continue,
                },
                Err(_) => return,
            }
        };
        if tx.send(done).is_err() {
            return;
        }
    }
}

/// Encodes one table write on this worker and hands its I/O half to a persist thread
/// (`None`), or returns the failed write.
fn write<'s>(
    job: WriteJob,
    sink: &'s dyn Sink,
    persist_tx: &Sender<PersistJob<'s>>,
) -> Option<Done> {
    let failed = |e: PipelineError| Done::Written {
        group: job.id,
        result: Err(e),
    };
    match sink.write_table(
        &job.window_label,
        job.first_page,
        job.table,
        &job.batches,
        &job.what,
    ) {
        Ok(persist) => {
            // The batches are encoded: free them before waiting for a persist slot.
            drop(job.batches);
            persist_tx
                .send(PersistJob {
                    group: job.id,
                    persist,
                })
                .err()
                .map(|_| {
                    failed(PipelineError::Internal(
                        "the persist threads stopped".into(),
                    ))
                })
        }
        Err(e) => Some(failed(e.into())),
    }
}

/// Runs I/O halves of table writes until every worker is gone.
fn persister(rx: &Receiver<PersistJob<'_>>, tx: &Sender<Done>) {
    for job in rx {
        let result = (job.persist)().map_err(PipelineError::from);
        if tx
            .send(Done::Written {
                group: job.group,
                result,
            })
            .is_err()
        {
            return;
        }
    }
}

fn transform(
    work: Work,
    transformer: &mut Transformer,
    abort: &AtomicBool,
    buffers: &BufferPool,
) -> Done {
    match work {
        Work::WindowDone { seq, window } => Done::Window { seq, window },
        Work::WindowRestart { seq, window } => Done::Restart { seq, window },
        Work::Page(mut page) => {
            let page_ref = page.page_ref();
            let result = if abort.load(Ordering::Relaxed) {
                Err(PipelineError::Internal(
                    "skipped after an earlier error".into(),
                ))
            } else {
                process(transformer, &mut page, &page_ref)
            };
            buffers.give(std::mem::take(&mut page.bytes));
            Done::Page {
                seq: page.seq,
                window: page.window,
                page: page.page,
                job_id: page.job_id,
                next_cursor: page.next_cursor,
                what: page_ref.to_string(),
                result,
            }
        }
    }
}

fn process(
    transformer: &mut Transformer,
    page: &mut RawPage,
    page_ref: &crate::transform::PageRef,
) -> Result<Transformed, PipelineError> {
    let input_bytes = page.bytes.len() as u64;
    let out = transformer.transform(PageInput {
        page: page_ref.clone(),
        bytes: &mut page.bytes,
        items: page.items.as_ref(),
        window: page.window.map(|w| (w.start_ms, w.end_ms)),
        version: page.version,
    })?;
    let mut rows = [0u64; 6];
    for (i, b) in out.batches.iter().enumerate().take(6) {
        rows[i] = b.num_rows() as u64;
    }
    // Bytes in use, not allocated: builders keep spare capacity, and cutting groups by
    // capacity would make file boundaries depend on which worker took which page.
    let arrow_bytes = out
        .batches
        .iter()
        .flat_map(RecordBatch::columns)
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum();
    Ok(Transformed {
        stats: PageStats {
            input_bytes,
            pages: 1,
            conversations: out.conversations,
            dropped: out.dropped_outside_window,
            rows,
        },
        batches: out.batches,
        arrow_bytes,
    })
}

/// The commit stage: orders results, forms groups, applies durable steps in order.
struct CommitStage<'a, 'c> {
    commit: &'a mut Option<Commit<'c>>,
    totals: &'a mut Totals,
    sink: &'a dyn Sink,
    write_tx: Sender<WriteJob>,
    abort: &'a AtomicBool,
    committed: &'a AtomicU64,
    group_bytes: usize,
    /// Workers that have not yet reported `Idle`.
    workers: usize,
    /// The group being filled.
    open: Option<Group>,
    /// Flushed groups and window events, in `seq` order, waiting to become durable.
    steps: std::collections::VecDeque<Step>,
    next_group: u64,
    first_error: Option<PipelineError>,
}

impl CommitStage<'_, '_> {
    fn run(
        &mut self,
        rx: &Receiver<Done>,
        on_progress: &mut dyn FnMut(&Totals),
    ) -> Result<(), PipelineError> {
        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next = 0u64;
        for done in rx.iter() {
            match done {
                Done::Idle => self.workers -= 1,
                Done::Written { group, result } => self.written(group, result),
                Done::Page { seq, .. } | Done::Window { seq, .. } | Done::Restart { seq, .. } => {
                    pending.insert(seq, done);
                }
            }
            while let Some(done) = pending.remove(&next) {
                next += 1;
                if self.first_error.is_none() {
                    self.ordered(done);
                }
            }
            // Every result of every page is in: the last group can go.
            let all_in = self.workers == 0;
            if all_in {
                self.flush();
            }
            self.apply_durable(on_progress);
            if all_in && (self.steps.is_empty() || self.in_flight() == 0) {
                break;
            }
        }
        match self.first_error.take() {
            Some(e) => Err(e),
            None if !pending.is_empty() => Err(PipelineError::Internal(format!(
                "{} results after a gap at seq {next}",
                pending.len()
            ))),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: PipelineError) {
        self.abort.store(true, Ordering::Relaxed);
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }

    /// Groups sent to the workers with a table write not yet back.
    fn in_flight(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Group { pending, .. } if *pending > 0))
            .count()
    }

    /// One result, in `seq` order.
    fn ordered(&mut self, done: Done) {
        match done {
            Done::Page {
                seq,
                window,
                page,
                job_id,
                next_cursor,
                what,
                result,
            } => {
                let t = match result {
                    Ok(t) => t,
                    Err(e) => return self.fail(e),
                };
                let same = self
                    .open
                    .as_ref()
                    .is_some_and(|g| g.window == window && g.last_page + 1 == page);
                if !same {
                    self.flush();
                }
                let g = self.open.get_or_insert_with(|| Group {
                    id: 0,
                    window,
                    first_page: page,
                    last_page: page,
                    last_seq: seq,
                    job_id: None,
                    next_cursor: None,
                    what: what.clone(),
                    tables: vec![Vec::new(); crate::schema::ALL_TABLES.len()],
                    arrow_bytes: 0,
                    stats: PageStats::default(),
                });
                g.last_page = page;
                g.last_seq = seq;
                g.job_id = job_id;
                g.next_cursor = next_cursor;
                g.arrow_bytes += t.arrow_bytes;
                g.stats.add(&t.stats);
                for (table, batch) in g.tables.iter_mut().zip(t.batches) {
                    if batch.num_rows() > 0 {
                        table.push(batch);
                    }
                }
                if g.arrow_bytes >= self.group_bytes {
                    self.flush();
                }
            }
            Done::Window { seq, window } => {
                self.flush();
                self.steps.push_back(Step::WindowDone { seq, window });
            }
            Done::Restart { seq, window } => {
                // The pages gathered so far will come again from a new job.
                if self.open.as_ref().is_some_and(|g| g.window == Some(window)) {
                    self.open = None;
                }
                self.flush();
                self.steps.push_back(Step::Restart { seq, window });
            }
            Done::Written { .. } | Done::Idle => {}
        }
    }

    /// Hands the open group to the workers.
    fn flush(&mut self) {
        let Some(mut g) = self.open.take() else {
            return;
        };
        if self.first_error.is_some() {
            return;
        }
        g.id = self.next_group;
        self.next_group += 1;
        let what: Arc<str> = if g.first_page == g.last_page {
            g.what.as_str().into()
        } else {
            format!("{} to page {}", g.what, g.last_page).into()
        };
        let window_label: Arc<str> = g
            .window
            .map_or_else(|| "nowindow".to_string(), |w| w.label())
            .into();
        let mut pending = 0;
        for (table, batches) in crate::schema::ALL_TABLES
            .iter()
            .zip(std::mem::take(&mut g.tables))
        {
            if batches.is_empty() {
                continue;
            }
            let job = WriteJob {
                id: g.id,
                window_label: Arc::clone(&window_label),
                first_page: g.first_page,
                what: Arc::clone(&what),
                table,
                batches,
            };
            if self.write_tx.send(job).is_err() {
                return self.fail(PipelineError::Internal("the writers stopped".into()));
            }
            pending += 1;
        }
        self.steps.push_back(Step::Group {
            group: g,
            pending,
            written: Written::default(),
        });
    }

    /// One table write of group `id` came back. A failed one counts as back too: the run
    /// stops, but only once no write is still running.
    fn written(&mut self, id: u64, result: Result<Written, PipelineError>) {
        for step in &mut self.steps {
            if let Step::Group {
                group,
                pending,
                written,
            } = step
                && group.id == id
            {
                *pending = pending.saturating_sub(1);
                if let Ok(w) = &result {
                    written.files += w.files;
                    written.bytes += w.bytes;
                    written.retries += w.retries;
                }
            }
        }
        if let Err(e) = result {
            self.fail(e);
        }
    }

    /// Applies the durable steps at the front, in order.
    fn apply_durable(&mut self, on_progress: &mut dyn FnMut(&Totals)) {
        while self.first_error.is_none() {
            let ready = match self.steps.front() {
                Some(Step::Group { pending, .. }) => *pending == 0,
                Some(_) => true,
                None => false,
            };
            if !ready {
                return;
            }
            let Some(step) = self.steps.pop_front() else {
                return;
            };
            let seq = match &step {
                Step::Group { group, .. } => group.last_seq,
                Step::WindowDone { seq, .. } | Step::Restart { seq, .. } => *seq,
            };
            if let Err(e) = self.apply(step) {
                return self.fail(e);
            }
            self.committed.store(seq + 1, Ordering::Release);
            on_progress(self.totals);
        }
    }

    fn apply(&mut self, step: Step) -> Result<(), PipelineError> {
        let totals = &mut *self.totals;
        match step {
            Step::Group { group, written, .. } => {
                let stats = group.stats;
                totals.pages += stats.pages;
                totals.input_bytes += stats.input_bytes;
                totals.conversations += stats.conversations;
                totals.dropped_outside_window += stats.dropped;
                for (t, n) in crate::schema::ALL_TABLES.iter().zip(stats.rows) {
                    *totals.rows.entry(t.name).or_default() += n;
                }
                totals.files += written.files;
                totals.output_bytes += written.bytes;
                totals.sink_retries += written.retries;
                if let Some(w) = group.window {
                    let open = totals.open_windows.entry(w.start_ms).or_default();
                    open.0 += stats.conversations;
                    open.1 += stats.dropped;
                    for (acc, n) in open.2.iter_mut().zip(stats.rows) {
                        *acc += n;
                    }
                }
                if let (Some(c), Some(w), Some(job_id)) =
                    (self.commit.as_mut(), group.window, group.job_id)
                {
                    c.checkpoint.in_progress = Some(InProgress {
                        window_start: w.start_ms,
                        job_id,
                        next_page: group.last_page + 1,
                        next_cursor: group.next_cursor,
                    });
                    c.store.save(&c.checkpoint)?;
                }
            }
            Step::Restart { window, .. } => {
                // First forget the saved position in this window (a crash after the files
                // are gone must not resume behind them), then drop what earlier attempts
                // wrote: every earlier group is durable, so no write races the removal.
                if let Some(c) = self.commit.as_mut()
                    && c.checkpoint
                        .in_progress
                        .as_ref()
                        .is_some_and(|p| p.window_start == window.start_ms)
                {
                    c.checkpoint.in_progress = None;
                    c.store.save(&c.checkpoint)?;
                }
                self.sink.begin_window(&window, 0)?;
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
            Step::WindowDone { window, .. } => {
                totals.open_windows.remove(&window.start_ms);
                totals.windows_committed += 1;
                if let Some(c) = self.commit.as_mut() {
                    c.checkpoint.completed.insert(window.start_ms);
                    c.checkpoint.in_progress = None;
                    c.store.save(&c.checkpoint)?;
                }
            }
        }
        Ok(())
    }
}
