//! Get, cancel, erase, attempts and expiry of a session.

use idgate_core::{Environment, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn cancel(app: &TestApp, id: &str) -> reqwest::Response {
    app.request(Method::POST, &format!("/v1/sessions/{id}/cancel"))
        .send()
        .await
        .unwrap()
}

async fn erase(app: &TestApp, id: &str) -> reqwest::Response {
    app.request(Method::DELETE, &format!("/v1/sessions/{id}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn get_returns_the_session() {
    on_each_backend(|app| async move {
        let session = create_session(&app, None).await;
        let (status, body) = get_session(&app, &id_of(&session)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["error"].is_null());
        assert_eq!(body["data"]["id"], session["id"]);
        assert_eq!(body["data"]["share_fields"], session["share_fields"]);
        assert_eq!(body["data"]["contract_version"], 1);
    })
    .await;
}

#[tokio::test]
async fn get_of_an_unknown_session_is_not_found_with_the_seed_strings() {
    on_each_backend(|app| async move {
        let (status, body) = get_session(&app, &unknown_session_id()).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::NOT_FOUND, "NOT_FOUND")
        );
        assert_eq!(body["error"]["message"], "Session not found.");
        assert_eq!(
            body["error"]["hint"],
            "The session with the given ID was not found."
        );
    })
    .await;
}

#[tokio::test]
async fn malformed_session_ids_are_invalid_session_id_everywhere() {
    on_each_backend(|app| async move {
        let bad = [
            "vs_short",
            "vs_live_AAAA",
            &format!("vs_{}", "!".repeat(64)),
            &format!("xx_{}", "A".repeat(64)),
        ];
        for id in bad {
            for (method, path) in [
                (Method::GET, format!("/v1/sessions/{id}")),
                (Method::POST, format!("/v1/sessions/{id}/cancel")),
                (Method::DELETE, format!("/v1/sessions/{id}")),
                (Method::GET, format!("/v1/sessions/{id}/attempts")),
            ] {
                let (status, body) =
                    json(app.request(method.clone(), &path).send().await.unwrap()).await;
                assert_eq!(
                    (status, error_code(&body).as_str()),
                    (StatusCode::BAD_REQUEST, "INVALID_SESSION_ID"),
                    "{method} {path}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn another_organizations_session_is_indistinguishable_from_a_missing_one() {
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, None).await);
        let other = app.other_org_key().await;
        for (method, path) in [
            (Method::GET, format!("/v1/sessions/{id}")),
            (Method::POST, format!("/v1/sessions/{id}/cancel")),
            (Method::DELETE, format!("/v1/sessions/{id}")),
            (Method::GET, format!("/v1/sessions/{id}/attempts")),
        ] {
            let (status, body) = json(
                app.request_as(&other, method.clone(), &path)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(
                (status, error_code(&body).as_str()),
                (StatusCode::NOT_FOUND, "NOT_FOUND"),
                "{method} {path}"
            );
        }
        assert_eq!(
            get_session(&app, &id).await.1["data"]["status"],
            "created",
            "untouched by the other org"
        );
    })
    .await;
}

#[tokio::test]
async fn cancel_moves_a_created_session_to_cancelled_once() {
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, None).await);
        let response = cancel(&app, &id).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.bytes().await.unwrap().is_empty());
        let (_, first) = get_session(&app, &id).await;
        assert_eq!(first["data"]["status"], "cancelled");
        let completed_at = first["data"]["completed_at"].clone();
        assert!(completed_at.is_string());
        app.clock.advance_secs(5);
        assert_eq!(
            cancel(&app, &id).await.status(),
            StatusCode::NO_CONTENT,
            "terminal sessions still answer 204"
        );
        let (_, second) = get_session(&app, &id).await;
        assert_eq!(
            second["data"]["completed_at"], completed_at,
            "terminal state unchanged"
        );
        assert_eq!(second["data"]["updated_at"], first["data"]["updated_at"]);
    })
    .await;
}

#[tokio::test]
async fn cancel_writes_exactly_one_cancelled_event() {
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, None).await);
        cancel(&app, &id).await;
        cancel(&app, &id).await;
        let session_id = idgate_core::SessionId::parse(&id).unwrap();
        let events = app.session_events(&session_id).await.expect("events");
        let cancelled = events
            .iter()
            .filter(|e| e.event_type == idgate_core::EventType::SessionCancelled)
            .count();
        assert_eq!(cancelled, 1, "{events:?}");
    })
    .await;
}

#[tokio::test]
async fn cancel_of_an_unknown_session_is_not_found() {
    on_each_backend(|app| async move {
        let (status, body) = json(cancel(&app, &unknown_session_id()).await).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::NOT_FOUND, "NOT_FOUND")
        );
        assert_eq!(body["error"]["message"], "Session not found.");
    })
    .await;
}

#[tokio::test]
async fn erase_refuses_live_sessions_then_removes_terminal_ones() {
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, None).await);
        let (status, body) = json(erase(&app, &id).await).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::CONFLICT, "SESSION_NOT_TERMINAL")
        );
        assert_eq!(
            get_session(&app, &id).await.0,
            StatusCode::OK,
            "still there"
        );
        cancel(&app, &id).await;
        assert_eq!(erase(&app, &id).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(get_session(&app, &id).await.0, StatusCode::NOT_FOUND);
        let (status, body) = json(erase(&app, &id).await).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::NOT_FOUND, "NOT_FOUND")
        );
        let session_id = idgate_core::SessionId::parse(&id).unwrap();
        let events = app.session_events(&session_id).await.expect("events");
        assert!(
            events
                .iter()
                .all(|e| e.data == Value::Null || e.data == json!({})),
            "payloads erased: {events:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn attempts_of_a_new_session_are_an_empty_page() {
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, None).await);
        let (status, body) = json(
            app.request(Method::GET, &format!("/v1/sessions/{id}/attempts?limit=5"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"], json!([]));
        assert_eq!(
            body["pagination"],
            json!({"limit": 5, "has_more": false, "next_cursor": null})
        );
        let (status, body) = json(
            app.request(
                Method::GET,
                &format!("/v1/sessions/{}/attempts", unknown_session_id()),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::NOT_FOUND, "NOT_FOUND")
        );
        assert_eq!(
            body["pagination"]["limit"], 10,
            "list errors carry pagination"
        );
    })
    .await;
}

#[tokio::test]
async fn a_session_past_expires_at_reads_as_expired() {
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, Some(json!({"expires_in": 300}))).await);
        app.clock.advance_secs(301);
        let (_, body) = get_session(&app, &id).await;
        assert_eq!(body["data"]["status"], "expired");
        assert!(body["data"]["completed_at"].is_string());
        assert_eq!(cancel(&app, &id).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            get_session(&app, &id).await.1["data"]["status"],
            "expired",
            "cancel leaves terminal sessions alone"
        );
    })
    .await;
}

#[tokio::test]
async fn the_sweeper_expires_overdue_sessions_without_any_read() {
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, Some(json!({"expires_in": 300}))).await);
        let session_id = idgate_core::SessionId::parse(&id).unwrap();
        app.clock.advance_secs(301);
        let mut expired = false;
        for _ in 0..50 {
            let events = app.session_events(&session_id).await.expect("events");
            if events
                .iter()
                .any(|e| e.event_type == idgate_core::EventType::SessionExpired)
            {
                expired = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(expired, "the sweeper wrote verification.session.expired");
    })
    .await;
}

#[tokio::test]
async fn reading_needs_sessions_read_and_writing_sessions_write() {
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, None).await);
        let writer = app
            .key_with(&[Scope::SessionsWrite], Environment::Live)
            .await;
        let reader = app
            .key_with(&[Scope::SessionsRead], Environment::Live)
            .await;
        let (status, _) = json(
            app.request_as(&writer, Method::GET, &format!("/v1/sessions/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = json(
            app.request_as(&reader, Method::POST, &format!("/v1/sessions/{id}/cancel"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = json(
            app.request_as(&reader, Method::DELETE, &format!("/v1/sessions/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    })
    .await;
}
