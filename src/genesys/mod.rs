//! The Genesys Cloud client: everything that talks HTTP to the Platform API.
//!
//! Owns: credentials and the token cache (proactive refresh, one retry on 401), the retry
//! classifier (429 `Retry-After`, 5xx and transport errors with jittered backoff), the
//! request-rate limiter, the details-job endpoints and their counters. Runs on the one
//! fetch thread; blocking by design. Must not touch: parsing of records, sinks, checkpoint.

mod auth;
mod client;
pub mod retry;

pub use auth::{Credentials, Secret};
pub use client::{
    ApiCounters, ApiError, BREAKER_CLOSED, BREAKER_HALF_OPEN, BREAKER_OPEN, Client, ClientConfig,
    JobState, JobStatus, login_base_for, region_api_base,
};
