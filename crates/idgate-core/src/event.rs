//! Events: the durable record of every session state change, written in the same transaction as
//! the change (docs/webhooks.md "Delivery guarantees"), read later by the webhook worker as an
//! outbox.
//!
//! `data` never holds personal data: ids, statuses, failure codes and counters only. Claims of a
//! successful verification travel in the encrypted webhook payload, not in this record.

use serde::{Deserialize, Serialize};

use crate::api_key::Environment;
use crate::id::{AttemptId, EventId, OrgId, SessionId};
use crate::time::Timestamp;

/// The six event types of docs/webhooks.md "Event types", by their dotted wire names. Defined here,
/// once, for the stored events, endpoint subscriptions and the delivery payload alike (the wire
/// crate `idgate-webhook` re-exports it), so the three can never disagree. Exhaustive on
/// purpose: a type added here does not compile until the wire crate gives it its `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "verification.session.in_progress")]
    SessionInProgress,
    #[serde(rename = "verification.attempt.failed")]
    AttemptFailed,
    #[serde(rename = "verification.session.succeeded")]
    SessionSucceeded,
    #[serde(rename = "verification.session.failed")]
    SessionFailed,
    #[serde(rename = "verification.session.cancelled")]
    SessionCancelled,
    #[serde(rename = "verification.session.expired")]
    SessionExpired,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        Self::SessionInProgress,
        Self::AttemptFailed,
        Self::SessionSucceeded,
        Self::SessionFailed,
        Self::SessionCancelled,
        Self::SessionExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionInProgress => "verification.session.in_progress",
            Self::AttemptFailed => "verification.attempt.failed",
            Self::SessionSucceeded => "verification.session.succeeded",
            Self::SessionFailed => "verification.session.failed",
            Self::SessionCancelled => "verification.session.cancelled",
            Self::SessionExpired => "verification.session.expired",
        }
    }

    /// Parses a dotted name (endpoint subscriptions, event filters).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub org_id: OrgId,
    pub environment: Environment,
    pub session_id: SessionId,
    pub attempt_id: Option<AttemptId>,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub created_at: Timestamp,
    /// Non-personal details of the change (status, failure code, tries used).
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_use_the_dotted_webhook_names() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::String(t.as_str().to_owned())
            );
        }
        assert_eq!(
            EventType::SessionCancelled.as_str(),
            "verification.session.cancelled"
        );
        assert_eq!(EventType::parse("verification.session.completed"), None);
    }
}
