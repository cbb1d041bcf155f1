//! The weights compiled into the crate (`weights/`, see its README): they are byte for byte the
//! files of npm `@vladmandic/face-api` 1.7.15 that `scripts/fetch-face-models.sh` used to verify,
//! and the engine built on them works with no model directory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;
use common::models_dir;

use idgate_face::config::{FaceConfig, load_engine};
use idgate_face::models::{MODEL_FILES, embedded_file};
use idgate_face::{BuiltinEngine, FaceEngine, image};
use sha2::{Digest, Sha256};

/// The sha256 of each vendored file, as published in the npm tarball (the same values as in
/// `weights/README.md`).
const EXPECTED_SHA256: [(&str, &str); 6] = [
    (
        "tiny_face_detector_model-weights_manifest.json",
        "5d1af4849ac48d5b985f4a9b16010c512353ddd6fcc63d50fd0bc9e9e64296e5",
    ),
    (
        "tiny_face_detector_model.bin",
        "b7503ce7df31039b1c43316a9b865cab6a70dd748cc602d3fa28b551503c3871",
    ),
    (
        "face_landmark_68_model-weights_manifest.json",
        "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9",
    ),
    (
        "face_landmark_68_model.bin",
        "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b",
    ),
    (
        "face_recognition_model-weights_manifest.json",
        "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b",
    ),
    (
        "face_recognition_model.bin",
        "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
    ),
];

#[test]
fn the_embedded_weights_are_the_published_files() {
    assert_eq!(
        EXPECTED_SHA256.map(|(name, _)| name),
        MODEL_FILES,
        "one expected hash per model file"
    );
    for (name, expected) in EXPECTED_SHA256 {
        let bytes = embedded_file(name).unwrap_or_else(|| panic!("{name} is not embedded"));
        assert_eq!(hex::encode(Sha256::digest(bytes)), expected, "{name}");
    }
    assert!(embedded_file("LICENSE-face-api").is_none());
    assert!(embedded_file("../Cargo.toml").is_none());
}

#[test]
fn the_default_configuration_builds_the_engine_without_any_directory() {
    // `models_dir = None` means the compiled-in weights: `idgate serve` needs no file.
    let config = FaceConfig::default();
    load_engine(&config).unwrap();
}

#[test]
fn the_embedded_engine_finds_the_face_in_a_portrait() {
    let path = models_dir().join("photos/obama.jpg");
    let Ok(bytes) = std::fs::read(&path) else {
        idgate_testkit::missing(
            idgate_testkit::Prereq::FaceModels,
            format!("photo {} not found", path.display()),
        );
        return;
    };
    let engine = BuiltinEngine::embedded().unwrap();
    let photo = image::decode(&bytes).unwrap();
    let faces = engine.detect(&photo).unwrap();
    assert_eq!(faces.len(), 1);
    let embedding = engine.embed(&photo, &faces[0]).unwrap();
    assert_eq!(embedding.0.len(), 128);
}
