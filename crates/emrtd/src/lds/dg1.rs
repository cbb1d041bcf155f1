//! DG1 (ICAO 9303-10 §4.7.1): the MRZ as stored on the chip.
//!
//! ```text
//! 61 { 5F1F MRZ characters (88 for TD3, 72 for TD2, 90 for TD1) }
//! ```
//! The characters are parsed and every check digit verified by [`crate::mrz`].
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use time::Date;

use super::{DataGroup, LdsError};
use crate::mrz::Mrz;
use crate::tlv::{self, Tag};

const TAG_MRZ: Tag = Tag(0x5F1F);

/// Parses DG1 and its MRZ; `today` resolves two-digit years ([`Mrz::parse`]).
pub fn parse(bytes: &[u8], today: Date) -> Result<Mrz, LdsError> {
    let dg1 = tlv::read_exact(bytes)?;
    dg1.check_tag(DataGroup::Dg1.tag())?;
    let mrz = dg1.require(TAG_MRZ)?;
    Ok(Mrz::parse(&mrz.octets()?, today)?)
}
