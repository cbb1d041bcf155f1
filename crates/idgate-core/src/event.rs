//! Events: the durable record of every session state change, written in the same transaction as
//! the change (webhooks.md "Delivery guarantees"), read later by the webhook worker as an outbox.
//!
//! `data` never holds personal data: ids, statuses, failure codes and counters only. Claims of a
//! successful verification travel in the encrypted webhook payload, not in this record.

use serde::{Deserialize, Serialize};

use crate::api_key::Environment;
use crate::id::{AttemptId, EventId, OrgId, SessionId};
use crate::time::Timestamp;

/// Event types, named as in webhooks.md "Event types". The wire crate owns the enum: the names
/// are part of the delivery format that receivers parse, and one definition means the stored
/// type, subscriptions and the payload can never disagree.
pub use idgate_webhook::EventType;

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
