//! `/v1/api-keys`: create (secret shown once), list, update (disable, rename, rescope), delete.

use idgate_core::{Environment, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn create_key(app: &TestApp, body: Value) -> (StatusCode, Value) {
    json(
        app.request(Method::POST, "/v1/api-keys")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn status_with(app: &TestApp, key: &str) -> StatusCode {
    app.request_as(key, Method::GET, "/v1/sessions")
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn create_returns_the_key_once_and_it_authenticates() {
    on_each_backend(|app| async move {
        let (status, body) = create_key(
            &app,
            json!({"name": "Backend", "scopes": ["sessions:read"]}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let key = body["data"]["key"].as_str().expect("key").to_owned();
        assert!(key.starts_with("kk_live_") && key.len() == 48, "{key}");
        assert_eq!(body["data"]["scopes"], json!(["sessions:read"]));
        assert_eq!(body["data"]["enabled"], true);
        assert_eq!(status_with(&app, &key).await, StatusCode::OK);
        let (_, list) = json(
            app.request(Method::GET, "/v1/api-keys")
                .send()
                .await
                .unwrap(),
        )
        .await;
        let text = list.to_string();
        assert!(!text.contains(&key), "secrets never listed");
        assert!(
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["id"] == body["data"]["id"])
        );
        assert!(
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k.get("key").is_none())
        );
    })
    .await;
}

#[tokio::test]
async fn list_is_paginated() {
    on_each_backend(|app| async move {
        for i in 0..3 {
            create_key(&app, json!({"name": format!("k{i}")})).await;
        }
        let (status, body) = json(
            app.request(Method::GET, "/v1/api-keys?limit=2")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"].as_array().unwrap().len(), 2);
        assert_eq!(body["pagination"]["has_more"], true);
        let cursor = body["pagination"]["next_cursor"].as_str().unwrap();
        let (_, next) = json(
            app.request(
                Method::GET,
                &format!("/v1/api-keys?limit=2&starting_after={cursor}"),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(
            next["data"].as_array().unwrap().len(),
            2,
            "4 keys in all: {next}"
        );
        assert_eq!(next["pagination"]["has_more"], false);
    })
    .await;
}

#[tokio::test]
async fn default_scopes_exclude_key_management() {
    on_each_backend(|app| async move {
        let (_, body) = create_key(&app, json!({"name": "Integration"})).await;
        let key = body["data"]["key"].as_str().unwrap().to_owned();
        let (status, _) = json(
            app.request_as(&key, Method::GET, "/v1/api-keys")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(status_with(&app, &key).await, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn create_validates_name_and_scopes() {
    on_each_backend(|app| async move {
        for body in [
            json!({}),
            json!({"name": ""}),
            json!({"name": "x", "scopes": ["sessions:delete"]}),
            json!({"name": "x", "scopes": []}),
            json!({"name": "x", "colour": 1}),
        ] {
            let (status, err) = create_key(&app, body.clone()).await;
            assert_eq!(
                (status, error_code(&err).as_str()),
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                "{body}"
            );
        }
        let (status, err) = json(
            app.request(Method::POST, "/v1/api-keys")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{err}");
    })
    .await;
}

#[tokio::test]
async fn managing_keys_needs_keys_manage() {
    on_each_backend(|app| async move {
        let limited = app
            .key_with(
                &[Scope::SessionsRead, Scope::SessionsWrite],
                Environment::Live,
            )
            .await;
        let (status, body) = json(
            app.request_as(&limited, Method::POST, "/v1/api-keys")
                .json(&json!({"name": "x"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::FORBIDDEN, "FORBIDDEN")
        );
        let (status, body) = json(
            app.request_as(&limited, Method::GET, "/v1/api-keys")
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

#[tokio::test]
async fn a_disabled_key_is_unauthorized_until_enabled_again() {
    on_each_backend(|app| async move {
        let (_, created) = create_key(&app, json!({"name": "Temp"})).await;
        let (id, key) = (
            created["data"]["id"].as_str().unwrap().to_owned(),
            created["data"]["key"].as_str().unwrap().to_owned(),
        );
        let patch = |body: Value| {
            app.request(Method::PATCH, &format!("/v1/api-keys/{id}"))
                .json(&body)
                .send()
        };
        let (status, body) = json(
            patch(json!({"enabled": false, "name": "After Update"}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["enabled"], false);
        assert_eq!(body["data"]["name"], "After Update");
        let (status, body) = json(
            app.request_as(&key, Method::GET, "/v1/sessions")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
        );
        patch(json!({"enabled": true})).await.unwrap();
        assert_eq!(status_with(&app, &key).await, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn rescoping_a_key_takes_effect_immediately() {
    on_each_backend(|app| async move {
        let (_, created) = create_key(&app, json!({"name": "Rescoped"})).await;
        let (id, key) = (
            created["data"]["id"].as_str().unwrap().to_owned(),
            created["data"]["key"].as_str().unwrap().to_owned(),
        );
        let response = app
            .request(Method::PATCH, &format!("/v1/api-keys/{id}"))
            .json(&json!({"scopes": ["sessions:write"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(status_with(&app, &key).await, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn a_deleted_key_is_unauthorized_and_gone() {
    on_each_backend(|app| async move {
        let (_, created) = create_key(&app, json!({"name": "Doomed"})).await;
        let (id, key) = (
            created["data"]["id"].as_str().unwrap().to_owned(),
            created["data"]["key"].as_str().unwrap().to_owned(),
        );
        let response = app
            .request(Method::DELETE, &format!("/v1/api-keys/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(status_with(&app, &key).await, StatusCode::UNAUTHORIZED);
        let (status, body) = json(
            app.request(Method::DELETE, &format!("/v1/api-keys/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::NOT_FOUND, "API_KEY_NOT_FOUND")
        );
    })
    .await;
}

#[tokio::test]
async fn keys_of_other_organizations_and_unknown_ids_are_not_found() {
    on_each_backend(|app| async move {
        let (_, created) = create_key(&app, json!({"name": "Mine"})).await;
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        let other = app.other_org_key().await;
        for path in [
            format!("/v1/api-keys/{id}"),
            format!("/v1/api-keys/key_{}", "Z".repeat(64)),
            "/v1/api-keys/nonsense".to_owned(),
        ] {
            let (status, body) = json(
                app.request_as(&other, Method::PATCH, &path)
                    .json(&json!({"enabled": false}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(
                (status, error_code(&body).as_str()),
                (StatusCode::NOT_FOUND, "API_KEY_NOT_FOUND"),
                "{path}"
            );
            let (status, _) = json(
                app.request_as(&other, Method::DELETE, &path)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let key = created["data"]["key"].as_str().unwrap().to_owned();
        assert_eq!(status_with(&app, &key).await, StatusCode::OK, "untouched");
    })
    .await;
}

#[tokio::test]
async fn a_test_key_cannot_mint_live_keys() {
    on_each_backend(|app| async move {
        let test_admin = app.key_with(&[Scope::KeysManage], Environment::Test).await;
        let send = |body: Value| {
            app.request_as(&test_admin, Method::POST, "/v1/api-keys")
                .json(&body)
                .send()
        };
        let (status, _) = json(
            send(json!({"name": "x", "environment": "live"}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = json(send(json!({"name": "x"})).await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body["data"]["key"]
                .as_str()
                .unwrap()
                .starts_with("kk_test_")
        );
    })
    .await;
}

#[tokio::test]
async fn a_test_key_neither_sees_nor_changes_live_keys() {
    on_each_backend(|app| async move {
        let test_admin = app.key_with(&[Scope::KeysManage], Environment::Test).await;
        let (status, live) = create_key(&app, json!({"name": "production"})).await;
        assert_eq!(status, StatusCode::OK, "{live}");
        let live_id = live["data"]["id"].as_str().unwrap().to_owned();
        let live_key = live["data"]["key"].as_str().unwrap().to_owned();

        let (status, listed) = json(
            app.request_as(&test_admin, Method::GET, "/v1/api-keys?limit=100")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        let environments: Vec<&Value> = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| &k["environment"])
            .collect();
        assert!(!environments.is_empty());
        assert!(
            environments.iter().all(|e| *e == "test"),
            "a test key lists only test keys: {listed}"
        );

        let path = format!("/v1/api-keys/{live_id}");
        let (status, body) = json(
            app.request_as(&test_admin, Method::PATCH, &path)
                .json(&json!({"enabled": false}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap_or_default()),
            (StatusCode::NOT_FOUND, "API_KEY_NOT_FOUND")
        );
        let status = app
            .request_as(&test_admin, Method::DELETE, &path)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            status_with(&app, &live_key).await,
            StatusCode::OK,
            "the live key still works"
        );

        // A live key manages the organization's test keys (it is the one that issues them).
        let (status, listed) = json(
            app.request(Method::GET, "/v1/api-keys?limit=100")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["environment"] == "test"),
            "{listed}"
        );
    })
    .await;
}
