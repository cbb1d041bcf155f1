//! CSCA trust store, master lists, CRLs and certificate chains (ICAO 9303-12).
//!
//! [`TrustStore`] holds the CSCA certificates an operator trusts (loaded from certificate files
//! and ICAO master lists, whose own signatures are checked), the CRLs those CSCAs signed, and
//! builds DSC → CSCA chains, following link certificates. Validity dates are judged by the
//! caller at the document's signing time (see [`crate::passive`]).

pub mod cert;
pub mod country;
pub mod crl;
pub mod masterlist;
pub mod store;

pub use cert::Certificate;
pub use crl::Crl;
pub use masterlist::{MasterList, MasterListSignature};
pub use store::{
    Chain, ChainError, MasterListSummary, Revocation, SourceKind, SourceReport, TrustStore,
};

/// Why a PKI object could not be loaded. Messages name structures, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("CRL: {0}")]
    Crl(String),
    #[error("CRL of {0} is not signed by any CSCA in the trust store")]
    CrlUnverified(String),
    #[error("master list: {0}")]
    MasterList(String),
    #[error("master list signature is invalid: {0}")]
    MasterListSignatureInvalid(String),
    #[error("PEM: {0}")]
    Pem(String),
    #[error("not a certificate, CRL or master list")]
    Unrecognised,
}
