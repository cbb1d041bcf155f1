//! A zero-copy BER-TLV reader and a minimal DER writer (ISO/IEC 8825-1 = ITU-T X.690, as profiled
//! by ISO/IEC 7816-4 §5.2 and ICAO 9303-10 §4.4).
//!
//! Everything read from a chip goes through this module first: the LDS data groups (DG1, DG2,
//! DG14, DG15, EF.COM) and the raw byte slices pulled out of the Document Security Object. It owns
//! the tag/length grammar only; what a tag *means* belongs to the modules that call it.
//!
//! The reader accepts BER, not just DER, because real SODs are BER: indefinite lengths with
//! end-of-contents octets (X.690 §8.1.3.6), non-minimal length fields, and constructed
//! (segmented) strings (X.690 §8.7.3 / §8.21), which [`Tlv::octets`] reassembles.
//!
//! Limits that keep hostile input cheap:
//! - a tag is at most [`MAX_TAG_LEN`] bytes (it must fit [`Tag`]'s `u32`);
//! - a length field has at most 4 subsequent octets (lengths up to 4 GiB, far beyond any EF);
//! - indefinite-length encodings nest at most [`MAX_DEPTH`] deep, because finding the end of one
//!   means walking its children, recursively;
//! - nothing is allocated from a length read from the input: a declared length is first checked
//!   against the bytes actually present.
//!
//! Error offsets count bytes from the start of the slice given to the top-level call; for
//! [`Tlv::children`] and [`Tlv::octets`] they count from the start of that TLV's `raw`.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::borrow::Cow;
use std::fmt;

/// Deepest nesting of indefinite-length encodings (and of segmented strings) that is followed.
pub const MAX_DEPTH: usize = 32;

/// Longest identifier accepted, in bytes: a leading octet plus three subsequent octets, i.e. tag
/// numbers below 2^21 (ISO/IEC 7816-4 §5.2.2.1 allows only up to three bytes in total).
pub const MAX_TAG_LEN: usize = 4;

/// A tag as its big-endian identifier bytes, e.g. 0x30, 0x5F1F, 0x7F61 (ISO/IEC 8825-1 §8.1.2).
///
/// Keeping the identifier octets rather than (class, number) matches how ICAO 9303 and
/// ISO/IEC 7816-4 write tags, so `Tag(0x5F1F)` reads exactly like the standard's tables.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Tag(pub u32);

/// The class bits (bits 8–7 of the leading identifier octet, X.690 §8.1.2.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Class {
    Universal,
    Application,
    ContextSpecific,
    Private,
}

impl Tag {
    /// End-of-contents marker, only valid as the terminator of an indefinite-length encoding.
    pub const END_OF_CONTENTS: Tag = Tag(0x00);
    pub const INTEGER: Tag = Tag(0x02);
    pub const BIT_STRING: Tag = Tag(0x03);
    pub const OCTET_STRING: Tag = Tag(0x04);
    pub const NULL: Tag = Tag(0x05);
    pub const OID: Tag = Tag(0x06);
    pub const UTF8_STRING: Tag = Tag(0x0C);
    pub const PRINTABLE_STRING: Tag = Tag(0x13);
    pub const SEQUENCE: Tag = Tag(0x30);
    pub const SET: Tag = Tag(0x31);

    /// The identifier octets, most significant first (`Tag(0)` is the single octet `00`).
    pub fn to_bytes(self) -> Vec<u8> {
        let (bytes, skip) = self.identifier();
        bytes.get(skip..).map(<[u8]>::to_vec).unwrap_or_default()
    }

    /// The four big-endian bytes and how many leading zero bytes to skip.
    fn identifier(self) -> ([u8; 4], usize) {
        let skip = (self.0.leading_zeros() / 8).min(3) as usize;
        (self.0.to_be_bytes(), skip)
    }

    /// The leading identifier octet, which carries class and form.
    fn leading_octet(self) -> u8 {
        let (bytes, skip) = self.identifier();
        bytes.get(skip).copied().unwrap_or(0)
    }

    /// Constructed form (bit 6 of the leading octet, X.690 §8.1.2.5): the contents are TLVs.
    pub fn is_constructed(self) -> bool {
        self.leading_octet() & 0x20 != 0
    }

    pub fn class(self) -> Class {
        match self.leading_octet() >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::ContextSpecific,
            _ => Class::Private,
        }
    }

    /// The tag number (X.690 §8.1.2.2 low-tag-number form or §8.1.2.4 high-tag-number form).
    pub fn number(self) -> u32 {
        let (bytes, skip) = self.identifier();
        match bytes.get(skip..).unwrap_or_default().split_first() {
            Some((first, [])) => u32::from(first & 0x1F),
            Some((_, rest)) => rest.iter().fold(0, |n, b| (n << 7) | u32::from(b & 0x7F)),
            None => 0,
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X}", self.0)
    }
}

/// One decoded TLV, borrowing the input.
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    pub tag: Tag,
    /// The whole encoding: header, contents and (if indefinite) the end-of-contents octets.
    ///
    /// Signatures and hashes are computed over exactly these bytes, never over a re-encoding.
    pub raw: &'a [u8],
    /// The contents octets (for indefinite length: up to, excluding, the end-of-contents octets).
    pub content: &'a [u8],
    pub indefinite: bool,
}

/// Why bytes are not a well-formed BER-TLV. Offsets are byte positions, never contents.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum TlvError {
    #[error("BER-TLV truncated: more bytes needed at offset {offset}")]
    Truncated { offset: usize },
    #[error("BER tag at offset {offset} is longer than {MAX_TAG_LEN} bytes")]
    TagTooLong { offset: usize },
    #[error("BER length field at offset {offset} is longer than 4 bytes")]
    LengthTooLong { offset: usize },
    #[error("BER length octet 0xFF (reserved, X.690 §8.1.3.5 c) at offset {offset}")]
    ReservedLength { offset: usize },
    #[error("primitive encoding with indefinite length at offset {offset} (X.690 §8.1.3.2 a)")]
    IndefinitePrimitive { offset: usize },
    #[error(
        "indefinite-length or segmented encodings nested deeper than {MAX_DEPTH} at offset {offset}"
    )]
    DepthExceeded { offset: usize },
    #[error("indefinite-length encoding starting at offset {offset} has no end-of-contents octets")]
    MissingEndOfContents { offset: usize },
    #[error("end-of-contents octets outside an indefinite-length encoding at offset {offset}")]
    UnexpectedEndOfContents { offset: usize },
    #[error("{len} trailing bytes after the TLV ending at offset {offset}")]
    TrailingData { offset: usize, len: usize },
    #[error("expected tag {expected}, found {found}")]
    UnexpectedTag { expected: Tag, found: Tag },
    #[error("required element with tag {tag} is missing")]
    MissingTag { tag: Tag },
    #[error("tag {tag} is primitive; it has no children")]
    NotConstructed { tag: Tag },
    #[error("segment with tag {found} inside constructed string {outer} at offset {offset}")]
    BadSegment {
        outer: Tag,
        found: Tag,
        offset: usize,
    },
}

/// Reads one TLV from the start of `input` and returns it with the bytes after it.
pub fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), TlvError> {
    let tlv = parse_one(input, 0, 0)?;
    let rest = input.get(tlv.raw.len()..).unwrap_or_default();
    Ok((tlv, rest))
}

/// Reads exactly one TLV; trailing bytes are an error, since a data group or DER structure
/// that is followed by garbage was not produced by a conforming issuer.
pub fn read_exact(input: &[u8]) -> Result<Tlv<'_>, TlvError> {
    let (tlv, rest) = read(input)?;
    if !rest.is_empty() {
        return Err(TlvError::TrailingData {
            offset: tlv.raw.len(),
            len: rest.len(),
        });
    }
    Ok(tlv)
}

/// Reads a sequence of TLVs until `input` is exhausted.
pub fn read_all(input: &[u8]) -> Result<Vec<Tlv<'_>>, TlvError> {
    read_all_at(input, 0)
}

fn read_all_at(input: &[u8], base: usize) -> Result<Vec<Tlv<'_>>, TlvError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(rest) = input.get(pos..).filter(|r| !r.is_empty()) {
        let tlv = parse_one(rest, base + pos, 0)?;
        pos += tlv.raw.len();
        out.push(tlv);
    }
    Ok(out)
}

impl<'a> Tlv<'a> {
    /// Length of the identifier and length octets.
    pub fn header_len(&self) -> usize {
        let eoc = if self.indefinite { 2 } else { 0 };
        self.raw.len().saturating_sub(self.content.len() + eoc)
    }

    /// Parses the contents as a sequence of TLVs (X.690 §8.1.1: only constructed encodings
    /// contain TLVs).
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, TlvError> {
        if !self.tag.is_constructed() {
            return Err(TlvError::NotConstructed { tag: self.tag });
        }
        read_all_at(self.content, self.header_len())
    }

    /// The first direct child with `tag`, if any.
    pub fn child(&self, tag: Tag) -> Result<Option<Tlv<'a>>, TlvError> {
        Ok(self.children()?.into_iter().find(|c| c.tag == tag))
    }

    /// The first direct child with `tag`; its absence is an error.
    pub fn require(&self, tag: Tag) -> Result<Tlv<'a>, TlvError> {
        self.child(tag)?.ok_or(TlvError::MissingTag { tag })
    }

    /// Checks that this TLV has `tag`: an error, never a panic (named `check_tag` rather than
    /// `expect`, which in Rust reads as "panics when not").
    pub fn check_tag(&self, tag: Tag) -> Result<&Self, TlvError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(TlvError::UnexpectedTag {
                expected: tag,
                found: self.tag,
            })
        }
    }

    /// Contents of a string type, reassembling constructed (segmented) encodings, definite or
    /// indefinite (X.690 §8.7.3 / §8.21).
    ///
    /// A primitive encoding borrows; a constructed one is concatenated from its segments. Inside a
    /// universal string type the segments carry the same tag number; inside an implicitly tagged
    /// one (e.g. CMS `[0]`) they are OCTET STRINGs. A segment may itself be segmented.
    pub fn octets(&self) -> Result<Cow<'a, [u8]>, TlvError> {
        if !self.tag.is_constructed() {
            return Ok(Cow::Borrowed(self.content));
        }
        let mut out = Vec::new();
        collect_segments(self, self.tag, 0, 0, &mut out)?;
        Ok(Cow::Owned(out))
    }
}

fn collect_segments(
    tlv: &Tlv<'_>,
    outer: Tag,
    base: usize,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), TlvError> {
    if depth >= MAX_DEPTH {
        return Err(TlvError::DepthExceeded { offset: base });
    }
    let segment_number = if outer.class() == Class::Universal {
        outer.number()
    } else {
        Tag::OCTET_STRING.number()
    };
    let mut offset = base + tlv.header_len();
    for seg in read_all_at(tlv.content, offset)? {
        let universal_single_byte = seg.tag.0 <= 0x3F && seg.tag.class() == Class::Universal;
        if !universal_single_byte || seg.tag.number() != segment_number {
            return Err(TlvError::BadSegment {
                outer,
                found: seg.tag,
                offset,
            });
        }
        if seg.tag.is_constructed() {
            collect_segments(&seg, outer, offset, depth + 1, out)?;
        } else {
            out.extend_from_slice(seg.content);
        }
        offset += seg.raw.len();
    }
    Ok(())
}

/// Parses one TLV at the start of `input`; `base` is `input`'s offset for error reports and
/// `depth` the number of enclosing indefinite-length encodings.
fn parse_one(input: &[u8], base: usize, depth: usize) -> Result<Tlv<'_>, TlvError> {
    let (tag, tag_len) = parse_tag(input, base)?;
    let (length, len_len) = parse_length(input.get(tag_len..).unwrap_or_default(), base + tag_len)?;
    let header_len = tag_len + len_len;
    match length {
        Some(len) => {
            let end = header_len.checked_add(len).ok_or(TlvError::Truncated {
                offset: base + header_len,
            })?;
            let (raw, content) = match (input.get(..end), input.get(header_len..end)) {
                (Some(raw), Some(content)) => (raw, content),
                _ => {
                    return Err(TlvError::Truncated {
                        offset: base + input.len(),
                    });
                }
            };
            if tag == Tag::END_OF_CONTENTS {
                return Err(TlvError::UnexpectedEndOfContents { offset: base });
            }
            Ok(Tlv {
                tag,
                raw,
                content,
                indefinite: false,
            })
        }
        None => {
            if !tag.is_constructed() {
                return Err(TlvError::IndefinitePrimitive { offset: base });
            }
            if depth >= MAX_DEPTH {
                return Err(TlvError::DepthExceeded { offset: base });
            }
            let mut pos = header_len;
            loop {
                let rest = input.get(pos..).unwrap_or_default();
                match rest {
                    [0x00, 0x00, ..] => break,
                    [] | [_] => return Err(TlvError::MissingEndOfContents { offset: base }),
                    _ => pos += parse_one(rest, base + pos, depth + 1)?.raw.len(),
                }
            }
            let content = input.get(header_len..pos).unwrap_or_default();
            let raw = input.get(..pos + 2).unwrap_or_default();
            Ok(Tlv {
                tag,
                raw,
                content,
                indefinite: true,
            })
        }
    }
}

/// Identifier octets (X.690 §8.1.2): low-tag-number form, or 0x1F/0x3F/… followed by base-128
/// octets with bit 8 set on all but the last.
fn parse_tag(input: &[u8], base: usize) -> Result<(Tag, usize), TlvError> {
    let first = *input.first().ok_or(TlvError::Truncated { offset: base })?;
    if first & 0x1F != 0x1F {
        return Ok((Tag(u32::from(first)), 1));
    }
    let mut value = u32::from(first);
    for i in 1..MAX_TAG_LEN {
        let b = *input
            .get(i)
            .ok_or(TlvError::Truncated { offset: base + i })?;
        value = (value << 8) | u32::from(b);
        if b & 0x80 == 0 {
            return Ok((Tag(value), i + 1));
        }
    }
    Err(TlvError::TagTooLong { offset: base })
}

/// Length octets (X.690 §8.1.3): short form, 0x80 for indefinite (`None`), or 0x81–0x84 followed
/// by one to four big-endian octets. Non-minimal long forms are valid BER and accepted.
fn parse_length(input: &[u8], base: usize) -> Result<(Option<usize>, usize), TlvError> {
    let first = *input.first().ok_or(TlvError::Truncated { offset: base })?;
    match first {
        0x00..=0x7F => Ok((Some(usize::from(first)), 1)),
        0x80 => Ok((None, 1)),
        0xFF => Err(TlvError::ReservedLength { offset: base }),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7F);
            let bytes = input.get(1..=n).ok_or(TlvError::Truncated {
                offset: base + input.len(),
            })?;
            let len = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            let len = usize::try_from(len).map_err(|_| TlvError::LengthTooLong { offset: base })?;
            Ok((Some(len), n + 1))
        }
        _ => Err(TlvError::LengthTooLong { offset: base }),
    }
}

/// Appends a DER encoding of (`tag`, `content`) to `out`: definite, minimal length
/// (X.690 §10.1). Used by the test-passport factory and by re-wrapping code; never for hashing
/// something that was received.
pub fn write(tag: Tag, content: &[u8], out: &mut Vec<u8>) {
    let (tag_bytes, skip) = tag.identifier();
    out.extend_from_slice(tag_bytes.get(skip..).unwrap_or_default());
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
}

/// The DER encoding of (`tag`, `content`) as a new vector.
pub fn encode(tag: Tag, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 8);
    write(tag, content, &mut out);
    out
}
