//! DG14: `SecurityInfos` (ICAO 9303-11 §9.2, BSI TR-03110-3 Part 3 §A.1).
//!
//! ```text
//! 6E { SecurityInfos ::= SET OF SecurityInfo }
//! SecurityInfo ::= SEQUENCE { protocol OBJECT IDENTIFIER, requiredData ANY, optionalData ANY OPTIONAL }
//! ```
//!
//! The protocol OID selects the syntax of the rest:
//! - `ChipAuthenticationInfo ::= SEQUENCE { protocol id-CA-(EC)DH-<cipher>, version INTEGER,
//!   keyId INTEGER OPTIONAL }` (9303-11 §9.2.5);
//! - `ChipAuthenticationPublicKeyInfo ::= SEQUENCE { protocol id-PK-DH | id-PK-ECDH,
//!   chipAuthenticationPublicKey SubjectPublicKeyInfo, keyId INTEGER OPTIONAL }` (§9.2.6);
//! - `ChipAuthenticationDomainParameterInfo ::= SEQUENCE { protocol id-CA-DH | id-CA-ECDH,
//!   domainParameter AlgorithmIdentifier, keyId INTEGER OPTIONAL }` (TR-03110-3 §A.1.1.2);
//! - `PACEInfo ::= SEQUENCE { protocol id-PACE-…, version INTEGER, parameterId INTEGER OPTIONAL }`
//!   (§9.2.1);
//! - `ActiveAuthenticationInfo ::= SEQUENCE { protocol id-AA, version INTEGER,
//!   signatureAlgorithm OBJECT IDENTIFIER }` (§9.2.8), present when AA uses ECDSA;
//! - `TerminalAuthenticationInfo ::= SEQUENCE { protocol id-TA, version INTEGER,
//!   efCVCA FileID OPTIONAL }` (TR-03110-3 §A.1.1.3);
//! - anything else is kept as [`SecurityInfo::Unknown`] with its raw bytes, as 9303-11 requires
//!   readers to ignore unknown entries.
//!
//! A known protocol OID whose data does not match its syntax is an error, not an unknown entry:
//! a malformed chip-authentication key must not silently disable chip authentication.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use der::Decode;
use der::asn1::ObjectIdentifier;

use super::{DataGroup, LdsError, oid, uint};
use crate::tlv::{self, Tag, Tlv};

/// id-AA, 2.23.136.1.1.5 (9303-11 §9.2.8).
pub const ID_AA: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.136.1.1.5");
/// id-PK-DH, bsi-de protocols pk 1 (TR-03110-3 §A.1.1.2).
pub const ID_PK_DH: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.1.1");
/// id-PK-ECDH, bsi-de protocols pk 2.
pub const ID_PK_ECDH: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.1.2");
/// id-TA, bsi-de protocols 2.
pub const ID_TA: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.2");

/// The key agreement of chip authentication (the 10th arc of id-CA-…, id-PK-…).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAgreement {
    /// Finite-field Diffie–Hellman (PKCS #3).
    Dh,
    /// Elliptic-curve Diffie–Hellman (ECKA, BSI TR-03111).
    Ecdh,
}

/// Secure-messaging cipher after chip authentication (the 11th arc of id-CA-(EC)DH-…,
/// 9303-11 §9.2.5 / TR-03110-3 §A.1.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaCipher {
    /// …-3DES-CBC-CBC (arc 1).
    Des3CbcCbc,
    /// …-AES-CBC-CMAC-128 (arc 2).
    AesCbcCmac128,
    /// …-AES-CBC-CMAC-192 (arc 3).
    AesCbcCmac192,
    /// …-AES-CBC-CMAC-256 (arc 4).
    AesCbcCmac256,
}

/// A hash function named by an ECDSA-plain signature OID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// The signature algorithm of active authentication with ECDSA (9303-11 §6.1.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AaSignatureAlgorithm {
    /// ecdsa-plain-SHAx, 0.4.0.127.0.7.1.1.4.1.{1..5} (BSI TR-03111 §5.2.1): r‖s, each the
    /// size of the group order.
    EcdsaPlain(HashAlgorithm),
    /// Any other algorithm OID (e.g. ecdsa-with-SHAx from X9.62, DER signatures).
    Other(ObjectIdentifier),
}

impl AaSignatureAlgorithm {
    fn from_oid(oid: ObjectIdentifier) -> Self {
        let arcs: Vec<u32> = oid.arcs().collect();
        let hash = match arcs.as_slice() {
            [0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 1] => HashAlgorithm::Sha1,
            [0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 2] => HashAlgorithm::Sha224,
            [0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 3] => HashAlgorithm::Sha256,
            [0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 4] => HashAlgorithm::Sha384,
            [0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 5] => HashAlgorithm::Sha512,
            _ => return AaSignatureAlgorithm::Other(oid),
        };
        AaSignatureAlgorithm::EcdsaPlain(hash)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChipAuthenticationInfo {
    pub key_agreement: KeyAgreement,
    pub cipher: CaCipher,
    pub version: u64,
    /// Which `ChipAuthenticationPublicKeyInfo` this applies to, when the chip has several.
    pub key_id: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChipAuthenticationPublicKeyInfo {
    pub key_agreement: KeyAgreement,
    /// The chip's static public key as a DER `SubjectPublicKeyInfo`, byte for byte as stored.
    pub spki_der: Vec<u8>,
    pub key_id: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChipAuthenticationDomainParameterInfo {
    pub key_agreement: KeyAgreement,
    /// The domain parameters as a DER `AlgorithmIdentifier`.
    pub algorithm_der: Vec<u8>,
    pub key_id: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaceInfo {
    pub protocol: ObjectIdentifier,
    pub version: u64,
    pub parameter_id: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveAuthenticationInfo {
    pub version: u64,
    pub signature_algorithm: AaSignatureAlgorithm,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalAuthenticationInfo {
    pub version: u64,
    /// The raw `FileID` of EF.CVCA, when given.
    pub ef_cvca: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecurityInfo {
    ChipAuthentication(ChipAuthenticationInfo),
    ChipAuthenticationPublicKey(ChipAuthenticationPublicKeyInfo),
    ChipAuthenticationDomainParameters(ChipAuthenticationDomainParameterInfo),
    Pace(PaceInfo),
    ActiveAuthentication(ActiveAuthenticationInfo),
    TerminalAuthentication(TerminalAuthenticationInfo),
    /// A protocol this parser does not know; `raw` is the whole SecurityInfo encoding.
    Unknown {
        oid: ObjectIdentifier,
        raw: Vec<u8>,
    },
}

/// The parsed DG14.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SecurityInfos {
    pub infos: Vec<SecurityInfo>,
}

impl SecurityInfos {
    pub fn chip_authentication(&self) -> impl Iterator<Item = &ChipAuthenticationInfo> {
        self.infos.iter().filter_map(|i| match i {
            SecurityInfo::ChipAuthentication(ca) => Some(ca),
            _ => None,
        })
    }

    pub fn chip_authentication_public_keys(
        &self,
    ) -> impl Iterator<Item = &ChipAuthenticationPublicKeyInfo> {
        self.infos.iter().filter_map(|i| match i {
            SecurityInfo::ChipAuthenticationPublicKey(pk) => Some(pk),
            _ => None,
        })
    }

    pub fn active_authentication(&self) -> Option<&ActiveAuthenticationInfo> {
        self.infos.iter().find_map(|i| match i {
            SecurityInfo::ActiveAuthentication(aa) => Some(aa),
            _ => None,
        })
    }
}

/// Parses DG14 (tag 6E).
pub fn parse(bytes: &[u8]) -> Result<SecurityInfos, LdsError> {
    let dg14 = tlv::read_exact(bytes)?;
    dg14.check_tag(DataGroup::Dg14.tag())?;
    let set = tlv::read_exact(dg14.content)?;
    parse_security_infos(&set)
}

/// Parses a `SecurityInfos` SET (as in DG14, EF.CardAccess or EF.CardSecurity).
pub fn parse_security_infos(set: &Tlv<'_>) -> Result<SecurityInfos, LdsError> {
    set.check_tag(Tag::SET)?;
    let infos = set
        .children()?
        .iter()
        .enumerate()
        .map(|(index, info)| parse_info(info).map_err(|e| mark(e, index)))
        .collect::<Result<_, _>>()?;
    Ok(SecurityInfos { infos })
}

/// Structural errors inside an entry are reported with the entry's position.
fn mark(e: LdsError, index: usize) -> LdsError {
    match e {
        LdsError::Tlv(_)
        | LdsError::InvalidInteger { .. }
        | LdsError::InvalidPublicKey
        | LdsError::InvalidOid => LdsError::InvalidSecurityInfo { index },
        other => other,
    }
}

fn parse_info(info: &Tlv<'_>) -> Result<SecurityInfo, LdsError> {
    info.check_tag(Tag::SEQUENCE)?;
    let fields = info.children()?;
    let (protocol, rest) = fields
        .split_first()
        .ok_or(tlv::TlvError::MissingTag { tag: Tag::OID })?;
    let protocol = oid(protocol)?;
    let arcs: Vec<u32> = protocol.arcs().collect();
    let key_agreement = |arc: u32| match arc {
        1 => Some(KeyAgreement::Dh),
        2 => Some(KeyAgreement::Ecdh),
        _ => None,
    };
    let cipher = |arc: u32| match arc {
        1 => Some(CaCipher::Des3CbcCbc),
        2 => Some(CaCipher::AesCbcCmac128),
        3 => Some(CaCipher::AesCbcCmac192),
        4 => Some(CaCipher::AesCbcCmac256),
        _ => None,
    };
    let unknown = || SecurityInfo::Unknown {
        oid: protocol,
        raw: info.raw.to_vec(),
    };
    Ok(match arcs.as_slice() {
        // id-PK-DH / id-PK-ECDH
        [0, 4, 0, 127, 0, 7, 2, 2, 1, ka] => match key_agreement(*ka) {
            Some(key_agreement) => {
                let (spki, key_id) = required_and_optional_int(rest)?;
                spki.check_tag(Tag::SEQUENCE)?;
                spki::SubjectPublicKeyInfoRef::from_der(spki.raw)
                    .map_err(|_| LdsError::InvalidPublicKey)?;
                SecurityInfo::ChipAuthenticationPublicKey(ChipAuthenticationPublicKeyInfo {
                    key_agreement,
                    spki_der: spki.raw.to_vec(),
                    key_id,
                })
            }
            None => unknown(),
        },
        // id-CA-DH / id-CA-ECDH: domain parameters
        [0, 4, 0, 127, 0, 7, 2, 2, 3, ka] => match key_agreement(*ka) {
            Some(key_agreement) => {
                let (algorithm, key_id) = required_and_optional_int(rest)?;
                algorithm.check_tag(Tag::SEQUENCE)?;
                SecurityInfo::ChipAuthenticationDomainParameters(
                    ChipAuthenticationDomainParameterInfo {
                        key_agreement,
                        algorithm_der: algorithm.raw.to_vec(),
                        key_id,
                    },
                )
            }
            None => unknown(),
        },
        // id-CA-DH-<cipher> / id-CA-ECDH-<cipher>
        [0, 4, 0, 127, 0, 7, 2, 2, 3, ka, c] => match (key_agreement(*ka), cipher(*c)) {
            (Some(key_agreement), Some(cipher)) => {
                let (version, key_id) = required_and_optional_int(rest)?;
                SecurityInfo::ChipAuthentication(ChipAuthenticationInfo {
                    key_agreement,
                    cipher,
                    version: uint(version.check_tag(Tag::INTEGER)?)?,
                    key_id,
                })
            }
            _ => unknown(),
        },
        // id-PACE-<mapping>-<cipher>
        [0, 4, 0, 127, 0, 7, 2, 2, 4, _, _] => {
            let (version, parameter_id) = required_and_optional_int(rest)?;
            SecurityInfo::Pace(PaceInfo {
                protocol,
                version: uint(version.check_tag(Tag::INTEGER)?)?,
                parameter_id,
            })
        }
        // id-TA
        [0, 4, 0, 127, 0, 7, 2, 2, 2] => {
            let version = rest
                .first()
                .ok_or(tlv::TlvError::MissingTag { tag: Tag::INTEGER })?;
            let ef_cvca = match rest.get(1..) {
                Some([file_id]) => Some(file_id.check_tag(Tag::SEQUENCE)?.raw.to_vec()),
                Some([]) | None => None,
                Some(_) => {
                    return Err(tlv::TlvError::TrailingData {
                        offset: 0,
                        len: rest.len(),
                    }
                    .into());
                }
            };
            SecurityInfo::TerminalAuthentication(TerminalAuthenticationInfo {
                version: uint(version.check_tag(Tag::INTEGER)?)?,
                ef_cvca,
            })
        }
        // id-AA
        [2, 23, 136, 1, 1, 5] => match rest {
            [version, algorithm] => SecurityInfo::ActiveAuthentication(ActiveAuthenticationInfo {
                version: uint(version.check_tag(Tag::INTEGER)?)?,
                signature_algorithm: AaSignatureAlgorithm::from_oid(oid(algorithm)?),
            }),
            _ => return Err(tlv::TlvError::MissingTag { tag: Tag::OID }.into()),
        },
        _ => unknown(),
    })
}

/// `requiredData` followed by an optional INTEGER and nothing else.
fn required_and_optional_int<'a, 'b>(
    rest: &'b [Tlv<'a>],
) -> Result<(&'b Tlv<'a>, Option<u64>), LdsError> {
    match rest {
        [required] => Ok((required, None)),
        [required, optional] => Ok((required, Some(uint(optional.check_tag(Tag::INTEGER)?)?))),
        [] => Err(tlv::TlvError::MissingTag { tag: Tag::INTEGER }.into()),
        _ => Err(tlv::TlvError::TrailingData {
            offset: 0,
            len: rest.len(),
        }
        .into()),
    }
}
