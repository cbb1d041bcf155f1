//! Image-quality measurements of a face region ([`Quality`]), shared by every engine so that a
//! quality gate means the same thing whichever engine found the face.

use crate::{BoundingBox, Image, Quality};

/// Most samples taken along each side of the face box: bounds the cost on large images while
/// keeping enough pixels for a stable mean and Laplacian variance.
const MAX_SAMPLES_PER_SIDE: u32 = 192;

impl Quality {
    /// Measures the face region `bbox` of `image`.
    ///
    /// Brightness is the mean luma (ITU-R BT.601 weights) over the box clipped to the image.
    /// Sharpness is the variance of the 4-neighbour Laplacian of luma over the same samples, the
    /// usual focus measure (Pech-Pacheco et al. 2000): blur removes high frequencies and lowers it.
    /// A box that lies outside the image gives brightness and sharpness 0.
    #[must_use]
    pub fn measure(image: &Image, bbox: &BoundingBox) -> Quality {
        let face_size_px = bbox.width.max(bbox.height).max(0.0);
        let empty = Quality {
            face_size_px,
            sharpness: 0.0,
            brightness: 0.0,
        };
        let clip = |v: f32, max: u32| -> u32 {
            if v.is_nan() || v <= 0.0 {
                0
            } else {
                (v as u32).min(max)
            }
        };
        let (x0, y0) = (clip(bbox.x, image.width), clip(bbox.y, image.height));
        let (x1, y1) = (
            clip(bbox.x + bbox.width, image.width),
            clip(bbox.y + bbox.height, image.height),
        );
        if x1 <= x0 || y1 <= y0 {
            return empty;
        }
        let step = ((x1 - x0).max(y1 - y0) / MAX_SAMPLES_PER_SIDE).max(1);
        let luma = |x: u32, y: u32| -> Option<f64> {
            let [r, g, b] = image.pixel(x, y)?;
            Some(0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b))
        };
        let (mut sum, mut count) = (0.0f64, 0u64);
        let (mut lap_sum, mut lap_sq, mut lap_count) = (0.0f64, 0.0f64, 0u64);
        for y in (y0..y1).step_by(step as usize) {
            for x in (x0..x1).step_by(step as usize) {
                let Some(centre) = luma(x, y) else { continue };
                sum += centre;
                count += 1;
                let neighbours = (
                    x.checked_sub(step).and_then(|xl| luma(xl, y)),
                    luma(x + step, y),
                    y.checked_sub(step).and_then(|yu| luma(x, yu)),
                    luma(x, y + step),
                );
                if let (Some(l), Some(r), Some(u), Some(d)) = neighbours {
                    let lap = l + r + u + d - 4.0 * centre;
                    lap_sum += lap;
                    lap_sq += lap * lap;
                    lap_count += 1;
                }
            }
        }
        if count == 0 {
            return empty;
        }
        let brightness = (sum / count as f64) as f32;
        let sharpness = if lap_count == 0 {
            0.0
        } else {
            let mean = lap_sum / lap_count as f64;
            ((lap_sq / lap_count as f64) - mean * mean).max(0.0) as f32
        };
        Quality {
            face_size_px,
            sharpness,
            brightness,
        }
    }
}
