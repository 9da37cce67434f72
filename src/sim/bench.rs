//! `sim bench`: how fast the simulator serves results pages over loopback HTTP, measured
//! with the product's own client (auth, limiter off). Job generation happens while the job
//! is pending, as on the real API, and is reported separately.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::data::{MS_PER_DAY, Profile};
use super::server::{SimConfig, SimServer};
use crate::genesys::{ApiCounters, ApiError, Client, ClientConfig, Credentials, Secret};
use crate::page::{Window, scan_top_level};

#[derive(Debug, Serialize)]
pub struct ServeBench {
    pub profile: String,
    pub days: i64,
    pub pages: u64,
    pub bytes: u64,
    pub job_wait_s: f64,
    pub fetch_s: f64,
    pub serve_mb_per_s: f64,
}

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
    let (mut pages, mut bytes, mut wait, mut fetch) = (0u64, 0u64, 0f64, 0f64);
    for w in Window::split(
        from_day * MS_PER_DAY,
        (from_day + days) * MS_PER_DAY,
        MS_PER_DAY,
    ) {
        let t = Instant::now();
        let job = client.submit_job(&w.interval())?;
        client.wait_job(&job, &w.interval())?;
        wait += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut cursor: Option<String> = None;
        loop {
            let body = client.results_page(&job, cursor.as_deref())?;
            pages += 1;
            bytes += body.len() as u64;
            cursor = scan_top_level(&body).ok().and_then(|t| t.cursor);
            if cursor.is_none() {
                break;
            }
        }
        fetch += t.elapsed().as_secs_f64();
        client.delete_job(&job);
    }
    Ok(ServeBench {
        profile: profile.name.to_string(),
        days,
        pages,
        bytes,
        job_wait_s: wait,
        fetch_s: fetch,
        serve_mb_per_s: bytes as f64 / 1e6 / fetch.max(1e-9),
    })
}
