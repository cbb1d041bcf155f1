//! Certificate, CRL and SubjectPublicKeyInfo decoding on arbitrary bytes, and a self-signature
//! check when decoding succeeds (exercises explicit EC parameters and the generic curve code).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = emrtd::pki::Certificate::from_der(data) {
        let _ = cert.verify_issued_by(&cert);
    }
    let _ = emrtd::pki::Crl::from_der(data);
    let _ = emrtd::crypto::PublicKey::from_spki_der(data);
    let _ = emrtd::crypto::SignatureAlgorithm::from_der(data);
});
