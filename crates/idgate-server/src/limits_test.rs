use super::*;

#[test]
fn the_default_bound_keeps_descriptors_back_for_the_rest_of_the_process() {
    assert_eq!(default_max_connections(Some(1024)), 768);
    assert_eq!(default_max_connections(Some(65_536)), 65_280);
}

#[test]
fn a_small_descriptor_limit_still_allows_half_of_it_as_connections() {
    assert_eq!(default_max_connections(Some(300)), 150);
    assert_eq!(default_max_connections(Some(1)), 1);
}

#[test]
fn an_unlimited_descriptor_limit_gives_a_finite_bound() {
    assert_eq!(default_max_connections(None), MAX_DEFAULT_CONNECTIONS);
    assert_eq!(
        default_max_connections(Some(u64::MAX)),
        MAX_DEFAULT_CONNECTIONS
    );
}

// ---- load shedding and the handler time limit ---------------------------------------------------

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::sync::Notify;
use tower::ServiceExt;

fn limits(max_concurrent_requests: usize, handler_timeout: Duration) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(10),
        keep_alive_timeout: Duration::from_secs(30),
        request_body_timeout: Duration::from_secs(20),
        handler_timeout,
        max_connections: 100,
        max_concurrent_requests,
        request_queue_timeout: Duration::from_millis(50),
    }
}

/// `/slow` holds its request slot until `release` is notified (after telling `entered`);
/// `/healthz` answers at once.
fn app(limits: &ConnectionLimits, entered: Arc<Notify>, release: Arc<Notify>) -> Router {
    let request_limits = RequestLimits::new(limits, Arc::from("https://docs.example"));
    Router::new()
        .route(
            "/slow",
            get(move || async move {
                entered.notify_one();
                release.notified().await;
                "done"
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(
            request_limits,
            shed_load,
        ))
}

fn get_request(path: &str) -> Request {
    Request::builder()
        .uri(path)
        .body(Body::empty())
        .expect("request")
}

async fn body_json(response: Response) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("JSON body")
}

/// An app whose one request slot is taken by a `/slow` request still running: the app, the
/// notifiers of `/slow` (entered, release) and the running request.
async fn saturated(
    limits: &ConnectionLimits,
) -> (
    Router,
    Arc<Notify>,
    Arc<Notify>,
    tokio::task::JoinHandle<Response>,
) {
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let app = app(limits, entered.clone(), release.clone());
    let running = app.clone();
    let first = tokio::spawn(async move {
        running
            .oneshot(get_request("/slow"))
            .await
            .expect("infallible")
    });
    entered.notified().await;
    (app, entered, release, first)
}

#[tokio::test]
async fn a_request_finding_no_free_slot_in_time_is_shed_with_503_overloaded_and_retry_after() {
    let limits = limits(1, Duration::from_secs(30));
    let (app, _entered, release, first) = saturated(&limits).await;
    let shed = app.oneshot(get_request("/slow")).await.expect("infallible");
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()[header::RETRY_AFTER], "1");
    let body = body_json(shed).await;
    assert_eq!(body["error"]["code"], "OVERLOADED");
    assert_eq!(
        body["error"]["docs"],
        "https://docs.example/errors#overloaded"
    );
    assert!(body["data"].is_null());
    release.notify_one();
    assert_eq!(first.await.expect("first").status(), StatusCode::OK);
}

#[tokio::test]
async fn health_routes_answer_while_every_request_slot_is_taken() {
    let limits = limits(1, Duration::from_secs(30));
    let (app, _entered, release, _first) = saturated(&limits).await;
    let health = app
        .oneshot(get_request("/healthz"))
        .await
        .expect("infallible");
    assert_eq!(health.status(), StatusCode::OK);
    release.notify_one();
}

#[tokio::test]
async fn a_request_waiting_less_than_the_queue_timeout_gets_the_freed_slot() {
    let limits = ConnectionLimits {
        request_queue_timeout: Duration::from_secs(30),
        ..limits(1, Duration::from_secs(30))
    };
    let (app, entered, release, first) = saturated(&limits).await;
    let queued = tokio::spawn(app.oneshot(get_request("/slow")));
    release.notify_one();
    assert_eq!(first.await.expect("first").status(), StatusCode::OK);
    entered.notified().await;
    release.notify_one();
    let queued = queued.await.expect("task").expect("infallible");
    assert_eq!(queued.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_handler_without_an_answer_in_time_gets_503_handler_timeout() {
    let limits = limits(4, Duration::from_millis(50));
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let response = app(&limits, entered, release)
        .oneshot(get_request("/slow"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body_json(response).await["error"]["code"],
        "HANDLER_TIMEOUT"
    );
}
