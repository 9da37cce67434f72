//! Blocking HTTP client for the endpoints the ETL uses, with auth, limits and retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngExt as _;
use serde::Deserialize;

use super::auth::{Credentials, Secret};
use super::retry::{Decision, Outcome, RetryPolicy, classify};
use crate::page::BufferPool;

/// Bodies from this size up are read into pooled page buffers.
const LARGE_BODY: usize = 64 << 10;

/// Region name → API domain (genesys-api.md §1).
const REGIONS: [(&str, &str); 17] = [
    ("us-east-1", "mypurecloud.com"),
    ("us-east-2", "use2.us-gov-pure.cloud"),
    ("us-west-2", "usw2.pure.cloud"),
    ("ca-central-1", "cac1.pure.cloud"),
    ("sa-east-1", "sae1.pure.cloud"),
    ("mx-central-1", "mxc1.pure.cloud"),
    ("eu-west-1", "mypurecloud.ie"),
    ("eu-west-2", "euw2.pure.cloud"),
    ("eu-central-1", "mypurecloud.de"),
    ("eu-central-2", "euc2.pure.cloud"),
    ("me-central-1", "mec1.pure.cloud"),
    ("ap-south-1", "aps1.pure.cloud"),
    ("ap-southeast-1", "apse1.pure.cloud"),
    ("ap-southeast-2", "mypurecloud.com.au"),
    ("ap-northeast-1", "mypurecloud.jp"),
    ("ap-northeast-2", "apne2.pure.cloud"),
    ("ap-northeast-3", "apne3.pure.cloud"),
];

/// `https://api.<domain>` for a region name.
pub fn region_api_base(region: &str) -> Result<String, String> {
    REGIONS
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(_, d)| format!("https://api.{d}"))
        .ok_or_else(|| {
            let names: Vec<&str> = REGIONS.iter().map(|(r, _)| *r).collect();
            format!(
                "unknown region `{region}`; known regions: {}",
                names.join(", ")
            )
        })
}

/// The login host the SDKs derive from the API host (`api.` → `login.`); loopback and
/// other hosts serve both.
pub fn login_base_for(api_base: &str) -> String {
    api_base.replacen("://api.", "://login.", 1)
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub api_base: String,
    pub login_base: String,
    pub credentials: Credentials,
    /// Requests per minute this run may spend (a share of the org's budget).
    pub requests_per_minute: f64,
    pub burst: f64,
    pub retry: RetryPolicy,
    /// Per-request timeout (connect + whole response).
    pub timeout: Duration,
    pub page_size: usize,
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// Give up on a job that is not FULFILLED after this long.
    pub job_timeout: Duration,
    /// Consecutive failed attempts (5xx, transport errors, timeouts) that open the breaker.
    pub breaker_threshold: u32,
    /// How long the open breaker waits before a probe; doubles per failed probe (≤ 10 min).
    pub breaker_cooldown: Duration,
}

impl ClientConfig {
    pub fn new(api_base: String, credentials: Credentials) -> Self {
        Self {
            login_base: login_base_for(&api_base),
            api_base,
            credentials,
            requests_per_minute: 150.0,
            burst: 20.0,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(120),
            page_size: 1000,
            poll_initial: Duration::from_millis(100),
            poll_max: Duration::from_secs(5),
            job_timeout: Duration::from_secs(3600),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

/// Counters every request and retry goes through; read by progress and the run summary.
#[derive(Default, Debug)]
pub struct ApiCounters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub status_429: AtomicU64,
    pub status_401: AtomicU64,
    pub status_5xx: AtomicU64,
    pub transport_errors: AtomicU64,
    /// Results pages whose body was not complete JSON and were fetched again.
    pub truncated_pages: AtomicU64,
    pub tokens_fetched: AtomicU64,
    pub bytes: AtomicU64,
    pub limiter_wait_ms: AtomicU64,
    /// Times the circuit breaker opened, and the probes it sent when it half-opened.
    pub breaker_opens: AtomicU64,
    pub breaker_probes: AtomicU64,
    /// 0 closed, 1 open (waiting), 2 half-open (probing).
    pub breaker_state: AtomicU64,
}

impl ApiCounters {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Config(String),
    #[error("{what}: {reason}{detail}")]
    Request {
        what: String,
        reason: String,
        detail: String,
    },
    #[error("{what}: unexpected response: {detail}")]
    Protocol { what: String, detail: String },
    /// 404 on a job or cursor that existed: it expired; the window must be submitted again.
    #[error("{what}: HTTP 404, gone{detail}")]
    Gone { what: String, detail: String },
    #[error("details job {job} for {interval} ended {state}{message}; rerun to submit it again")]
    Job {
        job: String,
        interval: String,
        state: String,
        message: String,
    },
    /// A termination signal arrived while the client was waiting (`interrupt`).
    #[error("{0}: interrupted (Ctrl-C or a termination signal) during a wait")]
    Interrupted(String),
}

/// Waits `duration` (a limiter slot, `Retry-After`, backoff, breaker cooldown, job
/// polling) unless a stop is requested first: then the request `what` gives up.
fn pause(duration: Duration, what: &str) -> Result<(), ApiError> {
    if crate::interrupt::sleep(duration) {
        Ok(())
    } else {
        Err(ApiError::Interrupted(what.to_string()))
    }
}

impl ApiError {
    /// True when rerunning later may succeed (quota, outage) rather than needing a fix.
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Request { reason, .. } if reason.contains("HTTP 429") || reason.contains("HTTP 5") || reason.contains("connection"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobState {
    Queued,
    Pending,
    Fulfilled,
    Failed,
    Cancelled,
    Expired,
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub state: JobState,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub expiration_date: Option<String>,
}

struct Token {
    value: Secret,
    refresh_at: Instant,
}

/// Token bucket. Any rolling minute holds at most `per_minute` requests: the burst is taken
/// out of the steady rate (`rate = (per_minute - burst) / 60 s`), so a full bucket followed
/// by a minute at the steady rate still fits the budget.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_minute: f64, burst: f64) -> Self {
        // At most a second's worth of requests as burst, and at least one.
        let burst = burst.min(per_minute / 60.0).max(1.0);
        Self {
            rate: ((per_minute - burst) / 60.0)
                .max(per_minute / 120.0)
                .max(1e-6),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }
    /// After a 429: no burst credit left, the next requests go at the steady rate.
    fn drain(&mut self) {
        self.tokens = self.tokens.min(0.0);
    }
    /// How long to wait before one request may go; takes the token.
    fn take(&mut self) -> Duration {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

pub struct Client {
    agent: ureq::Agent,
    config: ClientConfig,
    token: Option<Token>,
    bucket: Bucket,
    pub counters: Arc<ApiCounters>,
    /// Failed attempts in a row, over all requests (the breaker's input).
    consecutive_failures: u32,
    /// Times the breaker opened without a success in between (scales the cooldown).
    opens_in_a_row: u32,
    /// Where large response bodies are read into (results pages), when set.
    buffers: Option<BufferPool>,
}

/// Breaker states as stored in `ApiCounters::breaker_state`.
pub const BREAKER_CLOSED: u64 = 0;
pub const BREAKER_OPEN: u64 = 1;
pub const BREAKER_HALF_OPEN: u64 = 2;

enum Method {
    Get,
    Post(&'static str, Vec<u8>),
    Delete,
}

impl Client {
    pub fn new(config: ClientConfig, counters: Arc<ApiCounters>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("genesys-etl/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let bucket = Bucket::new(config.requests_per_minute, config.burst);
        Self {
            agent,
            config,
            token: None,
            bucket,
            counters,
            consecutive_failures: 0,
            opens_in_a_row: 0,
            buffers: None,
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Reads response bodies of `LARGE_BODY` bytes and more (results pages) into buffers
    /// from `pool`, which the transform workers give back.
    pub fn read_pages_into(&mut self, pool: BufferPool) {
        self.buffers = Some(pool);
    }

    fn fetch_token(&mut self) -> Result<(), ApiError> {
        let what = "POST /oauth/token".to_string();
        let creds = &self.config.credentials;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            creds.client_id,
            creds.client_secret.expose()
        ));
        let url = format!("{}/oauth/token", self.config.login_base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let resp = self
                .agent
                .post(&url)
                .header("Authorization", format!("Basic {basic}"))
                .content_type("application/x-www-form-urlencoded")
                .send(&b"grant_type=client_credentials"[..]);
            let (code, retry_after, body) = match resp {
                Ok(mut r) => {
                    let ra = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = r.body_mut().with_config().limit(1 << 20).read_to_vec();
                    match body {
                        Ok(b) => (Some(r.status().as_u16()), ra, b),
                        Err(_) => (None, None, Vec::new()),
                    }
                }
                Err(_) => (None, None, Vec::new()),
            };
            let outcome = match code {
                Some(c) => Outcome::Status {
                    code: c,
                    retry_after: retry_after.as_deref(),
                },
                None => Outcome::Transport,
            };
            // A 401 from the token endpoint means bad client credentials: never "refresh".
            match classify(
                outcome,
                attempt,
                true,
                &self.config.retry,
                rand::rng().random(),
            ) {
                Decision::Success => {
                    #[derive(Deserialize)]
                    struct TokenResponse {
                        access_token: String,
                        expires_in: u64,
                    }
                    let t: TokenResponse =
                        serde_json::from_slice(&body).map_err(|e| ApiError::Protocol {
                            what: what.clone(),
                            detail: format!(
                                "token response is not {{access_token, expires_in}}: {e}"
                            ),
                        })?;
                    // Refresh proactively: at 90% of the lifetime, and at least a minute early.
                    let life = Duration::from_secs(t.expires_in);
                    let early = (life / 10).max(Duration::from_secs(60)).min(life / 2);
                    self.token = Some(Token {
                        value: Secret::new(t.access_token),
                        refresh_at: Instant::now() + life - early,
                    });
                    self.counters.tokens_fetched.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Decision::Retry { after, .. } => {
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    pause(after, &what)?;
                }
                Decision::RefreshToken | Decision::Fail { .. }
                    if code == Some(401) || code == Some(400) =>
                {
                    return Err(ApiError::Request {
                        what,
                        reason: format!("HTTP {} from the login host", code.unwrap_or(0)),
                        detail: format!(
                            " ({}): check GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET and that the OAuth client uses the client-credentials grant",
                            oauth_error(&body)
                        ),
                    });
                }
                Decision::RefreshToken => unreachable_refresh(),
                Decision::Fail { reason } => {
                    return Err(ApiError::Request {
                        what,
                        reason,
                        detail: String::new(),
                    });
                }
            }
        }
    }

    fn bearer(&mut self) -> Result<String, ApiError> {
        if self
            .token
            .as_ref()
            .is_none_or(|t| Instant::now() >= t.refresh_at)
        {
            self.fetch_token()?;
        }
        Ok(self
            .token
            .as_ref()
            .map(|t| format!("Bearer {}", t.value.expose()))
            .unwrap_or_default())
    }

    /// Sends one request with limiter, auth and retries; returns the 2xx body.
    fn send(&mut self, method: Method, path: &str, what: &str) -> Result<Vec<u8>, ApiError> {
        let url = format!("{}{}", self.config.api_base, path);
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            self.breaker_gate(what)?;
            let wait = self.bucket.take();
            if !wait.is_zero() {
                self.counters
                    .limiter_wait_ms
                    .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
                pause(wait, what)?;
            }
            let auth = self.bearer()?;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let resp = match &method {
                Method::Get => self.agent.get(&url).header("Authorization", &auth).call(),
                Method::Delete => self
                    .agent
                    .delete(&url)
                    .header("Authorization", &auth)
                    .call(),
                Method::Post(ct, body) => self
                    .agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .content_type(*ct)
                    .send(&body[..]),
            };
            let mut transport_error = None;
            let (code, retry_after, body) = match resp {
                Ok(mut r) => {
                    let ra = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    // A body cut mid-way is a transport failure: repeat the same request.
                    // Read into a buffer of the announced size: growing one by doubling
                    // copies a 3 MB page several times over and touches twice the memory.
                    let announced = r.body().content_length().unwrap_or(0).min(1 << 30) as usize;
                    let mut b = match &self.buffers {
                        Some(pool) if announced >= LARGE_BODY => pool.take(announced),
                        _ => Vec::with_capacity(announced + crate::page::PAGE_PADDING),
                    };
                    let read = std::io::Read::read_to_end(
                        &mut r.body_mut().with_config().limit(1 << 30).reader(),
                        &mut b,
                    );
                    match read {
                        Ok(_) => (Some(r.status().as_u16()), ra, b),
                        Err(e) => {
                            transport_error = Some(e.to_string());
                            (None, None, Vec::new())
                        }
                    }
                }
                Err(e) => {
                    transport_error = Some(e.to_string());
                    (None, None, Vec::new())
                }
            };
            // The breaker counts failures of the service, not throttling or client errors.
            if code.is_none_or(|c| c >= 500 || c == 408) {
                self.consecutive_failures += 1;
            } else {
                if self.counters.breaker_state.load(Ordering::Relaxed) != BREAKER_CLOSED {
                    tracing::info!("circuit breaker closed: the probe succeeded");
                }
                self.consecutive_failures = 0;
                self.opens_in_a_row = 0;
                self.counters
                    .breaker_state
                    .store(BREAKER_CLOSED, Ordering::Relaxed);
            }
            if code == Some(429) {
                self.bucket.drain();
            }
            match code {
                Some(429) => self.counters.status_429.fetch_add(1, Ordering::Relaxed),
                Some(401) => self.counters.status_401.fetch_add(1, Ordering::Relaxed),
                Some(500..=599) => self.counters.status_5xx.fetch_add(1, Ordering::Relaxed),
                None => self
                    .counters
                    .transport_errors
                    .fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
            let outcome = match code {
                Some(c) => Outcome::Status {
                    code: c,
                    retry_after: retry_after.as_deref(),
                },
                None => Outcome::Transport,
            };
            match classify(
                outcome,
                attempt,
                refreshed,
                &self.config.retry,
                rand::rng().random(),
            ) {
                Decision::Success => {
                    self.counters
                        .bytes
                        .fetch_add(body.len() as u64, Ordering::Relaxed);
                    return Ok(body);
                }
                Decision::RefreshToken => {
                    refreshed = true;
                    self.token = None;
                    tracing::info!(
                        request = what,
                        "token rejected (401): fetching a new one and retrying once"
                    );
                }
                Decision::Retry { after, reason } => {
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        request = what,
                        attempt,
                        wait_ms = after.as_millis() as u64,
                        reason,
                        "retrying"
                    );
                    pause(after, what)?;
                }
                Decision::Fail { reason } => {
                    let detail = match (code, transport_error) {
                        (Some(_), _) => format!(": {}", platform_error(&body)),
                        (None, Some(e)) => format!(": {e}"),
                        _ => String::new(),
                    };
                    if code == Some(404) {
                        return Err(ApiError::Gone {
                            what: what.to_string(),
                            detail,
                        });
                    }
                    return Err(ApiError::Request {
                        what: what.to_string(),
                        reason,
                        detail,
                    });
                }
            }
        }
    }

    /// The circuit breaker: after `breaker_threshold` failed attempts in a row, stop sending
    /// for the cooldown (doubling while probes keep failing), then let one probe through.
    fn breaker_gate(&mut self, what: &str) -> Result<(), ApiError> {
        if self.consecutive_failures < self.config.breaker_threshold {
            return Ok(());
        }
        self.opens_in_a_row += 1;
        let cooldown = self
            .config
            .breaker_cooldown
            .saturating_mul(1 << (self.opens_in_a_row - 1).min(10))
            .min(Duration::from_secs(600));
        self.counters.breaker_opens.fetch_add(1, Ordering::Relaxed);
        self.counters
            .breaker_state
            .store(BREAKER_OPEN, Ordering::Relaxed);
        tracing::warn!(
            request = what,
            failures = self.consecutive_failures,
            "circuit breaker open: pausing {:.1}s before one probe request",
            cooldown.as_secs_f64()
        );
        pause(cooldown, what)?;
        self.counters.breaker_probes.fetch_add(1, Ordering::Relaxed);
        self.counters
            .breaker_state
            .store(BREAKER_HALF_OPEN, Ordering::Relaxed);
        // One failure more re-opens it: the probe is the only attempt allowed.
        self.consecutive_failures = self.config.breaker_threshold - 1;
        Ok(())
    }

    /// `POST …/details/jobs` for `[start, end)`; returns the job id.
    pub fn submit_job(&mut self, interval: &str) -> Result<String, ApiError> {
        let what = format!("submit details job for {interval}");
        let body = serde_json::json!({"interval": interval, "order": "asc", "orderBy": "conversationStart"});
        let resp = self.send(
            Method::Post("application/json", body.to_string().into_bytes()),
            "/api/v2/analytics/conversations/details/jobs",
            &what,
        )?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Submitted {
            job_id: String,
        }
        serde_json::from_slice::<Submitted>(&resp)
            .map(|s| s.job_id)
            .map_err(|e| ApiError::Protocol {
                what,
                detail: format!("expected {{\"jobId\"}}: {e}"),
            })
    }

    pub fn job_status(&mut self, job: &str) -> Result<JobStatus, ApiError> {
        let what = format!("status of details job {job}");
        let resp = self.send(
            Method::Get,
            &format!("/api/v2/analytics/conversations/details/jobs/{job}"),
            &what,
        )?;
        serde_json::from_slice(&resp).map_err(|e| ApiError::Protocol {
            what,
            detail: format!("expected {{\"state\"}}: {e}"),
        })
    }

    /// Polls with exponential backoff until the job leaves QUEUED/PENDING.
    pub fn wait_job(&mut self, job: &str, interval: &str) -> Result<(), ApiError> {
        let started = Instant::now();
        let mut delay = self.config.poll_initial;
        let polling = format!("poll details job {job}");
        loop {
            pause(delay, &polling)?;
            let status = self.job_status(job)?;
            match status.state {
                JobState::Fulfilled => return Ok(()),
                JobState::Queued | JobState::Pending | JobState::Unknown => {}
                other => {
                    return Err(ApiError::Job {
                        job: job.to_string(),
                        interval: interval.to_string(),
                        state: format!("{other:?}").to_uppercase(),
                        message: status
                            .error_message
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default(),
                    });
                }
            }
            if started.elapsed() > self.config.job_timeout {
                return Err(ApiError::Job {
                    job: job.to_string(),
                    interval: interval.to_string(),
                    state: "still pending".into(),
                    message: format!(" after {}s", started.elapsed().as_secs()),
                });
            }
            delay = (delay * 2).min(self.config.poll_max);
        }
    }

    /// One results page, raw bytes as the API sent them.
    pub fn results_page(&mut self, job: &str, cursor: Option<&str>) -> Result<Vec<u8>, ApiError> {
        let mut path = format!(
            "/api/v2/analytics/conversations/details/jobs/{job}/results?pageSize={}",
            self.config.page_size
        );
        if let Some(c) = cursor {
            path.push_str("&cursor=");
            path.push_str(&percent_encode(c));
        }
        let what = match cursor {
            Some(c) => format!(
                "results of job {job} at cursor `{}`",
                crate::transform::error::shorten(c)
            ),
            None => format!("first results page of job {job}"),
        };
        self.send(Method::Get, &path, &what)
    }

    /// Deletes a finished job (frees it on the server); failures are only logged.
    pub fn delete_job(&mut self, job: &str) {
        let what = format!("delete details job {job}");
        if let Err(e) = self.send(
            Method::Delete,
            &format!("/api/v2/analytics/conversations/details/jobs/{job}"),
            &what,
        ) {
            tracing::debug!(error = %e, "could not delete job");
        }
    }

    /// `dataAvailabilityDate` as epoch ms.
    pub fn availability(&mut self) -> Result<i64, ApiError> {
        let what = "details job availability".to_string();
        let resp = self.send(
            Method::Get,
            "/api/v2/analytics/conversations/details/jobs/availability",
            &what,
        )?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Availability {
            data_availability_date: String,
        }
        let a: Availability = serde_json::from_slice(&resp).map_err(|e| ApiError::Protocol {
            what: what.clone(),
            detail: format!("expected {{\"dataAvailabilityDate\"}}: {e}"),
        })?;
        crate::transform::timestamp::parse_iso_ms(&a.data_availability_date).ok_or_else(|| {
            ApiError::Protocol {
                what,
                detail: format!(
                    "dataAvailabilityDate `{}` is not ISO-8601",
                    a.data_availability_date
                ),
            }
        })
    }
}

#[cold]
fn unreachable_refresh() -> ! {
    // classify() is called with refreshed=true for the token endpoint, so it never asks
    // for a refresh there.
    #[expect(
        clippy::panic,
        reason = "logic invariant of classify(refreshed = true)"
    )]
    {
        panic!("internal: token endpoint asked to refresh a token")
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `code: message` of a platform error body, or the start of whatever came back.
fn platform_error(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) if !e.message.is_empty() => format!("{} ({})", e.message, e.code),
        _ => crate::transform::error::shorten(&String::from_utf8_lossy(body)),
    }
}

fn oauth_error(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct OAuthError {
        #[serde(default)]
        error: String,
        #[serde(default)]
        description: String,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => format!("{}: {}", e.error, e.description),
        Err(_) => crate::transform::error::shorten(&String::from_utf8_lossy(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_api_and_login_hosts() {
        let api = region_api_base("eu-central-1").unwrap_or_default();
        assert_eq!(api, "https://api.mypurecloud.de");
        assert_eq!(login_base_for(&api), "https://login.mypurecloud.de");
        assert!(region_api_base("mars-1").is_err_and(|e| e.contains("us-east-1")));
    }

    #[test]
    fn bucket_allows_burst_then_paces() {
        // 600/min: a burst of 10, then 590/min so a rolling minute never holds over 600.
        let mut b = Bucket::new(600.0, 20.0);
        for _ in 0..10 {
            assert_eq!(b.take(), Duration::ZERO);
        }
        let wait = b.take();
        let step = Duration::from_secs_f64(60.0 / 590.0);
        assert!(
            wait > step.mul_f64(0.9) && wait <= step,
            "{wait:?} vs {step:?}"
        );
    }
}
