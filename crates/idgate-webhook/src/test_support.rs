//! Keys for unit tests, generated at test time (never committed) by the workspace's one key
//! generator (`idgate_testkit::keys`).

use rsa::RsaPrivateKey;

/// A 2048-bit key shared by the tests of one binary; generation is the slow part.
pub(crate) fn private_key() -> &'static RsaPrivateKey {
    &idgate_testkit::keys::receiver_key().private
}

pub(crate) fn generate(bits: usize) -> RsaPrivateKey {
    idgate_testkit::keys::rsa_key(bits)
}
