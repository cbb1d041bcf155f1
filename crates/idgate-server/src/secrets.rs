//! Server secrets kept in the data directory: the API-key hash key (keys are stored only as
//! HMAC-SHA256 under it, api.md "Authentication"), the document-id pseudonym key
//! (`kayle_document_id`, api.md "Share contract") and the key-encryption key for stored private keys.
//!
//! Each is 32 random bytes from the OS CSPRNG, written hex-encoded on first start with mode 0600
//! and loaded on every later start. Creation is atomic (write a private temporary file, then
//! hard-link it into place, which fails if another process won the race), so `idgate serve` and
//! `idgate keys create` started at the same moment agree on one key. Nodes sharing a PostgreSQL
//! database must share these files, or API keys created on one node will not authenticate on another.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
}

impl ServerSecrets {
    /// Loads the secrets from `data_dir`, creating the directory and any missing secret.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SecretsError> {
        fs::create_dir_all(data_dir).map_err(|source| SecretsError::Io {
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
