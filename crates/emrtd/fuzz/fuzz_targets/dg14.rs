//! DG14 parsing on arbitrary bytes: no panic, no unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = emrtd::lds::dg14::parse(data);
});
