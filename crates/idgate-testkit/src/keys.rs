//! A webhook receiver's RSA key pair (feature `keys`), generated at test time so no private key
//! is ever committed. The sender encrypts to the public half (JWE, RSA-OAEP-256), so every test
//! that opens a delivery needs one; generation is the slow step, hence one per test binary.

use std::path::PathBuf;
use std::sync::OnceLock;

use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};

/// A receiver key pair, also written as PEM files for the tools that want files.
pub struct ReceiverKey {
    pub private: RsaPrivateKey,
    /// The public half as SPKI PEM (what an integrator uploads).
    pub public_pem: String,
    /// The private key as PKCS #8 PEM, written at `private_pem_path`.
    pub private_pem_path: PathBuf,
    /// [`ReceiverKey::public_pem`], written to a file.
    pub public_pem_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ReceiverKey {
    /// A new 2048-bit pair.
    pub fn generate() -> Self {
        let private = rsa_key(2048);
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("SPKI PEM");
        let private_pem = private.to_pkcs8_pem(LineEnding::LF).expect("PKCS #8 PEM");
        let dir = tempfile::tempdir().expect("temporary directory");
        let private_pem_path = dir.path().join("receiver-key.pem");
        let public_pem_path = dir.path().join("receiver-key.pub.pem");
        std::fs::write(&private_pem_path, private_pem.as_bytes()).expect("write the private key");
        std::fs::write(&public_pem_path, public_pem.as_bytes()).expect("write the public key");
        Self {
            private,
            public_pem,
            private_pem_path,
            public_pem_path,
            _dir: dir,
        }
    }
}

/// One receiver key pair per test binary.
pub fn receiver_key() -> &'static ReceiverKey {
    static KEY: OnceLock<ReceiverKey> = OnceLock::new();
    KEY.get_or_init(ReceiverKey::generate)
}

/// A new RSA private key of `bits` bits from the operating system's generator.
pub fn rsa_key(bits: usize) -> RsaPrivateKey {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    RsaPrivateKey::new(&mut rng, bits)
        .unwrap_or_else(|e| panic!("{bits}-bit RSA key generation failed: {e}"))
}

#[cfg(test)]
mod tests {
    use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
    use rsa::traits::PublicKeyParts as _;

    use super::*;

    #[test]
    fn the_pem_files_hold_the_pair() {
        let key = receiver_key();
        let private =
            RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&key.private_pem_path).unwrap())
                .unwrap();
        assert_eq!(private, key.private);
        let public = rsa::RsaPublicKey::from_public_key_pem(
            &std::fs::read_to_string(&key.public_pem_path).unwrap(),
        )
        .unwrap();
        assert_eq!(public, key.private.to_public_key());
        assert_eq!(public.size(), 256);
    }
}
