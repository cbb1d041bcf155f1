//! X.509 v3 certificates for test CSCAs and document signers, with the extensions of the
//! ICAO 9303-12 §7.1.1 certificate profile (RFC 5280 encoding, hand-built DER so that every
//! signature algorithm of the verifier, including brainpoolP512r1 and explicit curves, can sign).

use time::OffsetDateTime;

use crate::crypto::hash::HashAlgorithm;
use crate::tlv::{self, Tag};

use super::TestkitError;
use super::keys::{SignatureScheme, SigningKey, der_uint, signature_algorithm_der};

/// A distinguished name `C=…, O=…, CN=…` (ICAO 9303-12 §7.1.1.1: C is mandatory and the
/// country of the DSC must be that of its CSCA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub country: String,
    pub organization: String,
    pub common_name: String,
}

impl Name {
    pub fn der(&self) -> Vec<u8> {
        tlv::encode(Tag(0x30), &self.rdns().concat())
    }

    /// The same RDNs in reverse order (`CN, O, C`): a different name byte for byte, the same
    /// set of attributes.
    pub fn der_reversed(&self) -> Vec<u8> {
        let mut rdns = self.rdns();
        rdns.reverse();
        tlv::encode(Tag(0x30), &rdns.concat())
    }

    fn rdns(&self) -> Vec<Vec<u8>> {
        let rdn = |oid: &[u8], tag: u32, value: &str| {
            let mut atv = tlv::encode(Tag(0x06), oid);
            atv.extend(tlv::encode(Tag(tag), value.as_bytes()));
            tlv::encode(Tag(0x31), &tlv::encode(Tag(0x30), &atv))
        };
        vec![
            rdn(&[0x55, 0x04, 0x06], 0x13, &self.country),
            rdn(&[0x55, 0x04, 0x0A], 0x0C, &self.organization),
            rdn(&[0x55, 0x04, 0x03], 0x0C, &self.common_name),
        ]
    }
}

/// `Time`: UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
pub fn time_der(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let tail = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if (1950..2050).contains(&t.year()) {
        tlv::encode(
            Tag(0x17),
            format!("{:02}{tail}", t.year().rem_euclid(100)).as_bytes(),
        )
    } else {
        tlv::encode(Tag(0x18), format!("{:04}{tail}", t.year()).as_bytes())
    }
}

fn generalized_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut body = tlv::encode(Tag(0x06), oid);
    if critical {
        body.extend([0x01, 0x01, 0xFF]);
    }
    body.extend(tlv::encode(Tag(0x04), value));
    tlv::encode(Tag(0x30), &body)
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value.
pub fn key_identifier(spki_der: &[u8]) -> Vec<u8> {
    let key = tlv::read_exact(spki_der)
        .ok()
        .and_then(|t| t.children().ok())
        .and_then(|c| {
            c.get(1)
                .map(|b| b.content.get(1..).unwrap_or_default().to_vec())
        })
        .unwrap_or_default();
    HashAlgorithm::Sha1.digest(&key)
}

/// What kind of certificate to issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    Csca,
    /// A CSCA without basicConstraints (keyUsage keyCertSign only), as some real CSCAs are.
    CscaWithoutBasicConstraints,
    /// A CSCA without keyUsage (basicConstraints cA only), as some real CSCAs are.
    CscaWithoutKeyUsage,
    DocumentSigner,
    /// A Master List Signer: digitalSignature and the extended key usage 2.23.136.1.1.3
    /// (ICAO 9303-12 §7.1.1.3).
    MasterListSigner,
}

impl CertKind {
    fn is_ca(self) -> bool {
        matches!(
            self,
            Self::Csca | Self::CscaWithoutBasicConstraints | Self::CscaWithoutKeyUsage
        )
    }
}

/// Everything a certificate needs.
pub struct CertSpec<'a> {
    pub kind: CertKind,
    pub serial: u64,
    /// Order of the issuer name's RDNs reversed (the signature still covers it).
    pub reversed_issuer: bool,
    pub subject: &'a Name,
    pub issuer: &'a Name,
    pub subject_spki: &'a [u8],
    pub issuer_spki: &'a [u8],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub signer: &'a SigningKey,
    pub scheme: SignatureScheme,
    pub hash: HashAlgorithm,
}

/// Issues (or self-signs) a certificate with the ICAO 9303-12 extensions: key usage
/// (critical), basic constraints (CSCA, critical), subject and authority key identifiers,
/// private key usage period, CRL distribution point, and for document signers the document
/// type list (2.23.136.1.1.6.2).
///
/// # Errors
/// [`TestkitError::Key`] when signing fails.
pub fn issue(spec: &CertSpec<'_>) -> Result<Vec<u8>, TestkitError> {
    let mut exts = Vec::new();
    let aki = tlv::encode(
        Tag(0x30),
        &tlv::encode(Tag(0x80), &key_identifier(spec.issuer_spki)),
    );
    exts.extend(extension(&[0x55, 0x1D, 0x23], false, &aki));
    let ski = tlv::encode(Tag(0x04), &key_identifier(spec.subject_spki));
    exts.extend(extension(&[0x55, 0x1D, 0x0E], false, &ski));
    let key_usage: Option<&[u8]> = match spec.kind {
        CertKind::Csca | CertKind::CscaWithoutBasicConstraints => Some(&[0x03, 0x02, 0x01, 0x06]), // keyCertSign, cRLSign
        CertKind::CscaWithoutKeyUsage => None,
        CertKind::DocumentSigner | CertKind::MasterListSigner => Some(&[0x03, 0x02, 0x07, 0x80]), // digitalSignature
    };
    if let Some(key_usage) = key_usage {
        exts.extend(extension(&[0x55, 0x1D, 0x0F], true, key_usage));
    }
    if spec.kind == CertKind::MasterListSigner {
        let eku = tlv::encode(
            Tag(0x30),
            &tlv::encode(Tag(0x06), &[0x67, 0x81, 0x08, 0x01, 0x01, 0x03]),
        );
        exts.extend(extension(&[0x55, 0x1D, 0x25], false, &eku));
    }
    let mut pkup = tlv::encode(Tag(0x80), generalized_time(spec.not_before).as_bytes());
    pkup.extend(tlv::encode(
        Tag(0x81),
        generalized_time(spec.not_after).as_bytes(),
    ));
    exts.extend(extension(
        &[0x55, 0x1D, 0x10],
        false,
        &tlv::encode(Tag(0x30), &pkup),
    ));
    if spec.kind.is_ca() {
        if spec.kind != CertKind::CscaWithoutBasicConstraints {
            let bc = tlv::encode(Tag(0x30), &[0x01, 0x01, 0xFF, 0x02, 0x01, 0x00]);
            exts.extend(extension(&[0x55, 0x1D, 0x13], true, &bc));
        }
    } else {
        // DocumentTypeList ::= SEQUENCE { version 0, docTypeList SET OF PrintableString }.
        let mut dtl = tlv::encode(Tag(0x02), &[0x00]);
        dtl.extend(tlv::encode(Tag(0x31), &tlv::encode(Tag(0x13), b"P")));
        exts.extend(extension(
            &[0x67, 0x81, 0x08, 0x01, 0x01, 0x06, 0x02],
            false,
            &tlv::encode(Tag(0x30), &dtl),
        ));
    }
    let url = format!("http://crl.example.invalid/{}.crl", spec.issuer.country);
    let dp = tlv::encode(
        Tag(0x30),
        &tlv::encode(
            Tag(0x30),
            &tlv::encode(
                Tag(0xA0),
                &tlv::encode(Tag(0xA0), &tlv::encode(Tag(0x86), url.as_bytes())),
            ),
        ),
    );
    exts.extend(extension(&[0x55, 0x1D, 0x1F], false, &dp));

    let sig_alg = signature_algorithm_der(spec.scheme, spec.hash);
    let mut tbs = tlv::encode(Tag(0xA0), &tlv::encode(Tag(0x02), &[0x02]));
    tbs.extend(tlv::encode(
        Tag(0x02),
        &der_uint(&spec.serial.to_be_bytes()),
    ));
    tbs.extend(&sig_alg);
    tbs.extend(if spec.reversed_issuer {
        spec.issuer.der_reversed()
    } else {
        spec.issuer.der()
    });
    let mut validity = time_der(spec.not_before);
    validity.extend(time_der(spec.not_after));
    tbs.extend(tlv::encode(Tag(0x30), &validity));
    tbs.extend(spec.subject.der());
    tbs.extend_from_slice(spec.subject_spki);
    tbs.extend(tlv::encode(Tag(0xA3), &tlv::encode(Tag(0x30), &exts)));
    let tbs = tlv::encode(Tag(0x30), &tbs);
    let signature = spec.signer.sign(spec.scheme, spec.hash, &tbs)?;
    let mut bits = vec![0u8];
    bits.extend(signature);
    let mut cert = tbs;
    cert.extend(sig_alg);
    cert.extend(tlv::encode(Tag(0x03), &bits));
    Ok(tlv::encode(Tag(0x30), &cert))
}
