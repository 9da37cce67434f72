//! The simulator's fault plan: the real API's bad days, injected deterministically from the
//! seed (`--faults 429=0.3,5xx=0.1,…`). Each fault is survivable except `malformed`, which
//! must stop a run cleanly; counters say exactly what was injected so tests can compare
//! them with what the client counted.
//!
//! Owns: parsing the plan, the dice, the counters. Must not touch: HTTP (server decides
//! where each fault applies), data generation.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// What `--faults` accepts (printed in `--help`).
pub const FAULTS_HELP: &str = "\
Comma-separated name=value pairs; rates are probabilities per request (0..1):
  429=R            429 too.many.requests with Retry-After (see retry_after)
  retry_after=S    Retry-After seconds on injected 429s (default 1)
  budget=N         a real per-client budget: N requests per rolling minute, 429 beyond
  revoke_every=N   a token stops working after N calls (401 until a new token)
  5xx=R            500/502/503/504 platform errors
  slow=R           responses held slow_ms (default 3000) before they are sent
  slow_ms=MS       the delay of slow responses
  drop=R           results pages cut mid-body (connection closed)
  job_fail=R       details jobs end FAILED
  job_expire=R     share of jobs whose results expire after 1-4 pages (404)
  cursor_expire=R  share of jobs where the cursor after 1-4 pages has expired (404)
  restate=R        share of closed conversations changed when a window is extracted again
                   (later conversationEnd, one more segment, a changed field)
  lag=DURATION     dataAvailabilityDate trails now by this much (e.g. 30m, 6h, 2d)
  malformed=R      share of pages whose JSON is permanently bad (truncated, wrong type,
                   missing id): the run must stop with an error naming the page";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    pub rate_429: f64,
    pub retry_after_s: u64,
    pub budget_per_minute: Option<u32>,
    pub revoke_every: Option<u64>,
    pub rate_5xx: f64,
    pub slow: f64,
    pub slow_ms: u64,
    pub drop: f64,
    pub job_fail: f64,
    pub job_expire: f64,
    pub cursor_expire: f64,
    pub restate: f64,
    pub lag_ms: Option<i64>,
    pub malformed: f64,
}

impl FaultPlan {
    pub fn none() -> Self {
        FaultPlan {
            retry_after_s: 1,
            slow_ms: 3000,
            ..Default::default()
        }
    }

    /// Parses a `--faults` SPEC; the error names the bad pair and lists the known names.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut plan = FaultPlan::none();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("--faults: `{pair}` is not name=value"))?;
            let rate = || -> Result<f64, String> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| {
                        format!("--faults: {name}={value}: expected a rate between 0 and 1")
                    })
            };
            let count = || -> Result<u64, String> {
                value.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("--faults: {name}={value}: expected a positive whole number")
                })
            };
            match name {
                "429" => plan.rate_429 = rate()?,
                "retry_after" => {
                    plan.retry_after_s = value
                        .parse()
                        .map_err(|_| format!("--faults: retry_after={value}: expected seconds"))?
                }
                "budget" => plan.budget_per_minute = Some(count()? as u32),
                "revoke_every" => plan.revoke_every = Some(count()?),
                "5xx" => plan.rate_5xx = rate()?,
                "slow" => plan.slow = rate()?,
                "slow_ms" => plan.slow_ms = count()?,
                "drop" => plan.drop = rate()?,
                "job_fail" => plan.job_fail = rate()?,
                "job_expire" => plan.job_expire = rate()?,
                "cursor_expire" => plan.cursor_expire = rate()?,
                "restate" => plan.restate = rate()?,
                "lag" => {
                    plan.lag_ms = Some(parse_duration_ms(value).ok_or_else(|| {
                        format!("--faults: lag={value}: expected e.g. 30m, 6h, 2d")
                    })?)
                }
                "malformed" => plan.malformed = rate()?,
                other => {
                    return Err(format!(
                        "--faults: unknown fault `{other}`; known: 429, retry_after, budget, revoke_every, 5xx, slow, slow_ms, drop, job_fail, job_expire, cursor_expire, restate, lag, malformed"
                    ));
                }
            }
        }
        Ok(plan)
    }
}

/// `90s`, `30m`, `6h`, `2d` → ms.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = num.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    (n >= 0).then_some(n * unit_ms)
}

/// What the simulator injected; served at `/api/v2/sim/stats` and in `--simulate` summaries.
#[derive(Default, Debug)]
pub struct FaultCounters {
    pub status_429_injected: AtomicU64,
    pub status_429_budget: AtomicU64,
    pub status_429_job_cap: AtomicU64,
    pub status_401_revoked: AtomicU64,
    pub status_5xx: AtomicU64,
    pub slow: AtomicU64,
    pub dropped: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub jobs_expired: AtomicU64,
    pub cursors_expired: AtomicU64,
    pub conversations_restated: AtomicU64,
    pub pages_malformed: AtomicU64,
}

#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
pub struct FaultReport {
    pub status_429_injected: u64,
    pub status_429_budget: u64,
    pub status_429_job_cap: u64,
    pub status_401_revoked: u64,
    pub status_5xx: u64,
    pub slow: u64,
    pub dropped: u64,
    pub jobs_failed: u64,
    pub jobs_expired: u64,
    pub cursors_expired: u64,
    pub conversations_restated: u64,
    pub pages_malformed: u64,
}

impl FaultCounters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    pub fn report(&self) -> FaultReport {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FaultReport {
            status_429_injected: g(&self.status_429_injected),
            status_429_budget: g(&self.status_429_budget),
            status_429_job_cap: g(&self.status_429_job_cap),
            status_401_revoked: g(&self.status_401_revoked),
            status_5xx: g(&self.status_5xx),
            slow: g(&self.slow),
            dropped: g(&self.dropped),
            jobs_failed: g(&self.jobs_failed),
            jobs_expired: g(&self.jobs_expired),
            cursors_expired: g(&self.cursors_expired),
            conversations_restated: g(&self.conversations_restated),
            pages_malformed: g(&self.pages_malformed),
        }
    }
}

/// Seeded dice: the same seed gives the same sequence of decisions.
pub struct Dice(Mutex<ChaCha8Rng>);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Dice(Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0xFA_0175)))
    }
    /// True with probability `p` (no draw when `p` is 0, so an empty plan changes nothing).
    pub fn roll(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let mut rng = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rng.random::<f64>() < p
    }
    pub fn pick(&self, n: usize) -> usize {
        let mut rng = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rng.random_range(0..n.max(1))
    }
}

/// A stable fraction in [0, 1) for `key` under `seed` (for per-page and per-conversation
/// decisions that must be the same on every request).
pub fn fraction(seed: u64, key: &str) -> f64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_sets_each_named_fault() {
        let p = FaultPlan::parse(
            "429=0.3, budget=600,revoke_every=50,5xx=0.1,slow=0.05,slow_ms=1500,drop=0.02,job_fail=0.2,job_expire=0.1,cursor_expire=0.1,restate=0.25,lag=30m,malformed=0.01,retry_after=2",
        );
        let p = p.unwrap_or_default();
        assert_eq!(
            (
                p.rate_429,
                p.budget_per_minute,
                p.revoke_every,
                p.rate_5xx,
                p.slow_ms
            ),
            (0.3, Some(600), Some(50), 0.1, 1500)
        );
        assert_eq!(
            (p.lag_ms, p.malformed, p.retry_after_s),
            (Some(1_800_000), 0.01, 2)
        );
        assert_eq!(FaultPlan::parse(""), Ok(FaultPlan::none()));
    }

    #[test]
    fn bad_specs_name_the_pair() {
        assert!(FaultPlan::parse("429=1.5").is_err_and(|e| e.contains("429=1.5")));
        assert!(FaultPlan::parse("flood=0.1").is_err_and(|e| e.contains("unknown fault `flood`")));
        assert!(FaultPlan::parse("budget").is_err_and(|e| e.contains("not name=value")));
    }

    #[test]
    fn dice_and_fractions_are_deterministic() {
        let (a, b) = (Dice::new(7), Dice::new(7));
        let ra: Vec<bool> = (0..100).map(|_| a.roll(0.3)).collect();
        let rb: Vec<bool> = (0..100).map(|_| b.roll(0.3)).collect();
        assert_eq!(ra, rb);
        let hits = ra.iter().filter(|x| **x).count();
        assert!((15..=45).contains(&hits), "{hits}");
        assert_eq!(fraction(1, "x"), fraction(1, "x"));
        assert_ne!(fraction(1, "x"), fraction(2, "x"));
    }
}
