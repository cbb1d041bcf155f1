//! Prefixed identifiers as they appear in events (api.md "IDs": a prefix plus 64 characters of
//! `[A-Za-z0-9]`). Parsed once at the edge, so the rest of a receiver never sees a malformed id.

use serde::{Deserialize, Serialize};

const BODY_LEN: usize = 64;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a `{prefix}` id: expected the prefix and {BODY_LEN} characters of [A-Za-z0-9]")]
pub struct IdError {
    pub prefix: &'static str,
}

fn check(prefix: &'static str, text: &str) -> Result<(), IdError> {
    let ok = text.strip_prefix(prefix).is_some_and(|body| {
        body.len() == BODY_LEN && body.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if ok { Ok(()) } else { Err(IdError { prefix }) }
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn parse(text: &str) -> Result<Self, IdError> {
                check(Self::PREFIX, text).map(|()| Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                check(Self::PREFIX, &text).map(|()| Self(text))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// `evt_…`: an event, and the `webhook-id` of its deliveries.
    EventId,
    "evt_"
);
prefixed_id!(
    /// `vs_…`: a verification session.
    SessionId,
    "vs_"
);
prefixed_id!(
    /// `va_…`: one attempt within a session.
    AttemptId,
    "va_"
);
