//! `Idempotency-Key` handling (docs/api.md "Create"): a repeat of a create with the same key and
//! the same body returns the first response byte for byte for 24 hours; the same key with another
//! body is `409 IDEMPOTENCY_KEY_REUSED`.

use sha2::{Digest, Sha256};

use crate::error::Error;

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A validated `Idempotency-Key` header: 1..=255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if raw.is_empty()
            || raw.len() > MAX_IDEMPOTENCY_KEY_LEN
            || !raw.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::invalid_param(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of what identifies a request (method, path and body bytes), lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestFingerprint(String);

impl RequestFingerprint {
    pub fn of(method: &str, path: &str, body: &[u8]) -> Self {
        let mut h = Sha256::new();
        for part in [method.as_bytes(), path.as_bytes()] {
            h.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            h.update(part);
        }
        h.update(body);
        Self(hex::encode(h.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_1_to_255_visible_ascii() {
        assert!(IdempotencyKey::parse("order-42").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("ключ").is_err());
    }

    #[test]
    fn fingerprint_changes_with_any_part() {
        let a = RequestFingerprint::of("POST", "/v1/sessions", b"{}");
        assert_eq!(a, RequestFingerprint::of("POST", "/v1/sessions", b"{}"));
        assert_ne!(a, RequestFingerprint::of("POST", "/v1/sessions", b"{ }"));
        assert_ne!(a, RequestFingerprint::of("POST", "/v1/session", b"s{}"));
        assert_eq!(a.as_str().len(), 64);
    }
}
