//! EF.COM (ICAO 9303-10 §4.6.1): LDS and Unicode versions and the list of data groups present.
//!
//! EF.COM is not covered by the SOD, so its list is a hint for the reader, never evidence: the
//! authoritative list of data groups is the SOD's `dataGroupHashValues`.
//!
//! ```text
//! 60 { 5F01 LDS version "aabb", 5F36 Unicode version "aabbcc", 5C tag list }
//! ```
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use super::{DataGroup, LdsError, TAG_COM};
use crate::tlv::{self, Tag};

const TAG_LDS_VERSION: Tag = Tag(0x5F01);
const TAG_UNICODE_VERSION: Tag = Tag(0x5F36);
const TAG_LIST: Tag = Tag(0x5C);

/// The contents of EF.COM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Com {
    /// LDS version as its four digits, e.g. `"0107"` for LDS 1.7.
    pub lds_version: String,
    /// Unicode version as its six digits, e.g. `"040000"` for Unicode 4.0.0.
    pub unicode_version: String,
    /// Data groups in the order listed.
    pub data_groups: Vec<DataGroup>,
}

/// Parses EF.COM.
pub fn parse(bytes: &[u8]) -> Result<Com, LdsError> {
    let com = tlv::read_exact(bytes)?;
    com.check_tag(TAG_COM)?;
    let digits = |tag: Tag, len: usize| -> Result<String, LdsError> {
        let field = com.require(tag)?;
        if field.content.len() != len || !field.content.iter().all(u8::is_ascii_digit) {
            return Err(LdsError::InvalidVersion { tag });
        }
        Ok(field.content.iter().map(|b| char::from(*b)).collect())
    };
    let lds_version = digits(TAG_LDS_VERSION, 4)?;
    let unicode_version = digits(TAG_UNICODE_VERSION, 6)?;
    let data_groups = com
        .require(TAG_LIST)?
        .content
        .iter()
        .map(|t| {
            DataGroup::from_tag(Tag(u32::from(*t))).ok_or(LdsError::UnknownDataGroupTag { tag: *t })
        })
        .collect::<Result<_, _>>()?;
    Ok(Com {
        lds_version,
        unicode_version,
        data_groups,
    })
}
