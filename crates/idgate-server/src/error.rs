//! The single place where anything that can go wrong in a request becomes an HTTP response.
//!
//! Every error body is the api.md envelope `{"data":null,"error":{code,message,hint,docs}}` with
//! `Content-Type: application/json`; list endpoints add `pagination` with the effective limit
//! (seed 004). Status, message and hint come from the core error catalog ([`ErrorCode`]); only
//! `INVALID_REQUEST` replaces the message to name the offending field. A 500 never says more than
//! the catalog's fixed text: the cause goes to the log, never to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idgate_core::{Error as DomainError, ErrorCode};
use idgate_store::StoreError;
use serde::Serialize;

use crate::envelope::Pagination;

/// An error on its way to the client: a catalog error plus the HTTP-only details.
#[derive(Debug)]
pub struct ApiError {
    error: DomainError,
    retry_after_secs: Option<u64>,
    pagination_limit: Option<u32>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self::from(DomainError::new(code))
    }

    /// `400 INVALID_REQUEST` whose message names the offending parameter, as api.md requires
    /// (``Invalid `limit`: must be an integer between 1 and 100.``).
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

    /// An unexpected failure: logged here with its cause, answered with the fixed 500 text.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::from(DomainError::internal())
    }

    /// Marks the error as coming from a list endpoint, so its body carries `pagination`.
    pub fn with_pagination(mut self, limit: u32) -> Self {
        self.pagination_limit = Some(limit);
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.error.code
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        if error.code == ErrorCode::InternalServerError {
            // Whatever message a lower layer put on a 500 stays in the log.
            tracing::error!(error = %error.message, "internal error");
            return Self {
                error: DomainError::internal(),
                retry_after_secs: None,
                pagination_limit: None,
            };
        }
        Self {
            error,
            retry_after_secs: None,
            pagination_limit: None,
        }
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

/// The one mapping from storage failures: domain outcomes the store detects (not found, not
/// terminal, idempotency conflicts) keep their catalog code; anything else is an opaque 500
/// whose cause chain goes to the log.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let api = error.to_api_error();
        if api.code == ErrorCode::InternalServerError {
            return Self::internal(&ErrorChain(&error));
        }
        Self::from(api)
    }
}

impl ApiError {
    /// A store failure of a session route: "not found" uses the seed's session strings.
    pub fn from_session_store(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::from(DomainError::session_not_found()),
            other => Self::from(other),
        }
    }

    /// A store failure of an API-key route: "not found" is `API_KEY_NOT_FOUND`.
    pub fn from_api_key_store(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::new(ErrorCode::ApiKeyNotFound),
            other => Self::from(other),
        }
    }
}

/// Displays an error with its `source()` chain, for the log line of a 500.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

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
/// [`crate::middleware::finish_error_bodies`], which knows the docs base and the route.
#[derive(Debug, Clone)]
pub struct PendingError {
    pub error: DomainError,
    pub pagination_limit: Option<u32>,
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
        });
        response
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    data: Option<()>,
    error: ErrorObject<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pagination: Option<Pagination>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    code: &'static str,
    message: &'a str,
    hint: &'a str,
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

/// `<docs base>/errors#<code in lower case>` (api.md "Conventions").
pub fn docs_link(docs_base: &str, code: ErrorCode) -> String {
    format!("{docs_base}/errors#{}", code.docs_anchor())
}
