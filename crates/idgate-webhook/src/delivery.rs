//! One delivery attempt on the sender side, wired from the other modules: seal the event for
//! the attempt (the server makes the JWE at send time and never stores it), sign per attempt
//! (a fresh `webhook-timestamp` each time), POST through the SSRF-guarded client, and report
//! what happened in the terms the outbox records (docs/webhooks.md "Deliveries": status code,
//! latency, first 1 KiB of the response body, error kind).
//!
//! Owns no state and no schedule; [`crate::backoff`] decides what the report means.

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::backoff::{AttemptResult, parse_retry_after};
use crate::event::Event;
use crate::jwe::{self, JweError};
use crate::keys::RecipientKey;
use crate::secret::WebhookSecret;
use crate::signature;
use crate::ssrf::{SsrfError, SsrfPolicy, blocked_reason};

/// How much of a response body is kept for the integrator's delivery log.
pub const MAX_RESPONSE_PREFIX: usize = 1024;

/// Encrypts an event to the endpoint's active key: the delivery body.
pub fn seal(event: &Event, recipient: &RecipientKey) -> Result<String, JweError> {
    let plaintext = zeroize::Zeroizing::new(event.to_json().map_err(|_| JweError::Encryption)?);
    jwe::encrypt(&plaintext, recipient)
}

/// The headers of one attempt: `content-type: application/jose`, the Standard Webhooks
/// triple, and `user-agent`.
pub fn headers(
    secrets: &[WebhookSecret],
    event_id: &str,
    timestamp: i64,
    body: &str,
    user_agent: &str,
) -> Result<HeaderMap, http::header::InvalidHeaderValue> {
    let mut map = HeaderMap::new();
    map.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(crate::CONTENT_TYPE),
    );
    map.insert(http::header::USER_AGENT, HeaderValue::from_str(user_agent)?);
    map.insert(
        HeaderName::from_static(signature::HEADER_ID),
        HeaderValue::from_str(event_id)?,
    );
    map.insert(
        HeaderName::from_static(signature::HEADER_TIMESTAMP),
        HeaderValue::from(timestamp),
    );
    let signatures = signature::sign(secrets, event_id, timestamp, body.as_bytes());
    map.insert(
        HeaderName::from_static(signature::HEADER_SIGNATURE),
        HeaderValue::from_str(&signatures)?,
    );
    Ok(map)
}

/// Why an attempt got no HTTP response, as recorded on the attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// The SSRF guard refused the URL or every address its host resolves to. The reason is kept
    /// for the caller's tests and diagnostics but is not part of [`AttemptError::kind`].
    #[error("destination refused: {0}")]
    Refused(SsrfError),
    /// The host name did not resolve (or to no address at all): retried like a network error.
    #[error("host name did not resolve")]
    Dns,
    #[error("timed out")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("request failed")]
    Other,
}

impl AttemptError {
    /// A stable label for storage and metrics, shown to the endpoint's owner in the delivery
    /// log. Every refusal is the one label `refused`: which special-purpose range an address
    /// fell in (loopback, private, link-local, ...) would let a tenant map the server's internal
    /// names and networks through the attempts of endpoints it points at them.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Refused(_) => "refused",
            Self::Dns => "dns",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Other => "other",
        }
    }
}

/// What one attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptReport {
    pub status: Option<u16>,
    pub latency: Duration,
    /// Up to [`MAX_RESPONSE_PREFIX`] bytes of the response body.
    pub response_prefix: Vec<u8>,
    pub error: Option<AttemptError>,
    /// The receiver's `Retry-After`, already converted to a delay.
    pub retry_after: Option<Duration>,
}

impl AttemptReport {
    /// The input [`crate::backoff::RetrySchedule::decide`] expects.
    pub fn result(&self) -> AttemptResult {
        match (self.status, &self.error) {
            (Some(status), _) => AttemptResult::Status(status),
            (None, Some(AttemptError::Timeout)) => AttemptResult::Timeout,
            (None, Some(AttemptError::Refused(_))) => AttemptResult::Refused,
            (None, _) => AttemptResult::Network,
        }
    }
}

/// Sends one attempt. The URL is re-checked against `policy` first (it may have been stored
/// under a laxer configuration), and `client` must come from [`crate::ssrf::build_client`]
/// with the same policy so resolved addresses are checked too.
pub async fn send(
    client: &reqwest::Client,
    policy: &SsrfPolicy,
    url: &str,
    headers: HeaderMap,
    body: String,
) -> AttemptReport {
    let started = Instant::now();
    let mut report = AttemptReport {
        status: None,
        latency: Duration::ZERO,
        response_prefix: Vec::new(),
        error: None,
        retry_after: None,
    };
    let url = match policy.check_url(url) {
        Ok(url) => url,
        Err(e) => {
            report.error = Some(AttemptError::Refused(e));
            return report;
        }
    };
    match client.post(url).headers(headers).body(body).send().await {
        Ok(mut response) => {
            report.status = Some(response.status().as_u16());
            report.retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    #[allow(
                        clippy::disallowed_methods,
                        reason = "an HTTP-date Retry-After counts from when the answer arrived"
                    )]
                    let received = time::OffsetDateTime::now_utc();
                    parse_retry_after(v, received)
                });
            while report.response_prefix.len() < MAX_RESPONSE_PREFIX {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        let room = MAX_RESPONSE_PREFIX - report.response_prefix.len();
                        report.response_prefix.extend_from_slice(
                            chunk.get(..room.min(chunk.len())).unwrap_or_default(),
                        );
                    }
                    // The status decides the outcome; a body cut short does not change it.
                    Ok(None) | Err(_) => break,
                }
            }
        }
        Err(e) => report.error = Some(classify_error(&e)),
    }
    report.latency = started.elapsed();
    report
}

fn classify_error(error: &reqwest::Error) -> AttemptError {
    if let Some(refusal) = blocked_reason(error) {
        match refusal {
            SsrfError::Resolve(_) => AttemptError::Dns,
            refusal => AttemptError::Refused(refusal.clone()),
        }
    } else if error.is_timeout() {
        AttemptError::Timeout
    } else if error.is_connect() {
        AttemptError::Connect
    } else {
        AttemptError::Other
    }
}
