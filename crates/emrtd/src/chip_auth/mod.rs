//! Chip Authentication version 1, terminal side, run by the server through a relaying client
//! (ICAO 9303-11 §6.2, BSI TR-03110-1 §3.4 / TR-03110-3 §B).
//!
//! Chip authentication proves that the chip holds the private key of the static key-agreement
//! key in DG14 (which passive authentication bound to the document signer), so the chip is not
//! a copy. The terminal sends an ephemeral public key; both sides compute the key-agreement
//! secret `K` (ECDH, BSI TR-03111 §4.3.1, or DH, PKCS#3) and derive new secure-messaging keys
//! from it (ICAO 9303-11 §9.7.1). Only a chip with the private key can produce a response that
//! verifies under those keys.
//!
//! # The relay
//! The client (the phone) is never trusted, so the server plays the terminal and the phone only
//! carries bytes. The exact sequence the mobile client performs:
//!
//! 1. Read every data group it needs **first**, under BAC or PACE secure messaging. After step 3
//!    the chip speaks only with keys the phone does not have.
//! 2. Upload DG14; the server calls [`ChipAuthSession::start`], keeps the serialised session
//!    ([`ChipAuthSession::to_bytes`], encrypted in the attempt's vault) and returns
//!    [`ClientInstructions`].
//! 3. Send [`ClientInstructions::mse_apdu`] to the chip *wrapped in the current BAC/PACE secure
//!    messaging*: for 3DES protocols this is MSE:Set KAT carrying the ephemeral public key
//!    (ICAO 9303-11 §6.2.4.1); for AES protocols it is MSE:Set AT naming the protocol, followed by
//!    [`ClientInstructions::general_authenticate_apdu`] (General Authenticate with the ephemeral
//!    key, ICAO 9303-11 §6.2.4.2), also wrapped. The chip answers `90 00` and switches to the
//!    new keys with a send sequence counter of zero.
//! 4. Send [`ClientInstructions::protected_command_apdu`] **as is**, without any further
//!    wrapping: the server already protected it with the new session keys (SSC 1). It is a READ
//!    BINARY of the first bytes of EF.COM by short file identifier.
//! 5. Return the chip's complete response APDU (data objects and SW1-SW2) unchanged; the server
//!    calls [`ChipAuthSession::verify_response`]. A correct `DO'8E'` MAC (SSC 2) proves the chip
//!    derived the same keys, i.e. holds the DG14 private key. The decrypted bytes, the start of
//!    EF.COM, can be compared with the uploaded EF.COM as a consistency check.
//!
//! The ephemeral private key is used once inside [`ChipAuthSession::start`] and zeroized there;
//! the session keeps only the derived secure-messaging keys, which are zeroized on drop.
//! For P-256/384/521 and brainpoolP256r1/384r1 the ephemeral key and ECDH use the constant-time
//! RustCrypto crates; other curves (brainpoolP224r1, brainpoolP512r1, explicit parameters) and
//! DH use the variable-time generic arithmetic of [`crate::crypto::ec`] and `num-bigint`, which
//! can leak timing about a scalar that lives for one authentication only.
//!
//! The module is split by concern: [`protocol`] (protocol identifiers and DG14 parameters),
//! [`keys`] (the chip's static key and DH groups), `agreement` (the terminal's ephemeral key
//! agreement), `apdu` (the command APDUs the client relays), [`session`] (the server-side
//! state between instructions and response). Secure messaging itself is [`crate::sm`], shared
//! with the terminal's BAC and PACE sessions ([`crate::reader`]); it is re-exported here as
//! [`sm`] for the callers that reached it through this module.

mod agreement;
mod apdu;
pub mod keys;
pub mod protocol;
pub mod session;
pub use crate::sm;

use sm::SmError;

#[cfg(feature = "testkit")]
pub(crate) use agreement::chip_side_secret;
pub(crate) use keys::ChipKey;
pub use keys::DhGroup;
pub use protocol::{CaProtocol, ChipAuthParams, KeyAgreement};
pub use session::{ChipAuthOutcome, ChipAuthSession, ClientInstructions};

/// Largest DH modulus accepted from DG14, in bits (bounds the modular exponentiation cost).
pub const MAX_DH_BITS: u64 = 4096;

/// Short file identifier of EF.COM (ICAO 9303-10 §4.6.1, Table 37).
pub const EF_COM_SFI: u8 = 0x1E;

/// Bytes of EF.COM the protected READ BINARY asks for: the tag, length and start of the LDS
/// version, which every EF.COM has.
pub const PROBE_READ_LEN: u8 = 4;

/// Object identifiers of ICAO 9303-11 §9.2.5 / BSI TR-03110-3 §A.1.1.
pub mod oid {
    use der::asn1::ObjectIdentifier;
    pub const ID_PK_DH: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.1.1");
    pub const ID_PK_ECDH: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.1.2");
    /// X9.42 `dhpublicnumber` (RFC 3279 §2.3.3).
    pub const DH_PUBLIC_NUMBER: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10046.2.1");
    /// PKCS#3 `dhKeyAgreement`.
    pub const DH_KEY_AGREEMENT: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.3.1");
    /// `id-CA` arc; `id-CA-DH` is `.1`, `id-CA-ECDH` is `.2`, each followed by the cipher suite.
    pub const ID_CA: &str = "0.4.0.127.0.7.2.2.3";
}

/// Why chip authentication could not be run or did not prove key possession.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChipAuthError {
    #[error("chip-authentication protocol {0} is not supported")]
    UnsupportedProtocol(String),
    #[error("the DG14 chip public key is malformed or does not match the protocol")]
    MalformedChipKey,
    #[error("the DG14 chip public key uses an unsupported curve or group")]
    UnsupportedDomain,
    #[error("the chip's response is not a valid secure-messaging response: {0}")]
    Response(#[from] SmError),
    #[error("the stored chip-authentication session is malformed")]
    MalformedSession,
}

impl ChipAuthError {
    /// True when the chip answered but failed to prove possession of the DG14 private key
    /// (`document_chip_authentication_failed`), as opposed to an input or server problem.
    pub fn is_proof_failure(&self) -> bool {
        matches!(self, Self::Response(_))
    }
}
