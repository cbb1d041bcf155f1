//! `GET /v1/sessions`: order, keyset pagination, filters, parameter errors, tenancy.

use idgate_core::{Environment, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn list(app: &TestApp, query: &str) -> (StatusCode, Value) {
    json(
        app.request(Method::GET, &format!("/v1/sessions{query}"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(id_of)
        .collect()
}

#[tokio::test]
async fn lists_newest_first_with_default_limit_and_pagination() {
    on_each_backend(|app| async move {
        let mut created = Vec::new();
        for _ in 0..3 {
            created.push(id_of(&create_session(&app, None).await));
            app.clock.advance_secs(1);
        }
        let (status, body) = list(&app, "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["error"].is_null());
        created.reverse();
        assert_eq!(ids(&body), created);
        assert_eq!(
            body["pagination"],
            json!({"limit": 10, "has_more": false, "next_cursor": null})
        );
        assert!(body["data"][0].get("cancel_token").is_none());
    })
    .await;
}

#[tokio::test]
async fn keyset_pagination_walks_every_session_exactly_once() {
    on_each_backend(|app| async move {
        let mut created = Vec::new();
        for _ in 0..5 {
            created.push(id_of(&create_session(&app, None).await));
            // Distinct creation instants make "newest first" a total order to assert on.
            app.clock.advance_secs(1);
        }
        created.reverse();
        let mut seen = Vec::new();
        let mut query = "?limit=2".to_owned();
        loop {
            let (status, body) = list(&app, &query).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["pagination"]["limit"], 2);
            seen.extend(ids(&body));
            if body["pagination"]["has_more"] == false {
                assert!(body["pagination"]["next_cursor"].is_null());
                break;
            }
            let cursor = body["pagination"]["next_cursor"]
                .as_str()
                .expect("cursor")
                .to_owned();
            assert_eq!(Some(&cursor), seen.last());
            query = format!("?limit=2&starting_after={cursor}");
        }
        assert_eq!(seen, created);
    })
    .await;
}

#[tokio::test]
async fn status_filter_returns_only_that_status() {
    on_each_backend(|app| async move {
        let kept = id_of(&create_session(&app, None).await);
        let cancelled = id_of(&create_session(&app, None).await);
        let response = app
            .request(Method::POST, &format!("/v1/sessions/{cancelled}/cancel"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(ids(&list(&app, "?status=cancelled").await.1), [cancelled]);
        assert_eq!(ids(&list(&app, "?status=created").await.1), [kept]);
        assert!(ids(&list(&app, "?status=succeeded").await.1).is_empty());
    })
    .await;
}

#[tokio::test]
async fn created_range_filters_are_inclusive_and_accept_offsets() {
    on_each_backend(|app| async move {
        let session = create_session(&app, None).await;
        let created_at = session["created_at"].as_str().unwrap().to_owned();
        let at = |q: &str| format!("?{q}={}", created_at.replace(':', "%3A"));
        assert_eq!(
            ids(&list(&app, &at("created_from")).await.1),
            [id_of(&session)]
        );
        assert_eq!(
            ids(&list(&app, &at("created_to")).await.1),
            [id_of(&session)]
        );
        assert!(
            ids(
                &list(&app, "?created_from=2999-01-01T00%3A00%3A00%2B01%3A00")
                    .await
                    .1
            )
            .is_empty()
        );
        assert!(ids(&list(&app, "?created_to=2000-01-01T00%3A00%3A00Z").await.1).is_empty());
    })
    .await;
}

#[tokio::test]
async fn invalid_parameters_name_the_parameter_and_carry_pagination() {
    on_each_backend(|app| async move {
        let cases = [
            ("?limit=0", "`limit`"),
            ("?limit=101", "`limit`"),
            ("?limit=abc", "`limit`"),
            ("?limit=5.5", "`limit`"),
            ("?status=completed", "`status`"),
            ("?created_from=2025-01-01", "`created_from`"),
            ("?created_to=yesterday", "`created_to`"),
            ("?starting_after=vs_short", "`starting_after`"),
            ("?limit=5&limit=7", "`limit`"),
            ("?colour=blue", "colour"),
        ];
        for (query, named) in cases {
            let (status, body) = list(&app, query).await;
            assert_eq!(
                (status, error_code(&body).as_str()),
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                "{query}"
            );
            assert!(
                body["error"]["message"].as_str().unwrap().contains(named),
                "{query}: {body}"
            );
            assert_eq!(
                body["pagination"],
                json!({"limit": 10, "has_more": false, "next_cursor": null}),
                "{query}"
            );
        }
        let (_, body) = list(&app, "?limit=3&status=nope").await;
        assert_eq!(body["pagination"]["limit"], 3, "effective limit: {body}");
    })
    .await;
}

#[tokio::test]
async fn other_organizations_sessions_are_not_listed() {
    on_each_backend(|app| async move {
        create_session(&app, None).await;
        let other = app.other_org_key().await;
        let (status, body) = json(
            app.request_as(&other, Method::GET, "/v1/sessions")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(ids(&body).is_empty());
    })
    .await;
}

#[tokio::test]
async fn test_mode_keys_see_only_test_mode_sessions() {
    on_each_backend(|app| async move {
        let live = id_of(&create_session(&app, None).await);
        let test_key = app
            .key_with(
                &[Scope::SessionsRead, Scope::SessionsWrite],
                Environment::Test,
            )
            .await;
        let (_, created) = json(
            app.request_as(&test_key, Method::POST, "/v1/sessions")
                .send()
                .await
                .unwrap(),
        )
        .await;
        let test = id_of(&created["data"]);
        let (_, body) = json(
            app.request_as(&test_key, Method::GET, "/v1/sessions")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(ids(&body), std::slice::from_ref(&test));
        assert_eq!(ids(&list(&app, "").await.1), std::slice::from_ref(&live));
        let (status, _) = json(
            app.request_as(&test_key, Method::GET, &format!("/v1/sessions/{live}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(get_session(&app, &test).await.0, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn listing_needs_sessions_read() {
    on_each_backend(|app| async move {
        let writer = app
            .key_with(&[Scope::SessionsWrite], Environment::Live)
            .await;
        let (status, body) = json(
            app.request_as(&writer, Method::GET, "/v1/sessions")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::FORBIDDEN, "FORBIDDEN")
        );
        assert_eq!(body["pagination"]["limit"], 10);
    })
    .await;
}
