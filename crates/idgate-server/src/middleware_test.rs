use axum::Router;
use axum::body::to_bytes;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

fn router() -> Router {
    async fn boom() -> &'static str {
        panic!("secret detail that must not leak")
    }
    Router::new()
        .route("/v1/sessions", get(boom))
        .route("/panics", get(boom))
        .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
        .layer(from_fn(catch_panic))
        .layer(from_fn_with_state(
            DocsBase("https://docs.example/api".into()),
            finish_error_bodies,
        ))
}

async fn call(path: &str) -> (StatusCode, String, Value) {
    let request = Request::builder().uri(path).body(Body::empty()).unwrap();
    let response = router().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, content_type, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn a_panic_becomes_exactly_the_internal_server_error_envelope() {
    let (status, content_type, body) = call("/panics").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        body,
        json!({"data": null, "error": {
            "code": "INTERNAL_SERVER_ERROR",
            "message": "Internal server error.",
            "hint": "The server encountered an error.",
            "docs": "https://docs.example/api/errors#internal_server_error"
        }})
    );
}

#[tokio::test]
async fn a_panic_in_a_list_route_carries_pagination_with_the_effective_limit() {
    let (_, _, body) = call("/v1/sessions?limit=7").await;
    assert_eq!(
        body["pagination"],
        json!({"limit": 7, "has_more": false, "next_cursor": null})
    );
    let (_, _, body) = call("/v1/sessions?limit=700").await;
    assert_eq!(body["pagination"]["limit"], 10);
}

#[tokio::test]
async fn framework_errors_are_rewritten_as_envelopes() {
    let (status, _, body) = call("/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    let (status, _, body) = call("/teapot").await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(body["error"]["code"], "INVALID_REQUEST");
}

#[test]
fn the_list_routes_are_the_documented_operations_with_a_limit() {
    let document = serde_json::to_value(crate::openapi::document()).unwrap();
    let mut documented: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, item)| {
            item["get"]["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "limit" && p["in"] == "query")
            })
        })
        .map(|(path, _)| path.as_str())
        .collect();
    documented.sort_unstable();
    let mut listed = LIST_ROUTES.to_vec();
    listed.sort_unstable();
    assert_eq!(documented, listed);
}
