//! ICAO 9303 electronic machine-readable travel documents (eMRTD), as a library.
//!
//! This crate owns everything about a passport chip's data and the cryptography it carries:
//! parsing (BER-TLV, MRZ, LDS data groups, the Document Security Object) and verification
//! (passive, active and chip authentication, trust stores built from CSCA certificates and
//! master lists). It performs no I/O and has no async code: callers hand it bytes and a clock
//! reading, and receive structured reports. Every parser takes `&[u8]`, returns a `Result`,
//! bounds its recursion and never allocates from an untrusted length without a cap.

pub mod active;
pub mod chip_auth;
pub mod crypto;
pub mod lds;
pub mod mrz;
pub mod passive;
pub mod pki;
pub mod sod;
pub mod tlv;

#[cfg(feature = "testkit")]
pub mod testkit;
