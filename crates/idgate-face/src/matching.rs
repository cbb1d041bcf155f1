//! The selfie ↔ passport-portrait match (docs/verify.md "Face and liveness": the live face must
//! match the DG2 portrait above a configured similarity threshold, `selfie_face_mismatch`
//! otherwise).
//!
//! The selfie side is the reference embedding a live [`crate::LivenessVerdict`] returns; this module
//! finds the face in the decoded portrait, embeds it with the same engine and decides on the L2
//! distance, which is what the threshold was measured on (docs/face-engine.md "Match threshold").

use serde::Serialize;

use crate::{Embedding, FaceEngine, FaceError, Image, Quality, Similarity};

/// The outcome of comparing the live face with the document portrait.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PortraitMatch {
    /// Whether the distance is within the threshold.
    pub matched: bool,
    /// Score and distance, for the audit trail (the distance is reported, not only pass/fail).
    pub similarity: Similarity,
    /// Quality of the portrait's face: small or blurred portraits deserve a look when refused.
    pub portrait_quality: Quality,
}

/// Compares `selfie` (the liveness reference embedding) with the face in `portrait`.
///
/// A document portrait shows one person; when the detector reports several faces (a patterned
/// background can fool it), the largest one is the portrait.
///
/// # Errors
/// [`FaceError::NoFaceInPortrait`] when no face is found, [`FaceError::Config`] for a threshold
/// that is not a positive finite number, or an engine failure.
pub fn match_portrait<E: FaceEngine + ?Sized>(
    engine: &E,
    portrait: &Image,
    selfie: &Embedding,
    threshold: f32,
) -> Result<PortraitMatch, FaceError> {
    if !(threshold.is_finite() && threshold > 0.0) {
        return Err(FaceError::Config {
            reason: "match threshold must be a positive number".into(),
        });
    }
    let faces = engine.detect(portrait)?;
    let face = faces
        .iter()
        .max_by(|a, b| (a.bbox.width * a.bbox.height).total_cmp(&(b.bbox.width * b.bbox.height)))
        .ok_or(FaceError::NoFaceInPortrait)?;
    let portrait_embedding = engine.embed(portrait, face)?;
    let similarity = engine.compare(selfie, &portrait_embedding);
    Ok(PortraitMatch {
        matched: similarity.distance <= threshold,
        similarity,
        portrait_quality: face.quality,
    })
}
