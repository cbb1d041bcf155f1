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
//!
//! Criterion measures each benchmark in its own window of seconds, one after the other. On a
//! shared machine the load changes between those windows, so `full` and `sod_signature` are
//! measured under different conditions and their quotient swings widely: one run read
//! brainpoolP384r1 at 1.70×, another RSA at 1.62× and P-256 at 0.40× (the full verification
//! "faster" than its own floor), while a CPU profile of `bp384/full` puts 97 % of its samples in
//! the signature verification the floor also does. Each family therefore also prints
//! `full_over_floor`, the quotient from short *alternating* batches of the two — both see the
//! same load — as the median over the rounds: the figure the issue-3 target (at most 1.5×) is
//! judged by.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

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

    if !ratio_selected(family) {
        return;
    }
    let ratio = interleaved_ratio(
        || {
            black_box(passive::verify(black_box(&sod_bytes), &groups, &store, now));
        },
        || {
            let _ = black_box(crypto::verify_prehashed(
                &dsc_key,
                &algorithm,
                &hash.digest(black_box(&signed_bytes)),
                &signature,
            ));
        },
    );
    println!(
        "{family}/full_over_floor: {ratio:.2}x (full / sod_signature, median of {ROUNDS} \
         alternating rounds)"
    );
}

/// Whether the command line's filter (criterion's first positional argument, matched here as a
/// plain substring) selects `<family>/full_over_floor`, so that profiling one benchmark
/// (`--profile-time`) or listing them does not also run every family's ratio.
fn ratio_selected(family: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list" || a == "--profile-time") {
        return false;
    }
    // Criterion options that take a separate value, which is not a filter.
    const WITH_VALUE: [&str; 13] = [
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
    ];
    let mut filter = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if WITH_VALUE.contains(&arg.as_str()) {
            it.next();
        } else if !arg.starts_with('-') {
            filter = Some(arg);
            break;
        }
    }
    let id = format!("{family}/full_over_floor");
    filter.is_none_or(|f| id.contains(f.as_str()))
}

/// Rounds of alternating batches, and the wall time one batch aims at.
const ROUNDS: usize = 31;
const BATCH: Duration = Duration::from_millis(20);

/// Median over [`ROUNDS`] of `time(batch of full) / time(batch of floor)`, the two batches of a
/// round run back to back so that they share the machine's load.
fn interleaved_ratio(mut full: impl FnMut(), mut floor: impl FnMut()) -> f64 {
    let time = |f: &mut dyn FnMut(), n: u32| {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    floor();
    full();
    let one = time(&mut floor, 1).max(1e-9);
    let n = ((BATCH.as_secs_f64() / one) as u32).max(1);
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            // Alternate which runs first, so neither always follows the other's cache state.
            if round % 2 == 0 {
                let f = time(&mut full, n);
                f / time(&mut floor, n)
            } else {
                let g = time(&mut floor, n);
                time(&mut full, n) / g
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ROUNDS / 2]
}

fn benches(c: &mut Criterion) {
    for family in ["rsa", "p256", "bp384"] {
        bench_family(c, family);
    }
}

criterion_group!(passive_benches, benches);
criterion_main!(passive_benches);
