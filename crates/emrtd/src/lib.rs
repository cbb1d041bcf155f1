//! ICAO 9303 electronic machine-readable travel documents (eMRTD), as a library.
//!
//! This crate owns everything about a passport chip's data and the cryptography it carries:
//! parsing (BER-TLV, MRZ, LDS data groups, the Document Security Object) and verification
//! (passive, active and chip authentication, trust stores built from CSCA certificates and
//! master lists). It performs no I/O and has no async code: callers hand it bytes and a clock
//! reading, and receive structured reports. Every parser takes `&[u8]`, returns a `Result`,
//! bounds its recursion and never allocates from an untrusted length without a cap.
//!
//! The terminal side lives here too, still without I/O: [`reader`] runs BAC, PACE, secure
//! messaging, file reads, active and chip authentication over a caller-supplied
//! [`reader::Transport`] (one APDU in, one out), for desktop readers and, through generated
//! bindings such as UniFFI, phone apps (see "Use from phone apps" in [`reader`]).
//!
//! # Intended server-side use
//!
//! A phone reads the chip; the server decides. Passive authentication checks the files against
//! the operator's trust store at the time of verification. The two chip-liveness proofs start
//! from state only the server mints and end by consuming it, so a client-chosen or replayed
//! challenge cannot be passed by accident (`docs/verify.md`, trust policy):
//!
//! ```no_run
//! # fn send(_: &[u8]) {}
//! # fn receive() -> Vec<u8> { Vec::new() }
//! # let (sod, dg1, dg14_ca_oid, dg14_ca_spki, dg15_spki) =
//! #     (Vec::<u8>::new(), Vec::<u8>::new(), der::oid::ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.3.2.1"), Vec::<u8>::new(), Vec::<u8>::new());
//! use emrtd::active::Challenge;
//! use emrtd::chip_auth::{ChipAuthParams, ChipAuthSession};
//! use emrtd::passive;
//! use emrtd::pki::TrustStore;
//!
//! let mut trust = TrustStore::new();
//! // CSCAs imported directly; master lists then add theirs only when verified to one of them.
//! # let csca = Vec::<u8>::new();
//! trust.add_certificate_der(&csca)?;
//! let report = passive::verify(&sod, &[(1, &dg1)], &trust, time::OffsetDateTime::now_utc());
//!
//! // Active authentication: the server issues the challenge, the chip's answer consumes it.
//! let challenge = Challenge::issue()?;
//! send(challenge.bytes());
//! let aa = challenge.verify(&dg15_spki, &receive(), None);
//!
//! // Chip authentication: the server generates the ephemeral key inside the session; the
//! // session checks one protected response and is consumed by it.
//! let params = ChipAuthParams::new(&dg14_ca_oid, &dg14_ca_spki, None)?;
//! let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
//! let (session, instructions) = ChipAuthSession::start(&params, &mut rng)?;
//! send(&instructions.protected_command_apdu);
//! let ca = session.verify_response(&receive());
//! # let _ = (report, aa, ca);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod active;
pub mod apdu;
pub mod chip_auth;
pub mod crypto;
pub mod lds;
pub mod mrz;
pub mod passive;
pub mod pki;
pub mod reader;
pub mod sm;
pub mod sod;
pub mod tlv;

#[cfg(feature = "testkit")]
pub mod testkit;
