//! Typed identifiers: a short type prefix plus 64 characters drawn uniformly from `[A-Za-z0-9]`
//! with the operating system's CSPRNG (docs/api.md "IDs").
//!
//! Uniformity matters because ids are bearer capabilities in places (a session id opens the hosted
//! page): `byte % 62` over random bytes would make the first 8 symbols more likely (a bias other
//! implementations have), so bytes ≥ 248 (= 4 × 62) are rejected and redrawn.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of random characters after the prefix of every id.
pub const ID_RANDOM_LEN: usize = 64;

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Largest multiple of 62 not above 256: bytes below it map onto the alphabet without bias.
const REJECT_FROM: u8 = 248;

/// Fills `dest` from the OS CSPRNG.
///
/// # Panics
/// Only if the operating system cannot supply randomness, which leaves no safe way to continue:
/// every id and secret of the server depends on it.
pub(crate) fn fill_random(dest: &mut [u8]) {
    #[allow(clippy::expect_used)]
    getrandom::fill(dest).expect("the operating system CSPRNG is unavailable");
}

/// `len` characters drawn uniformly from `[A-Za-z0-9]` by rejection sampling.
pub fn random_alphanumeric(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 96];
    while out.len() < len {
        fill_random(&mut buf);
        for &b in &buf {
            if out.len() == len {
                break;
            }
            if b < REJECT_FROM {
                let symbol = ALPHABET.get(usize::from(b % 62)).copied().unwrap_or(b'A');
                out.push(char::from(symbol));
            }
        }
    }
    out
}

/// Whether `s` is exactly `prefix` followed by [`ID_RANDOM_LEN`] ASCII letters and digits.
pub(crate) fn matches_id(s: &str, prefix: &str) -> bool {
    match s.strip_prefix(prefix) {
        Some(rest) => {
            rest.len() == ID_RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// The input did not have the shape of the expected id type. Carries no input text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid `{prefix}` id")]
pub struct InvalidId {
    pub prefix: &'static str,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The type prefix, including the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn generate() -> Self {
                let mut s = String::with_capacity($prefix.len() + ID_RANDOM_LEN);
                s.push_str($prefix);
                s.push_str(&random_alphanumeric(ID_RANDOM_LEN));
                Self(s)
            }

            /// Accepts exactly `^<prefix>[A-Za-z0-9]{64}$`.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                if matches_id(s, $prefix) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(InvalidId { prefix: $prefix })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// A verification session (`vs_`), the seed pattern `^vs_[A-Za-z0-9]{64}$`.
    SessionId, "vs_"
);
typed_id!(
    /// One end-user try inside a session (`va_`).
    AttemptId, "va_"
);
typed_id!(
    /// An outbox event (`evt_`).
    EventId, "evt_"
);
typed_id!(
    /// One event sent to one webhook endpoint (`whd_`).
    DeliveryId, "whd_"
);
typed_id!(
    /// A webhook endpoint (`whe_`).
    EndpointId, "whe_"
);
typed_id!(
    /// An integrator's RSA public key for webhook encryption (`whk_`).
    EncryptionKeyId, "whk_"
);
typed_id!(
    /// An organization, the unit of tenancy (`org_`).
    OrgId, "org_"
);
typed_id!(
    /// The public id of an API key (`key_`); never the secret itself.
    ApiKeyId, "key_"
);
typed_id!(
    /// A CSCA certificate of the operator's trust store (`csca_`).
    TrustAnchorId, "csca_"
);
typed_id!(
    /// A CRL of the operator's trust store (`crl_`).
    TrustCrlId, "crl_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_match_the_seed_pattern() {
        for _ in 0..100 {
            let id = SessionId::generate();
            assert!(matches_id(id.as_str(), "vs_"), "{id}");
            assert_eq!(id.as_str().len(), 3 + 64);
            assert_eq!(SessionId::parse(id.as_str()), Ok(id));
        }
    }

    #[test]
    fn every_id_type_has_its_prefix() {
        assert!(AttemptId::generate().as_str().starts_with("va_"));
        assert!(EventId::generate().as_str().starts_with("evt_"));
        assert!(DeliveryId::generate().as_str().starts_with("whd_"));
        assert!(EndpointId::generate().as_str().starts_with("whe_"));
        assert!(EncryptionKeyId::generate().as_str().starts_with("whk_"));
        assert!(OrgId::generate().as_str().starts_with("org_"));
        assert!(ApiKeyId::generate().as_str().starts_with("key_"));
    }

    #[test]
    fn parse_rejects_wrong_prefix_length_and_alphabet() {
        let good = format!("vs_{}", "a".repeat(64));
        assert!(SessionId::parse(&good).is_ok());
        assert!(SessionId::parse(&format!("vs_{}", "a".repeat(63))).is_err());
        assert!(SessionId::parse(&format!("vs_{}", "a".repeat(65))).is_err());
        assert!(SessionId::parse(&format!("vs_live_{}", "a".repeat(64))).is_err());
        assert!(SessionId::parse(&format!("va_{}", "a".repeat(64))).is_err());
        assert!(SessionId::parse(&format!("vs_{}-", "a".repeat(63))).is_err());
        assert!(SessionId::parse(&format!("vs_{}é", "a".repeat(62))).is_err());
        assert!(SessionId::parse("").is_err());
    }

    #[test]
    fn random_symbols_are_roughly_uniform_over_all_62() {
        let sample = random_alphanumeric(62 * 400);
        let mut counts = [0u32; 128];
        for b in sample.bytes() {
            counts[usize::from(b)] += 1;
        }
        for &symbol in ALPHABET {
            let c = counts[usize::from(symbol)];
            // Expected 400 each; a biased `% 62` would give the first 8 symbols ~25 % more.
            assert!(
                (280..=520).contains(&c),
                "symbol {} seen {c} times",
                char::from(symbol)
            );
        }
    }

    #[test]
    fn ids_round_trip_through_serde_as_strings() {
        let id = EventId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: EventId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<EventId>("\"evt_short\"").is_err());
    }
}
