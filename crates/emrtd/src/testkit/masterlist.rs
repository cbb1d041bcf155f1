//! CSCA master lists for tests (ICAO 9303-12 §8): a CMS SignedData of content type
//! `id-icao-cscaMasterList` over `CscaMasterList ::= SEQUENCE { version 0, certList SET OF
//! Certificate }`, signed by a Master List Signer that a CSCA (the anchor an operator imports)
//! issued — or, for the attacks the trust policy must stop, by a signer nobody vouches for.
//!
//! ```no_run
//! use emrtd::testkit::masterlist::{ListSigner, MasterListBuilder};
//! let list = MasterListBuilder::new().signer(ListSigner::SelfSigned).build().unwrap();
//! # let _ = list.der;
//! ```

use time::{Duration, OffsetDateTime};

use crate::crypto::curves::CurveId;
use crate::crypto::hash::HashAlgorithm;
use crate::tlv::{self, Tag};

use super::TestkitError;
use super::keys::{
    EcPrivateKey, SignatureScheme, SigningKey, digest_algorithm_der, signature_algorithm_der,
};
use super::x509::{self, CertKind, CertSpec, Name, time_der};

const ID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
const ID_CONTENT_TYPE: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x03];
const ID_MESSAGE_DIGEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];
const ID_SIGNING_TIME: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x05];
/// `id-icao-cscaMasterList` 2.23.136.1.1.2.
const ID_CSCA_MASTER_LIST: &[u8] = &[0x67, 0x81, 0x08, 0x01, 0x01, 0x02];

/// Who signs the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListSigner {
    /// A Master List Signer (EKU 2.23.136.1.1.3) issued by the anchor CSCA: verifies.
    Genuine,
    /// A self-signed certificate with the master-list-signer EKU, named like the genuine
    /// signer: the crafted list of an attacker.
    SelfSigned,
    /// A certificate the anchor issued without the master-list-signer EKU (a Document
    /// Signer): not allowed to sign lists.
    DocumentSigner,
    /// A Master List Signer issued by an impostor CSCA that carries the anchor's name.
    ImpostorIssuer,
}

/// A built master list and the certificates around it.
#[derive(Debug, Clone)]
pub struct TestMasterList {
    /// The list (CMS `ContentInfo`, DER).
    pub der: Vec<u8>,
    /// The CSCA an operator imports directly to verify the list.
    pub anchor_csca_der: Vec<u8>,
    /// The certificate that signed the list.
    pub signer_der: Vec<u8>,
}

/// Builder for [`TestMasterList`].
#[derive(Debug, Clone)]
pub struct MasterListBuilder {
    signer: ListSigner,
    certificates: Vec<Vec<u8>>,
    country: String,
    at: OffsetDateTime,
}

impl Default for MasterListBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl MasterListBuilder {
    #[allow(
        clippy::disallowed_methods,
        reason = "test material is issued now unless the test sets a time"
    )]
    pub fn new() -> Self {
        Self {
            signer: ListSigner::Genuine,
            certificates: Vec::new(),
            country: "UT".into(),
            at: OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }
    }

    pub fn signer(mut self, signer: ListSigner) -> Self {
        self.signer = signer;
        self
    }

    /// A CSCA certificate (DER) the list carries.
    pub fn certificate(mut self, der: Vec<u8>) -> Self {
        self.certificates.push(der);
        self
    }

    /// The country of the anchor and the signer (alpha-2).
    pub fn country(mut self, country: &str) -> Self {
        self.country = country.to_owned();
        self
    }

    /// # Errors
    /// [`TestkitError::Key`] when signing fails.
    pub fn build(self) -> Result<TestMasterList, TestkitError> {
        let scheme = SignatureScheme::Ecdsa;
        let hash = HashAlgorithm::Sha256;
        let year = Duration::days(365);
        let anchor_key = SigningKey::Ec(EcPrivateKey::generate(CurveId::P256, false));
        let anchor_spki = anchor_key.spki_der()?;
        let anchor_name = Name {
            country: self.country.clone(),
            organization: "idgate test authority".into(),
            common_name: format!("idgate test CSCA {}", self.country),
        };
        let signer_name = Name {
            country: self.country.clone(),
            organization: "idgate test authority".into(),
            common_name: format!("idgate test master list signer {}", self.country),
        };
        let anchor_csca_der = x509::issue(&CertSpec {
            kind: CertKind::Csca,
            serial: 1,
            reversed_issuer: false,
            subject: &anchor_name,
            issuer: &anchor_name,
            subject_spki: &anchor_spki,
            issuer_spki: &anchor_spki,
            not_before: self.at - year,
            not_after: self.at + 10 * year,
            signer: &anchor_key,
            scheme,
            hash,
        })?;
        let signer_key = SigningKey::Ec(EcPrivateKey::generate(CurveId::P256, false));
        let signer_spki = signer_key.spki_der()?;
        let impostor_key = SigningKey::Ec(EcPrivateKey::generate(CurveId::P256, false));
        let impostor_spki = impostor_key.spki_der()?;
        let (kind, issuer, issuer_key, issuer_spki) = match self.signer {
            ListSigner::Genuine => (
                CertKind::MasterListSigner,
                &anchor_name,
                &anchor_key,
                &anchor_spki,
            ),
            ListSigner::SelfSigned => (
                CertKind::MasterListSigner,
                &signer_name,
                &signer_key,
                &signer_spki,
            ),
            ListSigner::DocumentSigner => (
                CertKind::DocumentSigner,
                &anchor_name,
                &anchor_key,
                &anchor_spki,
            ),
            ListSigner::ImpostorIssuer => (
                CertKind::MasterListSigner,
                &anchor_name,
                &impostor_key,
                &impostor_spki,
            ),
        };
        let signer_der = x509::issue(&CertSpec {
            kind,
            serial: 0x38,
            reversed_issuer: false,
            subject: &signer_name,
            issuer,
            subject_spki: &signer_spki,
            issuer_spki,
            not_before: self.at - Duration::days(30),
            not_after: self.at + 3 * year,
            signer: issuer_key,
            scheme,
            hash,
        })?;

        // CscaMasterList ::= SEQUENCE { version 0, certList SET OF Certificate } (DER: sorted).
        let mut entries = self.certificates.clone();
        entries.sort();
        let mut list = tlv::encode(Tag(0x02), &[0x00]);
        list.extend(tlv::encode(Tag(0x31), &entries.concat()));
        let econtent = tlv::encode(Tag(0x30), &list);

        let der = signed_data(&econtent, &signer_der, &signer_key, scheme, hash, self.at)?;
        Ok(TestMasterList {
            der,
            anchor_csca_der,
            signer_der,
        })
    }
}

fn attribute(oid: &[u8], value: &[u8]) -> Vec<u8> {
    let mut body = tlv::encode(Tag(0x06), oid);
    body.extend(tlv::encode(Tag(0x31), value));
    tlv::encode(Tag(0x30), &body)
}

/// `ContentInfo { id-signedData, SignedData }` over the list (RFC 5652 §5), the signer named by
/// issuer and serial number and embedded.
fn signed_data(
    econtent: &[u8],
    signer_der: &[u8],
    key: &SigningKey,
    scheme: SignatureScheme,
    hash: HashAlgorithm,
    at: OffsetDateTime,
) -> Result<Vec<u8>, TestkitError> {
    let mut attrs = [
        attribute(
            ID_CONTENT_TYPE,
            &tlv::encode(Tag(0x06), ID_CSCA_MASTER_LIST),
        ),
        attribute(
            ID_MESSAGE_DIGEST,
            &tlv::encode(Tag(0x04), &hash.digest(econtent)),
        ),
        attribute(ID_SIGNING_TIME, &time_der(at)),
    ];
    attrs.sort();
    let attrs = attrs.concat();
    let signature = key.sign(scheme, hash, &tlv::encode(Tag(0x31), &attrs))?;

    let bad = |_| TestkitError::Input("signer certificate");
    let cert = tlv::read_exact(signer_der).map_err(bad)?;
    let tbs = cert
        .children()
        .map_err(bad)?
        .into_iter()
        .next()
        .ok_or(TestkitError::Input("signer tbs"))?;
    let fields = tbs.children().map_err(bad)?;
    let (Some(serial), Some(issuer)) = (fields.get(1), fields.get(3)) else {
        return Err(TestkitError::Input("signer tbs fields"));
    };
    let mut sid = issuer.raw.to_vec();
    sid.extend_from_slice(serial.raw);

    let mut signer_info = tlv::encode(Tag(0x02), &[0x01]);
    signer_info.extend(tlv::encode(Tag(0x30), &sid));
    signer_info.extend(digest_algorithm_der(hash));
    signer_info.extend(tlv::encode(Tag(0xA0), &attrs));
    signer_info.extend(signature_algorithm_der(scheme, hash));
    signer_info.extend(tlv::encode(Tag(0x04), &signature));

    let mut encap = tlv::encode(Tag(0x06), ID_CSCA_MASTER_LIST);
    encap.extend(tlv::encode(Tag(0xA0), &tlv::encode(Tag(0x04), econtent)));
    let mut sd = tlv::encode(Tag(0x02), &[0x03]);
    sd.extend(tlv::encode(Tag(0x31), &digest_algorithm_der(hash)));
    sd.extend(tlv::encode(Tag(0x30), &encap));
    sd.extend(tlv::encode(Tag(0xA0), signer_der));
    sd.extend(tlv::encode(
        Tag(0x31),
        &tlv::encode(Tag(0x30), &signer_info),
    ));
    let mut content_info = tlv::encode(Tag(0x06), ID_SIGNED_DATA);
    content_info.extend(tlv::encode(Tag(0xA0), &tlv::encode(Tag(0x30), &sd)));
    Ok(tlv::encode(Tag(0x30), &content_info))
}
