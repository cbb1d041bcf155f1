//! Request extractors that answer in the API's own error format instead of axum's plain-text
//! rejections: JSON bodies (64 KiB cap → 413, wrong media type → 415, malformed or mistyped or
//! unknown fields → 400 naming the field) and query strings (unknown or repeated parameters → 400).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use idgate_core::ErrorCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest request body accepted (docs/api.md "Conventions").
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Body limit of the document upload: the chip's files in base64 (a DG2 portrait is typically
/// 15–100 KB, ICAO 9303-10 allows more).
pub const DOCUMENT_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Body limit of the liveness upload: up to 12 frames in base64 (`idgate_face::upload` caps the
/// decoded bytes at 12 MiB).
pub const LIVENESS_BODY_BYTES: usize = 17 * 1024 * 1024;

/// The body limit of the route at `path`: the two uploads of the end-user flow carry chip files
/// and camera frames; every other body is limited to [`MAX_BODY_BYTES`].
pub fn body_limit(path: &str) -> usize {
    match path.strip_prefix("/v1/verify/attempts/") {
        Some(rest) if rest.ends_with("/liveness") => LIVENESS_BODY_BYTES,
        Some(rest) if rest.ends_with("/document") => DOCUMENT_BODY_BYTES,
        _ => MAX_BODY_BYTES,
    }
}

/// A JSON request body. An empty body (with or without a content type) is `T::default()`, which
/// makes every body of this API optional where the contract says so; use [`RequiredJson`] for
/// bodies that must be present.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

/// A JSON request body that must be present (an empty body is `400 INVALID_REQUEST`).
#[derive(Debug)]
pub struct RequiredJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        require_json_content_type(&headers)?;
        parse_json(&bytes).map(Self)
    }
}

impl<S, T> FromRequest<S> for RequiredJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = read_body(req, state).await?;
        require_json_content_type(&headers)?;
        if bytes.is_empty() {
            return Err(ApiError::invalid_request(
                "Invalid request body: a JSON object is required.",
            ));
        }
        parse_json(&bytes).map(Self)
    }
}

async fn read_body<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<(HeaderMap, Bytes), ApiError> {
    let headers = req.headers().clone();
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge)
        } else {
            ApiError::invalid_request("Invalid request body: it could not be read.")
        }
    })?;
    Ok((headers, bytes))
}

/// `application/json`, optionally with parameters (`; charset=utf-8`), or any `application/*+json`.
pub fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|essence| {
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::UnsupportedMediaType))
    }
}

/// Parses `bytes` into `T`, naming the JSON path of the first problem in the error message.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of this API is an object; serde would otherwise read a struct from an array of
    // its field values in order (`[null, null]`).
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::invalid_request(
            "Invalid request body: must be a JSON object.",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let text = inner.to_string();
        let reason = strip_position(&text);
        // `?` marks a segment serde_path_to_error could not name (a key not yet read).
        let at_root = path.is_empty() || path == "." || path.contains('?');
        if inner.is_syntax() || inner.is_eof() {
            // Inside a field (`1e400` is out of range for any JSON number type), naming the
            // field is the useful hint; serde_json's reasons never quote the input.
            return if at_root {
                ApiError::invalid_request("Invalid request body: malformed JSON.")
            } else {
                ApiError::invalid_request(format!(
                    "Invalid request body: malformed JSON in `{path}`: {reason}."
                ))
            };
        }
        if at_root {
            ApiError::invalid_request(format!("Invalid request body: {reason}."))
        } else {
            ApiError::invalid_request(format!("Invalid `{path}`: {reason}."))
        }
    })?;
    deserializer
        .end()
        .map_err(|_| ApiError::invalid_request("Invalid request body: malformed JSON."))?;
    Ok(value)
}

/// serde_json appends " at line L column C", which means nothing to an API client.
fn strip_position(message: &str) -> &str {
    message
        .find(" at line ")
        .map_or(message, |at| &message[..at])
}

/// The raw query string, parsed into `T` with serde_urlencoded; unknown or repeated parameters
/// and wrong types are `400 INVALID_REQUEST` naming the parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Self)
    }
}

/// See [`ApiQuery`]. Query structs hold `Option<String>` fields and `deny_unknown_fields`, so the
/// only failures here are unknown and repeated parameters; values are checked by the handler,
/// which knows each parameter's rule.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query).map_err(|error| {
        let reason = error.to_string();
        if let Some(name) = reason
            .strip_prefix("duplicate field `")
            .and_then(|rest| rest.split('`').next())
        {
            return ApiError::invalid_request(format!(
                "Invalid `{name}`: must be given at most once."
            ));
        }
        if let Some(name) = reason
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        {
            return ApiError::invalid_request(format!(
                "Invalid query string: unknown parameter `{name}`."
            ));
        }
        ApiError::invalid_request("Invalid query string: it could not be parsed.")
    })
}

#[cfg(test)]
#[path = "extract_test.rs"]
mod tests;
