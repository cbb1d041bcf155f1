//! Sessions and attempts: the entities and their state machine (docs/api.md "Session lifecycle",
//! docs/docs/verify.md "Tries and outcomes").
//!
//! Transitions are methods that check the current state, mutate the entity and return the events
//! the change produces. The store persists the new state and those events in one transaction; it
//! never decides a transition itself.
//!
//! ```text
//! created ──start_attempt──▶ in_progress ──succeed──▶ succeeded
//!    │                           │ └──3rd failure of a kind──▶ failed
//!    └──────cancel / expire──────┴──▶ cancelled / expired
//! ```
//! Terminal states (`succeeded`, `failed`, `expired`, `cancelled`) are final; `completed_at` is set
//! exactly when one is entered and `failure_code` is non-null exactly in `failed`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::api_key::Environment;
use crate::create::{Metadata, SessionSpec, WebhookTarget};
use crate::error::{Error, ErrorCode};
use crate::event::{Event, EventType};
use crate::id::{AttemptId, EventId, OrgId, SessionId, random_alphanumeric};
use crate::secret::Secret;
use crate::share::ShareFields;
use crate::time::Timestamp;

/// The third failure of one kind ends the session (docs/verify.md "Tries and outcomes").
pub const MAX_TRIES: u8 = 3;
/// Version of the share contract semantics; the only one so far.
pub const CONTRACT_VERSION: u32 = 1;
/// Length of the end-user cancel token (docs/api.md "Create": one-shot, 32+ random characters).
pub const CANCEL_TOKEN_LEN: usize = 48;

/// Whose objects an operation may see: an organization in one environment. Test-mode keys see only
/// test-mode objects (docs/api.md "Test mode").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant {
    pub org_id: OrgId,
    pub environment: Environment,
}

impl Tenant {
    /// The API keys this tenant's caller may manage.
    pub fn api_keys(&self) -> crate::api_key::KeyAudience {
        crate::api_key::KeyAudience::of(self.org_id.clone(), self.environment)
    }
}

/// An organization: the unit of tenancy. Objects of another organization are indistinguishable
/// from objects that do not exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub created_at: Timestamp,
}

impl Organization {
    /// A new organization; the name is trimmed and must be 1..=200 characters.
    pub fn new(name: &str, now: Timestamp) -> Result<Self, Error> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(Error::invalid_param(
                "name",
                "must be 1 to 200 printable characters",
            ));
        }
        Ok(Self {
            id: OrgId::generate(),
            name: name.to_owned(),
            created_at: now,
        })
    }
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Status of a session (seed schema enum).
    SessionStatus {
        Created => "created",
        InProgress => "in_progress",
        Succeeded => "succeeded",
        Failed => "failed",
        Expired => "expired",
        Cancelled => "cancelled",
    }
);

string_enum!(
    /// Status of an attempt (docs/api.md "Attempts").
    AttemptStatus {
        InProgress => "in_progress",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

string_enum!(
    /// Why a check rejected the person's document or selfie (seed schema `failure_code`).
    FailureCode {
        DocumentAuthenticityFailed => "document_authenticity_failed",
        DocumentActiveAuthenticationFailed => "document_active_authentication_failed",
        DocumentChipAuthenticationFailed => "document_chip_authentication_failed",
        DocumentAntiCloningAttestationFailed => "document_anti_cloning_attestation_failed",
        DocumentDataInvalid => "document_data_invalid",
        LivenessFailed => "liveness_failed",
        SelfieFaceMismatch => "selfie_face_mismatch",
    }
);

string_enum!(
    /// Which step of the end-user flow an attempt waits for (docs/verify.md "HTTP surface"):
    /// `handoff` until a device says hello, then `document`, `liveness`, `consent`, and `done`
    /// once the attempt ended.
    AttemptPhase {
        Handoff => "handoff",
        Document => "document",
        Liveness => "liveness",
        Consent => "consent",
        Done => "done",
    }
);

string_enum!(
    /// What the phone reports it is doing (`POST /v1/verify/attempts/{id}/phase`), shown to the
    /// browser as progress. Informational only: the server's own step is [`AttemptPhase`].
    ClientProgress {
        MrzScanning => "mrz_scanning",
        NfcReading => "nfc_reading",
        SelfieCapturing => "selfie_capturing",
        ReviewingConsent => "reviewing_consent",
    }
);

/// Which tries counter a failure consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryKind {
    /// Document checks and unreadable chips: `nfc_tries_used`.
    Nfc,
    /// Liveness and face match: `liveness_tries_used`.
    Liveness,
}

impl TryKind {
    /// The attempt phase whose check consumes this kind of try.
    pub fn phase(self) -> AttemptPhase {
        match self {
            Self::Nfc => AttemptPhase::Document,
            Self::Liveness => AttemptPhase::Liveness,
        }
    }
}

impl FailureCode {
    pub fn kind(self) -> TryKind {
        match self {
            Self::LivenessFailed | Self::SelfieFaceMismatch => TryKind::Liveness,
            _ => TryKind::Nfc,
        }
    }
}

impl SessionStatus {
    /// `succeeded`, `failed`, `expired` and `cancelled` are final.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Created | Self::InProgress)
    }

    /// Parses the `status` query parameter.
    pub fn parse_param(s: &str) -> Result<Self, Error> {
        Self::parse(s).ok_or_else(|| {
            Error::invalid_param(
                "status",
                "must be one of created, in_progress, succeeded, failed, expired, cancelled",
            )
        })
    }
}

/// A transition that the current state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the session is already {0}")]
    Terminal(SessionStatus),
    #[error("the session is past its expiry time")]
    Overdue,
    #[error("the session is not past its expiry time")]
    NotOverdue,
    #[error("the session is not in progress")]
    NotInProgress,
    #[error("the attempt is not in progress")]
    AttemptNotOpen,
    #[error("the attempt belongs to another session")]
    AttemptMismatch,
    #[error("the attempt is in phase {actual}, not {expected}")]
    WrongPhase {
        expected: AttemptPhase,
        actual: AttemptPhase,
    },
}

impl TransitionError {
    /// How the end-user API reports it: `410` for a finished session, `409` for a step out of order.
    pub fn to_error(self) -> Error {
        match self {
            Self::Terminal(SessionStatus::Cancelled) => ErrorCode::SessionCancelled.into(),
            Self::Terminal(SessionStatus::Expired) | Self::Overdue => {
                ErrorCode::SessionExpired.into()
            }
            Self::Terminal(_) => ErrorCode::SessionTerminal.into(),
            Self::AttemptNotOpen | Self::AttemptMismatch => ErrorCode::AttemptClosed.into(),
            Self::NotOverdue | Self::NotInProgress | Self::WrongPhase { .. } => {
                ErrorCode::PhaseOutOfOrder.into()
            }
        }
    }
}

/// A verification session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub org_id: OrgId,
    pub environment: Environment,
    pub status: SessionStatus,
    pub failure_code: Option<FailureCode>,
    pub nfc_tries_used: u8,
    pub liveness_tries_used: u8,
    pub contract_version: u32,
    pub share_fields: ShareFields,
    pub redirect_url: Option<String>,
    pub webhook_endpoint_id: WebhookTarget,
    pub metadata: Metadata,
    /// Lets the end user cancel from the hosted page (`POST /v1/verify/session/{id}/cancel`).
    pub cancel_token: Secret<String>,
    pub expires_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Session {
    /// Whether `token` is this session's cancel token, the secret of its verification URL that
    /// authorizes the end user's cancel, a handoff from the page and the page itself. Compared in
    /// constant time, so the comparison does not leak how much of a guess was right.
    pub fn cancel_token_matches(&self, token: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        bool::from(
            self.cancel_token
                .expose()
                .as_bytes()
                .ct_eq(token.as_bytes()),
        )
    }

    /// A new session in `created`, from a validated request.
    pub fn create(tenant: &Tenant, spec: SessionSpec, now: Timestamp) -> Self {
        Self {
            id: SessionId::generate(),
            org_id: tenant.org_id.clone(),
            environment: tenant.environment,
            status: SessionStatus::Created,
            failure_code: None,
            nfc_tries_used: 0,
            liveness_tries_used: 0,
            contract_version: CONTRACT_VERSION,
            share_fields: spec.share_fields,
            redirect_url: spec.redirect_url,
            webhook_endpoint_id: spec.webhook_endpoint_id,
            metadata: spec.metadata,
            cancel_token: Secret::new(random_alphanumeric(CANCEL_TOKEN_LEN)),
            expires_at: now.plus_seconds(i64::from(spec.expires_in_secs)),
            completed_at: None,
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

    /// Not terminal and `expires_at` has passed: the stored status is stale.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        !self.status.is_terminal() && now >= self.expires_at
    }

    /// `created | in_progress → expired` once `expires_at` has passed. The caller also closes
    /// the open attempt ([`Attempt::close_cancelled`]).
    pub fn expire(&mut self, now: Timestamp) -> Result<Vec<Event>, TransitionError> {
        if self.status.is_terminal() {
            return Err(TransitionError::Terminal(self.status));
        }
        if !self.is_overdue(now) {
            return Err(TransitionError::NotOverdue);
        }
        self.finish(SessionStatus::Expired, None, now);
        Ok(vec![self.event(
            EventType::SessionExpired,
            None,
            now,
            serde_json::json!({"status": "expired"}),
        )])
    }

    /// `created | in_progress → cancelled`. A terminal session is left unchanged and yields
    /// [`TransitionError::Terminal`] (the API still answers `204`, without an event). A session
    /// already past its expiry is expired instead: it ended before the cancel arrived.
    pub fn cancel(&mut self, now: Timestamp) -> Result<Vec<Event>, TransitionError> {
        if self.status.is_terminal() {
            return Err(TransitionError::Terminal(self.status));
        }
        if self.is_overdue(now) {
            return self.expire(now);
        }
        self.finish(SessionStatus::Cancelled, None, now);
        Ok(vec![self.event(
            EventType::SessionCancelled,
            None,
            now,
            serde_json::json!({"status": "cancelled"}),
        )])
    }

    /// The browser hands the flow to a phone (docs/verify.md "HTTP surface", handoff): a new
    /// attempt waiting for its device, in phase `handoff`. The session's status does not change
    /// until a device binds the attempt; the caller closes any older open attempt.
    pub fn hand_off(&mut self, now: Timestamp) -> Result<Attempt, TransitionError> {
        self.check_live(now)?;
        self.updated_at = now;
        Ok(Attempt::new(&self.id, now))
    }

    /// A device binds the attempt (`hello`): the attempt moves to phase `document` and the
    /// session from `created` to `in_progress`, with its event the first time.
    pub fn bind(
        &mut self,
        attempt: &mut Attempt,
        now: Timestamp,
    ) -> Result<Vec<Event>, TransitionError> {
        self.check_live(now)?;
        Self::check_attempt_open(&self.id, attempt)?;
        attempt.expect_phase(AttemptPhase::Handoff)?;
        attempt.phase = AttemptPhase::Document;
        attempt.updated_at = now;
        self.updated_at = now;
        let mut events = Vec::new();
        if self.status == SessionStatus::Created {
            self.status = SessionStatus::InProgress;
            events.push(self.event(
                EventType::SessionInProgress,
                Some(&attempt.id),
                now,
                serde_json::json!({"status": "in_progress"}),
            ));
        }
        Ok(events)
    }

    /// Hand-off and binding at once, for callers without a separate device step (tests, tools).
    pub fn start_attempt(
        &mut self,
        now: Timestamp,
    ) -> Result<(Attempt, Vec<Event>), TransitionError> {
        let mut attempt = self.hand_off(now)?;
        let events = self.bind(&mut attempt, now)?;
        Ok((attempt, events))
    }

    /// A step passed: the attempt moves from `from` to the next phase (`document → liveness →
    /// consent`). Out of order is [`TransitionError::WrongPhase`].
    pub fn advance(
        &mut self,
        attempt: &mut Attempt,
        from: AttemptPhase,
        now: Timestamp,
    ) -> Result<(), TransitionError> {
        self.check_open_attempt(attempt, now)?;
        attempt.expect_phase(from)?;
        attempt.phase = match from {
            AttemptPhase::Document => AttemptPhase::Liveness,
            AttemptPhase::Liveness => AttemptPhase::Consent,
            AttemptPhase::Handoff | AttemptPhase::Consent | AttemptPhase::Done => {
                return Err(TransitionError::WrongPhase {
                    expected: AttemptPhase::Document,
                    actual: from,
                });
            }
        };
        attempt.updated_at = now;
        self.updated_at = now;
        Ok(())
    }

    /// A check rejected the attempt: the counter of its kind goes up, and the third failure of a
    /// kind fails the session with that code. Before that the attempt stays open for a retry.
    pub fn record_failure(
        &mut self,
        attempt: &mut Attempt,
        code: FailureCode,
        now: Timestamp,
    ) -> Result<Vec<Event>, TransitionError> {
        self.check_open_attempt(attempt, now)?;
        attempt.expect_phase(code.kind().phase())?;
        let counter = match code.kind() {
            TryKind::Nfc => &mut self.nfc_tries_used,
            TryKind::Liveness => &mut self.liveness_tries_used,
        };
        *counter = counter.saturating_add(1).min(MAX_TRIES);
        let exhausted = *counter >= MAX_TRIES;
        self.updated_at = now;
        attempt.updated_at = now;
        let mut events = vec![self.event(
            EventType::AttemptFailed,
            Some(&attempt.id),
            now,
            serde_json::json!({
                "failure_code": code.as_str(),
                "nfc_tries_used": self.nfc_tries_used,
                "liveness_tries_used": self.liveness_tries_used,
            }),
        )];
        if exhausted {
            self.finish(SessionStatus::Failed, Some(code), now);
            attempt.finish(AttemptStatus::Failed, Some(code), now);
            events.push(self.event(
                EventType::SessionFailed,
                Some(&attempt.id),
                now,
                serde_json::json!({"status": "failed", "failure_code": code.as_str()}),
            ));
        }
        Ok(events)
    }

    /// All checks passed and the person consented: `in_progress → succeeded`. The event carries
    /// the selected claim keys, never the claim values.
    pub fn succeed(
        &mut self,
        attempt: &mut Attempt,
        selected_field_keys: &[String],
        now: Timestamp,
    ) -> Result<Vec<Event>, TransitionError> {
        self.check_open_attempt(attempt, now)?;
        attempt.expect_phase(AttemptPhase::Consent)?;
        self.finish(SessionStatus::Succeeded, None, now);
        attempt.finish(AttemptStatus::Succeeded, None, now);
        Ok(vec![self.event(
            EventType::SessionSucceeded,
            Some(&attempt.id),
            now,
            serde_json::json!({"status": "succeeded", "selected_field_keys": selected_field_keys}),
        )])
    }

    /// Whether a step of `attempt` may run now: the session is live and in progress and the
    /// attempt is its open one. Checked before a step's work starts and again, under the row
    /// lock, when its result is written.
    pub fn check_step(&self, attempt: &Attempt, now: Timestamp) -> Result<(), TransitionError> {
        self.check_open_attempt(attempt, now)
    }

    /// Not terminal and not past its expiry.
    fn check_live(&self, now: Timestamp) -> Result<(), TransitionError> {
        if self.status.is_terminal() {
            return Err(TransitionError::Terminal(self.status));
        }
        if self.is_overdue(now) {
            return Err(TransitionError::Overdue);
        }
        Ok(())
    }

    fn check_attempt_open(id: &SessionId, attempt: &Attempt) -> Result<(), TransitionError> {
        if attempt.session_id != *id {
            return Err(TransitionError::AttemptMismatch);
        }
        if attempt.status != AttemptStatus::InProgress {
            return Err(TransitionError::AttemptNotOpen);
        }
        Ok(())
    }

    /// A live session in progress, and its open attempt.
    fn check_open_attempt(&self, attempt: &Attempt, now: Timestamp) -> Result<(), TransitionError> {
        self.check_live(now)?;
        if self.status != SessionStatus::InProgress {
            return Err(TransitionError::NotInProgress);
        }
        Self::check_attempt_open(&self.id, attempt)
    }

    fn finish(&mut self, status: SessionStatus, failure_code: Option<FailureCode>, now: Timestamp) {
        self.status = status;
        self.failure_code = failure_code;
        self.completed_at = Some(now);
        self.updated_at = now;
    }

    fn event(
        &self,
        event_type: EventType,
        attempt: Option<&AttemptId>,
        now: Timestamp,
        data: serde_json::Value,
    ) -> Event {
        Event {
            id: EventId::generate(),
            org_id: self.org_id.clone(),
            environment: self.environment,
            session_id: self.id.clone(),
            attempt_id: attempt.cloned(),
            event_type,
            created_at: now,
            data,
        }
    }

    /// The wire representation (seed 002 fields plus `metadata`); `cancel_token` only when asked,
    /// which is the create response.
    pub fn api_view(
        &self,
        verification_url: String,
        include_cancel_token: bool,
    ) -> SessionView<'_> {
        SessionView {
            id: &self.id,
            status: self.status,
            failure_code: self.failure_code,
            nfc_tries_used: self.nfc_tries_used,
            liveness_tries_used: self.liveness_tries_used,
            contract_version: self.contract_version,
            share_fields: &self.share_fields,
            redirect_url: self.redirect_url.as_deref(),
            webhook_endpoint_id: &self.webhook_endpoint_id,
            verification_url,
            cancel_token: include_cancel_token.then(|| self.cancel_token.expose().as_str()),
            metadata: &self.metadata,
            expires_at: self.expires_at,
            completed_at: self.completed_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A session as the API shows it, fields in the seed's order.
#[derive(Debug, Serialize)]
pub struct SessionView<'a> {
    pub id: &'a SessionId,
    pub status: SessionStatus,
    pub failure_code: Option<FailureCode>,
    pub nfc_tries_used: u8,
    pub liveness_tries_used: u8,
    pub contract_version: u32,
    pub share_fields: &'a ShareFields,
    pub redirect_url: Option<&'a str>,
    pub webhook_endpoint_id: &'a WebhookTarget,
    pub verification_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_token: Option<&'a str>,
    pub metadata: &'a Metadata,
    pub expires_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One end-user try inside a session. Serialises as the API's attempt object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub id: AttemptId,
    pub session_id: SessionId,
    pub status: AttemptStatus,
    pub failure_code: Option<FailureCode>,
    pub phase: AttemptPhase,
    /// The record of every check run so far (`{"document": …, "face": …}`): verdicts, algorithm
    /// names, the document signer's subject and country; never personal data.
    pub checks: serde_json::Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

impl Attempt {
    fn new(session_id: &SessionId, now: Timestamp) -> Self {
        Self {
            id: AttemptId::generate(),
            session_id: session_id.clone(),
            status: AttemptStatus::InProgress,
            failure_code: None,
            phase: AttemptPhase::Handoff,
            checks: serde_json::json!({}),
            created_at: now,
            updated_at: now,
            completed_at: None,
        }
    }

    fn expect_phase(&self, expected: AttemptPhase) -> Result<(), TransitionError> {
        if self.phase == expected {
            Ok(())
        } else {
            Err(TransitionError::WrongPhase {
                expected,
                actual: self.phase,
            })
        }
    }

    /// Closes an open attempt because its session was cancelled or expired, or a newer attempt
    /// replaced it. Returns whether anything changed.
    pub fn close_cancelled(&mut self, now: Timestamp) -> bool {
        if self.status != AttemptStatus::InProgress {
            return false;
        }
        self.finish(AttemptStatus::Cancelled, None, now);
        true
    }

    fn finish(&mut self, status: AttemptStatus, failure_code: Option<FailureCode>, now: Timestamp) {
        self.status = status;
        self.failure_code = failure_code;
        self.phase = AttemptPhase::Done;
        self.completed_at = Some(now);
        self.updated_at = now;
    }
}

/// Filters of `GET /v1/sessions` (seed 004).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub status: Option<SessionStatus>,
    /// Inclusive lower bound on `created_at`.
    pub created_from: Option<Timestamp>,
    /// Inclusive upper bound on `created_at`.
    pub created_to: Option<Timestamp>,
}

impl SessionFilter {
    /// From the raw query values; each error names its parameter.
    pub fn from_query(
        status: Option<&str>,
        created_from: Option<&str>,
        created_to: Option<&str>,
    ) -> Result<Self, Error> {
        let rfc3339 = |name: &str, v: &str| {
            Timestamp::parse_rfc3339(v).map_err(|_| {
                Error::invalid_param(
                    name,
                    "must be an RFC 3339 date-time such as 2025-01-01T00:00:00Z",
                )
            })
        };
        Ok(Self {
            status: status.map(SessionStatus::parse_param).transpose()?,
            created_from: created_from
                .map(|v| rfc3339("created_from", v))
                .transpose()?,
            created_to: created_to.map(|v| rfc3339("created_to", v)).transpose()?,
        })
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
