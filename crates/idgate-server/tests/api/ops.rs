//! Health, readiness, metrics, the OpenAPI document and the docs pages.

use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn healthz_and_readyz_answer_without_a_key() {
    on_each_backend(|app| async move {
        for path in ["/healthz", "/readyz"] {
            let (status, body) = json(app.client.get(app.url(path)).send().await.unwrap()).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            assert!(body["error"].is_null());
        }
    })
    .await;
}

#[tokio::test]
async fn metrics_expose_route_latency_and_session_counters() {
    on_each_backend(|app| async move {
        let session = create_session(&app, None).await;
        app.request(
            Method::POST,
            &format!("/v1/sessions/{}/cancel", id_of(&session)),
        )
        .send()
        .await
        .unwrap();
        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        assert!(
            text.contains("idgate_http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains("route=\"/v1/sessions/{id}/cancel\""),
            "route templates, not paths: {text}"
        );
        assert!(!text.contains(&id_of(&session)), "no ids in labels");
        assert!(text.contains("idgate_sessions_created_total"));
        assert!(text.contains("idgate_sessions_cancelled_total"));
        if app.backend == idgate_server::testing::Backend::Sqlite {
            assert!(
                text.contains("idgate_sqlite_create_group_size_bucket{le=\"64\"}"),
                "group commit sizes as a histogram: {text}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn openapi_document_is_3_1_and_describes_every_route() {
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
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        for path in [
            "/v1/sessions",
            "/v1/sessions/{id}",
            "/v1/sessions/{id}/cancel",
            "/v1/sessions/{id}/attempts",
            "/v1/api-keys",
            "/v1/api-keys/{id}",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        let get = &doc["paths"]["/v1/sessions/{id}"]["get"];
        assert_eq!(
            get["parameters"][0]["schema"]["pattern"],
            "^vs_[A-Za-z0-9]{64}$"
        );
        assert!(doc["paths"]["/v1/sessions/{id}/cancel"]["post"]["responses"]["204"].is_object());
        assert_eq!(
            doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
            "bearer"
        );
        let session = &doc["components"]["schemas"]["Session"];
        for field in [
            "id",
            "status",
            "failure_code",
            "nfc_tries_used",
            "liveness_tries_used",
            "contract_version",
            "share_fields",
            "redirect_url",
            "webhook_endpoint_id",
            "verification_url",
            "expires_at",
            "completed_at",
            "created_at",
            "updated_at",
        ] {
            assert!(
                session["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f == field),
                "{field} required"
            );
        }
        let list_params: Vec<_> = doc["paths"]["/v1/sessions"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            list_params,
            [
                "status",
                "created_from",
                "created_to",
                "limit",
                "starting_after"
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn docs_ui_and_errors_page_are_served_offline() {
    on_each_backend(|app| async move {
        let response = app.client.get(app.url("/docs/")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.text().await.unwrap().contains("swagger"),
            "Swagger UI page"
        );
        let response = app
            .client
            .get(app.url("/docs/swagger-ui-bundle.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "bundle served from the binary"
        );
        let response = app
            .client
            .get(app.url("/docs/errors"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page = response.text().await.unwrap();
        for code in [
            "not_found",
            "invalid_session_id",
            "idempotency_key_reused",
            "internal_server_error",
        ] {
            assert!(page.contains(&format!("id=\"{code}\"")), "{code}");
        }
    })
    .await;
}
