//! The attempt's vault and its bearer token (docs/verify.md "Privacy").
//!
//! Between steps an attempt needs what earlier steps produced: the server's active-authentication
//! challenge and chip-authentication session, the liveness challenge, and once the document was
//! accepted its DG1 and DG2 (for the face match and the claims). They are kept in the database so
//! that any node can serve the next step, sealed with AES-256-GCM under a key derived from the
//! attempt's bearer token. The server stores only a keyed hash of that token, so neither the
//! database nor the server's own secret files can open a vault: only a request that carries the
//! token can. The vault is dropped (set to NULL) when the attempt ends.
//!
//! Derivations use HMAC-SHA256 as a PRF (RFC 2104), with a label per purpose so that the vault key
//! and the retry digest key never coincide.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use idgate_core::Secret;
use idgate_core::id::{AttemptId, random_alphanumeric};
use idgate_core::mac::hmac_sha256;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// Prefix of an attempt's bearer token.
pub const TOKEN_PREFIX: &str = "vat_";
/// Random characters after the prefix: 48 of 62 symbols, about 285 bits.
pub const TOKEN_RANDOM_LEN: usize = 48;
const NONCE_LEN: usize = 12;

/// Why a vault could not be opened or sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// Not base64, too short, or the tag did not verify: another token, another attempt, or a
    /// modified row.
    #[error("the vault does not open with this token")]
    Unreadable,
    #[error("the vault could not be encoded")]
    Encode,
    #[error("the operating system's random source failed")]
    Randomness,
}

/// An attempt's bearer token (`vat_…`), shown once in the handoff and carried by every call of
/// the mobile API. Redacted in `Debug`.
#[derive(Clone)]
pub struct AttemptToken(Secret<String>);

impl std::fmt::Debug for AttemptToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttemptToken(<redacted>)")
    }
}

impl AttemptToken {
    pub fn generate() -> Self {
        Self(Secret::new(format!(
            "{TOKEN_PREFIX}{}",
            random_alphanumeric(TOKEN_RANDOM_LEN)
        )))
    }

    /// A token as presented by a client; `None` unless it has the token's shape.
    pub fn parse(text: &str) -> Option<Self> {
        let random = text.strip_prefix(TOKEN_PREFIX)?;
        (random.len() == TOKEN_RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(Secret::new(text.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The key that seals this attempt's vault.
    pub fn vault_key(&self, attempt: &AttemptId) -> VaultKey {
        VaultKey(prf(
            self.expose().as_bytes(),
            "idgate attempt vault v1",
            attempt,
        ))
    }
}

/// AES-256 key of one attempt's vault; zeroized on drop.
pub struct VaultKey(Zeroizing<[u8; 32]>);

impl VaultKey {
    /// A keyed digest of an upload, recorded with its verdict so that a retry of the same bytes
    /// is recognised without keeping the bytes (docs/verify.md: steps are idempotent).
    pub fn upload_digest(&self, step: &str, upload: &[u8]) -> String {
        hex::encode(hmac_sha256(
            self.0.as_slice(),
            &[b"idgate upload digest v1\0", step.as_bytes(), b"\0", upload],
        ))
    }
}

fn prf(key: &[u8], label: &str, attempt: &AttemptId) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(hmac_sha256(
        key,
        &[label.as_bytes(), b"\0", attempt.as_str().as_bytes()],
    ))
}

/// What an attempt keeps between steps. Bytes travel as base64 inside the sealed JSON.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vault {
    /// The active-authentication challenge issued at hello (ICAO 9303-11 §6.1), single use.
    #[serde(default, with = "b64_opt")]
    pub aa_challenge: Option<Vec<u8>>,
    /// The serialised chip-authentication session (`emrtd::chip_auth::ChipAuthSession`).
    #[serde(default, with = "b64_opt")]
    pub chip_auth_session: Option<Vec<u8>>,
    /// DG14 as uploaded when chip authentication started; the document upload must match it.
    #[serde(default, with = "b64_opt")]
    pub chip_auth_dg14: Option<Vec<u8>>,
    /// The liveness challenge issued with the document verdict.
    #[serde(default)]
    pub face_challenge: Option<serde_json::Value>,
    /// DG1 and DG2 of the accepted document, for the face match and the claims.
    #[serde(default, with = "b64_opt")]
    pub dg1: Option<Vec<u8>>,
    #[serde(default, with = "b64_opt")]
    pub dg2: Option<Vec<u8>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<sealed contents>)")
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        for bytes in [
            &mut self.aa_challenge,
            &mut self.chip_auth_session,
            &mut self.chip_auth_dg14,
            &mut self.dg1,
            &mut self.dg2,
        ]
        .into_iter()
        .flatten()
        {
            bytes.zeroize();
        }
    }
}

impl Vault {
    /// Seals the vault for `attempt`: base64 of nonce ‖ ciphertext ‖ tag, the attempt id as
    /// associated data so a vault copied to another attempt's row does not open.
    pub fn seal(&self, key: &VaultKey, attempt: &AttemptId) -> Result<String, VaultError> {
        let plain = Zeroizing::new(serde_json::to_vec(self).map_err(|_| VaultError::Encode)?);
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| VaultError::Randomness)?;
        let cipher = Aes256Gcm::new_from_slice(key.0.as_slice()).map_err(|_| VaultError::Encode)?;
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: attempt.as_str().as_bytes(),
                },
            )
            .map_err(|_| VaultError::Encode)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    pub fn open(sealed: &str, key: &VaultKey, attempt: &AttemptId) -> Result<Self, VaultError> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| VaultError::Unreadable)?;
        let (nonce, body) = bytes
            .split_at_checked(NONCE_LEN)
            .ok_or(VaultError::Unreadable)?;
        let cipher =
            Aes256Gcm::new_from_slice(key.0.as_slice()).map_err(|_| VaultError::Unreadable)?;
        let nonce = Nonce::try_from(nonce).map_err(|_| VaultError::Unreadable)?;
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: body,
                        aad: attempt.as_str().as_bytes(),
                    },
                )
                .map_err(|_| VaultError::Unreadable)?,
        );
        serde_json::from_slice(&plain).map_err(|_| VaultError::Unreadable)
    }
}

mod b64_opt {
    use super::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(
        clippy::ref_option,
        reason = "serde's `with` passes a reference to the field"
    )]
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_some(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                STANDARD
                    .decode(text)
                    .map_err(|_| serde::de::Error::custom("not base64"))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn a_vault_opens_only_with_its_token_and_attempt() {
        let token = AttemptToken::generate();
        let attempt = AttemptId::generate();
        let mut vault = Vault::default();
        vault.dg1 = Some(b"P<UTOERIKSSON<<ANNA<MARIA".to_vec());
        let sealed = vault.seal(&token.vault_key(&attempt), &attempt).unwrap();
        assert!(!sealed.contains("ERIKSSON"));
        let opened = Vault::open(&sealed, &token.vault_key(&attempt), &attempt).unwrap();
        assert_eq!(opened.dg1, vault.dg1);
        let other_token = AttemptToken::generate();
        assert_eq!(
            Vault::open(&sealed, &other_token.vault_key(&attempt), &attempt).unwrap_err(),
            VaultError::Unreadable
        );
        let other_attempt = AttemptId::generate();
        assert_eq!(
            Vault::open(&sealed, &token.vault_key(&attempt), &other_attempt).unwrap_err(),
            VaultError::Unreadable
        );
        assert_eq!(
            Vault::open("AAAA", &token.vault_key(&attempt), &attempt).unwrap_err(),
            VaultError::Unreadable
        );
    }

    #[test]
    fn tokens_have_one_shape_and_redact_themselves() {
        let token = AttemptToken::generate();
        assert!(AttemptToken::parse(token.expose()).is_some());
        assert!(AttemptToken::parse("vat_short").is_none());
        assert!(AttemptToken::parse(&token.expose().replace("vat_", "kk_")).is_none());
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn upload_digests_depend_on_the_step_the_bytes_and_the_key() {
        let attempt = AttemptId::generate();
        let key = AttemptToken::generate().vault_key(&attempt);
        let other = AttemptToken::generate().vault_key(&attempt);
        assert_eq!(
            key.upload_digest("document", b"x"),
            key.upload_digest("document", b"x")
        );
        assert_ne!(
            key.upload_digest("document", b"x"),
            key.upload_digest("liveness", b"x")
        );
        assert_ne!(
            key.upload_digest("document", b"x"),
            other.upload_digest("document", b"x")
        );
    }
}
