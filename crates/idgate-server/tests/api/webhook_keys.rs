//! `/v1/webhooks/endpoints/{id}/keys`: RSA public keys as SPKI PEM or JWK, at least 2048 bits,
//! exactly one active per endpoint; activation releases deliveries waiting for a key.

use idgate_core::{DeliveryId, EventId, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;
use crate::webhook_endpoints::{call, call_as, create_endpoint, id};

/// Public halves of throwaway keys generated with OpenSSL for these tests (public material only).
pub const PEM_2048: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0m+6p/NTIRRh8A0APLuR\n3eKnuw/A8FtHUYrUypIzL5UDxwb4SwBWz0N2R/BebNl2y3Bf3rJfcMG07RL9Bdk2\nZdIRw8EXyaB/ec21DZgdvCzCZzHQL/RqfkNULVLsUeV1ODYFDS8gtaydPthqqRJZ\nqOB5IeLSszPX01KBZgGZP4arl95X1XdN2BESl6bEJKevFkULxpyXPQQLvgpGbbPo\nxcC8ZS7Cldvlgsn10zrmJcr0ZAwWdpkvxsgIZn/RyBzlFT71YY3rPWpfzHJKKDaD\nW+fQjfio0Tf7blgRjqrwg+yo4YYME86oeEYGWF5HVtAfI5AmUmobIlQEuImjIYOA\n2QIDAQAB\n-----END PUBLIC KEY-----";
const PEM_1024: &str = "-----BEGIN PUBLIC KEY-----\nMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDM7KdmYJhnuvA9TlVTH2U3djzC\nXO7ixyFpZ443XxQi3N+BxRIgjXoxt8fD8wskNuLvequlkvOEvldyBigyOENETq6T\neOTMEBKuXwWdOOKhGsUhUzlc/nzVzhT1dgV8OQU1RY8gJgt/4HZi5ChIK0zO4wsH\nF29yAIwyl7881oXOpwIDAQAB\n-----END PUBLIC KEY-----";
const JWK_3072_N: &str = "q7mfQ00Y-7Jl_YMx9p6JvBN8ZhmKEMUjZoHL3rzoNpc-6Xk0evlWt5VyiIUBBn8uKWy60Zny06JCcij0HlfUPq-scTQt-D3rR6DZ_Qx5w-acnJVR_vSbOnd9anuGIKhoL2v4D5tiBpukjq4Winm9gprCw4hll8XLs1PBxYGxaLwSv9hs6AoLDR0rFCPMmrLV8--wfg0SeksDhjsZAFijvkwZLU8wDblOJoJKJKyxxoP9aobesMbeoSLBB4bGL_WWGl-wWqi1EjLfSvN2AulOsFl-JM17yK99wcuSqNw2kB7UQVCEYYzMxZfBsW0Nuv_UowYLkCwarszepYZWhPmn_xeANqW0En8hYyeqfYiBzT2HtH8O_Pm2K93V_F3g3hRroTRJXvSA5L8c3tO13y2E5P2Gwa4e5FuhzmPF_YWM3IICUpweU3P2bza2jNtPRasBtw5gsB7YXNU1--9XmE_bwR5luPXMcmGq0537pd0r-jO4bZey6f2LnYGHK72upBCv";

fn keys_path(endpoint: &Value) -> String {
    format!("/v1/webhooks/endpoints/{}/keys", id(endpoint))
}

pub async fn upload(app: &TestApp, endpoint: &Value, body: Value) -> (StatusCode, Value) {
    call(app, Method::POST, &keys_path(endpoint), Some(body)).await
}

async fn list_keys(app: &TestApp, endpoint: &Value) -> Vec<Value> {
    let (status, body) = call(app, Method::GET, &keys_path(endpoint), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

fn active_ids(keys: &[Value]) -> Vec<String> {
    keys.iter()
        .filter(|k| k["active"] == true)
        .map(id)
        .collect()
}

#[tokio::test]
async fn a_pem_key_is_stored_as_the_active_key() {
    on_each_backend(|app| async move {
        let endpoint = create_endpoint(&app).await;
        let (status, body) = upload(&app, &endpoint, json!({"pem": PEM_2048})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let key = &body["data"];
        assert!(id(key).starts_with("whk_"));
        assert_eq!(key["endpoint_id"], endpoint["id"]);
        assert_eq!(key["active"], true);
        assert_eq!(key["bits"], 2048);
        assert!(key["kid"].is_null());
        assert_eq!(key["header_kid"], key["id"]);
        assert_eq!(key["jwk"]["kty"], "RSA");
        assert_eq!(key["jwk"]["e"], "AQAB");
        assert_eq!(
            key["jwk"].as_object().unwrap().len(),
            3,
            "public members only: {key}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_jwk_key_keeps_the_given_kid_for_the_jwe_header() {
    on_each_backend(|app| async move {
        let endpoint = create_endpoint(&app).await;
        let jwk = json!({"kty": "RSA", "n": JWK_3072_N, "e": "AQAB", "kid": "from-jwk"});
        let (status, body) = upload(&app, &endpoint, json!({"jwk": jwk})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["bits"], 3072);
        assert_eq!(body["data"]["kid"], "from-jwk");
        let (_, body) = upload(
            &app,
            &endpoint,
            json!({"jwk": jwk, "kid": "integrator-2025"}),
        )
        .await;
        assert_eq!(body["data"]["kid"], "integrator-2025");
        assert_eq!(body["data"]["header_kid"], "integrator-2025");
        let (status, body) = upload(
            &app,
            &endpoint,
            json!({"pem": PEM_2048, "kid": "has space"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error_code(&body), "INVALID_REQUEST");
    })
    .await;
}

#[tokio::test]
async fn a_1024_bit_key_is_refused_as_too_weak() {
    on_each_backend(|app| async move {
        let endpoint = create_endpoint(&app).await;
        let (status, body) = upload(&app, &endpoint, json!({"pem": PEM_1024})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&body), "ENCRYPTION_KEY_TOO_WEAK");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("1024"),
            "{body}"
        );
        assert!(list_keys(&app, &endpoint).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn unusable_keys_are_refused_with_the_reason() {
    on_each_backend(|app| async move {
        let endpoint = create_endpoint(&app).await;
        let cases = [
            json!({"pem": "not a key"}),
            json!({"pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}),
            json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}),
            json!({"jwk": {"kty": "RSA", "n": JWK_3072_N, "e": "AQAB", "d": "AQAB"}}),
            json!({"jwk": "a string"}),
            json!({"jwk": {"kty": "RSA", "n": JWK_3072_N, "e": "AQAB"}, "pem": PEM_2048}),
            json!({}),
        ];
        for body in cases {
            let (status, answer) = upload(&app, &endpoint, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(
                error_code(&answer),
                "INVALID_ENCRYPTION_KEY",
                "{body}: {answer}"
            );
        }
        let (status, answer) =
            upload(&app, &endpoint, json!({"pem": PEM_2048, "use": "enc"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error_code(&answer), "INVALID_REQUEST");
        assert!(list_keys(&app, &endpoint).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_new_key_deactivates_the_previous_one() {
    on_each_backend(|app| async move {
        let endpoint = create_endpoint(&app).await;
        let (_, first) = upload(&app, &endpoint, json!({"pem": PEM_2048})).await;
        let (_, second) = upload(&app, &endpoint, json!({"pem": PEM_2048, "kid": "second"})).await;
        let keys = list_keys(&app, &endpoint).await;
        assert_eq!(keys.len(), 2);
        assert_eq!(active_ids(&keys), [id(&second["data"])]);
        assert_eq!(id(&keys[0]), id(&second["data"]), "newest first");
        assert_eq!(id(&keys[1]), id(&first["data"]));
    })
    .await;
}

#[tokio::test]
async fn reactivating_a_key_makes_it_the_only_active_one_and_both_calls_are_idempotent() {
    on_each_backend(|app| async move {
        let endpoint = create_endpoint(&app).await;
        let (_, first) = upload(&app, &endpoint, json!({"pem": PEM_2048})).await;
        let (_, second) = upload(&app, &endpoint, json!({"pem": PEM_2048})).await;
        let first_id = id(&first["data"]);
        let base = keys_path(&endpoint);
        for _ in 0..2 {
            let (status, body) = call(
                &app,
                Method::POST,
                &format!("{base}/{first_id}/reactivate"),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["data"]["active"], true);
            assert_eq!(
                active_ids(&list_keys(&app, &endpoint).await),
                std::slice::from_ref(&first_id)
            );
        }
        for _ in 0..2 {
            let (status, body) = call(
                &app,
                Method::POST,
                &format!("{base}/{first_id}/deactivate"),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["data"]["active"], false);
            assert!(active_ids(&list_keys(&app, &endpoint).await).is_empty());
        }
        let second_id = id(&second["data"]);
        let (_, body) = call(
            &app,
            Method::POST,
            &format!("{base}/{second_id}/reactivate"),
            None,
        )
        .await;
        assert_eq!(body["data"]["active"], true);
    })
    .await;
}

#[tokio::test]
async fn a_key_of_another_endpoint_or_unknown_is_not_found() {
    on_each_backend(|app| async move {
        let a = create_endpoint(&app).await;
        let b = create_endpoint(&app).await;
        let (_, key) = upload(&app, &a, json!({"pem": PEM_2048})).await;
        for key_id in [
            id(&key["data"]),
            format!("whk_{}", "Q".repeat(64)),
            "whk_bad".to_owned(),
        ] {
            for action in ["deactivate", "reactivate"] {
                let (status, body) = call(
                    &app,
                    Method::POST,
                    &format!("{}/{key_id}/{action}", keys_path(&b)),
                    None,
                )
                .await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{action} {key_id}");
                assert_eq!(error_code(&body), "ENCRYPTION_KEY_NOT_FOUND");
            }
        }
        assert_eq!(active_ids(&list_keys(&app, &a).await), [id(&key["data"])]);
    })
    .await;
}

#[tokio::test]
async fn key_lists_are_paginated() {
    on_each_backend(|app| async move {
        let endpoint = create_endpoint(&app).await;
        for _ in 0..3 {
            upload(&app, &endpoint, json!({"pem": PEM_2048})).await;
        }
        let base = keys_path(&endpoint);
        let (_, first) = call(&app, Method::GET, &format!("{base}?limit=2"), None).await;
        assert_eq!(first["data"].as_array().unwrap().len(), 2);
        assert_eq!(first["pagination"]["has_more"], true);
        let cursor = first["pagination"]["next_cursor"].as_str().unwrap();
        let (_, second) = call(
            &app,
            Method::GET,
            &format!("{base}?limit=2&starting_after={cursor}"),
            None,
        )
        .await;
        assert_eq!(second["data"].as_array().unwrap().len(), 1);
        assert_eq!(second["pagination"]["has_more"], false);
    })
    .await;
}

#[tokio::test]
async fn key_changes_need_webhooks_write() {
    on_each_backend(|app| async move {
        let endpoint = create_endpoint(&app).await;
        let (_, key) = upload(&app, &endpoint, json!({"pem": PEM_2048})).await;
        let reader = app
            .key_with(&[Scope::WebhooksRead], idgate_core::Environment::Live)
            .await;
        let base = keys_path(&endpoint);
        let (status, _) = call_as(&app, &reader, Method::GET, &base, None).await;
        assert_eq!(status, StatusCode::OK);
        for action in ["deactivate", "reactivate"] {
            let (status, body) = call_as(
                &app,
                &reader,
                Method::POST,
                &format!("{base}/{}/{action}", id(&key["data"])),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert_eq!(error_code(&body), "FORBIDDEN");
        }
        assert_eq!(
            active_ids(&list_keys(&app, &endpoint).await),
            [id(&key["data"])]
        );
    })
    .await;
}

/// Writes an event and a delivery waiting for a key, as the outbox fan-out does for an endpoint
/// without an active key; returns the delivery id.
pub async fn blocked_delivery(app: &TestApp, endpoint: &Value) -> DeliveryId {
    let session = create_session(app, None).await;
    let event = EventId::generate();
    let delivery = DeliveryId::generate();
    let org = app.org.to_string();
    let statements: [(&str, Vec<String>); 2] = [
        (
            "INSERT INTO events (id, org_id, environment, session_id, attempt_id, type, created_at, data, seq) \
             VALUES ($1, $2, 'live', $3, NULL, 'verification.session.cancelled', 1000, '{}', 0)",
            vec![event.to_string(), org.clone(), id(&session)],
        ),
        (
            "INSERT INTO webhook_deliveries (id, org_id, environment, event_id, endpoint_id, session_id, status, \
             attempt_count, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, 'live', $3, $4, $5, 'blocked_no_key', 0, NULL, 1000, 1000)",
            vec![
                delivery.to_string(),
                org,
                event.to_string(),
                id(endpoint),
                id(&session),
            ],
        ),
    ];
    for (sql, binds) in statements {
        exec(app, sql, &binds).await;
    }
    delivery
}

pub async fn exec(app: &TestApp, sql: &str, binds: &[String]) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match app.state.store.pool() {
        idgate_store::Pool::Sqlite(s) => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(b.clone());
            }
            q.execute(s).await.expect("statement");
        }
        idgate_store::Pool::Postgres(s) => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(b.clone());
            }
            q.execute(s).await.expect("statement");
        }
    }
}

pub async fn delivery_status(app: &TestApp, delivery: &DeliveryId) -> String {
    let q = "SELECT status FROM webhook_deliveries WHERE id = $1";
    let (status,): (String,) = match app.state.store.pool() {
        idgate_store::Pool::Sqlite(s) => sqlx::query_as(q)
            .bind(delivery.as_str())
            .fetch_one(s)
            .await
            .unwrap(),
        idgate_store::Pool::Postgres(s) => sqlx::query_as(q)
            .bind(delivery.as_str())
            .fetch_one(s)
            .await
            .unwrap(),
    };
    status
}

#[tokio::test]
async fn uploading_a_key_releases_deliveries_that_waited_for_one() {
    on_each_backend(|app| async move {
        let endpoint = create_endpoint(&app).await;
        let waiting = blocked_delivery(&app, &endpoint).await;
        assert_eq!(delivery_status(&app, &waiting).await, "blocked_no_key");
        let (status, _) = upload(&app, &endpoint, json!({"pem": PEM_2048})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(delivery_status(&app, &waiting).await, "pending");
    })
    .await;
}

#[tokio::test]
async fn deactivating_the_only_key_makes_deliveries_wait_and_reactivating_releases_them() {
    on_each_backend(|app| async move {
        let endpoint = create_endpoint(&app).await;
        let (_, key) = upload(&app, &endpoint, json!({"pem": PEM_2048})).await;
        let base = format!("{}/{}", keys_path(&endpoint), id(&key["data"]));
        call(&app, Method::POST, &format!("{base}/deactivate"), None).await;
        let waiting = blocked_delivery(&app, &endpoint).await;
        call(&app, Method::POST, &format!("{base}/reactivate"), None).await;
        assert_eq!(delivery_status(&app, &waiting).await, "pending");
        call(&app, Method::POST, &format!("{base}/deactivate"), None).await;
        assert_eq!(delivery_status(&app, &waiting).await, "blocked_no_key");
    })
    .await;
}
