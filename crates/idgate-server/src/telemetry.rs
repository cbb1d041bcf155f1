//! Logs and metrics: JSON `tracing` logs carrying a request id, and the Prometheus recorder
//! behind `GET /metrics`.
//!
//! Logs never contain request or response bodies, query strings or credentials: the request span
//! records the method, the route template (not the concrete path), the status and the latency;
//! `Authorization` and `Cookie` are marked sensitive before any layer can see them.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Histogram of request latency, labelled by method, route template and status.
pub const HTTP_REQUEST_DURATION: &str = "idgate_http_request_duration_seconds";
/// Sessions created through the integrator API.
pub const SESSIONS_CREATED: &str = "idgate_sessions_created_total";
/// Sessions moved to `cancelled` by an integrator.
pub const SESSIONS_CANCELLED: &str = "idgate_sessions_cancelled_total";
/// Sessions moved to `expired` (by the sweeper or on read).
pub const SESSIONS_EXPIRED: &str = "idgate_sessions_expired_total";

/// Verifications that ended, by `outcome` (`succeeded`, `failed`) and `failure_code`.
pub const VERIFICATIONS: &str = "idgate_verifications_total";
/// Test-mode simulations started by the hosted page, by `outcome` (`succeeded`, a failure code,
/// `cancel`; docs/verify.md "Test passports and the simulator").
pub const SIMULATIONS: &str = "idgate_simulations_total";
/// Seconds each step of the end-user flow took on the server, by `step`.
pub const VERIFY_STEP_DURATION: &str = "idgate_verify_step_duration_seconds";
/// Client connections currently held open.
pub const HTTP_CONNECTIONS_OPEN: &str = "idgate_http_connections_open";
/// Session status streams (`GET /v1/verify/session/{id}/events`) currently open on this node.
pub const EVENT_STREAMS_OPEN: &str = "idgate_event_streams_open";
/// Connections answered `503` and closed because `max_connections` were already open.
pub const HTTP_CONNECTIONS_REFUSED: &str = "idgate_http_connections_refused_total";
/// Deadlines that expired, labelled by [`TimeoutKind`].
pub const HTTP_TIMEOUTS: &str = "idgate_http_timeouts_total";
/// Requests answered `503 OVERLOADED` because no request slot freed up in time.
pub const HTTP_REQUESTS_SHED: &str = "idgate_http_requests_shed_total";

/// Which deadline of [`crate::limits::ConnectionLimits`] expired (the `kind` label of
/// [`HTTP_TIMEOUTS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The request head was not complete within `header_read_timeout_ms`.
    Header,
    /// A keep-alive connection sat idle longer than `keep_alive_timeout_ms`.
    Idle,
    /// The request body was not complete within `request_body_timeout_ms`.
    Body,
    /// The handler had no response within `handler_timeout_ms`.
    Handler,
}

impl TimeoutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Idle => "idle",
            Self::Body => "body",
            Self::Handler => "handler",
        }
    }
}

/// Buckets of [`idgate_store::sqlite::CREATE_GROUP_SIZE`]: powers of two up to the store's cap of 64.
const GROUP_SIZE_BUCKETS: [f64; 7] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// Latency buckets in seconds: sub-millisecond reads up to slow database calls.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Installs the global tracing subscriber once; later calls (several apps in one test process)
/// are no-ops. `RUST_LOG` overrides the default `info` filter.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// The process-wide Prometheus handle. The `metrics` facade has one global recorder, so every
/// app in the process (several in a test run) renders the same registry.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_REQUEST_DURATION.to_owned()),
                    &LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(idgate_store::sqlite::CREATE_GROUP_SIZE.to_owned()),
                        &GROUP_SIZE_BUCKETS,
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is already installed; then ours simply stays empty
            // of facade metrics, which is visible at /metrics rather than a crash.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency by route template and status."
    );
    metrics::describe_histogram!(
        idgate_store::sqlite::CREATE_GROUP_SIZE,
        "Session creates committed together by one SQLite transaction (group commit)."
    );
    metrics::describe_gauge!(HTTP_CONNECTIONS_OPEN, "Client connections currently open.");
    metrics::describe_gauge!(
        EVENT_STREAMS_OPEN,
        "Session status streams currently open on this node."
    );
    metrics::describe_counter!(
        HTTP_CONNECTIONS_REFUSED,
        "Connections refused with 503 because max_connections were open."
    );
    metrics::describe_counter!(
        HTTP_TIMEOUTS,
        "Connection and request deadlines that expired, by kind (header, idle, body, handler)."
    );
    metrics::describe_counter!(
        HTTP_REQUESTS_SHED,
        "Requests answered 503 OVERLOADED because no request slot freed up in time."
    );
    metrics::describe_counter!(SESSIONS_CREATED, "Verification sessions created.");
    metrics::describe_counter!(
        VERIFICATIONS,
        "Verifications that ended, by outcome and failure code."
    );
    metrics::describe_counter!(
        SIMULATIONS,
        "Test-mode simulations of a passport started, by outcome."
    );
    metrics::describe_histogram!(
        VERIFY_STEP_DURATION,
        "Seconds each step of the end-user flow took on the server (checks included), by step."
    );
    metrics::describe_counter!(
        SESSIONS_CANCELLED,
        "Verification sessions cancelled by the integrator."
    );
    metrics::describe_counter!(
        SESSIONS_EXPIRED,
        "Verification sessions that reached expires_at unfinished."
    );
}

/// Middleware recording the latency histogram. Runs inside the router, so the matched route
/// template (`/v1/sessions/{id}`) is known and label cardinality stays bounded.
pub async fn record_request_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}
