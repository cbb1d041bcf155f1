//! The Document Security Object, EF.SOD (ICAO 9303-10 §4.6.2, ICAO 9303-12 §4.4 / Appendix C):
//! an application-tagged (`0x77`) CMS `ContentInfo` holding a `SignedData` (RFC 5652 §5) whose
//! encapsulated content is the `LDSSecurityObject` — the hash of every data group.
//!
//! The CMS layer ([`SignedData`], [`SignerInfo`]) is generic and also parses ICAO master lists
//! (ICAO 9303-12 §8, used by [`crate::pki`]). It runs on the BER reader in [`crate::tlv`], so
//! indefinite lengths and segmented eContent (both produced by real issuers) are accepted, and it
//! keeps *raw byte slices* of everything a signature or hash covers: the signed attributes are
//! hashed exactly as received with their `[0]` tag replaced by `SET OF` (RFC 5652 §5.4), never
//! re-encoded.

use std::borrow::Cow;

use der::oid::ObjectIdentifier;
use time::OffsetDateTime;

use crate::crypto::{CryptoError, HashAlgorithm, SignatureAlgorithm};
use crate::tlv::{self, Tag, Tlv, TlvError};

/// Application tag of EF.SOD (ICAO 9303-10 §4.6.2, Table 34).
pub const SOD_TAG: Tag = Tag(0x77);

/// Object identifiers used by CMS and ICAO 9303-12.
pub mod oid {
    use der::oid::ObjectIdentifier;
    /// `id-signedData` (RFC 5652 §5.1).
    pub const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
    /// `id-data` (RFC 5652 §4): some issuers label the LDS Security Object with it.
    pub const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
    /// `id-icao-mrtd-security-ldsSecurityObject` (ICAO 9303-10 §4.6.2.2).
    pub const LDS_SECURITY_OBJECT: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.23.136.1.1.1");
    /// `id-icao-cscaMasterList` (ICAO 9303-12 §8.2.1).
    pub const CSCA_MASTER_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.136.1.1.2");
    /// `id-contentType` attribute (RFC 5652 §11.1).
    pub const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
    /// `id-messageDigest` attribute (RFC 5652 §11.2).
    pub const MESSAGE_DIGEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
    /// `id-signingTime` attribute (RFC 5652 §11.3).
    pub const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
}

/// Caps that keep hostile input cheap. A SOD lists at most 16 data groups; a master list holds a
/// few hundred certificates (the German one about 600).
const MAX_DATA_GROUPS: usize = 16;
const MAX_EMBEDDED_CERTIFICATES: usize = 64;
const MAX_SIGNER_INFOS: usize = 8;
const MAX_SIGNED_ATTRIBUTES: usize = 32;

/// Why an EF.SOD or CMS structure could not be parsed. Never carries document data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SodError {
    #[error("BER structure: {0}")]
    Tlv(#[from] TlvError),
    #[error("EF.SOD must start with application tag 0x77, found {0}")]
    NotSod(Tag),
    #[error("ContentInfo does not hold id-signedData but {0}")]
    NotSignedData(String),
    #[error("encapsulated content type is {found}, expected {expected}")]
    WrongContentType { found: String, expected: String },
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("signed attributes lack the contentType attribute (RFC 5652 §11.1)")]
    MissingContentTypeAttribute,
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion { what: &'static str, version: u32 },
    #[error("too many {0}")]
    TooMany(&'static str),
    #[error("SignedData has no SignerInfo")]
    NoSignerInfo,
    #[error("data group number {0} out of range 1..=16")]
    BadDataGroupNumber(u32),
    #[error("data group {0} listed twice")]
    DuplicateDataGroup(u8),
    #[error("algorithm: {0}")]
    Crypto(#[from] CryptoError),
}

/// `SignerIdentifier ::= CHOICE { issuerAndSerialNumber, subjectKeyIdentifier [0] }`
/// (RFC 5652 §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerIdentifier<'a> {
    IssuerAndSerialNumber {
        /// DER `Name` of the issuer, as encoded.
        issuer: &'a [u8],
        /// Contents octets of the serial-number INTEGER.
        serial: &'a [u8],
    },
    SubjectKeyIdentifier(Cow<'a, [u8]>),
}

/// The signed attributes of a SignerInfo (RFC 5652 §5.3, §11).
#[derive(Debug, Clone)]
pub struct SignedAttributes<'a> {
    /// The whole `[0] IMPLICIT SET OF Attribute` encoding exactly as received.
    pub raw: &'a [u8],
    pub content_type: Option<ObjectIdentifier>,
    pub message_digest: Option<Cow<'a, [u8]>>,
    /// `signingTime`, when present and well formed.
    pub signing_time: Option<OffsetDateTime>,
}

impl SignedAttributes<'_> {
    /// The digest the signature covers: the received bytes with the leading `[0]` (0xA0)
    /// replaced by the `SET OF` tag (0x31), RFC 5652 §5.4. A re-encoding would re-sort the SET
    /// and break signatures from issuers whose attributes are not in DER order.
    pub fn signed_digest(&self, hash: HashAlgorithm) -> Vec<u8> {
        hash.digest_parts(&[&[0x31], self.raw.get(1..).unwrap_or_default()])
    }
}

/// `SignerInfo` (RFC 5652 §5.3).
#[derive(Debug, Clone)]
pub struct SignerInfo<'a> {
    pub version: u32,
    pub sid: SignerIdentifier<'a>,
    pub digest_algorithm: HashAlgorithm,
    pub signed_attrs: Option<SignedAttributes<'a>>,
    /// As named by the SignerInfo; bare `rsaEncryption`/`id-ecPublicKey` are completed with
    /// `digest_algorithm` by [`SignerInfo::effective_signature_algorithm`].
    pub signature_algorithm: SignatureAlgorithm,
    pub signature: Cow<'a, [u8]>,
}

impl SignerInfo<'_> {
    /// The signature algorithm with a missing digest taken from `digestAlgorithm`
    /// (RFC 5652 §5.3, RFC 3370 §3.2).
    pub fn effective_signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
            .with_default_hash(self.digest_algorithm)
    }
}

/// `SignedData` (RFC 5652 §5.1), with raw slices for everything that is signed or hashed.
#[derive(Debug, Clone)]
pub struct SignedData<'a> {
    pub version: u32,
    pub digest_algorithms: Vec<ObjectIdentifier>,
    pub econtent_type: ObjectIdentifier,
    /// The eContent OCTET STRING's value, reassembled when segmented (X.690 §8.7.3).
    pub econtent: Cow<'a, [u8]>,
    /// Raw DER of each embedded X.509 certificate (other `CertificateChoices` are skipped).
    pub certificates: Vec<&'a [u8]>,
    /// Raw DER of each embedded CRL.
    pub crls: Vec<&'a [u8]>,
    pub signer_infos: Vec<SignerInfo<'a>>,
}

/// `DataGroupHash ::= SEQUENCE { dataGroupNumber, dataGroupHashValue }` (ICAO 9303-10 §4.6.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataGroupHash {
    pub number: u8,
    pub hash: Vec<u8>,
}

/// `LDSVersionInfo ::= SEQUENCE { ldsVersion PrintableString, unicodeVersion PrintableString }`
/// (LDS 1.8 / v1 security object, ICAO 9303-10 §4.6.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdsVersionInfo {
    pub lds_version: String,
    pub unicode_version: String,
}

/// `LDSSecurityObject` (ICAO 9303-10 §4.6.2.2): version 0 (V0) or 1 (V1, with
/// `ldsVersionInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdsSecurityObject {
    pub version: u32,
    pub hash_algorithm: HashAlgorithm,
    pub data_group_hashes: Vec<DataGroupHash>,
    pub lds_version_info: Option<LdsVersionInfo>,
}

impl LdsSecurityObject {
    /// The hash the SOD records for data group `number`.
    pub fn hash_of(&self, number: u8) -> Option<&[u8]> {
        self.data_group_hashes
            .iter()
            .find(|d| d.number == number)
            .map(|d| d.hash.as_slice())
    }
}

/// A way a genuine EF.SOD departs from the letter of ICAO 9303-10 that this parser accepts
/// (`docs/verify.md`, trust policy: passports in the field deviate from the letter); reports
/// name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldDeviation {
    /// eContentType is `id-data` (1.2.840.113549.1.7.1) and the content parses as an
    /// LDSSecurityObject.
    EContentTypeIdData,
}

impl std::fmt::Display for FieldDeviation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EContentTypeIdData => {
                f.write_str("eContentType id-data over an LDSSecurityObject (field deviation)")
            }
        }
    }
}

/// A parsed EF.SOD.
#[derive(Debug, Clone)]
pub struct Sod<'a> {
    pub signed_data: SignedData<'a>,
    pub lds: LdsSecurityObject,
    /// Field deviations accepted while parsing.
    pub deviations: Vec<FieldDeviation>,
}

impl<'a> Sod<'a> {
    /// Parses EF.SOD (tag 0x77 around a CMS ContentInfo). ICAO 9303-10 §4.6.2 requires exactly
    /// one SignerInfo; extra ones are rejected rather than guessed between.
    ///
    /// # Errors
    /// Any [`SodError`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, SodError> {
        let outer = tlv::read_exact(bytes)?;
        if outer.tag != SOD_TAG {
            return Err(SodError::NotSod(outer.tag));
        }
        let [content_info] = outer.children()?[..] else {
            return Err(SodError::Malformed("EF.SOD content"));
        };
        let signed_data = SignedData::from_content_info(&content_info)?;
        let mut deviations = Vec::new();
        if signed_data.econtent_type == oid::DATA {
            // Accepted only because the content then parses as an LDSSecurityObject below.
            signed_data.expect_content_type(oid::DATA)?;
            deviations.push(FieldDeviation::EContentTypeIdData);
        } else {
            signed_data.expect_content_type(oid::LDS_SECURITY_OBJECT)?;
        }
        if signed_data.signer_infos.len() != 1 {
            return Err(SodError::Malformed(
                "EF.SOD must have exactly one SignerInfo",
            ));
        }
        let lds = LdsSecurityObject::parse(&signed_data.econtent)?;
        Ok(Self {
            signed_data,
            lds,
            deviations,
        })
    }

    /// The single SignerInfo (`parse` guarantees exactly one; `None` only for a value built
    /// by hand without one).
    pub fn signer(&self) -> Option<&SignerInfo<'a>> {
        self.signed_data.signer_infos.first()
    }

    /// The Document Signer certificate: the embedded certificate the SignerInfo's `sid` names,
    /// or the only embedded certificate when `sid` cannot be matched without decoding
    /// certificates (matching is refined by [`crate::pki`]).
    pub fn dsc_candidates(&self) -> &[&'a [u8]] {
        &self.signed_data.certificates
    }
}

impl<'a> SignedData<'a> {
    /// Parses a DER/BER `ContentInfo` holding `id-signedData` (RFC 5652 §3, §5.1).
    ///
    /// # Errors
    /// Any [`SodError`].
    pub fn parse_content_info(bytes: &'a [u8]) -> Result<Self, SodError> {
        Self::from_content_info(&tlv::read_exact(bytes)?)
    }

    fn from_content_info(ci: &Tlv<'a>) -> Result<Self, SodError> {
        ci.check_tag(Tag::SEQUENCE)?;
        let children = ci.children()?;
        let [content_type, content] = children.as_slice() else {
            return Err(SodError::Malformed("ContentInfo"));
        };
        let ct = read_oid(content_type)?;
        if ct != oid::SIGNED_DATA {
            return Err(SodError::NotSignedData(ct.to_string()));
        }
        content.check_tag(Tag(0xA0))?;
        let [sd] = content.children()?[..] else {
            return Err(SodError::Malformed("ContentInfo content"));
        };
        Self::from_signed_data(&sd)
    }

    fn from_signed_data(sd: &Tlv<'a>) -> Result<Self, SodError> {
        sd.check_tag(Tag::SEQUENCE)?;
        let fields = sd.children()?;
        let mut it = fields.iter().peekable();
        let version = read_small_uint(next_field(&mut it, Tag::INTEGER)?)?;
        if !(1..=5).contains(&version) {
            return Err(SodError::UnsupportedVersion {
                what: "SignedData",
                version,
            });
        }
        let digest_algorithms = next_field(&mut it, Tag::SET)?
            .children()?
            .iter()
            .map(|alg| read_algorithm_oid(alg))
            .collect::<Result<Vec<_>, _>>()?;

        let encap = next_field(&mut it, Tag::SEQUENCE)?.children()?;
        let (econtent_type, econtent) = match encap.as_slice() {
            [ty, explicit] => {
                explicit.check_tag(Tag(0xA0))?;
                let [octets] = explicit.children()?[..] else {
                    return Err(SodError::Malformed("eContent"));
                };
                // OCTET STRING, primitive (0x04) or constructed/segmented (0x24).
                if octets.tag != Tag::OCTET_STRING && octets.tag != Tag(0x24) {
                    return Err(SodError::Malformed("eContent OCTET STRING"));
                }
                (read_oid(ty)?, octets.octets()?)
            }
            _ => {
                return Err(SodError::Malformed(
                    "EncapsulatedContentInfo without eContent",
                ));
            }
        };

        let mut certificates = Vec::new();
        if let Some(certs) = it.next_if(|t| t.tag == Tag(0xA0)) {
            for cert in certs.children()? {
                if cert.tag == Tag::SEQUENCE {
                    if certificates.len() == MAX_EMBEDDED_CERTIFICATES {
                        return Err(SodError::TooMany("embedded certificates"));
                    }
                    certificates.push(cert.raw);
                }
            }
        }
        let mut crls = Vec::new();
        if let Some(list) = it.next_if(|t| t.tag == Tag(0xA1)) {
            for crl in list.children()? {
                if crl.tag == Tag::SEQUENCE && crls.len() < MAX_EMBEDDED_CERTIFICATES {
                    crls.push(crl.raw);
                }
            }
        }
        let signer_set = next_field(&mut it, Tag::SET)?.children()?;
        if it.next().is_some() {
            return Err(SodError::Malformed("SignedData trailing fields"));
        }
        if signer_set.len() > MAX_SIGNER_INFOS {
            return Err(SodError::TooMany("SignerInfos"));
        }
        let signer_infos = signer_set
            .iter()
            .map(SignerInfo::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if signer_infos.is_empty() {
            return Err(SodError::NoSignerInfo);
        }
        Ok(Self {
            version,
            digest_algorithms,
            econtent_type,
            econtent,
            certificates,
            crls,
            signer_infos,
        })
    }

    /// Checks the eContent type and the `contentType` signed attribute of each signer: RFC 5652
    /// §5.3 makes the attribute mandatory whenever signed attributes are present, and §11.1
    /// requires it to equal the eContentType (otherwise a signature over one content type
    /// could be replayed as another).
    ///
    /// # Errors
    /// [`SodError::WrongContentType`].
    pub fn expect_content_type(&self, expected: ObjectIdentifier) -> Result<(), SodError> {
        let wrong = |found: &ObjectIdentifier| SodError::WrongContentType {
            found: found.to_string(),
            expected: expected.to_string(),
        };
        if self.econtent_type != expected {
            return Err(wrong(&self.econtent_type));
        }
        for si in &self.signer_infos {
            let Some(attrs) = si.signed_attrs.as_ref() else {
                continue;
            };
            match attrs.content_type.as_ref() {
                None => return Err(SodError::MissingContentTypeAttribute),
                Some(ct) if *ct != expected => return Err(wrong(ct)),
                Some(_) => {}
            }
        }
        Ok(())
    }
}

impl<'a> SignerInfo<'a> {
    fn parse(si: &Tlv<'a>) -> Result<Self, SodError> {
        si.check_tag(Tag::SEQUENCE)?;
        let fields = si.children()?;
        let mut it = fields.iter().peekable();
        let version = read_small_uint(next_field(&mut it, Tag::INTEGER)?)?;
        if version != 1 && version != 3 {
            return Err(SodError::UnsupportedVersion {
                what: "SignerInfo",
                version,
            });
        }
        let sid_tlv = it.next().ok_or(SodError::Malformed("SignerInfo sid"))?;
        let sid = match sid_tlv.tag {
            Tag::SEQUENCE => {
                let parts = sid_tlv.children()?;
                let [issuer, serial] = parts.as_slice() else {
                    return Err(SodError::Malformed("IssuerAndSerialNumber"));
                };
                issuer.check_tag(Tag::SEQUENCE)?;
                serial.check_tag(Tag::INTEGER)?;
                SignerIdentifier::IssuerAndSerialNumber {
                    issuer: issuer.raw,
                    serial: serial.content,
                }
            }
            // [0] IMPLICIT SubjectKeyIdentifier (an OCTET STRING), primitive or segmented.
            Tag(0x80) | Tag(0xA0) => SignerIdentifier::SubjectKeyIdentifier(sid_tlv.octets()?),
            _ => return Err(SodError::Malformed("SignerInfo sid")),
        };
        let digest_algorithm =
            HashAlgorithm::from_oid(&read_algorithm_oid(next_field(&mut it, Tag::SEQUENCE)?)?)?;
        let signed_attrs = match it.next_if(|t| t.tag == Tag(0xA0)) {
            Some(attrs) => Some(SignedAttributes::parse(attrs)?),
            None => None,
        };
        let alg = next_field(&mut it, Tag::SEQUENCE)?;
        let signature_algorithm = SignatureAlgorithm::from_der(alg.raw)?;
        let sig = it
            .next()
            .ok_or(SodError::Malformed("SignerInfo signature"))?;
        if sig.tag != Tag::OCTET_STRING && sig.tag != Tag(0x24) {
            return Err(SodError::Malformed("SignerInfo signature"));
        }
        let signature = sig.octets()?;
        // unsignedAttrs [1] may follow; nothing else.
        let _unsigned = it.next_if(|t| t.tag == Tag(0xA1));
        if it.next().is_some() {
            return Err(SodError::Malformed("SignerInfo trailing fields"));
        }
        Ok(Self {
            version,
            sid,
            digest_algorithm,
            signed_attrs,
            signature_algorithm,
            signature,
        })
    }
}

impl<'a> SignedAttributes<'a> {
    fn parse(attrs: &Tlv<'a>) -> Result<Self, SodError> {
        let list = attrs.children()?;
        if list.len() > MAX_SIGNED_ATTRIBUTES {
            return Err(SodError::TooMany("signed attributes"));
        }
        let mut out = Self {
            raw: attrs.raw,
            content_type: None,
            message_digest: None,
            signing_time: None,
        };
        for attr in &list {
            attr.check_tag(Tag::SEQUENCE)?;
            let parts = attr.children()?;
            let [ty, values] = parts.as_slice() else {
                return Err(SodError::Malformed("Attribute"));
            };
            values.check_tag(Tag::SET)?;
            let values = values.children()?;
            let ty = read_oid(ty)?;
            // RFC 5652 §11.1–11.3: each of these attributes is single-valued and appears once.
            let single = || match values.as_slice() {
                [v] => Ok(*v),
                _ => Err(SodError::Malformed("single-valued signed attribute")),
            };
            match ty {
                oid::CONTENT_TYPE => {
                    let earlier = out.content_type.replace(read_oid(&single()?)?);
                    if earlier.is_some() {
                        return Err(SodError::Malformed("duplicate contentType attribute"));
                    }
                }
                oid::MESSAGE_DIGEST => {
                    let v = single()?;
                    if v.tag != Tag::OCTET_STRING && v.tag != Tag(0x24) {
                        return Err(SodError::Malformed("messageDigest attribute"));
                    }
                    if out.message_digest.replace(v.octets()?).is_some() {
                        return Err(SodError::Malformed("duplicate messageDigest attribute"));
                    }
                }
                oid::SIGNING_TIME => out.signing_time = parse_time(&single()?),
                _ => {}
            }
        }
        Ok(out)
    }
}

impl LdsSecurityObject {
    /// Parses the eContent of an EF.SOD (ICAO 9303-10 §4.6.2.2).
    ///
    /// # Errors
    /// Any [`SodError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, SodError> {
        let seq = tlv::read_exact(bytes)?;
        seq.check_tag(Tag::SEQUENCE)?;
        let fields = seq.children()?;
        let (version, alg, hashes, info) = match fields.as_slice() {
            [v, a, h] => (v, a, h, None),
            [v, a, h, i] => (v, a, h, Some(i)),
            _ => return Err(SodError::Malformed("LDSSecurityObject")),
        };
        let version = read_small_uint(version.check_tag(Tag::INTEGER)?)?;
        if version > 1 || (version == 0 && info.is_some()) {
            return Err(SodError::UnsupportedVersion {
                what: "LDSSecurityObject",
                version,
            });
        }
        let hash_algorithm = HashAlgorithm::from_oid(&read_algorithm_oid(alg)?)?;
        let entries = hashes.check_tag(Tag::SEQUENCE)?.children()?;
        if entries.len() > MAX_DATA_GROUPS {
            return Err(SodError::TooMany("data group hashes"));
        }
        let mut data_group_hashes: Vec<DataGroupHash> = Vec::with_capacity(entries.len());
        for entry in &entries {
            entry.check_tag(Tag::SEQUENCE)?;
            let parts = entry.children()?;
            let [num, value] = parts.as_slice() else {
                return Err(SodError::Malformed("DataGroupHash"));
            };
            let n = read_small_uint(num.check_tag(Tag::INTEGER)?)?;
            let number = u8::try_from(n)
                .ok()
                .filter(|n| (1..=16).contains(n))
                .ok_or(SodError::BadDataGroupNumber(n))?;
            if data_group_hashes.iter().any(|d| d.number == number) {
                return Err(SodError::DuplicateDataGroup(number));
            }
            let hash = value.check_tag(Tag::OCTET_STRING)?.content.to_vec();
            if hash.len() != hash_algorithm.output_len() {
                return Err(SodError::Malformed("dataGroupHashValue length"));
            }
            data_group_hashes.push(DataGroupHash { number, hash });
        }
        let lds_version_info = match info {
            None => None,
            Some(i) => {
                let parts = i.check_tag(Tag::SEQUENCE)?.children()?;
                let [lds, uni] = parts.as_slice() else {
                    return Err(SodError::Malformed("LDSVersionInfo"));
                };
                let text = |t: &Tlv<'_>| -> Result<String, SodError> {
                    t.check_tag(Tag::PRINTABLE_STRING)?;
                    String::from_utf8(t.content.to_vec())
                        .map_err(|_| SodError::Malformed("LDSVersionInfo"))
                };
                Some(LdsVersionInfo {
                    lds_version: text(lds)?,
                    unicode_version: text(uni)?,
                })
            }
        };
        Ok(Self {
            version,
            hash_algorithm,
            data_group_hashes,
            lds_version_info,
        })
    }
}

fn next_field<'t, 'a, I>(it: &mut std::iter::Peekable<I>, tag: Tag) -> Result<&'t Tlv<'a>, SodError>
where
    I: Iterator<Item = &'t Tlv<'a>>,
    'a: 't,
{
    let field = it
        .next()
        .ok_or(SodError::Tlv(TlvError::MissingTag { tag }))?;
    field.check_tag(tag)?;
    Ok(field)
}

/// An OBJECT IDENTIFIER's value.
pub(crate) fn read_oid(t: &Tlv<'_>) -> Result<ObjectIdentifier, SodError> {
    t.check_tag(Tag::OID)?;
    ObjectIdentifier::from_bytes(t.content).map_err(|_| SodError::Malformed("OBJECT IDENTIFIER"))
}

/// The OID of an `AlgorithmIdentifier` SEQUENCE (its parameters are ignored: digests carry none).
pub(crate) fn read_algorithm_oid(t: &Tlv<'_>) -> Result<ObjectIdentifier, SodError> {
    t.check_tag(Tag::SEQUENCE)?;
    let parts = t.children()?;
    read_oid(
        parts
            .first()
            .ok_or(SodError::Malformed("AlgorithmIdentifier"))?,
    )
}

/// A small non-negative INTEGER (versions, data-group numbers).
pub(crate) fn read_small_uint(t: &Tlv<'_>) -> Result<u32, SodError> {
    let c = t.content;
    if c.is_empty() || c.len() > 4 || c.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(SodError::Malformed("small INTEGER"));
    }
    Ok(c.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// `Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }` in the `Z` forms RFC 5280
/// §4.1.2.5 prescribes (also used by `signingTime`, RFC 5652 §11.3). UTCTime years below 50
/// are 20xx. Anything else is `None` rather than a guess.
pub(crate) fn parse_time(t: &Tlv<'_>) -> Option<OffsetDateTime> {
    let s = std::str::from_utf8(t.content).ok()?;
    let (year, rest) = match t.tag {
        Tag(0x17) if s.len() == 13 => {
            let yy: i32 = s.get(0..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, s.get(2..)?)
        }
        Tag(0x18) if s.len() == 15 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    if !rest.ends_with('Z') || !rest.bytes().take(10).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<u8> { rest.get(r)?.parse().ok() };
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(n(0..2)?).ok()?, n(2..4)?)
            .ok()?;
    let clock = time::Time::from_hms(n(4..6)?, n(6..8)?, n(8..10)?).ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc())
}

/// Why a SignerInfo does not verify (RFC 5652 §5.6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    #[error("signed attributes lack the messageDigest attribute")]
    MessageDigestMissing,
    #[error("messageDigest attribute differs from the digest of the eContent")]
    MessageDigestMismatch,
    #[error("signature: {0}")]
    Signature(CryptoError),
}

impl SignedData<'_> {
    /// Verifies one SignerInfo with a public key (RFC 5652 §5.6): with signed attributes, the
    /// `messageDigest` must equal the digest of the eContent and the signature covers the
    /// attributes (§5.4); without them the signature covers the eContent itself.
    ///
    /// # Errors
    /// [`SignerError`].
    pub fn verify_signer(
        &self,
        signer: &SignerInfo<'_>,
        key: &crate::crypto::PublicKey,
    ) -> Result<(), SignerError> {
        let algorithm = signer.effective_signature_algorithm();
        match &signer.signed_attrs {
            Some(attrs) => {
                let expected = attrs
                    .message_digest
                    .as_ref()
                    .ok_or(SignerError::MessageDigestMissing)?;
                if signer.digest_algorithm.digest(&self.econtent).as_slice() != expected.as_ref() {
                    return Err(SignerError::MessageDigestMismatch);
                }
                let hash = algorithm
                    .hash()
                    .ok_or(SignerError::Signature(CryptoError::MissingHash))?;
                crate::crypto::verify_prehashed(
                    key,
                    &algorithm,
                    &attrs.signed_digest(hash),
                    &signer.signature,
                )
                .map_err(SignerError::Signature)
            }
            None => {
                crate::crypto::verify_signature(key, &algorithm, &self.econtent, &signer.signature)
                    .map_err(SignerError::Signature)
            }
        }
    }
}
