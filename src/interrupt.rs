//! Ctrl-C and termination signals (SIGINT, SIGTERM, SIGQUIT).
//!
//! The first signal asks the run to stop: the sources stop fetching at the next page (or
//! the next wait inside the API client), the pages already fetched are still transformed,
//! written and checkpointed, and the run ends with [`EXIT_CODE`] and its summary. A second
//! signal ends the process at once, which is safe too: the checkpoint only ever records
//! what is durable, so the same command resumes either way.
//!
//! Owns the process-wide stop flag. It only records the request: the sources (`pipeline`),
//! the API client's waits (`genesys`) and the ClickHouse sink's retry waits poll it;
//! nothing here touches them.
//! Without [`install`] (the library used on its own, tests) no signal is caught and
//! [`requested`] stays false.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Exit code of a run stopped by a signal (128 + SIGINT, as shells report it).
pub const EXIT_CODE: i32 = 130;

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Catches the termination signals for the rest of the process. The binary calls it for
/// the commands that write (backfill, replay).
pub fn install() -> std::io::Result<()> {
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for &signal in signal_hook::consts::TERM_SIGNALS {
        // Registered first, so it sees the flag as the previous signal left it: set means
        // this is the second signal, and the process exits without waiting.
        signal_hook::flag::register_conditional_shutdown(signal, EXIT_CODE, Arc::clone(flag))?;
        signal_hook::flag::register(signal, Arc::clone(flag))?;
    }
    Ok(())
}

/// True once a termination signal has arrived.
pub fn requested() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// [`requested`], for the sources' fetch loops: the first time it is true it also tells
/// the user what happens next.
pub fn stop_here() -> bool {
    static TOLD: AtomicBool = AtomicBool::new(false);
    let stop = requested();
    if stop && !TOLD.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "stopping: writing and checkpointing the pages already fetched (a second Ctrl-C quits at once, which is safe too)"
        );
    }
    stop
}

/// Sleeps for `duration`, waking early when a stop is requested; false in that case. A
/// `Retry-After` or breaker pause can last minutes, and a stop must not wait them out.
pub fn sleep(duration: Duration) -> bool {
    const SLICE: Duration = Duration::from_millis(50);
    let until = Instant::now() + duration;
    loop {
        if stop_here() {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(SLICE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_install_nothing_is_requested_and_sleep_runs_its_course() {
        let started = Instant::now();
        assert!(!requested());
        assert!(sleep(Duration::from_millis(120)));
        assert!(started.elapsed() >= Duration::from_millis(120));
    }
}
