//! The typed events inside a delivery's JWE (docs/webhooks.md "Event types"):
//! `{"id","type","created_at","data","metadata"}`. Owns their JSON shape for both sides, so the
//! server serializes exactly what receivers parse. The `data` of each type is its own struct;
//! [`EventData`] ties the variant to the `type`, so the two can never disagree.
//!
//! Receivers ignore unknown JSON members (additive changes stay compatible); an unknown `type`
//! is an error, because its data cannot be interpreted.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

mod claims;

pub use claims::{AgeGate, Claim, Claims, DocumentPhoto, PhotoFormat, SexMarker};
/// The domain's definitions, re-exported so receivers need only this crate: the ids
/// (docs/api.md "IDs"), the event type names, the failure codes and the environment are the same
/// types the server stores.
pub use idgate_core::api_key::Environment;
pub use idgate_core::event::EventType;
pub use idgate_core::id::{AttemptId, EventId, InvalidId, SessionId};
pub use idgate_core::session::FailureCode;

/// `data` of `verification.session.in_progress`, `…cancelled` and `…expired`: `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoData {}

/// `data` of `verification.attempt.failed`: the rejected check and the tries used so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptFailed {
    pub failure_code: FailureCode,
    pub nfc_tries_used: u32,
    pub liveness_tries_used: u32,
}

/// `data` of `verification.session.succeeded` (docs/verify.md "Claims delivered on success").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSucceeded {
    pub claims: Claims,
    /// The keys the person agreed to share, in contract order.
    pub selected_field_keys: Vec<String>,
}

/// `data` of `verification.session.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFailed {
    pub failure_code: FailureCode,
}

/// The typed `data` of an event; its variant determines the `type` on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventData {
    SessionInProgress(NoData),
    AttemptFailed(AttemptFailed),
    /// Boxed: the claims (with a portrait) dwarf every other variant.
    SessionSucceeded(Box<SessionSucceeded>),
    SessionFailed(SessionFailed),
    SessionCancelled(NoData),
    SessionExpired(NoData),
}

impl EventData {
    pub fn event_type(&self) -> EventType {
        match self {
            Self::SessionInProgress(_) => EventType::SessionInProgress,
            Self::AttemptFailed(_) => EventType::AttemptFailed,
            Self::SessionSucceeded(_) => EventType::SessionSucceeded,
            Self::SessionFailed(_) => EventType::SessionFailed,
            Self::SessionCancelled(_) => EventType::SessionCancelled,
            Self::SessionExpired(_) => EventType::SessionExpired,
        }
    }

    fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Self::SessionInProgress(d) | Self::SessionCancelled(d) | Self::SessionExpired(d) => {
                serde_json::to_value(d)
            }
            Self::AttemptFailed(d) => serde_json::to_value(d),
            Self::SessionSucceeded(d) => serde_json::to_value(d),
            Self::SessionFailed(d) => serde_json::to_value(d),
        }
    }

    fn from_value(kind: EventType, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        use serde_json::from_value;
        Ok(match kind {
            EventType::SessionInProgress => Self::SessionInProgress(from_value(data)?),
            EventType::AttemptFailed => Self::AttemptFailed(from_value(data)?),
            EventType::SessionSucceeded => Self::SessionSucceeded(from_value(data)?),
            EventType::SessionFailed => Self::SessionFailed(from_value(data)?),
            EventType::SessionCancelled => Self::SessionCancelled(from_value(data)?),
            EventType::SessionExpired => Self::SessionExpired(from_value(data)?),
        })
    }
}

/// `metadata` of every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub verification_session_id: SessionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_attempt_id: Option<AttemptId>,
    /// The share contract's version the claims were collected under.
    pub contract_version: u32,
    pub environment: Environment,
}

/// One event, as found in the plaintext of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `evt_…`, the same value as the `webhook-id` header: deduplicate on it.
    pub id: EventId,
    pub created_at: OffsetDateTime,
    pub data: EventData,
    pub metadata: Metadata,
}

impl Event {
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }

    /// The JSON bytes the sender encrypts.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parses the decrypted plaintext of a delivery.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[derive(Serialize)]
struct EventOut<'a> {
    id: &'a EventId,
    #[serde(rename = "type")]
    event_type: EventType,
    #[serde(serialize_with = "rfc3339_millis::serialize")]
    created_at: OffsetDateTime,
    data: serde_json::Value,
    metadata: &'a Metadata,
}

#[derive(Deserialize)]
struct EventIn {
    id: EventId,
    #[serde(rename = "type")]
    event_type: EventType,
    #[serde(deserialize_with = "rfc3339_millis::deserialize")]
    created_at: OffsetDateTime,
    data: serde_json::Value,
    metadata: Metadata,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EventOut {
            id: &self.id,
            event_type: self.event_type(),
            created_at: self.created_at,
            data: self.data.to_value().map_err(serde::ser::Error::custom)?,
            metadata: &self.metadata,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = EventIn::deserialize(deserializer)?;
        let data =
            EventData::from_value(raw.event_type, raw.data).map_err(serde::de::Error::custom)?;
        Ok(Self {
            id: raw.id,
            created_at: raw.created_at,
            data,
            metadata: raw.metadata,
        })
    }
}

/// docs/api.md "Conventions": RFC 3339 UTC with milliseconds; any RFC 3339 offset is accepted on
/// input.
pub mod rfc3339_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::{OffsetDateTime, UtcOffset};

    pub fn format(t: OffsetDateTime) -> String {
        let t = t.to_offset(UtcOffset::UTC);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[path = "event_test.rs"]
mod tests;
