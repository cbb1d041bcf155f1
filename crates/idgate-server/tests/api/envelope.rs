//! Cross-cutting wire behaviour: every error is the JSON envelope, request ids, auth and rate limits.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn unknown_routes_are_not_found_envelopes() {
    on_each_backend(|app| async move {
        for path in ["/v1/nothing", "/", "/v1/sessions/", "/docs/nope.js"] {
            let (status, body) = json(app.request(Method::GET, path).send().await.unwrap()).await;
            assert_eq!(
                (status, error_code(&body).as_str()),
                (StatusCode::NOT_FOUND, "NOT_FOUND"),
                "{path}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn wrong_methods_are_method_not_allowed_envelopes() {
    on_each_backend(|app| async move {
        for (method, path) in [
            (Method::PUT, "/v1/sessions".to_owned()),
            (
                Method::PATCH,
                format!("/v1/sessions/{}", unknown_session_id()),
            ),
            (
                Method::GET,
                format!("/v1/sessions/{}/cancel", unknown_session_id()),
            ),
        ] {
            let (status, body) =
                json(app.request(method.clone(), &path).send().await.unwrap()).await;
            assert_eq!(
                (status, error_code(&body).as_str()),
                (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
                "{method} {path}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn missing_malformed_and_unknown_keys_are_unauthorized() {
    on_each_backend(|app| async move {
        let unknown = format!("kk_live_{}", "a".repeat(40));
        let cases = [
            None,
            Some("Basic abc".to_owned()),
            Some("Bearer".to_owned()),
            Some("Bearer kk_live_short".to_owned()),
            Some(format!("Bearer {unknown}")),
            Some(format!("bearer {}", app.key)),
        ];
        for header in cases {
            let mut request = app.client.get(app.url("/v1/sessions"));
            if let Some(value) = &header {
                request = request.header("authorization", value);
            }
            let (status, body) = json(request.send().await.unwrap()).await;
            assert_eq!(
                (status, error_code(&body).as_str()),
                (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
                "{header:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn request_ids_are_honoured_or_generated() {
    on_each_backend(|app| async move {
        let response = app
            .request(Method::GET, "/v1/sessions")
            .header("x-request-id", "trace-123")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], "trace-123");
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert!(!response.headers()["x-request-id"].is_empty());
    })
    .await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_per_key() {
    on_each_backend_with(
        TestAppBuilder::default().rate_limit(1, 3),
        |app| async move {
            let mut statuses = Vec::new();
            let mut limited = None;
            for _ in 0..6 {
                let response = app
                    .request(Method::GET, "/v1/sessions")
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status());
                if response.status() == StatusCode::TOO_MANY_REQUESTS {
                    let retry_after: u64 = response.headers()["retry-after"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!(retry_after >= 1);
                    limited = Some(json(response).await.1);
                }
            }
            assert_eq!(&statuses[..3], [StatusCode::OK; 3], "{statuses:?}");
            let body = limited.expect("the fourth request within a second is limited");
            assert_eq!(error_code(&body), "RATE_LIMITED");
            assert_eq!(
                body["pagination"],
                json!({"limit": 10, "has_more": false, "next_cursor": null})
            );
            let other = app.other_org_key().await;
            assert_eq!(
                app.request_as(&other, Method::GET, "/v1/sessions")
                    .send()
                    .await
                    .unwrap()
                    .status(),
                StatusCode::OK,
                "buckets are per key"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn graceful_shutdown_stops_the_server() {
    on_each_backend(|app| async move {
        let url = app.url("/healthz");
        let client = app.client.clone();
        app.shutdown().await;
        assert!(client.get(url).send().await.is_err(), "no longer accepting");
    })
    .await;
}
