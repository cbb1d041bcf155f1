//! The hosted page's QR code, drawn server-side as inline SVG: no script, no image request and
//! nothing for the Content-Security-Policy to allow (ISO/IEC 18004 symbols through the `qrcode`
//! crate, which only computes the module matrix here).

use std::fmt::Write as _;

use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the symbol on every side (ISO/IEC 18004:2015 §6.3.8).
const QUIET_ZONE: usize = 4;

/// Why a QR code could not be drawn: the text does not fit the largest symbol.
#[derive(Debug, thiserror::Error)]
#[error("the text does not fit a QR code: {0}")]
pub struct QrError(#[from] qrcode::types::QrError);

/// `text` as an `<svg>` element: one path of dark modules on a light square, scalable to any
/// size without blur. Level M restores up to 15 % damaged modules (a glare on a screen) and keeps
/// a deep link of about 300 characters at version 11, which phone cameras read from a screen.
/// `title` labels it for screen readers.
pub fn svg(text: &str, title: &str) -> Result<String, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let width = code.width();
    let side = width + 2 * QUIET_ZONE;
    let mut path = String::with_capacity(width * width * 4);
    for (index, color) in code.to_colors().into_iter().enumerate() {
        if color == Color::Dark {
            let (x, y) = (index % width + QUIET_ZONE, index / width + QUIET_ZONE);
            // Infallible: writing to a String.
            let _ = write!(path, "M{x} {y}h1v1h-1z");
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qr\" viewBox=\"0 0 {side} {side}\" \
         role=\"img\" aria-label=\"{label}\" shape-rendering=\"crispEdges\">\
         <title>{label}</title>\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>",
        label = crate::routes::docs::escape(title),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deep_link_draws_one_path_inside_a_quiet_zone() {
        let link = format!("idgate://verify?d={}", "A".repeat(280));
        let svg = svg(&link, "QR \"code\"").expect("fits");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<path").count(), 1);
        assert!(svg.contains("aria-label=\"QR &quot;code&quot;\""), "{svg}");
        // A version-v symbol is 17 + 4v modules wide (ISO/IEC 18004 §6.3.1), plus the quiet zone.
        let side: usize = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("viewBox");
        let modules = side - 2 * QUIET_ZONE;
        assert!(modules > 21 && (modules - 17).is_multiple_of(4), "{side}");
        assert!(!svg.contains("M0 0h"), "no dark module in the quiet zone");
    }

    #[test]
    fn text_beyond_the_largest_symbol_is_an_error_not_a_panic() {
        assert!(svg(&"x".repeat(5000), "t").is_err());
    }
}
