//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>, "Signature scheme"):
//! `webhook-signature: v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`, a space
//! separated list while a rotated secret still signs, plus `webhook-id` and `webhook-timestamp`.
//!
//! Owns signing and verification only; it knows nothing about the body being a JWE. Time is a
//! parameter (unix seconds), so callers and tests decide what "now" is.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit as _, Mac as _};
use subtle::ConstantTimeEq as _;

use crate::secret::WebhookSecret;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The delivery's event id, stable across retries: the receiver's idempotency key.
pub const HEADER_ID: &str = "webhook-id";
/// Unix seconds of this attempt (a retry carries a new timestamp over the same body).
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Space separated `v1,<base64>` entries.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// How far a timestamp may be from the receiver's clock (docs/webhooks.md "Signature": "more than 5
/// minutes off" is rejected), which bounds how long a captured delivery can be replayed.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Caps applied before any work, so a hostile request costs at most a few HMACs.
const MAX_ID_LEN: usize = 256;
const MAX_SIGNATURE_HEADER_LEN: usize = 4096;
const MAX_SIGNATURES: usize = 16;

/// Why a delivery's signature was not accepted. Never contains secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    #[error("malformed header `{0}`")]
    MalformedHeader(&'static str),
    #[error("timestamp is {0} s older than the tolerance allows")]
    TimestampTooOld(u64),
    #[error("timestamp is {0} s further in the future than the tolerance allows")]
    TimestampTooNew(u64),
    #[error("no `v1` signature matches the body with this secret")]
    NoMatchingSignature,
}

/// Read access to request headers, so verification works with `http::HeaderMap` (axum,
/// hyper, reqwest) as well as with plain pairs from any other framework.
pub trait HeaderSource {
    /// The value of the header `name` (lower case), if present once and valid UTF-8.
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderSource for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderSource for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderSource for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

/// What a successful verification established about the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `webhook-id`: deduplicate on this.
    pub msg_id: String,
    /// `webhook-timestamp`, unix seconds.
    pub timestamp: i64,
}

/// The `webhook-signature` value for `body`: one `v1,<base64>` per secret, space separated, so
/// receivers holding either the old or the new secret accept it during a rotation.
pub fn sign(secrets: &[WebhookSecret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| {
            format!(
                "v1,{}",
                STANDARD.encode(mac(secret, msg_id, timestamp, body))
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Verifies a delivery against one secret. See [`verify_any`].
pub fn verify(
    headers: &(impl HeaderSource + ?Sized),
    body: &[u8],
    secret: &WebhookSecret,
    now: i64,
    tolerance: Duration,
) -> Result<Verified, SignatureError> {
    verify_any(headers, body, std::slice::from_ref(secret), now, tolerance)
}

/// Verifies a delivery: the timestamp is within `tolerance` of `now` (either direction) and at
/// least one `v1,` entry equals the HMAC under at least one of `secrets`. Entries of other
/// versions (`v1a,` asymmetric signatures) are skipped, as the specification requires.
/// Comparison is constant-time.
pub fn verify_any(
    headers: &(impl HeaderSource + ?Sized),
    body: &[u8],
    secrets: &[WebhookSecret],
    now: i64,
    tolerance: Duration,
) -> Result<Verified, SignatureError> {
    let msg_id = required(headers, HEADER_ID)?;
    if msg_id.len() > MAX_ID_LEN || msg_id.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(SignatureError::MalformedHeader(HEADER_ID));
    }
    let timestamp = parse_timestamp(required(headers, HEADER_TIMESTAMP)?)?;
    check_tolerance(timestamp, now, tolerance)?;

    let signatures = required(headers, HEADER_SIGNATURE)?;
    if signatures.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(SignatureError::MalformedHeader(HEADER_SIGNATURE));
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .take(MAX_SIGNATURES)
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect();

    let mut matched = subtle::Choice::from(0u8);
    for secret in secrets {
        let expected = mac(secret, msg_id, timestamp, body);
        for candidate in &candidates {
            matched |= expected.as_slice().ct_eq(candidate.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(Verified {
            msg_id: msg_id.to_owned(),
            timestamp,
        })
    } else {
        Err(SignatureError::NoMatchingSignature)
    }
}

fn mac(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps the function
    // total without a panic path.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.key()) else {
        return Vec::new();
    };
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn required<'h>(
    headers: &'h (impl HeaderSource + ?Sized),
    name: &'static str,
) -> Result<&'h str, SignatureError> {
    match headers.header(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(SignatureError::MissingHeader(name)),
    }
}

fn parse_timestamp(text: &str) -> Result<i64, SignatureError> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedHeader(HEADER_TIMESTAMP));
    }
    text.parse()
        .map_err(|_| SignatureError::MalformedHeader(HEADER_TIMESTAMP))
}

fn check_tolerance(timestamp: i64, now: i64, tolerance: Duration) -> Result<(), SignatureError> {
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let skew = timestamp.saturating_sub(now);
    if skew > tolerance {
        return Err(SignatureError::TimestampTooNew(skew.abs_diff(tolerance)));
    }
    if skew < -tolerance {
        return Err(SignatureError::TimestampTooOld(skew.abs_diff(-tolerance)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw9iAi4mLahqM=";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    /// Computed independently with the PyPI `standardwebhooks` 1.1.0 library
    /// (`Webhook(SECRET).sign(MSG_ID, TS, BODY)`).
    const EXPECTED: &str = "v1,czUcZL/7KjAcmi9YEQFPPf5fdx2CC27KBVhhP8rIY3E=";

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(SECRET).unwrap()
    }

    fn headers(signature: &str, ts: i64) -> Vec<(String, String)> {
        vec![
            (HEADER_ID.into(), MSG_ID.into()),
            (HEADER_TIMESTAMP.into(), ts.to_string()),
            (HEADER_SIGNATURE.into(), signature.into()),
        ]
    }

    #[test]
    fn sign_matches_the_standard_webhooks_reference_library() {
        assert_eq!(sign(&[secret()], MSG_ID, TS, BODY), EXPECTED);
    }

    #[test]
    fn sign_with_two_secrets_lists_both_space_separated() {
        let other = WebhookSecret::generate().unwrap();
        let value = sign(&[secret(), other.clone()], MSG_ID, TS, BODY);
        let parts: Vec<&str> = value.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], EXPECTED);
        assert!(verify(&headers(&value, TS), BODY, &other, TS, DEFAULT_TOLERANCE).is_ok());
    }

    #[test]
    fn verify_accepts_the_reference_signature() {
        let ok = verify(
            &headers(EXPECTED, TS),
            BODY,
            &secret(),
            TS,
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        assert_eq!(
            ok,
            Verified {
                msg_id: MSG_ID.into(),
                timestamp: TS
            }
        );
    }

    #[test]
    fn verify_accepts_any_matching_entry_and_skips_other_versions() {
        let value = format!("v1a,AAAA v1,bm90IGl0 {EXPECTED}");
        assert!(verify(&headers(&value, TS), BODY, &secret(), TS, DEFAULT_TOLERANCE).is_ok());
    }

    #[test]
    fn verify_rejects_a_changed_body() {
        let err = verify(
            &headers(EXPECTED, TS),
            b"{}",
            &secret(),
            TS,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(err, Err(SignatureError::NoMatchingSignature));
    }

    #[test]
    fn verify_rejects_another_secret() {
        let other = WebhookSecret::generate().unwrap();
        let err = verify(&headers(EXPECTED, TS), BODY, &other, TS, DEFAULT_TOLERANCE);
        assert_eq!(err, Err(SignatureError::NoMatchingSignature));
    }

    #[test]
    fn verify_rejects_a_changed_id() {
        let mut h = headers(EXPECTED, TS);
        h[0].1 = "msg_other".into();
        let err = verify(&h, BODY, &secret(), TS, DEFAULT_TOLERANCE);
        assert_eq!(err, Err(SignatureError::NoMatchingSignature));
    }

    #[test]
    fn verify_accepts_timestamps_exactly_at_the_tolerance_edge() {
        let s = secret();
        assert!(
            verify(
                &headers(EXPECTED, TS),
                BODY,
                &s,
                TS + 300,
                DEFAULT_TOLERANCE
            )
            .is_ok()
        );
        assert!(
            verify(
                &headers(EXPECTED, TS),
                BODY,
                &s,
                TS - 300,
                DEFAULT_TOLERANCE
            )
            .is_ok()
        );
    }

    #[test]
    fn verify_rejects_timestamps_more_than_five_minutes_old() {
        let err = verify(
            &headers(EXPECTED, TS),
            BODY,
            &secret(),
            TS + 301,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(err, Err(SignatureError::TimestampTooOld(1)));
    }

    #[test]
    fn verify_rejects_timestamps_more_than_five_minutes_ahead() {
        let err = verify(
            &headers(EXPECTED, TS),
            BODY,
            &secret(),
            TS - 301,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(err, Err(SignatureError::TimestampTooNew(1)));
    }

    #[test]
    fn verify_names_the_missing_header() {
        let mut h = headers(EXPECTED, TS);
        h.remove(2);
        let err = verify(&h, BODY, &secret(), TS, DEFAULT_TOLERANCE);
        assert_eq!(err, Err(SignatureError::MissingHeader(HEADER_SIGNATURE)));
    }

    #[test]
    fn verify_rejects_non_numeric_and_huge_timestamps() {
        let s = secret();
        for ts in ["-1", "1e9", " 1614265330", "99999999999999999999999"] {
            let mut h = headers(EXPECTED, TS);
            h[1].1 = ts.into();
            let err = verify(&h, BODY, &s, TS, DEFAULT_TOLERANCE);
            assert_eq!(
                err,
                Err(SignatureError::MalformedHeader(HEADER_TIMESTAMP)),
                "{ts}"
            );
        }
    }

    #[test]
    fn verify_works_with_an_http_header_map() {
        let mut map = http::HeaderMap::new();
        map.insert(HEADER_ID, MSG_ID.parse().unwrap());
        map.insert(HEADER_TIMESTAMP, TS.to_string().parse().unwrap());
        map.insert(HEADER_SIGNATURE, EXPECTED.parse().unwrap());
        assert!(verify(&map, BODY, &secret(), TS, DEFAULT_TOLERANCE).is_ok());
    }
}
