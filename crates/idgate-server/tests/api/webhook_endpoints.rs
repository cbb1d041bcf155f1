//! `/v1/webhooks/endpoints`: create (signing secret shown once), list, get, patch, delete and
//! secret rotation with its 24 h overlap; URL and event-type rules; scopes; tenant isolation.

use base64::Engine as _;
use idgate_core::{EndpointId, Environment, Scope, Tenant};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

pub const HOOK_URL: &str = "https://hooks.example.com/idgate";

pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_as(app, &app.key, method, path, body).await
}

pub async fn call_as(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.request_as(key, method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    if response.status() == StatusCode::NO_CONTENT {
        return (StatusCode::NO_CONTENT, Value::Null);
    }
    json(response).await
}

/// Creates an endpoint subscribed to everything; returns the response `data`.
pub async fn create_endpoint(app: &TestApp) -> Value {
    let (status, body) = call(
        app,
        Method::POST,
        "/v1/webhooks/endpoints",
        Some(json!({"url": HOOK_URL, "subscribed_event_types": ["*"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn tenant(app: &TestApp) -> Tenant {
    Tenant {
        org_id: app.org.clone(),
        environment: Environment::Live,
    }
}

fn secret_bytes(whsec: &str) -> Vec<u8> {
    let encoded = whsec.strip_prefix("whsec_").expect("whsec_ prefix");
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64")
}

#[tokio::test]
async fn create_returns_the_signing_secret_once_and_never_again() {
    on_each_backend(|app| async move {
        let created = create_endpoint(&app).await;
        let secret = created["signing_secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        assert_eq!(secret_bytes(&secret).len(), 32);
        let path = format!("/v1/webhooks/endpoints/{}", id(&created));
        let (status, got) = call(&app, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK);
        let (_, list) = call(&app, Method::GET, "/v1/webhooks/endpoints", None).await;
        let (_, patched) = call(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"description": "x"})),
        )
        .await;
        for shown in [&got, &list, &patched] {
            let text = shown.to_string();
            assert!(!text.contains(&secret[6..]), "secret shown again: {text}");
            assert!(!text.contains("signing_secret"), "{text}");
            assert!(!text.contains("sealed"), "{text}");
        }
        // Stored sealed, not in clear.
        let stored = app
            .state
            .store
            .get_endpoint(&tenant(&app), &EndpointId::parse(&id(&created)).unwrap())
            .await
            .unwrap();
        assert!(!stored.secret_sealed.as_str().contains(&secret[6..]));
    })
    .await;
}

#[tokio::test]
async fn create_answers_the_endpoint_with_its_defaults() {
    on_each_backend(|app| async move {
        let created = create_endpoint(&app).await;
        assert!(id(&created).starts_with("whe_") && id(&created).len() == 68);
        assert_eq!(created["url"], HOOK_URL);
        assert_eq!(created["description"], "");
        assert_eq!(created["enabled"], true);
        assert_eq!(created["subscribed_event_types"], json!(["*"]));
        assert!(created["disabled_reason"].is_null());
        assert!(created["disabled_at"].is_null());
        assert!(created["previous_secret_expires_at"].is_null());
        assert_eq!(created["created_at"], created["updated_at"]);
    })
    .await;
}

#[tokio::test]
async fn create_refuses_unknown_fields() {
    on_each_backend(|app| async move {
        let (status, body) = call(
            &app,
            Method::POST,
            "/v1/webhooks/endpoints",
            Some(json!({"url": HOOK_URL, "subscribed_event_types": ["*"], "secret": "whsec_x"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error_code(&body), "INVALID_REQUEST");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("secret"),
            "{body}"
        );
    })
    .await;
}

#[tokio::test]
async fn plain_http_urls_are_refused_without_the_operator_switch() {
    on_each_backend(|app| async move {
        let (status, body) = call(
            &app,
            Method::POST,
            "/v1/webhooks/endpoints",
            Some(json!({"url": "http://hooks.example.com/x", "subscribed_event_types": ["*"]})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error_code(&body), "INSECURE_WEBHOOK_URL");
    })
    .await;
}

#[tokio::test]
async fn plain_http_urls_are_accepted_with_private_webhooks_allowed() {
    on_each_backend_with(
        TestAppBuilder::default().allow_private_webhooks(true),
        |app| async move {
            let (status, body) = call(
                &app,
                Method::POST,
                "/v1/webhooks/endpoints",
                Some(json!({"url": "http://127.0.0.1:9/hook", "subscribed_event_types": ["*"]})),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        },
    )
    .await;
}

#[tokio::test]
async fn malformed_urls_are_refused_with_a_precise_code() {
    on_each_backend(|app| async move {
        let long = format!("https://hooks.example.com/{}", "a".repeat(2100));
        for url in [
            json!("hooks.example.com/x"),
            json!("https://user:pw@hooks.example.com/x"),
            json!("https://hooks.example.com/x#frag"),
            json!("ftp://hooks.example.com/x"),
            json!(long),
            json!(42),
            json!(null),
        ] {
            let (status, body) = call(
                &app,
                Method::POST,
                "/v1/webhooks/endpoints",
                Some(json!({"url": url, "subscribed_event_types": ["*"]})),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
            assert_eq!(error_code(&body), "INVALID_WEBHOOK_URL", "{url}");
        }
    })
    .await;
}

#[tokio::test]
async fn event_types_must_be_a_non_empty_list_from_the_catalog() {
    on_each_backend(|app| async move {
        for types in [
            json!([]),
            json!(["verification.session.done"]),
            json!(["*", "verification.session.failed"]),
            json!("*"),
            json!(null),
        ] {
            let (status, body) = call(
                &app,
                Method::POST,
                "/v1/webhooks/endpoints",
                Some(json!({"url": HOOK_URL, "subscribed_event_types": types})),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{types}");
            assert_eq!(error_code(&body), "INVALID_EVENT_TYPES", "{types}");
        }
        let (status, body) = call(
            &app,
            Method::POST,
            "/v1/webhooks/endpoints",
            Some(json!({
                "url": HOOK_URL,
                "subscribed_event_types": ["verification.session.succeeded", "verification.session.failed"],
                "description": "results",
                "enabled": false
            })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["data"]["subscribed_event_types"],
            json!(["verification.session.succeeded", "verification.session.failed"])
        );
        assert_eq!(body["data"]["enabled"], false);
        assert_eq!(body["data"]["description"], "results");
    })
    .await;
}

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    on_each_backend(|app| async move {
        let created = create_endpoint(&app).await;
        let path = format!("/v1/webhooks/endpoints/{}", id(&created));
        let (status, body) = call(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"url": "https://other.example.com/h", "enabled": false})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let data = &body["data"];
        assert_eq!(data["url"], "https://other.example.com/h");
        assert_eq!(data["enabled"], false);
        assert_eq!(data["subscribed_event_types"], json!(["*"]));
        let (_, got) = call(&app, Method::GET, &path, None).await;
        assert_eq!(&got["data"], data);
    })
    .await;
}

#[tokio::test]
async fn patch_applies_the_create_rules() {
    on_each_backend(|app| async move {
        let created = create_endpoint(&app).await;
        let path = format!("/v1/webhooks/endpoints/{}", id(&created));
        let cases = [
            (
                json!({"url": "http://hooks.example.com/"}),
                "INSECURE_WEBHOOK_URL",
            ),
            (json!({"subscribed_event_types": []}), "INVALID_EVENT_TYPES"),
            (json!({"enabled": "yes"}), "INVALID_REQUEST"),
            (json!({"signing_secret": "whsec_x"}), "INVALID_REQUEST"),
        ];
        for (patch, code) in cases {
            let (status, body) = call(&app, Method::PATCH, &path, Some(patch.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}");
            assert_eq!(error_code(&body), code, "{patch}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_deleted_endpoint_is_gone() {
    on_each_backend(|app| async move {
        let created = create_endpoint(&app).await;
        let path = format!("/v1/webhooks/endpoints/{}", id(&created));
        let (status, _) = call(&app, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = call(&app, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error_code(&body), "ENDPOINT_NOT_FOUND");
        let (status, _) = call(&app, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn rotation_returns_a_new_secret_and_keeps_the_old_one_signing_for_24_hours() {
    on_each_backend(|app| async move {
        let created = create_endpoint(&app).await;
        let old = created["signing_secret"].as_str().unwrap().to_owned();
        let path = format!("/v1/webhooks/endpoints/{}/rotate-secret", id(&created));
        let before = app.state.clock.now();
        let (status, body) = call(&app, Method::POST, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let new = body["data"]["signing_secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert_eq!(secret_bytes(&new).len(), 32);
        let expires = idgate_core::Timestamp::parse_rfc3339(
            body["data"]["previous_secret_expires_at"]
                .as_str()
                .expect("overlap shown"),
        )
        .unwrap();
        let overlap_ms = expires.unix_ms() - before.unix_ms();
        assert!(
            (86_399_000..=86_401_000).contains(&overlap_ms),
            "{overlap_ms}"
        );
        // What the worker will sign with: both secrets open from the store.
        let endpoint_id = EndpointId::parse(&id(&created)).unwrap();
        let stored = app
            .state
            .store
            .get_endpoint(&tenant(&app), &endpoint_id)
            .await
            .unwrap();
        let current = app
            .state
            .secrets
            .open_signing_secret(&endpoint_id, stored.secret_sealed.as_str())
            .unwrap();
        assert_eq!(current.expose_whsec(), new);
        let previous = stored
            .previous_secret_at(app.state.clock.now())
            .expect("still signing");
        let previous = app
            .state
            .secrets
            .open_signing_secret(&endpoint_id, previous.as_str())
            .unwrap();
        assert_eq!(previous.expose_whsec(), old);
        // After the overlap the endpoint no longer shows (or signs with) the old secret.
        app.clock.advance_secs(24 * 3600 + 1);
        let (_, got) = call(
            &app,
            Method::GET,
            &format!("/v1/webhooks/endpoints/{}", id(&created)),
            None,
        )
        .await;
        assert!(got["data"]["previous_secret_expires_at"].is_null(), "{got}");
        let stored = app
            .state
            .store
            .get_endpoint(&tenant(&app), &endpoint_id)
            .await
            .unwrap();
        assert!(stored.previous_secret_at(app.state.clock.now()).is_none());
    })
    .await;
}

#[tokio::test]
async fn list_is_newest_first_and_paginated() {
    on_each_backend(|app| async move {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(id(&create_endpoint(&app).await));
        }
        let (status, first) = call(&app, Method::GET, "/v1/webhooks/endpoints?limit=2", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(first["pagination"]["limit"], 2);
        assert_eq!(first["pagination"]["has_more"], true);
        let cursor = first["pagination"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, second) = call(
            &app,
            Method::GET,
            &format!("/v1/webhooks/endpoints?limit=2&starting_after={cursor}"),
            None,
        )
        .await;
        assert_eq!(second["pagination"]["has_more"], false);
        assert!(second["pagination"]["next_cursor"].is_null());
        let listed: Vec<String> = first["data"]
            .as_array()
            .unwrap()
            .iter()
            .chain(second["data"].as_array().unwrap())
            .map(id)
            .collect();
        let mut expected = ids.clone();
        expected.reverse();
        let mut sorted_listed = listed.clone();
        sorted_listed.sort();
        let mut sorted_ids = ids.clone();
        sorted_ids.sort();
        assert_eq!(sorted_listed, sorted_ids);
        // Newest first: the last created comes first unless created in the same millisecond.
        assert_eq!(listed.len(), 3);
        let (status, body) = call(&app, Method::GET, "/v1/webhooks/endpoints?limit=0", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["pagination"]["limit"], 10, "{body}");
        let (status, _) = call(
            &app,
            Method::GET,
            "/v1/webhooks/endpoints?starting_after=vs_x",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test]
async fn reading_needs_webhooks_read_and_changing_needs_webhooks_write() {
    on_each_backend(|app| async move {
        let created = create_endpoint(&app).await;
        let path = format!("/v1/webhooks/endpoints/{}", id(&created));
        let reader = app
            .key_with(&[Scope::WebhooksRead], Environment::Live)
            .await;
        let sessions_only = app
            .key_with(
                &[Scope::SessionsRead, Scope::SessionsWrite],
                Environment::Live,
            )
            .await;
        let (status, _) = call_as(&app, &reader, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call_as(&app, &reader, Method::GET, "/v1/webhooks/endpoints", None).await;
        assert_eq!(status, StatusCode::OK);
        let writes = [
            (
                Method::POST,
                "/v1/webhooks/endpoints".to_owned(),
                Some(json!({"url": HOOK_URL, "subscribed_event_types": ["*"]})),
            ),
            (Method::PATCH, path.clone(), Some(json!({"enabled": false}))),
            (Method::DELETE, path.clone(), None),
            (Method::POST, format!("{path}/rotate-secret"), None),
            (
                Method::POST,
                format!("{path}/keys"),
                Some(json!({"pem": "x"})),
            ),
        ];
        for (method, route, body) in writes {
            let (status, answer) = call_as(&app, &reader, method.clone(), &route, body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {route}");
            assert_eq!(error_code(&answer), "FORBIDDEN");
        }
        for route in [
            path.clone(),
            "/v1/webhooks/endpoints".to_owned(),
            format!("{path}/keys"),
        ] {
            let (status, _) = call_as(&app, &sessions_only, Method::GET, &route, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{route}");
        }
        let (status, _) = call_as(&app, "kk_live_nope", Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Nothing changed.
        let (_, got) = call(&app, Method::GET, &path, None).await;
        assert_eq!(got["data"]["enabled"], true);
    })
    .await;
}

#[tokio::test]
async fn another_tenants_endpoint_answers_like_one_never_issued_on_every_route() {
    on_each_backend(|app| async move {
        let created = create_endpoint(&app).await;
        let real = id(&created);
        let never = format!("whe_{}", "Z".repeat(64));
        let other_org = app.other_org_key().await;
        let test_mode = app
            .key_with(
                &[Scope::WebhooksRead, Scope::WebhooksWrite],
                Environment::Test,
            )
            .await;
        let key = format!("whk_{}", "K".repeat(64));
        for stranger in [&other_org, &test_mode] {
            for endpoint in [&real, &never, &"whe_short".to_owned()] {
                let base = format!("/v1/webhooks/endpoints/{endpoint}");
                let routes = [
                    (Method::GET, base.clone(), None),
                    (Method::PATCH, base.clone(), Some(json!({"enabled": false}))),
                    (Method::DELETE, base.clone(), None),
                    (Method::POST, format!("{base}/rotate-secret"), None),
                    (Method::GET, format!("{base}/keys"), None),
                    (
                        Method::POST,
                        format!("{base}/keys"),
                        Some(json!({"pem": crate::webhook_keys::PEM_2048})),
                    ),
                    (Method::POST, format!("{base}/keys/{key}/deactivate"), None),
                    (Method::POST, format!("{base}/keys/{key}/reactivate"), None),
                ];
                for (method, route, body) in routes {
                    let (status, answer) =
                        call_as(&app, stranger, method.clone(), &route, body).await;
                    assert_eq!(status, StatusCode::NOT_FOUND, "{method} {route}: {answer}");
                    assert_eq!(
                        error_code(&answer),
                        "ENDPOINT_NOT_FOUND",
                        "{method} {route}"
                    );
                }
            }
            let (_, list) =
                call_as(&app, stranger, Method::GET, "/v1/webhooks/endpoints", None).await;
            assert_eq!(list["data"], json!([]), "{list}");
        }
        let (_, got) = call(
            &app,
            Method::GET,
            &format!("/v1/webhooks/endpoints/{real}"),
            None,
        )
        .await;
        assert_eq!(
            got["data"]["enabled"], true,
            "the owner's endpoint is unchanged"
        );
    })
    .await;
}

#[tokio::test]
async fn a_session_can_name_a_created_endpoint_but_not_a_foreign_one() {
    on_each_backend(|app| async move {
        let created = create_endpoint(&app).await;
        let session =
            create_session(&app, Some(json!({"webhook_endpoint_id": id(&created)}))).await;
        assert_eq!(session["webhook_endpoint_id"], created["id"]);
        let other = app.other_org_key().await;
        let (status, body) = call_as(
            &app,
            &other,
            Method::POST,
            "/v1/sessions",
            Some(json!({"webhook_endpoint_id": id(&created)})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error_code(&body), "WEBHOOK_ENDPOINT_NOT_FOUND");
    })
    .await;
}

#[tokio::test]
async fn openapi_lists_the_webhook_routes_and_schemas() {
    on_each_backend(|app| async move {
        let (status, doc) = json(
            app.client
                .get(app.url("/openapi.json"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let paths = &doc["paths"];
        for (path, method) in [
            ("/v1/webhooks/endpoints", "post"),
            ("/v1/webhooks/endpoints", "get"),
            ("/v1/webhooks/endpoints/{id}", "get"),
            ("/v1/webhooks/endpoints/{id}", "patch"),
            ("/v1/webhooks/endpoints/{id}", "delete"),
            ("/v1/webhooks/endpoints/{id}/rotate-secret", "post"),
            ("/v1/webhooks/endpoints/{id}/keys", "post"),
            ("/v1/webhooks/endpoints/{id}/keys", "get"),
            (
                "/v1/webhooks/endpoints/{id}/keys/{key_id}/deactivate",
                "post",
            ),
            (
                "/v1/webhooks/endpoints/{id}/keys/{key_id}/reactivate",
                "post",
            ),
        ] {
            assert!(paths[path][method].is_object(), "{method} {path} missing");
        }
        let schemas = &doc["components"]["schemas"];
        for schema in [
            "WebhookEndpoint",
            "WebhookEndpointWithSecret",
            "WebhookEncryptionKey",
            "CreateWebhookEndpoint",
        ] {
            assert!(schemas[schema].is_object(), "schema {schema} missing");
        }
        let (_, errors) = (
            (),
            app.client
                .get(app.url("/docs/errors"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        for code in [
            "ENDPOINT_NOT_FOUND",
            "INSECURE_WEBHOOK_URL",
            "ENCRYPTION_KEY_TOO_WEAK",
        ] {
            assert!(errors.contains(code), "{code} not on /docs/errors");
        }
    })
    .await;
}
