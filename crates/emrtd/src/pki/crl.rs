//! Certificate revocation lists of CSCAs (ICAO 9303-12 §7.1.4, RFC 5280 §5). A CSCA's CRL
//! revokes Document Signer (and link) certificates it issued; it is honoured only once its
//! signature has been checked against that CSCA.

use time::OffsetDateTime;

use super::PkiError;
use super::cert::Certificate;
use crate::crypto::{self, CryptoError, SignatureAlgorithm};
use crate::tlv::{self, Tag};

/// Upper bound on revoked entries kept from one CRL.
const MAX_REVOKED: usize = 1_000_000;
/// Upper bound on a CRL's size.
const MAX_CRL_LEN: usize = 64 * 1024 * 1024;

/// A decoded CRL: issuer, update times and revoked serial numbers.
#[derive(Debug, Clone)]
pub struct Crl {
    tbs: Vec<u8>,
    issuer_der: Vec<u8>,
    pub issuer: String,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    /// Revoked serial numbers (big-endian magnitudes) with their revocation dates.
    pub revoked: Vec<(Vec<u8>, OffsetDateTime)>,
    signature_algorithm: Result<SignatureAlgorithm, CryptoError>,
    signature: Vec<u8>,
}

impl Crl {
    /// Decodes a DER `CertificateList` (RFC 5280 §5.1).
    ///
    /// # Errors
    /// [`PkiError::Crl`].
    pub fn from_der(der_bytes: &[u8]) -> Result<Self, PkiError> {
        use der::Decode;
        if der_bytes.len() > MAX_CRL_LEN {
            return Err(PkiError::Crl("too large".into()));
        }
        let bad = |e: &dyn std::fmt::Display| PkiError::Crl(e.to_string());
        let outer = tlv::read_exact(der_bytes).map_err(|e| bad(&e))?;
        let parts = outer
            .check_tag(Tag::SEQUENCE)
            .and_then(|o| o.children())
            .map_err(|e| bad(&e))?;
        let [tbs, sig_alg, sig] = parts.as_slice() else {
            return Err(PkiError::Crl("CertificateList is not three fields".into()));
        };
        let tbs_fields = tbs.children().map_err(|e| bad(&e))?;
        let skip = usize::from(tbs_fields.first().is_some_and(|f| f.tag == Tag::INTEGER));
        let issuer_tlv = tbs_fields
            .get(skip + 1)
            .ok_or_else(|| PkiError::Crl("short tbsCertList".into()))?;

        let parsed =
            x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der_bytes)
                .map_err(|e| bad(&e))?;
        let list = &parsed.tbs_cert_list;
        let time = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs())
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .ok_or_else(|| PkiError::Crl("time out of range".into()))
        };
        let mut revoked = Vec::new();
        for entry in list.revoked_certificates.iter().flatten() {
            if revoked.len() == MAX_REVOKED {
                return Err(PkiError::Crl("too many entries".into()));
            }
            revoked.push((
                entry.serial_number.as_bytes().to_vec(),
                time(entry.revocation_date)?,
            ));
        }
        let signature = match sig.content.split_first() {
            Some((0, bits)) => bits.to_vec(),
            _ => return Err(PkiError::Crl("signature BIT STRING".into())),
        };
        Ok(Self {
            tbs: tbs.raw.to_vec(),
            issuer_der: issuer_tlv.raw.to_vec(),
            issuer: list.issuer.to_string(),
            this_update: time(list.this_update)?,
            next_update: list.next_update.map(time).transpose()?,
            revoked,
            signature_algorithm: SignatureAlgorithm::from_der(sig_alg.raw),
            signature,
        })
    }

    /// The DER `Name` of the issuing CSCA.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// Verifies the CRL's signature with `csca`'s key (RFC 5280 §6.3.3 (f)).
    ///
    /// # Errors
    /// The failed verification.
    pub fn verify_signed_by(&self, csca: &Certificate) -> Result<(), CryptoError> {
        let alg = self.signature_algorithm.as_ref().map_err(Clone::clone)?;
        crypto::verify_signature(csca.public_key()?, alg, &self.tbs, &self.signature)
    }

    /// The revocation date of `cert` if this CRL lists it (same issuer name and serial).
    pub fn revocation_of(&self, cert: &Certificate) -> Option<OffsetDateTime> {
        if cert.issuer_der() != self.issuer_der {
            return None;
        }
        self.revoked
            .iter()
            .find(|(serial, _)| *serial == cert.serial)
            .map(|(_, date)| *date)
    }
}
