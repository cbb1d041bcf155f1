//! The session status stream (`GET /v1/verify/session/{id}/events`, docs/verify.md "Status
//! stream") over real HTTP: what the first event is, that each change arrives once and in
//! order, heartbeats, `Last-Event-ID` resume, the end after the terminal status, the bounds, and
//! a change made on another node reaching a stream open on this one (PostgreSQL).

use std::time::Duration;

use idgate_server::testing::Backend;
use idgate_testkit::sse::{SseEvent, SseItem, SseReader};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Method, TestApp, TestAppBuilder, error_code, json as json_of, on_each_backend_with,
    unknown_session_id,
};

/// Long enough for any event on a loaded CI machine; the tests never wait this long when the
/// server behaves.
const WAIT: Duration = Duration::from_secs(20);

/// A one-second heartbeat, so the tests that wait for one finish quickly.
fn builder() -> TestAppBuilder {
    TestAppBuilder::default().status_streams(1, 8)
}

/// A new session: its id and cancel token.
async fn session(app: &TestApp) -> (String, String) {
    let data = crate::support::create_session(app, Some(json!({}))).await;
    (
        data["id"].as_str().unwrap().to_owned(),
        data["cancel_token"].as_str().unwrap().to_owned(),
    )
}

/// `GET …/events` on the node at `base`, with `Last-Event-ID` when given.
async fn connect(
    app: &TestApp,
    base: &str,
    session: &str,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .get(format!("{base}/v1/verify/session/{session}/events"));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.expect("request")
}

/// A stream of this app's node, checked to be one.
async fn stream(app: &TestApp, session: &str, last_event_id: Option<&str>) -> SseReader {
    let response = connect(app, &app.base_url, session, last_event_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    SseReader::new(response)
}

/// The next `status` event's id and data.
async fn next_status(reader: &mut SseReader) -> (String, Value) {
    let event = reader
        .next_event_within(WAIT)
        .await
        .expect("a status event, not the end of the stream");
    status_of(&event)
}

fn status_of(event: &SseEvent) -> (String, Value) {
    assert_eq!(event.event.as_deref(), Some("status"), "{event:?}");
    let id = event.id.clone().expect("every status event has an id");
    assert!(!id.is_empty());
    let data = serde_json::from_str(&event.data)
        .unwrap_or_else(|e| panic!("data is not JSON ({e}): {}", event.data));
    (id, data)
}

/// `GET …/status`'s `data`.
async fn polled_status(app: &TestApp, session: &str) -> Value {
    let (code, body) = json_of(
        app.client
            .get(app.url(&format!("/v1/verify/session/{session}/status")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// Reads up to and including the next heartbeat; the status events that came before it.
async fn until_heartbeat(reader: &mut SseReader) -> Vec<SseEvent> {
    let mut statuses = Vec::new();
    loop {
        match reader.next_within(WAIT).await {
            Some(SseItem::Comment(_)) => return statuses,
            Some(SseItem::Event(event)) if event.event.is_some() => statuses.push(event),
            // The retry hint alone (a resumed stream's first block).
            Some(SseItem::Event(_)) => {}
            None => panic!("the stream ended before a heartbeat"),
        }
    }
}

async fn handoff(app: &TestApp, base: &str, session: &str, cancel_token: &str) -> (String, String) {
    let (code, body) = json_of(
        app.client
            .post(format!("{base}/v1/verify/session/{session}/handoff"))
            .json(&json!({ "cancel_token": cancel_token }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    (
        body["data"]["attempt_id"].as_str().unwrap().to_owned(),
        body["data"]["token"].as_str().unwrap().to_owned(),
    )
}

async fn hello(app: &TestApp, attempt: &str, token: &str) {
    let (code, body) = json_of(
        app.client
            .post(app.url(&format!("/v1/verify/attempts/{attempt}/hello")))
            .bearer_auth(token)
            .json(&json!({"device_id": "test-device", "app_version": "1.0"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
}

async fn end_user_cancel(app: &TestApp, session: &str, cancel_token: &str) {
    let response = app
        .client
        .post(app.url(&format!("/v1/verify/session/{session}/cancel")))
        .json(&json!({ "cancel_token": cancel_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_stream_sends_the_current_status_then_each_change_once_in_order() {
    on_each_backend_with(builder(), async |app| {
        let (session, cancel) = session(&app).await;
        let mut events = stream(&app, &session, None).await;

        let first = events.next_event_within(WAIT).await.expect("first event");
        assert_eq!(first.retry, Some(3000), "the reconnect hint");
        let (created_id, created) = status_of(&first);
        assert_eq!(created, polled_status(&app, &session).await);
        assert_eq!(created["status"], "created");
        assert_eq!(created["phase"], Value::Null);

        let (attempt, token) = handoff(&app, &app.base_url, &session, &cancel).await;
        let (handoff_id, handed_off) = next_status(&mut events).await;
        assert_eq!(handed_off["status"], "created");
        assert_eq!(handed_off["phase"], "handoff");

        hello(&app, &attempt, &token).await;
        let (bound_id, bound) = next_status(&mut events).await;
        assert_eq!(bound["status"], "in_progress");
        assert_eq!(bound["phase"], "document");
        assert_eq!(bound, polled_status(&app, &session).await);

        end_user_cancel(&app, &session, &cancel).await;
        let (cancelled_id, cancelled) = next_status(&mut events).await;
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["nfc_tries_left"], 3);

        // Nothing after the terminal status: no repeat of it or of an earlier one.
        assert!(
            events.ends_within(WAIT).await,
            "the stream ends after the terminal status"
        );
        let ids = [created_id, handoff_id, bound_id, cancelled_id];
        let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    })
    .await;
}

#[tokio::test]
async fn a_heartbeat_follows_and_an_unchanged_status_is_not_sent_again() {
    on_each_backend_with(builder(), async |app| {
        let (session, _) = session(&app).await;
        let mut events = stream(&app, &session, None).await;
        next_status(&mut events).await;
        // The heartbeat re-reads the status; an unchanged one sends nothing.
        for _ in 0..2 {
            let sent = until_heartbeat(&mut events).await;
            assert!(sent.is_empty(), "{sent:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn last_event_id_resumes_without_resending_what_the_client_has() {
    on_each_backend_with(builder(), async |app| {
        let (session, cancel) = session(&app).await;
        let (current, status) = next_status(&mut stream(&app, &session, None).await).await;

        // Resuming with the current version: nothing is sent again.
        let mut resumed = stream(&app, &session, Some(&current)).await;
        let sent = until_heartbeat(&mut resumed).await;
        assert!(sent.is_empty(), "{sent:?}");
        // The next change still arrives.
        handoff(&app, &app.base_url, &session, &cancel).await;
        let (next, handed_off) = next_status(&mut resumed).await;
        assert_ne!(next, current);
        assert_eq!(handed_off["phase"], "handoff");

        // Resuming with a version the status has moved past: the current one.
        let mut stale = stream(&app, &session, Some(&current)).await;
        let (id, data) = next_status(&mut stale).await;
        assert_eq!((id, data), (next.clone(), handed_off));
        // And with one that was never issued.
        let mut unknown = stream(&app, &session, Some("not-a-version")).await;
        assert_eq!(next_status(&mut unknown).await.0, next);
        assert_ne!(status, Value::Null);
    })
    .await;
}

#[tokio::test]
async fn a_terminal_status_ends_the_stream_and_a_reconnect_that_has_it_gets_204() {
    on_each_backend_with(builder(), async |app| {
        let (session, _) = session(&app).await;
        let response = app
            .request(Method::POST, &format!("/v1/sessions/{session}/cancel"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);

        let mut events = stream(&app, &session, None).await;
        let (terminal, status) = next_status(&mut events).await;
        assert_eq!(status["status"], "cancelled");
        assert!(
            events.ends_within(WAIT).await,
            "ends after the terminal status"
        );

        let again = connect(&app, &app.base_url, &session, Some(&terminal)).await;
        assert_eq!(again.status(), StatusCode::NO_CONTENT);
        assert!(again.bytes().await.unwrap().is_empty());

        // A client that missed the terminal status gets it, and the end.
        let mut late = stream(&app, &session, Some("an-older-version")).await;
        assert_eq!(next_status(&mut late).await.0, terminal);
        assert!(late.ends_within(WAIT).await);
    })
    .await;
}

#[tokio::test]
async fn a_session_gets_a_bounded_number_of_streams_and_a_closed_one_frees_its_slot() {
    on_each_backend_with(
        TestAppBuilder::default().status_streams(1, 2),
        async |app| {
            let (session, _) = session(&app).await;
            let mut first = stream(&app, &session, None).await;
            next_status(&mut first).await;
            let mut second = stream(&app, &session, None).await;
            next_status(&mut second).await;

            let refused = connect(&app, &app.base_url, &session, None).await;
            assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
            let retry_after: u64 = refused.headers()[reqwest::header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1);
            let (_, body) = json_of(refused).await;
            assert_eq!(error_code(&body), "TOO_MANY_STREAMS");
            assert!(
                body["error"]["message"].as_str().unwrap().contains('2'),
                "names the bound: {body}"
            );

            // The gauge of open streams is exported (its value is shared by every app of the test
            // process, so only its presence is checked).
            let metrics = app.metrics_text().await;
            assert!(
                metrics.contains("idgate_event_streams_open"),
                "no stream gauge in /metrics"
            );
            assert_eq!(app.state.status_hub.open_streams(), 2);

            // Another session is not affected by this one's bound.
            let (other, _) = crate::status_stream::session(&app).await;
            next_status(&mut stream(&app, &other, None).await).await;

            // The client goes away: the server notices and frees the slot.
            drop(first);
            let reopened = tokio::time::timeout(WAIT, async {
                loop {
                    let response = connect(&app, &app.base_url, &session, None).await;
                    if response.status() == StatusCode::OK {
                        return SseReader::new(response);
                    }
                    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await
            .expect("the dropped stream's slot is freed");
            let mut reopened = reopened;
            next_status(&mut reopened).await;
            drop(second);
        },
    )
    .await;
}

#[tokio::test]
async fn unknown_and_malformed_sessions_are_answered_with_the_error_envelope() {
    on_each_backend_with(builder(), async |app| {
        let unknown = connect(&app, &app.base_url, &unknown_session_id(), None).await;
        let (code, body) = json_of(unknown).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
        error_code(&body);

        let malformed = connect(&app, &app.base_url, "vs_short", None).await;
        let (code, body) = json_of(malformed).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&body), "INVALID_SESSION_ID");
        assert_eq!(app.state.status_hub.open_streams(), 0, "no slot kept");
    })
    .await;
}

#[tokio::test]
async fn shutdown_ends_open_streams_instead_of_waiting_for_them() {
    let app = builder().spawn(Backend::Sqlite).await;
    let (session, _) = session(&app).await;
    let mut events = stream(&app, &session, None).await;
    next_status(&mut events).await;
    // The drain timeout is 55 s by default: a stream left open would hold shutdown that long.
    tokio::time::timeout(WAIT, app.shutdown())
        .await
        .expect("shutdown does not wait for the open stream");
    assert!(events.ends_within(WAIT).await, "the stream was ended");
}

#[tokio::test]
async fn the_route_is_documented_as_an_event_stream() {
    let app = builder().spawn(Backend::Sqlite).await;
    let (_, document) = json_of(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let operation = &document["paths"]["/v1/verify/session/{id}/events"]["get"];
    assert_eq!(operation["tags"], json!(["Verification"]), "{operation}");
    assert!(
        operation["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{operation}"
    );
    for status in ["204", "400", "404", "429"] {
        assert!(operation["responses"][status].is_object(), "{status}");
    }
}

/// Nodes sharing a PostgreSQL database: a change made through node B reaches a stream open on
/// node A through `LISTEN`/`NOTIFY`, long before A's heartbeat would have found it.
#[tokio::test]
async fn a_change_on_another_node_reaches_a_stream_open_on_this_one() {
    if idgate_testkit::postgres_url().is_none() {
        return;
    }
    let app = TestAppBuilder::default()
        .status_streams(300, 8)
        .spawn(Backend::Postgres)
        .await;
    let other = app.second_node().await;
    let (session, cancel) = session(&app).await;
    let mut events = stream(&app, &session, None).await;
    let (_, created) = next_status(&mut events).await;
    assert_eq!(created["phase"], Value::Null);

    handoff(&app, &other.base_url, &session, &cancel).await;
    let (_, handed_off) = next_status(&mut events).await;
    assert_eq!(handed_off["phase"], "handoff");

    let response = app
        .client
        .post(other.url(&format!("/v1/verify/session/{session}/cancel")))
        .json(&json!({ "cancel_token": cancel }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, cancelled) = next_status(&mut events).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(events.ends_within(WAIT).await);
    other.shutdown().await;
    app.shutdown().await;
}
