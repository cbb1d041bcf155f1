//! `idgate_face::image::decode` on arbitrary bytes (JPEG, JPEG 2000 and PNG are told apart by
//! their magic bytes, so the seeds steer the fuzzer into each decoder): it must return an error
//! or an image whose buffer matches its dimensions within the documented caps — never panic,
//! and never allocate beyond the pixel cap however large the header's dimensions.
#![no_main]

use idgate_face::MAX_IMAGE_SIDE;
use idgate_face::image::{MAX_PIXELS, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = decode(data) {
        assert!(img.width > 0 && img.width <= MAX_IMAGE_SIDE);
        assert!(img.height > 0 && img.height <= MAX_IMAGE_SIDE);
        assert!(u64::from(img.width) * u64::from(img.height) <= MAX_PIXELS);
        assert_eq!(img.rgb.len(), img.width as usize * img.height as usize * 3);
    }
});
