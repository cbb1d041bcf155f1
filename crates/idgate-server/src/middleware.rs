//! Cross-cutting layers that guarantee the envelope for every error, whoever produced it:
//! handlers and extractors ([`ApiError`]), axum itself (405, 404, body limits), the Swagger UI
//! service, and panics.

use std::panic::AssertUnwindSafe;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use idgate_core::{Error as DomainError, ErrorCode};

use crate::error::{ApiError, DocsBase, PendingError, error_body};

/// Routes whose responses are lists: their errors carry `pagination` too (seed 004).
const LIST_ROUTES: [&str; 7] = [
    "/v1/sessions",
    "/v1/sessions/{id}/attempts",
    "/v1/api-keys",
    "/v1/webhooks/endpoints",
    "/v1/webhooks/endpoints/{id}/keys",
    "/v1/webhooks/deliveries",
    "/v1/events",
];

/// Default and bounds of `limit` on every list endpoint.
pub const DEFAULT_LIMIT: u32 = 10;
pub const MAX_LIMIT: u32 = 100;

/// Turns a panic inside a handler into the fixed 500 envelope, never a dropped connection or
/// a framework body. The panic message is not logged, as it may quote request data.
pub async fn catch_panic(request: Request, next: Next) -> Response {
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::InternalServerError)
            .with_cause(&"request handler panicked")
            .into_response(),
    }
}

/// Writes the body of every error response: [`PendingError`]s left by [`ApiError`], and any other
/// 4xx/5xx that is not already JSON (mapped by status). Adds `pagination` with the effective
/// limit on list routes. Logs the cause an error carries, once, with the request's id and route:
/// constructors of [`ApiError`] never log, so one failure is one log line.
pub async fn finish_error_bodies(
    State(docs): State<DocsBase>,
    request: Request,
    next: Next,
) -> Response {
    let list_limit = list_limit(&request);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let mut response = next.run(request).await;
    let pending = match response.extensions_mut().remove::<PendingError>() {
        Some(pending) => pending,
        None if is_foreign_error(&response) => PendingError {
            error: foreign_error(response.status()),
            pagination_limit: None,
            cause: None,
        },
        None => return response,
    };
    if let Some(cause) = &pending.cause {
        let code = pending.error.code.as_str();
        if response.status().is_server_error() {
            tracing::error!(request_id, %method, route, code, error = %cause, "request failed");
        } else {
            tracing::warn!(request_id, %method, route, code, error = %cause, "request failed");
        }
    }
    let pending = PendingError {
        pagination_limit: pending.pagination_limit.or(list_limit),
        ..pending
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(error_body(&pending, &docs.0)))
}

fn is_foreign_error(response: &Response) -> bool {
    let status = response.status();
    // JSON is already an envelope; HTML is a hosted page's own error page, written for a person.
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            value.as_bytes().starts_with(b"application/json")
                || value.as_bytes().starts_with(b"text/html")
        });
    (status.is_client_error() || status.is_server_error()) && !is_ours
}

/// Errors produced outside our handlers carry only a status; give them the catalog entry.
fn foreign_error(status: StatusCode) -> DomainError {
    if status == StatusCode::NOT_FOUND {
        return DomainError::with_message(ErrorCode::NotFound, "Route not found.")
            .hint("Check the method and path against the API reference at /docs.");
    }
    DomainError::new(match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        status if status.is_client_error() => ErrorCode::InvalidRequest,
        _ => ErrorCode::InternalServerError,
    })
}

/// The effective `limit` of a list request: the valid `limit` parameter, else the default.
fn list_limit(request: &Request) -> Option<u32> {
    let route = request.extensions().get::<MatchedPath>()?;
    if request.method() != Method::GET || !LIST_ROUTES.contains(&route.as_str()) {
        return None;
    }
    let values: Vec<&str> = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.strip_prefix("limit="))
        .collect();
    // A repeated `limit` is itself invalid, so only a single valid value is effective.
    let limit = match values.as_slice() {
        [value] => value
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit)),
        _ => None,
    };
    Some(limit.unwrap_or(DEFAULT_LIMIT))
}

#[cfg(test)]
#[path = "middleware_test.rs"]
mod tests;
