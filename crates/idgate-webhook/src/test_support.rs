//! Keys for unit tests, generated once per test binary (never committed).

#![allow(clippy::panic)]

use std::sync::OnceLock;

use rsa::RsaPrivateKey;

/// A 2048-bit key shared by the tests of one binary; generation is the slow part.
pub(crate) fn private_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| generate(2048))
}

pub(crate) fn generate(bits: usize) -> RsaPrivateKey {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    match RsaPrivateKey::new(&mut rng, bits) {
        Ok(key) => key,
        Err(e) => panic!("test key generation failed: {e}"),
    }
}
