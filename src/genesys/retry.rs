//! Retry decisions as data: a pure classifier turns one response (or transport failure)
//! into `Success`, `RefreshToken`, `Retry { after, reason }` or `Fail { reason }`; the
//! loop that sleeps stays small and the policy is unit-tested without a network.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// A 429 asking to wait longer than this is a quota, not a burst: stop, keep the
    /// checkpoint, and tell the user to rerun later (genesys-api.md §2.2).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(180),
        }
    }
}

/// What happened on one attempt.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    Status {
        code: u16,
        retry_after: Option<&'a str>,
    },
    /// Connection refused/reset, timeout, truncated body: the request may be repeated.
    Transport,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Success,
    RefreshToken,
    Retry {
        after: Duration,
        reason: &'static str,
    },
    Fail {
        reason: String,
    },
}

/// `attempt` is 1-based; `jitter` in `[0, 1)` scales the backoff (full jitter).
pub fn classify(
    outcome: Outcome<'_>,
    attempt: u32,
    refreshed: bool,
    policy: &RetryPolicy,
    jitter: f64,
) -> Decision {
    let backoff = || {
        let exp = policy
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        exp.min(policy.cap).mul_f64(jitter.clamp(0.0, 1.0))
    };
    let exhausted = attempt >= policy.max_attempts;
    match outcome {
        Outcome::Status {
            code: 200..=299, ..
        } => Decision::Success,
        Outcome::Status { code: 401, .. } if !refreshed => Decision::RefreshToken,
        Outcome::Status { code: 401, .. } => Decision::Fail {
            reason:
                "HTTP 401 again after a fresh token: check the OAuth client's credentials and roles"
                    .into(),
        },
        Outcome::Status { code, retry_after }
            if matches!(code, 408 | 429 | 500 | 502 | 503 | 504) =>
        {
            if exhausted {
                return Decision::Fail {
                    reason: format!("HTTP {code} on {attempt} attempts in a row"),
                };
            }
            let asked = retry_after
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            match asked {
                Some(wait) if wait > policy.max_retry_after => Decision::Fail {
                    reason: format!(
                        "HTTP {code} with Retry-After {}s, over the {}s limit (likely a daily quota); \
                         rerun later: the checkpoint keeps your progress",
                        wait.as_secs(),
                        policy.max_retry_after.as_secs()
                    ),
                },
                // Honour the server's wait and spread the herd by up to a tenth of it (the
                // limiter paces what follows; a fixed extra step would waste the budget).
                Some(wait) => Decision::Retry {
                    after: wait + wait.mul_f64(0.1 * jitter.clamp(0.0, 1.0)),
                    reason: if code == 429 {
                        "rate limited (429)"
                    } else {
                        "server unavailable"
                    },
                },
                None => Decision::Retry {
                    after: backoff(),
                    reason: if code == 429 {
                        "rate limited (429)"
                    } else {
                        "server error"
                    },
                },
            }
        }
        Outcome::Status { code, .. } => Decision::Fail {
            reason: format!("HTTP {code}"),
        },
        Outcome::Transport if exhausted => Decision::Fail {
            reason: format!("connection failed {attempt} times in a row"),
        },
        Outcome::Transport => Decision::Retry {
            after: backoff(),
            reason: "connection error",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> RetryPolicy {
        RetryPolicy::default()
    }

    #[test]
    fn retry_after_is_honoured_plus_jitter() {
        let d = classify(
            Outcome::Status {
                code: 429,
                retry_after: Some("3"),
            },
            1,
            false,
            &p(),
            0.5,
        );
        assert_eq!(
            d,
            Decision::Retry {
                after: Duration::from_millis(3150), // 3 s + 0.5 × 10%
                reason: "rate limited (429)"
            }
        );
    }

    #[test]
    fn hours_long_retry_after_stops_instead_of_hanging() {
        let d = classify(
            Outcome::Status {
                code: 429,
                retry_after: Some("7200"),
            },
            1,
            false,
            &p(),
            0.0,
        );
        assert!(matches!(d, Decision::Fail { reason } if reason.contains("7200s")));
    }

    #[test]
    fn expired_token_is_refreshed_once() {
        assert_eq!(
            classify(
                Outcome::Status {
                    code: 401,
                    retry_after: None
                },
                1,
                false,
                &p(),
                0.0
            ),
            Decision::RefreshToken
        );
        assert!(matches!(
            classify(
                Outcome::Status {
                    code: 401,
                    retry_after: None
                },
                2,
                true,
                &p(),
                0.0
            ),
            Decision::Fail { .. }
        ));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let after = |attempt| match classify(Outcome::Transport, attempt, false, &p(), 0.999_999) {
            Decision::Retry { after, .. } => after,
            other => panic!("{other:?}"),
        };
        assert!(after(2) > after(1));
        assert!(after(9) <= p().cap);
    }

    #[test]
    fn client_errors_are_permanent_and_attempts_are_bounded() {
        assert!(matches!(
            classify(
                Outcome::Status {
                    code: 400,
                    retry_after: None
                },
                1,
                false,
                &p(),
                0.0
            ),
            Decision::Fail { .. }
        ));
        assert!(matches!(
            classify(
                Outcome::Status {
                    code: 503,
                    retry_after: None
                },
                10,
                false,
                &p(),
                0.0
            ),
            Decision::Fail { .. }
        ));
    }
}
