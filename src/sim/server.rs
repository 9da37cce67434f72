//! The simulator's HTTP side: the real Genesys paths (genesys-api.md §1, §3) on loopback.
//!
//! Serves OAuth client credentials, conversation-details async jobs (submit, status with
//! QUEUED → PENDING → FULFILLED, cursor-paged results, delete) and the availability date.
//! A job's conversations are generated and serialized once, in the background, while the
//! job is pending (as the real data lake does the work before FULFILLED); a results page is
//! then a concatenation of ready bytes, so the simulator outpaces the pipeline.
//! Must not touch: the pipeline or sinks; it knows the client only through HTTP.

use std::collections::HashMap;
use std::io::Read as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::json;
use tiny_http::{Header, Method, Request, Response, StatusCode};

use super::data::{Generator, MS_PER_DAY, Profile, iso};
use super::faults::{Dice, FaultCounters, FaultPlan, FaultReport, fraction};
use crate::page::BufferPool;
use crate::transform::timestamp::parse_iso_ms;

/// Simulator settings (`genesys-etl sim serve --help` lists them).
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub profile: Profile,
    /// Accepted client id and secret; `None` accepts any Basic credentials.
    pub credentials: Option<(String, crate::genesys::Secret)>,
    pub token_ttl_s: u64,
    /// How long a job stays QUEUED/PENDING at least.
    pub job_latency_ms: u64,
    pub max_page_size: usize,
    pub default_page_size: usize,
    pub max_concurrent_jobs: usize,
    /// `dataAvailabilityDate` trails now by this much.
    pub availability_lag_ms: i64,
    /// How long results stay readable after completion.
    pub job_retention_ms: i64,
    pub threads: usize,
    /// Injected faults (none by default).
    pub faults: FaultPlan,
}

impl SimConfig {
    pub fn new(seed: u64, profile: Profile) -> Self {
        Self {
            seed,
            profile,
            credentials: None,
            token_ttl_s: 86_400,
            job_latency_ms: 30,
            max_page_size: 1000,
            default_page_size: 100,
            max_concurrent_jobs: 5,
            availability_lag_ms: 2 * 3_600_000,
            job_retention_ms: MS_PER_DAY,
            threads: 4,
            faults: FaultPlan::none(),
        }
    }
}

/// Counters the simulator exposes at `GET /api/v2/sim/stats` (simulator-only path).
#[derive(Default, Debug)]
pub struct SimStats {
    pub requests: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub jobs_submitted: AtomicU64,
    pub pages_served: AtomicU64,
    pub bytes_served: AtomicU64,
    pub status_401: AtomicU64,
    pub status_429: AtomicU64,
}

/// A serialized conversation with what a job needs to select it.
struct Ser {
    start_ms: i64,
    end_ms: Option<i64>,
    json: Vec<u8>,
}

struct Job {
    interval: (i64, i64),
    /// Results are gone (injected `job_expire`): every results request answers 404.
    expired: bool,
    /// Injected: the results expire when this many pages were served.
    expire_after_pages: Option<usize>,
    /// Injected: the cursor of this page (by count served) has expired.
    cursor_dies_at_page: Option<usize>,
    pages_served: usize,
    submitted_ms: i64,
    /// When generation finished (the data lake "ran" the query).
    ready_ms: Option<i64>,
    data: Option<Arc<Vec<Arc<Ser>>>>,
    failed: Option<String>,
}

impl Job {
    /// A job completes on its own once its data is ready and its latency has passed,
    /// whether or not anyone polls it (so orphaned jobs do not hold the concurrency cap).
    fn completed_ms(&self, latency_ms: i64) -> Option<i64> {
        self.ready_ms.map(|r| r.max(self.submitted_ms + latency_ms))
    }
    fn fulfilled_at(&self, now: i64, latency_ms: i64) -> Option<i64> {
        self.completed_ms(latency_ms).filter(|done| *done <= now)
    }
}

#[derive(Default)]
struct State {
    /// token → (expiry ms, client id, calls made)
    tokens: HashMap<String, (i64, String, u64)>,
    jobs: HashMap<String, Job>,
    days: HashMap<i64, Arc<Vec<Arc<Ser>>>>,
    restated_days: HashMap<i64, Arc<Vec<Arc<Ser>>>>,
    /// Intervals whose last page was served: a later job over them returns restated data.
    served: std::collections::HashSet<(i64, i64)>,
    /// Per client id: times of the requests in the rolling minute (`budget` fault).
    budget: HashMap<String, std::collections::VecDeque<i64>>,
    next_id: u64,
}

struct Shared {
    config: SimConfig,
    generator: Generator,
    state: Mutex<State>,
    stats: SimStats,
    cursor_key: u64,
    dice: Dice,
    injected: FaultCounters,
    /// Results-page bodies go round: a fresh multi-MB `Vec` per page was memory the
    /// kernel had to map and zero on first touch, most of a serving pass in perf.
    bodies: BufferPool,
}

/// A running simulator; dropping it stops the server threads.
pub struct SimServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}; pick another --port or free it")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP server: {0}")]
    Server(String),
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl SimServer {
    /// Starts on `127.0.0.1:port` (0 picks a free port).
    pub fn start(config: SimConfig, port: u16) -> Result<Self, SimError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = bind_nodelay(addr).map_err(|source| SimError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let server = Arc::new(
            tiny_http::Server::from_listener(listener, None)
                .map_err(|e| SimError::Server(e.to_string()))?,
        );
        let generator = Generator::new(config.seed, config.profile);
        let threads_n = config.threads.max(1);
        let shared = Arc::new(Shared {
            cursor_key: config.seed.rotate_left(17) ^ 0x5A17_C0DE,
            dice: Dice::new(config.seed),
            injected: FaultCounters::default(),
            config,
            generator,
            state: Mutex::new(State::default()),
            stats: SimStats::default(),
            bodies: BufferPool::new(threads_n),
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let threads = (0..threads_n)
            .map(|_| {
                let (server, shared, stopping) = (server.clone(), shared.clone(), stopping.clone());
                std::thread::spawn(move || {
                    while !stopping.load(Ordering::Relaxed) {
                        match server.recv() {
                            Ok(req) => handle(&shared, req),
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        Ok(Self {
            addr,
            server,
            shared,
            threads,
            stopping,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL for both the API and the login host.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> &SimStats {
        &self.shared.stats
    }

    /// What the fault plan injected so far.
    pub fn injected(&self) -> FaultReport {
        self.shared.injected.report()
    }

    /// Blocks until the server stops (for `sim serve`).
    pub fn join(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        for _ in 0..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn bind_nodelay(addr: SocketAddr) -> std::io::Result<TcpListener> {
    // TCP_NODELAY on the listener (inherited by accepted sockets on Linux): without it
    // Nagle + delayed ACK cap tiny_http at ~23 requests/s (crates.md §9).
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave State half-updated in a way that matters
    // to a test double; keep serving.
    shared
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A response: status, extra headers, body (always JSON, always in memory).
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn new(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn add_header(&mut self, name: &'static str, value: String) {
        self.headers.push((name, value));
    }
}

fn json_reply(status: u16, body: &serde_json::Value) -> Reply {
    Reply::new(status, body.to_string().into_bytes())
}

/// Bodies from this size on (results pages) are written straight to the socket.
const RAW_FROM: usize = 64 << 10;

/// Sends `reply`. Small ones go through tiny_http. A results page is written to the raw
/// connection in one `write_all`: tiny_http copies a body through an 8 KiB buffer, one
/// `send` per 8 KiB, which held serving to ~1.2 GB/s (28 k sends for 231 MB). Hands
/// such a body back for reuse.
fn send(req: Request, reply: Reply) -> Option<Vec<u8>> {
    let correlation = format!("{:016x}", now_ms());
    if reply.body.len() >= RAW_FROM {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nININ-Correlation-Id: {correlation}\r\n",
            reply.status,
            StatusCode(reply.status).default_reason_phrase(),
            reply.body.len()
        );
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut w = req.into_writer();
        let _ = w
            .write_all(head.as_bytes())
            .and_then(|()| w.write_all(&reply.body))
            .and_then(|()| w.flush());
        return Some(reply.body);
    }
    // Every body is in memory: send its length rather than tiny_http's chunked encoding
    // above 32 KiB, so a client can read a page into one buffer of the right size.
    let mut r = Response::from_data(reply.body)
        .with_status_code(StatusCode(reply.status))
        .with_chunked_threshold(usize::MAX);
    let headers = [
        ("Content-Type", "application/json".to_string()),
        ("ININ-Correlation-Id", correlation),
    ];
    for (name, value) in headers.into_iter().chain(reply.headers) {
        if let Ok(h) = Header::from_bytes(name, value) {
            r.add_header(h);
        }
    }
    let _ = req.respond(r);
    None
}

/// Platform error body (genesys-api.md §2.1).
fn error_reply(status: u16, code: &str, message: &str) -> Reply {
    json_reply(
        status,
        &json!({"message": message, "code": code, "status": status, "messageWithParams": message,
                "messageParams": {}, "contextId": format!("{:016x}", now_ms()), "details": [], "errors": []}),
    )
}

fn handle(shared: &Arc<Shared>, mut req: Request) {
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let path = path.to_string();
    let query: HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    let mut body = Vec::new();
    let _ = req.as_reader().take(1 << 20).read_to_end(&mut body);
    let method = req.method().clone();
    let auth = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let reply = route(shared, &method, &path, &query, &body, auth.as_deref());
    if reply.status == 401 {
        shared.stats.status_401.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(body) = send(req, reply) {
        shared.bodies.give(body);
    }
}

fn route(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    body: &[u8],
    auth: Option<&str>,
) -> Reply {
    if path == "/oauth/token" {
        return match method {
            Method::Post => token(shared, body, auth),
            _ => error_reply(405, "method.not.allowed", "Use POST."),
        };
    }
    if !path.starts_with("/api/v2/") {
        return error_reply(404, "not.found", "The requested resource was not found.");
    }
    const STATS: &str = "/api/v2/sim/stats";
    if path != STATS
        && let Err(r) = check_bearer(shared, auth).and_then(|client| inject(shared, &client))
    {
        return r;
    }
    const JOBS: &str = "/api/v2/analytics/conversations/details/jobs";
    let rest = path.strip_prefix(JOBS);
    match (method, rest) {
        (Method::Post, Some("")) => submit_job(shared, body),
        (Method::Get, Some("/availability")) => json_reply(
            200,
            &json!({"dataAvailabilityDate": iso(availability(shared))}),
        ),
        (Method::Get, Some(r)) if r.ends_with("/results") => {
            let id = r.trim_start_matches('/').trim_end_matches("/results");
            results(shared, id, query)
        }
        (Method::Get, Some(r)) if !r.is_empty() => job_status(shared, r.trim_start_matches('/')),
        (Method::Delete, Some(r)) if !r.is_empty() => {
            let removed = lock(shared)
                .jobs
                .remove(r.trim_start_matches('/'))
                .is_some();
            if removed {
                Reply::new(204, Vec::new())
            } else {
                error_reply(404, "not.found", "The requested resource was not found.")
            }
        }
        (Method::Get, None) if path == STATS => {
            let s = &shared.stats;
            json_reply(
                200,
                &json!({"requests": s.requests.load(Ordering::Relaxed), "tokensIssued": s.tokens_issued.load(Ordering::Relaxed),
                        "jobsSubmitted": s.jobs_submitted.load(Ordering::Relaxed), "pagesServed": s.pages_served.load(Ordering::Relaxed),
                        "bytesServed": s.bytes_served.load(Ordering::Relaxed), "status401": s.status_401.load(Ordering::Relaxed),
                        "status429": s.status_429.load(Ordering::Relaxed), "faults": shared.injected.report()}),
            )
        }
        _ => error_reply(404, "not.found", "The requested resource was not found."),
    }
}

fn token(shared: &Shared, body: &[u8], auth: Option<&str>) -> Reply {
    let form = String::from_utf8_lossy(body);
    if !form
        .split('&')
        .any(|kv| kv == "grant_type=client_credentials")
    {
        return json_reply(
            400,
            &json!({"error": "unsupported_grant_type", "description": "grant_type must be client_credentials"}),
        );
    }
    let basic = auth
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let Some((id, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
        return json_reply(
            401,
            &json!({"error": "invalid_client", "description": "client authentication failed"}),
        );
    };
    if let Some((want_id, want_secret)) = &shared.config.credentials
        && (id != want_id || secret != want_secret.expose())
    {
        return json_reply(
            401,
            &json!({"error": "invalid_client", "description": "client authentication failed"}),
        );
    }
    let n = shared.stats.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let token = format!(
        "simtok-{:016x}-{n}",
        shared.cursor_key.wrapping_mul(n + 0x9E37)
    );
    let ttl = shared.config.token_ttl_s;
    lock(shared).tokens.insert(
        token.clone(),
        (now_ms() + ttl as i64 * 1000, id.to_string(), 0),
    );
    json_reply(
        200,
        &json!({"access_token": token, "token_type": "bearer", "expires_in": ttl}),
    )
}

/// Checks the bearer token and counts the call; returns the token's client id.
fn check_bearer(shared: &Shared, auth: Option<&str>) -> Result<String, Reply> {
    let Some(token) = auth.and_then(|a| {
        a.strip_prefix("Bearer ")
            .or_else(|| a.strip_prefix("bearer "))
    }) else {
        return Err(error_reply(
            401,
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        ));
    };
    let bad = || error_reply(401, "bad.credentials", "Invalid login credentials.");
    let mut st = lock(shared);
    let Some((exp, client, calls)) = st.tokens.get_mut(token.trim()) else {
        return Err(bad());
    };
    if *exp <= now_ms() {
        return Err(bad());
    }
    *calls += 1;
    let client = client.clone();
    // `revoke_every`: the token stops working after n calls (as a revoked grant would).
    if shared
        .config
        .faults
        .revoke_every
        .is_some_and(|n| *calls > n)
    {
        st.tokens.remove(token.trim());
        FaultCounters::bump(&shared.injected.status_401_revoked);
        return Err(bad());
    }
    Ok(client)
}

/// Request-level faults, in the order the platform would apply them: the client's budget,
/// injected throttling, server errors, slowness (the response still comes, late).
fn inject(shared: &Shared, client: &str) -> Result<(), Reply> {
    let plan = &shared.config.faults;
    if let Some(budget) = plan.budget_per_minute {
        let now = now_ms();
        let mut st = lock(shared);
        let window = st.budget.entry(client.to_string()).or_default();
        while window.front().is_some_and(|t| *t <= now - 60_000) {
            window.pop_front();
        }
        if window.len() >= budget as usize {
            let wait_s = window
                .front()
                .map_or(1, |t| ((t + 60_000 - now) as u64).div_ceil(1000).max(1));
            drop(st);
            FaultCounters::bump(&shared.injected.status_429_budget);
            return Err(too_many(shared, wait_s));
        }
        window.push_back(now);
    }
    if shared.dice.roll(plan.rate_429) {
        FaultCounters::bump(&shared.injected.status_429_injected);
        return Err(too_many(shared, plan.retry_after_s));
    }
    if shared.dice.roll(plan.rate_5xx) {
        FaultCounters::bump(&shared.injected.status_5xx);
        let (status, code, message) = [
            (
                500,
                "internal.server.error",
                "The server encountered an unexpected condition.",
            ),
            (502, "bad.gateway", "Bad Gateway"),
            (
                503,
                "service.unavailable",
                "Service Unavailable - The server is currently unavailable (because it is overloaded or down for maintenance).",
            ),
            (504, "request.timeout", "The request timed out."),
        ][shared.dice.pick(4)];
        return Err(error_reply(status, code, message));
    }
    if shared.dice.roll(plan.slow) {
        FaultCounters::bump(&shared.injected.slow);
        std::thread::sleep(std::time::Duration::from_millis(plan.slow_ms));
    }
    Ok(())
}

/// 429 too.many.requests with an integer `Retry-After` (genesys-api.md §2.2).
fn too_many(shared: &Shared, retry_after_s: u64) -> Reply {
    shared.stats.status_429.fetch_add(1, Ordering::Relaxed);
    let mut r = error_reply(
        429,
        "too.many.requests",
        &format!("Rate limit exceeded the maximum. Retry the request in [{retry_after_s}] seconds"),
    );
    r.add_header("Retry-After", retry_after_s.to_string());
    r
}

fn availability(shared: &Shared) -> i64 {
    now_ms()
        - shared
            .config
            .faults
            .lag_ms
            .unwrap_or(shared.config.availability_lag_ms)
}

fn parse_interval(s: &str) -> Option<(i64, i64)> {
    let (a, b) = s.split_once('/')?;
    let (a, b) = (parse_iso_ms(a)?, parse_iso_ms(b)?);
    (a < b).then_some((a, b))
}

fn submit_job(shared: &Arc<Shared>, body: &[u8]) -> Reply {
    let query: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return error_reply(
                400,
                "bad.request",
                "The request could not be understood by the server due to malformed syntax.",
            );
        }
    };
    let Some(interval) = query
        .get("interval")
        .and_then(|v| v.as_str())
        .and_then(parse_interval)
    else {
        return error_reply(
            400,
            "bad.request",
            "interval is required: start/end as ISO-8601 instants, start before end.",
        );
    };
    let start_of_day = query
        .get("startOfDayIntervalMatching")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let mut st = lock(shared);
    let (now, latency) = (now_ms(), shared.config.job_latency_ms as i64);
    let active = st
        .jobs
        .values()
        .filter(|j| j.fulfilled_at(now, latency).is_none() && j.failed.is_none())
        .count();
    if active >= shared.config.max_concurrent_jobs {
        drop(st);
        FaultCounters::bump(&shared.injected.status_429_job_cap);
        return too_many(shared, 1);
    }
    // Expiry strikes a share of jobs part-way through their pages.
    let expire_after_pages = shared
        .dice
        .roll(shared.config.faults.job_expire)
        .then(|| 1 + shared.dice.pick(4));
    let cursor_dies_at_page = shared
        .dice
        .roll(shared.config.faults.cursor_expire)
        .then(|| 1 + shared.dice.pick(4));
    let failed = shared.dice.roll(shared.config.faults.job_fail).then(|| {
        FaultCounters::bump(&shared.injected.jobs_failed);
        "The analytics query failed; submit the job again.".to_string()
    });
    st.next_id += 1;
    let mut rng_id = shared.cursor_key ^ st.next_id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    rng_id ^= rng_id >> 29;
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        rng_id as u32,
        (rng_id >> 32) as u16,
        st.next_id & 0xfff,
        (rng_id >> 48) & 0xfff,
        st.next_id
    );
    st.jobs.insert(
        id.clone(),
        Job {
            interval,
            expired: false,
            expire_after_pages,
            cursor_dies_at_page,
            pages_served: 0,
            submitted_ms: now_ms(),
            ready_ms: None,
            data: None,
            failed,
        },
    );
    // A window extracted before comes back restated (genesys-api.md §12).
    let restated = shared.config.faults.restate > 0.0 && st.served.contains(&interval);
    drop(st);
    shared.stats.jobs_submitted.fetch_add(1, Ordering::Relaxed);
    let (shared2, id2) = (Arc::clone(shared), id.clone());
    std::thread::spawn(move || {
        let data = job_data(&shared2, interval, start_of_day, restated);
        if let Some(job) = lock(&shared2).jobs.get_mut(&id2) {
            job.data = Some(Arc::new(data));
            job.ready_ms = Some(now_ms());
        }
    });
    json_reply(202, &json!({"jobId": id}))
}

/// Conversations a job over `interval` returns, oldest start first: lifetime overlap (or
/// start-day matching), and nothing that started after the availability date.
fn job_data(
    shared: &Shared,
    (start, end): (i64, i64),
    start_of_day: bool,
    restated: bool,
) -> Vec<Arc<Ser>> {
    let avail = availability(shared);
    let mut out = Vec::new();
    for day in Generator::days_overlapping(start, end) {
        for c in day_data(shared, day, restated).iter() {
            let keep = if start_of_day {
                c.start_ms >= start.div_euclid(MS_PER_DAY) * MS_PER_DAY && c.start_ms < end
            } else {
                let e = c
                    .end_ms
                    .unwrap_or(c.start_ms + super::data::MAX_LIFETIME_MS);
                c.start_ms < end && e > start
            };
            if keep && c.start_ms < avail {
                out.push(Arc::clone(c));
            }
        }
    }
    out
}

/// A day's conversations serialized once and cached (the most recent few days), as first
/// extracted or as restated.
fn day_data(shared: &Shared, day: i64, restated: bool) -> Arc<Vec<Arc<Ser>>> {
    {
        let st = lock(shared);
        let cache = if restated {
            &st.restated_days
        } else {
            &st.days
        };
        if let Some(d) = cache.get(&day) {
            return Arc::clone(d);
        }
    }
    let rate = shared.config.faults.restate;
    let data: Vec<Arc<Ser>> = shared
        .generator
        .day(day)
        .into_iter()
        .map(|c| {
            let c = if restated && shared.generator.is_restated(&c, rate) {
                FaultCounters::bump(&shared.injected.conversations_restated);
                shared.generator.restate(c)
            } else {
                c
            };
            Arc::new(Ser {
                start_ms: c.start_ms,
                end_ms: c.end_ms,
                json: serde_json::to_vec(&c).unwrap_or_default(),
            })
        })
        .collect();
    let data = Arc::new(data);
    let mut st = lock(shared);
    let cache = if restated {
        &mut st.restated_days
    } else {
        &mut st.days
    };
    if cache.len() >= 8
        && let Some(oldest) = cache.keys().min().copied()
    {
        cache.remove(&oldest);
    }
    cache.insert(day, Arc::clone(&data));
    data
}

fn job_status(shared: &Shared, id: &str) -> Reply {
    let st = lock(shared);
    let Some(job) = st.jobs.get(id) else {
        return error_reply(404, "not.found", "The requested resource was not found.");
    };
    let now = now_ms();
    let latency = shared.config.job_latency_ms as i64;
    if let Some(msg) = &job.failed {
        return json_reply(
            200,
            &json!({"state": "FAILED", "errorMessage": msg, "submissionDate": iso(job.submitted_ms)}),
        );
    }
    let mut body = json!({"submissionDate": iso(job.submitted_ms)});
    match job.fulfilled_at(now, latency) {
        Some(done) => {
            let expires = done + shared.config.job_retention_ms;
            body["state"] = json!(if now > expires {
                "EXPIRED"
            } else {
                "FULFILLED"
            });
            body["completionDate"] = json!(iso(done));
            body["expirationDate"] = json!(iso(expires));
        }
        None if now - job.submitted_ms < latency / 2 => body["state"] = json!("QUEUED"),
        None => body["state"] = json!("PENDING"),
    }
    json_reply(200, &body)
}

fn cursor_for(shared: &Shared, job: &str, offset: usize) -> String {
    let check = fnv(format!("{}:{job}:{offset}", shared.cursor_key).as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{offset}:{check:016x}"))
}

fn parse_cursor(shared: &Shared, job: &str, cursor: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (offset, _) = raw.split_once(':')?;
    let offset: usize = offset.parse().ok()?;
    (cursor_for(shared, job, offset) == cursor).then_some(offset)
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn results(shared: &Shared, id: &str, query: &HashMap<String, String>) -> Reply {
    let page_size = match query.get("pageSize").map(|s| s.parse::<usize>()) {
        None => shared.config.default_page_size,
        Some(Ok(n)) if (1..=shared.config.max_page_size).contains(&n) => n,
        Some(_) => {
            return error_reply(
                400,
                "bad.request",
                &format!(
                    "pageSize must be between 1 and {}",
                    shared.config.max_page_size
                ),
            );
        }
    };
    let faults = &shared.config.faults;
    let (data, interval) = {
        let mut st = lock(shared);
        let Some(job) = st.jobs.get_mut(id) else {
            return error_reply(404, "not.found", "The requested resource was not found.");
        };
        if !job.expired && job.expire_after_pages == Some(job.pages_served) {
            job.expired = true;
            FaultCounters::bump(&shared.injected.jobs_expired);
        }
        if job.expired {
            return error_reply(404, "not.found", "The job has expired; submit it again.");
        }
        if query.contains_key("cursor") && job.cursor_dies_at_page == Some(job.pages_served) {
            job.cursor_dies_at_page = None;
            FaultCounters::bump(&shared.injected.cursors_expired);
            return error_reply(
                404,
                "not.found",
                "The cursor has expired; submit the job again.",
            );
        }
        let interval = job.interval;
        match (
            &job.data,
            job.fulfilled_at(now_ms(), shared.config.job_latency_ms as i64),
        ) {
            (Some(d), Some(done)) if now_ms() <= done + shared.config.job_retention_ms => {
                (Arc::clone(d), interval)
            }
            (_, Some(_)) => {
                return error_reply(404, "not.found", "The job has expired; submit it again.");
            }
            _ => {
                return error_reply(
                    400,
                    "bad.request",
                    "The job is not FULFILLED yet; poll its status first.",
                );
            }
        }
    };
    let offset = match query.get("cursor") {
        None => 0,
        Some(c) => match parse_cursor(shared, id, c) {
            Some(o) if o <= data.len() => o,
            _ => return error_reply(400, "bad.request", "Invalid cursor."),
        },
    };
    // Real pages may be short and still carry a cursor: make every 7th page short.
    let short = (offset / page_size.max(1)) % 7 == 3;
    let take = if short {
        (page_size / 2).max(1)
    } else {
        page_size
    };
    let end = (offset + take).min(data.len());
    let mut body = shared.bodies.take(
        data[offset..end]
            .iter()
            .map(|c| c.json.len() + 1)
            .sum::<usize>()
            + 160,
    );
    if end > offset {
        body.extend_from_slice(b"{\"conversations\":[");
        for (i, c) in data[offset..end].iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&c.json);
        }
        body.extend_from_slice(b"],");
    } else {
        body.push(b'{');
    }
    body.extend_from_slice(
        format!("\"dataAvailabilityDate\":\"{}\"", iso(availability(shared))).as_bytes(),
    );
    if end < data.len() {
        body.extend_from_slice(
            format!(",\"cursor\":\"{}\"", cursor_for(shared, id, end)).as_bytes(),
        );
    }
    body.push(b'}');
    {
        let mut st = lock(shared);
        if let Some(job) = st.jobs.get_mut(id) {
            job.pages_served += 1;
        }
        if end == data.len() {
            st.served.insert(interval);
        }
    }
    // `malformed`: the same pages are bad on every request (decided by window and offset).
    let key = format!("malformed:{}:{offset}", interval.0);
    if end > offset && fraction(shared.config.seed, &key) < faults.malformed {
        FaultCounters::bump(&shared.injected.pages_malformed);
        malform(&mut body, fraction(shared.config.seed ^ 1, &key));
    } else if shared.dice.roll(faults.drop) {
        // tiny_http cannot close a connection mid-body, so the client gets the same thing
        // through a complete response: a body that stops half-way.
        FaultCounters::bump(&shared.injected.dropped);
        body.truncate(body.len() / 2);
    }
    shared.stats.pages_served.fetch_add(1, Ordering::Relaxed);
    shared
        .stats
        .bytes_served
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    Reply::new(200, body)
}

/// Makes a page permanently bad in one of three ways, chosen by `pick` in [0, 1).
fn malform(body: &mut Vec<u8>, pick: f64) {
    let find = |body: &[u8], needle: &[u8]| body.windows(needle.len()).position(|w| w == needle);
    let string_value_end = |body: &[u8], from: usize| {
        body[from..]
            .iter()
            .position(|b| *b == b'"')
            .map(|p| from + p + 1)
    };
    if pick < 1.0 / 3.0 {
        // Truncated: the JSON stops mid-way.
        body.truncate(body.len() * 3 / 5);
    } else if pick < 2.0 / 3.0 {
        // Wrong type: conversationStart as a number.
        let key = b"\"conversationStart\":\"";
        if let Some(at) = find(body, key)
            && let Some(end) = string_value_end(body, at + key.len())
        {
            body.splice(at + key.len() - 1..end, b"1709546400".iter().copied());
        }
    } else {
        // Missing id: the first conversation without its conversationId.
        let key = b"\"conversationId\":\"";
        if let Some(at) = find(body, key)
            && let Some(end) = string_value_end(body, at + key.len())
        {
            let end = if body.get(end) == Some(&b',') {
                end + 1
            } else {
                end
            };
            body.drain(at..end);
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
