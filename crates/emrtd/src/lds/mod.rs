//! The Logical Data Structure (ICAO 9303-10): the elementary files a chip carries and the
//! parsers of the ones idgate reads.
//!
//! - [`com`]: EF.COM, the list of data groups present (9303-10 §4.6.1);
//! - [`dg1`]: the MRZ (9303-10 §4.7.1), parsed by [`crate::mrz`];
//! - [`dg2`]: the encoded face, ISO/IEC 19794-5 or ISO/IEC 39794-5 (9303-10 §4.7.2);
//! - [`dg14`]: SecurityInfos for chip authentication, PACE, active and terminal authentication
//!   (9303-11 §9.2, BSI TR-03110-3);
//! - [`dg15`]: the active-authentication public key (9303-10 §4.7.15, 9303-11 §6.1).
//!
//! These modules only parse: they say nothing about whether a file is genuine. Hashing the files
//! against the SOD belongs to [`crate::passive`], key use to [`crate::active`] and
//! [`crate::chip_auth`]. Each parser takes the whole file as read from the chip and rejects
//! trailing bytes.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod com;
pub mod dg1;
pub mod dg14;
pub mod dg15;
pub mod dg2;

use crate::mrz::MrzError;
use crate::tlv::{Tag, TlvError};

/// Why an LDS file was rejected. Variants carry tags, counts and offsets, never file contents.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum LdsError {
    #[error("malformed TLV: {0}")]
    Tlv(#[from] TlvError),
    #[error("DG1 MRZ: {0}")]
    Mrz(#[from] MrzError),
    #[error("EF.COM field {tag} is not ASCII digits")]
    InvalidVersion { tag: Tag },
    #[error("EF.COM lists tag 0x{tag:02X}, which is not a data group")]
    UnknownDataGroupTag { tag: u8 },
    #[error("DG2 announces {declared} biometric templates but holds {found}")]
    BiometricCountMismatch { declared: u64, found: usize },
    #[error("DG2 biometric template has no 5F2E or 7F2E data block")]
    MissingBiometricDataBlock,
    #[error("DG2 holds no facial image")]
    NoPortrait,
    #[error("ISO/IEC 19794-5 record: {reason} at offset {offset}")]
    FaceRecord {
        offset: usize,
        reason: FaceRecordProblem,
    },
    #[error("ISO/IEC 39794-5 face image data block lacks {element}")]
    FaceDataBlock { element: &'static str },
    #[error("image data is neither JPEG nor JPEG 2000")]
    UnknownImageFormat,
    #[error("image of {width}x{height} pixels is empty or exceeds {MAX_IMAGE_DIMENSION} per side")]
    ImageDimensions { width: u32, height: u32 },
    #[error("{format:?} image does not decode: {reason}")]
    ImageDecode {
        format: dg2::ImageFormat,
        reason: String,
    },
    #[error("decoded image has an unsupported colour space")]
    UnsupportedColourSpace,
    #[error("INTEGER element {tag} is negative, empty or wider than 64 bits")]
    InvalidInteger { tag: Tag },
    #[error("OBJECT IDENTIFIER element is malformed")]
    InvalidOid,
    #[error("DG14 SecurityInfo #{index} does not match its protocol's syntax")]
    InvalidSecurityInfo { index: usize },
    #[error("SubjectPublicKeyInfo is not valid DER")]
    InvalidPublicKey,
    #[error("public key algorithm {oid} is not RSA or EC")]
    UnsupportedPublicKeyAlgorithm { oid: String },
}

/// Problems inside an ISO/IEC 19794-5 facial record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaceRecordProblem {
    NotAFaceRecord,
    UnsupportedVersion,
    Truncated,
    BadLength,
}

impl std::fmt::Display for FaceRecordProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaceRecordProblem::NotAFaceRecord => "no \"FAC\\0\" format identifier",
            FaceRecordProblem::UnsupportedVersion => {
                "version is not \"010\\0\" (ISO/IEC 19794-5:2005)"
            }
            FaceRecordProblem::Truncated => "truncated",
            FaceRecordProblem::BadLength => "inconsistent length field",
        })
    }
}

/// Largest accepted width or height of a portrait, in pixels: ICAO portraits are a few hundred
/// pixels wide, and the cap bounds the memory a hostile DG2 can make the decoder allocate.
pub const MAX_IMAGE_DIMENSION: u32 = 4096;

/// The LDS elementary files and their tags (9303-10 §4.6, Table 34).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataGroup {
    Dg1,
    Dg2,
    Dg3,
    Dg4,
    Dg5,
    Dg6,
    Dg7,
    Dg8,
    Dg9,
    Dg10,
    Dg11,
    Dg12,
    Dg13,
    Dg14,
    Dg15,
    Dg16,
}

const DATA_GROUPS: [(DataGroup, u8); 16] = [
    (DataGroup::Dg1, 0x61),
    (DataGroup::Dg2, 0x75),
    (DataGroup::Dg3, 0x63),
    (DataGroup::Dg4, 0x76),
    (DataGroup::Dg5, 0x65),
    (DataGroup::Dg6, 0x66),
    (DataGroup::Dg7, 0x67),
    (DataGroup::Dg8, 0x68),
    (DataGroup::Dg9, 0x69),
    (DataGroup::Dg10, 0x6A),
    (DataGroup::Dg11, 0x6B),
    (DataGroup::Dg12, 0x6C),
    (DataGroup::Dg13, 0x6D),
    (DataGroup::Dg14, 0x6E),
    (DataGroup::Dg15, 0x6F),
    (DataGroup::Dg16, 0x70),
];

/// EF.COM's tag (9303-10 §4.6.1).
pub const TAG_COM: Tag = Tag(0x60);
/// EF.SOD's tag (9303-10 §4.6.2).
pub const TAG_SOD: Tag = Tag(0x77);

impl DataGroup {
    /// The data group number, as used in the SOD's `DataGroupHash` (9303-10 §4.6.2.2).
    pub fn number(self) -> u8 {
        DATA_GROUPS
            .iter()
            .position(|(dg, _)| *dg == self)
            .map_or(0, |i| i as u8 + 1)
    }

    pub fn from_number(n: u8) -> Option<DataGroup> {
        DATA_GROUPS
            .get(usize::from(n).checked_sub(1)?)
            .map(|(dg, _)| *dg)
    }

    /// The file's outermost tag.
    pub fn tag(self) -> Tag {
        DATA_GROUPS
            .iter()
            .find(|(dg, _)| *dg == self)
            .map_or(Tag(0), |(_, t)| Tag(u32::from(*t)))
    }

    pub fn from_tag(tag: Tag) -> Option<DataGroup> {
        DATA_GROUPS
            .iter()
            .find(|(_, t)| u32::from(*t) == tag.0)
            .map(|(dg, _)| *dg)
    }
}

/// An INTEGER's contents as a non-negative `u64` (X.690 §8.3, two's complement).
pub(crate) fn uint(tlv: &crate::tlv::Tlv<'_>) -> Result<u64, LdsError> {
    let err = LdsError::InvalidInteger { tag: tlv.tag };
    let bytes = tlv.content;
    match bytes.first() {
        None => return Err(err),
        Some(b) if b & 0x80 != 0 => return Err(err),
        _ => {}
    }
    let significant = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => bytes,
    };
    if significant.len() > 8 {
        return Err(err);
    }
    Ok(significant
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// An OBJECT IDENTIFIER element's value.
pub(crate) fn oid(tlv: &crate::tlv::Tlv<'_>) -> Result<der::asn1::ObjectIdentifier, LdsError> {
    tlv.check_tag(Tag::OID)?;
    der::asn1::ObjectIdentifier::from_bytes(tlv.content).map_err(|_| LdsError::InvalidOid)
}
