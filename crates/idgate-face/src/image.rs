//! Decoding of untrusted encoded images into [`Image`], and the resampling helpers the networks
//! share.
//!
//! Selfie frames arrive as JPEG or PNG; passport portraits (DG2, ISO/IEC 19794-5 / 39794-5) are JPEG
//! or JPEG 2000 (ICAO 9303-10 §4.7.2 allows both). All three decoders are pure Rust. Dimensions are
//! read from the header and checked against [`MAX_IMAGE_SIDE`] and [`MAX_PIXELS`] *before* any
//! pixel buffer is allocated; a decoder that panics on hostile input is contained and reported as
//! [`FaceError::ImageDecode`]. Alpha is dropped (a selfie has no meaningful transparency) and
//! greyscale is expanded to RGB.
//!
//! EXIF orientation is not applied: clients send frames as the camera delivered them upright.

#![allow(
    clippy::indexing_slicing,
    reason = "numeric kernel: every index is within a buffer sized when the image or tensor is built"
)]

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::nn::Tensor;
use crate::{FaceError, Image, MAX_IMAGE_SIDE};

/// Largest decoded image accepted, in pixels (40 Mpx: more than any phone camera frame; caps the
/// RGB buffer at 120 MB).
pub const MAX_PIXELS: u64 = 40_000_000;

/// The container formats [`decode`] recognises by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG (ISO/IEC 10918-1), `FF D8 FF`.
    Jpeg,
    /// JPEG 2000 JP2 file (ISO/IEC 15444-1 Annex I) or raw codestream (`FF 4F FF 51`).
    Jpeg2000,
    /// PNG (ISO/IEC 15948).
    Png,
}

/// Identifies the format from the first bytes.
#[must_use]
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    const JP2: &[u8] = b"\x00\x00\x00\x0C\x6A\x50\x20\x20\x0D\x0A\x87\x0A";
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(JP2) || bytes.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        Some(ImageFormat::Jpeg2000)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else {
        None
    }
}

/// The largest image a decode may produce, checked against the header before any pixel buffer is
/// allocated. Callers that receive many images at once (a burst of frames) pass tighter limits
/// than one portrait needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest width or height, at most [`MAX_IMAGE_SIDE`].
    pub max_side: u32,
    /// Largest `width * height`, at most [`MAX_PIXELS`].
    pub max_pixels: u64,
}

impl DecodeLimits {
    /// The crate-wide caps, [`MAX_IMAGE_SIDE`] and [`MAX_PIXELS`].
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_side: MAX_IMAGE_SIDE,
        max_pixels: MAX_PIXELS,
    };
}

/// Decodes a JPEG, JPEG 2000 or PNG image into RGB8, within [`DecodeLimits::DEFAULT`].
///
/// # Errors
/// [`FaceError::UnsupportedImageFormat`] for unknown magic bytes, [`FaceError::ImageDimensions`]
/// for an empty or oversized image, [`FaceError::ImageDecode`] for corrupt or truncated data.
pub fn decode(bytes: &[u8]) -> Result<Image, FaceError> {
    decode_within(bytes, DecodeLimits::DEFAULT)
}

/// Decodes like [`decode`], refusing an image larger than `limits` (which cannot widen the
/// crate-wide caps) before allocating it.
///
/// # Errors
/// As [`decode`].
pub fn decode_within(bytes: &[u8], limits: DecodeLimits) -> Result<Image, FaceError> {
    let limits = DecodeLimits {
        max_side: limits.max_side.min(MAX_IMAGE_SIDE),
        max_pixels: limits.max_pixels.min(MAX_PIXELS),
    };
    let format = sniff(bytes).ok_or(FaceError::UnsupportedImageFormat)?;
    let decoded = catch_unwind(AssertUnwindSafe(|| match format {
        ImageFormat::Jpeg => decode_jpeg(bytes, limits),
        ImageFormat::Jpeg2000 => decode_jpeg2000(bytes, limits),
        ImageFormat::Png => decode_png(bytes, limits),
    }))
    .unwrap_or_else(|_| Err(decode_error("decoder failed on malformed data")))?;
    decoded.validate()?;
    Ok(decoded)
}

fn decode_error(reason: impl Into<String>) -> FaceError {
    FaceError::ImageDecode {
        reason: reason.into(),
    }
}

/// Rejects sizes beyond the crate-wide caps before allocation.
fn check_dimensions(width: u64, height: u64) -> Result<(u32, u32), FaceError> {
    check_within(width, height, DecodeLimits::DEFAULT)
}

/// Rejects sizes beyond `limits` before allocation.
fn check_within(width: u64, height: u64, limits: DecodeLimits) -> Result<(u32, u32), FaceError> {
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let (w, h) = (clamp(width), clamp(height));
    if width == 0
        || height == 0
        || width > u64::from(limits.max_side)
        || height > u64::from(limits.max_side)
        || width.saturating_mul(height) > limits.max_pixels
    {
        return Err(FaceError::ImageDimensions {
            width: w,
            height: h,
            max: limits.max_side,
        });
    }
    Ok((w, h))
}

fn decode_jpeg(bytes: &[u8], limits: DecodeLimits) -> Result<Image, FaceError> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    use zune_jpeg::JpegDecoder;

    // Strict mode turns premature end of data, corrupt entropy-coded segments and stray markers
    // into errors; the lenient default would fill the missing part with grey, and a half-decoded
    // portrait could still yield a face and a meaningless match score.
    // The decoder's own size limits are opened to the format's maximum (ISO/IEC 10918-1 B.2.2:
    // 16-bit sizes) so that every oversized frame header meets the size check below and is
    // reported as `ImageDimensions`; reading the headers allocates nothing per pixel.
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX))
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder
        .decode_headers()
        .map_err(|e| decode_error(format!("jpeg header: {e:?}")))?;
    let info = decoder
        .info()
        .ok_or_else(|| decode_error("jpeg header missing"))?;
    let (width, height) = check_within(u64::from(info.width), u64::from(info.height), limits)?;
    let rgb = decoder
        .decode()
        .map_err(|e| decode_error(format!("jpeg data: {e:?}")))?;
    Image::new(width, height, rgb)
        .map_err(|_| decode_error("jpeg decoder returned a buffer of the wrong size"))
}

fn decode_jpeg2000(bytes: &[u8], limits: DecodeLimits) -> Result<Image, FaceError> {
    use hayro_jpeg2000::{ColorSpace, DecodeSettings, DecoderContext, Image as J2kImage};

    // The decoder sets up every tile before the first pixel: a tiny file declaring a grid of a
    // million tiles costs seconds, so the declared geometry is checked first.
    let geometry = emrtd::lds::dg2::jpeg2000_geometry(bytes)
        .ok_or_else(|| decode_error("jpeg2000 header: missing or invalid SIZ marker"))?;
    check_within(geometry.width, geometry.height, limits)?;
    if geometry.tiles > emrtd::lds::dg2::MAX_JPEG2000_TILES {
        return Err(decode_error("jpeg2000 header: too many tiles"));
    }
    let image = J2kImage::new(bytes, &DecodeSettings::default())
        .map_err(|e| decode_error(format!("jpeg2000 header: {e:?}")))?;
    let (width, height) =
        check_within(u64::from(image.width()), u64::from(image.height()), limits)?;
    let gray = matches!(image.color_space(), ColorSpace::Gray);
    let rgb_like = matches!(image.color_space(), ColorSpace::RGB)
        || matches!(
            image.color_space(),
            ColorSpace::Icc {
                num_channels: 3,
                ..
            }
        );
    if !gray && !rgb_like {
        return Err(decode_error(
            "jpeg2000 colour space is neither greyscale nor RGB",
        ));
    }
    let mut ctx = DecoderContext::default();
    let decoded = image
        .decode(&mut ctx)
        .map_err(|e| decode_error(format!("jpeg2000 data: {e:?}")))?;
    let data = decoded.data_u8();
    let pixels = width as usize * height as usize;
    let stride = data.len().checked_div(pixels).unwrap_or(0);
    let colour = if gray { 1 } else { 3 };
    if stride < colour || data.len() != stride * pixels {
        return Err(decode_error(
            "jpeg2000 decoder returned an unexpected channel layout",
        ));
    }
    let rgb = interleave_to_rgb(&data, stride, gray);
    Image::new(width, height, rgb)
        .map_err(|_| decode_error("jpeg2000 decoder returned a buffer of the wrong size"))
}

fn decode_png(bytes: &[u8], limits: DecodeLimits) -> Result<Image, FaceError> {
    let png_limits = png::Limits {
        bytes: usize::try_from(limits.max_pixels.saturating_mul(8)).unwrap_or(usize::MAX),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), png_limits);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| decode_error(format!("png header: {e}")))?;
    let (w, h) = {
        let info = reader.info();
        (info.width, info.height)
    };
    let (width, height) = check_within(u64::from(w), u64::from(h), limits)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| decode_error("png output size overflows"))?;
    let mut buf = vec![0u8; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| decode_error(format!("png data: {e}")))?;
    if frame.bit_depth != png::BitDepth::Eight {
        return Err(decode_error("png bit depth is not 8 after expansion"));
    }
    let (stride, gray) = match frame.color_type {
        png::ColorType::Grayscale => (1, true),
        png::ColorType::GrayscaleAlpha => (2, true),
        png::ColorType::Rgb => (3, false),
        png::ColorType::Rgba => (4, false),
        png::ColorType::Indexed => return Err(decode_error("png palette was not expanded")),
    };
    let row_bytes = width as usize * stride;
    if frame.line_size < row_bytes {
        return Err(decode_error("png rows shorter than the image width"));
    }
    let mut packed = Vec::with_capacity(row_bytes * height as usize);
    for row in buf.chunks(frame.line_size).take(height as usize) {
        packed.extend_from_slice(
            row.get(..row_bytes)
                .ok_or_else(|| decode_error("png row truncated"))?,
        );
    }
    let rgb = interleave_to_rgb(&packed, stride, gray);
    Image::new(width, height, rgb)
        .map_err(|_| decode_error("png decoder returned a buffer of the wrong size"))
}

/// Converts interleaved gray/gray+alpha/RGB/RGBA samples (`stride` bytes per pixel) to RGB8.
fn interleave_to_rgb(data: &[u8], stride: usize, gray: bool) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(data.len() / stride.max(1) * 3);
    for px in data.chunks_exact(stride.max(1)) {
        if gray {
            let v = px.first().copied().unwrap_or(0);
            rgb.extend_from_slice(&[v, v, v]);
        } else {
            rgb.extend_from_slice(px.get(..3).unwrap_or(&[0, 0, 0]));
        }
    }
    rgb
}

/// An axis-aligned region of an image in pixel coordinates (may extend past the borders).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

/// Samples `region` of `image` onto an `out_w × out_h` grid at offset `(dst_x, dst_y)` of a
/// `canvas_w × canvas_h` float tensor whose other pixels are `fill`, writing
/// `(value - mean[c]) / div` per channel.
///
/// Sampling is bilinear at pixel centres; when the region shrinks by more than 2× the source is
/// box-averaged over the footprint of each output pixel first (a k×k grid of bilinear taps), which
/// stands in for the area interpolation a browser canvas applies and keeps fine texture from
/// aliasing into the networks.
#[allow(
    clippy::too_many_arguments,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
#[must_use]
pub fn sample_region(
    image: &Image,
    region: Region,
    out_w: usize,
    out_h: usize,
    canvas_w: usize,
    canvas_h: usize,
    dst_x: usize,
    dst_y: usize,
    mean: [f32; 3],
    div: f32,
) -> Tensor {
    let fill: Vec<f32> = (0..3).map(|c| (0.0 - mean[c]) / div).collect();
    let mut out = Tensor::zeros(canvas_h, canvas_w, 3);
    for px in out.data.chunks_exact_mut(3) {
        px.copy_from_slice(&fill);
    }
    if out_w == 0 || out_h == 0 {
        return out;
    }
    let sx = region.width / out_w as f32;
    let sy = region.height / out_h as f32;
    let taps_x = (sx.ceil() as usize).clamp(1, 8);
    let taps_y = (sy.ceil() as usize).clamp(1, 8);
    let weight = 1.0 / (taps_x * taps_y) as f32;
    let (w, h) = (image.width as usize, image.height as usize);
    if w == 0 || h == 0 || image.rgb.len() < w * h * 3 {
        return out;
    }
    // Interpolation taps per output column and row, computed once: (index0, index1, frac).
    let taps = |origin: f32,
                step: f32,
                n_out: usize,
                n_taps: usize,
                limit: usize|
     -> Vec<(usize, usize, f32)> {
        let mut v = Vec::with_capacity(n_out * n_taps);
        for o in 0..n_out {
            for t in 0..n_taps {
                let f = (origin + (o as f32 + (t as f32 + 0.5) / n_taps as f32) * step - 0.5)
                    .clamp(0.0, (limit - 1) as f32);
                let i0 = f.floor() as usize;
                v.push((i0.min(limit - 1), (i0 + 1).min(limit - 1), f - i0 as f32));
            }
        }
        v
    };
    let col_taps = taps(region.x, sx, out_w, taps_x, w);
    let row_taps = taps(region.y, sy, out_h, taps_y, h);
    let px = |x: usize, y: usize| {
        let i = (y * w + x) * 3;
        [
            f32::from(image.rgb[i]),
            f32::from(image.rgb[i + 1]),
            f32::from(image.rgb[i + 2]),
        ]
    };
    for (oy, rows) in row_taps.chunks_exact(taps_y).enumerate() {
        let ty = dst_y + oy;
        if ty >= canvas_h {
            break;
        }
        for (ox, cols) in col_taps.chunks_exact(taps_x).enumerate() {
            let tx = dst_x + ox;
            if tx >= canvas_w {
                break;
            }
            let mut acc = [0.0f32; 3];
            for &(y0, y1, fy) in rows {
                for &(x0, x1, fx) in cols {
                    let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
                    for ch in 0..3 {
                        let top = a[ch] + (b[ch] - a[ch]) * fx;
                        let bottom = c[ch] + (d[ch] - c[ch]) * fx;
                        acc[ch] += top + (bottom - top) * fy;
                    }
                }
            }
            let dst = &mut out.data[(ty * canvas_w + tx) * 3..(ty * canvas_w + tx) * 3 + 3];
            for ch in 0..3 {
                dst[ch] = (acc[ch] * weight - mean[ch]) / div;
            }
        }
    }
    out
}

/// Bilinear sample at continuous pixel coordinates (pixel centres at integers); coordinates are
/// clamped to the border, so a sample outside the image repeats the edge.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
#[must_use]
pub fn bilinear(image: &Image, x: f32, y: f32) -> [f32; 3] {
    let w = image.width as usize;
    let h = image.height as usize;
    if w == 0 || h == 0 || image.rgb.len() < w * h * 3 {
        return [0.0; 3];
    }
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let x0 = x.floor() as usize;
    let y0 = y.floor() as usize;
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let fx = x - x0 as f32;
    let fy = y - y0 as f32;
    let at = |xx: usize, yy: usize, c: usize| f32::from(image.rgb[(yy * w + xx) * 3 + c]);
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
        let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
        *o = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// Resizes the whole image to `width × height` (bilinear, box-prefiltered when shrinking).
///
/// # Errors
/// [`FaceError::ImageDimensions`] for a zero or oversized target.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn resize(image: &Image, width: u32, height: u32) -> Result<Image, FaceError> {
    check_dimensions(u64::from(width), u64::from(height))?;
    image.validate()?;
    let region = Region {
        x: 0.0,
        y: 0.0,
        width: image.width as f32,
        height: image.height as f32,
    };
    let (w, h) = (width as usize, height as usize);
    let t = sample_region(image, region, w, h, w, h, 0, 0, [0.0; 3], 1.0);
    let rgb = t
        .data
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    Image::new(width, height, rgb)
}

/// Copies the pixels of `region` (clipped to the image, rounded to whole pixels).
///
/// # Errors
/// [`FaceError::ImageDimensions`] when nothing of the region lies inside the image.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn crop(image: &Image, region: Region) -> Result<Image, FaceError> {
    image.validate()?;
    let x0 = region.x.round().clamp(0.0, image.width as f32) as u32;
    let y0 = region.y.round().clamp(0.0, image.height as f32) as u32;
    let x1 = (region.x + region.width)
        .round()
        .clamp(0.0, image.width as f32) as u32;
    let y1 = (region.y + region.height)
        .round()
        .clamp(0.0, image.height as f32) as u32;
    let (w, h) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
    check_dimensions(u64::from(w), u64::from(h))?;
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for y in y0..y1 {
        let start = (y as usize * image.width as usize + x0 as usize) * 3;
        let row =
            image
                .rgb
                .get(start..start + w as usize * 3)
                .ok_or(FaceError::ImageBufferMismatch {
                    width: image.width,
                    height: image.height,
                    expected: u64::from(image.width) * u64::from(image.height) * 3,
                    actual: image.rgb.len(),
                })?;
        rgb.extend_from_slice(row);
    }
    Image::new(w, h, rgb)
}

/// The image mirrored left to right (a selfie camera preview is mirrored; tests use it to make a
/// second view of one face).
#[must_use]
pub fn mirror(image: &Image) -> Image {
    let w = image.width as usize;
    let mut rgb = Vec::with_capacity(image.rgb.len());
    for row in image.rgb.chunks_exact((w * 3).max(1)) {
        for px in row.chunks_exact(3).rev() {
            rgb.extend_from_slice(px);
        }
    }
    Image {
        width: image.width,
        height: image.height,
        rgb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(width: u32, height: u32, v: u8) -> Image {
        Image::new(width, height, vec![v; width as usize * height as usize * 3]).unwrap()
    }

    #[test]
    fn unknown_magic_is_unsupported_format() {
        assert!(matches!(
            decode(b"GIF89a...."),
            Err(FaceError::UnsupportedImageFormat)
        ));
        assert!(matches!(
            decode(&[]),
            Err(FaceError::UnsupportedImageFormat)
        ));
    }

    #[test]
    fn truncated_headers_are_decode_errors_not_panics() {
        for bytes in [
            &b"\xFF\xD8\xFF"[..],
            b"\x89PNG\r\n\x1a\n\0\0",
            b"\xFF\x4F\xFF\x51\0",
        ] {
            assert!(decode(bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn resize_of_a_solid_image_keeps_its_colour() {
        let out = resize(&solid(40, 30, 77), 7, 5).unwrap();
        assert_eq!((out.width, out.height), (7, 5));
        assert!(out.rgb.iter().all(|&v| v == 77));
    }

    #[test]
    fn crop_clips_to_the_image() {
        let img = solid(10, 10, 5);
        let c = crop(
            &img,
            Region {
                x: -5.0,
                y: 8.0,
                width: 10.0,
                height: 10.0,
            },
        )
        .unwrap();
        assert_eq!((c.width, c.height), (5, 2));
        assert!(
            crop(
                &img,
                Region {
                    x: 20.0,
                    y: 0.0,
                    width: 5.0,
                    height: 5.0
                }
            )
            .is_err()
        );
    }

    #[test]
    fn mirror_twice_is_identity() {
        let img = Image::new(3, 1, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
        assert_eq!(mirror(&img).rgb, vec![7, 8, 9, 4, 5, 6, 1, 2, 3]);
        assert_eq!(mirror(&mirror(&img)), img);
    }

    /// A baseline greyscale JPEG whose frame header declares `width × height` (ISO/IEC 10918-1
    /// Annex B), with one flat 8×8 block of entropy-coded data: valid when the size is 8×8.
    fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        // DQT: table 0, all 64 steps 1.
        j.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
        j.extend_from_slice(&[1; 64]);
        // SOF0: 8-bit, height, width, one component (id 1, 1×1 sampling, table 0).
        j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08]);
        j.extend_from_slice(&height.to_be_bytes());
        j.extend_from_slice(&width.to_be_bytes());
        j.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
        // DHT: DC table 0 and AC table 0, each one 1-bit code for symbol 0 (DC difference 0,
        // end of block).
        for class in [0x00, 0x10] {
            j.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, class, 1]);
            j.extend_from_slice(&[0; 15]);
            j.push(0);
        }
        // SOS: one component, tables 0/0, full spectral range; the block is codes `0`, `0`,
        // padded with 1-bits.
        j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
        j.extend_from_slice(&[0x3F, 0xFF, 0xD9]);
        j
    }

    /// A PNG (ISO/IEC 15948) whose IHDR declares an RGB8 `width × height` image: a real grey
    /// image when it is small, else the header and a token IDAT (only the header matters).
    fn png_declaring(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        if u64::from(width) * u64::from(height) <= 64 {
            let pixels = vec![90u8; width as usize * height as usize * 3];
            writer.write_image_data(&pixels).unwrap();
        } else {
            writer
                .write_chunk(
                    png::chunk::IDAT,
                    &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
                )
                .unwrap();
        }
        writer.finish().unwrap();
        out
    }

    /// A JPEG 2000 codestream (ISO/IEC 15444-1 Annex A) declaring a greyscale `width × height`
    /// image in one tile, no wavelet levels, and one empty packet: a valid all-black image.
    fn j2k_declaring(width: u32, height: u32) -> Vec<u8> {
        let mut j = vec![0xFF, 0x4F];
        // SIZ: Rsiz 0, image and tile size, no offsets, one 8-bit unsigned component.
        j.extend_from_slice(&[0xFF, 0x51, 0x00, 0x29, 0x00, 0x00]);
        for v in [width, height, 0, 0, width, height, 0, 0] {
            j.extend_from_slice(&v.to_be_bytes());
        }
        j.extend_from_slice(&[0x00, 0x01, 0x07, 0x01, 0x01]);
        // COD: LRCP, one layer, no MCT, 0 decompositions, 64×64 code blocks, 5/3 reversible.
        j.extend_from_slice(&[0xFF, 0x52, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x01, 0x00]);
        j.extend_from_slice(&[0x00, 0x04, 0x04, 0x00, 0x01]);
        // QCD: no quantisation, 2 guard bits, exponent 8 for the single sub-band.
        j.extend_from_slice(&[0xFF, 0x5C, 0x00, 0x04, 0x40, 0x40]);
        // SOT (tile 0, length to end, part 0 of 1), SOD, one empty packet, EOC.
        j.extend_from_slice(&[0xFF, 0x90, 0x00, 0x0A, 0x00, 0x00]);
        j.extend_from_slice(&[0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);
        j.extend_from_slice(&[0xFF, 0x93, 0x00, 0xFF, 0xD9]);
        j
    }

    fn is_dimensions_error(result: Result<Image, FaceError>) -> bool {
        matches!(result, Err(FaceError::ImageDimensions { .. }))
    }

    #[test]
    fn the_header_builders_make_decodable_images() {
        for (name, bytes) in [
            ("jpeg", jpeg_declaring(8, 8)),
            ("png", png_declaring(8, 8)),
            ("j2k", j2k_declaring(8, 8)),
        ] {
            let img = decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((img.width, img.height), (8, 8), "{name}");
        }
    }

    #[test]
    fn a_jpeg_header_beyond_the_side_cap_is_refused_as_dimensions() {
        assert!(is_dimensions_error(decode(&jpeg_declaring(65_535, 65_535))));
        assert!(is_dimensions_error(decode(&jpeg_declaring(8_193, 8))));
    }

    #[test]
    fn a_jpeg_header_beyond_the_pixel_cap_is_refused_as_dimensions() {
        assert!(is_dimensions_error(decode(&jpeg_declaring(8_000, 8_000))));
    }

    #[test]
    fn a_png_header_beyond_the_caps_is_refused_as_dimensions() {
        assert!(is_dimensions_error(decode(&png_declaring(
            1_000_000, 1_000_000
        ))));
        assert!(is_dimensions_error(decode(&png_declaring(8_000, 8_000))));
    }

    #[test]
    fn a_jpeg2000_grid_of_a_million_tiles_is_refused_before_decoding() {
        let mut j = j2k_declaring(1816, 2000);
        // XTsiz and YTsiz (SIZ bytes 24..32): 2×2-pixel tiles, 908,000 of them.
        j[24..32].copy_from_slice(&[0, 0, 0, 2, 0, 0, 0, 2]);
        match decode(&j) {
            Err(FaceError::ImageDecode { reason }) => {
                assert!(reason.contains("too many tiles"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_jpeg2000_header_beyond_the_caps_is_refused_as_dimensions() {
        assert!(is_dimensions_error(decode(&j2k_declaring(
            100_000, 100_000
        ))));
        assert!(is_dimensions_error(decode(&j2k_declaring(8_000, 8_000))));
    }

    #[test]
    fn dimension_caps_reject_zero_and_huge() {
        assert!(check_dimensions(0, 10).is_err());
        assert!(check_dimensions(8193, 10).is_err());
        assert!(check_dimensions(8000, 8000).is_err());
        assert!(check_dimensions(8192, 4000).is_ok());
    }
}
