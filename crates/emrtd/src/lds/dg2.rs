//! DG2, the encoded face (ICAO 9303-10 §4.7.2), and decoding of the portrait to pixels.
//!
//! ```text
//! 75 {                                   DG2
//!   7F61 {                               biometric information group template
//!     02 n                               number of instances
//!     7F60 {                             biometric information template (n times)
//!       A1 { 81 type, 87 owner, 88 type, … }      biometric header template (ISO/IEC 7816-11)
//!       5F2E ISO/IEC 19794-5:2005 record | 7F2E ISO/IEC 39794-5 data block
//! } } }
//! ```
//!
//! Two encodings of the biometric data block exist:
//! - 5F2E holds a binary ISO/IEC 19794-5:2005 record ("FAC\0", version "010\0"): a 14-byte
//!   general header, then per image a 20-byte facial information block, 8 bytes per feature
//!   point, a 12-byte image information block (§5.7: image data type 0 = JPEG, 1 = JPEG 2000,
//!   width, height) and the image bytes;
//! - 7F2E holds the ISO/IEC 39794-5 `FaceImageDataBlock` ([APPLICATION 5], BER), whose
//!   `representationData2D` holds the image and `imageSizeBlock` its size.
//!
//! The image format is taken from the image's own signature (JPEG SOI, JP2 signature box or
//! JPEG 2000 codestream SOC/SIZ), because that is what the decoder will act on. Every image
//! found is returned, the first being the primary portrait.
//!
//! [`Portrait::decode`] uses zune-jpeg and hayro-jpeg2000 (pure Rust) and refuses images larger
//! than [`MAX_IMAGE_DIMENSION`] per side before allocating pixel buffers.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt;

use super::{DataGroup, FaceRecordProblem, LdsError, MAX_IMAGE_DIMENSION, uint};
use crate::tlv::{self, Tag, Tlv};

const TAG_GROUP_TEMPLATE: Tag = Tag(0x7F61);
const TAG_INSTANCE_COUNT: Tag = Tag(0x02);
const TAG_INFO_TEMPLATE: Tag = Tag(0x7F60);
const TAG_HEADER_TEMPLATE: Tag = Tag(0xA1);
const TAG_DATA_BLOCK_19794: Tag = Tag(0x5F2E);
const TAG_DATA_BLOCK_39794: Tag = Tag(0x7F2E);

/// The two image codings ICAO 9303-10 §4.7.2 allows for the portrait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Jpeg2000,
}

impl ImageFormat {
    /// Recognises the format by its signature: JPEG SOI (FF D8), the JP2 signature box
    /// (ISO/IEC 15444-1 Annex I.5.1) or a raw codestream's SOC + SIZ markers (FF 4F FF 51).
    pub fn sniff(data: &[u8]) -> Option<ImageFormat> {
        const JP2_SIGNATURE: &[u8] = b"\x00\x00\x00\x0C\x6A\x50\x20\x20\x0D\x0A\x87\x0A";
        if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if data.starts_with(JP2_SIGNATURE) || data.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
            Some(ImageFormat::Jpeg2000)
        } else {
            None
        }
    }

    /// The MIME type for the `document_photo` claim.
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Jpeg2000 => "image/jp2",
        }
    }
}

/// Which biometric data block the portrait came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaceEncoding {
    /// 5F2E: ISO/IEC 19794-5:2005.
    Iso19794,
    /// 7F2E: ISO/IEC 39794-5.
    Iso39794,
}

/// One facial image as stored on the chip.
#[derive(Clone, PartialEq, Eq)]
pub struct Portrait {
    pub format: ImageFormat,
    /// Width in pixels as declared by the biometric record (or, when a 39794-5 block omits its
    /// size, as read from the image header).
    pub width: u32,
    pub height: u32,
    /// The encoded image bytes exactly as stored.
    pub data: Vec<u8>,
    pub encoding: FaceEncoding,
}

impl fmt::Debug for Portrait {
    /// The image is biometric data; its bytes are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portrait")
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("encoding", &self.encoding)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// A decoded portrait: 8-bit RGB, row-major, `width * height * 3` bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodedImage {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl fmt::Debug for DecodedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodedImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// The parsed DG2: at least one portrait; the first is the primary one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dg2 {
    primary: Portrait,
    others: Vec<Portrait>,
}

impl Dg2 {
    /// The portrait to show and to match against (the first one stored).
    pub fn primary(&self) -> &Portrait {
        &self.primary
    }

    /// Every portrait, primary first.
    pub fn portraits(&self) -> impl Iterator<Item = &Portrait> {
        std::iter::once(&self.primary).chain(&self.others)
    }

    pub fn into_primary(self) -> Portrait {
        self.primary
    }
}

/// Parses DG2 and extracts every facial image.
pub fn parse(bytes: &[u8]) -> Result<Dg2, LdsError> {
    let dg2 = tlv::read_exact(bytes)?;
    dg2.check_tag(DataGroup::Dg2.tag())?;
    let group = dg2.require(TAG_GROUP_TEMPLATE)?;
    let children = group.children()?;
    let declared = children
        .iter()
        .find(|c| c.tag == TAG_INSTANCE_COUNT)
        .ok_or(LdsError::Tlv(tlv::TlvError::MissingTag {
            tag: TAG_INSTANCE_COUNT,
        }))
        .and_then(uint)?;
    let templates: Vec<&Tlv<'_>> = children
        .iter()
        .filter(|c| c.tag == TAG_INFO_TEMPLATE)
        .collect();
    if usize::try_from(declared).ok() != Some(templates.len()) {
        return Err(LdsError::BiometricCountMismatch {
            declared,
            found: templates.len(),
        });
    }
    let mut portraits = Vec::new();
    for template in templates {
        portraits.extend(parse_template(template)?);
    }
    let mut portraits = portraits.into_iter();
    let primary = portraits.next().ok_or(LdsError::NoPortrait)?;
    Ok(Dg2 {
        primary,
        others: portraits.collect(),
    })
}

fn parse_template(template: &Tlv<'_>) -> Result<Vec<Portrait>, LdsError> {
    // The biometric header template is mandatory (9303-10 §4.7.2.1); its contents (format
    // owner/type) are not needed, as the data block's own tag and header say what it is.
    template.require(TAG_HEADER_TEMPLATE)?;
    if let Some(block) = template.child(TAG_DATA_BLOCK_19794)? {
        parse_19794(&block.octets()?)
    } else if let Some(block) = template.child(TAG_DATA_BLOCK_39794)? {
        parse_39794(&block)
    } else {
        Err(LdsError::MissingBiometricDataBlock)
    }
}

fn be(bytes: &[u8], at: usize, len: usize) -> Result<u32, LdsError> {
    let field = bytes.get(at..at + len).ok_or(LdsError::FaceRecord {
        offset: at,
        reason: FaceRecordProblem::Truncated,
    })?;
    Ok(field.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// ISO/IEC 19794-5:2005 §5.4–§5.8: general header, then per image the facial information,
/// feature points, image information and image data.
fn parse_19794(rec: &[u8]) -> Result<Vec<Portrait>, LdsError> {
    const GENERAL_HEADER: usize = 14;
    const FACIAL_INFO: usize = 20;
    const FEATURE_POINT: usize = 8;
    const IMAGE_INFO: usize = 12;
    let problem = |offset, reason| LdsError::FaceRecord { offset, reason };
    if rec.get(0..4) != Some(b"FAC\0") {
        return Err(problem(0, FaceRecordProblem::NotAFaceRecord));
    }
    if rec.get(4..8) != Some(b"010\0") {
        return Err(problem(4, FaceRecordProblem::UnsupportedVersion));
    }
    let record_len = be(rec, 8, 4)? as usize;
    if record_len < GENERAL_HEADER || record_len > rec.len() {
        return Err(problem(8, FaceRecordProblem::BadLength));
    }
    let count = be(rec, 12, 2)?;
    let mut portraits = Vec::new();
    let mut pos = GENERAL_HEADER;
    for _ in 0..count {
        let block_len = be(rec, pos, 4)? as usize;
        let end = pos.checked_add(block_len).filter(|e| *e <= record_len);
        let end = end.ok_or(problem(pos, FaceRecordProblem::BadLength))?;
        let feature_points = be(rec, pos + 4, 2)? as usize;
        let info = pos + FACIAL_INFO + feature_points * FEATURE_POINT;
        let image_start = info + IMAGE_INFO;
        if image_start > end {
            return Err(problem(pos, FaceRecordProblem::BadLength));
        }
        let width = be(rec, info + 2, 2)?;
        let height = be(rec, info + 4, 2)?;
        let data = rec
            .get(image_start..end)
            .ok_or(problem(image_start, FaceRecordProblem::Truncated))?;
        let format = ImageFormat::sniff(data).ok_or(LdsError::UnknownImageFormat)?;
        portraits.push(Portrait {
            format,
            width,
            height,
            data: data.to_vec(),
            encoding: FaceEncoding::Iso19794,
        });
        pos = end;
    }
    Ok(portraits)
}

/// ISO/IEC 39794-5 `FaceImageDataBlock ::= [APPLICATION 5] SEQUENCE { versionBlock [0],
/// representationBlocks [1] SEQUENCE OF RepresentationBlock, … }`, where each
/// `RepresentationBlock` holds `imageRepresentation [1] CHOICE { base [0] CHOICE {
/// imageRepresentation2DBlock [0] SEQUENCE { representationData2D [0] OCTET STRING,
/// imageInformation2DBlock [1] SEQUENCE { …, imageSizeBlock [7] { width [0], height [1] } } } } }`.
/// Elements are found by tag, not position, since most are OPTIONAL or extensible.
fn parse_39794(block: &Tlv<'_>) -> Result<Vec<Portrait>, LdsError> {
    let missing = |element| LdsError::FaceDataBlock { element };
    // The data block may wrap the [APPLICATION 5] element in a context tag [1].
    let mut top = block.children()?;
    if let [only] = top.as_slice()
        && only.tag == Tag(0xA1)
    {
        top = only.children()?;
    }
    let face = top
        .into_iter()
        .find(|t| t.tag == Tag(0x65))
        .ok_or(missing("FaceImageDataBlock"))?;
    let representations = face
        .child(Tag(0xA1))?
        .ok_or(missing("representationBlocks"))?;
    let mut portraits = Vec::new();
    for representation in representations.children()? {
        let image = representation
            .child(Tag(0xA1))?
            .ok_or(missing("imageRepresentation"))?;
        let base = image.child(Tag(0xA0))?.ok_or(missing("base"))?;
        let two_d = base
            .child(Tag(0xA0))?
            .ok_or(missing("imageRepresentation2DBlock"))?;
        let data = match (two_d.child(Tag(0x80))?, two_d.child(Tag(0xA0))?) {
            (Some(d), _) | (None, Some(d)) => d.octets()?.into_owned(),
            (None, None) => return Err(missing("representationData2D")),
        };
        let format = ImageFormat::sniff(&data).ok_or(LdsError::UnknownImageFormat)?;
        let declared_size = match two_d.child(Tag(0xA1))? {
            Some(info) => match info.child(Tag(0xA7))? {
                Some(size) => Some((
                    dimension(&size.child(Tag(0x80))?.ok_or(missing("width"))?)?,
                    dimension(&size.child(Tag(0x81))?.ok_or(missing("height"))?)?,
                )),
                None => None,
            },
            None => return Err(missing("imageInformation2DBlock")),
        };
        let (width, height) = match declared_size {
            Some(size) => size,
            None => probe_dimensions(format, &data)?,
        };
        portraits.push(Portrait {
            format,
            width,
            height,
            data,
            encoding: FaceEncoding::Iso39794,
        });
    }
    Ok(portraits)
}

fn dimension(t: &Tlv<'_>) -> Result<u32, LdsError> {
    u32::try_from(uint(t)?).map_err(|_| LdsError::InvalidInteger { tag: t.tag })
}

/// Reads width and height from the image header without decoding the pixels.
fn probe_dimensions(format: ImageFormat, data: &[u8]) -> Result<(u32, u32), LdsError> {
    match format {
        ImageFormat::Jpeg => {
            let mut decoder = jpeg_decoder(data);
            decoder
                .decode_headers()
                .map_err(|e| decode_error(format, e))?;
            let info = decoder
                .info()
                .ok_or(decode_error(format, "no JPEG header"))?;
            Ok((u32::from(info.width), u32::from(info.height)))
        }
        ImageFormat::Jpeg2000 => {
            let image =
                hayro_jpeg2000::Image::new(data, &hayro_jpeg2000::DecodeSettings::default())
                    .map_err(|e| decode_error(format, e))?;
            Ok((image.width(), image.height()))
        }
    }
}

fn decode_error(format: ImageFormat, e: impl fmt::Display) -> LdsError {
    LdsError::ImageDecode {
        format,
        reason: e.to_string(),
    }
}

fn check_dimensions(width: u32, height: u32) -> Result<(), LdsError> {
    if width == 0 || height == 0 || width > MAX_IMAGE_DIMENSION || height > MAX_IMAGE_DIMENSION {
        return Err(LdsError::ImageDimensions { width, height });
    }
    Ok(())
}

fn jpeg_decoder(data: &[u8]) -> zune_jpeg::JpegDecoder<zune_core::bytestream::ZCursor<&[u8]>> {
    let max = MAX_IMAGE_DIMENSION as usize;
    let options = zune_core::options::DecoderOptions::default()
        .set_max_width(max)
        .set_max_height(max)
        .jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::RGB);
    zune_jpeg::JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(data), options)
}

impl Portrait {
    /// Decodes the image to 8-bit RGB. The size in the image's own header is checked against
    /// [`MAX_IMAGE_DIMENSION`] before any pixel buffer is allocated; the size declared by the
    /// biometric record is informational only.
    pub fn decode(&self) -> Result<DecodedImage, LdsError> {
        match self.format {
            ImageFormat::Jpeg => decode_jpeg(&self.data),
            ImageFormat::Jpeg2000 => decode_jpeg2000(&self.data),
        }
    }
}

fn decode_jpeg(data: &[u8]) -> Result<DecodedImage, LdsError> {
    let format = ImageFormat::Jpeg;
    let mut decoder = jpeg_decoder(data);
    decoder
        .decode_headers()
        .map_err(|e| decode_error(format, e))?;
    let info = decoder
        .info()
        .ok_or(decode_error(format, "no JPEG header"))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_dimensions(width, height)?;
    let rgb = decoder.decode().map_err(|e| decode_error(format, e))?;
    if rgb.len() != width as usize * height as usize * 3 {
        return Err(LdsError::UnsupportedColourSpace);
    }
    Ok(DecodedImage { width, height, rgb })
}

/// Tiles a JPEG 2000 image may declare. The decoder sets up every tile of the grid before the
/// first pixel, so a 300-byte codestream declaring a grid of a million tiny tiles cost seconds
/// (found by the `dg2` fuzz target); a passport portrait has one tile or a handful.
pub const MAX_JPEG2000_TILES: u64 = 4096;

/// The image and tile grid a JPEG 2000 file declares in its SIZ marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jpeg2000Geometry {
    pub width: u64,
    pub height: u64,
    /// Tiles of the grid (across × down).
    pub tiles: u64,
}

/// Reads the SIZ marker (ISO/IEC 15444-1 §A.5.1: it directly follows SOC) of a raw codestream or
/// of a JP2 file's top-level `jp2c` box (§I.5.4), without decoding anything, so callers can
/// refuse a hostile size or tile grid before a decoder sets it up. `None` if the header is
/// missing, truncated or inconsistent (offsets beyond the image, zero-sized tiles).
pub fn jpeg2000_geometry(data: &[u8]) -> Option<Jpeg2000Geometry> {
    let codestream = jp2_codestream(data)?;
    if codestream.get(..4)? != [0xFF, 0x4F, 0xFF, 0x51] {
        return None;
    }
    let field = |at: usize| -> Option<u64> {
        let bytes: [u8; 4] = codestream.get(at..at + 4)?.try_into().ok()?;
        Some(u64::from(u32::from_be_bytes(bytes)))
    };
    let (x, y, x_off, y_off) = (field(8)?, field(12)?, field(16)?, field(20)?);
    let (tile_w, tile_h, tile_x_off, tile_y_off) = (field(24)?, field(28)?, field(32)?, field(36)?);
    let tiles = |extent: u64, offset: u64, size: u64| {
        extent
            .checked_sub(offset)
            .filter(|_| size > 0)
            .map(|span| span.div_ceil(size))
    };
    Some(Jpeg2000Geometry {
        width: x.checked_sub(x_off)?,
        height: y.checked_sub(y_off)?,
        tiles: tiles(x, tile_x_off, tile_w)?.saturating_mul(tiles(y, tile_y_off, tile_h)?),
    })
}

/// Refuses what [`jpeg2000_geometry`] declares beyond our caps, before the decoder sees it.
fn check_jpeg2000_header(data: &[u8]) -> Result<(), LdsError> {
    let format = ImageFormat::Jpeg2000;
    let geometry =
        jpeg2000_geometry(data).ok_or(decode_error(format, "missing or invalid SIZ marker"))?;
    check_dimensions(
        u32::try_from(geometry.width).unwrap_or(u32::MAX),
        u32::try_from(geometry.height).unwrap_or(u32::MAX),
    )?;
    if geometry.tiles > MAX_JPEG2000_TILES {
        return Err(decode_error(format, "too many tiles"));
    }
    Ok(())
}

/// The codestream of a raw J2K stream (the whole input) or of a JP2 file (its `jp2c` box).
fn jp2_codestream(data: &[u8]) -> Option<&[u8]> {
    const JP2_SIGNATURE: [u8; 4] = *b"jP  ";
    if data.get(4..8) != Some(&JP2_SIGNATURE[..]) {
        return Some(data);
    }
    let mut rest = data;
    while rest.len() >= 8 {
        let declared = u64::from(u32::from_be_bytes(rest.get(..4)?.try_into().ok()?));
        let kind = rest.get(4..8)?;
        let (header, length) = match declared {
            0 => (8, rest.len() as u64),
            1 => (16, u64::from_be_bytes(rest.get(8..16)?.try_into().ok()?)),
            n => (8, n),
        };
        let length = usize::try_from(length).ok()?;
        if length < header || length > rest.len() {
            return None;
        }
        if kind == b"jp2c" {
            return rest.get(header..length);
        }
        rest = rest.get(length..)?;
    }
    None
}

fn decode_jpeg2000(data: &[u8]) -> Result<DecodedImage, LdsError> {
    use hayro_jpeg2000::{ColorSpace, DecodeSettings, DecoderContext, Image};
    let format = ImageFormat::Jpeg2000;
    check_jpeg2000_header(data)?;
    let image =
        Image::new(data, &DecodeSettings::default()).map_err(|e| decode_error(format, e))?;
    let (width, height) = (image.width(), image.height());
    check_dimensions(width, height)?;
    let colour_channels = match image.color_space() {
        ColorSpace::Gray => 1,
        ColorSpace::RGB => 3,
        _ => return Err(LdsError::UnsupportedColourSpace),
    };
    let channels = colour_channels + usize::from(image.has_alpha());
    let mut ctx = DecoderContext::default();
    let decoded = image
        .decode(&mut ctx)
        .map_err(|e| decode_error(format, e))?;
    let samples = decoded.data_u8();
    let pixels = width as usize * height as usize;
    if samples.len() != pixels * channels {
        return Err(decode_error(
            format,
            "sample count does not match the image size",
        ));
    }
    let mut rgb = Vec::with_capacity(pixels * 3);
    for px in samples.chunks_exact(channels) {
        match px {
            [g] | [g, _] => rgb.extend_from_slice(&[*g, *g, *g]),
            [r, g, b, ..] => rgb.extend_from_slice(&[*r, *g, *b]),
            _ => return Err(LdsError::UnsupportedColourSpace),
        }
    }
    Ok(DecodedImage { width, height, rgb })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use super::*;

    /// SOC and a SIZ marker declaring `size` with tiles of `tile`, one 8-bit component.
    fn j2k_header(size: (u32, u32), tile: (u32, u32)) -> Vec<u8> {
        let mut j = vec![0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x29, 0x00, 0x00];
        for v in [size.0, size.1, 0, 0, tile.0, tile.1, 0, 0] {
            j.extend_from_slice(&v.to_be_bytes());
        }
        j.extend_from_slice(&[0x00, 0x01, 0x07, 0x01, 0x01]);
        j
    }

    fn jp2_wrapping(codestream: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 0, 0, 12];
        f.extend_from_slice(b"jP  \r\n\x87\n");
        f.extend_from_slice(&20u32.to_be_bytes());
        f.extend_from_slice(b"ftypjp2 ");
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend_from_slice(b"jp2 ");
        let len = u32::try_from(8 + codestream.len()).unwrap();
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(b"jp2c");
        f.extend_from_slice(codestream);
        f
    }

    #[test]
    fn a_grid_of_a_million_tiles_is_refused_before_decoding() {
        let header = j2k_header((1816, 2000), (2, 2));
        for data in [header.clone(), jp2_wrapping(&header)] {
            match check_jpeg2000_header(&data) {
                Err(LdsError::ImageDecode { reason, .. }) => assert_eq!(reason, "too many tiles"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_declared_size_beyond_the_cap_is_a_dimension_error() {
        let header = j2k_header((1816, 263_184), (24, 16));
        assert!(matches!(
            check_jpeg2000_header(&header),
            Err(LdsError::ImageDimensions { .. })
        ));
    }

    #[test]
    fn a_portrait_sized_single_tile_image_passes_the_header_check() {
        let header = j2k_header((480, 640), (480, 640));
        assert!(check_jpeg2000_header(&header).is_ok());
        assert!(check_jpeg2000_header(&jp2_wrapping(&header)).is_ok());
    }

    #[test]
    fn a_truncated_or_zero_tile_header_is_an_error_not_a_panic() {
        let header = j2k_header((480, 640), (0, 0));
        assert!(check_jpeg2000_header(&header).is_err());
        for len in 0..header.len() {
            assert!(check_jpeg2000_header(&header[..len]).is_err(), "{len}");
        }
        assert!(jp2_codestream(b"\0\0\0\x01jP  ").is_none());
    }
}
