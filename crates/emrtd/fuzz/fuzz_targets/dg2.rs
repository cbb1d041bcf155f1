//! DG2 parsing and portrait decoding (zune-jpeg, hayro-jpeg2000) on arbitrary bytes: no panic,
//! and no pixel buffer beyond the dimension cap.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(dg2) = emrtd::lds::dg2::parse(data) {
        for portrait in dg2.portraits() {
            if let Ok(img) = portrait.decode() {
                assert_eq!(img.rgb.len(), img.width as usize * img.height as usize * 3);
            }
        }
    }
});
