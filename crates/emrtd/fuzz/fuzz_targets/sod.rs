//! EF.SOD parsing and the whole passive-authentication pipeline on arbitrary bytes: no panic,
//! bounded work.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sod) = emrtd::sod::Sod::parse(data) {
        let _ = sod.signer().map(|s| s.effective_signature_algorithm());
    }
    let store = emrtd::pki::TrustStore::new();
    let report = emrtd::passive::verify(data, &[(1, data)], &store, time::OffsetDateTime::UNIX_EPOCH);
    let _ = report.verdict();
});
