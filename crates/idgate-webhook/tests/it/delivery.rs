//! One attempt over real HTTP on loopback: the sender's `delivery::send` against a small
//! receiver that opens each delivery with `Receiver`, the way an integrator would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use idgate_webhook::backoff::{AttemptResult, Decision, GiveUpReason, RetrySchedule};
use idgate_webhook::delivery::{self, AttemptError, MAX_RESPONSE_PREFIX};
use idgate_webhook::ssrf::{BlockReason, SsrfError, SsrfPolicy, build_client};
use idgate_webhook::{Event, Receiver, WebhookSecret};

use crate::support::{event_id, now, pair, succeeded_event};

#[derive(Clone)]
struct Sink {
    receiver: Arc<Receiver>,
    opened: Arc<Mutex<Vec<Event>>>,
}

/// A receiver on 127.0.0.1:0 answering 204 to deliveries it can open, 401/400 otherwise.
async fn start_receiver(secret: WebhookSecret) -> (String, Arc<Mutex<Vec<Event>>>) {
    let sink = Sink {
        receiver: Arc::new(Receiver::new(secret, pair().private.clone())),
        opened: Arc::default(),
    };
    let opened = sink.opened.clone();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State(sink): axum::extract::State<Sink>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    match sink.receiver.open(&headers, &body) {
                        Ok(event) => {
                            sink.opened.lock().unwrap().push(event);
                            StatusCode::NO_CONTENT
                        }
                        Err(e) => StatusCode::from_u16(e.status()).unwrap(),
                    }
                },
            ),
        )
        .with_state(sink);
    (serve(app).await, opened)
}

async fn serve(app: axum::Router) -> String {
    idgate_testkit::http::base_url(idgate_testkit::http::serve(app).await)
}

async fn attempt(url: &str, secret: &WebhookSecret, policy: SsrfPolicy) -> delivery::AttemptReport {
    let id = event_id(10);
    let body = delivery::seal(&succeeded_event(&id), &pair().recipient).unwrap();
    let headers = delivery::headers(
        std::slice::from_ref(secret),
        &id,
        now(),
        &body,
        "idgate/0.1.0",
    )
    .unwrap();
    let client = build_client(policy, "idgate/0.1.0").unwrap();
    delivery::send(&client, &policy, url, headers, body).await
}

#[tokio::test]
async fn a_delivery_reaches_the_receiver_and_opens_there() {
    let secret = WebhookSecret::generate().unwrap();
    let (base, opened) = start_receiver(secret.clone()).await;
    let report = attempt(&format!("{base}/hook"), &secret, SsrfPolicy::PERMISSIVE).await;
    assert_eq!(report.status, Some(204), "{report:?}");
    assert_eq!(report.error, None);
    assert_eq!(
        opened.lock().unwrap().as_slice(),
        &[succeeded_event(&event_id(10))]
    );
    let decision = RetrySchedule::default().decide(
        report.result(),
        0,
        Duration::ZERO,
        None,
        &mut rand_core::UnwrapErr(getrandom::SysRng),
    );
    assert_eq!(decision, Decision::Delivered);
}

#[tokio::test]
async fn a_receiver_with_another_secret_answers_401() {
    let (base, opened) = start_receiver(WebhookSecret::generate().unwrap()).await;
    let report = attempt(
        &format!("{base}/hook"),
        &WebhookSecret::generate().unwrap(),
        SsrfPolicy::PERMISSIVE,
    )
    .await;
    assert_eq!(report.status, Some(401));
    assert!(opened.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_report_keeps_status_retry_after_and_at_most_1_kib_of_body() {
    let app = axum::Router::new().route(
        "/busy",
        axum::routing::post(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", "42")],
                "x".repeat(5000),
            )
        }),
    );
    let base = serve(app).await;
    let report = attempt(
        &format!("{base}/busy"),
        &WebhookSecret::generate().unwrap(),
        SsrfPolicy::PERMISSIVE,
    )
    .await;
    assert_eq!(report.status, Some(503));
    assert_eq!(report.retry_after, Some(Duration::from_secs(42)));
    assert_eq!(report.response_prefix.len(), MAX_RESPONSE_PREFIX);
    assert_eq!(report.result(), AttemptResult::Status(503));
}

#[tokio::test]
async fn a_loopback_url_is_refused_without_the_switch() {
    let secret = WebhookSecret::generate().unwrap();
    let (base, opened) = start_receiver(secret.clone()).await;
    let dev_http_only = SsrfPolicy {
        allow_http: true,
        allow_private: false,
    };
    let report = attempt(&format!("{base}/hook"), &secret, dev_http_only).await;
    assert_eq!(report.status, None);
    assert_eq!(
        report.error,
        Some(AttemptError::Refused(SsrfError::Blocked(
            BlockReason::Loopback
        )))
    );
    assert_eq!(report.result(), AttemptResult::Refused);
    assert!(opened.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_destination_is_recorded_as_refused_and_not_retried() {
    let secret = WebhookSecret::generate().unwrap();
    let (base, _opened) = start_receiver(secret.clone()).await;
    let dev_http_only = SsrfPolicy {
        allow_http: true,
        allow_private: false,
    };
    let report = attempt(&format!("{base}/hook"), &secret, dev_http_only).await;
    let error = report.error.as_ref().unwrap();
    assert_eq!(error.kind(), "refused");
    let decision = RetrySchedule::default().decide(
        report.result(),
        1,
        Duration::ZERO,
        None,
        &mut rand_core::UnwrapErr(getrandom::SysRng),
    );
    assert_eq!(decision, Decision::GiveUp(GiveUpReason::Refused));
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error_to_retry() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let report = attempt(
        &format!("http://127.0.0.1:{port}/"),
        &WebhookSecret::generate().unwrap(),
        SsrfPolicy::PERMISSIVE,
    )
    .await;
    assert_eq!(report.error, Some(AttemptError::Connect), "{report:?}");
    assert_eq!(report.result(), AttemptResult::Network);
}
