//! Face-match accuracy of the built-in engine on the registry test photos
//! (docs/face-engine.md "Match threshold", "Test photos").
//!
//! Identities: Obama (three distinct photos: obama, obama2, obama3), Biden, and the people of the
//! face-api demo group photos (certainly different from each other and from the two presidents).
//! Mirrored copies give a further view of each named face; a photo against its own mirror is
//! counted apart from two different photos of a person. The full distance table is printed so a
//! regression shows where it moved. This is the **tuning set** the threshold was chosen on, so it
//! proves no accuracy: `accuracy_heldout.rs` measures that on photos not used for tuning. Needs
//! `scripts/fetch-face-models.sh`; skips with a message otherwise (fails under `CI=true`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;
use common::{engine, models_dir};

use std::sync::OnceLock;

use idgate_face::image;
use idgate_face::{BuiltinEngine, Embedding, FaceEngine, Image};

/// The match threshold on L2 distance under test (docs/face-engine.md "Match threshold" suggests
/// 0.5–0.55).
const THRESHOLD: f32 = 0.5;

/// One face from each of the four named photos and from three of their mirrored copies (the
/// detector finds no face in the mirrored obama2.jpg), plus the 1, 3, 3 and 5 faces it finds in the
/// group photos sample2, 3, 4 and 6.
const TUNING_FACES: usize = 19;
/// Obama, Obama 3 and Biden, each against its own mirrored copy.
const MIRROR_PAIRS: usize = 3;
/// The five Obama faces (three photos, two mirrors) against each other: C(5, 2) − 2 own-mirror
/// pairs. Only three are distinct photos (obama ~ obama2, obama ~ obama3, obama2 ~ obama3).
const SAME_PERSON_PAIRS: usize = 8;
/// The seven named faces against every other-person face, and the faces of one group photo
/// against each other.
const DIFFERENT_PERSON_PAIRS: usize = 110;
/// Faces of two different group photos (1·3 + 1·3 + 1·5 + 3·3 + 3·5 + 3·5).
const UNJUDGED_PAIRS: usize = 50;

fn photo(name: &str) -> Option<Image> {
    let path = models_dir().join("photos").join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(image::decode(&bytes).expect("registry photo decodes")),
        Err(_) => {
            idgate_testkit::missing(
                idgate_testkit::Prereq::FaceModels,
                format!("photo {} not found", path.display()),
            );
            None
        }
    }
}

/// One embedded face with its identity label.
struct Sample {
    label: String,
    identity: String,
    embedding: Embedding,
}

/// Every face of `img`, largest first, labelled `name#i`.
fn faces_of(
    engine: &BuiltinEngine,
    img: &Image,
    name: &str,
    identity: Option<&str>,
) -> Vec<Sample> {
    let mut faces = engine.detect(img).expect("detect");
    faces.sort_by(|a, b| b.quality.face_size_px.total_cmp(&a.quality.face_size_px));
    faces
        .iter()
        .enumerate()
        .map(|(i, f)| Sample {
            label: format!("{name}#{i}"),
            identity: identity.map_or_else(|| format!("{name}#{i}"), str::to_owned),
            embedding: engine.embed(img, f).expect("embed"),
        })
        .collect()
}

/// All samples, or `None` when the photos are missing.
fn samples() -> Option<&'static Vec<Sample>> {
    static SAMPLES: OnceLock<Option<Vec<Sample>>> = OnceLock::new();
    SAMPLES
        .get_or_init(|| {
            let engine = engine()?;
            let mut out = Vec::new();
            for (file, identity) in [
                ("obama.jpg", Some("obama")),
                ("obama2.jpg", Some("obama")),
                ("obama3.jpg", Some("obama")),
                ("biden.jpg", Some("biden")),
            ] {
                let img = photo(file)?;
                let mut faces = faces_of(engine, &img, file, identity);
                faces.truncate(1);
                out.extend(faces);
                let mirrored = image::mirror(&img);
                let mut faces = faces_of(engine, &mirrored, &format!("mirror({file})"), identity);
                faces.truncate(1);
                out.extend(faces);
            }
            for file in ["sample2.jpg", "sample3.jpg", "sample4.jpg", "sample6.jpg"] {
                let img = photo(file)?;
                out.extend(faces_of(engine, &img, file, None));
            }
            Some(out)
        })
        .as_ref()
}

/// "mirror" (a photo against its own mirrored copy), "same" (the same person in two different
/// photos), "different" or "unknown": faces of two different group photos may show one person, so
/// only pairs with a named identity or from the same group photo count as different (as in
/// docs/face-engine.md "Match threshold").
fn relation(a: &Sample, b: &Sample) -> &'static str {
    let photo = |s: &Sample| {
        s.label
            .trim_start_matches("mirror(")
            .split(['#', ')'])
            .next()
            .unwrap_or("")
            .to_owned()
    };
    let face = |s: &Sample| s.label.rsplit('#').next().unwrap_or("").to_owned();
    let named = |s: &Sample| !s.identity.contains('#');
    if photo(a) == photo(b) && (named(a) || face(a) == face(b)) {
        "mirror"
    } else if a.identity == b.identity {
        "same"
    } else if named(a) || named(b) || photo(a) == photo(b) {
        "different"
    } else {
        "unknown"
    }
}

#[test]
fn same_person_pairs_are_within_the_threshold_and_different_people_beyond_it() {
    let Some(samples) = samples() else { return };
    let engine = engine().expect("engine loaded with samples");
    let mut same = Vec::new();
    let mut mirror = Vec::new();
    let mut different = Vec::new();
    eprintln!("L2 distances (threshold {THRESHOLD}):");
    let mut unlabelled = 0;
    for (i, a) in samples.iter().enumerate() {
        for b in &samples[i + 1..] {
            let d = engine.compare(&a.embedding, &b.embedding).distance;
            let kind = relation(a, b);
            eprintln!("  {kind:>9} {d:.3}  {} ~ {}", a.label, b.label);
            match kind {
                "same" => same.push((d, a.label.clone(), b.label.clone())),
                "mirror" => mirror.push((d, a.label.clone(), b.label.clone())),
                "different" => different.push((d, a.label.clone(), b.label.clone())),
                _ => unlabelled += 1,
            }
        }
    }
    eprintln!(
        "({unlabelled} pairs of faces from different group photos are printed but not judged)"
    );
    let worst_same = same.iter().map(|s| s.0).fold(0.0f32, f32::max);
    let best_diff = different.iter().map(|s| s.0).fold(f32::INFINITY, f32::min);
    eprintln!(
        "same-person pairs: {} (max {worst_same:.3}); different-person pairs: {} (min {best_diff:.3}); \
         margin below threshold {:.3}, above {:.3}",
        same.len(),
        different.len(),
        THRESHOLD - worst_same,
        best_diff - THRESHOLD
    );
    let worst_mirror = mirror.iter().map(|s| s.0).fold(0.0f32, f32::max);
    eprintln!(
        "photo vs its own mirror: {} (max {worst_mirror:.3}); unjudged: {unlabelled}",
        mirror.len()
    );
    // Exact counts, so that a face the detector stops (or starts) finding fails here instead of
    // silently removing its pairs: 19 faces give 171 pairs.
    assert_eq!(samples.len(), TUNING_FACES);
    assert_eq!(
        (mirror.len(), same.len(), different.len(), unlabelled),
        (
            MIRROR_PAIRS,
            SAME_PERSON_PAIRS,
            DIFFERENT_PERSON_PAIRS,
            UNJUDGED_PAIRS
        )
    );
    for (d, a, b) in same.iter().chain(&mirror) {
        assert!(*d < THRESHOLD, "same person {a} ~ {b} at {d:.3}");
    }
    for (d, a, b) in &different {
        assert!(*d > THRESHOLD, "different people {a} ~ {b} at {d:.3}");
    }
}

#[test]
fn the_same_photo_as_rgba_png_embeds_like_the_jpeg() {
    let Some(engine) = engine() else { return };
    let (Some(jpeg), Some(png)) = (photo("obama2.jpg"), photo("32bit.png")) else {
        return;
    };
    let a = faces_of(engine, &jpeg, "obama2.jpg", None);
    let b = faces_of(engine, &png, "32bit.png", None);
    let d = engine.compare(&a[0].embedding, &b[0].embedding).distance;
    eprintln!("obama2.jpg vs 32bit.png (same photo, RGBA PNG): {d:.3}");
    assert!(d < 0.15, "re-encoding moved the embedding by {d}");
}

#[test]
fn embeddings_are_128_finite_values_and_deterministic() {
    let Some(engine) = engine() else { return };
    let Some(samples) = samples() else { return };
    for s in samples {
        assert_eq!(s.embedding.0.len(), 128);
        assert!(s.embedding.0.iter().all(|v| v.is_finite()), "{}", s.label);
    }
    let Some(img) = photo("biden.jpg") else {
        return;
    };
    let again = faces_of(engine, &img, "biden.jpg", Some("biden"));
    let first = samples
        .iter()
        .find(|s| s.label == "biden.jpg#0")
        .expect("biden embedded");
    assert_eq!(again[0].embedding, first.embedding);
}
