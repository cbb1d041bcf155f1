//! The single place where anything that can go wrong in a request becomes an HTTP response.
//!
//! Every error body is the envelope of docs/api.md "Errors"
//! `{"data":null,"error":{code,message,hint,docs}}` with `Content-Type: application/json`; list
//! endpoints add `pagination` with the effective limit (seed 004). Status, message and hint come
//! from the core error catalog ([`ErrorCode`]); only `INVALID_REQUEST` replaces the message to name
//! the offending field. A 500 never says more than the catalog's fixed text: the cause travels with
//! the response ([`PendingError::cause`]) to [`crate::middleware::finish_error_bodies`], which logs
//! it once, never to the client.
//!
//! Storage failures become API errors in exactly one function, [`ApiError::from_store`], told
//! which [`Resource`] the route is about so that "not found" carries that resource's code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idgate_core::{Error as DomainError, ErrorCode};
use idgate_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::envelope::Pagination;

/// An error on its way to the client: a catalog error plus the HTTP-only details.
#[derive(Debug)]
pub struct ApiError {
    error: DomainError,
    retry_after_secs: Option<u64>,
    pagination_limit: Option<u32>,
    /// What went wrong underneath, for the log line of the response layer; never sent.
    cause: Option<String>,
}

/// The object a route is about: what a store `NotFound` means there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Session,
    ApiKey,
    WebhookEndpoint,
    EncryptionKey,
    Event,
    Delivery,
}

impl Resource {
    /// The 404 of this resource (sessions keep the seed 000/002 strings).
    fn not_found(self) -> DomainError {
        match self {
            Self::Session => DomainError::session_not_found(),
            Self::ApiKey => ErrorCode::ApiKeyNotFound.into(),
            Self::WebhookEndpoint => ErrorCode::EndpointNotFound.into(),
            Self::EncryptionKey => ErrorCode::EncryptionKeyNotFound.into(),
            Self::Event => ErrorCode::EventNotFound.into(),
            Self::Delivery => ErrorCode::DeliveryNotFound.into(),
        }
    }
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self::from(DomainError::new(code))
    }

    /// `400 INVALID_REQUEST` whose message names the offending parameter, as docs/api.md "Errors"
    /// requires (``Invalid `limit`: must be an integer between 1 and 100.``).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::from(DomainError::with_message(
            ErrorCode::InvalidRequest,
            message.into(),
        ))
    }

    /// `429 RATE_LIMITED` telling the client when to come back.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(ErrorCode::RateLimited)
        }
    }

    /// An unexpected failure, answered with the fixed 500 text; the response layer logs `cause`.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        Self::new(ErrorCode::InternalServerError).with_cause(cause)
    }

    /// The `404` of `resource`, for an id that cannot name one (malformed ids of every resource
    /// except sessions are answered like ids never issued).
    pub fn not_found(resource: Resource) -> Self {
        Self::from(resource.not_found())
    }

    /// The one mapping from storage failures: outcomes the store detects (not found, not
    /// terminal, idempotency conflicts, unknown cursors, refused transitions) keep their catalog
    /// code, "not found" that of `resource`; anything else is the opaque 500 whose cause chain
    /// goes to the log.
    pub fn from_store(error: StoreError, resource: Resource) -> Self {
        let domain = match error {
            StoreError::NotFound => resource.not_found(),
            StoreError::SessionNotTerminal => ErrorCode::SessionNotTerminal.into(),
            StoreError::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused.into(),
            StoreError::WebhookEndpointNotFound => ErrorCode::WebhookEndpointNotFound.into(),
            // A well-formed id that names no item of the list (never issued, another tenant's,
            // or deleted since the previous page) is answered like any id naming nothing: 404
            // (docs/api.md "Authentication and tenancy"). A page that silently came back empty would
            // end the client's iteration early instead.
            StoreError::CursorNotFound => DomainError::with_message(
                ErrorCode::NotFound,
                "Invalid `starting_after`: it names no item of this list.",
            )
            .hint("Pass the `next_cursor` of the previous page; an item deleted since cannot serve as a cursor."),
            StoreError::Transition(transition) => transition.to_error(),
            StoreError::DeviceMismatch => ErrorCode::DeviceMismatch.into(),
            StoreError::StepRaced => DomainError::with_message(
                ErrorCode::PhaseOutOfOrder,
                "Another request for this step finished first.",
            )
            .hint("Fetch the status and continue from the step it shows."),
            StoreError::CancelTokenMismatch => ErrorCode::InvalidCancelToken.into(),
            StoreError::AlreadyEnded => ErrorCode::SessionAlreadyEnded.into(),
            other => return Self::internal(&ErrorChain(&other)),
        };
        Self::from(domain)
    }

    /// Tells the client when to come back (`Retry-After`, RFC 9110 §10.2.3), for refusals that
    /// are not the rate limiter's (a full set of status streams).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Marks the error as coming from a list endpoint, so its body carries `pagination`.
    pub fn with_pagination(mut self, limit: u32) -> Self {
        self.pagination_limit = Some(limit);
        self
    }

    /// Records what went wrong underneath, for the log line of the response layer.
    pub fn with_cause(mut self, cause: &dyn std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.error.code
    }

    /// The message the client is shown.
    pub fn message(&self) -> &str {
        &self.error.message
    }

    /// The hint the client is shown.
    pub fn hint(&self) -> &str {
        &self.error.hint
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        if error.code == ErrorCode::InternalServerError {
            // Whatever message a lower layer put on a 500 goes to the log, not to the client.
            let cause = (error.message != DomainError::internal().message)
                .then(|| error.message.to_string());
            return Self {
                error: DomainError::internal(),
                retry_after_secs: None,
                pagination_limit: None,
                cause,
            };
        }
        Self {
            error,
            retry_after_secs: None,
            pagination_limit: None,
            cause: None,
        }
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

/// Displays an error with its `source()` chain, for the log line of a 500.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// The documentation base URL (no trailing slash) of this app, for the `docs` links.
#[derive(Debug, Clone)]
pub struct DocsBase(pub std::sync::Arc<str>);

/// An error response whose body is still to be written by
/// [`crate::middleware::finish_error_bodies`], which knows the docs base and the route, and
/// logs `cause` once.
#[derive(Debug, Clone)]
pub struct PendingError {
    pub error: DomainError,
    pub pagination_limit: Option<u32>,
    pub cause: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response.extensions_mut().insert(PendingError {
            error: self.error,
            pagination_limit: self.pagination_limit,
            cause: self.cause,
        });
        response
    }
}

/// The error envelope: `{"data": null, "error": {…}}`, plus `pagination` on list routes.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    /// Always null in an error response.
    #[schema(schema_with = crate::openapi::null_schema, required = true)]
    data: Option<()>,
    error: ErrorObject<'a>,
    /// Present on the errors of list routes, with the effective limit (seed 004).
    #[serde(skip_serializing_if = "Option::is_none")]
    pagination: Option<Pagination>,
}

/// What went wrong, from the error catalog.
#[derive(Serialize, ToSchema)]
pub struct ErrorObject<'a> {
    /// The error code (the catalog at `/docs/errors`).
    #[schema(schema_with = crate::openapi::error_code_schema)]
    code: &'static str,
    /// The error message.
    message: &'a str,
    /// A hint to help the user fix the error.
    hint: &'a str,
    /// A link to the documentation for the error.
    docs: String,
}

/// Serialises the envelope of an error; `docs_base` has no trailing slash.
pub fn error_body(pending: &PendingError, docs_base: &str) -> Vec<u8> {
    let error = &pending.error;
    let body = ErrorBody {
        data: None,
        error: ErrorObject {
            code: error.code.as_str(),
            message: &error.message,
            hint: &error.hint,
            docs: docs_link(docs_base, error.code),
        },
        pagination: pending.pagination_limit.map(|limit| Pagination {
            limit,
            has_more: false,
            next_cursor: None,
        }),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `<docs base>/errors#<code in lower case>` (docs/api.md "Errors").
pub fn docs_link(docs_base: &str, code: ErrorCode) -> String {
    format!("{docs_base}/errors#{}", code.docs_anchor())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(error: StoreError) -> ErrorCode {
        ApiError::from_store(error, Resource::Session).code()
    }

    #[test]
    fn store_errors_map_to_the_api_catalog_without_details() {
        assert_eq!(code(StoreError::NotFound), ErrorCode::NotFound);
        assert_eq!(
            code(StoreError::SessionNotTerminal),
            ErrorCode::SessionNotTerminal
        );
        assert_eq!(
            code(StoreError::IdempotencyKeyReused),
            ErrorCode::IdempotencyKeyReused
        );
        assert_eq!(
            code(StoreError::WebhookEndpointNotFound),
            ErrorCode::WebhookEndpointNotFound
        );
        let db = ApiError::from_store(
            StoreError::Database(sqlx_protocol_error("SELECT secret FROM t")),
            Resource::Session,
        );
        assert_eq!(db.error, DomainError::internal());
        assert!(
            db.cause
                .is_some_and(|cause| cause.contains("SELECT secret"))
        );
        assert!(
            ApiError::from_store(StoreError::CursorNotFound, Resource::Session)
                .error
                .message
                .contains("starting_after")
        );
    }

    #[test]
    fn not_found_carries_the_code_of_the_routes_resource() {
        for (resource, expected) in [
            (Resource::Session, ErrorCode::NotFound),
            (Resource::ApiKey, ErrorCode::ApiKeyNotFound),
            (Resource::WebhookEndpoint, ErrorCode::EndpointNotFound),
            (Resource::EncryptionKey, ErrorCode::EncryptionKeyNotFound),
            (Resource::Event, ErrorCode::EventNotFound),
            (Resource::Delivery, ErrorCode::DeliveryNotFound),
        ] {
            assert_eq!(
                ApiError::from_store(StoreError::NotFound, resource).code(),
                expected
            );
        }
        assert_eq!(
            ApiError::from_store(StoreError::NotFound, Resource::Session)
                .error
                .message,
            "Session not found."
        );
    }

    #[test]
    fn an_unknown_cursor_is_not_found_naming_starting_after() {
        let error = ApiError::from_store(StoreError::CursorNotFound, Resource::Event);
        assert_eq!(error.code(), ErrorCode::NotFound);
        assert!(error.error.message.contains("`starting_after`"));
    }

    #[test]
    fn constructors_keep_the_cause_for_the_response_layer_instead_of_logging() {
        let error = ApiError::from(DomainError::with_message(
            ErrorCode::InternalServerError,
            "disk on fire",
        ));
        assert_eq!(error.error, DomainError::internal());
        let pending = error
            .into_response()
            .extensions_mut()
            .remove::<PendingError>();
        assert_eq!(
            pending.and_then(|pending| pending.cause).as_deref(),
            Some("disk on fire")
        );
    }

    fn sqlx_protocol_error(text: &str) -> sqlx::Error {
        sqlx::Error::Protocol(text.into())
    }
}
