//! DG1 parsing on arbitrary bytes: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use time::macros::date;

fuzz_target!(|data: &[u8]| {
    let _ = emrtd::lds::dg1::parse(data, date!(2026 - 11 - 22));
});
