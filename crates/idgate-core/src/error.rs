//! The error catalog: every code the API can answer with, its HTTP status, default message and
//! hint (docs/api.md "Errors"; the table of docs/api.md "Error codes" is generated from this file).
//!
//! This is the only place where codes are defined. The HTTP layer renders an [`Error`] as
//! `{"data": null, "error": {"code", "message", "hint", "docs"}}` and adds `docs` from its base URL
//! and [`ErrorCode::docs_anchor`]; nothing else invents codes or strings.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// Every error code of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    NotFound,
    InvalidRequest,
    InvalidSessionId,
    Unauthorized,
    Forbidden,
    RateLimited,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    IdempotencyKeyReused,
    SessionNotTerminal,
    WebhookEndpointNotFound,
    ApiKeyNotFound,
    InvalidShareFields,
    TooManyShareFields,
    ReasonRequired,
    ReasonTooLong,
    InvalidAgeGateKey,
    UnknownClaimKey,
    MultipleAgeGatesNotAllowed,
    DobAndAgeGateConflict,
    /// The end-user flow touched a session that was cancelled
    /// (docs/verify.md "HTTP surface": `410`).
    SessionCancelled,
    /// The end-user flow touched a session that is terminal for another reason.
    SessionTerminal,
    /// A verify-flow step arrived in the wrong order
    /// (docs/verify.md "HTTP surface").
    PhaseOutOfOrder,
    /// The end-user flow touched a session that passed its `expires_at`.
    SessionExpired,
    /// An attempt id that does not match `^va_[A-Za-z0-9]{64}$`.
    InvalidAttemptId,
    /// A mobile-API call without the attempt's bearer token, or with another one.
    InvalidAttemptToken,
    /// The attempt token was not used within its time to live (docs/verify.md, handoff).
    HandoffTokenExpired,
    /// A call on an attempt that a newer handoff replaced or that finished.
    AttemptClosed,
    /// A second `hello` from another device for an attempt already bound to one.
    DeviceMismatch,
    /// An end-user cancel with a token other than the session's.
    InvalidCancelToken,
    /// An end-user cancel of a session that is already terminal (the one-shot token was used, or it ended otherwise).
    SessionAlreadyEnded,
    /// Consent without every required field of the share request.
    RequiredFieldNotSelected,
    /// Consent naming a field outside the share request, or naming one twice.
    FieldNotRequested,
    /// The face engine failed (an external matcher down); the step consumed no try.
    FaceEngineUnavailable,
    /// A simulated passport asked for a live-mode session: simulations are for test mode only
    /// (docs/verify.md "Test passports and the simulator").
    TestModeOnly,
    /// A simulated passport asked for a session that already has one running.
    SimulationInProgress,
    /// This server cannot play the asked simulation: the test photos are missing, or its
    /// clone-detection policy cannot produce the outcome.
    SimulationUnavailable,
    /// A session's status stream refused: the session, or this node, already has as many open
    /// as it allows (docs/verify.md "Status stream"); answered with `Retry-After`.
    TooManyStreams,
    /// A webhook endpoint URL that is not an acceptable absolute URL
    /// (docs/webhooks.md "SSRF guard").
    InvalidWebhookUrl,
    /// A plain `http` endpoint URL while the operator has not allowed private webhooks.
    InsecureWebhookUrl,
    /// `subscribed_event_types` empty, unknown or malformed.
    InvalidEventTypes,
    /// An uploaded encryption key that is not a usable RSA public JWK or SPKI PEM.
    InvalidEncryptionKey,
    /// An RSA key below 2048 bits (docs/webhooks.md "Encryption keys"; NIST SP 800-131A).
    EncryptionKeyTooWeak,
    /// No webhook endpoint with this id for the caller (its own routes; `404`).
    EndpointNotFound,
    EncryptionKeyNotFound,
    EventNotFound,
    DeliveryNotFound,
    /// Retry of a delivery in a state that cannot be retried (succeeded, cancelled, blocked).
    DeliveryNotRetryable,
    /// Replay of an event whose payload was erased or purged by retention.
    EventNotReplayable,
    /// The client took longer than the server's deadline to send the request body
    /// (RFC 9110 §15.5.9); the connection is closed after the answer.
    RequestTimeout,
    /// More requests arrived than the server serves at once; answered with `Retry-After`
    /// instead of letting latency grow without bound (load shedding).
    Overloaded,
    /// The handler did not produce an answer within the server's time limit.
    HandlerTimeout,
    /// The readiness probe could not reach the database.
    ServiceUnavailable,
    InternalServerError,
}

impl ErrorCode {
    /// All codes, in catalog order (for the `/docs/errors` page and the OpenAPI document).
    pub const ALL: &'static [ErrorCode] = &[
        Self::NotFound,
        Self::InvalidRequest,
        Self::InvalidSessionId,
        Self::Unauthorized,
        Self::Forbidden,
        Self::RateLimited,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::MethodNotAllowed,
        Self::IdempotencyKeyReused,
        Self::SessionNotTerminal,
        Self::WebhookEndpointNotFound,
        Self::ApiKeyNotFound,
        Self::InvalidShareFields,
        Self::TooManyShareFields,
        Self::ReasonRequired,
        Self::ReasonTooLong,
        Self::InvalidAgeGateKey,
        Self::UnknownClaimKey,
        Self::MultipleAgeGatesNotAllowed,
        Self::DobAndAgeGateConflict,
        Self::SessionCancelled,
        Self::SessionTerminal,
        Self::PhaseOutOfOrder,
        Self::SessionExpired,
        Self::InvalidAttemptId,
        Self::InvalidAttemptToken,
        Self::HandoffTokenExpired,
        Self::AttemptClosed,
        Self::DeviceMismatch,
        Self::InvalidCancelToken,
        Self::SessionAlreadyEnded,
        Self::RequiredFieldNotSelected,
        Self::FieldNotRequested,
        Self::FaceEngineUnavailable,
        Self::TestModeOnly,
        Self::SimulationInProgress,
        Self::SimulationUnavailable,
        Self::TooManyStreams,
        Self::InvalidWebhookUrl,
        Self::InsecureWebhookUrl,
        Self::InvalidEventTypes,
        Self::InvalidEncryptionKey,
        Self::EncryptionKeyTooWeak,
        Self::EndpointNotFound,
        Self::EncryptionKeyNotFound,
        Self::EventNotFound,
        Self::DeliveryNotFound,
        Self::DeliveryNotRetryable,
        Self::EventNotReplayable,
        Self::RequestTimeout,
        Self::Overloaded,
        Self::HandlerTimeout,
        Self::ServiceUnavailable,
        Self::InternalServerError,
    ];

    /// The wire code, `SCREAMING_SNAKE_CASE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::InvalidSessionId => "INVALID_SESSION_ID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::RateLimited => "RATE_LIMITED",
            Self::TooManyStreams => "TOO_MANY_STREAMS",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::SessionNotTerminal => "SESSION_NOT_TERMINAL",
            Self::WebhookEndpointNotFound => "WEBHOOK_ENDPOINT_NOT_FOUND",
            Self::ApiKeyNotFound => "API_KEY_NOT_FOUND",
            Self::InvalidShareFields => "INVALID_SHARE_FIELDS",
            Self::TooManyShareFields => "TOO_MANY_SHARE_FIELDS",
            Self::ReasonRequired => "REASON_REQUIRED",
            Self::ReasonTooLong => "REASON_TOO_LONG",
            Self::InvalidAgeGateKey => "INVALID_AGE_GATE_KEY",
            Self::UnknownClaimKey => "UNKNOWN_CLAIM_KEY",
            Self::MultipleAgeGatesNotAllowed => "MULTIPLE_AGE_GATES_NOT_ALLOWED",
            Self::DobAndAgeGateConflict => "DOB_AND_AGE_GATE_CONFLICT",
            Self::SessionCancelled => "SESSION_CANCELLED",
            Self::SessionTerminal => "SESSION_TERMINAL",
            Self::PhaseOutOfOrder => "PHASE_OUT_OF_ORDER",
            Self::SessionExpired => "SESSION_EXPIRED",
            Self::InvalidAttemptId => "INVALID_ATTEMPT_ID",
            Self::InvalidAttemptToken => "INVALID_ATTEMPT_TOKEN",
            Self::HandoffTokenExpired => "HANDOFF_TOKEN_EXPIRED",
            Self::AttemptClosed => "ATTEMPT_CLOSED",
            Self::DeviceMismatch => "DEVICE_MISMATCH",
            Self::InvalidCancelToken => "INVALID_CANCEL_TOKEN",
            Self::SessionAlreadyEnded => "SESSION_ALREADY_ENDED",
            Self::RequiredFieldNotSelected => "REQUIRED_FIELD_NOT_SELECTED",
            Self::FieldNotRequested => "FIELD_NOT_REQUESTED",
            Self::FaceEngineUnavailable => "FACE_ENGINE_UNAVAILABLE",
            Self::TestModeOnly => "TEST_MODE_ONLY",
            Self::SimulationInProgress => "SIMULATION_IN_PROGRESS",
            Self::SimulationUnavailable => "SIMULATION_UNAVAILABLE",
            Self::InvalidWebhookUrl => "INVALID_WEBHOOK_URL",
            Self::InsecureWebhookUrl => "INSECURE_WEBHOOK_URL",
            Self::InvalidEventTypes => "INVALID_EVENT_TYPES",
            Self::InvalidEncryptionKey => "INVALID_ENCRYPTION_KEY",
            Self::EncryptionKeyTooWeak => "ENCRYPTION_KEY_TOO_WEAK",
            Self::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            Self::EncryptionKeyNotFound => "ENCRYPTION_KEY_NOT_FOUND",
            Self::EventNotFound => "EVENT_NOT_FOUND",
            Self::DeliveryNotFound => "DELIVERY_NOT_FOUND",
            Self::DeliveryNotRetryable => "DELIVERY_NOT_RETRYABLE",
            Self::EventNotReplayable => "EVENT_NOT_REPLAYABLE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::Overloaded => "OVERLOADED",
            Self::HandlerTimeout => "HANDLER_TIMEOUT",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }

    /// HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest
            | Self::InvalidSessionId
            | Self::WebhookEndpointNotFound
            | Self::InvalidShareFields
            | Self::TooManyShareFields
            | Self::ReasonRequired
            | Self::ReasonTooLong
            | Self::InvalidAgeGateKey
            | Self::UnknownClaimKey
            | Self::MultipleAgeGatesNotAllowed
            | Self::DobAndAgeGateConflict
            | Self::InvalidWebhookUrl
            | Self::InsecureWebhookUrl
            | Self::InvalidEventTypes
            | Self::InvalidEncryptionKey
            | Self::EncryptionKeyTooWeak => 400,
            Self::InvalidAttemptId | Self::RequiredFieldNotSelected | Self::FieldNotRequested => {
                400
            }
            Self::InvalidAttemptToken | Self::HandoffTokenExpired => 401,
            Self::InvalidCancelToken | Self::TestModeOnly => 403,
            Self::AttemptClosed
            | Self::DeviceMismatch
            | Self::SessionAlreadyEnded
            | Self::SimulationInProgress => 409,
            Self::SessionExpired => 410,
            Self::FaceEngineUnavailable | Self::SimulationUnavailable => 503,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound
            | Self::ApiKeyNotFound
            | Self::EndpointNotFound
            | Self::EncryptionKeyNotFound
            | Self::EventNotFound
            | Self::DeliveryNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::IdempotencyKeyReused
            | Self::SessionNotTerminal
            | Self::PhaseOutOfOrder
            | Self::DeliveryNotRetryable
            | Self::EventNotReplayable => 409,
            Self::SessionCancelled | Self::SessionTerminal => 410,
            Self::RequestTimeout => 408,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited | Self::TooManyStreams => 429,
            Self::InternalServerError => 500,
            Self::ServiceUnavailable | Self::Overloaded | Self::HandlerTimeout => 503,
        }
    }

    /// The message used when the call site has nothing more specific.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::NotFound => "Not found.",
            Self::InvalidRequest => "Invalid request.",
            Self::InvalidSessionId => "Invalid session ID.",
            Self::Unauthorized => "Unauthorized.",
            Self::Forbidden => "Forbidden.",
            Self::RateLimited => "Too many requests.",
            Self::PayloadTooLarge => "Request body too large.",
            Self::UnsupportedMediaType => "Unsupported media type.",
            Self::MethodNotAllowed => "Method not allowed.",
            Self::IdempotencyKeyReused => "Idempotency key reused with a different request.",
            Self::SessionNotTerminal => "Session is not in a terminal state.",
            Self::WebhookEndpointNotFound => "Webhook endpoint not found.",
            Self::ApiKeyNotFound => "API key not found.",
            Self::InvalidShareFields => "Invalid share_fields payload.",
            Self::TooManyShareFields => "Too many share fields requested.",
            Self::ReasonRequired => "Each share field requires a reason.",
            Self::ReasonTooLong => "Reason is too long.",
            Self::InvalidAgeGateKey => "Invalid age gate claim key.",
            Self::UnknownClaimKey => "Unknown claim key.",
            Self::MultipleAgeGatesNotAllowed => "Multiple age gate claims are not allowed.",
            Self::DobAndAgeGateConflict => "date_of_birth cannot be combined with age gate claims.",
            Self::SessionCancelled => "Session was cancelled.",
            Self::SessionTerminal => "Session is no longer active.",
            Self::PhaseOutOfOrder => "Step out of order.",
            Self::SessionExpired => "Session has expired.",
            Self::InvalidAttemptId => "Invalid attempt ID.",
            Self::InvalidAttemptToken => "Invalid attempt token.",
            Self::HandoffTokenExpired => "Handoff token has expired.",
            Self::AttemptClosed => "This attempt has ended.",
            Self::DeviceMismatch => "This attempt is bound to another device.",
            Self::InvalidCancelToken => "Invalid cancel token.",
            Self::SessionAlreadyEnded => "Session has already ended.",
            Self::RequiredFieldNotSelected => "A required field was not selected.",
            Self::FieldNotRequested => "A selected field was not requested.",
            Self::FaceEngineUnavailable => "The face check could not run.",
            Self::TestModeOnly => "Simulated passports are for test-mode sessions only.",
            Self::SimulationInProgress => "A simulation of this session is already running.",
            Self::SimulationUnavailable => "This server cannot play that simulation.",
            Self::TooManyStreams => "Too many open status streams.",
            Self::InvalidWebhookUrl => "Invalid webhook endpoint URL.",
            Self::InsecureWebhookUrl => "Invalid `url`: webhook endpoints must use https.",
            Self::InvalidEventTypes => "Invalid `subscribed_event_types`.",
            Self::InvalidEncryptionKey => "Invalid encryption key.",
            Self::EncryptionKeyTooWeak => "Encryption key is too weak.",
            Self::EndpointNotFound => "Webhook endpoint not found.",
            Self::EncryptionKeyNotFound => "Encryption key not found.",
            Self::EventNotFound => "Event not found.",
            Self::DeliveryNotFound => "Delivery not found.",
            Self::DeliveryNotRetryable => "This delivery cannot be retried.",
            Self::EventNotReplayable => "This event can no longer be replayed.",
            Self::RequestTimeout => "The request was not received in time.",
            Self::Overloaded => "The server is overloaded.",
            Self::HandlerTimeout => "The request took too long to process.",
            Self::ServiceUnavailable => "Service unavailable.",
            Self::InternalServerError => "Internal server error.",
        }
    }

    /// How the caller can fix it.
    pub fn hint(self) -> &'static str {
        match self {
            Self::NotFound => "The requested resource was not found.",
            Self::InvalidRequest => "Check the request parameters against the API reference.",
            Self::InvalidSessionId => "Session IDs are `vs_` followed by 64 letters and digits.",
            Self::Unauthorized => "Send a valid API key as `Authorization: Bearer <key>`.",
            Self::Forbidden => "The API key lacks the scope this operation requires.",
            Self::RateLimited => "Slow down and retry after the time given in `Retry-After`.",
            Self::PayloadTooLarge => "Request bodies are limited to 64 KiB.",
            Self::UnsupportedMediaType => "Send the body as `application/json`.",
            Self::MethodNotAllowed => "This route does not support the HTTP method used.",
            Self::IdempotencyKeyReused => {
                "Use a new `Idempotency-Key` for a different request body; keys are kept for 24 hours."
            }
            Self::SessionNotTerminal => "Cancel the session first, then delete it.",
            Self::WebhookEndpointNotFound => {
                "Use the ID of a webhook endpoint that belongs to this organization."
            }
            Self::ApiKeyNotFound => "Confirm the API key ID belongs to this organization.",
            Self::InvalidShareFields => "share_fields must be an object map of claim keys.",
            Self::TooManyShareFields => "The maximum number of share fields is 32.",
            Self::ReasonRequired => "Provide a non-empty reason for every requested claim.",
            Self::ReasonTooLong => "Reason must be 200 characters or fewer.",
            Self::InvalidAgeGateKey => {
                "Use `age_over_<integer>` with a valid threshold, for example `age_over_18`."
            }
            Self::UnknownClaimKey => "Use a supported claim key from the share contract allowlist.",
            Self::MultipleAgeGatesNotAllowed => {
                "Only one age_over_X claim can be provided per session."
            }
            Self::DobAndAgeGateConflict => {
                "Use either date_of_birth or one age_over_X claim, but not both."
            }
            Self::SessionCancelled => "Ask the integrator to start a new verification.",
            Self::SessionTerminal => "Ask the integrator to start a new verification.",
            Self::PhaseOutOfOrder => "Complete the previous step first.",
            Self::SessionExpired => "Ask the integrator to start a new verification.",
            Self::InvalidAttemptId => "Attempt IDs are `va_` followed by 64 letters and digits.",
            Self::InvalidAttemptToken => {
                "Send the token of the handoff as `Authorization: Bearer <token>`; start a new handoff if it was lost."
            }
            Self::HandoffTokenExpired => {
                "The token must be used within 5 minutes; scan the new QR code the page shows."
            }
            Self::AttemptClosed => {
                "A newer handoff replaced it, or it finished; continue with the newest QR code."
            }
            Self::DeviceMismatch => {
                "Continue on the device that started the attempt, or start a new handoff."
            }
            Self::InvalidCancelToken => "Use the `cancel_token` of the verification URL.",
            Self::SessionAlreadyEnded => "Nothing to cancel: the session is already finished.",
            Self::RequiredFieldNotSelected => {
                "Select every field the integrator marked as required, or cancel."
            }
            Self::FieldNotRequested => "Select only fields of the share request.",
            Self::FaceEngineUnavailable => "Retry the step; no try was used.",
            Self::TestModeOnly => "Create the session with a kk_test_ key to simulate a passport.",
            Self::SimulationInProgress => {
                "Wait for the running simulation to end; the page shows its progress."
            }
            Self::SimulationUnavailable => {
                "The message names what is missing: the test photos (scripts/fetch-face-models.sh on the server) or clone_detection = required."
            }
            Self::TooManyStreams => {
                "Close another page of this session, or poll `GET /v1/verify/session/{id}/status` until `Retry-After` has passed."
            }
            Self::InvalidWebhookUrl => {
                "Use an absolute https:// URL of at most 2048 characters, without credentials or fragment."
            }
            Self::InsecureWebhookUrl => {
                "Use an https:// URL; plain http is accepted only when the operator starts the server with --allow-private-webhooks."
            }
            Self::InvalidEventTypes => {
                "Use a non-empty array of event types from the catalog, or [\"*\"] for all of them."
            }
            Self::InvalidEncryptionKey => {
                "Send {\"jwk\": {…}} with a public RSA JWK or {\"pem\": \"-----BEGIN PUBLIC KEY-----…\"} with an SPKI PEM."
            }
            Self::EncryptionKeyTooWeak => "Use an RSA key of at least 2048 bits.",
            Self::EndpointNotFound => {
                "Confirm the webhook endpoint ID belongs to this organization and environment."
            }
            Self::EncryptionKeyNotFound => "Confirm the key ID belongs to this webhook endpoint.",
            Self::EventNotFound => {
                "Confirm the event ID belongs to this organization and environment."
            }
            Self::DeliveryNotFound => {
                "Confirm the delivery ID belongs to this organization and environment."
            }
            Self::DeliveryNotRetryable => {
                "Only failed or pending deliveries can be retried; replay the event to send a succeeded one again, and activate a key for blocked ones."
            }
            Self::EventNotReplayable => {
                "The event's payload was erased with its session or removed after the retention period."
            }
            Self::RequestTimeout => {
                "Send the request headers and body without pausing; the connection was closed, so open a new one."
            }
            Self::Overloaded => {
                "Retry after the number of seconds given in `Retry-After`, with exponential backoff if it happens again."
            }
            Self::HandlerTimeout => {
                "Retry the request; if it keeps happening, check the server's database and logs."
            }
            Self::ServiceUnavailable => "The database is not reachable; retry shortly.",
            Self::InternalServerError => "The server encountered an error.",
        }
    }

    /// The fragment of the errors page (`<docs base>/errors#<anchor>`): the code in lower case.
    pub fn docs_anchor(self) -> String {
        self.as_str().to_ascii_lowercase()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A domain error as the API reports it: a catalog code plus the message and hint for this case.
/// Messages never contain personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
    pub hint: Cow<'static, str>,
}

impl Error {
    /// The code with its catalog message and hint.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: Cow::Borrowed(code.default_message()),
            hint: Cow::Borrowed(code.hint()),
        }
    }

    /// The code with a specific message and the catalog hint.
    pub fn with_message(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: Cow::Borrowed(code.hint()),
        }
    }

    /// Replaces the hint.
    pub fn hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.hint = hint.into();
        self
    }

    /// `400 INVALID_REQUEST` naming the parameter: ``Invalid `limit`: must be an integer between 1 and 100.``
    pub fn invalid_param(name: &str, rule: &str) -> Self {
        Self::with_message(
            ErrorCode::InvalidRequest,
            format!("Invalid `{name}`: {rule}."),
        )
    }

    /// `404 NOT_FOUND` for a session (seed 002/000 strings).
    pub fn session_not_found() -> Self {
        Self::with_message(ErrorCode::NotFound, "Session not found.")
            .hint("The session with the given ID was not found.")
    }

    /// The exact opaque 500 of docs/api.md "Errors".
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalServerError)
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_error_has_the_exact_api_strings() {
        let e = Error::internal();
        assert_eq!(e.code.as_str(), "INTERNAL_SERVER_ERROR");
        assert_eq!(e.message, "Internal server error.");
        assert_eq!(e.hint, "The server encountered an error.");
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn share_contract_codes_carry_the_reference_strings() {
        let cases = [
            (
                ErrorCode::InvalidShareFields,
                "Invalid share_fields payload.",
                "share_fields must be an object map of claim keys.",
            ),
            (
                ErrorCode::UnknownClaimKey,
                "Unknown claim key.",
                "Use a supported claim key from the share contract allowlist.",
            ),
            (
                ErrorCode::InvalidAgeGateKey,
                "Invalid age gate claim key.",
                "Use `age_over_<integer>` with a valid threshold, for example `age_over_18`.",
            ),
            (
                ErrorCode::MultipleAgeGatesNotAllowed,
                "Multiple age gate claims are not allowed.",
                "Only one age_over_X claim can be provided per session.",
            ),
            (
                ErrorCode::DobAndAgeGateConflict,
                "date_of_birth cannot be combined with age gate claims.",
                "Use either date_of_birth or one age_over_X claim, but not both.",
            ),
            (
                ErrorCode::ReasonRequired,
                "Each share field requires a reason.",
                "Provide a non-empty reason for every requested claim.",
            ),
            (
                ErrorCode::ReasonTooLong,
                "Reason is too long.",
                "Reason must be 200 characters or fewer.",
            ),
            (
                ErrorCode::TooManyShareFields,
                "Too many share fields requested.",
                "The maximum number of share fields is 32.",
            ),
        ];
        for (code, message, hint) in cases {
            let e = Error::new(code);
            assert_eq!(e.message, message, "{code}");
            assert_eq!(e.hint, hint, "{code}");
            assert_eq!(e.status(), 400, "{code}");
        }
    }

    #[test]
    fn every_code_has_a_status_message_hint_and_unique_name() {
        let mut names = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(names.insert(code.as_str()), "duplicate {code}");
            assert!((400..600).contains(&code.status()));
            assert!(!code.default_message().is_empty());
            assert!(!code.hint().is_empty());
            assert_eq!(code.docs_anchor(), code.as_str().to_lowercase());
        }
    }

    #[test]
    fn statuses_follow_the_api_contract() {
        assert_eq!(ErrorCode::NotFound.status(), 404);
        assert_eq!(ErrorCode::InvalidSessionId.status(), 400);
        assert_eq!(ErrorCode::Unauthorized.status(), 401);
        assert_eq!(ErrorCode::Forbidden.status(), 403);
        assert_eq!(ErrorCode::MethodNotAllowed.status(), 405);
        assert_eq!(ErrorCode::IdempotencyKeyReused.status(), 409);
        assert_eq!(ErrorCode::SessionNotTerminal.status(), 409);
        assert_eq!(ErrorCode::PayloadTooLarge.status(), 413);
        assert_eq!(ErrorCode::UnsupportedMediaType.status(), 415);
        assert_eq!(ErrorCode::RateLimited.status(), 429);
        assert_eq!(ErrorCode::TooManyStreams.status(), 429);
        assert_eq!(ErrorCode::WebhookEndpointNotFound.status(), 400);
        assert_eq!(ErrorCode::SessionCancelled.status(), 410);
    }

    #[test]
    fn invalid_param_names_the_parameter() {
        let e = Error::invalid_param("limit", "must be an integer between 1 and 100");
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(
            e.message,
            "Invalid `limit`: must be an integer between 1 and 100."
        );
    }

    #[test]
    fn session_not_found_uses_the_seed_strings() {
        let e = Error::session_not_found();
        assert_eq!(e.message, "Session not found.");
        assert_eq!(e.hint, "The session with the given ID was not found.");
    }
}
