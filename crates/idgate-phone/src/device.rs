//! The simulated phone's belongings: the test faces, the factory passport and its virtual chip's
//! answers, the document upload and the selfie burst (docs/verify.md "Test passports and the
//! simulator"). `idgate simulate` and the server's test-mode simulation play them one step at a
//! time ([`crate::simulation`]); the verification benchmark (`crates/idgate/benches/verify_flow.rs`)
//! plays many at once.

use std::path::{Path, PathBuf};

use emrtd::chip_auth::ClientInstructions;
use emrtd::chip_auth::sm::SmCipher;
use emrtd::crypto::CurveId;
use emrtd::crypto::hash::HashAlgorithm;
use emrtd::testkit::{AaConfig, Algo, CaConfig, Failure, TestPassport};
use idgate_core::{Clock as _, SystemClock};
use idgate_face::challenge::Challenge;
use idgate_face::testkit::{TestFaces, TestFacesError, TestPortrait};
use idgate_face::upload::BurstUpload;

use crate::client::{ChipAuthInstructions, DocumentUpload};

/// Why the simulated phone could not do its part. The messages name no personal data: the
/// factory holder is fictitious, and none of them carries a file's bytes.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The test photos' directory does not exist.
    #[error("the test photos are not in {}: run scripts/fetch-face-models.sh", dir.display())]
    NoPhotos { dir: PathBuf },
    /// A photo the test faces need is missing.
    #[error("test photo {} is missing: run scripts/fetch-face-models.sh", path.display())]
    MissingPhoto { path: PathBuf },
    /// A photo does not decode.
    #[error("the test photos in {} are unusable: {reason}", dir.display())]
    UnusablePhotos { dir: PathBuf, reason: String },
    /// The factory refused the passport's combination.
    #[error("building the test passport: {0}")]
    Passport(String),
    /// The virtual chip refused a command.
    #[error("{0}")]
    Chip(String),
    /// The burst could not be built.
    #[error("{0}")]
    Burst(String),
}

/// `flag`, else `$IDGATE_FACE_MODELS/photos`, else `./.face-models/photos` (where
/// `scripts/fetch-face-models.sh` puts them).
pub fn photos_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| {
        std::env::var_os("IDGATE_FACE_MODELS")
            .map_or_else(|| PathBuf::from(".face-models"), PathBuf::from)
            .join("photos")
    })
}

/// The test faces from `photos` (`scripts/fetch-face-models.sh` fills it). Decoding the photos
/// and preparing the frames is CPU work (tenths of a second): async callers run it on a blocking
/// thread.
///
/// # Errors
/// When the directory or a photo is missing, or a photo does not decode.
pub fn load_faces(photos: &Path) -> Result<TestFaces, DeviceError> {
    if !photos.is_dir() {
        return Err(DeviceError::NoPhotos {
            dir: photos.to_owned(),
        });
    }
    TestFaces::load_photos(photos).map_err(|e| match e {
        TestFacesError::Missing { path } => DeviceError::MissingPhoto { path },
        other => DeviceError::UnusablePhotos {
            dir: photos.to_owned(),
            reason: other.to_string(),
        },
    })
}

/// The factory's placeholder portrait (a light background with a darker oval, 96 × 128): the DG2
/// of a passport whose run never reaches the face step, so document outcomes need no test photos.
pub fn placeholder_portrait() -> TestPortrait {
    TestPortrait {
        jpeg: emrtd::testkit::jpeg::placeholder_portrait(12, 16),
        width: 96,
        height: 128,
    }
}

/// A factory passport: RSA PKCS#1 v1.5 under the factory's fixed CSCA (the one test mode trusts),
/// `portrait` in DG2 and, when `anti_cloning`, RSA active authentication and ECDH P-256 chip
/// authentication with AES, so a verification exercises both; `failure` switched on.
///
/// # Errors
/// When the factory refuses the combination.
pub fn passport(
    portrait: &TestPortrait,
    anti_cloning: bool,
    failure: Option<Failure>,
) -> Result<TestPassport, DeviceError> {
    let mut builder = TestPassport::builder()
        .algorithm(Algo::RsaPkcs1v15)
        .portrait_jpeg(portrait.jpeg.clone(), portrait.width, portrait.height);
    builder = if anti_cloning {
        builder
            .active_authentication(AaConfig::Rsa {
                hash: HashAlgorithm::Sha1,
            })
            .chip_authentication(CaConfig::Ecdh {
                curve: CurveId::P256,
                cipher: SmCipher::Aes128,
            })
    } else {
        builder
            .active_authentication(AaConfig::None)
            .chip_authentication(CaConfig::None)
    };
    if let Some(failure) = failure {
        builder = builder.failure(failure);
    }
    builder
        .build()
        .map_err(|e| DeviceError::Passport(e.to_string()))
}

/// The chip files of `passport` as the phone uploads them, before the chip's answers to this
/// attempt's challenges ([`internal_authenticate`], [`chip_authenticate`]) are added.
pub fn document_upload(passport: &TestPassport) -> DocumentUpload {
    DocumentUpload {
        com: Some(passport.com.clone()),
        dg1: passport.dg1.clone(),
        dg2: passport.dg2.clone(),
        sod: passport.sod.clone(),
        dg14: passport.dg14.clone(),
        dg15: passport.dg15.clone(),
        ..DocumentUpload::default()
    }
}

/// The chip's INTERNAL AUTHENTICATE answer to hello's active-authentication challenge.
///
/// # Errors
/// When the chip has no active-authentication key or refuses the challenge.
pub fn internal_authenticate(
    passport: &TestPassport,
    challenge: &[u8],
) -> Result<Vec<u8>, DeviceError> {
    passport
        .chip
        .internal_authenticate(challenge)
        .map_err(|e| DeviceError::Chip(format!("the virtual chip's INTERNAL AUTHENTICATE: {e}")))
}

/// The chip's response APDU to the chip-authentication relay the server sent.
///
/// # Errors
/// When the chip refuses the relayed APDUs.
pub fn chip_authenticate(
    passport: &TestPassport,
    instructions: ChipAuthInstructions,
) -> Result<Vec<u8>, DeviceError> {
    passport
        .chip
        .chip_authenticate(&ClientInstructions {
            // The chip reads the ephemeral key from the MSE / General Authenticate APDUs.
            ephemeral_public_key: Vec::new(),
            mse_apdu: instructions.mse_apdu,
            general_authenticate_apdu: instructions.general_authenticate_apdu,
            protected_command_apdu: instructions.protected_command_apdu,
        })
        .map_err(|e| DeviceError::Chip(format!("the virtual chip refused the relayed APDUs: {e}")))
}

/// Which burst the simulated person sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// The passport's holder, performing the challenge.
    Live,
    /// A photo of the holder held up to the camera.
    Still,
    /// Someone else, performing the challenge.
    OtherPerson,
}

/// The burst `face` answers `challenge` with, captured just before `now_ms`.
///
/// # Errors
/// When the challenge asks for an action the test photos cannot perform, or a frame does not
/// encode.
pub fn burst(
    faces: &TestFaces,
    challenge: &Challenge,
    face: Face,
    now_ms: u64,
) -> Result<BurstUpload, DeviceError> {
    let burst = match face {
        Face::Live => faces.live_upload(challenge, now_ms),
        Face::Still => faces.still_upload(challenge, now_ms),
        Face::OtherPerson => faces.other_person_upload(challenge, now_ms),
    };
    burst.map_err(|e| match e {
        TestFacesError::UnsupportedAction(action) => DeviceError::Burst(format!(
            "the server's challenge asks for `{action:?}`, which the test photos cannot \
             perform; test-mode sessions draw turns only (idgate_face::testkit::turn_policy)"
        )),
        other => DeviceError::Burst(format!("building the burst: {other}")),
    })
}

/// The phone's clock, in Unix milliseconds, for the burst's capture times.
pub fn now_ms() -> u64 {
    u64::try_from(SystemClock.now().unix_ms()).unwrap_or(0)
}

/// An identifier for this run's device (the attempt binds to it at hello).
pub fn device_id(program: &str) -> String {
    format!(
        "{program}-{}-{:x}",
        std::process::id(),
        SystemClock.now().unix_ms()
    )
}
