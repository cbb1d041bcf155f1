//! `POST /v1/sessions`: defaults, the share contract, field rules, idempotency.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const STATIC_CLAIMS: [&str; 13] = [
    "document_type_code",
    "issuing_country_code",
    "family_name",
    "given_names",
    "document_number",
    "nationality_code",
    "date_of_birth",
    "sex_marker",
    "document_expiry_date",
    "mrz_optional_data",
    "document_photo",
    "kayle_document_id",
    "kayle_human_id",
];

async fn create_error(app: &TestApp, body: Value) -> (StatusCode, String, Value) {
    let (status, body) = json(
        app.request(Method::POST, "/v1/sessions")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let code = error_code(&body);
    (status, code, body)
}

#[tokio::test]
async fn create_without_body_returns_a_created_session_with_defaults() {
    on_each_backend(|app| async move {
        let session = create_session(&app, None).await;
        let id = id_of(&session);
        assert!(id.starts_with("vs_") && id.len() == 67, "{id}");
        assert_eq!(session["status"], "created");
        assert_eq!(session["failure_code"], Value::Null);
        assert_eq!(session["nfc_tries_used"], 0);
        assert_eq!(session["liveness_tries_used"], 0);
        assert_eq!(session["contract_version"], 1);
        assert_eq!(session["redirect_url"], Value::Null);
        assert_eq!(session["webhook_endpoint_id"], Value::Null);
        assert_eq!(session["completed_at"], Value::Null);
        assert_eq!(session["metadata"], json!({}));
        let token = session["cancel_token"]
            .as_str()
            .expect("cancel_token on create");
        assert!(token.len() >= 32);
        assert_eq!(
            session["verification_url"],
            format!("{}/verify/{id}?cancel_token={token}", app.base_url)
        );
        let share = session["share_fields"].as_object().expect("share_fields");
        assert_eq!(share.len(), 13);
        for claim in STATIC_CLAIMS {
            assert_eq!(share[claim]["source"], "default", "{claim}");
            assert_eq!(
                share[claim]["required"],
                claim == "kayle_document_id",
                "{claim}"
            );
        }
        assert_eq!(
            share["document_photo"]["reason"],
            "Sharing \"Document Photo\""
        );
        assert_eq!(
            share["kayle_document_id"]["reason"],
            "Sharing \"Kayle Document ID\""
        );
        let created =
            idgate_core::Timestamp::parse_rfc3339(session["created_at"].as_str().unwrap()).unwrap();
        let expires =
            idgate_core::Timestamp::parse_rfc3339(session["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!(expires.unix_ms() - created.unix_ms(), 3_600_000);
        assert!(session["created_at"].as_str().unwrap().ends_with('Z'));
    })
    .await;
}

#[tokio::test]
async fn cancel_token_is_returned_only_by_create() {
    on_each_backend(|app| async move {
        let session = create_session(&app, None).await;
        let (status, body) = get_session(&app, &id_of(&session)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["data"].get("cancel_token").is_none(), "{body}");
        assert_eq!(
            body["data"]["verification_url"],
            session["verification_url"]
        );
    })
    .await;
}

#[tokio::test]
async fn supplied_share_fields_are_marked_rc_and_document_id_is_always_required() {
    on_each_backend(|app| async move {
        let session = create_session(
            &app,
            Some(json!({"share_fields": {
                "age_over_18": {"required": true, "reason": "  Age   check "},
                "nationality_code": {"required": false, "reason": "Compliance"},
                "kayle_document_id": {"required": false, "reason": "RC attempted optional"}
            }})),
        )
        .await;
        let share = &session["share_fields"];
        assert_eq!(
            share["age_over_18"],
            json!({"required": true, "reason": "Age check", "source": "rc"})
        );
        assert_eq!(share["nationality_code"]["source"], "rc");
        assert_eq!(share["kayle_document_id"]["required"], true);
        assert!(
            share.get("family_name").is_none(),
            "only requested keys: {share}"
        );
    })
    .await;
}

#[tokio::test]
async fn empty_share_fields_keep_only_the_document_id() {
    on_each_backend(|app| async move {
        let session = create_session(&app, Some(json!({"share_fields": {}}))).await;
        let share = session["share_fields"].as_object().unwrap();
        assert_eq!(share.keys().collect::<Vec<_>>(), ["kayle_document_id"]);
        assert_eq!(share["kayle_document_id"]["required"], true);
    })
    .await;
}

#[tokio::test]
async fn share_contract_violations_answer_their_codes() {
    on_each_backend(|app| async move {
        let many: serde_json::Map<String, Value> =
            (0..33).map(|i| (format!("field_{i}"), json!({"required": false, "reason": "r"}))).collect();
        let cases = [
            (json!(["nationality_code"]), "INVALID_SHARE_FIELDS"),
            (json!({"nationality_code": {"required": true}}), "REASON_REQUIRED"),
            (json!({"nationality_code": {"required": true, "reason": "   "}}), "REASON_REQUIRED"),
            (json!({"nationality_code": {"required": true, "reason": "x".repeat(201)}}), "REASON_TOO_LONG"),
            (json!({"foo_bar": {"required": true, "reason": "r"}}), "UNKNOWN_CLAIM_KEY"),
            (Value::Object(many), "TOO_MANY_SHARE_FIELDS"),
            (json!({"age_over_18": {"required": true, "reason": "r"}, "age_over_21": {"required": true, "reason": "r"}}), "MULTIPLE_AGE_GATES_NOT_ALLOWED"),
            (json!({"date_of_birth": {"required": true, "reason": "r"}, "age_over_18": {"required": true, "reason": "r"}}), "DOB_AND_AGE_GATE_CONFLICT"),
            (json!({"age_over_11": {"required": true, "reason": "r"}}), "INVALID_AGE_GATE_KEY"),
            (json!({"age_over_abc": {"required": true, "reason": "r"}}), "INVALID_AGE_GATE_KEY"),
        ];
        for (share_fields, expected) in cases {
            let (status, code, body) = create_error(&app, json!({"share_fields": share_fields})).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(code, expected, "{share_fields}");
        }
    })
    .await;
}

#[tokio::test]
async fn redirect_url_must_be_https_or_loopback_http() {
    on_each_backend(|app| async move {
        for ok in [
            "https://example.com/done",
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
        ] {
            let session = create_session(&app, Some(json!({"redirect_url": ok}))).await;
            assert_eq!(session["redirect_url"], ok);
        }
        for bad in ["http://example.com/", "javascript:alert(1)", "nope", ""] {
            let (status, code, body) = create_error(&app, json!({"redirect_url": bad})).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                "{bad}"
            );
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("`redirect_url`"),
                "{body}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn expires_in_sets_expires_at_and_is_bounded() {
    on_each_backend(|app| async move {
        let session = create_session(&app, Some(json!({"expires_in": 300}))).await;
        let created =
            idgate_core::Timestamp::parse_rfc3339(session["created_at"].as_str().unwrap()).unwrap();
        let expires =
            idgate_core::Timestamp::parse_rfc3339(session["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!(expires.unix_ms() - created.unix_ms(), 300_000);
        for bad in [json!(299), json!(86_401), json!("600"), json!(1.5)] {
            let (status, code, body) = create_error(&app, json!({"expires_in": bad})).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                "{bad}"
            );
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("`expires_in`"),
                "{body}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn metadata_is_stored_and_bounded() {
    on_each_backend(|app| async move {
        let session = create_session(&app, Some(json!({"metadata": {"order": "A-17"}}))).await;
        let (_, body) = get_session(&app, &id_of(&session)).await;
        assert_eq!(body["data"]["metadata"], json!({"order": "A-17"}));
        let too_many: serde_json::Map<String, Value> =
            (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
        for bad in [
            Value::Object(too_many),
            json!({"k": 5}),
            json!({"k": "v".repeat(501)}),
            json!(["x"]),
        ] {
            let (status, code, body) = create_error(&app, json!({"metadata": bad})).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
            );
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("`metadata`"),
                "{body}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_webhook_endpoints_are_rejected() {
    on_each_backend(|app| async move {
        let endpoint = format!("whe_{}", "a".repeat(64));
        for target in [json!(endpoint), json!([endpoint])] {
            let (status, code, _) =
                create_error(&app, json!({"webhook_endpoint_id": target})).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::BAD_REQUEST, "WEBHOOK_ENDPOINT_NOT_FOUND")
            );
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_fields_are_rejected_naming_the_field() {
    on_each_backend(|app| async move {
        let (status, code, body) =
            create_error(&app, json!({"redirect_uri": "https://example.com"})).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("redirect_uri"),
            "{body}"
        );
    })
    .await;
}

#[tokio::test]
async fn malformed_json_and_non_object_bodies_are_invalid_requests() {
    on_each_backend(|app| async move {
        for raw in ["{", "{\"redirect_url\":", "[]", "null", "{} {}"] {
            let response = app
                .request(Method::POST, "/v1/sessions")
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap();
            let (status, body) = json(response).await;
            assert_eq!(
                (status, error_code(&body).as_str()),
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                "{raw}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_unsupported_media_type() {
    on_each_backend(|app| async move {
        let response = app
            .request(Method::POST, "/v1/sessions")
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
        let (status, body) = json(response).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
        );
    })
    .await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_payload_too_large() {
    on_each_backend(|app| async move {
        let big = json!({"metadata": {"k": "x".repeat(70 * 1024)}});
        let (status, body) = json(
            app.request(Method::POST, "/v1/sessions")
                .json(&big)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
        );
    })
    .await;
}

#[tokio::test]
async fn creating_needs_a_key_with_sessions_write() {
    on_each_backend(|app| async move {
        let (status, body) = json(
            app.client
                .post(app.url("/v1/sessions"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
        );
        let reader = app
            .key_with(
                &[idgate_core::Scope::SessionsRead],
                idgate_core::Environment::Live,
            )
            .await;
        let (status, body) = json(
            app.request_as(&reader, Method::POST, "/v1/sessions")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::FORBIDDEN, "FORBIDDEN")
        );
    })
    .await;
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response_byte_for_byte() {
    on_each_backend(|app| async move {
        let body = json!({"metadata": {"order": "1"}});
        let send = |body: Value| {
            app.request(Method::POST, "/v1/sessions")
                .header("idempotency-key", "order-1")
                .json(&body)
                .send()
        };
        let first = send(body.clone()).await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let first = first.bytes().await.unwrap();
        let second = send(body.clone()).await.unwrap();
        assert_eq!(second.status(), StatusCode::OK);
        assert_eq!(second.bytes().await.unwrap(), first);
        let (status, conflict) =
            json(send(json!({"metadata": {"order": "2"}})).await.unwrap()).await;
        assert_eq!(
            (status, error_code(&conflict).as_str()),
            (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_REUSED")
        );
        let (_, list) = json(
            app.request(Method::GET, "/v1/sessions")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            list["data"].as_array().unwrap().len(),
            1,
            "one session for one key"
        );
    })
    .await;
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_organization() {
    on_each_backend(|app| async move {
        let other = app.other_org_key().await;
        let a = app
            .request(Method::POST, "/v1/sessions")
            .header("idempotency-key", "k")
            .send()
            .await
            .unwrap();
        let b = app
            .request_as(&other, Method::POST, "/v1/sessions")
            .header("idempotency-key", "k")
            .send()
            .await
            .unwrap();
        let (a, b) = (json(a).await.1, json(b).await.1);
        assert_ne!(a["data"]["id"], b["data"]["id"]);
    })
    .await;
}
