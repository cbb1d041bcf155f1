//! The limits that keep hostile or merely overeager clients from stopping the server for
//! everyone (docs/connection-limits.md):
//!
//! - a process descriptor limit raised to its hard limit at start, and a bound on open
//!   connections derived from it, so the process never runs out of descriptors;
//! - a deadline for a request body ([`buffer_body`]), so a client trickling its upload cannot
//!   hold a connection (or a request slot) for ever;
//! - load shedding ([`shed_load`]): a fixed number of requests in handlers at once, and no
//!   request served that has been in the server longer than the queue timeout, counted from
//!   when its bytes arrived (`crate::listener`): past it, `503 OVERLOADED` with `Retry-After`,
//!   so the latency of accepted requests stays bounded instead of growing with the queue; and a
//!   time limit for handlers.
//!
//! Deadlines for request heads and idle keep-alive connections live with the connection itself
//! (`crate::listener`), since no request exists yet when they expire.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use idgate_core::{Error as DomainError, ErrorCode};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::error::{PendingError, error_body};

use crate::listener::RequestArrival;
use crate::telemetry::{HTTP_REQUESTS_SHED, HTTP_TIMEOUTS, TimeoutKind};

/// Descriptors kept back from client connections for everything else the process opens: the
/// listener, database connections and SQLite files, webhook delivery sockets, refused
/// connections being closed, logs.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// The default connection bound when the descriptor limit is unlimited or unknown; each
/// connection also costs buffers and a task, so "unlimited" is not taken literally.
pub const MAX_DEFAULT_CONNECTIONS: usize = 65_536;

/// Routes that never wait for or lose a request slot: probes and scrapes must keep answering
/// while the server sheds load, or an orchestrator would restart a node that is merely busy.
const UNSHED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Seconds a shed client is asked to wait (`Retry-After`, RFC 9110 §10.2.3).
const SHED_RETRY_AFTER_SECS: u64 = 1;

/// Every limit of the HTTP layer, as [`crate::Config::connection_limits`] resolves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub request_body_timeout: Duration,
    pub handler_timeout: Duration,
    pub max_connections: usize,
    pub max_concurrent_requests: usize,
    pub request_queue_timeout: Duration,
}

impl ConnectionLimits {
    /// How long graceful shutdown waits for in-flight requests: the longest a request admitted
    /// before the signal can still legitimately take (its body, then its handler), plus a margin
    /// for writing the response.
    pub fn drain_timeout(&self) -> Duration {
        self.request_body_timeout + self.handler_timeout + Duration::from_secs(5)
    }
}

/// The connection bound for a descriptor limit: the limit minus [`RESERVED_DESCRIPTORS`], but
/// at least half the limit when the limit is small, and at most [`MAX_DEFAULT_CONNECTIONS`].
pub fn default_max_connections(fd_limit: Option<u64>) -> usize {
    let Some(limit) = fd_limit else {
        return MAX_DEFAULT_CONNECTIONS;
    };
    let bound = limit
        .saturating_sub(RESERVED_DESCRIPTORS)
        .max(limit / 2)
        .max(1);
    usize::try_from(bound).map_or(MAX_DEFAULT_CONNECTIONS, |bound| {
        bound.min(MAX_DEFAULT_CONNECTIONS)
    })
}

/// The descriptor limit of the process before and after [`raise_descriptor_limit`]; `None`
/// means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorLimit {
    pub before: Option<u64>,
    pub now: Option<u64>,
    pub hard: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. Service managers commonly start
/// processes with a soft limit of 1024 and a far higher hard limit, which any process may
/// raise itself to (POSIX `setrlimit`); a server holding one descriptor per client needs it.
#[cfg(unix)]
pub fn raise_descriptor_limit() -> std::io::Result<DescriptorLimit> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    if before.current != before.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: before.maximum,
                maximum: before.maximum,
            },
        )?;
    }
    Ok(DescriptorLimit {
        before: before.current,
        now: getrlimit(Resource::Nofile).current,
        hard: before.maximum,
    })
}

/// The process's current (soft) descriptor limit; `None` when unlimited or unknown.
pub fn descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// State of [`buffer_body`] and [`shed_load`], shared by all requests of one app.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    handler_timeout: Duration,
    body_timeout: Duration,
    docs_base: Arc<str>,
    /// The body of `503 OVERLOADED`, written once: shedding must cost as little as possible,
    /// since it is what the server does most when it has too much to do.
    overloaded_body: Bytes,
}

impl RequestLimits {
    pub fn new(limits: &ConnectionLimits, docs_base: Arc<str>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            queue_timeout: limits.request_queue_timeout,
            handler_timeout: limits.handler_timeout,
            body_timeout: limits.request_body_timeout,
            overloaded_body: Bytes::from(error_body(
                &PendingError {
                    error: DomainError::new(ErrorCode::Overloaded),
                    pagination_limit: None,
                    cause: None,
                },
                &docs_base,
            )),
            docs_base,
        }
    }

    /// `503 OVERLOADED` with `Retry-After` (RFC 9110 §10.2.3), for a shed request.
    fn overloaded(&self) -> Response {
        let mut response = Response::new(Body::from(self.overloaded_body.clone()));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(SHED_RETRY_AFTER_SECS),
        );
        response
    }

    /// A finished error response in the API envelope. These layers run outside the router's
    /// own error rendering (so a shed request costs as little as possible), hence the body is
    /// written here.
    fn error(&self, error: DomainError) -> Response {
        let status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = error_body(
            &PendingError {
                error,
                pagination_limit: None,
                cause: None,
            },
            &self.docs_base,
        );
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Receives the whole request body (up to one byte past [`MAX_BODY_BYTES`]) within the body
/// deadline before the request goes any further. A client that has not sent it in time gets
/// `408 REQUEST_TIMEOUT` and the connection is closed (RFC 9110 §15.5.9); the unread rest of
/// its body would otherwise be taken for the next request.
///
/// Buffering here, before [`shed_load`], means a slow uploader holds only its connection, never
/// one of the request slots that fast clients need. Bodies declared larger than the limit are
/// passed on untouched so the extractor answers `413` without reading them.
pub async fn buffer_body(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    let limit = crate::extract::body_limit(request.uri().path());
    let body_size = request.body().size_hint();
    let declared_too_large = body_size.lower() > limit as u64;
    if request.body().is_end_stream() || declared_too_large {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut received =
        Vec::with_capacity(usize::try_from(body_size.lower()).unwrap_or(0).min(limit));
    let read = tokio::time::timeout(limits.body_timeout, async {
        while let Some(chunk) = stream.next().await {
            received.extend_from_slice(&chunk?);
            if received.len() > limit {
                break;
            }
        }
        Ok::<(), axum::Error>(())
    })
    .await;
    match read {
        Ok(Ok(())) => {
            let request = Request::from_parts(parts, Body::from(Bytes::from(received)));
            next.run(request).await
        }
        Ok(Err(_)) => limits.error(DomainError::with_message(
            ErrorCode::InvalidRequest,
            "Invalid request body: it could not be read.",
        )),
        Err(_elapsed) => {
            metrics::counter!(HTTP_TIMEOUTS, "kind" => TimeoutKind::Body.as_str()).increment(1);
            let mut response = limits.error(DomainError::new(ErrorCode::RequestTimeout));
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// Load shedding and the handler time limit. A request is served only within the queue
/// timeout of its arrival at the server (its head's, or its body's last bytes' when it has a
/// body, see `crate::listener::RequestArrival`): one that is older when it gets here, or that has not got one
/// of `max_concurrent_requests` slots by then, gets `503 OVERLOADED` with `Retry-After`. Age
/// matters as much as slots: when the CPU is the bottleneck, handlers finish without ever
/// filling the slots, and requests queue instead for their connection's turn to run, unseen by
/// the slots; shedding them by age is what keeps accepted requests' latency bounded. A
/// handler that has not produced its response head within the handler timeout is dropped and
/// answered `503 HANDLER_TIMEOUT`. A streamed response body (an event stream) is not timed: its
/// slot is released when the head is ready, and it bounds itself with heartbeats and its own
/// limits. `/healthz`, `/readyz` and `/metrics` bypass both.
pub async fn shed_load(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    if UNSHED_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    // Requests served by the listener carry when they reached the server; others (the
    // in-process test harness) start queueing now.
    let arrived = request
        .extensions()
        .get::<RequestArrival>()
        .map_or_else(Instant::now, RequestArrival::complete);
    let give_up = arrived + limits.queue_timeout;
    // A request older than the queue timeout already waited its time, whether for a slot or, as
    // when handlers are busy with the CPU rather than waiting, for its connection's turn to
    // run: serving it now would be serving it late. A timeout of 0 means no queueing at all,
    // so there it is only the slot that counts.
    let too_old = !limits.queue_timeout.is_zero() && Instant::now() > give_up;
    let slot = if too_old {
        None
    } else {
        match limits.slots.clone().try_acquire_owned() {
            Ok(slot) => Some(slot),
            // The semaphore is never closed; a timeout or a close both mean "no slot".
            Err(_) => tokio::time::timeout_at(give_up, limits.slots.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok),
        }
    };
    let Some(slot) = slot else {
        metrics::counter!(HTTP_REQUESTS_SHED).increment(1);
        return limits.overloaded();
    };
    let outcome = tokio::time::timeout(limits.handler_timeout, next.run(request)).await;
    drop(slot);
    match outcome {
        Ok(response) => response,
        Err(_elapsed) => {
            metrics::counter!(HTTP_TIMEOUTS, "kind" => TimeoutKind::Handler.as_str()).increment(1);
            tracing::warn!(
                timeout_ms = limits.handler_timeout.as_millis(),
                "handler did not answer in time"
            );
            limits.error(DomainError::new(ErrorCode::HandlerTimeout))
        }
    }
}

#[cfg(test)]
#[path = "limits_test.rs"]
mod tests;
