//! Webhook management domain (docs/webhooks.md "Management API"): endpoints with their
//! subscriptions and sealed signing secrets, integrators' encryption keys, deliveries with their
//! attempts, and the validation of the create/patch bodies of endpoints.
//!
//! No I/O here: the signing secret is generated and sealed by the server (which holds the
//! key-encryption key), RSA keys are parsed by `idgate-webhook`; this module only carries the
//! results. Every rule that answers an integrator names its field and has its own catalog code.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::api_key::Environment;
use crate::error::{Error, ErrorCode};
use crate::event::EventType;
use crate::id::{DeliveryId, EncryptionKeyId, EndpointId, EventId, OrgId, SessionId};
use crate::session::Tenant;
use crate::time::Timestamp;
use crate::url::{HttpUrl, Scheme, UrlProblem};

/// Longest endpoint URL accepted, like `redirect_url` (docs/api.md "Create"): long enough for any
/// real receiver, short enough that a URL is never a storage or log hazard.
pub const MAX_WEBHOOK_URL_LEN: usize = 2048;
/// Longest endpoint description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// How long a rotated-out signing secret keeps signing next to the new one
/// (docs/webhooks.md "Endpoints": 24 h), so receivers can switch secrets without losing deliveries.
pub const SECRET_ROTATION_OVERLAP_SECS: i64 = 24 * 3600;
/// Bytes of a receiver's response body kept per attempt (docs/webhooks.md "Deliveries": first
/// 1 KiB).
pub const MAX_ATTEMPT_BODY_BYTES: usize = 1024;
/// Longest integrator-chosen `kid` (JWE header value), as `idgate-webhook` accepts it.
pub const MAX_KID_LEN: usize = 255;

// ---- subscriptions ---------------------------------------------------------------------------

/// Which event types an endpoint receives: every type (`["*"]`, including types added later) or
/// a non-empty set of catalog types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    All,
    /// Non-empty, without duplicates, in the order given.
    Types(Vec<EventType>),
}

impl Subscription {
    /// Whether an event of type `t` goes to an endpoint with this subscription.
    pub fn matches(&self, t: EventType) -> bool {
        match self {
            Self::All => true,
            Self::Types(types) => types.contains(&t),
        }
    }

    /// The request form: a non-empty array of catalog type names, or exactly `["*"]`.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Error> {
        let invalid = |why: &str| {
            Error::with_message(
                ErrorCode::InvalidEventTypes,
                format!("Invalid `subscribed_event_types`: {why}."),
            )
        };
        let serde_json::Value::Array(items) = value else {
            return Err(invalid("must be an array of event type names"));
        };
        if items.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if items.len() > EventType::ALL.len() + 1 {
            return Err(invalid("lists more types than exist"));
        }
        let mut names = Vec::with_capacity(items.len());
        for item in items {
            let serde_json::Value::String(name) = item else {
                return Err(invalid("must be an array of event type names"));
            };
            names.push(name.as_str());
        }
        if names.contains(&"*") {
            return if names.len() == 1 {
                Ok(Self::All)
            } else {
                Err(invalid("`*` cannot be combined with other types"))
            };
        }
        let mut types = Vec::with_capacity(names.len());
        for name in names {
            let t = EventType::parse(name).ok_or_else(|| {
                // The name is the integrator's own input; echo only a bounded, printable prefix.
                let shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
                invalid(&format!("unknown event type `{shown}`"))
            })?;
            if types.contains(&t) {
                return Err(invalid("lists a type twice"));
            }
            types.push(t);
        }
        Ok(Self::Types(types))
    }

    /// Type names as stored and returned: `["*"]` or the listed names.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Self::All => vec!["*"],
            Self::Types(types) => types.iter().map(|t| t.as_str()).collect(),
        }
    }

    /// Parses the stored JSON text; `None` when it is not a valid subscription.
    pub fn from_stored(text: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        Self::from_json(&value).ok()
    }

    /// The stored JSON text (an array of names).
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.names()).unwrap_or_else(|_| "[\"*\"]".to_owned())
    }
}

impl Serialize for Subscription {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

// ---- endpoint URL ----------------------------------------------------------------------------

/// Validates an endpoint URL (docs/webhooks.md "SSRF guard"): absolute `https` URL (plain `http`
/// only when the operator allows private webhooks), no user info (credentials would be stored and
/// shown in clear), a syntactically valid host and port, no fragment, at most
/// [`MAX_WEBHOOK_URL_LEN`] printable ASCII characters. Whether the host resolves to a permitted
/// address is decided at send time by the SSRF guard, since DNS answers change.
///
/// The same parse as [`parse_webhook_url`], which the sender's SSRF guard runs again before
/// every delivery, so the URL saved and the URL sent to are read by one parser.
pub fn validate_webhook_url(url: &str, allow_http: bool) -> Result<String, Error> {
    let invalid = |why: String| {
        Error::with_message(
            ErrorCode::InvalidWebhookUrl,
            format!("Invalid `url`: {why}."),
        )
    };
    match parse_webhook_url(url, allow_http) {
        Ok(_) => Ok(url.to_owned()),
        Err(WebhookUrlError::Malformed(p)) => Err(invalid(p.reason())),
        Err(WebhookUrlError::Insecure) => Err(Error::new(ErrorCode::InsecureWebhookUrl)),
        Err(WebhookUrlError::Fragment) => Err(invalid("must not contain a fragment".into())),
    }
}

/// Why an endpoint URL is refused by [`parse_webhook_url`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookUrlError {
    Malformed(UrlProblem),
    /// Plain `http` while the operator has not allowed it.
    Insecure,
    Fragment,
}

/// The one parser of endpoint URLs, for saving them ([`validate_webhook_url`]) and for sending
/// to them (`idgate-webhook`'s SSRF guard, which then judges the parsed host's addresses).
pub fn parse_webhook_url(url: &str, allow_http: bool) -> Result<HttpUrl, WebhookUrlError> {
    let parsed = HttpUrl::parse(url, MAX_WEBHOOK_URL_LEN).map_err(WebhookUrlError::Malformed)?;
    if parsed.scheme == Scheme::Http && !allow_http {
        return Err(WebhookUrlError::Insecure);
    }
    if parsed.has_fragment {
        return Err(WebhookUrlError::Fragment);
    }
    Ok(parsed)
}

fn validate_description(value: &serde_json::Value) -> Result<String, Error> {
    let invalid = || {
        Error::invalid_param(
            "description",
            "must be a string of at most 500 characters without control characters",
        )
    };
    match value {
        serde_json::Value::Null => Ok(String::new()),
        serde_json::Value::String(s) => {
            if s.chars().count() > MAX_DESCRIPTION_CHARS || s.chars().any(char::is_control) {
                Err(invalid())
            } else {
                Ok(s.clone())
            }
        }
        _ => Err(invalid()),
    }
}

fn validate_enabled(value: &serde_json::Value) -> Result<bool, Error> {
    value
        .as_bool()
        .ok_or_else(|| Error::invalid_param("enabled", "must be true or false"))
}

fn validate_url_value(value: &serde_json::Value, allow_http: bool) -> Result<String, Error> {
    match value {
        serde_json::Value::String(s) => validate_webhook_url(s, allow_http),
        _ => Err(Error::with_message(
            ErrorCode::InvalidWebhookUrl,
            "Invalid `url`: must be a string.",
        )),
    }
}

/// `Some` whenever the field is present, even as `null`, so that `null` can be refused.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

// ---- endpoint create / patch bodies ----------------------------------------------------------

/// Body of `POST /v1/webhooks/endpoints`, as sent: fields are read as raw JSON so each rule can
/// answer with its own code and message; unknown fields are refused (docs/api.md "Conventions").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointRequest {
    #[serde(default, deserialize_with = "present")]
    pub url: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub subscribed_event_types: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub enabled: Option<serde_json::Value>,
}

/// A validated endpoint create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub subscription: Subscription,
}

impl CreateEndpointRequest {
    /// `url` and `subscribed_event_types` are required; `description` defaults to empty and
    /// `enabled` to true. `allow_http` is the operator's `--allow-private-webhooks` switch.
    pub fn validate(&self, allow_http: bool) -> Result<EndpointSpec, Error> {
        let url = match &self.url {
            None | Some(serde_json::Value::Null) => {
                return Err(Error::with_message(
                    ErrorCode::InvalidWebhookUrl,
                    "Invalid `url`: is required.",
                ));
            }
            Some(v) => validate_url_value(v, allow_http)?,
        };
        let subscription = match &self.subscribed_event_types {
            None | Some(serde_json::Value::Null) => {
                return Err(Error::with_message(
                    ErrorCode::InvalidEventTypes,
                    "Invalid `subscribed_event_types`: is required (use [\"*\"] for every type).",
                ));
            }
            Some(v) => Subscription::from_json(v)?,
        };
        let description = match &self.description {
            None => String::new(),
            Some(v) => validate_description(v)?,
        };
        let enabled = match &self.enabled {
            None => true,
            Some(v) => validate_enabled(v)?,
        };
        Ok(EndpointSpec {
            url,
            description,
            enabled,
            subscription,
        })
    }
}

/// Body of `PATCH /v1/webhooks/endpoints/{id}`: each present field replaces the stored one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpointRequest {
    #[serde(default, deserialize_with = "present")]
    pub url: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub subscribed_event_types: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub enabled: Option<serde_json::Value>,
}

/// A validated endpoint patch; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub subscription: Option<Subscription>,
}

impl UpdateEndpointRequest {
    pub fn validate(&self, allow_http: bool) -> Result<EndpointPatch, Error> {
        let url = self
            .url
            .as_ref()
            .map(|v| validate_url_value(v, allow_http))
            .transpose()?;
        let subscription = self
            .subscribed_event_types
            .as_ref()
            .map(Subscription::from_json)
            .transpose()?;
        let description = self
            .description
            .as_ref()
            .map(validate_description)
            .transpose()?;
        let enabled = self.enabled.as_ref().map(validate_enabled).transpose()?;
        Ok(EndpointPatch {
            url,
            description,
            enabled,
            subscription,
        })
    }
}

// ---- endpoints -------------------------------------------------------------------------------

/// A signing secret sealed under the key-encryption key (AES-256-GCM, the endpoint id as
/// associated data): `base64url(nonce ‖ ciphertext ‖ tag)`. Not readable without that key, but
/// still never printed, so a log line cannot hand it to whoever later obtains the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(String);

impl SealedSecret {
    pub fn new(sealed: String) -> Self {
        Self(sealed)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSecret([REDACTED])")
    }
}

/// The secret replaced by the last rotation and the instant it stops signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub sealed: SealedSecret,
    pub expires_at: Timestamp,
}

/// Why an endpoint was disabled by the server (docs/webhooks.md "Delivery guarantees": 3 days of
/// continuous failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    Failing,
}

impl DisabledReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failing => "failing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "failing" => Some(Self::Failing),
            _ => None,
        }
    }
}

/// A webhook endpoint (`whe_…`) of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: EndpointId,
    pub org_id: OrgId,
    pub environment: Environment,
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub subscription: Subscription,
    pub secret_sealed: SealedSecret,
    pub previous_secret: Option<PreviousSecret>,
    /// Start of the current run of failed attempts; `None` after any success.
    pub failing_since: Option<Timestamp>,
    pub disabled_reason: Option<DisabledReason>,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookEndpoint {
    /// A new endpoint of `tenant` from a validated spec; `id` is chosen by the caller because the
    /// secret is sealed to it before the row exists.
    pub fn new(
        tenant: &Tenant,
        id: EndpointId,
        spec: EndpointSpec,
        secret_sealed: SealedSecret,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            org_id: tenant.org_id.clone(),
            environment: tenant.environment,
            url: spec.url,
            description: spec.description,
            enabled: spec.enabled,
            subscription: spec.subscription,
            secret_sealed,
            previous_secret: None,
            failing_since: None,
            disabled_reason: None,
            disabled_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.org_id.clone(),
            environment: self.environment,
        }
    }

    /// The rotated-out secret if it still signs at `now` (docs/webhooks.md "Endpoints": 24 h
    /// overlap).
    pub fn previous_secret_at(&self, now: Timestamp) -> Option<&SealedSecret> {
        self.previous_secret
            .as_ref()
            .filter(|p| now.unix_ms() < p.expires_at.unix_ms())
            .map(|p| &p.sealed)
    }
}

// ---- encryption keys -------------------------------------------------------------------------

/// An integrator's RSA public key (`whk_…`) that payloads for one endpoint are encrypted to.
/// `jwk` holds public material only (`kty`, `n`, `e`); the JWE header names `kid` if the
/// integrator gave one, else the key's id ([`EncryptionKey::header_kid`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionKey {
    pub id: EncryptionKeyId,
    pub endpoint_id: EndpointId,
    pub org_id: OrgId,
    pub kid: Option<String>,
    pub jwk: serde_json::Value,
    pub bits: u32,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl EncryptionKey {
    /// The `kid` put into the JWE protected header (docs/webhooks.md "Encryption": the key's kid,
    /// else its id).
    pub fn header_kid(&self) -> &str {
        self.kid.as_deref().unwrap_or(self.id.as_str())
    }
}

/// Validates an integrator-chosen `kid`: 1..=255 printable ASCII characters, as the JWE header
/// and `idgate-webhook` accept it.
pub fn validate_kid(kid: &str) -> Result<String, Error> {
    if (1..=MAX_KID_LEN).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(kid.to_owned())
    } else {
        Err(Error::invalid_param(
            "kid",
            "must be 1 to 255 printable ASCII characters without spaces",
        ))
    }
}

// ---- deliveries ------------------------------------------------------------------------------

/// Where a delivery is in its life (docs/webhooks.md "Deliveries").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Due at `next_attempt_at` (first attempt at once, later ones per the backoff schedule).
    Pending,
    /// The endpoint has no active encryption key; becomes `pending` when one is activated.
    BlockedNoKey,
    Succeeded,
    /// Final: a non-retryable answer or the retry window ran out.
    Failed,
    /// Its session was erased before it was sent.
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        Self::Pending,
        Self::BlockedNoKey,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::BlockedNoKey => "blocked_no_key",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether `POST /v1/webhooks/deliveries/{id}/retry` applies: a `failed` delivery is sent
    /// again, a `pending` one is made due now. `succeeded` is done (replay the event for a new
    /// delivery), `cancelled` lost its payload with its session, and `blocked_no_key` waits for
    /// a key, so retrying those would mislead.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Failed | Self::Pending)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One try of a delivery (docs/webhooks.md "Deliveries": time, status code, latency, first 1 KiB of
/// the response body, error kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub attempt: u32,
    pub started_at: Timestamp,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub response_body: Option<String>,
    pub error_kind: Option<String>,
}

/// One event sent (or to be sent) to one endpoint (`whd_…`), with its attempts oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub org_id: OrgId,
    pub environment: Environment,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    pub session_id: SessionId,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub attempts: Vec<DeliveryAttempt>,
}

// ---- list filters ----------------------------------------------------------------------------

fn rfc3339_param(name: &str, v: &str) -> Result<Timestamp, Error> {
    Timestamp::parse_rfc3339(v).map_err(|_| {
        Error::invalid_param(
            name,
            "must be an RFC 3339 date-time such as 2025-01-01T00:00:00Z",
        )
    })
}

/// Filters of `GET /v1/events` (docs/webhooks.md "Events": type, session, time range); the time
/// range uses the parameter names of the session list (seed 004), both ends inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub event_type: Option<EventType>,
    pub session_id: Option<SessionId>,
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
}

impl EventFilter {
    pub fn from_query(
        event_type: Option<&str>,
        session_id: Option<&str>,
        created_from: Option<&str>,
        created_to: Option<&str>,
    ) -> Result<Self, Error> {
        Ok(Self {
            event_type: event_type
                .map(|t| {
                    EventType::parse(t).ok_or_else(|| {
                        Error::invalid_param(
                            "type",
                            "must be one of the event types of the catalog",
                        )
                    })
                })
                .transpose()?,
            session_id: session_id
                .map(|s| {
                    SessionId::parse(s).map_err(|_| {
                        Error::invalid_param(
                            "session_id",
                            "must be a session ID (vs_ followed by 64 letters and digits)",
                        )
                    })
                })
                .transpose()?,
            created_from: created_from
                .map(|v| rfc3339_param("created_from", v))
                .transpose()?,
            created_to: created_to
                .map(|v| rfc3339_param("created_to", v))
                .transpose()?,
        })
    }
}

/// Filters of `GET /v1/webhooks/deliveries` (docs/webhooks.md "Deliveries": endpoint, event,
/// status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<EndpointId>,
    pub event_id: Option<EventId>,
    pub status: Option<DeliveryStatus>,
}

impl DeliveryFilter {
    pub fn from_query(
        endpoint_id: Option<&str>,
        event_id: Option<&str>,
        status: Option<&str>,
    ) -> Result<Self, Error> {
        Ok(Self {
            endpoint_id: endpoint_id
                .map(|s| {
                    EndpointId::parse(s).map_err(|_| {
                        Error::invalid_param(
                            "endpoint_id",
                            "must be a webhook endpoint ID (whe_ followed by 64 letters and digits)",
                        )
                    })
                })
                .transpose()?,
            event_id: event_id
                .map(|s| {
                    EventId::parse(s).map_err(|_| {
                        Error::invalid_param(
                            "event_id",
                            "must be an event ID (evt_ followed by 64 letters and digits)",
                        )
                    })
                })
                .transpose()?,
            status: status
                .map(|s| {
                    DeliveryStatus::parse(s).ok_or_else(|| {
                        Error::invalid_param(
                            "status",
                            "must be one of pending, blocked_no_key, succeeded, failed, cancelled",
                        )
                    })
                })
                .transpose()?,
        })
    }
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
