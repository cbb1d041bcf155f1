//! Passive authentications per second on one core, against the floor of the signature
//! verifications they involve (`cargo bench -p emrtd --bench passive`).
//!
//! Families (fixtures made by `tests/fixtures/sod/generate.sh`):
//! - `rsa`: RSA-2048 DSC signing RSASSA-PSS, under an RSA-4096 CSCA;
//! - `p256`: ECDSA P-256 DSC and CSCA;
//! - `bp384`: ECDSA brainpoolP384r1 DSC and CSCA, explicit curve parameters.
//!
//! Benchmarks per family:
//! - `full`: `passive::verify` with a warm trust store (the DSC chain is cached);
//! - `sod_signature`: the SOD signature alone, key already decoded — the floor of `full`;
//! - `sod_and_chain_signatures`: SOD signature plus DSC-by-CSCA signature — the floor of a
//!   verification whose chain is not cached.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use emrtd::crypto::{self, HashAlgorithm};
use emrtd::passive;
use emrtd::pki::{Certificate, TrustStore};
use emrtd::sod::Sod;
use time::OffsetDateTime;

fn fixture(path: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/sod/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bench_family(c: &mut Criterion, family: &str) {
    let sod_bytes = fixture(&format!("{family}/EF_SOD.bin"));
    let dg1 = fixture(&format!("{family}/dg1.bin"));
    let dg2 = fixture(&format!("{family}/dg2.bin"));
    let csca_der = fixture(&format!("{family}/csca.der"));
    let mut store = TrustStore::new();
    store.add_certificate_der(&csca_der).expect("CSCA");
    let now = OffsetDateTime::now_utc();
    let groups: [(u8, &[u8]); 2] = [(1, &dg1), (2, &dg2)];
    let report = passive::verify(&sod_bytes, &groups, &store, now);
    assert_eq!(report.verdict(), passive::Verdict::Authentic, "{report:#?}");

    let sod = Sod::parse(&sod_bytes).expect("SOD");
    let signer = sod.signer().expect("signer");
    let dsc = Certificate::from_der(sod.dsc_candidates()[0]).expect("DSC");
    let csca = Certificate::from_der(&csca_der).expect("CSCA");
    let dsc_key = dsc.public_key().expect("key").clone();
    let algorithm = signer.effective_signature_algorithm();
    let attrs = signer.signed_attrs.as_ref().expect("signed attributes");
    let signed_bytes = [&[0x31u8][..], &attrs.raw[1..]].concat();
    let signature = signer.signature.to_vec();
    let hash = algorithm.hash().unwrap_or(HashAlgorithm::Sha256);

    let mut group = c.benchmark_group(family);
    group.bench_function("full", |b| {
        b.iter(|| black_box(passive::verify(black_box(&sod_bytes), &groups, &store, now)))
    });
    group.bench_function("sod_signature", |b| {
        b.iter(|| {
            crypto::verify_prehashed(
                &dsc_key,
                &algorithm,
                &hash.digest(black_box(&signed_bytes)),
                &signature,
            )
        })
    });
    group.bench_function("sod_and_chain_signatures", |b| {
        b.iter(|| {
            let sod_ok = crypto::verify_prehashed(
                &dsc_key,
                &algorithm,
                &hash.digest(black_box(&signed_bytes)),
                &signature,
            );
            let chain_ok = dsc.verify_issued_by(black_box(&csca));
            (sod_ok, chain_ok)
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    for family in ["rsa", "p256", "bp384"] {
        bench_family(c, family);
    }
}

criterion_group!(passive_benches, benches);
criterion_main!(passive_benches);
