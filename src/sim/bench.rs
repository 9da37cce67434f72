//! `sim bench`: how fast the simulator serves results pages over loopback HTTP, measured
//! with the product's own client (auth, limiter off). Job generation happens while the job
//! is pending, as on the real API, and is reported separately.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::data::{MS_PER_DAY, Profile};
use super::server::{SimConfig, SimServer};
use crate::genesys::{ApiCounters, ApiError, Client, ClientConfig, Credentials, Secret};
use crate::page::{BufferPool, Window, scan_top_level};

#[derive(Debug, Serialize)]
pub struct ServeBench {
    pub profile: String,
    pub days: i64,
    pub pages: u64,
    pub bytes: u64,
    pub job_wait_s: f64,
    /// Seconds to fetch every page once, per pass (each pass fetches all pages again).
    pub pass_s: Vec<f64>,
    /// Bytes of one pass over the median pass time.
    pub serve_mb_per_s: f64,
}

/// Passes over the same pages: the first also pays for first-touch memory, and one pass
/// of a few days is a fraction of a second on a shared VM, so the figure is the median of
/// five.
const PASSES: usize = 5;

pub fn serve_rate(
    seed: u64,
    profile: Profile,
    from_day: i64,
    days: i64,
    page_size: usize,
) -> Result<ServeBench, ApiError> {
    let creds = Credentials {
        client_id: "bench".into(),
        client_secret: Secret::new("bench-secret"),
    };
    let mut cfg = SimConfig::new(seed, profile);
    cfg.credentials = Some((creds.client_id.clone(), creds.client_secret.clone()));
    let sim = SimServer::start(cfg, 0).map_err(|e| ApiError::Config(e.to_string()))?;
    let mut ccfg = ClientConfig::new(sim.base_url(), creds);
    ccfg.requests_per_minute = 1e9;
    ccfg.burst = 1e9;
    ccfg.page_size = page_size;
    ccfg.poll_initial = std::time::Duration::from_millis(5);
    let mut client = Client::new(ccfg, Arc::new(ApiCounters::default()));
    // Bodies land in pooled buffers and go back after use, as in a backfill, where the
    // transform workers give them back.
    let buffers = BufferPool::new(2);
    client.read_pages_into(buffers.clone());
    let (mut pages, mut bytes, mut wait) = (0u64, 0u64, 0f64);
    let mut pass_s = vec![0f64; PASSES];
    for w in Window::split(
        from_day * MS_PER_DAY,
        (from_day + days) * MS_PER_DAY,
        MS_PER_DAY,
    ) {
        let t = Instant::now();
        let job = client.submit_job(&w.interval())?;
        client.wait_job(&job, &w.interval())?;
        wait += t.elapsed().as_secs_f64();
        for (pass, spent) in pass_s.iter_mut().enumerate() {
            let t = Instant::now();
            let mut cursor: Option<String> = None;
            loop {
                let body = client.results_page(&job, cursor.as_deref())?;
                if pass == 0 {
                    pages += 1;
                    bytes += body.len() as u64;
                }
                cursor = scan_top_level(&body).ok().and_then(|t| t.cursor);
                buffers.give(body);
                if cursor.is_none() {
                    break;
                }
            }
            *spent += t.elapsed().as_secs_f64();
        }
        client.delete_job(&job);
    }
    let mut sorted = pass_s.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[PASSES / 2];
    Ok(ServeBench {
        profile: profile.name.to_string(),
        days,
        pages,
        bytes,
        job_wait_s: wait,
        pass_s,
        serve_mb_per_s: bytes as f64 / 1e6 / median.max(1e-9),
    })
}
