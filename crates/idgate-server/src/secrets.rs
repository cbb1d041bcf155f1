//! Server secrets kept in the data directory: the API-key hash key (keys are stored only as
//! HMAC-SHA256 under it, docs/api.md "Authentication and tenancy"), the document-id pseudonym key
//! (`kayle_document_id`, docs/docs/api.md "Share contract") and the key-encryption key for stored
//! private keys.
//!
//! Each is 32 random bytes from the OS CSPRNG, written hex-encoded on first start with mode 0600
//! and loaded on every later start. Creation is atomic (write a private temporary file, then
//! hard-link it into place, which fails if another process won the race), so `idgate serve` and
//! `idgate keys create` started at the same moment agree on one key. Nodes sharing a PostgreSQL
//! database must share these files, or API keys created on one node will not authenticate on another.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idgate_core::{EndpointId, EventId};
use idgate_webhook::WebhookSecret;
use zeroize::Zeroizing;

/// Length of every server secret in bytes (256-bit keys for HMAC-SHA256 and AES-256).
pub const SECRET_LEN: usize = 32;

/// A 256-bit server secret; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; SECRET_LEN]);

impl SecretKey {
    pub fn expose(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The three secrets of one installation.
#[derive(Debug, Clone)]
pub struct ServerSecrets {
    pub api_key_hash: SecretKey,
    pub document_id: SecretKey,
    pub key_encryption: SecretKey,
}

/// Why the secrets could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot access secret file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("secret file {path} is not {SECRET_LEN} hex-encoded bytes")]
    Malformed { path: PathBuf },
    #[error("the operating system random generator failed")]
    Random,
    /// A sealed signing secret that does not open under this key-encryption key for this
    /// endpoint: tampered, moved to another endpoint, or sealed by another installation.
    #[error("sealed signing secret does not open")]
    Unseal,
}

impl ServerSecrets {
    /// Loads the secrets from `data_dir`, creating the directory (owner only, see
    /// [`crate::data_dir`]) and any missing secret.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SecretsError> {
        crate::data_dir::ensure(data_dir).map_err(|source| SecretsError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        Ok(Self {
            api_key_hash: load_or_create_one(&data_dir.join("api_key_hash.key"))?,
            document_id: load_or_create_one(&data_dir.join("document_id.key"))?,
            key_encryption: load_or_create_one(&data_dir.join("key_encryption.key"))?,
        })
    }
}

/// Bytes of the AES-GCM nonce (NIST SP 800-38D §8.2.2: 96-bit random nonces).
const NONCE_LEN: usize = 12;
/// Bytes of the AES-GCM authentication tag.
const TAG_LEN: usize = 16;

impl ServerSecrets {
    /// Seals an endpoint's signing secret for storage (docs/webhooks.md "Endpoints",
    /// signing secret), bound to the endpoint id (see [`Self::seal`]).
    pub fn seal_signing_secret(&self, endpoint: &EndpointId, secret: &WebhookSecret) -> String {
        self.seal(endpoint.as_str(), secret.expose_bytes())
    }

    /// Opens what [`ServerSecrets::seal_signing_secret`] sealed for the same endpoint.
    pub fn open_signing_secret(
        &self,
        endpoint: &EndpointId,
        sealed: &str,
    ) -> Result<WebhookSecret, SecretsError> {
        let plain = self.open(endpoint.as_str(), sealed)?;
        WebhookSecret::from_bytes(plain.to_vec()).map_err(|_| SecretsError::Unseal)
    }

    /// Seals the claims of a succeeded session until the webhook worker encrypts them to the
    /// integrator's key (docs/verify.md "Privacy"), bound to the event id.
    pub fn seal_claims(&self, event: &EventId, claims_json: &[u8]) -> String {
        self.seal(event.as_str(), claims_json)
    }

    /// Opens what [`ServerSecrets::seal_claims`] sealed for the same event.
    pub fn open_claims(
        &self,
        event: &EventId,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        self.open(event.as_str(), sealed)
    }

    /// AES-256-GCM under `key_encryption` with a fresh random 96-bit nonce and `owner` (the id
    /// of the row the value belongs to) as associated data, so a sealed value copied to another
    /// row does not open. Output: `base64url(nonce ‖ ciphertext ‖ tag)`, no padding.
    ///
    /// # Panics
    /// Only if the operating system cannot supply randomness (see `idgate_core::id`).
    fn seal(&self, owner: &str, plain: &[u8]) -> String {
        use aes_gcm::aead::{Aead as _, Payload};
        use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
        let mut nonce = [0u8; NONCE_LEN];
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut nonce).expect("the operating system CSPRNG is unavailable");
        let cipher = Aes256Gcm::new(self.key_encryption.expose().into());
        // Encryption fails only for inputs beyond 2^36 bytes.
        #[allow(clippy::expect_used)]
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: owner.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a bounded value");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    fn open(&self, owner: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        use aes_gcm::aead::{Aead as _, Payload};
        use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| SecretsError::Unseal)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretsError::Unseal);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretsError::Unseal)?;
        let cipher = Aes256Gcm::new(self.key_encryption.expose().into());
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SecretsError::Unseal)
    }

    /// A keyed hash (HMAC-SHA256 under the API-key hash key) of an attempt token or a device id:
    /// stored and looked up instead of the value (docs/verify.md "HTTP surface").
    pub fn keyed_hash(&self, purpose: &str, value: &str) -> String {
        hex::encode(idgate_core::mac::hmac_sha256(
            self.api_key_hash.expose(),
            &[purpose.as_bytes(), b"\0", value.as_bytes()],
        ))
    }

    /// Secrets from fixed bytes, for tests of code that needs a [`ServerSecrets`].
    pub fn from_keys(
        api_key_hash: [u8; SECRET_LEN],
        document_id: [u8; SECRET_LEN],
        key_encryption: [u8; SECRET_LEN],
    ) -> Self {
        Self {
            api_key_hash: SecretKey(api_key_hash),
            document_id: SecretKey(document_id),
            key_encryption: SecretKey(key_encryption),
        }
    }
}

fn load_or_create_one(path: &Path) -> Result<SecretKey, SecretsError> {
    match read_one(path) {
        Err(SecretsError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut bytes = [0u8; SECRET_LEN];
    getrandom::fill(&mut bytes).map_err(|_| SecretsError::Random)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    write_private(&tmp, hex::encode(bytes).as_bytes()).map_err(|source| SecretsError::Io {
        path: tmp.clone(),
        source,
    })?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(SecretKey(bytes)),
        // Another process created it first: theirs is the one every process must use.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_one(path),
        Err(source) => Err(SecretsError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn read_one(path: &Path) -> Result<SecretKey, SecretsError> {
    let text = fs::read_to_string(path).map_err(|source| SecretsError::Io {
        path: path.to_owned(),
        source,
    })?;
    let decoded = hex::decode(text.trim()).map_err(|_| SecretsError::Malformed {
        path: path.to_owned(),
    })?;
    let bytes: [u8; SECRET_LEN] = decoded.try_into().map_err(|_| SecretsError::Malformed {
        path: path.to_owned(),
    })?;
    Ok(SecretKey(bytes))
}

fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
#[path = "secrets_test.rs"]
mod tests;

#[cfg(test)]
mod sealing_tests {
    use super::*;

    fn secrets(kek: u8) -> ServerSecrets {
        ServerSecrets::from_keys([1; SECRET_LEN], [2; SECRET_LEN], [kek; SECRET_LEN])
    }

    #[test]
    fn sealed_signing_secret_opens_to_the_same_secret() {
        let s = secrets(7);
        let endpoint = EndpointId::generate();
        let secret = WebhookSecret::generate().unwrap();
        let sealed = s.seal_signing_secret(&endpoint, &secret);
        assert!(!sealed.contains(&secret.expose_whsec()[6..]));
        assert_eq!(s.open_signing_secret(&endpoint, &sealed).unwrap(), secret);
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let s = secrets(7);
        let endpoint = EndpointId::generate();
        let secret = WebhookSecret::generate().unwrap();
        assert_ne!(
            s.seal_signing_secret(&endpoint, &secret),
            s.seal_signing_secret(&endpoint, &secret)
        );
    }

    #[test]
    fn sealed_secret_does_not_open_for_another_endpoint() {
        let s = secrets(7);
        let secret = WebhookSecret::generate().unwrap();
        let sealed = s.seal_signing_secret(&EndpointId::generate(), &secret);
        assert!(matches!(
            s.open_signing_secret(&EndpointId::generate(), &sealed),
            Err(SecretsError::Unseal)
        ));
    }

    #[test]
    fn sealed_secret_does_not_open_under_another_key_encryption_key() {
        let endpoint = EndpointId::generate();
        let secret = WebhookSecret::generate().unwrap();
        let sealed = secrets(7).seal_signing_secret(&endpoint, &secret);
        assert!(secrets(8).open_signing_secret(&endpoint, &sealed).is_err());
    }

    #[test]
    fn tampered_or_truncated_sealed_secret_does_not_open() {
        let s = secrets(7);
        let endpoint = EndpointId::generate();
        let secret = WebhookSecret::generate().unwrap();
        let sealed = s.seal_signing_secret(&endpoint, &secret);
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let tampered = URL_SAFE_NO_PAD.encode(&bytes);
            assert!(
                s.open_signing_secret(&endpoint, &tampered).is_err(),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        assert!(s.open_signing_secret(&endpoint, &sealed[..20]).is_err());
        assert!(s.open_signing_secret(&endpoint, "not base64 !").is_err());
        assert!(s.open_signing_secret(&endpoint, "").is_err());
    }

    #[test]
    fn debug_of_the_secrets_shows_no_key_material() {
        let shown = format!("{:?}", secrets(0xab));
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("abab"));
    }
}
