//! Small helpers shared by the API tests.

use reqwest::{Response, StatusCode};
use serde_json::Value;

pub use idgate_server::testing::{TestApp, TestAppBuilder, on_each_backend, on_each_backend_with};
pub use reqwest::Method;

/// Status and parsed JSON body; asserts the JSON content type.
pub async fn json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?} for {status}: {text}"
    );
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// Asserts the error envelope shape and returns the code.
pub fn error_code(body: &Value) -> String {
    assert!(body["data"].is_null(), "data must be null: {body}");
    let error = &body["error"];
    for field in ["code", "message", "hint", "docs"] {
        assert!(error[field].is_string(), "error.{field} missing: {body}");
    }
    let code = error["code"].as_str().unwrap_or_default().to_owned();
    assert!(
        error["docs"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("/docs/errors#{}", code.to_lowercase())),
        "docs link: {body}"
    );
    code
}

/// Creates a session with `body` (or none) and returns the response JSON's `data`.
pub async fn create_session(app: &TestApp, body: Option<Value>) -> Value {
    let mut request = app.request(Method::POST, "/v1/sessions");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, body) = json(request.send().await.expect("request")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

pub async fn get_session(app: &TestApp, id: &str) -> (StatusCode, Value) {
    json(
        app.request(Method::GET, &format!("/v1/sessions/{id}"))
            .send()
            .await
            .expect("request"),
    )
    .await
}

pub fn id_of(session: &Value) -> String {
    session["id"].as_str().expect("id").to_owned()
}

/// A syntactically valid session id that was never issued.
pub fn unknown_session_id() -> String {
    format!("vs_{}", "A".repeat(64))
}
