//! `/v1/events` (list, get, replay) and `/v1/webhooks/deliveries` (list with attempts, get,
//! retry): filters, keyset pages, routing of replays, retryable states, scopes, isolation.

use idgate_core::{DeliveryId, Environment, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;
use crate::webhook_endpoints::{HOOK_URL, call, call_as, id};
use crate::webhook_keys::{PEM_2048, exec, upload};

async fn endpoint(app: &TestApp, types: Value, with_key: bool) -> Value {
    let (status, body) = call(
        app,
        Method::POST,
        "/v1/webhooks/endpoints",
        Some(json!({"url": HOOK_URL, "subscribed_event_types": types})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let endpoint = body["data"].clone();
    if with_key {
        let (status, _) = upload(app, &endpoint, json!({"pem": PEM_2048})).await;
        assert_eq!(status, StatusCode::OK);
    }
    endpoint
}

/// A cancelled session and its `verification.session.cancelled` event.
async fn cancelled_event(app: &TestApp, body: Option<Value>) -> (String, Value) {
    let session = create_session(app, body).await;
    let sid = id_of(&session);
    let (status, _) = call(
        app,
        Method::POST,
        &format!("/v1/sessions/{sid}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, list) = call(
        app,
        Method::GET,
        &format!("/v1/events?session_id={sid}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let events = list["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{list}");
    (sid, events[0].clone())
}

async fn replay(app: &TestApp, event: &Value) -> (StatusCode, Value) {
    call(
        app,
        Method::POST,
        &format!("/v1/events/{}/replay", id(event)),
        None,
    )
    .await
}

#[tokio::test]
async fn events_are_listed_newest_first_with_filters_and_pages() {
    on_each_backend(|app| async move {
        let (first_session, first) = cancelled_event(&app, None).await;
        let (_, second) = cancelled_event(&app, None).await;
        assert_eq!(first["type"], "verification.session.cancelled");
        assert_eq!(first["session_id"], first_session.as_str());
        assert!(id(&first).starts_with("evt_"));
        let (_, page1) = call(&app, Method::GET, "/v1/events?limit=1", None).await;
        assert_eq!(page1["pagination"]["has_more"], true);
        assert_eq!(id(&page1["data"][0]), id(&second), "newest first");
        let cursor = page1["pagination"]["next_cursor"].as_str().unwrap();
        let (_, page2) = call(
            &app,
            Method::GET,
            &format!("/v1/events?limit=1&starting_after={cursor}"),
            None,
        )
        .await;
        assert_eq!(id(&page2["data"][0]), id(&first));
        let (_, typed) = call(
            &app,
            Method::GET,
            "/v1/events?type=verification.session.succeeded",
            None,
        )
        .await;
        assert_eq!(typed["data"], json!([]));
        let (_, future) = call(
            &app,
            Method::GET,
            "/v1/events?created_from=2999-01-01T00:00:00Z",
            None,
        )
        .await;
        assert_eq!(future["data"], json!([]));
        let (_, past) = call(
            &app,
            Method::GET,
            "/v1/events?created_to=2999-01-01T00:00:00Z&limit=100",
            None,
        )
        .await;
        assert_eq!(past["data"].as_array().unwrap().len(), 2);
        for bad in [
            "type=verification.session.done",
            "session_id=vs_x",
            "created_from=yesterday",
            "limit=101",
            "colour=red",
        ] {
            let (status, body) = call(&app, Method::GET, &format!("/v1/events?{bad}"), None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(error_code(&body), "INVALID_REQUEST", "{bad}");
            assert!(body["pagination"].is_object(), "{bad}");
        }
    })
    .await;
}

#[tokio::test]
async fn an_event_is_read_by_id_and_foreign_or_unknown_ids_are_not_found() {
    on_each_backend(|app| async move {
        let (_, event) = cancelled_event(&app, None).await;
        let path = format!("/v1/events/{}", id(&event));
        let (status, body) = call(&app, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"], event);
        let other = app.other_org_key().await;
        let test_mode = app
            .key_with(
                &[Scope::WebhooksRead, Scope::WebhooksWrite],
                Environment::Test,
            )
            .await;
        for key in [&other, &test_mode] {
            for route in [
                path.clone(),
                format!("{path}/replay"),
                "/v1/events/evt_nope".to_owned(),
            ] {
                let method = if route.ends_with("replay") {
                    Method::POST
                } else {
                    Method::GET
                };
                let (status, body) = call_as(&app, key, method, &route, None).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{route}");
                assert_eq!(error_code(&body), "EVENT_NOT_FOUND");
            }
            let (_, list) = call_as(&app, key, Method::GET, "/v1/events", None).await;
            assert_eq!(list["data"], json!([]));
        }
    })
    .await;
}

#[tokio::test]
async fn replay_delivers_to_every_enabled_subscribed_endpoint() {
    on_each_backend(|app| async move {
        let keyed = endpoint(&app, json!(["verification.session.cancelled"]), true).await;
        let other_type = endpoint(&app, json!(["verification.session.succeeded"]), true).await;
        let keyless = endpoint(&app, json!(["*"]), false).await;
        let disabled = endpoint(&app, json!(["*"]), true).await;
        call(
            &app,
            Method::PATCH,
            &format!("/v1/webhooks/endpoints/{}", id(&disabled)),
            Some(json!({"enabled": false})),
        )
        .await;
        let (_, event) = cancelled_event(&app, None).await;
        let (status, body) = replay(&app, &event).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["event_id"], event["id"]);
        let deliveries = body["data"]["deliveries"].as_array().unwrap();
        let by_endpoint = |e: &Value| {
            deliveries
                .iter()
                .find(|d| d["endpoint_id"] == e["id"])
                .cloned()
        };
        assert_eq!(deliveries.len(), 2, "{body}");
        let sent = by_endpoint(&keyed).expect("subscribed endpoint");
        assert_eq!(sent["status"], "pending");
        assert!(sent["next_attempt_at"].is_string());
        assert_eq!(sent["attempts"], json!([]));
        assert_eq!(
            by_endpoint(&keyless).expect("keyless endpoint")["status"],
            "blocked_no_key"
        );
        assert!(by_endpoint(&other_type).is_none());
        assert!(by_endpoint(&disabled).is_none());
        // Each replay is a new delivery.
        let (_, again) = replay(&app, &event).await;
        assert_ne!(
            again["data"]["deliveries"][0]["id"],
            body["data"]["deliveries"][0]["id"]
        );
    })
    .await;
}

/// Replay routes like the fan-out of a new event: only the session's named endpoints, and of
/// those only the ones subscribed to the event's type.
#[tokio::test]
async fn replay_goes_only_to_the_named_endpoints_subscribed_to_the_type() {
    on_each_backend(|app| async move {
        let named = endpoint(&app, json!(["verification.session.cancelled"]), true).await;
        let named_other_type =
            endpoint(&app, json!(["verification.session.succeeded"]), true).await;
        let _unnamed = endpoint(&app, json!(["*"]), true).await;
        let (_, event) = cancelled_event(
            &app,
            Some(json!({"webhook_endpoint_id": [id(&named), id(&named_other_type)]})),
        )
        .await;
        let (_, original) = call(
            &app,
            Method::GET,
            &format!("/v1/webhooks/deliveries?event_id={}", id(&event)),
            None,
        )
        .await;
        let (status, body) = replay(&app, &event).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let deliveries = body["data"]["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 1, "{body}");
        assert_eq!(deliveries[0]["endpoint_id"], named["id"]);
        let fanned_out = original["data"].as_array().unwrap();
        assert_eq!(fanned_out.len(), 1, "{original}");
        assert_eq!(
            fanned_out[0]["endpoint_id"], named["id"],
            "the new event went to the same endpoint"
        );
    })
    .await;
}

#[tokio::test]
async fn an_erased_sessions_event_cannot_be_replayed() {
    on_each_backend(|app| async move {
        endpoint(&app, json!(["*"]), true).await;
        let (sid, event) = cancelled_event(&app, None).await;
        let (status, _) = call(&app, Method::DELETE, &format!("/v1/sessions/{sid}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = replay(&app, &event).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(error_code(&body), "EVENT_NOT_REPLAYABLE");
    })
    .await;
}

/// A replayed delivery to a keyed endpoint, then marked failed after two recorded attempts, as
/// the worker would leave it.
async fn failed_delivery(app: &TestApp) -> (Value, Value, String) {
    let target = endpoint(app, json!(["*"]), true).await;
    let (_, event) = cancelled_event(app, Some(json!({"webhook_endpoint_id": id(&target)}))).await;
    let (_, body) = replay(app, &event).await;
    let delivery = id(&body["data"]["deliveries"][0]);
    exec(
        app,
        "UPDATE webhook_deliveries SET status = 'failed', attempt_count = 2, next_attempt_at = NULL, \
         completed_at = 5000, last_error = 'http_status', lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
        std::slice::from_ref(&delivery),
    )
    .await;
    let long_body = "x".repeat(1500);
    exec(
        app,
        "DELETE FROM webhook_delivery_attempts WHERE delivery_id = $1",
        std::slice::from_ref(&delivery),
    )
    .await;
    for (n, code, body) in [("1", "503", "busy"), ("2", "410", long_body.as_str())] {
        exec(
            app,
            "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, status_code, latency_ms, response_body, error_kind) \
             VALUES ($1, CAST($2 AS BIGINT), 4000, CAST($3 AS BIGINT), 12, $4, NULL)",
            &[delivery.clone(), n.to_owned(), code.to_owned(), body.to_owned()],
        )
        .await;
    }
    (target, event, delivery)
}

#[tokio::test]
async fn deliveries_are_listed_with_their_attempts_and_filters() {
    on_each_backend(|app| async move {
        let (target, event, delivery) = failed_delivery(&app).await;
        let (status, list) = call(
            &app,
            Method::GET,
            &format!(
                "/v1/webhooks/deliveries?endpoint_id={}&status=failed",
                id(&target)
            ),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let items = list["data"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{list}");
        let d = &items[0];
        assert_eq!(id(d), delivery);
        assert_eq!(d["event_id"], event["id"]);
        assert_eq!(d["status"], "failed");
        let attempts = d["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0]["attempt"], 1);
        assert_eq!(attempts[0]["status_code"], 503);
        assert_eq!(attempts[0]["latency_ms"], 12);
        assert_eq!(attempts[0]["response_body"], "busy");
        assert!(attempts[0]["error_kind"].is_null());
        assert_eq!(
            attempts[1]["response_body"].as_str().unwrap().len(),
            1024,
            "first 1 KiB only"
        );
        let (_, one) = call(
            &app,
            Method::GET,
            &format!("/v1/webhooks/deliveries/{delivery}"),
            None,
        )
        .await;
        assert_eq!(&one["data"], d);
        let (_, by_event) = call(
            &app,
            Method::GET,
            &format!("/v1/webhooks/deliveries?event_id={}", id(&event)),
            None,
        )
        .await;
        assert!(
            by_event["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| id(x) == delivery)
        );
        let (_, none) = call(
            &app,
            Method::GET,
            "/v1/webhooks/deliveries?status=cancelled",
            None,
        )
        .await;
        assert_eq!(none["data"], json!([]));
        let (status, body) = call(
            &app,
            Method::GET,
            "/v1/webhooks/deliveries?status=lost",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error_code(&body), "INVALID_REQUEST");
    })
    .await;
}

#[tokio::test]
async fn delivery_pages_are_newest_first() {
    on_each_backend(|app| async move {
        endpoint(&app, json!(["*"]), true).await;
        let (_, event) = cancelled_event(&app, None).await;
        let mut made = Vec::new();
        for _ in 0..3 {
            let (_, body) = replay(&app, &event).await;
            made.push(id(&body["data"]["deliveries"][0]));
        }
        let path = format!("/v1/webhooks/deliveries?event_id={}&limit=2", id(&event));
        let (_, first) = call(&app, Method::GET, &path, None).await;
        assert_eq!(first["pagination"]["has_more"], true);
        let cursor = first["pagination"]["next_cursor"].as_str().unwrap();
        let (_, rest) = call(
            &app,
            Method::GET,
            &format!("{path}&starting_after={cursor}"),
            None,
        )
        .await;
        let mut seen: Vec<String> = first["data"]
            .as_array()
            .unwrap()
            .iter()
            .chain(rest["data"].as_array().unwrap())
            .map(id)
            .collect();
        assert!(made.iter().all(|m| seen.contains(m)));
        let before = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), before);
    })
    .await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_now_and_a_succeeded_one_is_refused() {
    on_each_backend(|app| async move {
        let (_, _, delivery) = failed_delivery(&app).await;
        let path = format!("/v1/webhooks/deliveries/{delivery}/retry");
        let before = app.state.clock.now();
        let (status, body) = call(&app, Method::POST, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["status"], "pending");
        assert!(body["data"]["completed_at"].is_null());
        assert_eq!(body["data"]["attempt_count"], 2, "attempt numbers continue");
        let due = idgate_core::Timestamp::parse_rfc3339(body["data"]["next_attempt_at"].as_str().unwrap()).unwrap();
        assert!(due.unix_ms() >= before.unix_ms());
        for status_text in ["succeeded", "cancelled", "blocked_no_key"] {
            exec(
                &app,
                "UPDATE webhook_deliveries SET status = $2, next_attempt_at = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
                &[delivery.clone(), status_text.to_owned()],
            )
            .await;
            let (status, body) = call(&app, Method::POST, &path, None).await;
            assert_eq!(status, StatusCode::CONFLICT, "{status_text}");
            assert_eq!(error_code(&body), "DELIVERY_NOT_RETRYABLE");
            assert!(body["error"]["message"].as_str().unwrap().contains(status_text), "{body}");
        }
    })
    .await;
}

#[tokio::test]
async fn deliveries_of_another_tenant_answer_like_never_issued() {
    on_each_backend(|app| async move {
        let (_, _, delivery) = failed_delivery(&app).await;
        let other = app.other_org_key().await;
        let test_mode = app
            .key_with(
                &[Scope::WebhooksRead, Scope::WebhooksWrite],
                Environment::Test,
            )
            .await;
        let never = DeliveryId::generate().to_string();
        for key in [&other, &test_mode] {
            for d in [&delivery, &never, &"whd_x".to_owned()] {
                let (status, body) = call_as(
                    &app,
                    key,
                    Method::GET,
                    &format!("/v1/webhooks/deliveries/{d}"),
                    None,
                )
                .await;
                assert_eq!(status, StatusCode::NOT_FOUND);
                assert_eq!(error_code(&body), "DELIVERY_NOT_FOUND");
                let (status, body) = call_as(
                    &app,
                    key,
                    Method::POST,
                    &format!("/v1/webhooks/deliveries/{d}/retry"),
                    None,
                )
                .await;
                assert_eq!(status, StatusCode::NOT_FOUND);
                assert_eq!(error_code(&body), "DELIVERY_NOT_FOUND");
            }
            let (_, list) = call_as(&app, key, Method::GET, "/v1/webhooks/deliveries", None).await;
            assert_eq!(list["data"], json!([]));
        }
        let (_, mine) = call(
            &app,
            Method::GET,
            &format!("/v1/webhooks/deliveries/{delivery}"),
            None,
        )
        .await;
        assert_eq!(
            mine["data"]["status"], "failed",
            "the owner's delivery is unchanged"
        );
    })
    .await;
}

#[tokio::test]
async fn replay_and_retry_need_webhooks_write_and_reads_need_webhooks_read() {
    on_each_backend(|app| async move {
        let (_, event, delivery) = failed_delivery(&app).await;
        let reader = app
            .key_with(&[Scope::WebhooksRead], Environment::Live)
            .await;
        let sessions_only = app
            .key_with(&[Scope::SessionsRead], Environment::Live)
            .await;
        for (method, route) in [
            (Method::POST, format!("/v1/events/{}/replay", id(&event))),
            (
                Method::POST,
                format!("/v1/webhooks/deliveries/{delivery}/retry"),
            ),
        ] {
            let (status, body) = call_as(&app, &reader, method, &route, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{route}");
            assert_eq!(error_code(&body), "FORBIDDEN");
        }
        for route in [
            "/v1/events".to_owned(),
            format!("/v1/events/{}", id(&event)),
            "/v1/webhooks/deliveries".to_owned(),
            format!("/v1/webhooks/deliveries/{delivery}"),
        ] {
            let (status, _) = call_as(&app, &reader, Method::GET, &route, None).await;
            assert_eq!(status, StatusCode::OK, "{route}");
            let (status, _) = call_as(&app, &sessions_only, Method::GET, &route, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{route}");
        }
    })
    .await;
}

#[tokio::test]
async fn openapi_lists_the_event_and_delivery_routes() {
    on_each_backend(|app| async move {
        let (_, doc) = json(
            app.client
                .get(app.url("/openapi.json"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        for (path, method) in [
            ("/v1/events", "get"),
            ("/v1/events/{id}", "get"),
            ("/v1/events/{id}/replay", "post"),
            ("/v1/webhooks/deliveries", "get"),
            ("/v1/webhooks/deliveries/{id}", "get"),
            ("/v1/webhooks/deliveries/{id}/retry", "post"),
        ] {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} missing"
            );
        }
        for schema in [
            "Event",
            "WebhookDelivery",
            "WebhookDeliveryAttempt",
            "EventReplay",
        ] {
            assert!(
                doc["components"]["schemas"][schema].is_object(),
                "{schema} missing"
            );
        }
    })
    .await;
}
