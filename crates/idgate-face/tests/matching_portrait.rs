//! The selfie ↔ document-portrait match: a scripted engine for each rule, and the built-in engine
//! on real photos when `scripts/fetch-face-models.sh` has been run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;
use common::models_dir;

use idgate_face::image;
use idgate_face::{
    BoundingBox, BuiltinEngine, Embedding, Face, FaceEngine, FaceError, Image, Point, Quality,
    match_portrait,
};

/// Detects the given faces; the embedding of a face is `[box width, 0]`, so tests choose distances.
struct Scripted(Vec<Face>);

fn face(width: f32) -> Face {
    Face {
        bbox: BoundingBox {
            x: 0.0,
            y: 0.0,
            width,
            height: width,
        },
        score: 0.9,
        landmarks: vec![Point::default(); 68],
        quality: Quality {
            face_size_px: width,
            sharpness: 50.0,
            brightness: 120.0,
        },
    }
}

impl FaceEngine for Scripted {
    fn detect(&self, _: &Image) -> Result<Vec<Face>, FaceError> {
        Ok(self.0.clone())
    }
    fn embed(&self, _: &Image, face: &Face) -> Result<Embedding, FaceError> {
        Ok(Embedding(vec![face.bbox.width, 0.0]))
    }
}

fn portrait() -> Image {
    Image::new(4, 4, vec![128; 48]).unwrap()
}

#[test]
fn a_portrait_within_the_threshold_matches_and_reports_the_distance() {
    let m = match_portrait(
        &Scripted(vec![face(10.0)]),
        &portrait(),
        &Embedding(vec![10.3, 0.0]),
        0.5,
    )
    .unwrap();
    assert!(m.matched);
    assert!((m.similarity.distance - 0.3).abs() < 1e-5);
    assert_eq!(m.portrait_quality.face_size_px, 10.0);
}

#[test]
fn a_portrait_beyond_the_threshold_does_not_match() {
    let m = match_portrait(
        &Scripted(vec![face(10.0)]),
        &portrait(),
        &Embedding(vec![10.7, 0.0]),
        0.5,
    )
    .unwrap();
    assert!(!m.matched);
    assert!((m.similarity.distance - 0.7).abs() < 1e-5);
}

#[test]
fn the_largest_face_is_the_portrait() {
    let engine = Scripted(vec![face(3.0), face(20.0), face(8.0)]);
    let m = match_portrait(&engine, &portrait(), &Embedding(vec![20.0, 0.0]), 0.5).unwrap();
    assert!(m.matched);
    assert_eq!(m.similarity.distance, 0.0);
}

#[test]
fn a_portrait_without_a_face_is_an_error() {
    let err = match_portrait(
        &Scripted(vec![]),
        &portrait(),
        &Embedding(vec![1.0, 0.0]),
        0.5,
    )
    .unwrap_err();
    assert!(matches!(err, FaceError::NoFaceInPortrait));
}

#[test]
fn a_non_positive_threshold_is_refused() {
    for threshold in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let r = match_portrait(
            &Scripted(vec![face(1.0)]),
            &portrait(),
            &Embedding(vec![1.0, 0.0]),
            threshold,
        );
        assert!(matches!(r, Err(FaceError::Config { .. })), "{threshold}");
    }
}

#[test]
fn with_the_builtin_engine_another_photo_of_the_person_matches_and_someone_else_does_not() {
    let engine = BuiltinEngine::embedded().unwrap();
    let load = |name: &str| {
        let path = models_dir().join("photos").join(name);
        let bytes = std::fs::read(&path).ok()?;
        let img = image::decode(&bytes).expect("registry photo decodes");
        // Passport portraits are small: DG2 images are typically about 480 px high.
        let scale = 480.0 / img.width.max(img.height) as f32;
        Some(
            image::resize(
                &img,
                (img.width as f32 * scale) as u32,
                (img.height as f32 * scale) as u32,
            )
            .unwrap(),
        )
    };
    let (Some(selfie), Some(same), Some(other)) =
        (load("obama.jpg"), load("obama3.jpg"), load("biden.jpg"))
    else {
        idgate_testkit::missing(idgate_testkit::Prereq::FaceModels, "photos not found");
        return;
    };
    let faces = engine.detect(&selfie).unwrap();
    let reference = engine.embed(&selfie, &faces[0]).unwrap();

    let same = match_portrait(&engine, &same, &reference, 0.5).unwrap();
    eprintln!("obama.jpg ↔ obama3.jpg: {:.3}", same.similarity.distance);
    assert!(same.matched, "{same:?}");
    let other = match_portrait(&engine, &other, &reference, 0.5).unwrap();
    eprintln!("obama.jpg ↔ biden.jpg: {:.3}", other.similarity.distance);
    assert!(!other.matched, "{other:?}");
}
