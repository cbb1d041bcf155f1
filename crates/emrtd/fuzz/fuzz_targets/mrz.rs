//! MRZ parsing on arbitrary bytes: no panic; an accepted MRZ has digits that really check.
#![no_main]

use emrtd::mrz::Mrz;
use libfuzzer_sys::fuzz_target;
use time::macros::date;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Mrz::parse(data, date!(2026 - 11 - 22)) {
        assert!(m.date_of_birth.year.is_none_or(|y| y <= 2026));
        let _ = m.is_expired(date!(2026 - 11 - 22));
    }
});
