//! Progress for long runs: an indicatif bar on a terminal (windows, pages, rows/s, ETA),
//! periodic log lines otherwise. Reads counters; changes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::genesys::ApiCounters;
use crate::pipeline::Totals;

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Instant,
    api: Option<Arc<ApiCounters>>,
    offset: u64,
}

impl Progress {
    /// `units` is windows for backfill and pages (files) for replay; `offset` counts units
    /// already done before this run (skipped windows).
    pub fn new(
        units: u64,
        offset: u64,
        unit: &str,
        terminal: bool,
        api: Option<Arc<ApiCounters>>,
    ) -> Self {
        let bar = terminal.then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(units), ProgressDrawTarget::stderr_with_hz(8));
            let template = format!(
                "{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} · {{msg}} · ETA {{eta}}"
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_position(offset);
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            last_log: Instant::now(),
            api,
            offset,
        }
    }

    pub fn update(&mut self, t: &Totals, units_done: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let msg = format!(
            "{} pages · {} rows · {:.0} rows/s · {:.1} MB/s{}{}",
            t.pages,
            t.total_rows(),
            t.total_rows() as f64 / secs,
            t.input_bytes as f64 / 1e6 / secs,
            self.api
                .as_ref()
                .map(|a| format!(
                    " · {} API calls, {} retries, {} × 429",
                    ApiCounters::get(&a.requests),
                    ApiCounters::get(&a.retries),
                    ApiCounters::get(&a.status_429)
                ))
                .unwrap_or_default(),
            if t.sink_retries > 0 {
                format!(" · {} sink retries", t.sink_retries)
            } else {
                String::new()
            }
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.offset + units_done);
                bar.set_message(msg);
            }
            None if self.last_log.elapsed() >= Duration::from_secs(5) => {
                self.last_log = Instant::now();
                tracing::info!(done = self.offset + units_done, "{msg}");
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
