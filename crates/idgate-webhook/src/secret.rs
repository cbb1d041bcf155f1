//! The endpoint signing secret, `whsec_` + base64 of random bytes (Standard Webhooks §"Signing
//! secrets"). Owns generation, parsing and the one place the secret may be shown; it never
//! prints itself in `Debug` and is wiped from memory when dropped.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroize;

/// The prefix Standard Webhooks uses for symmetric secrets, so libraries can tell them apart
/// from the asymmetric `whpk_`/`whsk_` keys.
pub const PREFIX: &str = "whsec_";

/// Bytes of entropy in a secret we generate (docs/webhooks.md "Endpoints": the base64 of 32 random
/// bytes).
pub const GENERATED_LEN: usize = 32;

/// Standard Webhooks recommends secrets of 24 to 64 bytes; anything outside is refused on
/// parse so a truncated copy-paste fails loudly instead of weakening the MAC.
const MIN_LEN: usize = 24;
const MAX_LEN: usize = 64;

/// A webhook signing secret. Compared and used only through HMAC; the raw bytes stay inside.
#[derive(Clone)]
pub struct WebhookSecret {
    bytes: Vec<u8>,
}

/// Why a string is not a usable `whsec_` secret. Never contains the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("webhook secret must start with `whsec_`")]
    MissingPrefix,
    #[error("webhook secret is not valid base64 after `whsec_`")]
    NotBase64,
    #[error("webhook secret must decode to {MIN_LEN}..={MAX_LEN} bytes, got {0}")]
    BadLength(usize),
    #[error("the operating system random number generator failed")]
    Rng,
}

impl WebhookSecret {
    /// A fresh secret of [`GENERATED_LEN`] bytes from the operating system CSPRNG.
    pub fn generate() -> Result<Self, SecretError> {
        let mut bytes = vec![0u8; GENERATED_LEN];
        getrandom::fill(&mut bytes).map_err(|_| SecretError::Rng)?;
        Ok(Self { bytes })
    }

    /// Parses `whsec_<base64>`, surrounding whitespace ignored (secrets are pasted from
    /// terminals and env files).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        if encoded.len() > MAX_LEN * 2 {
            return Err(SecretError::BadLength(encoded.len() * 3 / 4));
        }
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        Self::from_bytes(bytes)
    }

    /// Wraps raw secret bytes (for example after decrypting them from storage).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SecretError> {
        if !(MIN_LEN..=MAX_LEN).contains(&bytes.len()) {
            return Err(SecretError::BadLength(bytes.len()));
        }
        Ok(Self { bytes })
    }

    /// The `whsec_…` text, for the single moment it is shown to its owner (endpoint creation,
    /// rotation) or written to an encrypted store. Named so that every use stands out in review.
    pub fn expose_whsec(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.bytes))
    }

    /// The raw key bytes, for encrypting them at rest.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.bytes
    }
}

/// Constant-time, so comparing a candidate against a stored secret leaks nothing through timing.
impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.bytes.ct_eq(&other.bytes).into()
    }
}

impl Eq for WebhookSecret {}

impl Drop for WebhookSecret {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(whsec_[redacted])")
    }
}

impl std::str::FromStr for WebhookSecret {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_secret_round_trips_through_its_text_form() {
        let secret = WebhookSecret::generate().unwrap();
        let text = secret.expose_whsec();
        assert!(text.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&text[6..]).unwrap().len(), 32);
        assert_eq!(WebhookSecret::parse(&text).unwrap(), secret);
    }

    #[test]
    fn two_generated_secrets_differ() {
        assert_ne!(
            WebhookSecret::generate().unwrap(),
            WebhookSecret::generate().unwrap()
        );
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secret = WebhookSecret::generate().unwrap();
        let shown = format!("{secret:?}");
        assert!(!shown.contains(&secret.expose_whsec()[6..]));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn parse_rejects_missing_prefix_bad_base64_and_short_keys() {
        assert_eq!(
            WebhookSecret::parse("c2VjcmV0"),
            Err(SecretError::MissingPrefix)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_!!!"),
            Err(SecretError::NotBase64)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2VjcmV0"),
            Err(SecretError::BadLength(6))
        );
    }
}
