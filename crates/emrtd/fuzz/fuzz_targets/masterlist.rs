//! Master-list loading on arbitrary bytes: parse, signature check, trust-store insertion.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut store = emrtd::pki::TrustStore::new();
    // Unverified lists add nothing by default; opt in so insertion stays exercised.
    store.set_trust_unverified_master_lists(true);
    let _ = store.add_master_list("fuzz", data, &[]);
    let _ = store.add_source("fuzz", data);
    let _ = store.count_by_country();
});
